package e2e

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/agents/tool"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/daemon"
	"github.com/viberhq/viber/gateway"
	"github.com/viberhq/viber/schemas"
)

// setup is the stream tuning every e2e test uses: a short ack wait so a
// dead daemon's task moves on quickly.
var setup = bus.SetupOptions{WorkAckWait: 2 * time.Second}

const heartbeat = 200 * time.Millisecond

func testLogger(t testing.TB) zerolog.Logger {
	if os.Getenv("VIBER_TEST_LOG") != "" {
		return zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
	}
	return zerolog.Nop()
}

// rig is one test's system.
type rig struct {
	t      *testing.T
	env    *bustest.Env
	model  *openaitest.Server
	client *client.Client
	valid  *schemas.Validator
}

func newRig(t *testing.T, dir string, reply func(*openaitest.Request) openaitest.Reply) *rig {
	t.Helper()
	r := &rig{t: t, env: bustest.Start(t, dir, setup)}
	if reply != nil {
		r.model = openaitest.New(t, reply)
	}
	c, err := client.New(r.env.Connect(t, "client"))
	if err != nil {
		t.Fatal(err)
	}
	r.client = c
	if r.valid, err = schemas.NewValidator(); err != nil {
		t.Fatal(err)
	}
	return r
}

// component is a running gateway or daemon that can be stopped cleanly or
// killed (its connection dropped without goodbye).
type component struct {
	workspace string
	nc        *nats.Conn
	cancel    context.CancelFunc
	done      chan struct{}
	stop      func()
}

func (c *component) Stop() {
	c.cancel()
	<-c.done
	if c.stop != nil {
		c.stop()
	}
	c.nc.Close()
}

// Kill drops the connection first, so nothing can be said on the way out.
func (c *component) Kill() {
	c.nc.Close()
	c.cancel()
	<-c.done
}

func (r *rig) gateway() (*component, *gateway.Gateway) {
	r.t.Helper()
	nc := r.env.Connect(r.t, "gateway")
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, gateway.Config{NC: nc, HTTPListen: "127.0.0.1:0", Setup: setup, SweepInterval: time.Second, Logger: testLogger(r.t)})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := g.Start(ctx); err != nil {
		r.t.Fatal(err)
	}
	c := &component{nc: nc, cancel: cancel, done: make(chan struct{}), stop: g.Stop}
	go func() { <-ctx.Done(); close(c.done) }()
	r.t.Cleanup(func() { cancel(); g.Stop() })
	return c, g
}

func (r *rig) modelConfig() agents.ModelConfig {
	if r.model == nil {
		return agents.ModelConfig{Provider: agents.ProviderOpenAI}
	}
	return agents.ModelConfig{Provider: agents.ProviderCustom, Model: "fake-model", BaseURL: r.model.URL, APIKey: "sk-test-secret"}
}

func (r *rig) daemon(name string) *component {
	return r.daemonWith(name, r.modelConfig())
}

func (r *rig) daemonWith(name string, mc agents.ModelConfig) *component {
	return r.daemonOpts(name, daemonOptions{Model: &mc})
}

// daemonOptions tune one test daemon.
type daemonOptions struct {
	Model     *agents.ModelConfig
	Models    *agents.Config
	Workspace string
	Policy    *agents.Policy
	Tools     tool.Options
	MaxSteps  int
	// Home is the daemon's ~/.viber (default a temp dir).
	Home string
	// Rescan is how often it reads its skill and agent folders again.
	Rescan time.Duration
	// Capacity is how many tasks it runs at once (default 4).
	Capacity int
	// Logger, when set, receives the daemon's logs.
	Logger *zerolog.Logger
}

