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
	select {
	case <-fake.Arrived():
	case <-time.After(20 * time.Second):
		t.Fatal("the edge never called the model")
	}
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
