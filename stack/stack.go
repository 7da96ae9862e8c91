// Package stack runs a whole Viber in one process: an embedded NATS server
// with JetStream, the gateway and a local daemon. It is what `viber up`
// starts, and what the benchmark measures.
package stack

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/tool"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/server"
	"github.com/viberhq/viber/daemon"
	"github.com/viberhq/viber/gateway"
	"github.com/viberhq/viber/telemetry"
)

// Config configures a stack.
type Config struct {
	// Dir holds everything: the JetStream store (Dir/nats) and, unless
	// Workspace is set, the daemon's workspace (Dir/workspace).
	Dir string
	// NATSListen is the client listener (default 127.0.0.1:4222; "none"
	// for in-process only; port 0 for a free port).
	NATSListen string
	// HTTPListen is the gateway's HTTP address (default 127.0.0.1:6009).
	HTTPListen string
	// HTTPToken protects HTTP beyond loopback.
	HTTPToken string
	// LeafListen, when set, accepts edge daemons' leaf links on HOST:PORT.
	LeafListen string
	// Insecure accepts a NATSListen reachable beyond this machine (the
	// stack has no NATS auth); without it such a listener is refused.
	Insecure bool
	// JSDomain is the JetStream domain (default "hub").
	JSDomain string
	// DaemonName is the local daemon's id (default "local").
	DaemonName string
	// Workspace is the local daemon's workspace.
	Workspace string
	// Home is the daemon's home for skills (default ~/.viber).
	Home string
	// NoDaemon starts no local daemon.
	NoDaemon bool
	// Models gives the local daemon its models (see daemon.Config).
	Models agents.Models
	// Policy, Tools and MaxSteps tune the local daemon's agent.
	Policy   *agents.Policy
	Tools    tool.Options
	MaxSteps int
	// Capacity is the local daemon's task capacity.
	Capacity int
	// Setup tunes streams and the work ack wait.
	Setup bus.SetupOptions
	// Version is reported by the gateway and daemon.
	Version string
	// Logger receives every component's logs.
	Logger zerolog.Logger
}

// Stack is a running all-in-one Viber.
type Stack struct {
	Server  *server.Server
	Gateway *gateway.Gateway

	connMu sync.Mutex
	conns  []*nats.Conn
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errMu  sync.Mutex
	err    error
}

// Start starts the server, the gateway and the daemon.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	if cfg.Dir == "" {
		return nil, errors.New("stack: no data directory")
	}
	if cfg.NATSListen == "" {
		cfg.NATSListen = "127.0.0.1:4222"
	}
	if cfg.DaemonName == "" {
		cfg.DaemonName = "local"
	}
	if cfg.Workspace == "" {
		cfg.Workspace = filepath.Join(cfg.Dir, "workspace")
	}
	if cfg.JSDomain == "" {
		cfg.JSDomain = bus.DefaultHubDomain
	}
	srv, err := server.StartContext(ctx, server.Options{Dir: filepath.Join(cfg.Dir, "nats"), Listen: cfg.NATSListen, Logger: server.Zerolog(cfg.Logger),
		Domain: cfg.JSDomain, LeafListen: cfg.LeafListen, Insecure: cfg.Insecure})
	if err != nil {
		return nil, err
	}
	s := &Stack{Server: srv}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	fail := func(err error) (*Stack, error) {
		s.Stop()
		return nil, err
	}
	gnc, err := srv.Connect("vibergw")
	if err != nil {
		return fail(err)
	}
	s.conns = append(s.conns, gnc)
	// One registry: the gateway's /metrics shows the daemon's too.
	reg := telemetry.NewRegistry()
	gw, err := gateway.New(ctx, gateway.Config{NC: gnc, HTTPListen: cfg.HTTPListen, HTTPToken: cfg.HTTPToken, Setup: cfg.Setup, Version: cfg.Version, Logger: cfg.Logger, Metrics: reg})
	if err != nil {
		return fail(err)
	}
	if err := gw.Start(runCtx); err != nil {
		return fail(err)
	}
	s.Gateway = gw
	if !cfg.NoDaemon {
		dnc, err := srv.Connect("viberd-" + cfg.DaemonName)
		if err != nil {
			return fail(err)
		}
		s.conns = append(s.conns, dnc)
		metrics, err := telemetry.NewDaemon(reg)
		if err != nil {
			return fail(err)
		}
		if err := telemetry.WatchNATS(reg, "viberd-"+cfg.DaemonName, dnc); err != nil {
			return fail(err)
		}
		d, err := daemon.New(daemon.Config{
			Metrics: metrics,
			NC:      dnc, ID: cfg.DaemonName, Workspace: cfg.Workspace, Capacity: cfg.Capacity,
			Setup: cfg.Setup, Models: cfg.Models, Version: cfg.Version, Logger: cfg.Logger, Home: cfg.Home,
			Policy: cfg.Policy, Tools: cfg.Tools, MaxSteps: cfg.MaxSteps,
		})
		if err != nil {
			return fail(err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := d.Run(runCtx); err != nil {
				s.setErr(fmt.Errorf("daemon: %w", err))
			}
		}()
	}
	return s, nil
}

func (s *Stack) setErr(err error) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

// Err returns the first error a component stopped with.
func (s *Stack) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// URL is the NATS client URL ("" when listening in-process only).
func (s *Stack) URL() string { return s.Server.ClientURL() }

// Connect opens another in-process client connection.
func (s *Stack) Connect(name string) (*nats.Conn, error) {
	nc, err := s.Server.Connect(name)
	if err == nil {
		s.connMu.Lock()
		s.conns = append(s.conns, nc)
		s.connMu.Unlock()
	}
	return nc, err
}

// Stop stops the daemon (handing its tasks back), the gateway and the
// server, in that order.
func (s *Stack) Stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.Gateway != nil {
		s.Gateway.Stop()
	}
	for _, nc := range s.conns {
		_ = nc.Drain()
	}
	deadline := time.Now().Add(2 * time.Second)
	for _, nc := range s.conns {
		for !nc.IsClosed() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		nc.Close()
	}
	if s.Server != nil {
		s.Server.Shutdown()
	}
}
