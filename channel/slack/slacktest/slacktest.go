// Package slacktest is a fake Slack for tests: the Web API methods a
// bridge uses (apps.connections.open with the app-level token;
// chat.postMessage, chat.update, chat.postEphemeral with the bot token;
// form or JSON parameters; {"ok": false, "error": "..."} answers) and the
// Socket Mode websocket (hello, events_api and interactive envelopes,
// acks by envelope id, envelopes not acked in time delivered again with a
// retry_attempt, as Slack does). A test plays users and looks at what the
// app did.
package slacktest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// BotUser is the fake app's bot user id.
const BotUser = "UBOT0001"

// MaxSectionText is the longest text of a section block.
const MaxSectionText = 3000

// Call is one Web API request the app made.
type Call struct {
	Method string
	Time   time.Time
	Params map[string]string
	// Err is the error answered, "" for ok.
	Err string
}

// Message is a bot message in a channel, as it is now.
type Message struct {
	Channel, TS string
	// Text is the section block's text (the fallback text when there
	// are no blocks).
	Text string
	// Buttons are the buttons' texts and values.
	Buttons [][2]string
	Edits   int
}

// Server is a running fake Slack.
type Server struct {
	// URL is the api_url to give the app (ending in /api/).
	URL                string
	BotToken, AppToken string
	// RetryAfter is how long an envelope may go unacked before it is
	// delivered again (default 2 s; Slack retries up to 3 times).
	RetryAfter time.Duration

	srv *httptest.Server

	mu         sync.Mutex
	conn       *websocket.Conn
	wmu        sync.Mutex // serialises websocket writes
	envelopes  []*envelope
	nextID     int
	msgs       []*Message
	ephemerals map[string][]string // channel → texts
	calls      []Call
	changed    chan struct{}
	hook       func(ctx context.Context, method string, params map[string]string) string
}

type envelope struct {
	id       string
	body     map[string]any
	sentAt   time.Time
	attempts int
	acked    bool
}

// New starts a fake Slack for an app with these tokens; it closes at test
// end.
func New(t testing.TB, botToken, appToken string) *Server {
	t.Helper()
	s := &Server{BotToken: botToken, AppToken: appToken, RetryAfter: 2 * time.Second, ephemerals: map[string][]string{}, changed: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.api)
	mux.HandleFunc("/link", s.link)
	s.srv = httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	go s.redeliver(ctx)
	t.Cleanup(func() {
		cancel()
		s.mu.Lock()
		if s.conn != nil {
			_ = s.conn.Close()
		}
		s.mu.Unlock()
		s.srv.Close()
	})
	s.URL = s.srv.URL + "/api/"
	return s
}

func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Changed returns a channel closed at the next change.
func (s *Server) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// SetHook runs fn before each Web API method; a non-empty result is
// answered as the method's error instead. fn may block until ctx (the
// request's) ends.
func (s *Server) SetHook(fn func(ctx context.Context, method string, params map[string]string) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = fn
}

// DM is the direct-message channel of a user with the app.
func DM(user string) string { return "D" + user }

// SendText has a user write to the app in their direct messages and
// returns the envelope id.
func (s *Server) SendText(user, text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	ts := fmt.Sprintf("1700000000.%06d", s.nextID)
	return s.push("events_api", map[string]any{
		"token": "verification", "team_id": "T0001", "api_app_id": "A0001", "type": "event_callback",
		"event_id": fmt.Sprintf("Ev%04d", s.nextID), "event_time": time.Now().Unix(),
		"event": map[string]any{
			"type": "message", "channel": DM(user), "user": user, "text": text, "ts": ts,
			"event_ts": ts, "channel_type": "im", "client_msg_id": fmt.Sprintf("cm-%d", s.nextID),
		},
	})
}

// Press has a user press a button (by its value) under a bot message and
// returns the envelope id.
func (s *Server) Press(user, name string, msg *Message, value string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	var actionID string
	for i, b := range msg.Buttons {
		if b[1] == value {
			actionID = fmt.Sprintf("viber_%d", i)
		}
	}
	return s.push("interactive", map[string]any{
		"type": "block_actions", "trigger_id": fmt.Sprintf("tr%d", s.nextID), "api_app_id": "A0001",
		"team":    map[string]any{"id": "T0001", "domain": "test"},
		"user":    map[string]any{"id": user, "username": name, "name": name, "team_id": "T0001"},
		"channel": map[string]any{"id": msg.Channel, "name": "directmessage"},
		"container": map[string]any{
			"type": "message", "message_ts": msg.TS, "channel_id": msg.Channel, "is_ephemeral": false,
		},
		"message": map[string]any{"type": "message", "user": BotUser, "ts": msg.TS, "text": msg.Text},
		"actions": []any{map[string]any{
			"action_id": actionID, "block_id": "viber_actions", "value": value, "type": "button",
			"action_ts": fmt.Sprintf("1700000001.%06d", s.nextID), "text": map[string]any{"type": "plain_text", "text": "x"},
		}},
		"response_url": s.srv.URL + "/response",
	})
}

