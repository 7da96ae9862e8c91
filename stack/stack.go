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

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/server"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/daemon"
	"github.com/viberhq/viber/gateway"
	"github.com/viberhq/viber/telemetry"
)

// Config configures a stack: the embedded server's settings, and the
// gateway's and the local daemon's own configurations.
type Config struct {
	// Dir holds everything: the JetStream store (Dir/nats) and, unless
	// the daemon's Workspace is set, its workspace (Dir/workspace).
	Dir string
	// NATSListen is the client listener (default 127.0.0.1:4222; "none"
	// for in-process only; port 0 for a free port).
	NATSListen string
	// LeafListen, when set, accepts edge daemons' leaf links on HOST:PORT.
	LeafListen string
	// Insecure accepts a NATSListen reachable beyond this machine (the
	// stack has no NATS auth); without it such a listener is refused.
	Insecure bool
	// JSDomain is the JetStream domain (default "hub").
	JSDomain string
	// Gateway configures the gateway; the stack connects it (NC).
	Gateway gateway.Config
	// Daemon configures the local daemon; the stack connects it (NC),
	// names it "local" and puts its workspace under Dir unless set, and
	// gives it the gateway's Setup (they must agree) and Logger, and its
	// Version unless set.
	Daemon daemon.Config
	// NoDaemon starts no local daemon.
	NoDaemon bool
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
	if cfg.Daemon.ID == "" {
		cfg.Daemon.ID = "local"
	}
	if cfg.Daemon.Workspace == "" {
		cfg.Daemon.Workspace = filepath.Join(cfg.Dir, "workspace")
	}
	cfg.Daemon.Setup = cfg.Gateway.Setup
	if cfg.Daemon.Version == "" {
		cfg.Daemon.Version = cfg.Gateway.Version
	}
	cfg.Daemon.Logger = cfg.Gateway.Logger
	if cfg.JSDomain == "" {
		cfg.JSDomain = bus.DefaultHubDomain
	}
	srv, err := server.StartContext(ctx, server.Options{Dir: filepath.Join(cfg.Dir, "nats"), Listen: cfg.NATSListen, Logger: server.Zerolog(cfg.Gateway.Logger),
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
	gcfg := cfg.Gateway
	gcfg.NC = gnc
	if gcfg.Metrics == nil {
		gcfg.Metrics = reg
	}
	gw, err := gateway.New(ctx, gcfg)
	if err != nil {
		return fail(err)
	}
	if err := gw.Start(runCtx); err != nil {
		return fail(err)
	}
	s.Gateway = gw
	if !cfg.NoDaemon {
		dnc, err := srv.Connect("viberd-" + cfg.Daemon.ID)
		if err != nil {
			return fail(err)
		}
		s.conns = append(s.conns, dnc)
		dcfg := cfg.Daemon
		dcfg.NC = dnc
		if dcfg.Tools.Schedules == nil {
			// The agent's schedule tool talks to the gateway like the CLI.
			if dcfg.Tools.Schedules, err = client.New(dnc); err != nil {
				return fail(err)
			}
		}
		if dcfg.Metrics == nil {
			if dcfg.Metrics, err = telemetry.NewDaemon(reg); err != nil {
				return fail(err)
			}
			if err := telemetry.WatchNATS(reg, "viberd-"+dcfg.ID, dnc); err != nil {
				return fail(err)
			}
		}
		d, err := daemon.New(dcfg)
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
