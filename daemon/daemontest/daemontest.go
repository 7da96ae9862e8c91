// Package daemontest is the conformance suite for anything that runs Viber
// tasks: our hub daemon, our edge daemon behind a leaf node, or a daemon
// written elsewhere and started as a process. An implementation passes
// when it keeps the contracts every daemon must keep:
//
//   - it claims a task with a compare-and-set `assigned` and never claims
//     an ended task;
//   - it acknowledges the assignment only after the turn's terminal event
//     is stored;
//   - a tool call left without a result by a daemon that died is reported
//     as interrupted and never run again;
//   - cancel and steer are obeyed;
//   - each turn has exactly one terminal event, and a follow-up opens a new
//     turn;
//   - a turn whose final answer is stored completes with it;
//   - it stops writing at once when another daemon claims its task, and it
//     never runs the tool its model asks for afterwards;
//   - it reads a running task with at most one consumer (ours read with
//     direct gets and none).
//
// Each check runs against a fresh hub (an embedded NATS server with the
// JetStream domain "hub" and a leaf listener, a gateway, and a scripted
// OpenAI-compatible model) so that checks run in parallel.
//
//	func TestConformance(t *testing.T) {
//		daemontest.Run(t, myImplementation{})
//	}
package daemontest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/server"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/gateway"
)

// Setup is the stream set-up of every hub the suite starts: a short work
// ack wait, so that redeliveries happen within a test.
var Setup = bus.SetupOptions{WorkAckWait: 2 * time.Second}

// Hub is what a daemon under test connects to.
type Hub struct {
	// URL is the hub's NATS client URL.
	URL string
	// LeafURL is the hub's leaf-node listener (nats-leaf://HOST:PORT), for
	// implementations that run behind a leaf node. The hub's JetStream
	// domain is "hub".
	LeafURL string
	// ModelURL is the base URL (ending in /v1) of the scripted
	// OpenAI-compatible model; any API key is accepted.
	ModelURL string
	// Server is the hub's embedded NATS server.
	Server *server.Server
	// Client drives the hub's gateway.
	Client *client.Client
	// Log reads and writes the hub's task log.
	Log *bus.Log
	// JS is the hub's JetStream.
	JS jetstream.JetStream
	// Model is the scripted model.
	Model *openaitest.Server

	t *testing.T
}

// Options say how to start a daemon under test.
type Options struct {
	// Workspace is the daemon's workspace.
	Workspace string
	// AllowShell runs shell tool calls without asking for approval.
	AllowShell bool
}

// Daemon is a daemon under test.
type Daemon interface {
	// Stop stops it cleanly and waits until it has.
	Stop()
}

// Implementation starts daemons under test.
type Implementation interface {
	// Start starts a daemon named id against hub and returns once it has
	// started; the suite waits for it to show up online in presence.
	Start(t *testing.T, hub *Hub, id string, o Options) Daemon
}

// Run runs every check of the suite against impl.
func Run(t *testing.T, impl Implementation) {
	checks := []struct {
		name string
		run  func(*testing.T, Implementation)
	}{
		{"CompletesATask", completesATask},
		{"AcksOnlyAfterTheTerminalEvent", acksOnlyAfterTerminal},
		{"NeverClaimsAnEndedTask", neverClaimsAnEndedTask},
		{"ReportsAnInterruptedCallWithoutRunningIt", reportsInterruptedCall},
		{"ObeysCancel", obeysCancel},
		{"ObeysSteer", obeysSteer},
		{"OneTerminalEventPerTurn", oneTerminalPerTurn},
		{"CompletesWithTheStoredAnswer", completesWithStoredAnswer},
		{"StopsWhenAnotherDaemonClaims", stopsWhenAnotherClaims},
		{"ReadsARunningTaskWithOneConsumer", oneConsumerPerTask},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, impl)
		})
	}
}

