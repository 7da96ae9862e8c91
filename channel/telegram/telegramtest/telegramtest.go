// Package telegramtest is a fake Telegram Bot API server for tests: it
// speaks the real wire format (POST /bot<token>/<method> with JSON or form
// parameters, {"ok": ..., "result": ...} answers, error codes and
// descriptions as Telegram sends them) for getMe, getUpdates (long
// polling with offsets), sendMessage, editMessageText and
// answerCallbackQuery, checks HTML parse mode and length limits as
// Telegram does, and lets a test play users (messages, button presses)
// and look at what the bot did.
package telegramtest

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
)

// BotID is the fake bot's user id.
const BotID = 7000001

// MaxLen is the longest text Telegram takes, in UTF-16 units after entity
// parsing.
const MaxLen = 4096

// Call is one request the bot made.
type Call struct {
	Method string
	Time   time.Time
	Params map[string]any
	// Err is the error description answered, "" for ok.
	Err string
}

// Message is a message in a chat, as it is now.
type Message struct {
	ID   int64
	Chat int64
	// FromBot is true for the bot's own messages.
	FromBot bool
	// Raw is the text as sent (HTML for parse_mode HTML); Text is what
	// the user sees.
	Raw, Text string
	// Buttons are the inline buttons' texts and callback data.
	Buttons [][2]string
	// Edits counts successful edits.
	Edits int
}

// Server is a running fake Bot API.
type Server struct {
	// URL is the api_url to give the bridge.
	URL   string
	Token string

	srv *httptest.Server

	mu        sync.Mutex
	updates   []map[string]any
	nextUpd   int64
	confirmed int64
	nextMsg   int64
	msgs      []*Message
	calls     []Call
	queries   map[string]bool // callback query id → answered
	changed   chan struct{}   // closed and replaced at every change
	hook      func(ctx context.Context, method string, params map[string]any) *Error
}

// Error is an error answer.
type Error struct {
	Code        int
	Description string
}

// New starts a server for the bot with token; it closes at test end.
func New(t testing.TB, token string) *Server {
	t.Helper()
	s := &Server{Token: token, nextUpd: 100, nextMsg: 1, queries: map[string]bool{}, changed: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL
	return s
}

// SetHook runs fn before each method; a non-nil *Error is answered
// instead of doing the method. fn may block until ctx (the request's)
// ends, as a server that hangs.
func (s *Server) SetHook(fn func(ctx context.Context, method string, params map[string]any) *Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = fn
}

func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Changed returns a channel closed at the next change (a call, an update).
func (s *Server) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// SendText queues a text message from a user in a private chat (chat id
// = user id when chat is 0) and returns its update id.
func (s *Server) SendText(chat, user int64, username, text string) int64 {
	if chat == 0 {
		chat = user
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextMsg++
	m := &Message{ID: s.nextMsg, Chat: chat, Raw: text, Text: text}
	s.msgs = append(s.msgs, m)
	return s.push(map[string]any{"message": map[string]any{
		"message_id": m.ID, "date": time.Now().Unix(), "text": text,
		"from": map[string]any{"id": user, "is_bot": false, "first_name": username, "username": username},
		"chat": map[string]any{"id": chat, "type": chatType(chat)},
	}})
}

// Press queues the press of a button (its callback data) under a bot
// message by a user and returns the callback query's id.
func (s *Server) Press(user int64, username string, msg *Message, data string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := fmt.Sprintf("cb%d", s.nextUpd+1)
	s.queries[id] = false
	s.push(map[string]any{"callback_query": map[string]any{
		"id": id, "data": data, "chat_instance": "1",
		"from": map[string]any{"id": user, "is_bot": false, "first_name": username, "username": username},
		"message": map[string]any{
			"message_id": msg.ID, "date": time.Now().Unix(), "text": msg.Text,
			"from": map[string]any{"id": BotID, "is_bot": true, "first_name": "Viber", "username": "viber_test_bot"},
			"chat": map[string]any{"id": msg.Chat, "type": chatType(msg.Chat)},
		},
	}})
	return id
}

func chatType(chat int64) string {
	if chat < 0 {
		return "group"
	}
	return "private"
}

func (s *Server) push(u map[string]any) int64 {
	s.nextUpd++
	u["update_id"] = s.nextUpd
	s.updates = append(s.updates, u)
	s.notify()
	return s.nextUpd
}

// Calls returns the requests made so far for method ("" for all).
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

// BotMessages returns copies of the bot's messages in a chat, oldest
// first.
func (s *Server) BotMessages(chat int64) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.msgs {
		if m.Chat == chat && m.FromBot {
			out = append(out, *m)
		}
	}
	return out
}

// Answered reports whether a callback query was answered.
func (s *Server) Answered(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[id]
}

// Unconfirm forgets which updates the bot confirmed, so the next
// getUpdates without an offset returns them again: what Telegram does when
// a bot died before its next poll confirmed them.
func (s *Server) Unconfirm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.confirmed = 0
}

