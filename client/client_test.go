package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/gateway"
)

// rig is a real NATS server, a started gateway (no HTTP, no daemon) and a
// client.
type rig struct {
	env *bustest.Env
	cl  *client.Client
}

func newRig(t *testing.T) *rig {
	t.Helper()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, gateway.Config{NC: env.Connect(t, "gateway"), HTTPListen: "none", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); g.Stop() })
	cl, err := client.New(env.Connect(t, "client"))
	if err != nil {
		t.Fatal(err)
	}
	return &rig{env: env, cl: cl}
}

func types(events []*bus.Event) string {
	var s []string
	for _, ev := range events {
		s = append(s, ev.Type.Short())
	}
	return strings.Join(s, " ")
}

func collect(t *testing.T, seq func(func(*bus.Event, error) bool)) []*bus.Event {
	t.Helper()
	var out []*bus.Event
	for ev, err := range seq {
		if err != nil {
			t.Fatalf("watch: %v (so far: %s)", err, types(out))
		}
		out = append(out, ev)
	}
	return out
}

func TestTaskLifecycle(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := bustest.Context(t, 30*time.Second)

	task, err := r.cl.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "wait for approval"})
	if err != nil {
		t.Fatal(err)
	}
	if task.State != bus.StatePending || task.Goal != "wait for approval" {
		t.Fatalf("created: state %s goal %q", task.State, task.Goal)
	}
	got, err := r.cl.Task(ctx, task.ID)
	if err != nil || got.ID != task.ID {
		t.Fatalf("get: %+v %v", got, err)
	}
	// A daemon (played by the test) asks for two approvals.
	if _, err := r.env.Log.AppendPayload(ctx, task.ID, bus.DaemonSource("test"), &bus.Assigned{Daemon: "test", Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	for _, call := range []string{"a1", "a2"} {
		for _, p := range []bus.Payload{
			&bus.ToolCall{CallID: call, Tool: "shell", Arguments: `{"cmd":"ls"}`},
			&bus.ApprovalRequested{CallID: call, Tool: "shell", Arguments: `{"cmd":"ls"}`},
		} {
			if _, err := r.env.Log.AppendPayload(ctx, task.ID, bus.DaemonSource("test"), p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ev, err := r.cl.Approve(ctx, task.ID, "a1", "", "tester"); err != nil || ev.Type != bus.TypeApprovalDecided {
		t.Fatalf("approve: %+v %v", ev, err)
	}
	if _, err := r.cl.Approve(ctx, task.ID, "zz", "", "tester"); !errors.Is(err, bus.ErrCallNotFound) {
		t.Errorf("approving an unknown call: %v, want ErrCallNotFound", err)
	}
	ev, err := r.cl.Deny(ctx, task.ID, "a2", "not here", "tester")
	if err != nil {
		t.Fatal(err)
	}
	var d bus.ApprovalDecided
	if err := json.Unmarshal(ev.Data, &d); err != nil || d.Approved || d.Reason != "not here" || d.By != "tester" {
		t.Errorf("deny stored %s (%v)", ev.Data, err)
	}
	steer, err := r.cl.SendInput(ctx, &bus.SendInputRequest{ID: task.ID, Text: "hurry", Mode: bus.InputSteer})
	if err != nil || steer.Type != bus.TypeInput {
		t.Fatalf("send: %+v %v", steer, err)
	}
	if _, err := r.cl.SendInput(ctx, &bus.SendInputRequest{ID: task.ID, Text: "x", Mode: "shout"}); !errors.Is(err, bus.ErrMalformed) {
		t.Errorf("bad mode: %v, want ErrMalformed", err)
	}

	// Replay what is stored, then resume after the second event.
	all := collect(t, r.cl.Watch(ctx, task.ID, client.WatchOptions{}))
	if got, want := types(all), "created assigned tool_call approval_requested tool_call approval_requested approval_decided approval_decided input"; got != want {
		t.Fatalf("replay: %s, want %s", got, want)
	}
	rest := collect(t, r.cl.Watch(ctx, task.ID, client.WatchOptions{AfterSeq: all[1].Seq}))
	if got, want := types(rest), types(all[2:]); got != want {
		t.Fatalf("resumed after seq %d: %s, want %s", all[1].Seq, got, want)
	}

	// Follow to the end while the task is cancelled; Wait sees the same.
	followed := make(chan []*bus.Event, 1)
	go func() {
		var out []*bus.Event
		for ev, err := range r.cl.Watch(ctx, task.ID, client.WatchOptions{Follow: bus.UntilEnd, AfterSeq: all[len(all)-1].Seq}) {
			if err != nil {
				t.Errorf("follow: %v", err)
				break
			}
			out = append(out, ev)
		}
		followed <- out
	}()
	if _, err := r.cl.CancelTask(ctx, &bus.CancelTaskRequest{ID: task.ID, Reason: "done testing"}); err != nil {
		t.Fatal(err)
	}
	// The follower has no running daemon to cancel for it; play the daemon.
	if _, err := r.env.Log.AppendPayload(ctx, task.ID, bus.DaemonSource("test"), &bus.Cancelled{Reason: "done testing"}); err != nil {
		t.Fatal(err)
	}
	select {
	case out := <-followed:
		if got := types(out); got != "cancel_requested cancelled" {
			t.Errorf("followed: %s, want cancel_requested cancelled", got)
		}
	case <-ctx.Done():
		t.Fatal("follow did not end on the cancelled event")
	}
	final, err := r.cl.Wait(ctx, task.ID)
	if err != nil || final.State != bus.StateCancelled {
		t.Fatalf("wait: %+v %v", final, err)
	}
	if _, err := r.cl.CancelTask(ctx, &bus.CancelTaskRequest{ID: task.ID}); !errors.Is(err, bus.ErrTerminal) {
		t.Errorf("cancel again: %v, want ErrTerminal", err)
	}

	list, err := r.cl.ListTasks(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The projector lists the task once it has folded the log.
	for list.Total == 0 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		if list, err = r.cl.ListTasks(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	if list.Total != 1 || list.Tasks[0].ID != task.ID {
		t.Errorf("list: %d tasks, want %s", list.Total, task.ID)
	}
}

func TestUnknownTask(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := bustest.Context(t, 10*time.Second)
	id := bus.NewID()
	if _, err := r.cl.Task(ctx, id); !errors.Is(err, bus.ErrTaskNotFound) {
		t.Errorf("get: %v, want ErrTaskNotFound", err)
	}
	for _, err := range r.cl.Watch(ctx, id, client.WatchOptions{Follow: bus.UntilEnd}) {
		if !errors.Is(err, bus.ErrTaskNotFound) {
			t.Errorf("watch: %v, want ErrTaskNotFound", err)
		}
	}
	if _, err := r.cl.Wait(ctx, id); !errors.Is(err, bus.ErrTaskNotFound) {
		t.Errorf("wait: %v, want ErrTaskNotFound", err)
	}
	if _, err := r.cl.Decide(ctx, &bus.DecideRequest{ID: id, CallID: "c1", Approved: true}); !errors.Is(err, bus.ErrTaskNotFound) {
		t.Errorf("decide: %v, want ErrTaskNotFound", err)
	}
	if _, err := r.cl.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "x", Daemon: "nobody"}); !errors.Is(err, bus.ErrDaemonNotFound) || errors.Is(err, bus.ErrTaskNotFound) {
		t.Errorf("create on an unknown daemon: %v, want ErrDaemonNotFound only", err)
	}
}

func TestDaemonsAndSkills(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := bustest.Context(t, 10*time.Second)
	p, err := bus.OpenPresence(ctx, r.env.JS)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, d := range []*bus.DaemonInfo{
		{ID: "d1", Status: bus.DaemonOnline, LastSeen: now, Skills: []bus.SkillInfo{{Name: "pdf", Description: "read PDFs", Source: "user"}, {Name: "git", Source: "builtin"}}},
		{ID: "d2", Status: bus.DaemonOffline, LastSeen: now, Skills: []bus.SkillInfo{{Name: "pdf", Source: "workspace", Missing: []string{"binary pdftotext"}}}},
	} {
		if err := p.Put(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := r.cl.Daemons(ctx)
	if err != nil {
		t.Fatal(err)
	}
	online := map[string]bool{}
	for _, d := range ds {
		online[d.ID] = d.Online
	}
	if len(ds) != 2 || !online["d1"] || online["d2"] {
		t.Errorf("daemons: %v, want d1 online and d2 offline", online)
	}
	skills, err := r.cl.Skills(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range skills {
		var offers []string
		for _, o := range s.Daemons {
			offers = append(offers, o.Daemon+":"+strings.Join(o.Missing, ","))
		}
		got = append(got, s.Name+"="+strings.Join(offers, "+"))
	}
	if want := "git=d1: pdf=d1:+d2:binary pdftotext"; strings.Join(got, " ") != want {
		t.Errorf("skills: %s, want %s", strings.Join(got, " "), want)
	}
}

func TestLiveAndWatchAll(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := bustest.Context(t, 20*time.Second)

	var mu sync.Mutex
	var text strings.Builder
	got := make(chan struct{}, 8)
	stop, err := r.cl.Live(ctx, "t1", func(d bus.Delta) {
		mu.Lock()
		text.WriteString(d.Text)
		mu.Unlock()
		got <- struct{}{}
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, part := range []string{"hel", "lo"} {
		b, _ := json.Marshal(bus.Delta{TaskID: "t1", Text: part, Index: i})
		if err := r.env.NC.Publish(bus.LiveSubject("t1"), b); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatalf("delta %d never arrived", i)
		}
	}
	stop()
	stop() // twice is fine
	mu.Lock()
	if text.String() != "hello" {
		t.Errorf("live text %q, want hello", text.String())
	}
	mu.Unlock()

	// WatchAll sees tasks created after it started, in order.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seen := make(chan *bus.Event, 16)
	done := make(chan error, 1)
	go func() {
		for ev, err := range r.cl.WatchAll(wctx) {
			if err != nil {
				done <- err
				return
			}
			select {
			case seen <- ev:
			case <-wctx.Done():
			}
		}
		done <- nil
	}()
	// The watch starts with new events only: create tasks until one is
	// seen, then check the next one arrives whole and in order.
	var first *bus.Event
	for first == nil {
		if _, err := r.cl.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "one"}); err != nil {
			t.Fatal(err)
		}
		select {
		case first = <-seen:
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("WatchAll saw nothing")
		}
	}
	two, err := r.cl.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "two"})
	if err != nil {
		t.Fatal(err)
	}
	for found := false; !found; {
		select {
		case ev := <-seen:
			if ev.Subject != two.ID {
				continue
			}
			found = true
			if ev.Type != bus.TypeCreated || ev.StreamSeq == 0 {
				t.Errorf("WatchAll: %s at stream seq %d, want created with its stream seq", ev.Type, ev.StreamSeq)
			}
		case <-ctx.Done():
			t.Fatalf("WatchAll never showed task %s", two.ID)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("WatchAll ended with %v, want nil when its context ends", err)
	}
}

func TestNoGatewayIsUnavailable(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	cl, err := client.New(env.Connect(t, "client"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.CreateTask(bustest.Context(t, 5*time.Second), &bus.CreateTaskRequest{Goal: "x"})
	if !errors.Is(err, bus.ErrUnavailable) || !strings.Contains(err.Error(), "vibergw") {
		t.Errorf("no gateway: %v, want ErrUnavailable saying how to start one", err)
	}
	huge := strings.Repeat("x", int(env.NC.MaxPayload())+1)
	if _, err := cl.CreateTask(bustest.Context(t, 5*time.Second), &bus.CreateTaskRequest{Goal: huge}); !errors.Is(err, bus.ErrTooLarge) {
		t.Errorf("over the server's payload limit: %v, want ErrTooLarge", err)
	}
}
