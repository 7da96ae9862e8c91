package bus_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/viberhq/viber/bus"
)

// wireSources are the writers the rules tell apart: a gateway, the daemon
// holding the task (d1) and another daemon (d2).
var wireSources = []struct{ name, source, daemon string }{
	{"gateway", bus.GatewaySource("g1"), ""},
	{"owner", bus.DaemonSource("d1"), "d1"},
	{"other daemon", bus.DaemonSource("d2"), "d2"},
}

// wireSample is a payload of type t that fits the running task of
// TestEventRules, written by daemon (empty for a gateway).
func wireSample(t bus.Type, daemon string) bus.Payload {
	if daemon == "" {
		daemon = "d1"
	}
	switch t {
	case bus.TypeCreated:
		return &bus.Created{Goal: "g"}
	case bus.TypeChildCreated:
		return &bus.ChildCreated{CallID: "c5", Task: bus.ChildID("t1", "c5"), Goal: "sub"}
	case bus.TypeMemoryUpdated:
		return &bus.MemoryUpdated{CallID: "c4", Scope: "global", Name: "MEMORY.md", Revision: 1, Content: "x"}
	case bus.TypeAssigned:
		return &bus.Assigned{Daemon: daemon, Attempt: 2}
	case bus.TypeStarted:
		return &bus.Started{Daemon: daemon}
	case bus.TypeMessage:
		return &bus.Message{Role: "assistant", Text: "hi"}
	case bus.TypePlan:
		return &bus.Plan{Items: []bus.PlanItem{{Text: "a", Status: "done"}}}
	case bus.TypeToolCall:
		return &bus.ToolCall{CallID: "c3", Tool: "shell", Arguments: "{}"}
	case bus.TypeToolResult:
		return &bus.ToolResult{CallID: "c2", Tool: "shell", Output: "ok"}
	case bus.TypeApprovalRequested:
		return &bus.ApprovalRequested{CallID: "c2", Tool: "shell", Arguments: "{}"}
	case bus.TypeApprovalDecided:
		return &bus.ApprovalDecided{CallID: "c1", Approved: true}
	case bus.TypeInput:
		return &bus.Input{Text: "more", Mode: bus.InputQueue}
	case bus.TypeCancelRequested:
		return &bus.CancelRequested{}
	case bus.TypeCompleted:
		return &bus.Completed{Result: "done"}
	case bus.TypeFailed:
		return &bus.Failed{Error: "broke"}
	case bus.TypeCancelled:
		return &bus.Cancelled{}
	}
	return nil
}

// wireStep is one event to fold: its writer's source and its payload.
type wireStep struct {
	source string
	p      bus.Payload
}

// wireFold applies the steps' events, in order, to a new summary.
func wireFold(t *testing.T, steps ...wireStep) *bus.Summary {
	t.Helper()
	s := &bus.Summary{}
	for i, st := range steps {
		ev, err := bus.NewEvent("t1", st.source, st.p)
		if err != nil {
			t.Fatal(err)
		}
		ev.Seq = uint64(i + 1)
		if ok, err := s.Apply(ev); !ok || err != nil {
			t.Fatalf("setting up: %s by %s not applied: %v", ev.Type.Short(), st.source, err)
		}
	}
	return s
}

