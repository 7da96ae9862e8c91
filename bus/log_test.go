package bus_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
)

// gw is the source of the events these tests write as a gateway would.
var gw = bus.GatewaySource("test")

func TestAppendAssignsGaplessSeqAcrossWriters(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx := bustest.Context(t, 30*time.Second)
	task := bus.NewID()
	if _, err := env.Log.AppendPayload(ctx, task, gw, &bus.Created{Goal: "g"}); err != nil {
		t.Fatal(err)
	}
	// Two independent writers (separate connections and Logs) race.
	logs := []*bus.Log{env.Log}
	for i := range 3 {
		js, _ := jetstream.New(env.Connect(t, fmt.Sprint("w", i)))
		logs = append(logs, bus.NewLog(js))
	}
	var wg sync.WaitGroup
	for i, l := range logs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 25 {
				if _, err := l.AppendPayload(ctx, task, bus.GatewaySource(fmt.Sprint("g", i)), &bus.Input{Mode: bus.InputQueue, Text: fmt.Sprint(i, "-", j)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	events, err := env.Log.Events(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1+4*25 {
		t.Fatalf("got %d events, want %d", len(events), 1+4*25)
	}
	for i, ev := range events {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
}

func TestSameEventTwiceStoredOnce(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx := bustest.Context(t, 30*time.Second)
	task := bus.NewID()
	if _, err := env.Log.AppendPayload(ctx, task, gw, &bus.Created{Goal: "g"}); err != nil {
		t.Fatal(err)
	}
	ev, err := bus.NewEvent(task, gw, &bus.Input{Mode: bus.InputQueue, Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := env.Log.Append(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	// Same event again, through the same Log and through a fresh one that
	// knows nothing about the task, and as a raw re-publish.
	again := *ev
	if _, err := env.Log.Append(ctx, &again); err != nil {
		t.Fatal(err)
	}
	js2, _ := jetstream.New(env.Connect(t, "other"))
	again2 := *ev
	second, err := bus.NewLog(js2).Append(ctx, &again2)
	if err != nil {
		t.Fatal(err)
	}
	if second.Seq != first.Seq || second.StreamSeq != first.StreamSeq {
		t.Fatalf("duplicate stored anew: first %d/%d, second %d/%d", first.Seq, first.StreamSeq, second.Seq, second.StreamSeq)
	}
	if ack, err := env.Log.Publish(ctx, ev); err != nil || !ack.Duplicate {
		t.Fatalf("raw republish: ack %+v err %v", ack, err)
	}
	events, err := env.Log.Events(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Fatalf("stored %d events, want 2", len(events))
	}
}

func TestAppendRejects(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx := bustest.Context(t, 30*time.Second)

	_, err := env.Log.AppendPayload(ctx, bus.NewID(), gw, &bus.Input{Mode: bus.InputQueue, Text: "x"})
	if !errors.Is(err, bus.ErrTaskNotFound) {
		t.Errorf("append to unknown task: %v, want ErrTaskNotFound", err)
	}
	task := bus.NewID()
	if _, err := env.Log.AppendPayload(ctx, task, gw, &bus.Created{Goal: "g"}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Log.AppendPayload(ctx, task, gw, &bus.Created{Goal: "g"}); !errors.Is(err, bus.ErrConflict) {
		t.Errorf("second created: %v, want ErrConflict", err)
	}
	big := make([]byte, bus.MaxEventBytes+1)
	for i := range big {
		big[i] = 'a'
	}
	if _, err := env.Log.AppendPayload(ctx, task, gw, &bus.Input{Mode: bus.InputQueue, Text: string(big)}); !errors.Is(err, bus.ErrTooLarge) {
		t.Errorf("oversize event: %v, want ErrTooLarge", err)
	}
	bad := &bus.Event{SpecVersion: "0.3", Type: "viber.task.nope", Subject: "a.b"}
	if _, err := env.Log.Append(ctx, bad); !errors.Is(err, bus.ErrMalformed) {
		t.Errorf("malformed envelope: %v, want ErrMalformed", err)
	}
	for range env.Log.Replay(ctx, "no.such", bus.ReplayOptions{}) {
	}
	if _, err := env.Log.Events(ctx, bus.NewID()); !errors.Is(err, bus.ErrTaskNotFound) {
		t.Errorf("replay unknown task: %v, want ErrTaskNotFound", err)
	}
}

func TestReplayFollowsUntilTerminal(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx := bustest.Context(t, 30*time.Second)
	task := bus.NewID()
	if _, err := env.Log.AppendPayload(ctx, task, gw, &bus.Created{Goal: "g"}); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		for _, p := range []bus.Payload{&bus.Assigned{Daemon: "d", Attempt: 1}, &bus.Started{Daemon: "d"}, &bus.Message{Role: "assistant", Text: "x"}, &bus.Completed{Result: "x"}} {
			if _, err := env.Log.AppendPayload(ctx, task, bus.DaemonSource("d"), p); err != nil {
				t.Error(err)
			}
		}
	}()
	var types []bus.Type
	for ev, err := range env.Log.Replay(ctx, task, bus.ReplayOptions{Follow: bus.UntilEnd}) {
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.Type)
	}
	want := []bus.Type{bus.TypeCreated, bus.TypeAssigned, bus.TypeStarted, bus.TypeMessage, bus.TypeCompleted}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", types, want)
	}
	// A resume point skips what was seen.
	var rest []bus.Type
	for ev, err := range env.Log.Replay(ctx, task, bus.ReplayOptions{AfterSeq: 3}) {
		if err != nil {
			t.Fatal(err)
		}
		rest = append(rest, ev.Type)
	}
	if len(rest) != 2 || rest[0] != bus.TypeMessage {
		t.Fatalf("after seq 3: %v", rest)
	}
}

func TestMessagesThatDoNotFitAreSkippedAndReported(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx := bustest.Context(t, 30*time.Second)
	task := bus.NewID()
	if _, err := env.Log.AppendPayload(ctx, task, gw, &bus.Created{Goal: "g"}); err != nil {
		t.Fatal(err)
	}
	claim, err := env.Log.AppendPayload(ctx, task, bus.DaemonSource("d1"), &bus.Assigned{Daemon: "d1", Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	forged := func(source string, seq uint64, p bus.Payload) []byte {
		ev, err := bus.NewEvent(task, source, p)
		if err != nil {
			t.Fatal(err)
		}
		ev.Seq = seq
		b, _ := json.Marshal(ev)
		return b
	}
	for _, m := range []struct {
		subject, why string
		data         []byte
	}{
		{bus.TaskEventSubject(task, bus.DaemonWriter("d1"), bus.TypeMessage), "garbage body", []byte("{not json")},
		{bus.TaskEventSubject(task, bus.DaemonWriter("d2"), bus.TypeCompleted), "another daemon's completion", forged(bus.DaemonSource("d2"), claim.Seq+1, &bus.Completed{Result: "forged"})},
		{bus.TaskEventSubject(task, bus.DaemonWriter("d1"), bus.TypeCompleted), "a seq out of order", forged(bus.DaemonSource("d1"), 99, &bus.Completed{Result: "forged"})},
		{bus.TaskEventSubject(task, bus.DaemonWriter("d1"), bus.TypeCompleted), "a source that disagrees with the subject", forged(bus.DaemonSource("d2"), claim.Seq+1, &bus.Completed{Result: "forged"})},
		{bus.TaskEventSubject(task, bus.GatewayWriter, bus.TypeCompleted), "a gateway completing a task", forged(gw, claim.Seq+1, &bus.Completed{Result: "forged"})},
	} {
		if _, err := env.JS.PublishMsg(ctx, &nats.Msg{Subject: m.subject, Data: m.data}); err != nil {
			t.Fatalf("%s: %v", m.why, err)
		}
	}
	// A four-token subject (the shape `nats pub viber.task.ID.completed`
	// gives) is not even stored.
	if _, err := env.JS.PublishMsg(ctx, &nats.Msg{Subject: "viber.task." + task + ".completed", Data: forged(bus.DaemonSource("d1"), claim.Seq+1, &bus.Completed{Result: "forged"})}); err == nil {
		t.Error("a publish to viber.task.<id>.completed was stored")
	}
	var rejected []error
	v := &bus.Summary{}
	var types []bus.Type
	for ev, err := range env.Log.Replay(ctx, task, bus.ReplayOptions{Summary: v, OnReject: func(err error) { rejected = append(rejected, err) }}) {
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.Type)
	}
	if fmt.Sprint(types) != fmt.Sprint([]bus.Type{bus.TypeCreated, bus.TypeAssigned}) {
		t.Errorf("replay yielded %v, want only created and assigned", types)
	}
	if len(rejected) != 5 || v.Rejected != 5 || v.State != bus.StateAssigned || v.Result != "" {
		t.Errorf("rejected %d (%v), summary rejected %d, state %s, result %q; want 5 rejected and the task still assigned", len(rejected), rejected, v.Rejected, v.State, v.Result)
	}
	for _, err := range rejected {
		if !errors.Is(err, bus.ErrRejected) {
			t.Errorf("rejection %v does not match ErrRejected", err)
		}
	}
	// The owner goes on: its next append lands after the skipped messages.
	tail, err := env.Log.Tail(ctx, task, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tail.Close()
	done, _ := bus.NewEvent(task, bus.DaemonSource("d1"), &bus.Completed{Result: "real"})
	if _, err := tail.Append(ctx, done, func(v *bus.View) error { return v.Admits(done) }); err != nil {
		t.Fatal(err)
	}
	if s := tail.Snapshot(); s.State != bus.StateCompleted || s.Result != "real" || s.LastSeq != 3 {
		t.Errorf("after the owner's completion: state %s result %q last seq %d", s.State, s.Result, s.LastSeq)
	}
	// A ghost: messages for a task that was never created.
	ghost := bus.NewID()
	if _, err := env.JS.PublishMsg(ctx, &nats.Msg{Subject: bus.TaskEventSubject(ghost, bus.GatewayWriter, bus.TypeInput), Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Log.Load(ctx, ghost, 0); !errors.Is(err, bus.ErrTaskNotFound) {
		t.Errorf("ghost task: %v, want ErrTaskNotFound", err)
	}
}

// A tail told to start past the end of a task's log (a stale assignment
// after a stream reset) still opens: it looks for the head and reads the
// whole log.
func TestTailStartingPastTheEnd(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx := bustest.Context(t, 30*time.Second)
	task := bus.NewID()
	created, err := env.Log.AppendPayload(ctx, task, gw, &bus.Created{Goal: "g"})
	if err != nil {
		t.Fatal(err)
	}
	tail, err := env.Log.Tail(ctx, task, created.StreamSeq+1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tail.Close()
	if v := tail.Snapshot(); v.LastSeq != 1 || v.Goal != "g" {
		t.Fatalf("view after a start past the end: last seq %d goal %q", v.LastSeq, v.Goal)
	}
}