// Pending counts the updates not yet confirmed by the bot.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, u := range s.updates {
		if u["update_id"].(int64) >= s.confirmed {
			n++
		}
	}
	return n
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		answer(w, nil, &Error{404, "Not Found"})
		return
	}
	if token != s.Token {
		answer(w, nil, &Error{401, "Unauthorized"})
		return
	}
	params, err := readParams(r)
	if err != nil {
		answer(w, nil, &Error{400, "Bad Request: " + err.Error()})
		return
	}
	s.mu.Lock()
	hook := s.hook
	s.mu.Unlock()
	if hook != nil {
		if e := hook(r.Context(), method, params); e != nil {
			s.record(method, params, e)
			answer(w, nil, e)
			return
		}
	}
	var result any
	var e *Error
	switch method {
	case "getMe":
		result = map[string]any{"id": BotID, "is_bot": true, "first_name": "Viber", "username": "viber_test_bot", "can_join_groups": true}
	case "getUpdates":
		result, e = s.getUpdates(r.Context(), params)
		if e == nil {
			answer(w, result, nil) // not recorded: polls would drown the log
			return
		}
	case "sendMessage":
		result, e = s.sendMessage(params)
	case "editMessageText":
		result, e = s.editMessageText(params)
	case "answerCallbackQuery":
		result, e = s.answerCallbackQuery(params)
	default:
		e = &Error{404, "Not Found"}
	}
	s.record(method, params, e)
	answer(w, result, e)
}

func (s *Server) record(method string, params map[string]any, e *Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := Call{Method: method, Time: time.Now(), Params: params}
	if e != nil {
		c.Err = e.Description
	}
	s.calls = append(s.calls, c)
	s.notify()
}

func answer(w http.ResponseWriter, result any, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	if e != nil {
		w.WriteHeader(e.Code)
		body := map[string]any{"ok": false, "error_code": e.Code, "description": e.Description}
		if e.Code == http.StatusTooManyRequests {
			body["parameters"] = map[string]any{"retry_after": 1}
		}
		_ = json.NewEncoder(w).Encode(body)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "result": result})
}

// readParams reads JSON, urlencoded or multipart parameters into a map
// (form values that hold JSON objects, like reply_markup, decoded).
func readParams(r *http.Request) (map[string]any, error) {
	params := map[string]any{}
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/json"):
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		if err := dec.Decode(&params); err != nil {
			return nil, fmt.Errorf("can't parse JSON request: %v", err)
		}
	default:
		if err := r.ParseMultipartForm(1 << 20); err != nil && err != http.ErrNotMultipart {
			return nil, err
		}
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		for k, v := range r.Form {
			var obj any
			if strings.HasPrefix(v[0], "{") && json.Unmarshal([]byte(v[0]), &obj) == nil {
				params[k] = obj
			} else {
				params[k] = v[0]
			}
		}
	}
	return params, nil
}

func intParam(p map[string]any, name string) (int64, bool) {
	switch v := p[name].(type) {
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	case float64:
		return int64(v), true
	}
	return 0, false
}

