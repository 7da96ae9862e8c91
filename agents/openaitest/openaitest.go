// Package openaitest runs a small HTTP server that speaks the OpenAI chat
// completions wire format (streamed and not), so tests exercise the real
// langchaingo client code against answers the test chooses.
package openaitest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is one message of a received request.
type Message struct {
	Role       string     `json:"role"`
	Content    any        `json:"content"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// ToolCall is a tool call, in a reply or in a received assistant message.
type ToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// Call builds a tool call for a Reply.
func Call(id, name, args string) ToolCall {
	c := ToolCall{ID: id, Type: "function"}
	c.Function.Name, c.Function.Arguments = name, args
	return c
}

// Tool is a tool offered in a request.
type Tool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string         `json:"name"`
		Description string         `json:"description"`
		Parameters  map[string]any `json:"parameters"`
	} `json:"function"`
}

// Text returns the message's text whether content came as a string or as
// parts.
func (m Message) Text() string {
	switch c := m.Content.(type) {
	case string:
		return c
	case []any:
		var b strings.Builder
		for _, p := range c {
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

// Request is a received chat completion request.
type Request struct {
	Model    string    `json:"model"`
	Messages []Message `json:"messages"`
	Stream   bool      `json:"stream"`
	Tools    []Tool    `json:"tools,omitempty"`
	// StreamOptions asks, with include_usage, for a last streamed chunk
	// carrying the usage (as OpenAI does).
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options,omitempty"`
	Authorization string `json:"-"`
}

// PromptTokens and CompletionTokens are the usage the server reports for
// every answer: in the reply, or in a last chunk when a streaming request
// asks for it with stream_options.include_usage.
const (
	PromptTokens     = 7
	CompletionTokens = 3
)

func usage() map[string]any {
	return map[string]any{"prompt_tokens": PromptTokens, "completion_tokens": CompletionTokens, "total_tokens": PromptTokens + CompletionTokens}
}

// ToolNames lists the names of the offered tools.
func (r *Request) ToolNames() []string {
	var out []string
	for _, t := range r.Tools {
		out = append(out, t.Function.Name)
	}
	return out
}

// LastToolResult returns the content of the last tool message.
func (r *Request) LastToolResult() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "tool" {
			return r.Messages[i].Text()
		}
	}
	return ""
}

// LastUser returns the text of the last user message.
func (r *Request) LastUser() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Text()
		}
	}
	return ""
}

// Reply is what the server answers to one request.
type Reply struct {
	// Text is the assistant's answer.
	Text string
	// ToolCalls asks the client to run tools.
	ToolCalls []ToolCall
	// Chunks, when set, are the streamed pieces (their concatenation
	// should be Text).
	Chunks []string
	// ChunkDelay is slept between streamed chunks.
	ChunkDelay time.Duration
	// Hang blocks until the client goes away (a model that never answers).
	Hang bool
	// Status, when not 0 or 200, answers with an OpenAI error object.
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
	models  []string
	forget  bool
	arrived chan *Request
}

// SetModels makes GET /v1/models answer with these model ids, as an
// OpenAI-compatible server lists what it serves; until it is called that
// path answers 404.
func (s *Server) SetModels(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.models = append([]string(nil), ids...)
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

// NewOn is New listening on addr (HOST:PORT; port 0 for a free one)
// instead of loopback: "0.0.0.0:0" makes the fake reachable from
// containers, which reach the host at its bridge address. URL then holds
// the listening address as given (0.0.0.0); [Server.Port] tells the port.
func NewOn(t testing.TB, addr string, reply func(*Request) Reply) *Server {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("openaitest: listen on %s: %v", addr, err)
	}
	s := &Server{reply: reply, arrived: make(chan *Request, 1024)}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	_ = s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL + "/v1"
	return s
}

// Port is the port the server listens on.
func (s *Server) Port() int {
	if a, ok := s.srv.Listener.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Echo answers every request with "echo: <last user message>".
func Echo(r *Request) Reply { return Reply{Text: "echo: " + r.LastUser()} }

// Requests returns the requests received so far.
func (s *Server) Requests() []*Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Request(nil), s.reqs...)
}

// Forget stops keeping the requests that arrive from now on (Requests
// returns only those kept before), so that a long run does not hold every
// request in memory.
func (s *Server) Forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forget = true
}

// Arrived delivers each request as it arrives.
func (s *Server) Arrived() <-chan *Request { return s.arrived }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/models") {
		s.mu.Lock()
		models := s.models
		s.mu.Unlock()
		if models == nil {
			writeError(w, http.StatusNotFound, "unknown path "+r.URL.Path)
			return
		}
		data := make([]any, len(models))
		for i, id := range models {
			data[i] = map[string]any{"id": id, "object": "model", "owned_by": "openaitest"}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
		return
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		writeError(w, http.StatusNotFound, "unknown path "+r.URL.Path)
		return
	}
	var req Request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
		return
	}
	req.Authorization = r.Header.Get("Authorization")
	s.mu.Lock()
	if !s.forget {
		s.reqs = append(s.reqs, &req)
	}
	s.mu.Unlock()
	select {
	case s.arrived <- &req:
	default:
	}
	rep := s.reply(&req)
	if rep.Hang {
		<-r.Context().Done()
		return
	}
	if rep.Status != 0 && rep.Status != http.StatusOK {
		writeError(w, rep.Status, rep.Error)
		return
	}
	id := fmt.Sprintf("chatcmpl-%d", time.Now().UnixNano())
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		msg := map[string]any{"role": "assistant", "content": rep.Text}
		finish := "stop"
		if len(rep.ToolCalls) > 0 {
			msg["tool_calls"], finish = rep.ToolCalls, "tool_calls"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": id, "object": "chat.completion", "created": time.Now().Unix(), "model": req.Model,
			"choices": []any{map[string]any{
				"index":         0,
				"message":       msg,
				"finish_reason": finish,
			}},
			"usage": usage(),
		})
		return
	}
	chunks := rep.Chunks
	if chunks == nil {
		chunks = splitWords(rep.Text)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	flusher, _ := w.(http.Flusher)
	send := func(v any) {
		b, _ := json.Marshal(v)
		_, _ = fmt.Fprintf(w, "data: %s\n\n", b)
		if flusher != nil {
			flusher.Flush()
		}
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": time.Now().Unix(), "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}},
		}
	}
	send(chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	for _, c := range chunks {
		if rep.ChunkDelay > 0 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(rep.ChunkDelay):
			}
		}
		send(chunk(map[string]any{"content": c}, nil))
	}
	for i, tc := range rep.ToolCalls {
		// As OpenAI streams them: the call's id and name first, then its
		// arguments in pieces.
		send(chunk(map[string]any{"tool_calls": []any{map[string]any{
			"index": i, "id": tc.ID, "type": "function",
			"function": map[string]any{"name": tc.Function.Name, "arguments": ""},
		}}}, nil))
		args := tc.Function.Arguments
		for len(args) > 0 {
			n := min(len(args), 7)
			send(chunk(map[string]any{"tool_calls": []any{map[string]any{
				"index": i, "function": map[string]any{"arguments": args[:n]},
			}}}, nil))
			args = args[n:]
		}
	}
	finish := "stop"
	if len(rep.ToolCalls) > 0 {
		finish = "tool_calls"
	}
	send(chunk(map[string]any{}, finish))
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		send(map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": time.Now().Unix(), "model": req.Model,
			"choices": []any{}, "usage": usage(),
		})
	}
	_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
	if flusher != nil {
		flusher.Flush()
	}
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

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error"}})
}
