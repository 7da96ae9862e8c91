package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
)

// TestEdgeFollowUpDuringCutIsAnswered: the edge's model answers while the
// leaf link is cut, and a follow-up reaches the hub during the cut. The
// answer was made without the follow-up, so it must not be stored after it
// as the turn's answer: the turn asks the model again, as a hub daemon
// does, and ends with the answer to the follow-up.
func TestEdgeFollowUpDuringCutIsAnswered(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	fake := openaitest.New(t, func(r *openaitest.Request) openaitest.Reply {
		<-release
		return openaitest.Echo(r)
	})
	proxy, cl, log := edgeSystem(t, fake)
	rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer rcancel()
	s, err := cl.CreateTask(rctx, &bus.CreateTaskRequest{Goal: "first", Daemon: "e1"})
	if err != nil {
		t.Fatal(err)
	}
	waitModelCall(t, fake)
	proxy.Cut()
	close(release) // the model answers "first" while the link is down
	// The follow-up reaches the hub while the edge cannot see it.
	if _, err := cl.SendInput(rctx, &bus.SendInputRequest{ID: s.ID, Text: "second", Mode: bus.InputQueue}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the edge has its answer and cannot store it
	proxy.Heal()
	events := followLog(t, rctx, log, s.ID)
	checkOrdered(t, events)
	last := events[len(events)-1]
	if last.Type != bus.TypeCompleted {
		t.Fatalf("events: %s", types(events))
	}
	if r := payload[bus.Completed](t, last).Result; !strings.Contains(r, "second") {
		t.Fatalf("the turn completed with %q, an answer made before the follow-up \"second\" that the hub stored before it (events: %s; %d model calls)", r, types(events), len(fake.Requests()))
	}
}

// TestEdgeFailureDuringCutKeepsKeptEvents: the edge's tool call runs while
// the leaf link is cut, then the model fails. The turn's failed event must
// land after the events kept on the edge, not before them (which would
// fence them off and drop them: the hub would never learn the tool ran).
func TestEdgeFailureDuringCutKeepsKeptEvents(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	fake := openaitest.New(t, func(r *openaitest.Request) openaitest.Reply {
		if r.LastToolResult() != "" {
			return openaitest.Reply{Status: 400, Error: "the model refuses"}
		}
		<-release
		return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call("f1", "write_file", `{"path":"cut.txt","content":"x"}`)}}
	})
	proxy, cl, log := edgeSystem(t, fake)
	rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer rcancel()
	s, err := cl.CreateTask(rctx, &bus.CreateTaskRequest{Goal: "write then fail", Daemon: "e1"})
	if err != nil {
		t.Fatal(err)
	}
	waitModelCall(t, fake)
	proxy.Cut()
	close(release)
	deadline := time.Now().Add(20 * time.Second)
	for len(fake.Requests()) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the edge task did not go on while cut")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // the edge tries to store the failure
	proxy.Heal()
	events := followLog(t, rctx, log, s.ID)
	checkOrdered(t, events)
	if got, want := types(events), "created assigned started tool_call tool_result failed"; got != want {
		t.Fatalf("hub log after the cut: %s, want %s (the tool ran on the edge)", got, want)
	}
}

// TestEdgeFollowUpBeforeKeptEventsIsAnswered: as above, but the edge also
// ran a tool during the cut, so the hub stores the follow-up before the
// kept tool_call and tool_result, not only before the answer. The answer
// the model made after the tool result never saw the follow-up either.
func TestEdgeFollowUpBeforeKeptEventsIsAnswered(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	fake := openaitest.New(t, func(r *openaitest.Request) openaitest.Reply {
		if r.LastToolResult() != "" {
			return openaitest.Echo(r)
		}
		<-release
		return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call("b1", "write_file", `{"path":"b.txt","content":"x"}`)}}
	})
	proxy, cl, log := edgeSystem(t, fake)
	rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer rcancel()
	s, err := cl.CreateTask(rctx, &bus.CreateTaskRequest{Goal: "first", Daemon: "e1"})
	if err != nil {
		t.Fatal(err)
	}
	waitModelCall(t, fake)
	proxy.Cut()
	if _, err := cl.SendInput(rctx, &bus.SendInputRequest{ID: s.ID, Text: "second", Mode: bus.InputQueue}); err != nil {
		t.Fatal(err)
	}
	close(release) // the tool runs and the model answers while the link is down
	deadline := time.Now().Add(20 * time.Second)
	for len(fake.Requests()) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the edge task did not go on while cut")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // the edge has its answer and cannot store it
	proxy.Heal()
	events := followLog(t, rctx, log, s.ID)
	checkOrdered(t, events)
	last := events[len(events)-1]
	if last.Type != bus.TypeCompleted {
		t.Fatalf("events: %s", types(events))
	}
	if r := payload[bus.Completed](t, last).Result; !strings.Contains(r, "second") {
		t.Fatalf("the turn completed with %q, an answer made before the follow-up \"second\" that the hub stored before it (events: %s; %d model calls)", r, types(events), len(fake.Requests()))
	}
}
