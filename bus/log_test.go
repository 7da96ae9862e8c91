package bus_test

import (
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

func TestAppendAssignsGaplessSeqAcrossWriters(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx := bustest.Context(t, 30*time.Second)
	task := bus.NewID()
	if _, err := env.Log.AppendPayload(ctx, task, "test/a", &bus.Created{Goal: "g"}); err != nil {
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
				if _, err := l.AppendPayload(ctx, task, fmt.Sprint("test/", i), &bus.Message{Role: "user", Text: fmt.Sprint(i, "-", j)}); err != nil {
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
	if _, err := env.Log.AppendPayload(ctx, task, "test", &bus.Created{Goal: "g"}); err != nil {
		t.Fatal(err)
	}
	ev, err := bus.NewEvent(task, "test", &bus.Message{Role: "assistant", Text: "hi"})
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

	_, err := env.Log.AppendPayload(ctx, bus.NewID(), "test", &bus.Message{Role: "user", Text: "x"})
	if !errors.Is(err, bus.ErrTaskNotFound) {
		t.Errorf("append to unknown task: %v, want ErrTaskNotFound", err)
	}
	task := bus.NewID()
	if _, err := env.Log.AppendPayload(ctx, task, "test", &bus.Created{Goal: "g"}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Log.AppendPayload(ctx, task, "test", &bus.Created{Goal: "g"}); !errors.Is(err, bus.ErrConflict) {
		t.Errorf("second created: %v, want ErrConflict", err)
	}
	big := make([]byte, bus.MaxEventBytes+1)
	for i := range big {
		big[i] = 'a'
	}
	if _, err := env.Log.AppendPayload(ctx, task, "test", &bus.Message{Role: "user", Text: string(big)}); !errors.Is(err, bus.ErrTooLarge) {
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
	if _, err := env.Log.AppendPayload(ctx, task, "test", &bus.Created{Goal: "g"}); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		for _, p := range []bus.Payload{&bus.Started{Daemon: "d"}, &bus.Message{Role: "assistant", Text: "x"}, &bus.Completed{Result: "x"}} {
			if _, err := env.Log.AppendPayload(ctx, task, "test", p); err != nil {
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
	want := []bus.Type{bus.TypeCreated, bus.TypeStarted, bus.TypeMessage, bus.TypeCompleted}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", types, want)
	}
	// A resume point skips what was seen.
	var rest []bus.Type
	for ev, err := range env.Log.Replay(ctx, task, bus.ReplayOptions{AfterSeq: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		rest = append(rest, ev.Type)
	}
	if len(rest) != 2 || rest[0] != bus.TypeMessage {
		t.Fatalf("after seq 2: %v", rest)
	}
}

func TestMalformedMessageInLogIsReported(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx := bustest.Context(t, 30*time.Second)
	task := bus.NewID()
	if _, err := env.Log.AppendPayload(ctx, task, "test", &bus.Created{Goal: "g"}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.JS.PublishMsg(ctx, &nats.Msg{Subject: bus.TaskEventSubject(task, bus.TypeMessage), Data: []byte("{not json")}); err != nil {
		t.Fatal(err)
	}
	_, err := env.Log.Events(ctx, task)
	if !errors.Is(err, bus.ErrMalformed) {
		t.Fatalf("got %v, want ErrMalformed", err)
	}
}
