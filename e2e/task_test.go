package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
)

func TestSubmitRunsToCompletion(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", openaitest.Echo)
	r.gateway()
	r.daemon("d1")

	// Watch the live subject like a dashboard would.
	var mu sync.Mutex
	var deltas []string
	sub, err := r.env.NC.Subscribe("viber.live.*", func(m *nats.Msg) {
		var d bus.Delta
		if json.Unmarshal(m.Data, &d) == nil {
			mu.Lock()
			deltas = append(deltas, d.Text)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	task := r.submit("say hello to the world")
	if task.State != bus.StatePending || task.ID == "" {
		t.Fatalf("created summary: %+v", task)
	}
	events := r.follow(task.ID, 20*time.Second)
	if got, want := types(events), "created assigned started message completed"; got != want {
		t.Fatalf("events: %s, want %s", got, want)
	}
	checkOrdered(t, events)
	done := payload[bus.Completed](t, events[len(events)-1])
	if done.Result != "echo: say hello to the world" {
		t.Fatalf("result %q", done.Result)
	}
	for _, ev := range events {
		if ev.Subject != task.ID || ev.SpecVersion != "1.0" || ev.DataContentType != "application/json" {
			t.Errorf("envelope attributes: %+v", ev)
		}
		if strings.Contains(string(ev.Data), "sk-test-secret") {
			t.Errorf("the API key leaked into event %s", ev.Type)
		}
	}
	if src := events[0].Source; !strings.HasPrefix(src, "vibergw/") {
		t.Errorf("created source %q", src)
	}
	if src := events[2].Source; src != "viberd/d1" {
		t.Errorf("started source %q", src)
	}
	// The model saw the goal as the last user message and got our key.
	reqs := r.model.Requests()
	if len(reqs) != 1 || reqs[0].LastUser() != "say hello to the world" || reqs[0].Authorization != "Bearer sk-test-secret" || !reqs[0].Stream {
		t.Fatalf("model requests: %+v", reqs)
	}
	r.eventually(2*time.Second, "live deltas", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(deltas, "") == done.Result
	})
	// The summary follows the log.
	r.eventually(5*time.Second, "summary completed", func() bool {
		s, err := r.client.Task(r.ctx(time.Second), task.ID)
		return err == nil && s.State == bus.StateCompleted && s.Result == done.Result && s.Daemon == "d1"
	})
	// The list shows projected summaries, which may trail the log (Task
	// folds the log when its projection is behind).
	r.eventually(5*time.Second, "listed as completed", func() bool {
		list, err := r.client.ListTasks(r.ctx(5*time.Second), &bus.ListTasksRequest{State: bus.StateCompleted})
		return err == nil && list.Total == 1 && list.Tasks[0].ID == task.ID
	})
}

func TestRestartReplaysTheSameLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := newRig(t, dir, openaitest.Echo)
	gw, _ := r.gateway()
	d := r.daemon("d1")
	var ids []string
	before := map[string][]*bus.Event{}
	for i := range 3 {
		task := r.submit(fmt.Sprintf("task %d", i))
		ids = append(ids, task.ID)
		before[task.ID] = r.follow(task.ID, 20*time.Second)
	}
	r.eventually(5*time.Second, "summaries projected", func() bool {
		l, err := r.client.ListTasks(r.ctx(time.Second), &bus.ListTasksRequest{State: bus.StateCompleted})
		return err == nil && l.Total == 3
	})
	d.Stop()
	gw.Stop()
	r.env.Stop()

	// Same store, fresh processes.
	r2 := newRig(t, dir, openaitest.Echo)
	_, g2 := r2.gateway()
	select {
	case <-g2.CaughtUp():
	case <-time.After(10 * time.Second):
		t.Fatal("projector did not catch up")
	}
	for _, id := range ids {
		after, err := r2.env.Log.Events(r2.ctx(10*time.Second), id)
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(before[id]) {
			t.Fatalf("task %s: %d events after restart, %d before", id, len(after), len(before[id]))
		}
		for i := range after {
			a, b := after[i], before[id][i]
			if a.ID != b.ID || a.Seq != b.Seq || a.Type != b.Type || string(a.Data) != string(b.Data) {
				t.Fatalf("task %s event %d differs after restart: %+v vs %+v", id, i, a, b)
			}
		}
		s, err := r2.client.Task(r2.ctx(5*time.Second), id)
		if err != nil || s.State != bus.StateCompleted || s.Result == "" {
			t.Fatalf("summary after restart: %+v %v", s, err)
		}
	}
	list, err := r2.client.ListTasks(r2.ctx(5*time.Second), &bus.ListTasksRequest{})
	if err != nil || list.Total != 3 {
		t.Fatalf("list after restart: %+v %v", list, err)
	}
	// And the system still works.
	r2.daemon("d1")
	task := r2.submit("after restart")
	if got := types(r2.follow(task.ID, 20*time.Second)); got != "created assigned started message completed" {
		t.Fatalf("new task after restart: %s", got)
	}
}

func TestCancelHangingModel(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", func(*openaitest.Request) openaitest.Reply { return openaitest.Reply{Hang: true} })
	r.gateway()
	r.daemon("d1")
	task := r.submit("never answers")
	r.waitFor(task.ID, bus.TypeStarted, 10*time.Second)
	select {
	case <-r.model.Arrived():
	case <-time.After(5 * time.Second):
		t.Fatal("model never called")
	}
	start := time.Now()
	if _, err := r.client.CancelTask(r.ctx(5*time.Second), &bus.CancelTaskRequest{ID: task.ID, Reason: "changed my mind"}); err != nil {
		t.Fatal(err)
	}
	events := r.follow(task.ID, 5*time.Second)
	took := time.Since(start)
	if got := types(events); got != "created assigned started cancel_requested cancelled" {
		t.Fatalf("events: %s", got)
	}
	if c := payload[bus.Cancelled](t, events[len(events)-1]); c.Reason != "changed my mind" {
		t.Errorf("reason %q", c.Reason)
	}
	t.Logf("cancelled %s after the request", took)
	if took > 3*time.Second {
		t.Errorf("cancel took %s", took)
	}
	// Cancelling again is refused clearly.
	_, err := r.client.CancelTask(r.ctx(5*time.Second), &bus.CancelTaskRequest{ID: task.ID})
	if !errors.Is(err, bus.ErrTerminal) {
		t.Fatalf("second cancel: %v", err)
	}
}

func TestPendingUntilDaemonArrives(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", openaitest.Echo)
	r.gateway()
	task := r.submit("wait for a worker")
	time.Sleep(300 * time.Millisecond)
	s, err := r.client.Task(r.ctx(5*time.Second), task.ID)
	if err != nil || s.State != bus.StatePending {
		t.Fatalf("before any daemon: %+v %v", s, err)
	}
	r.daemon("late")
	events := r.follow(task.ID, 20*time.Second)
	if got := types(events); got != "created assigned started message completed" {
		t.Fatalf("events: %s", got)
	}
	if a := payload[bus.Assigned](t, events[1]); a.Daemon != "late" {
		t.Fatalf("assigned to %q", a.Daemon)
	}
}

func TestCancelPendingTask(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", openaitest.Echo)
	r.gateway()
	task := r.submit("nobody will take this")
	if _, err := r.client.CancelTask(r.ctx(5*time.Second), &bus.CancelTaskRequest{ID: task.ID}); err != nil {
		t.Fatal(err)
	}
	if got := types(r.follow(task.ID, 5*time.Second)); got != "created cancel_requested cancelled" {
		t.Fatalf("events: %s", got)
	}
	// A daemon arriving later drops the stale assignment.
	r.daemon("d1")
	time.Sleep(500 * time.Millisecond)
	events, err := r.env.Log.Events(r.ctx(5*time.Second), task.ID)
	if err != nil || len(events) != 3 {
		t.Fatalf("after a daemon came: %s %v", types(events), err)
	}
}

func TestDaemonDiesMidTask(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	r := newRig(t, "", func(req *openaitest.Request) openaitest.Reply {
		if calls.Add(1) == 1 {
			return openaitest.Reply{Hang: true} // the first daemon's call never returns
		}
		return openaitest.Echo(req)
	})
	r.gateway()
	a := r.daemon("a")
	task := r.submit("survive a crash")
	r.waitFor(task.ID, bus.TypeStarted, 10*time.Second)
	r.daemon("b")
	a.Kill()

	events := r.follow(task.ID, 30*time.Second)
	if got, want := types(events), "created assigned started assigned started message completed"; got != want {
		t.Fatalf("events: %s, want %s", got, want)
	}
	checkOrdered(t, events)
	first, second := payload[bus.Assigned](t, events[1]), payload[bus.Assigned](t, events[3])
	if first.Daemon != "a" || second.Daemon != "b" || second.Attempt < 2 {
		t.Fatalf("assignments: %+v then %+v", first, second)
	}
	if s := payload[bus.Started](t, events[4]); !s.Resumed || s.Daemon != "b" {
		t.Fatalf("second start: %+v", s)
	}
	if res := payload[bus.Completed](t, events[6]).Result; res != "echo: survive a crash" {
		t.Fatalf("result %q", res)
	}
}

func TestBadRequestsGetClearErrors(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", openaitest.Echo)
	r.gateway()
	ctx := r.ctx(20 * time.Second)
	unknown := bus.NewID()

	if _, err := r.client.Task(ctx, unknown); !errors.Is(err, bus.ErrTaskNotFound) {
		t.Errorf("get unknown: %v", err)
	}
	if _, err := r.client.Task(ctx, "../../etc"); !errors.Is(err, bus.ErrTaskNotFound) {
		t.Errorf("get bad id: %v", err)
	}
	if _, err := r.client.CancelTask(ctx, &bus.CancelTaskRequest{ID: unknown}); !errors.Is(err, bus.ErrTaskNotFound) {
		t.Errorf("cancel unknown: %v", err)
	}
	if _, err := r.client.SendInput(ctx, &bus.SendInputRequest{ID: unknown, Text: "hi"}); !errors.Is(err, bus.ErrTaskNotFound) {
		t.Errorf("send unknown: %v", err)
	}
	if _, err := r.client.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "  "}); !errors.Is(err, bus.ErrMalformed) {
		t.Errorf("empty goal: %v", err)
	}
	_, err := r.client.CreateTask(ctx, &bus.CreateTaskRequest{Goal: strings.Repeat("x", bus.MaxGoalBytes+1)})
	if !errors.Is(err, bus.ErrTooLarge) || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversize goal: %v", err)
	}
	if _, err := r.client.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "x", Daemon: "nobody"}); !errors.Is(err, bus.ErrDaemonNotFound) || errors.Is(err, bus.ErrTaskNotFound) || !strings.Contains(err.Error(), "daemon ls") {
		t.Errorf("unknown daemon: %v", err)
	}
	if _, err := r.client.ListTasks(ctx, &bus.ListTasksRequest{State: "sleeping"}); !errors.Is(err, bus.ErrMalformed) {
		t.Errorf("bad state filter: %v", err)
	}
	// Raw malformed requests, as any NATS client could send.
	for _, body := range []string{"{not json", "", "[]", `{"goal": 42}`} {
		msg, err := r.env.NC.Request(bus.APISubject(bus.APIGroupTask, bus.APITaskCreate), []byte(body), 5*time.Second)
		if err != nil {
			t.Fatalf("raw %q: %v", body, err)
		}
		if code := msg.Header.Get(bus.HeaderServiceErrorCode); code != string(bus.CodeMalformed) {
			t.Errorf("raw %q: code %q (%s)", body, code, msg.Header.Get(bus.HeaderServiceError))
		}
	}
	// A request over the server's payload limit is refused before sending.
	huge := strings.Repeat("y", 9<<20)
	if _, err := r.client.CreateTask(ctx, &bus.CreateTaskRequest{Goal: huge}); !errors.Is(err, bus.ErrTooLarge) {
		t.Errorf("over max payload: %v", err)
	}
	// Nothing was created and the gateway still works.
	list, err := r.client.ListTasks(ctx, &bus.ListTasksRequest{})
	if err != nil || list.Total != 0 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if s := r.submit("still fine"); s.ID == "" {
		t.Fatal("no id")
	}
}

