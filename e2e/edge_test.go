package e2e

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/server"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/daemon"
	"github.com/viberhq/viber/gateway"
)

// linkProxy forwards TCP connections to target and can cut them all.
type linkProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	cut    bool
}

func newLinkProxy(t *testing.T, target string) *linkProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &linkProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.Cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *linkProxy) URL() string { return "nats-leaf://" + p.ln.Addr().String() }

// Cut closes every connection and refuses new ones until Heal.
func (p *linkProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Heal accepts connections again.
func (p *linkProxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

func TestEdgeDaemonOverLeafLink(t *testing.T) {
	t.Parallel()
	fake := openaitest.New(t, openaitest.Echo)
	_, cl, log := edgeSystem(t, fake)
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	s, err := cl.CreateTask(rctx, &bus.CreateTaskRequest{Goal: "hello from the hub", Daemon: "e1"})
	if err != nil {
		t.Fatal(err)
	}
	events := followLog(t, rctx, log, s.ID)
	if got := types(events); got != "created assigned started message completed" {
		t.Fatalf("events: %s", got)
	}
	checkOrdered(t, events)
	if r := payload[bus.Completed](t, events[len(events)-1]).Result; r != "echo: hello from the hub" {
		t.Fatalf("result %q", r)
	}
}

// TestEdgeLinkCutMidTask cuts the leaf link while an edge task's model call
// is under way, heals it, and checks that the task finishes with every
// event once and in order at the hub.
func TestEdgeLinkCutMidTask(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var once sync.Once
	fake := openaitest.New(t, func(r *openaitest.Request) openaitest.Reply {
		<-release
		return openaitest.Echo(r)
	})
	proxy, cl, log := edgeSystem(t, fake)
	rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer rcancel()
	s, err := cl.CreateTask(rctx, &bus.CreateTaskRequest{Goal: "work through a cut", Daemon: "e1"})
	if err != nil {
		t.Fatal(err)
	}
	waitModelCall(t, fake)
	proxy.Cut()
	once.Do(func() { close(release) }) // the model answers while the link is down
	time.Sleep(3 * time.Second)
	proxy.Heal()
	events := followLog(t, rctx, log, s.ID)
	checkOrdered(t, events)
	seen := map[string]bool{}
	for _, ev := range events {
		if seen[ev.ID] {
			t.Fatalf("event %s stored twice: %s", ev.ID, types(events))
		}
		seen[ev.ID] = true
	}
	if events[len(events)-1].Type != bus.TypeCompleted {
		t.Fatalf("events: %s", types(events))
	}
	t.Logf("after the cut: %s", types(events))
}

// TestEdgeKeepsRunningWhileCut: the link is cut while the edge task waits
// for its model; the task goes on (a tool call writes a file while the link
// is down) and its events reach the hub once and in order when it heals.
func TestEdgeKeepsRunningWhileCut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	fake := openaitest.New(t, func(r *openaitest.Request) openaitest.Reply {
		if r.LastToolResult() != "" {
			return openaitest.Reply{Text: "wrote it while cut off"}
		}
		<-release
		return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call("c1", "write_file", `{"path":"during-cut.txt","content":"offline"}`)}}
	})
	proxy, cl, log, ws := edgeSystemWS(t, fake)
	rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer rcancel()
	s, err := cl.CreateTask(rctx, &bus.CreateTaskRequest{Goal: "write a file", Daemon: "e1"})
	if err != nil {
		t.Fatal(err)
	}
	waitModelCall(t, fake)
	proxy.Cut()
	close(release)
	// The edge keeps working while cut off.
	deadline := time.Now().Add(15 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(ws, "during-cut.txt")); err == nil && string(b) == "offline" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the edge task did not go on while the link was cut")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(fake.Requests()); n < 2 {
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(time.Second)
	proxy.Heal()
	events := followLog(t, rctx, log, s.ID)
	checkOrdered(t, events)
	if got, want := types(events), "created assigned started tool_call tool_result message completed"; got != want {
		t.Fatalf("hub log after the cut: %s, want %s", got, want)
	}
	if r := payload[bus.Completed](t, events[len(events)-1]).Result; r != "wrote it while cut off" {
		t.Fatalf("result %q", r)
	}
}

// TestEdgeKeptEventsSurviveRestart: the edge daemon is killed while the
// link is cut and it holds events the hub has not seen; started again on
// the same edge store, it forwards them when the link heals, and the task
// resumes without running its tool again.
func TestEdgeKeptEventsSurviveRestart(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	fake := openaitest.New(t, func(r *openaitest.Request) openaitest.Reply {
		if r.LastToolResult() != "" {
			return openaitest.Reply{Text: "the note is written"}
		}
		<-release
		return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call("k1", "write_file", `{"path":"note.txt","content":"once"}`)}}
	})
	er := newEdgeRig(t, fake)
	d := er.startDaemon()
	er.waitOnline()
	rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer rcancel()
	s, err := er.cl.CreateTask(rctx, &bus.CreateTaskRequest{Goal: "write a note", Daemon: "e1"})
	if err != nil {
		t.Fatal(err)
	}
	waitModelCall(t, fake)
	er.proxy.Cut()
	close(release)
	deadline := time.Now().Add(15 * time.Second)
	for len(fake.Requests()) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the edge task did not go on while cut")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the answer is kept on the edge too
	d.Kill()
	if err := os.Remove(filepath.Join(er.ws, "note.txt")); err != nil {
		t.Fatalf("the tool did not run while cut: %v", err)
	}
	er.startDaemon()
	time.Sleep(time.Second)
	er.proxy.Heal()
	events := followLog(t, rctx, er.log, s.ID)
	checkOrdered(t, events)
	calls := 0
	for _, ev := range events {
		if ev.Type == bus.TypeToolCall {
			calls++
		}
	}
	if calls != 1 || !strings.HasPrefix(types(events), "created assigned started tool_call tool_result message") || events[len(events)-1].Type != bus.TypeCompleted {
		t.Fatalf("hub log: %s", types(events))
	}
	if _, err := os.Stat(filepath.Join(er.ws, "note.txt")); err == nil {
		t.Fatal("the tool ran again after the restart")
	}
	t.Logf("hub log: %s", types(events))
}