// NewHub starts a hub whose model answers with reply.
func NewHub(t *testing.T, reply func(*openaitest.Request) openaitest.Reply) *Hub {
	t.Helper()
	leaf := freeAddr(t)
	srv, err := server.Start(server.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0", Name: "hub", Domain: "hub", LeafListen: leaf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	h := &Hub{URL: srv.ClientURL(), LeafURL: "nats-leaf://" + leaf, Server: srv, Model: openaitest.New(t, reply), t: t}
	h.ModelURL = h.Model.URL
	gnc := h.connect("gateway")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	g, err := gateway.New(ctx, gateway.Config{NC: gnc, HTTPListen: "none", Setup: Setup, SweepInterval: time.Second, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	nc := h.connect("suite")
	if h.Client, err = client.New(nc); err != nil {
		t.Fatal(err)
	}
	if h.JS, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	h.Log = bus.NewLog(h.JS)
	return h
}

func (h *Hub) connect(name string) *nats.Conn {
	h.t.Helper()
	nc, err := h.Server.Connect(name)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(nc.Close)
	return nc
}

func (h *Hub) ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	h.t.Cleanup(cancel)
	return ctx
}

// start starts a daemon and waits until the hub sees it online.
func (h *Hub) start(impl Implementation, id string, o Options) Daemon {
	h.t.Helper()
	if o.Workspace == "" {
		o.Workspace = h.t.TempDir()
	}
	d := impl.Start(h.t, h, id, o)
	h.t.Cleanup(d.Stop)
	h.eventually(30*time.Second, "daemon "+id+" online", func() bool {
		ds, err := h.Client.Daemons(context.Background())
		if err != nil {
			return false
		}
		for _, x := range ds {
			if x.ID == id && x.Online {
				return true
			}
		}
		return false
	})
	return d
}

func (h *Hub) eventually(within time.Duration, what string, ok func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			h.t.Fatalf("gave up waiting for %s after %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *Hub) submit(req *bus.CreateTaskRequest) *bus.Summary {
	h.t.Helper()
	s, err := h.Client.CreateTask(h.ctx(10*time.Second), req)
	if err != nil {
		h.t.Fatalf("create task: %v", err)
	}
	return s
}

// follow reads a task until its turn ends.
func (h *Hub) follow(id string) []*bus.Event {
	h.t.Helper()
	var out []*bus.Event
	for ev, err := range h.Log.Replay(h.ctx(60*time.Second), id, bus.ReplayOptions{Follow: bus.UntilEnd}) {
		if err != nil {
			h.t.Fatalf("follow task %s: %v (so far: %s)", id, err, Types(out))
		}
		out = append(out, ev)
	}
	return out
}

func (h *Hub) events(id string) []*bus.Event {
	h.t.Helper()
	events, err := h.Log.Events(h.ctx(10*time.Second), id)
	if err != nil {
		h.t.Fatalf("read task %s: %v", id, err)
	}
	return events
}

// appendAs appends p to a task as source would, right after its head.
func (h *Hub) appendAs(id, source string, p bus.Payload) *bus.Event {
	h.t.Helper()
	ctx := h.ctx(10 * time.Second)
	v, err := h.Log.Load(ctx, id, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	ev, err := bus.NewEvent(id, source, p)
	if err != nil {
		h.t.Fatal(err)
	}
	stored, err := h.Log.AppendToView(ctx, v, ev)
	if err != nil {
		h.t.Fatalf("append %s as %s: %v", ev.Type.Short(), source, err)
	}
	return stored
}

// Types lists events' short types, for messages.
func Types(events []*bus.Event) string {
	var b strings.Builder
	for i, ev := range events {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(ev.Type.Short())
	}
	return b.String()
}

// gate is a model call that waits until released.
type gate struct {
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGate() *gate { return &gate{arrived: make(chan struct{}, 16), release: make(chan struct{})} }

func (g *gate) wait() {
	g.arrived <- struct{}{}
	<-g.release
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func answer(text string) func(*openaitest.Request) openaitest.Reply {
	return func(*openaitest.Request) openaitest.Reply { return openaitest.Reply{Text: text} }
}

func shellCall(id, command string) openaitest.Reply {
	b, _ := json.Marshal(map[string]string{"command": command})
	return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call(id, "shell", string(b))}}
}

func terminals(events []*bus.Event) int {
	n := 0
	for _, ev := range events {
		if ev.Type.Terminal() {
			n++
		}
	}
	return n
}

func last[P any, PP interface {
	*P
	bus.Payload
}](t *testing.T, events []*bus.Event) *P {
	t.Helper()
	if len(events) == 0 {
		t.Fatal("no events")
	}
	p, err := bus.DecodeAs[P, PP](events[len(events)-1])
	if err != nil {
		t.Fatalf("last event: %v (events: %s)", err, Types(events))
	}
	return p
}

func completesATask(t *testing.T, impl Implementation) {
	h := NewHub(t, answer("hello"))
	h.start(impl, "d1", Options{})
	s := h.submit(&bus.CreateTaskRequest{Goal: "say hello", Daemon: "d1"})
	events := h.follow(s.ID)
	if got := Types(events); got != "created assigned started message completed" {
		t.Fatalf("events: %s, want created assigned started message completed", got)
	}
	if a, _ := bus.DecodeAs[bus.Assigned](events[1]); a == nil || a.Daemon != "d1" || events[1].Source != bus.DaemonSource("d1") {
		t.Errorf("claim %s from %s, want d1's", events[1].Data, events[1].Source)
	}
	if m, _ := bus.DecodeAs[bus.Message](events[3]); m == nil || !m.Final || m.Text != "hello" {
		t.Errorf("answer %s, want the final message \"hello\"", events[3].Data)
	}
	if r := last[bus.Completed](t, events).Result; r != "hello" {
		t.Errorf("result %q, want hello", r)
	}
}

func acksOnlyAfterTerminal(t *testing.T, impl Implementation) {
	g := newGate()
	h := NewHub(t, func(*openaitest.Request) openaitest.Reply { g.wait(); return openaitest.Reply{Text: "done"} })
	h.start(impl, "d1", Options{})
	s := h.submit(&bus.CreateTaskRequest{Goal: "think", Daemon: "d1"})
	<-g.arrived
	if has, err := bus.HasAssignment(h.ctx(5*time.Second), h.JS, s.ID); err != nil || !has {
		t.Errorf("while the task runs its assignment is gone (has %v, %v): acked before the terminal event", has, err)
	}
	g.open()
	h.follow(s.ID)
	h.eventually(10*time.Second, "the assignment to be acknowledged after completion", func() bool {
		has, err := bus.HasAssignment(context.Background(), h.JS, s.ID)
		return err == nil && !has
	})
}

func neverClaimsAnEndedTask(t *testing.T, impl Implementation) {
	h := NewHub(t, answer("should not run"))
	s := h.submit(&bus.CreateTaskRequest{Goal: "cancel me first"})
	if _, err := h.Client.CancelTask(h.ctx(5*time.Second), &bus.CancelTaskRequest{ID: s.ID, Reason: "before any daemon"}); err != nil {
		t.Fatal(err)
	}
	// The ended task's assignment is still queued (as after a gateway that
	// died before the cancel was seen).
	if err := bus.Requeue(h.ctx(5*time.Second), h.JS, s.ID, bus.AnyDaemon, 0); err != nil {
		t.Fatal(err)
	}
	h.start(impl, "d1", Options{})
	h.eventually(15*time.Second, "the ended task's assignment to be dropped", func() bool {
		has, err := bus.HasAssignment(context.Background(), h.JS, s.ID)
		return err == nil && !has
	})
	if got := Types(h.events(s.ID)); got != "created cancel_requested cancelled" {
		t.Errorf("events: %s, want created cancel_requested cancelled (no claim after the end)", got)
	}
	if n := len(h.Model.Requests()); n != 0 {
		t.Errorf("the model was asked %d times for an ended task", n)
	}
}

func reportsInterruptedCall(t *testing.T, impl Implementation) {
	sidefx := filepath.Join(t.TempDir(), "sidefx")
	h := NewHub(t, func(r *openaitest.Request) openaitest.Reply {
		return openaitest.Reply{Text: "saw: " + r.LastToolResult()}
	})
	s := h.submit(&bus.CreateTaskRequest{Goal: "run it"})
	gone := bus.DaemonSource("gone")
	h.appendAs(s.ID, gone, &bus.Assigned{Daemon: "gone", Attempt: 1})
	h.appendAs(s.ID, gone, &bus.Started{Daemon: "gone"})
	args, _ := json.Marshal(map[string]string{"command": "echo ran >> " + sidefx})
	h.appendAs(s.ID, gone, &bus.ToolCall{CallID: "c1", Tool: "shell", Arguments: string(args)})
	h.start(impl, "d1", Options{AllowShell: true})
	events := h.follow(s.ID)
	var res *bus.ToolResult
	for _, ev := range events {
		if ev.Type == bus.TypeToolResult {
			res, _ = bus.DecodeAs[bus.ToolResult](ev)
		}
	}
	if res == nil || res.CallID != "c1" || !res.IsError || !strings.Contains(res.Output, "interrupted") {
		t.Fatalf("the interrupted call's result: %+v (events: %s)", res, Types(events))
	}
	if _, err := os.Stat(sidefx); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the interrupted call was run again (%s: %v)", sidefx, err)
	}
	if r := last[bus.Completed](t, events).Result; !strings.Contains(r, "interrupted") {
		t.Errorf("result %q: the model was not told the call was interrupted", r)
	}
}

func obeysCancel(t *testing.T, impl Implementation) {
	h := NewHub(t, func(*openaitest.Request) openaitest.Reply { return openaitest.Reply{Hang: true} })
	h.start(impl, "d1", Options{})
	s := h.submit(&bus.CreateTaskRequest{Goal: "never ends", Daemon: "d1"})
	select {
	case <-h.Model.Arrived():
	case <-h.ctx(30 * time.Second).Done():
		t.Fatal("the model was never asked")
	}
	if _, err := h.Client.CancelTask(h.ctx(5*time.Second), &bus.CancelTaskRequest{ID: s.ID, Reason: "enough"}); err != nil {
		t.Fatal(err)
	}
	events := h.follow(s.ID)
	if last[bus.Cancelled](t, events) == nil || terminals(events) != 1 {
		t.Fatalf("events: %s, want one cancelled at the end", Types(events))
	}
}

func obeysSteer(t *testing.T, impl Implementation) {
	h := NewHub(t, func(r *openaitest.Request) openaitest.Reply {
		if strings.Contains(r.LastUser(), "change of plan") {
			return openaitest.Reply{Text: "steered: " + r.LastUser()}
		}
		return openaitest.Reply{Hang: true}
	})
	h.start(impl, "d1", Options{})
	s := h.submit(&bus.CreateTaskRequest{Goal: "long think", Daemon: "d1"})
	select {
	case <-h.Model.Arrived():
	case <-h.ctx(30 * time.Second).Done():
		t.Fatal("the model was never asked")
	}
	if _, err := h.Client.SendInput(h.ctx(5*time.Second), &bus.SendInputRequest{ID: s.ID, Text: "change of plan", Mode: bus.InputSteer}); err != nil {
		t.Fatal(err)
	}
	events := h.follow(s.ID)
	if r := last[bus.Completed](t, events).Result; r != "steered: change of plan" {
		t.Fatalf("result %q (events: %s), want the steered answer", r, Types(events))
	}
}

func oneTerminalPerTurn(t *testing.T, impl Implementation) {
	h := NewHub(t, func(r *openaitest.Request) openaitest.Reply { return openaitest.Reply{Text: "re: " + r.LastUser()} })
	h.start(impl, "d1", Options{})
	s := h.submit(&bus.CreateTaskRequest{Goal: "first", Daemon: "d1"})
	h.follow(s.ID)
	if _, err := h.Client.SendInput(h.ctx(5*time.Second), &bus.SendInputRequest{ID: s.ID, Text: "second"}); err != nil {
		t.Fatal(err)
	}
	var events []*bus.Event
	h.eventually(30*time.Second, "the second turn to end", func() bool {
		events = h.events(s.ID)
		return terminals(events) >= 2 && events[len(events)-1].Type.Terminal()
	})
	turnOpen := false
	for _, ev := range events {
		switch {
		case ev.Type == bus.TypeCreated || ev.Type == bus.TypeInput:
			turnOpen = true
		case ev.Type.Terminal():
			if !turnOpen {
				t.Fatalf("a second terminal event in one turn at seq %d (events: %s)", ev.Seq, Types(events))
			}
			turnOpen = false
		case !turnOpen:
			t.Fatalf("%s at seq %d after the turn ended (events: %s)", ev.Type.Short(), ev.Seq, Types(events))
		}
	}
	if r := last[bus.Completed](t, events).Result; r != "re: second" {
		t.Errorf("second turn's result %q, want re: second", r)
	}
}

func completesWithStoredAnswer(t *testing.T, impl Implementation) {
	h := NewHub(t, answer("a different answer"))
	s := h.submit(&bus.CreateTaskRequest{Goal: "answer once"})
	gone := bus.DaemonSource("gone")
	h.appendAs(s.ID, gone, &bus.Assigned{Daemon: "gone", Attempt: 1})
	h.appendAs(s.ID, gone, &bus.Started{Daemon: "gone"})
	h.appendAs(s.ID, gone, &bus.Message{Role: "assistant", Text: "the stored answer", Final: true})
	h.start(impl, "d1", Options{})
	events := h.follow(s.ID)
	if r := last[bus.Completed](t, events).Result; r != "the stored answer" {
		t.Errorf("completed with %q, want the stored answer", r)
	}
	if n := len(h.Model.Requests()); n != 0 {
		t.Errorf("the model was asked %d times; the stored answer completes the turn", n)
	}
}

func stopsWhenAnotherClaims(t *testing.T, impl Implementation) {
	sidefx := filepath.Join(t.TempDir(), "sidefx")
	g := newGate()
	h := NewHub(t, func(r *openaitest.Request) openaitest.Reply {
		if r.LastToolResult() != "" {
			return openaitest.Reply{Text: "done"}
		}
		g.wait()
		return shellCall("c1", "echo ran >> "+sidefx)
	})
	h.start(impl, "d1", Options{AllowShell: true})
	s := h.submit(&bus.CreateTaskRequest{Goal: "run the command"})
	<-g.arrived
	claim := h.appendAs(s.ID, bus.DaemonSource("other"), &bus.Assigned{Daemon: "other", Attempt: 2})
	g.open()
	h.eventually(15*time.Second, "d1 to stop running the task", func() bool {
		ds, err := h.Client.Daemons(context.Background())
		if err != nil {
			return false
		}
		for _, d := range ds {
			if d.ID == "d1" {
				return len(d.Running) == 0
			}
		}
		return false
	})
	for _, ev := range h.events(s.ID) {
		if ev.Seq > claim.Seq {
			t.Errorf("%s at seq %d from %s after another daemon's claim", ev.Type.Short(), ev.Seq, ev.Source)
		}
	}
	if _, err := os.Stat(sidefx); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the tool ran after the task was lost (%s: %v)", sidefx, err)
	}
}

func oneConsumerPerTask(t *testing.T, impl Implementation) {
	g := newGate()
	h := NewHub(t, func(*openaitest.Request) openaitest.Reply { g.wait(); return openaitest.Reply{Text: "done"} })
	h.start(impl, "d1", Options{})
	before := h.consumers()
	s := h.submit(&bus.CreateTaskRequest{Goal: "think", Daemon: "d1"})
	<-g.arrived
	// Consumers on the task log are the gateway's projector plus whatever
	// the daemon opened; let transient ones (the gateway's own reads)
	// go first.
	deadline := time.Now().Add(10 * time.Second)
	for during := h.consumers(); during-before > 1; during = h.consumers() {
		if time.Now().After(deadline) {
			t.Errorf("a running task has %d consumers on %s (beyond the %d before it), want at most one reader", during-before, bus.TaskStream, before)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.open()
	h.follow(s.ID)
}

func (h *Hub) consumers() int {
	h.t.Helper()
	s, err := h.JS.Stream(h.ctx(5*time.Second), bus.TaskStream)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(h.ctx(5 * time.Second))
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.Consumers
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// String makes Options readable in failure messages.
func (o Options) String() string {
	return fmt.Sprintf("workspace %s, allow shell %v", o.Workspace, o.AllowShell)
}
