package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/rs/zerolog"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
	"github.com/viberhq/viber/client"
)

// sentinels are every error with its own code, for checking that a code
// maps back to its own sentinel and to no other.
var sentinels = []error{
	bus.ErrTaskNotFound, bus.ErrDaemonNotFound, bus.ErrCallNotFound, bus.ErrConflict, bus.ErrTerminal,
	bus.ErrMalformed, bus.ErrUnknownType, bus.ErrTooLarge, bus.ErrUnauthorized, bus.ErrUnavailable,
	bus.ErrNotWaiting, bus.ErrSkillUnavailable,
}

// checkErr checks that err matches want and no other sentinel, and that
// its message is msg.
func checkErr(t *testing.T, via string, err, want error, msg string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %v", via, want)
		return
	}
	for _, s := range sentinels {
		if got := errors.Is(err, s); got != (s == want) {
			t.Errorf("%s: errors.Is(%q, %v) = %v, want %v", via, err, s, got, !got)
		}
	}
	if msg != "" && err.Error() != msg {
		t.Errorf("%s: message %q, want %q", via, err.Error(), msg)
	}
}

// httpErr rebuilds the error of an HTTP answer the way a client does.
func httpErr(t *testing.T, resp *http.Response) error {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode < 400 {
		return nil
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error answer %d has content type %q, want JSON", resp.StatusCode, ct)
	}
	return bus.ParseHTTPError(resp.StatusCode, body)
}

// TestErrorCodesSurviveTheWire sends each sentinel error, wrapped in a
// message the way the gateway's handlers do, through the gateway's NATS
// reply path and its HTTP error path, and checks that the client sees the
// same sentinel (and no other) and the whole message.
func TestErrorCodesSurviveTheWire(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err    error
		want   error
		code   bus.ErrorCode
		status int
	}{
		{fmt.Errorf("task %s: %w", "t1", bus.ErrTaskNotFound), bus.ErrTaskNotFound, bus.CodeTaskNotFound, 404},
		{fmt.Errorf("unknown daemon %q (`viber daemon ls` lists daemons): %w", "d9", bus.ErrDaemonNotFound), bus.ErrDaemonNotFound, bus.CodeDaemonNotFound, 404},
		{fmt.Errorf("task t1 has no call %q waiting: %w", "c9", bus.ErrCallNotFound), bus.ErrCallNotFound, bus.CodeCallNotFound, 404},
		{fmt.Errorf("cancel task t1: the log kept changing: %w", bus.ErrConflict), bus.ErrConflict, bus.CodeConflict, 409},
		{fmt.Errorf("task t1 already completed: %w", bus.ErrTerminal), bus.ErrTerminal, bus.CodeTerminal, 409},
		{fmt.Errorf("%w: the goal is empty; say what the task should do", bus.ErrMalformed), bus.ErrMalformed, bus.CodeMalformed, 400},
		{fmt.Errorf("event e1: %w %q", bus.ErrUnknownType, "viber.task.nope"), bus.ErrUnknownType, bus.CodeUnknownType, 400},
		{fmt.Errorf("%w: the goal is 70000 bytes; the limit is 65536", bus.ErrTooLarge), bus.ErrTooLarge, bus.CodeTooLarge, 413},
		{fmt.Errorf("a token is required: %w", bus.ErrUnauthorized), bus.ErrUnauthorized, bus.CodeUnauthorized, 401},
		{fmt.Errorf("the projector is behind: %w", bus.ErrUnavailable), bus.ErrUnavailable, bus.CodeUnavailable, 503},
		{fmt.Errorf("call c1 (shell) of task t1 does not wait for approval: %w", bus.ErrNotWaiting), bus.ErrNotWaiting, bus.CodeNotWaiting, 409},
		{fmt.Errorf("no daemon offers skill(s) pdf: %w", bus.ErrSkillUnavailable), bus.ErrSkillUnavailable, bus.CodeSkillMissing, 400},
		{fmt.Errorf("schedule %q: %w", "s1", bus.ErrScheduleNotFound), bus.ErrScheduleNotFound, bus.CodeScheduleNotFound, 404},
		{fmt.Errorf("the NATS server is 2.11.0: %w", bus.ErrSchedulesUnsupported), bus.ErrUnsupported, bus.CodeUnsupported, 501},
		{fmt.Errorf("memory global MEMORY.md: %w", bus.ErrMemoryNotFound), bus.ErrMemoryNotFound, bus.CodeMemoryNotFound, 404},
		{fmt.Errorf("no daemon offers agent %q: %w", "reviewer", bus.ErrAgentUnavailable), bus.ErrAgentUnavailable, bus.CodeAgentMissing, 400},
		{fmt.Errorf("task t1 is running: %w", bus.ErrActive), bus.ErrActive, bus.CodeActive, 409},
		{errors.New("disk on fire\nsecond line kept"), nil, bus.CodeInternal, 500},
	}
	covered := map[bus.ErrorCode]bool{}
	for _, c := range cases {
		covered[c.code] = true
	}
	for _, code := range bus.ErrorCodes() {
		if !covered[code] {
			t.Errorf("code %s is not sent through the wire by this test", code)
		}
	}
	byKey := map[string]error{}
	for i, c := range cases {
		byKey[fmt.Sprint(i)] = c.err
	}
	lookup := func(key string) error {
		if err, ok := byKey[key]; ok {
			return err
		}
		return fmt.Errorf("test: no case %q", key)
	}

	// NATS: a micro service on the real get endpoint answering through the
	// gateway's reply path; the client package on the other side.
	env := bustest.Start(t, "", bus.SetupOptions{})
	g := &Gateway{log: zerolog.Nop()}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	svc, err := micro.AddService(env.Connect(t, "errors-service"), micro.Config{Name: "viber_errors_test", Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	grp := svc.AddGroup(bus.APISubjectPrefix() + "." + bus.APIGroupTask)
	if err := grp.AddEndpoint(bus.APITaskGet, micro.HandlerFunc(func(req micro.Request) {
		g.serve(ctx, req, func(_ context.Context, b []byte) (any, error) {
			var r bus.TaskRequest
			if err := json.Unmarshal(b, &r); err != nil {
				return nil, err
			}
			return nil, lookup(r.ID)
		})
	})); err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(env.Connect(t, "errors-client"))
	if err != nil {
		t.Fatal(err)
	}

	// HTTP: the gateway's error writer.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.writeErr(w, r, lookup(r.URL.Query().Get("case")))
	}))
	t.Cleanup(srv.Close)

	for i, c := range cases {
		key := fmt.Sprint(i)
		t.Run(string(c.code), func(t *testing.T) {
			rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
			defer rcancel()
			_, err := cl.Task(rctx, key)
			checkErr(t, "NATS", err, c.want, c.err.Error())
			var apiErr *bus.APIError
			if !errors.As(err, &apiErr) || apiErr.Code != c.code || apiErr.Status != c.status {
				t.Errorf("NATS: %#v, want code %s status %d", err, c.code, c.status)
			}

			resp, err := http.Get(srv.URL + "/?case=" + key)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != c.status {
				t.Errorf("HTTP: status %d, want %d", resp.StatusCode, c.status)
			}
			err = httpErr(t, resp)
			checkErr(t, "HTTP", err, c.want, c.err.Error())
			if !errors.As(err, &apiErr) || apiErr.Code != c.code {
				t.Errorf("HTTP: %#v, want code %s", err, c.code)
			}
		})
	}
}