func TestNoGatewayIsAClearError(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", nil)
	_, err := r.client.CreateTask(r.ctx(5*time.Second), &bus.CreateTaskRequest{Goal: "x"})
	if !errors.Is(err, bus.ErrUnavailable) || !strings.Contains(err.Error(), "viber up") {
		t.Fatalf("got %v", err)
	}
}

func TestNoModelFailsTaskAndDaemonKeepsRunning(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", nil)
	r.gateway()
	r.daemonWith("nomodel", agents.ModelConfig{Provider: agents.ProviderOpenAI, Model: agents.DefaultOpenAIModel})
	for range 2 {
		task := r.submit("anything")
		events := r.follow(task.ID, 20*time.Second)
		if got := types(events); got != "created assigned failed" {
			t.Fatalf("events: %s", got)
		}
		f := payload[bus.Failed](t, events[len(events)-1])
		if f.Code != bus.FailNoModel || !strings.Contains(f.Error, "OPENAI_API_KEY") || !strings.Contains(f.Error, "VIBER_BASE_URL") {
			t.Fatalf("failure: %+v", f)
		}
	}
}

func TestModelErrorFailsTask(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", func(*openaitest.Request) openaitest.Reply {
		return openaitest.Reply{Status: 401, Error: "Incorrect API key provided"}
	})
	r.gateway()
	r.daemon("d1")
	task := r.submit("x")
	events := r.follow(task.ID, 20*time.Second)
	f := payload[bus.Failed](t, events[len(events)-1])
	if f.Code != bus.FailModel || !strings.Contains(f.Error, "Incorrect API key") {
		t.Fatalf("failure: %+v (%s)", f, types(events))
	}
}

