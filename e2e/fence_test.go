package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
)

// appendAs appends p to a task as the given source would, right after the
// log's head (the compare-and-set every writer uses).
func (r *rig) appendAs(id, source string, p bus.Payload) *bus.Event {
	r.t.Helper()
	ctx := r.ctx(10 * time.Second)
	v, err := r.env.Log.Load(ctx, id, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	ev, err := bus.NewEvent(id, source, p)
	if err != nil {
		r.t.Fatal(err)
	}
	stored, err := r.env.Log.AppendToView(ctx, v, ev)
	if err != nil {
		r.t.Fatalf("append %s as %s: %v", ev.Type.Short(), source, err)
	}
	return stored
}

// A daemon that loses its task while the model thinks (another daemon
// claimed it, as after a freeze past the ack wait) stops its run: the tool
// call the model then asks for is neither stored nor run, and nothing it
// writes lands after the other daemon's claim.
func TestFenceStaleDaemonNeverRunsTheTool(t *testing.T) {
	t.Parallel()
	sidefx := filepath.Join(t.TempDir(), "sidefx")
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	r := newRig(t, "", func(req *openaitest.Request) openaitest.Reply {
		if req.LastToolResult() != "" {
			return openaitest.Reply{Text: "done"}
		}
		arrived <- struct{}{}
		<-release
		b, _ := json.Marshal(map[string]any{"command": "echo ran >> " + sidefx})
		return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call("c1", "shell", string(b))}}
	})
	r.gateway()
	r.daemonOpts("a", daemonOptions{Policy: shellAllowed()})
	sum := r.submit("run the command")
	<-arrived
	claim := r.appendAs(sum.ID, bus.DaemonSource("b"), &bus.Assigned{Daemon: "b", Attempt: 2})
	close(release)

	p, err := bus.OpenPresence(r.ctx(5*time.Second), r.env.JS)
	if err != nil {
		t.Fatal(err)
	}
	r.eventually(15*time.Second, "daemon a to stop running the task", func() bool {
		d, err := p.Get(context.Background(), "a")
		return err == nil && len(d.Running) == 0
	})
	events, err := r.env.Log.Events(r.ctx(5*time.Second), sum.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if ev.Seq > claim.Seq {
			t.Errorf("event after b's claim: #%d %s from %s", ev.Seq, ev.Type.Short(), ev.Source)
		}
		if ev.Type == bus.TypeToolCall {
			t.Errorf("tool call stored by a stale daemon: #%d from %s", ev.Seq, ev.Source)
		}
	}
	if _, err := os.Stat(sidefx); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the tool ran on the stale daemon (%s: %v)", sidefx, err)
	}
}

// A daemon that dies after storing the turn's answer but before completing
// leaves a turn that the next daemon completes with that answer, without
// asking the model again.
func TestResumeCompletesTheStoredAnswer(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", answer("a different answer"))
	r.gateway()
	sum := r.submit("say something")
	gone := bus.DaemonSource("gone")
	r.appendAs(sum.ID, gone, &bus.Assigned{Daemon: "gone", Attempt: 1})
	r.appendAs(sum.ID, gone, &bus.Started{Daemon: "gone"})
	r.appendAs(sum.ID, gone, &bus.Message{Role: "assistant", Text: "the stored answer", Final: true})
	r.daemon("d1")
	events := r.follow(sum.ID, 30*time.Second)
	done := payload[bus.Completed](t, events[len(events)-1])
	if done.Result != "the stored answer" {
		t.Errorf("completed with %q, want the stored answer (events: %s)", done.Result, types(events))
	}
	if n := len(r.model.Requests()); n != 0 {
		t.Errorf("the model was asked %d times; the stored answer should have completed the turn", n)
	}
}

// Concurrent approve and deny of one waiting call store exactly one
// decision; the other request is told the call was decided.
func TestConcurrentDecisionsStoreOne(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", nil)
	r.gateway()
	for round := range 5 {
		sum := r.submit("decide me")
		d := bus.DaemonSource("d")
		r.appendAs(sum.ID, d, &bus.Assigned{Daemon: "d", Attempt: 1})
		r.appendAs(sum.ID, d, &bus.ToolCall{CallID: "c1", Tool: "shell", Arguments: `{"command":"ls"}`})
		r.appendAs(sum.ID, d, &bus.ApprovalRequested{CallID: "c1", Tool: "shell", Arguments: `{"command":"ls"}`})
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = r.client.Decide(r.ctx(10*time.Second), &bus.DecideRequest{ID: sum.ID, CallID: "c1", Approved: i%2 == 0, By: "racer"})
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, bus.ErrConflict):
				t.Errorf("round %d: a losing decision got %v, want ErrConflict", round, err)
			}
		}
		events, err := r.env.Log.Events(r.ctx(5*time.Second), sum.ID)
		if err != nil {
			t.Fatal(err)
		}
		stored := 0
		for _, ev := range events {
			if ev.Type == bus.TypeApprovalDecided {
				stored++
			}
		}
		if ok != 1 || stored != 1 {
			t.Fatalf("round %d: %d decisions accepted, %d stored; want exactly one of each (errors: %v)", round, ok, stored, errs)
		}
	}
}

// Forged and garbage messages published straight to a task's subjects are
// skipped and reported; the task goes on and ends with its real answer.
func TestForgedEventsAreSkipped(t *testing.T) {
	t.Parallel()
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	r := newRig(t, "", func(req *openaitest.Request) openaitest.Reply {
		arrived <- struct{}{}
		<-release
		return openaitest.Reply{Text: "the real answer"}
	})
	r.gateway()
	r.daemon("d1")
	sum := r.submit("answer me")
	<-arrived
	nc := r.env.Connect(t, "forger")
	forged, _ := bus.NewEvent(sum.ID, bus.DaemonSource("mallory"), &bus.Completed{Result: "forged"})
	forged.Seq = 99
	b, _ := json.Marshal(forged)
	for _, m := range []*nats.Msg{
		{Subject: bus.TaskEventSubject(sum.ID, bus.DaemonWriter("mallory"), bus.TypeCompleted), Data: b},
		{Subject: bus.TaskEventSubject(sum.ID, bus.DaemonWriter("d1"), bus.TypeMessage), Data: []byte("garbage")},
	} {
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	close(release)
	events := r.follow(sum.ID, 30*time.Second)
	if done := payload[bus.Completed](t, events[len(events)-1]); done.Result != "the real answer" {
		t.Fatalf("completed with %q", done.Result)
	}
	r.eventually(10*time.Second, "the summary to count the skipped messages", func() bool {
		s, err := r.client.Task(context.Background(), sum.ID)
		return err == nil && s.State == bus.StateCompleted && s.Result == "the real answer" && s.Rejected == 2
	})
}
