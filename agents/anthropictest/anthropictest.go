// Package anthropictest runs a small HTTP server that speaks Anthropic's
// Messages API wire format (streamed as server-sent events and not, with
// tool_use blocks), so tests exercise the real langchaingo client code
// against answers the test chooses.
//
// Like the real API, it refuses (400) a conversation whose tool_use blocks
// are not answered by tool_result blocks in the next message, or whose
// tool_result blocks answer no tool_use of the previous message.
package anthropictest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Block is a content block of a received message: text, tool_use or
// tool_result.
type Block struct {
	Type string `json:"type"`
	// Text is a text block's text.
	Text string `json:"text,omitempty"`
	// ID, Name and Input are a tool_use block's.
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	// ToolUseID and Content are a tool_result block's (Content is a
	// string or a list of blocks).
	ToolUseID string `json:"tool_use_id,omitempty"`
	Content   any    `json:"content,omitempty"`
	IsError   bool   `json:"is_error,omitempty"`
}

// ResultText is a tool_result block's content as text.
func (b Block) ResultText() string { return contentText(b.Content) }

// Message is one message of a received request.
type Message struct {
	Role    string `json:"role"`
	Content any    `json:"content"`
}

// Blocks returns the message's content blocks; string content is one text
// block.
func (m Message) Blocks() []Block {
	switch c := m.Content.(type) {
	case string:
		return []Block{{Type: "text", Text: c}}
	case []any:
		b, _ := json.Marshal(c)
		var out []Block
		_ = json.Unmarshal(b, &out)
		return out
	}
	return nil
}

// Text returns the text of the message's text blocks.
func (m Message) Text() string {
	var b strings.Builder
	for _, bl := range m.Blocks() {
		if bl.Type == "text" {
			b.WriteString(bl.Text)
		}
	}
	return b.String()
}

// Tool is a tool offered in a request.
type Tool struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	InputSchema map[string]any `json:"input_schema"`
}

// Request is a received Messages API request.
type Request struct {
	Model     string    `json:"model"`
	Messages  []Message `json:"messages"`
	System    any       `json:"system,omitempty"`
	MaxTokens int       `json:"max_tokens"`
	Stream    bool      `json:"stream"`
	Tools     []Tool    `json:"tools,omitempty"`
	// APIKey is the x-api-key header; Version the anthropic-version one.
	APIKey  string `json:"-"`
	Version string `json:"-"`
}

// SystemText is the system prompt as text.
func (r *Request) SystemText() string { return contentText(r.System) }

// ToolNames lists the names of the offered tools.
func (r *Request) ToolNames() []string {
	var out []string
	for _, t := range r.Tools {
		out = append(out, t.Name)
	}
	return out
}

// LastUser returns the text of the last user message that has text.
func (r *Request) LastUser() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			if t := r.Messages[i].Text(); t != "" {
				return t
			}
		}
	}
	return ""
}

// LastToolResult returns the content of the last tool_result block.
func (r *Request) LastToolResult() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		bs := r.Messages[i].Blocks()
		for j := len(bs) - 1; j >= 0; j-- {
			if bs[j].Type == "tool_result" {
				return bs[j].ResultText()
			}
		}
	}
	return ""
}

// ToolUse is a tool call in a Reply.
type ToolUse struct {
	ID    string
	Name  string
	Input string // a JSON object
}

// Use builds a tool call for a Reply.
func Use(id, name, input string) ToolUse { return ToolUse{ID: id, Name: name, Input: input} }

// Reply is what the server answers to one request: a text block (when
// Text is set or there is no tool call), then one tool_use block per call.
type Reply struct {
	// Text is the assistant's text.
	Text string
	// ToolUses asks the client to run tools.
	ToolUses []ToolUse
	// Chunks, when set, are the streamed pieces of Text.
	Chunks []string
	// ChunkDelay is slept between streamed chunks.
	ChunkDelay time.Duration
	// Hang blocks until the client goes away (a model that never answers).
	Hang bool
	// Status, when not 0 or 200, answers with an Anthropic error object.
	Status int
	// Error is the error message with Status.
	Error string
}

// Server is a running fake.
type Server struct {
	// URL is the base URL to give the client, ending in /v1.
	URL string

	srv     *httptest.Server
	reply   func(*Request) Reply
	mu      sync.Mutex
	reqs    []*Request
	arrived chan *Request
}

// New starts a server answering with reply; it closes at test end.
func New(t testing.TB, reply func(*Request) Reply) *Server {
	t.Helper()
	s := &Server{reply: reply, arrived: make(chan *Request, 1024)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL + "/v1"
	return s
}

// Echo answers every request with "echo: <last user message>".
func Echo(r *Request) Reply { return Reply{Text: "echo: " + r.LastUser()} }

// Requests returns the requests received so far (refused ones included).
func (s *Server) Requests() []*Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Request(nil), s.reqs...)
}

