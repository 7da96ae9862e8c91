package gateway

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
)

// TestChildLimits checks the gateway's rules for child tasks against
// parents written straight into the log: the depth limit, the children
// limit, the inherited submitter and policy, and the same child for a
// repeated call.
func TestChildLimits(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := New(ctx, Config{NC: env.Connect(t, "gateway"), HTTPListen: "none", MaxChildren: 2, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	rctx := bustest.Context(t, 10*time.Second)
	d1 := bus.DaemonSource("d1")
	// parent writes a running task at depth, with open spawn calls.
	parent := func(depth int, calls ...string) string {
		id := bus.NewID()
		created := &bus.Created{Goal: "g", Submitter: "viber/ann", Policy: map[string]string{"shell": "deny"}, Depth: depth}
		if _, err := env.Log.AppendPayload(rctx, id, bus.GatewaySource("test"), created); err != nil {
			t.Fatal(err)
		}
		for _, p := range []bus.Payload{&bus.Assigned{Daemon: "d1", Attempt: 1}, &bus.Started{Daemon: "d1"}} {
			if _, err := env.Log.AppendPayload(rctx, id, d1, p); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range calls {
			if _, err := env.Log.AppendPayload(rctx, id, d1, &bus.ToolCall{CallID: c, Tool: "spawn", Arguments: "{}"}); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	child := func(p, call string, policy map[string]string) (*bus.Summary, error) {
		return g.CreateTask(rctx, &bus.CreateTaskRequest{Goal: "sub", Parent: &bus.ParentRef{Task: p, CallID: call, Wait: true}, Policy: policy, Submitter: "someone else"})
	}

	p := parent(0, "s1", "s2", "s3")
	s1, err := child(p, "s1", map[string]string{"shell": "allow", "web_fetch": "ask"})
	if err != nil {
		t.Fatal(err)
	}
	if s1.ID != bus.ChildID(p, "s1") || s1.Depth != 1 || s1.Parent == nil || s1.Parent.Task != p {
		t.Fatalf("child: %+v", s1)
	}
	events, err := env.Log.Events(rctx, s1.ID)
	if err != nil {
		t.Fatal(err)
	}
	created, err := bus.DecodeAs[bus.Created](events[0])
	if err != nil {
		t.Fatal(err)
	}
	if created.Submitter != "viber/ann" || created.Policy["shell"] != "deny" || created.Policy["web_fetch"] != "ask" {
		t.Errorf("the child should run for the parent's submitter under the stricter policy: %+v", created)
	}
	again, err := child(p, "s1", nil)
	if err != nil || again.ID != s1.ID {
		t.Errorf("the same call again: %v %+v", err, again)
	}
	// The children limit counts recorded children.
	for _, c := range []string{"s1", "s2"} {
		if _, err := env.Log.AppendPayload(rctx, p, d1, &bus.ChildCreated{CallID: c, Task: bus.ChildID(p, c), Goal: "sub"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := child(p, "s3", nil); !errors.Is(err, bus.ErrMalformed) || !strings.Contains(err.Error(), "already started 2 child tasks") {
		t.Errorf("a third child with a limit of 2: got %v", err)
	}
	// The depth limit (default 2): a task at depth 2 has no children.
	deep := parent(2, "s1")
	if _, err := child(deep, "s1", nil); !errors.Is(err, bus.ErrMalformed) || !strings.Contains(err.Error(), "at most 2 deep") {
		t.Errorf("a child below depth 2: got %v", err)
	}
	// No such spawn call: nothing starts.
	if _, err := child(parent(0), "s9", nil); !errors.Is(err, bus.ErrCallNotFound) {
		t.Errorf("a child for no spawn call: got %v", err)
	}
}