// waitModelCall waits until the edge daemon calls fake's model.
func waitModelCall(t *testing.T, fake *openaitest.Server) {
	t.Helper()
	select {
	case <-fake.Arrived():
	case <-time.After(20 * time.Second):
		t.Fatal("the edge never called the model")
	}
}

// edgeSystem starts a hub (NATS with domain hub and a leaf listener behind a
// cuttable proxy, and the gateway) and an edge daemon e1 on its own
// embedded leaf server; it returns the proxy, a hub client and the hub log.
func edgeSystem(t *testing.T, fake *openaitest.Server) (*linkProxy, *client.Client, *bus.Log) {
	t.Helper()
	p, cl, log, _ := edgeSystemWS(t, fake)
	return p, cl, log
}

func edgeSystemWS(t *testing.T, fake *openaitest.Server) (*linkProxy, *client.Client, *bus.Log, string) {
	t.Helper()
	er := newEdgeRig(t, fake)
	er.startDaemon()
	er.waitOnline()
	return er.proxy, er.cl, er.log, er.ws
}

// edgeRig is a hub (NATS with domain hub, a leaf listener behind a cuttable
// proxy, the gateway) and an edge server for daemon e1, which can be
// started, killed and started again on the same edge store.
type edgeRig struct {
	t     *testing.T
	fake  *openaitest.Server
	proxy *linkProxy
	edge  *server.Server
	cl    *client.Client
	log   *bus.Log
	ws    string
	home  string
}

func newEdgeRig(t *testing.T, fake *openaitest.Server) *edgeRig {
	t.Helper()
	er := &edgeRig{t: t, fake: fake, ws: t.TempDir(), home: t.TempDir()}
	leafAddr := freeAddr(t)
	hub, err := server.Start(server.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0", Name: "hub", Domain: "hub", LeafListen: leafAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Shutdown)
	er.proxy = newLinkProxy(t, leafAddr)
	gnc, err := hub.Connect("gateway")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gnc.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	g, err := gateway.New(ctx, gateway.Config{NC: gnc, HTTPListen: "none", Setup: setup, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	if er.edge, err = server.Start(server.Options{Dir: t.TempDir(), Listen: "none", Name: "edge-e1", Domain: "edge-e1", LeafRemote: er.proxy.URL()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(er.edge.Shutdown)
	cnc, err := hub.Connect("client")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cnc.Close)
	if er.cl, err = client.New(cnc); err != nil {
		t.Fatal(err)
	}
	er.log = bus.NewLog(mustJS(t, cnc))
	return er
}

// startDaemon runs daemon e1 on the edge server; the returned component
// can be killed (connection dropped first).
func (er *edgeRig) startDaemon() *component {
	t := er.t
	t.Helper()
	enc, err := er.edge.Connect("viberd-e1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(enc.Close)
	hubJS, err := jetstream.NewWithDomain(enc, "hub")
	if err != nil {
		t.Fatal(err)
	}
	localJS, err := jetstream.New(enc)
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Config{
		NC: enc, JS: hubJS, LocalJS: localJS, ID: "e1", Edge: true, Workspace: er.ws, Home: er.home,
		Heartbeat: heartbeat, Setup: setup, Logger: testLogger(t),
		Models: agents.Single(modelConfigFor(er.fake)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &component{nc: enc, cancel: cancel, done: make(chan struct{}), workspace: er.ws}
	go func() {
		defer close(c.done)
		if err := d.Run(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("edge daemon: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-c.done })
	return c
}

func (er *edgeRig) waitOnline() {
	t := er.t
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, err := er.cl.Daemons(context.Background())
		if err == nil && len(ds) == 1 && ds[0].Online && ds[0].Edge {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("edge daemon never online at the hub: %+v %v", ds, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// followLog replays a task from the hub's log until it ends.
func followLog(t *testing.T, ctx context.Context, log *bus.Log, id string) []*bus.Event {
	t.Helper()
	var events []*bus.Event
	for ev, err := range log.Replay(ctx, id, bus.ReplayOptions{Follow: bus.UntilEnd}) {
		if err != nil {
			t.Fatalf("follow: %v (%s)", err, types(events))
		}
		events = append(events, ev)
	}
	return events
}

func mustJS(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func modelConfigFor(fake *openaitest.Server) agents.ModelConfig {
	return agents.ModelConfig{Provider: agents.ProviderCustom, Model: "fake-model", BaseURL: fake.URL, APIKey: "sk-test"}
}