// Arrived delivers each request as it arrives.
func (s *Server) Arrived() <-chan *Request { return s.arrived }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		writeError(w, http.StatusNotFound, "not_found_error", "unknown path "+r.URL.Path)
		return
	}
	var req Request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "bad JSON: "+err.Error())
		return
	}
	req.APIKey = r.Header.Get("x-api-key")
	req.Version = r.Header.Get("anthropic-version")
	s.mu.Lock()
	s.reqs = append(s.reqs, &req)
	s.mu.Unlock()
	select {
	case s.arrived <- &req:
	default:
	}
	if req.APIKey == "" {
		writeError(w, http.StatusUnauthorized, "authentication_error", "x-api-key header is required")
		return
	}
	if msg := check(&req); msg != "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", msg)
		return
	}
	rep := s.reply(&req)
	if rep.Hang {
		<-r.Context().Done()
		return
	}
	if rep.Status != 0 && rep.Status != http.StatusOK {
		writeError(w, rep.Status, "api_error", rep.Error)
		return
	}
	id := fmt.Sprintf("msg_%d", time.Now().UnixNano())
	stop := "end_turn"
	if len(rep.ToolUses) > 0 {
		stop = "tool_use"
	}
	withText := rep.Text != "" || len(rep.ToolUses) == 0
	if !req.Stream {
		var content []any
		if withText {
			content = append(content, map[string]any{"type": "text", "text": rep.Text})
		}
		for _, tu := range rep.ToolUses {
			content = append(content, map[string]any{"type": "tool_use", "id": tu.ID, "name": tu.Name, "input": json.RawMessage(input(tu))})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": id, "type": "message", "role": "assistant", "model": req.Model,
			"content": content, "stop_reason": stop, "stop_sequence": nil,
			"usage": map[string]any{"input_tokens": 7, "output_tokens": 3},
		})
		return
	}

	w.Header().Set("Content-Type", "text/event-stream")
	flusher, _ := w.(http.Flusher)
	send := func(event string, v map[string]any) {
		v["type"] = event
		b, _ := json.Marshal(v)
		_, _ = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
		if flusher != nil {
			flusher.Flush()
		}
	}
	send("message_start", map[string]any{"message": map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": req.Model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": map[string]any{"input_tokens": 7, "output_tokens": 1},
	}})
	send("ping", map[string]any{})
	index := 0
	if withText {
		send("content_block_start", map[string]any{"index": index, "content_block": map[string]any{"type": "text", "text": ""}})
		chunks := rep.Chunks
		if chunks == nil {
			chunks = splitWords(rep.Text)
		}
		for _, c := range chunks {
			if rep.ChunkDelay > 0 {
				select {
				case <-r.Context().Done():
					return
				case <-time.After(rep.ChunkDelay):
				}
			}
			send("content_block_delta", map[string]any{"index": index, "delta": map[string]any{"type": "text_delta", "text": c}})
		}
		send("content_block_stop", map[string]any{"index": index})
		index++
	}
	for _, tu := range rep.ToolUses {
		// As Anthropic streams them: the block with its id, name and an
		// empty input, then the input as JSON in pieces.
		send("content_block_start", map[string]any{"index": index, "content_block": map[string]any{
			"type": "tool_use", "id": tu.ID, "name": tu.Name, "input": map[string]any{},
		}})
		args := input(tu)
		for len(args) > 0 {
			n := min(len(args), 7)
			send("content_block_delta", map[string]any{"index": index, "delta": map[string]any{"type": "input_json_delta", "partial_json": args[:n]}})
			args = args[n:]
		}
		send("content_block_stop", map[string]any{"index": index})
		index++
	}
	send("message_delta", map[string]any{
		"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": 3},
	})
	send("message_stop", map[string]any{})
}

func input(tu ToolUse) string {
	if strings.TrimSpace(tu.Input) == "" {
		return "{}"
	}
	return tu.Input
}

// check refuses what the real API refuses: no messages, no max_tokens,
// unknown roles, tool_use without its tool_result in the next message and
// tool_result without its tool_use in the previous one.
func check(r *Request) string {
	if r.Model == "" {
		return "model: field required"
	}
	if r.MaxTokens <= 0 {
		return "max_tokens: field required"
	}
	if len(r.Messages) == 0 {
		return "messages: at least one message is required"
	}
	for i, m := range r.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return fmt.Sprintf("messages.%d.role: %q is not user or assistant", i, m.Role)
		}
		var uses, results []string
		for _, b := range m.Blocks() {
			switch b.Type {
			case "tool_use":
				if m.Role != "assistant" {
					return fmt.Sprintf("messages.%d: tool_use blocks may only be in assistant messages", i)
				}
				uses = append(uses, b.ID)
			case "tool_result":
				if m.Role != "user" {
					return fmt.Sprintf("messages.%d: tool_result blocks may only be in user messages", i)
				}
				results = append(results, b.ToolUseID)
			}
		}
		if len(results) > 0 {
			var prev []string
			if i > 0 {
				for _, b := range r.Messages[i-1].Blocks() {
					if b.Type == "tool_use" {
						prev = append(prev, b.ID)
					}
				}
			}
			for _, id := range results {
				if !contains(prev, id) {
					return fmt.Sprintf("messages.%d: unexpected tool_use_id found in tool_result blocks: %s. Each tool_result block must have a corresponding tool_use block in the previous message.", i, id)
				}
			}
		}
		if len(uses) > 0 {
			var next []string
			if i+1 < len(r.Messages) {
				for _, b := range r.Messages[i+1].Blocks() {
					if b.Type == "tool_result" {
						next = append(next, b.ToolUseID)
					}
				}
			}
			for _, id := range uses {
				if !contains(next, id) {
					return fmt.Sprintf("messages.%d: tool_use ids were found without tool_result blocks immediately after: %s. Each tool_use block must have a corresponding tool_result block in the next message.", i, id)
				}
			}
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func contentText(c any) string {
	switch v := c.(type) {
	case string:
		return v
	case []any:
		var b strings.Builder
		for _, p := range v {
			if mp, ok := p.(map[string]any); ok {
				if s, ok := mp["text"].(string); ok {
					b.WriteString(s)
				}
			}
		}
		return b.String()
	}
	return ""
}

func splitWords(s string) []string {
	var out []string
	for len(s) > 0 {
		i := strings.IndexByte(s[1:], ' ')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}})
}