func (r *rig) daemonOpts(name string, o daemonOptions) *component {
	r.t.Helper()
	mc := r.modelConfig()
	if o.Model != nil {
		mc = *o.Model
	}
	if o.Workspace == "" {
		o.Workspace = r.t.TempDir()
	}
	if o.Home == "" {
		o.Home = r.t.TempDir()
	}
	nc := r.env.Connect(r.t, "daemon-"+name)
	var models agents.Models = agents.Single(mc)
	if o.Models != nil {
		models = o.Models
	}
	log := testLogger(r.t)
	if o.Logger != nil {
		log = *o.Logger
	}
	d, err := daemon.New(daemon.Config{
		NC: nc, ID: name, Workspace: o.Workspace, Home: o.Home, Rescan: o.Rescan, Capacity: o.Capacity, Heartbeat: heartbeat, Setup: setup,
		Models: models, Policy: o.Policy, Tools: o.Tools, MaxSteps: o.MaxSteps, Logger: log,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &component{nc: nc, cancel: cancel, done: make(chan struct{}), workspace: o.Workspace}
	go func() {
		defer close(c.done)
		if err := d.Run(ctx); err != nil {
			r.t.Errorf("daemon %s: %v", name, err)
		}
	}()
	r.t.Cleanup(func() { cancel(); <-c.done })
	r.waitDaemonOnline(name)
	return c
}

func (r *rig) waitDaemonOnline(name string) {
	r.t.Helper()
	p, err := bus.OpenPresence(r.ctx(5*time.Second), r.env.JS)
	if err != nil {
		r.t.Fatal(err)
	}
	r.eventually(5*time.Second, "daemon "+name+" online", func() bool {
		d, err := p.Get(context.Background(), name)
		return err == nil && d.Online(time.Now())
	})
}

func (r *rig) ctx(d time.Duration) context.Context { return bustest.Context(r.t, d) }

func (r *rig) submit(goal string) *bus.Summary {
	r.t.Helper()
	s, err := r.client.CreateTask(r.ctx(5*time.Second), &bus.CreateTaskRequest{Goal: goal})
	if err != nil {
		r.t.Fatalf("create task: %v", err)
	}
	return s
}

// follow replays a task until it ends and returns its events, each
// validated against its schema.
func (r *rig) follow(id string, within time.Duration) []*bus.Event {
	r.t.Helper()
	var out []*bus.Event
	for ev, err := range r.env.Log.Replay(r.ctx(within), id, bus.ReplayOptions{Follow: bus.UntilEnd}) {
		if err != nil {
			r.t.Fatalf("follow %s: %v (so far: %s)", id, err, types(out))
		}
		r.validate(ev)
		out = append(out, ev)
	}
	return out
}

// waitFor replays a task until an event of type t appears.
func (r *rig) waitFor(id string, t bus.Type, within time.Duration) *bus.Event {
	r.t.Helper()
	var seen []*bus.Event
	for ev, err := range r.env.Log.Replay(r.ctx(within), id, bus.ReplayOptions{Follow: bus.Forever}) {
		if err != nil {
			r.t.Fatalf("waiting for %s in %s: %v (so far: %s)", t, id, err, types(seen))
		}
		seen = append(seen, ev)
		if ev.Type == t {
			return ev
		}
	}
	return nil
}

func (r *rig) validate(ev *bus.Event) {
	r.t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.valid.Validate(b); err != nil {
		r.t.Errorf("event %d (%s) does not match its schema: %v\n%s", ev.Seq, ev.Type, err, b)
	}
}

func (r *rig) eventually(within time.Duration, what string, ok func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func types(events []*bus.Event) string {
	var b strings.Builder
	for i, ev := range events {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(ev.Type.Short())
	}
	return b.String()
}

func checkOrdered(t *testing.T, events []*bus.Event) {
	t.Helper()
	for i, ev := range events {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: %s", i, ev.Seq, types(events))
		}
	}
}

func payload[P any, PP interface {
	*P
	bus.Payload
}](t *testing.T, ev *bus.Event) *P {
	t.Helper()
	p, err := bus.DecodeAs[P, PP](ev)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
