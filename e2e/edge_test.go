package e2e

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/server"
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
	var events []*bus.Event
	for ev, err := range log.Replay(rctx, s.ID, bus.ReplayOptions{Follow: bus.UntilEnd}) {
		if err != nil {
			t.Fatalf("follow: %v (%s)", err, types(events))
		}
		events = append(events, ev)
	}
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
	select {
	case <-fake.Arrived():
	case <-time.After(20 * time.Second):
		t.Fatal("the edge never called the model")
	}
	proxy.Cut()
	once.Do(func() { close(release) }) // the model answers while the link is down
	time.Sleep(3 * time.Second)
	proxy.Heal()
	var events []*bus.Event
	for ev, err := range log.Replay(rctx, s.ID, bus.ReplayOptions{Follow: bus.UntilEnd}) {
		if err != nil {
			t.Fatalf("follow: %v (%s)", err, types(events))
		}
		events = append(events, ev)
	}
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
	select {
	case <-fake.Arrived():
	case <-time.After(20 * time.Second):
		t.Fatal("the edge never called the model")
	}
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
	var events []*bus.Event
	for ev, err := range log.Replay(rctx, s.ID, bus.ReplayOptions{Follow: bus.UntilEnd}) {
		if err != nil {
			t.Fatalf("follow: %v (%s)", err, types(events))
		}
		events = append(events, ev)
	}
	checkOrdered(t, events)
	if got, want := types(events), "created assigned started tool_call tool_result message completed"; got != want {
		t.Fatalf("hub log after the cut: %s, want %s", got, want)
	}
	if r := payload[bus.Completed](t, events[len(events)-1]).Result; r != "wrote it while cut off" {
		t.Fatalf("result %q", r)
	}
}

// edgeSystem starts a hub (NATS with domain hub and a leaf listener behind a
// cuttable proxy, and the gateway) and an edge daemon e1 on its own
// embedded leaf server; it returns the proxy, a hub client and the hub log.
func edgeSystem(t *testing.T, fake *openaitest.Server) (*linkProxy, *gateway.Client, *bus.Log) {
	t.Helper()
	p, cl, log, _ := edgeSystemWS(t, fake)
	return p, cl, log
}

func edgeSystemWS(t *testing.T, fake *openaitest.Server) (*linkProxy, *gateway.Client, *bus.Log, string) {
	t.Helper()
	ws := t.TempDir()
	leafAddr := freeAddr(t)
	hub, err := server.Start(server.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0", Name: "hub", Domain: "hub", LeafListen: leafAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Shutdown)
	proxy := newLinkProxy(t, leafAddr)

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

	edge, err := server.Start(server.Options{Dir: t.TempDir(), Listen: "none", Name: "edge-e1", Domain: "edge-e1", LeafRemote: proxy.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(edge.Shutdown)
	enc, err := edge.Connect("viberd-e1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(enc.Close)
	hubJS, err := jetstream.NewWithDomain(enc, "hub")
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Config{
		NC: enc, JS: hubJS, ID: "e1", Edge: true, Workspace: ws, Home: t.TempDir(),
		Heartbeat: heartbeat, Setup: setup, Logger: testLogger(t),
		Model: modelConfigFor(fake),
	})
	if err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(dctx); err != nil {
			t.Errorf("edge daemon: %v", err)
		}
	}()
	t.Cleanup(func() { dcancel(); <-done })

	cnc, err := hub.Connect("client")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cnc.Close)
	cl, err := gateway.NewClient(cnc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, err := cl.Daemons(context.Background())
		if err == nil && len(ds) == 1 && ds[0].Online && ds[0].Edge {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("edge daemon never online at the hub: %+v %v", ds, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return proxy, cl, bus.NewLog(mustJS(t, cnc)), ws
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
