package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
)

// httpRig is a real NATS server and a started gateway with HTTP on a
// loopback port.
type httpRig struct {
	t    *testing.T
	env  *bustest.Env
	g    *Gateway
	base string
}

func newHTTPRig(t *testing.T) *httpRig {
	t.Helper()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	g, err := New(ctx, Config{NC: env.Connect(t, "gateway"), HTTPListen: "127.0.0.1:0", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); g.Stop() })
	return &httpRig{t: t, env: env, g: g, base: "http://" + g.HTTPAddr()}
}

func (r *httpRig) do(method, path string, body any, out any) int {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			r.t.Fatal(err)
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, r.base+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		r.t.Fatalf("%s %s: content type %q", method, path, ct)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		r.t.Fatalf("%s %s: CORS header present", method, path)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			r.t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

func TestHTTPTaskAPI(t *testing.T) {
	t.Parallel()
	r := newHTTPRig(t)

	var sum bus.Summary
	if code := r.do("POST", "/api/tasks", &bus.CreateTaskRequest{Goal: "write a haiku"}, &sum); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	if sum.ID == "" || sum.State != bus.StatePending || sum.Goal != "write a haiku" {
		t.Fatalf("created: %+v", sum)
	}
	var got bus.Summary
	if code := r.do("GET", "/api/tasks/"+sum.ID, nil, &got); code != 200 || got.ID != sum.ID {
		t.Fatalf("get: %d %+v", code, got)
	}
	// The projector lists it soon.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var list bus.ListTasksResponse
		if code := r.do("GET", "/api/tasks?state=pending", nil, &list); code != 200 {
			t.Fatalf("list: %d", code)
		}
		if list.Total == 1 && list.Tasks[0].ID == sum.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("list: %+v", list)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Errors are JSON with the code of their sentinel and its status.
	cases := []struct {
		method, path string
		body         any
		status       int
		code         bus.ErrorCode
	}{
		{"GET", "/api/tasks/no-such-task", nil, 404, bus.CodeTaskNotFound},
		{"GET", "/api/tasks/bad.id", nil, 404, bus.CodeTaskNotFound},
		{"GET", "/api/tasks/" + strings.Repeat("x", 100), nil, 404, bus.CodeTaskNotFound},
		{"GET", "/api/tasks/no-such-task/events", nil, 404, bus.CodeTaskNotFound},
		{"POST", "/api/tasks/no-such-task/cancel", map[string]string{}, 404, bus.CodeTaskNotFound},
		{"POST", "/api/tasks/no-such-task/input", map[string]string{"text": "hi"}, 404, bus.CodeTaskNotFound},
		{"POST", "/api/tasks", map[string]string{"goal": "  "}, 400, bus.CodeMalformed},
		{"POST", "/api/tasks", map[string]string{"goal": "x", "daemon": "nobody"}, 404, bus.CodeDaemonNotFound},
		{"POST", "/api/tasks", map[string]string{"goal": strings.Repeat("x", bus.MaxGoalBytes+1)}, 413, bus.CodeTooLarge},
		{"GET", "/api/tasks?state=bogus", nil, 400, bus.CodeMalformed},
		{"GET", "/api/nothing", nil, 404, bus.CodeNoEndpoint},
		{"POST", "/api/tasks/" + sum.ID + "/decide", map[string]any{"call_id": "c1", "approved": true}, 404, bus.CodeCallNotFound},
	}
	for _, c := range cases {
		var e bus.APIError
		if status := r.do(c.method, c.path, c.body, &e); status != c.status || e.Status != c.status || e.Code != c.code || e.Message == "" {
			t.Errorf("%s %s: %d %+v, want %d %s", c.method, c.path, status, e, c.status, c.code)
		}
	}
	// Not JSON: refused before anything happens (no cross-site form posts).
	resp, err := http.Post(r.base+"/api/tasks", "text/plain", strings.NewReader(`{"goal":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain create: %d", resp.StatusCode)
	}

	// Approvals: a waiting call can be decided.
	for _, p := range []bus.Payload{
		&bus.Assigned{Daemon: "test", Attempt: 1},
		&bus.ToolCall{CallID: "c1", Tool: "shell", Arguments: `{"cmd":"ls"}`},
		&bus.ApprovalRequested{CallID: "c1", Tool: "shell", Arguments: `{"cmd":"ls"}`},
	} {
		if _, err := r.env.Log.AppendPayload(context.Background(), sum.ID, bus.DaemonSource("test"), p); err != nil {
			t.Fatal(err)
		}
	}
	var er bus.EventResponse
	if code := r.do("POST", "/api/tasks/"+sum.ID+"/decide", map[string]any{"call_id": "c1", "approved": true}, &er); code != 200 || er.Event.Type != bus.TypeApprovalDecided {
		t.Fatalf("decide: %d %+v", code, er.Event)
	}
	d := must(bus.DecodeAs[bus.ApprovalDecided](er.Event))
	if !d.Approved || d.CallID != "c1" || d.By != httpBy {
		t.Fatalf("decision: %+v", d)
	}
	if code := r.do("POST", "/api/tasks/"+sum.ID+"/input", map[string]string{"text": "also rhyme"}, &er); code != 200 || er.Event.Type != bus.TypeInput {
		t.Fatalf("input: %d %+v", code, er.Event)
	}
	if code := r.do("POST", "/api/tasks/"+sum.ID+"/cancel", map[string]string{"reason": "enough"}, &er); code != 200 || er.Event.Type != bus.TypeCancelRequested {
		t.Fatalf("cancel: %d %+v", code, er.Event)
	}

	var daemons bus.ListDaemonsResponse
	if code := r.do("GET", "/api/daemons", nil, &daemons); code != 200 || daemons.Daemons == nil {
		t.Fatalf("daemons: %d %+v", code, daemons)
	}
	var skills bus.ListSkillsResponse
	if code := r.do("GET", "/api/skills", nil, &skills); code != 200 || skills.Skills == nil || len(skills.Skills) != 0 {
		t.Fatalf("skills: %d %+v", code, skills)
	}
	p, err := bus.OpenPresence(context.Background(), r.env.JS)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"d2", "d1"} {
		d := &bus.DaemonInfo{ID: id, Name: id, Status: bus.DaemonOnline, LastSeen: time.Now(), Skills: []bus.SkillInfo{{Name: "pdf", Description: "read PDFs", Source: "builtin"}}}
		if id == "d2" {
			d.Skills = append(d.Skills, bus.SkillInfo{Name: "git", Description: "git things", Missing: []string{"binary git"}})
		}
		if err := p.Put(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	if code := r.do("GET", "/api/skills", nil, &skills); code != 200 || len(skills.Skills) != 2 ||
		skills.Skills[0].Name != "git" || len(skills.Skills[0].Daemons) != 1 || skills.Skills[0].Daemons[0].Missing[0] != "binary git" ||
		skills.Skills[1].Name != "pdf" || len(skills.Skills[1].Daemons) != 2 || skills.Skills[1].Daemons[0].Daemon != "d1" || !skills.Skills[1].Daemons[0].Online {
		b, _ := json.Marshal(skills)
		t.Fatalf("skills: %d %s", code, b)
	}
	var h bus.Health
	if code := r.do("GET", "/healthz", nil, &h); code != 200 || h.Status != "ok" {
		t.Fatalf("healthz: %d %+v", code, h)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// sseEvent is one parsed Server-Sent Event (or a comment).
type sseEvent struct {
	ID, Name, Data, Comment string
}

type sseStream struct {
	resp   *http.Response
	events chan sseEvent
	// On a task's event stream, summary events are kept aside: the latest
	// is in summary.
	taskStream bool
	summary    string
}

func openSSE(t *testing.T, url, lastID string) *sseStream {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		t.Fatalf("SSE %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sseStream{resp: resp, events: make(chan sseEvent, 256), taskStream: strings.HasSuffix(strings.Split(url, "?")[0], "/events")}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var cur sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur != (sseEvent{}) {
					s.events <- cur
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, ":"):
				s.events <- sseEvent{Comment: strings.TrimSpace(line[1:])}
			case strings.HasPrefix(line, "id: "):
				cur.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				cur.Name = line[7:]
			case strings.HasPrefix(line, "data: "):
				cur.Data += line[6:]
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *sseStream) close() { s.resp.Body.Close() }

// next returns the next event that is not a comment or retry line.
func (s *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				t.Fatal("stream ended")
			}
			if e.Comment != "" || (e.ID == "" && e.Name == "" && e.Data == "") {
				continue
			}
			if s.taskStream && e.Name == bus.SSESummary {
				s.summary = e.Data
				continue
			}
			return e
		case <-timeout:
			t.Fatal("no SSE event in 10s")
		}
	}
}

func (s *sseStream) nextEvent(t *testing.T) *bus.Event {
	t.Helper()
	e := s.next(t)
	if e.Name != "" {
		t.Fatalf("got SSE event %q (%s), want a task event", e.Name, e.Data)
	}
	ev, err := bus.ParseEvent([]byte(e.Data))
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != fmt.Sprint(ev.Seq) {
		t.Fatalf("SSE id %q for seq %d", e.ID, ev.Seq)
	}
	return ev
}

func TestHTTPEventStream(t *testing.T) {
	t.Parallel()
	r := newHTTPRig(t)
	ctx := bustest.Context(t, 30*time.Second)
	var sum bus.Summary
	if code := r.do("POST", "/api/tasks", &bus.CreateTaskRequest{Goal: "stream me"}, &sum); code != 201 {
		t.Fatal(code)
	}
	id := sum.ID
	appendEv := func(p bus.Payload) *bus.Event {
		ev, err := r.env.Log.AppendPayload(ctx, id, bus.DaemonSource("d1"), p)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	appendEv(&bus.Assigned{Daemon: "d1", Attempt: 1})

	// Replay from the first event, then "ready", then live.
	s := openSSE(t, r.base+"/api/tasks/"+id+"/events", "")
	if ev := s.nextEvent(t); ev.Seq != 1 || ev.Type != bus.TypeCreated {
		t.Fatalf("first: %+v", ev)
	}
	if ev := s.nextEvent(t); ev.Seq != 2 || ev.Type != bus.TypeAssigned {
		t.Fatalf("second: %+v", ev)
	}
	if e := s.next(t); e.Name != bus.SSEReady {
		t.Fatalf("want ready, got %+v", e)
	}
	var folded bus.Summary
	if json.Unmarshal([]byte(s.summary), &folded) != nil || folded.State != bus.StateAssigned || folded.Owner != "d1" {
		t.Fatalf("summary at ready: %s", s.summary)
	}
	appendEv(&bus.Started{Daemon: "d1", Provider: "custom", Model: "m"})
	if ev := s.nextEvent(t); ev.Seq != 3 || ev.Type != bus.TypeStarted {
		t.Fatalf("live: %+v", ev)
	}

	// Token deltas ride the same stream, named, without ids.
	for i, text := range []string{"Hel", "lo"} {
		b, _ := json.Marshal(&bus.Delta{TaskID: id, Text: text, Index: i})
		if err := r.env.NC.Publish(bus.LiveSubject(id), b); err != nil {
			t.Fatal(err)
		}
	}
	for i, text := range []string{"Hel", "lo"} {
		e := s.next(t)
		var d bus.Delta
		if e.Name != bus.SSEDelta || e.ID != "" || json.Unmarshal([]byte(e.Data), &d) != nil || d.Text != text || d.Index != i {
			t.Fatalf("delta %d: %+v", i, e)
		}
	}
	appendEv(&bus.Message{Role: "assistant", Text: "Hello"})
	if ev := s.nextEvent(t); ev.Seq != 4 || ev.Type != bus.TypeMessage {
		t.Fatalf("message: %+v", ev)
	}

	// The connection drops; events go on; the client resumes after the
	// last id it saw and misses nothing, sees nothing twice.
	s.close()
	appendEv(&bus.Completed{Result: "Hello"})
	s2 := openSSE(t, r.base+"/api/tasks/"+id+"/events", "4")
	if ev := s2.nextEvent(t); ev.Seq != 5 || ev.Type != bus.TypeCompleted {
		t.Fatalf("resumed: %+v", ev)
	}
	if e := s2.next(t); e.Name != bus.SSEReady {
		t.Fatalf("want ready after resume, got %+v", e)
	}
	// A finished task's stream stays open for follow-ups.
	var er bus.EventResponse
	if code := r.do("POST", "/api/tasks/"+id+"/input", map[string]string{"text": "more"}, &er); code != 200 {
		t.Fatal(code)
	}
	if ev := s2.nextEvent(t); ev.Seq != 6 || ev.Type != bus.TypeInput {
		t.Fatalf("follow-up: %+v", ev)
	}
	// ?after= works like Last-Event-ID; a resume point at the end gives
	// ready at once.
	s3 := openSSE(t, r.base+"/api/tasks/"+id+"/events?after=6", "")
	if e := s3.next(t); e.Name != bus.SSEReady {
		t.Fatalf("want ready, got %+v", e)
	}
	resp, err := http.Get(r.base + "/api/tasks/" + id + "/events?after=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("bad Last-Event-ID: %d", resp.StatusCode)
	}
}

func TestHTTPKeepaliveAndWatch(t *testing.T) {
	// Not parallel: it shortens the package's keepalive interval.
	old := sseKeepalive
	sseKeepalive = 50 * time.Millisecond
	defer func() { sseKeepalive = old }()
	r := newHTTPRig(t)

	w := openSSE(t, r.base+"/api/watch/tasks", "")
	if e := w.next(t); e.Name != bus.SSEReady {
		t.Fatalf("watch: %+v", e)
	}
	var sum bus.Summary
	if code := r.do("POST", "/api/tasks", &bus.CreateTaskRequest{Goal: "watch me"}, &sum); code != 201 {
		t.Fatal(code)
	}
	e := w.next(t)
	var got bus.Summary
	if e.Name != bus.SSESummary || json.Unmarshal([]byte(e.Data), &got) != nil || got.ID != sum.ID {
		t.Fatalf("watch summary: %+v", e)
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e := <-w.events:
			if e.Comment == "keepalive" {
				return
			}
		case <-deadline:
			t.Fatal("no keepalive comment")
		}
	}
}

func TestRequireToken(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]bool{"ok": true}) })
	type want struct {
		code   int
		cookie bool
	}
	send := func(h http.Handler, method, host, path, auth, cookie, body string) *httptest.ResponseRecorder {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req := httptest.NewRequest(method, "http://"+host+path, rd)
		req.Host = host
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: bus.TokenCookie, Value: cookie})
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}

	// No token: loopback names only (no DNS rebinding).
	open := RequireToken("", ok)
	for host, code := range map[string]int{"127.0.0.1:6009": 200, "localhost:6009": 200, "[::1]:6009": 200, "evil.example:6009": 421, "10.0.0.1:6009": 421} {
		if w := send(open, "GET", host, "/api/tasks", "", "", ""); w.Code != code {
			t.Errorf("no token, host %s: %d, want %d", host, w.Code, code)
		}
	}

	// With a token, from anywhere.
	h := RequireToken("s3cret", ok)
	checks := []struct {
		name, method, path, auth, cookie, body string
		want
	}{
		{"no credentials", "GET", "/api/tasks", "", "", "", want{401, false}},
		{"wrong bearer", "GET", "/api/tasks", "Bearer nope", "", "", want{401, false}},
		{"bearer", "GET", "/api/tasks", "Bearer s3cret", "", "", want{200, false}},
		{"cookie", "GET", "/api/tasks/x/events", "", "s3cret", "", want{200, false}},
		{"wrong cookie", "GET", "/api/tasks", "", "nope", "", want{401, false}},
		{"healthz is open", "GET", "/healthz", "", "", "", want{200, false}},
		{"dashboard files are open", "GET", "/tasks/abc", "", "", "", want{200, false}},
		{"login, wrong token", "POST", "/api/session", "", "", `{"token":"nope"}`, want{401, false}},
		{"login", "POST", "/api/session", "", "", `{"token":"s3cret"}`, want{200, true}},
		{"session check", "GET", "/api/session", "", "s3cret", "", want{200, false}},
		{"session check, logged out", "GET", "/api/session", "", "", "", want{401, false}},
	}
	for _, c := range checks {
		w := send(h, c.method, "gw.example:6009", c.path, c.auth, c.cookie, c.body)
		if w.Code != c.code {
			t.Errorf("%s: %d, want %d (%s)", c.name, w.Code, c.code, w.Body)
		}
		if w.Code == 401 {
			var e bus.APIError
			if json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Status != 401 || e.Code != bus.CodeUnauthorized || e.Message == "" {
				t.Errorf("%s: 401 body %q is not a JSON error", c.name, w.Body)
			}
		}
		setCookie := w.Header().Get("Set-Cookie")
		if c.want.cookie != (setCookie != "") {
			t.Errorf("%s: Set-Cookie %q", c.name, setCookie)
		}
		if c.want.cookie && (!strings.Contains(setCookie, "HttpOnly") || !strings.Contains(setCookie, "SameSite=Strict")) {
			t.Errorf("%s: cookie %q is not HttpOnly+Strict", c.name, setCookie)
		}
	}
}

func TestHTTPTokenRequiredOffLoopback(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	start := func(listen, token string) (*Gateway, error) {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		g, err := New(ctx, Config{NC: env.Connect(t, "gw"), HTTPListen: listen, HTTPToken: token, Logger: zerolog.Nop()})
		if err != nil {
			return nil, err
		}
		if err := g.Start(ctx); err != nil {
			return nil, err
		}
		t.Cleanup(func() { cancel(); g.Stop() })
		return g, nil
	}
	if _, err := start("0.0.0.0:0", ""); err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("listening on all interfaces without a token: %v", err)
	}
	g, err := start("0.0.0.0:0", "tok")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(g.HTTPAddr(), "]:")
	if port == "" {
		_, port, _ = strings.Cut(g.HTTPAddr(), ":")
	}
	resp, err := http.Get("http://127.0.0.1:" + port + "/api/tasks")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("without the token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", "http://127.0.0.1:"+port+"/api/tasks", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("with the token: %d", resp.StatusCode)
	}
}

func TestHTTPServesDashboard(t *testing.T) {
	t.Parallel()
	r := newHTTPRig(t)
	for _, path := range []string{"/", "/tasks", "/tasks/01ABC", "/daemons"} {
		resp, err := http.Get(r.base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(b), "<html") {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("GET %s: headers %v", path, resp.Header)
		}
	}
	resp, err := http.Get(r.base + "/assets/missing-123.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("missing asset: %d", resp.StatusCode)
	}
}

func TestHTTPStopEndsStreams(t *testing.T) {
	t.Parallel()
	r := newHTTPRig(t)
	var sum bus.Summary
	if code := r.do("POST", "/api/tasks", &bus.CreateTaskRequest{Goal: "x"}, &sum); code != 201 {
		t.Fatal(code)
	}
	s := openSSE(t, r.base+"/api/tasks/"+sum.ID+"/events", "")
	s.nextEvent(t)
	w := openSSE(t, r.base+"/api/watch/tasks", "")
	w.next(t)
	start := time.Now()
	r.g.Stop()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Stop took %s with streams open", d)
	}
	for range s.events {
	}
	for range w.events {
	}
}