func (s *Server) getUpdates(ctx context.Context, p map[string]any) (any, *Error) {
	offset, _ := intParam(p, "offset")
	timeout, _ := intParam(p, "timeout")
	deadline := time.Now().Add(time.Duration(timeout) * time.Second)
	for {
		s.mu.Lock()
		if offset > s.confirmed {
			s.confirmed = offset
		}
		var out []map[string]any
		for _, u := range s.updates {
			if u["update_id"].(int64) >= s.confirmed {
				out = append(out, u)
			}
		}
		changed := s.changed
		s.mu.Unlock()
		if len(out) > 0 || time.Now().After(deadline) {
			if out == nil {
				out = []map[string]any{}
			}
			return out, nil
		}
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, &Error{499, "client went away"}
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

var (
	tagRE     = regexp.MustCompile(`<(/?)([a-zA-Z-]+)([^>]*)>`)
	entityRE  = regexp.MustCompile(`&[^;\s]*;?`)
	allowTags = map[string]bool{"b": true, "strong": true, "i": true, "em": true, "u": true, "ins": true, "s": true, "strike": true, "del": true,
		"span": true, "tg-spoiler": true, "a": true, "code": true, "pre": true, "blockquote": true, "tg-emoji": true}
)

// visible parses text as Telegram does for the parse mode and returns
// what the user sees.
func visible(text, mode string) (string, *Error) {
	if !strings.EqualFold(mode, "HTML") {
		return text, nil
	}
	var stack []string
	for _, m := range tagRE.FindAllStringSubmatch(text, -1) {
		name := strings.ToLower(m[2])
		if !allowTags[name] {
			return "", &Error{400, fmt.Sprintf("Bad Request: can't parse entities: Unsupported start tag \"%s\"", name)}
		}
		if m[1] == "" {
			stack = append(stack, name)
			continue
		}
		if len(stack) == 0 || stack[len(stack)-1] != name {
			return "", &Error{400, fmt.Sprintf("Bad Request: can't parse entities: Unexpected end tag \"%s\"", name)}
		}
		stack = stack[:len(stack)-1]
	}
	if len(stack) > 0 {
		return "", &Error{400, "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"" + stack[len(stack)-1] + "\""}
	}
	plain := tagRE.ReplaceAllString(text, "")
	if strings.ContainsAny(plain, "<>") {
		return "", &Error{400, "Bad Request: can't parse entities: Unsupported start tag"}
	}
	for _, e := range entityRE.FindAllString(plain, -1) {
		switch {
		case e == "&lt;", e == "&gt;", e == "&amp;", e == "&quot;", strings.HasPrefix(e, "&#") && strings.HasSuffix(e, ";"):
		default:
			return "", &Error{400, fmt.Sprintf("Bad Request: can't parse entities: Unsupported HTML entity or bare &: %q", e)}
		}
	}
	return html.UnescapeString(plain), nil
}

func textLen(s string) int { return len(utf16.Encode([]rune(s))) }

func checkText(p map[string]any) (raw, vis string, e *Error) {
	raw, _ = p["text"].(string)
	mode, _ := p["parse_mode"].(string)
	vis, e = visible(raw, mode)
	if e != nil {
		return "", "", e
	}
	if strings.TrimSpace(vis) == "" {
		return "", "", &Error{400, "Bad Request: message text is empty"}
	}
	if textLen(vis) > MaxLen {
		return "", "", &Error{400, "Bad Request: message is too long"}
	}
	return raw, vis, nil
}

func buttons(p map[string]any) ([][2]string, *Error) {
	rm, ok := p["reply_markup"].(map[string]any)
	if !ok {
		return nil, nil
	}
	rows, _ := rm["inline_keyboard"].([]any)
	var out [][2]string
	for _, row := range rows {
		cells, _ := row.([]any)
		for _, c := range cells {
			b, _ := c.(map[string]any)
			text, _ := b["text"].(string)
			data, _ := b["callback_data"].(string)
			if text == "" {
				return nil, &Error{400, "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"}
			}
			if len(data) > 64 {
				return nil, &Error{400, "Bad Request: BUTTON_DATA_INVALID"}
			}
			out = append(out, [2]string{text, data})
		}
	}
	return out, nil
}

func (s *Server) messageJSON(m *Message) map[string]any {
	out := map[string]any{
		"message_id": m.ID, "date": time.Now().Unix(), "text": m.Text,
		"from": map[string]any{"id": BotID, "is_bot": true, "first_name": "Viber", "username": "viber_test_bot"},
		"chat": map[string]any{"id": m.Chat, "type": chatType(m.Chat)},
	}
	if len(m.Buttons) > 0 {
		var row []any
		for _, b := range m.Buttons {
			row = append(row, map[string]any{"text": b[0], "callback_data": b[1]})
		}
		out["reply_markup"] = map[string]any{"inline_keyboard": []any{row}}
	}
	return out
}

func (s *Server) sendMessage(p map[string]any) (any, *Error) {
	chat, ok := intParam(p, "chat_id")
	if !ok {
		return nil, &Error{400, "Bad Request: chat_id is empty"}
	}
	raw, vis, e := checkText(p)
	if e != nil {
		return nil, e
	}
	bs, e := buttons(p)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextMsg++
	m := &Message{ID: s.nextMsg, Chat: chat, FromBot: true, Raw: raw, Text: vis, Buttons: bs}
	s.msgs = append(s.msgs, m)
	return s.messageJSON(m), nil
}

func (s *Server) editMessageText(p map[string]any) (any, *Error) {
	chat, ok := intParam(p, "chat_id")
	id, ok2 := intParam(p, "message_id")
	if !ok || !ok2 {
		return nil, &Error{400, "Bad Request: message identifier is not specified"}
	}
	raw, vis, e := checkText(p)
	if e != nil {
		return nil, e
	}
	bs, e := buttons(p)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if m.Chat != chat || m.ID != id {
			continue
		}
		if !m.FromBot {
			return nil, &Error{400, "Bad Request: message can't be edited"}
		}
		if m.Raw == raw && fmt.Sprint(m.Buttons) == fmt.Sprint(bs) {
			return nil, &Error{400, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"}
		}
		m.Raw, m.Text, m.Buttons = raw, vis, bs
		m.Edits++
		return s.messageJSON(m), nil
	}
	return nil, &Error{400, "Bad Request: message to edit not found"}
}

func (s *Server) answerCallbackQuery(p map[string]any) (any, *Error) {
	id, _ := p["callback_query_id"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	answered, ok := s.queries[id]
	if !ok || answered {
		return nil, &Error{400, "Bad Request: query is too old and response timeout expired or query ID is invalid"}
	}
	s.queries[id] = true
	return true, nil
}