// push queues an envelope (s.mu held) and sends it if a socket is open.
func (s *Server) push(kind string, payload map[string]any) string {
	id := fmt.Sprintf("env-%04d", s.nextID)
	e := &envelope{id: id, body: map[string]any{
		"envelope_id": id, "type": kind, "payload": payload, "accepts_response_payload": false,
		"retry_attempt": 0, "retry_reason": "",
	}}
	s.envelopes = append(s.envelopes, e)
	if s.conn != nil {
		s.sendLocked(e)
	}
	s.notify()
	return id
}

// sendLocked writes an envelope to the socket (s.mu held).
func (s *Server) sendLocked(e *envelope) {
	e.body["retry_attempt"] = e.attempts
	if e.attempts > 0 {
		e.body["retry_reason"] = "timeout"
	}
	e.attempts++
	e.sentAt = time.Now()
	s.write(s.conn, e.body)
}

func (s *Server) write(c *websocket.Conn, v any) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = c.WriteJSON(v)
}

// redeliver sends again the envelopes not acked within RetryAfter, up to
// four deliveries in all.
func (s *Server) redeliver(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		if s.conn != nil {
			for _, e := range s.envelopes {
				if !e.acked && e.attempts > 0 && e.attempts < 4 && time.Since(e.sentAt) > s.RetryAfter {
					s.sendLocked(e)
				}
			}
		}
		s.mu.Unlock()
	}
}

// Redeliver sends an envelope again, as Slack does when it thinks an ack
// got lost.
func (s *Server) Redeliver(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.envelopes {
		if e.id == id && s.conn != nil {
			s.sendLocked(e)
		}
	}
}

// Acked reports whether an envelope was acked.
func (s *Server) Acked(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.envelopes {
		if e.id == id {
			return e.acked
		}
	}
	return false
}

// Connected reports whether the app has a Socket Mode connection.
func (s *Server) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn != nil
}

// Calls returns the Web API requests made so far for method ("" for all).
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// BotMessages returns copies of the bot's messages in a channel, oldest
// first.
func (s *Server) BotMessages(ch string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.msgs {
		if m.Channel == ch {
			out = append(out, *m)
		}
	}
	return out
}

// Ephemerals returns the ephemeral texts shown in a channel.
func (s *Server) Ephemerals(ch string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ephemerals[ch]...)
}

// upgrader takes any origin: Slack's clients send Origin
// https://api.slack.com, which is not the fake's host.
var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// link is the Socket Mode websocket.
func (s *Server) link(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	if s.conn != nil {
		_ = s.conn.Close()
	}
	s.conn = c
	s.write(c, map[string]any{"type": "hello", "num_connections": 1,
		"connection_info": map[string]any{"app_id": "A0001"},
		"debug_info":      map[string]any{"host": "fake", "build_number": 1, "approximate_connection_time": 3600}})
	// What was never acked goes out on the new connection.
	for _, e := range s.envelopes {
		if !e.acked && e.attempts < 4 {
			s.sendLocked(e)
		}
	}
	s.notify()
	s.mu.Unlock()
	for {
		var ack struct {
			EnvelopeID string `json:"envelope_id"`
		}
		if err := c.ReadJSON(&ack); err != nil {
			break
		}
		s.mu.Lock()
		for _, e := range s.envelopes {
			if e.id == ack.EnvelopeID {
				e.acked = true
			}
		}
		s.notify()
		s.mu.Unlock()
	}
	s.mu.Lock()
	if s.conn == c {
		s.conn = nil
	}
	s.notify()
	s.mu.Unlock()
	_ = c.Close()
}

func answer(w http.ResponseWriter, v map[string]any, errCode string) {
	w.Header().Set("Content-Type", "application/json")
	if errCode != "" {
		v = map[string]any{"ok": false, "error": errCode}
	} else {
		v["ok"] = true
	}
	_ = json.NewEncoder(w).Encode(v)
}

