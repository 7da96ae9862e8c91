package daemon_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/bus/server"
	"github.com/viberhq/viber/daemon"
	"github.com/viberhq/viber/daemon/daemontest"
)

// running is a daemon started in this process.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *running) Stop() {
	r.cancel()
	<-r.done
}

func start(t *testing.T, cfg daemon.Config) *running {
	t.Helper()
	d, err := daemon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := d.Run(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("daemon %s: %v", cfg.ID, err)
		}
	}()
	return r
}

func config(t *testing.T, hub *daemontest.Hub, id string, o daemontest.Options) daemon.Config {
	p := agents.DefaultPolicy()
	if o.AllowShell {
		p.Tools["shell"] = agents.Allow
	}
	return daemon.Config{
		ID: id, Workspace: o.Workspace, Home: t.TempDir(), Heartbeat: 200 * time.Millisecond, Setup: daemontest.Setup,
		Models: agents.Single(agents.ModelConfig{Provider: agents.ProviderCustom, Model: "fake-model", BaseURL: hub.ModelURL, APIKey: "sk-test"}),
		Policy: &p, Logger: zerolog.Nop(),
	}
}

// hubDaemon is a daemon connected straight to the hub.
type hubDaemon struct{}

func (hubDaemon) Start(t *testing.T, hub *daemontest.Hub, id string, o daemontest.Options) daemontest.Daemon {
	nc, err := nats.Connect(hub.URL, nats.Name("viberd-"+id))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	cfg := config(t, hub, id, o)
	cfg.NC = nc
	return start(t, cfg)
}

// edgeDaemon is a daemon behind its own leaf node with its own JetStream
// domain, reaching the hub's streams through the leaf link.
type edgeDaemon struct{}

func (edgeDaemon) Start(t *testing.T, hub *daemontest.Hub, id string, o daemontest.Options) daemontest.Daemon {
	edge, err := server.Start(server.Options{Dir: t.TempDir(), Listen: "none", Name: "edge-" + id, Domain: "edge-" + id, LeafRemote: hub.LeafURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(edge.Shutdown)
	nc, err := edge.Connect("viberd-" + id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	hubJS, err := jetstream.NewWithDomain(nc, "hub")
	if err != nil {
		t.Fatal(err)
	}
	localJS, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config(t, hub, id, o)
	cfg.NC, cfg.JS, cfg.LocalJS, cfg.Edge = nc, hubJS, localJS, true
	return start(t, cfg)
}

func TestConformanceHubDaemon(t *testing.T) {
	t.Parallel()
	daemontest.Run(t, hubDaemon{})
}

func TestConformanceEdgeDaemon(t *testing.T) {
	t.Parallel()
	daemontest.Run(t, edgeDaemon{})
}