// TestEventRules checks the writers the wire page names for each event
// type against what Summary admits: in a running task held by d1 (with a
// call waiting for approval and one open), a gateway, the holder and
// another daemon may write exactly what bus.WritersOf says.
func TestEventRules(t *testing.T) {
	t.Parallel()
	gw, d1 := bus.GatewaySource("g1"), bus.DaemonSource("d1")
	created := wireStep{gw, &bus.Created{Goal: "g"}}
	running := func() *bus.Summary {
		return wireFold(t, created,
			wireStep{d1, &bus.Assigned{Daemon: "d1", Attempt: 1}},
			wireStep{d1, &bus.Started{Daemon: "d1"}},
			wireStep{d1, &bus.ToolCall{CallID: "c1", Tool: "shell", Arguments: "{}"}},
			wireStep{d1, &bus.ApprovalRequested{CallID: "c1", Tool: "shell", Arguments: "{}"}},
			wireStep{d1, &bus.ToolCall{CallID: "c2", Tool: "shell", Arguments: "{}"}},
			wireStep{d1, &bus.ToolCall{CallID: "c4", Tool: "memory_update", Arguments: "{}"}},
			wireStep{d1, &bus.ToolCall{CallID: "c5", Tool: "spawn", Arguments: "{}"}},
		)
	}
	for _, p := range bus.AllTypes() {
		typ := p.EventType()
		w := bus.WritersOf(typ)
		if w == 0 {
			t.Errorf("%s: no writer rule in bus/wire.go", typ)
			continue
		}
		for _, src := range wireSources {
			want := false
			switch w {
			case bus.ByGateway:
				want = src.daemon == ""
			case bus.ByOwner, bus.ByOwnerOrGateway:
				want = src.daemon == "d1"
			case bus.ByClaimant:
				want = src.daemon != ""
			}
			s := running()
			if typ == bus.TypeCreated {
				s = &bus.Summary{}
			}
			ev, err := bus.NewEvent("t1", src.source, wireSample(typ, src.daemon))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Admits(ev)
			if got := err == nil; got != want {
				t.Errorf("%s by the %s: admitted %v, but the wire page says %q (admit error: %v)", typ.Short(), src.name, got, w, err)
			}
		}
	}
	// A gateway may cancel a task no daemon holds.
	if bus.WritersOf(bus.TypeCancelled) == bus.ByOwnerOrGateway {
		s := wireFold(t, created)
		ev, err := bus.NewEvent("t1", gw, &bus.Cancelled{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Admits(ev); err != nil {
			t.Errorf("cancelled by a gateway of a task no daemon holds: %v, but the wire page says %q", err, bus.ByOwnerOrGateway)
		}
	}
}

// TestWireComplete checks that the registry lists every event type, every
// API endpoint, every stream, bucket and named consumer, every header and
// every SSE event name, once each.
func TestWireComplete(t *testing.T) {
	t.Parallel()
	entries := bus.Wire()
	seen := map[bus.WireKind][]string{}
	for _, e := range entries {
		if e.Name == "" || e.Writers == "" || e.Readers == "" || e.Via == "" {
			t.Errorf("%s %q: want name, via, writers and readers, got %+v", e.Kind, e.Name, e)
		}
		if slices.Contains(seen[e.Kind], e.Name) {
			t.Errorf("%s %q listed twice", e.Kind, e.Name)
		}
		seen[e.Kind] = append(seen[e.Kind], e.Name)
	}
	want := map[bus.WireKind][]string{
		bus.WireStream:   {bus.TaskStream, bus.WorkStream, bus.OutboxStream},
		bus.WireConsumer: {bus.AnyWorkConsumer, bus.DaemonWorkConsumer("<daemon>"), bus.ProjectorConsumer},
		bus.WireBucket:   {bus.DaemonBucket, bus.TaskBucket},
		bus.WireHeader: {bus.HeaderMsgID, bus.HeaderEventType, bus.HeaderServiceError, bus.HeaderServiceErrorCode,
			bus.HeaderAuthorization, bus.HeaderLastEventID, bus.TokenCookie},
		bus.WireSSE: {bus.SSEMessage, bus.SSEDelta, bus.SSEReady, bus.SSESummary, bus.SSEError},
		bus.WireRoute: {bus.RouteHealth, bus.RouteListTasks, bus.RouteCreateTask, bus.RouteTask, bus.RouteSendInput,
			bus.RouteCancelTask, bus.RouteDecide, bus.RouteTaskEvents, bus.RouteWatchTasks, bus.RouteDaemons, bus.RouteSkills},
		bus.WireSubject: {bus.LiveSubject("<task>"), bus.OutboxSubject("<task>"), bus.APISubject("<group>", "<endpoint>")},
	}
	for _, p := range bus.AllTypes() {
		want[bus.WireEvent] = append(want[bus.WireEvent], string(p.EventType()))
	}
	for _, e := range bus.APIEndpoints() {
		want[bus.WireEndpoint] = append(want[bus.WireEndpoint], e.Subject())
	}
	for _, c := range bus.ErrorCodes() {
		want[bus.WireErrorCode] = append(want[bus.WireErrorCode], string(c))
	}
	for kind, names := range want {
		for _, n := range names {
			if !slices.Contains(seen[kind], n) {
				t.Errorf("%s %q is missing from bus.Wire (have %s)", kind, n, strings.Join(seen[kind], ", "))
			}
		}
	}
	// Kinds come in the documented order.
	order := bus.WireKinds()
	last := -1
	for _, e := range entries {
		i := slices.Index(order, e.Kind)
		if i < last {
			t.Errorf("%s %q comes after a %s: want the order of WireKinds", e.Kind, e.Name, order[last])
		}
		last = i
	}
}

// TestAPIEndpointsDescribed checks that every endpoint constant pair has
// a description the gateway can register.
func TestAPIEndpointsDescribed(t *testing.T) {
	t.Parallel()
	for _, e := range bus.APIEndpoints() {
		if bus.APIDescription(e.Group, e.Name) == "" || e.Response == nil {
			t.Errorf("%s: want a description and a response type, got %+v", e.Subject(), e)
		}
	}
	if d := bus.APIDescription("task", "nope"); d != "" {
		t.Errorf("an unknown endpoint has description %q, want none", d)
	}
}