// params reads form or JSON parameters, and the token from the form or
// the Authorization header.
func params(r *http.Request) (map[string]string, string) {
	p := map[string]string{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		for k, v := range m {
			if s, ok := v.(string); ok {
				p[k] = s
			} else {
				b, _ := json.Marshal(v)
				p[k] = string(b)
			}
		}
	} else {
		_ = r.ParseForm()
		for k, v := range r.Form {
			p[k] = v[0]
		}
	}
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" {
		token = p["token"]
	}
	delete(p, "token")
	return p, token
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	p, token := params(r)
	want := s.BotToken
	if method == "apps.connections.open" {
		want = s.AppToken
	}
	if token == "" {
		answer(w, nil, "not_authed")
		return
	}
	if token != want {
		if token == s.BotToken || token == s.AppToken {
			answer(w, nil, "not_allowed_token_type")
		} else {
			answer(w, nil, "invalid_auth")
		}
		return
	}
	s.mu.Lock()
	hook := s.hook
	s.mu.Unlock()
	if hook != nil {
		if e := hook(r.Context(), method, p); e != "" {
			s.record(method, p, e)
			answer(w, nil, e)
			return
		}
	}
	var out map[string]any
	var e string
	switch method {
	case "apps.connections.open":
		out = map[string]any{"url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/link?ticket=t1"}
		answer(w, out, "")
		return
	case "chat.postMessage":
		out, e = s.post(p)
	case "chat.update":
		out, e = s.update(p)
	case "chat.postEphemeral":
		out, e = s.ephemeral(p)
	default:
		e = "unknown_method"
	}
	s.record(method, p, e)
	answer(w, out, e)
}

func (s *Server) record(method string, p map[string]string, e string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Method: method, Time: time.Now(), Params: p, Err: e})
	s.notify()
}

// content reads text and blocks as Slack would show them.
func content(p map[string]string) (text string, buttons [][2]string, e string) {
	text = p["text"]
	if raw := p["blocks"]; raw != "" {
		var blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"text"`
			Elements []struct {
				Type     string `json:"type"`
				ActionID string `json:"action_id"`
				Value    string `json:"value"`
				Text     struct {
					Text string `json:"text"`
				} `json:"text"`
			} `json:"elements"`
		}
		if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
			return "", nil, "invalid_blocks_format"
		}
		for _, b := range blocks {
			switch b.Type {
			case "section":
				if b.Text == nil || b.Text.Text == "" || len([]rune(b.Text.Text)) > MaxSectionText {
					return "", nil, "invalid_blocks"
				}
				text = b.Text.Text
			case "actions":
				for _, el := range b.Elements {
					if el.Type != "button" || el.ActionID == "" || len(el.Value) > 2000 {
						return "", nil, "invalid_blocks"
					}
					buttons = append(buttons, [2]string{el.Text.Text, el.Value})
				}
			default:
				return "", nil, "invalid_blocks"
			}
		}
	}
	if strings.TrimSpace(text) == "" {
		return "", nil, "no_text"
	}
	if len([]rune(text)) > 40000 {
		return "", nil, "msg_too_long"
	}
	return text, buttons, ""
}

func validChannel(ch string) bool { return len(ch) > 1 && strings.ContainsRune("CDG", rune(ch[0])) }

func (s *Server) post(p map[string]string) (map[string]any, string) {
	if !validChannel(p["channel"]) {
		return nil, "channel_not_found"
	}
	text, buttons, e := content(p)
	if e != "" {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	m := &Message{Channel: p["channel"], TS: fmt.Sprintf("1700000100.%06d", s.nextID), Text: text, Buttons: buttons}
	s.msgs = append(s.msgs, m)
	return map[string]any{"channel": m.Channel, "ts": m.TS,
		"message": map[string]any{"type": "message", "user": BotUser, "bot_id": "B0001", "text": p["text"], "ts": m.TS}}, ""
}

func (s *Server) update(p map[string]string) (map[string]any, string) {
	text, buttons, e := content(p)
	if e != "" {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if m.Channel == p["channel"] && m.TS == p["ts"] {
			m.Text, m.Buttons = text, buttons
			m.Edits++
			return map[string]any{"channel": m.Channel, "ts": m.TS, "text": p["text"]}, ""
		}
	}
	return nil, "message_not_found"
}

func (s *Server) ephemeral(p map[string]string) (map[string]any, string) {
	if !validChannel(p["channel"]) {
		return nil, "channel_not_found"
	}
	if p["user"] == "" {
		return nil, "user_not_in_channel"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.ephemerals[p["channel"]] = append(s.ephemerals[p["channel"]], p["text"])
	return map[string]any{"message_ts": fmt.Sprintf("1700000200.%06d", s.nextID)}, ""
}
