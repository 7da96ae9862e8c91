package bus_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
)

// A replay reads a long log in order across several direct-get batches,
// interleaved with another task's events, and creates no consumer.
func TestReplayReadsLongLogsWithoutConsumers(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx := bustest.Context(t, 60*time.Second)
	task, other := bus.NewID(), bus.NewID()
	for _, id := range []string{task, other} {
		if _, err := env.Log.AppendPayload(ctx, id, gw, &bus.Created{Goal: "g"}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []bus.Payload{&bus.Assigned{Daemon: "d", Attempt: 1}, &bus.Started{Daemon: "d"}} {
			if _, err := env.Log.AppendPayload(ctx, id, bus.DaemonSource("d"), p); err != nil {
				t.Fatal(err)
			}
		}
	}
	const n = 600 // more than two batches
	for i := range n {
		for _, id := range []string{task, other} {
			if _, err := env.Log.AppendPayload(ctx, id, bus.DaemonSource("d"), &bus.Message{Role: "assistant", Text: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got []*bus.Event
	for ev, err := range env.Log.Replay(ctx, task, bus.ReplayOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	if len(got) != n+3 {
		t.Fatalf("replayed %d events, want %d", len(got), n+3)
	}
	for i, ev := range got {
		if ev.Seq != uint64(i+1) || ev.Subject != task {
			t.Fatalf("event %d: seq %d of task %s", i, ev.Seq, ev.Subject)
		}
	}
	s, err := env.JS.Stream(ctx, bus.TaskStream)
	if err != nil {
		t.Fatal(err)
	}
	if c := s.CachedInfo().State.Consumers; c != 0 {
		t.Fatalf("VIBER_TASKS has %d consumers after a replay", c)
	}
}

// A caught-up follower sees a new event at once (the doorbell), well
// before its poll interval.
func TestFollowWakesOnNewEvents(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx := bustest.Context(t, 30*time.Second)
	task := bus.NewID()
	if _, err := env.Log.AppendPayload(ctx, task, gw, &bus.Created{Goal: "g"}); err != nil {
		t.Fatal(err)
	}
	caughtUp := make(chan struct{})
	go func() {
		<-caughtUp
		time.Sleep(100 * time.Millisecond)
		for _, p := range []bus.Payload{&bus.Assigned{Daemon: "d", Attempt: 1}, &bus.Started{Daemon: "d"}, &bus.Completed{Result: "x"}} {
			if _, err := env.Log.AppendPayload(ctx, task, bus.DaemonSource("d"), p); err != nil {
				t.Error(err)
			}
		}
	}()
	var last time.Time
	var appended time.Time
	n := 0
	for ev, err := range env.Log.Replay(ctx, task, bus.ReplayOptions{Follow: bus.UntilEnd, CaughtUp: func() { appended = time.Now(); close(caughtUp) }}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		last = time.Now()
		_ = ev
	}
	if n != 4 {
		t.Fatalf("followed %d events, want 4", n)
	}
	if d := last.Sub(appended); d > time.Second {
		t.Fatalf("the follower took %s to see the new events (no doorbell?)", d)
	}
}