// TestAPIErrorsFromTheGateway triggers each error a real gateway answers
// and checks it over NATS (the client package) and HTTP alike: the same
// sentinel, the same message.
func TestAPIErrorsFromTheGateway(t *testing.T) {
	t.Parallel()
	r := newHTTPRig(t)
	cl, err := client.New(r.env.Connect(t, "client"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := bustest.Context(t, 30*time.Second)
	// A pending task with no call waiting, and one that was cancelled.
	pending, err := cl.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "wait"})
	if err != nil {
		t.Fatal(err)
	}
	ended, err := cl.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "stop"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CancelTask(ctx, &bus.CancelTaskRequest{ID: ended.ID}); err != nil {
		t.Fatal(err)
	}
	unknown := bus.NewID()
	huge := strings.Repeat("x", bus.MaxGoalBytes+1)

	type call struct {
		nats         func() error
		method, path string
		body         any
	}
	cases := []struct {
		name string
		want error
		call call
	}{
		{"unknown task", bus.ErrTaskNotFound, call{
			func() error { _, err := cl.Task(ctx, unknown); return err },
			"GET", "/api/tasks/" + unknown, nil}},
		{"unknown daemon", bus.ErrDaemonNotFound, call{
			func() error {
				_, err := cl.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "x", Daemon: "nobody"})
				return err
			},
			"POST", "/api/tasks", &bus.CreateTaskRequest{Goal: "x", Daemon: "nobody"}}},
		{"unknown call", bus.ErrCallNotFound, call{
			func() error { _, err := cl.Approve(ctx, pending.ID, "c9", "", "test"); return err },
			"POST", "/api/tasks/" + pending.ID + "/decide", &bus.DecideRequest{CallID: "c9", Approved: true}}},
		{"cancel an ended task", bus.ErrTerminal, call{
			func() error { _, err := cl.CancelTask(ctx, &bus.CancelTaskRequest{ID: ended.ID}); return err },
			"POST", "/api/tasks/" + ended.ID + "/cancel", &bus.CancelTaskRequest{}}},
		{"empty goal", bus.ErrMalformed, call{
			func() error { _, err := cl.CreateTask(ctx, &bus.CreateTaskRequest{Goal: " "}); return err },
			"POST", "/api/tasks", &bus.CreateTaskRequest{Goal: " "}}},
		{"goal too large", bus.ErrTooLarge, call{
			func() error { _, err := cl.CreateTask(ctx, &bus.CreateTaskRequest{Goal: huge}); return err },
			"POST", "/api/tasks", &bus.CreateTaskRequest{Goal: huge}}},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			nerr := c.call.nats()
			checkErr(t, "NATS", nerr, c.want, "")
			var body io.Reader
			if c.call.body != nil {
				b, err := json.Marshal(c.call.body)
				if err != nil {
					t.Fatal(err)
				}
				body = strings.NewReader(string(b))
			}
			req, err := http.NewRequestWithContext(ctx, c.call.method, r.base+c.call.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			herr := httpErr(t, resp)
			checkErr(t, "HTTP", herr, c.want, "")
			if nerr != nil && herr != nil && nerr.Error() != herr.Error() {
				t.Errorf("messages differ: NATS %q, HTTP %q", nerr, herr)
			}
		})
	}

	// Unauthorized: HTTP without the token. (Over NATS the server itself
	// refuses a connection without credentials; the gateway never sees it.)
	h := RequireToken("s3cret", http.NotFoundHandler())
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "http://gw.example/api/tasks", nil))
	checkErr(t, "HTTP", bus.ParseHTTPError(w.Code, w.Body.Bytes()), bus.ErrUnauthorized, "")
}