func TestFollowUpStartsANewTurn(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", openaitest.Echo)
	r.gateway()
	r.daemon("d1")
	task := r.submit("first question")
	r.follow(task.ID, 20*time.Second)
	if _, err := r.client.SendInput(r.ctx(5*time.Second), &bus.SendInputRequest{ID: task.ID, Text: "second question"}); err != nil {
		t.Fatal(err)
	}
	var events []*bus.Event
	r.eventually(20*time.Second, "second turn completed", func() bool {
		events, _ = r.env.Log.Events(r.ctx(5*time.Second), task.ID)
		return len(events) > 0 && events[len(events)-1].Type == bus.TypeCompleted && len(events) > 5
	})
	if got, want := types(events), "created assigned started message completed input assigned started message completed"; got != want {
		t.Fatalf("events: %s, want %s", got, want)
	}
	if res := payload[bus.Completed](t, events[len(events)-1]).Result; res != "echo: second question" {
		t.Fatalf("second result %q", res)
	}
	// The model saw the whole conversation.
	reqs := r.model.Requests()
	last := reqs[len(reqs)-1]
	var roles []string
	for _, m := range last.Messages {
		roles = append(roles, m.Role)
	}
	if got := strings.Join(roles, ","); got != "system,user,assistant,user" {
		t.Fatalf("conversation roles: %s", got)
	}
}
