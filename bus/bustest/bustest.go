// Package bustest starts real, embedded NATS servers for tests: a fresh
// JetStream store in a temporary directory, a random loopback port, Viber's
// streams and buckets created, and everything closed when the test ends.
package bustest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/server"
)

// Env is one test's NATS server and a client connection to it.
type Env struct {
	Server *server.Server
	Dir    string
	URL    string
	NC     *nats.Conn
	JS     jetstream.JetStream
	Log    *bus.Log
	Setup  bus.SetupOptions
}

// Start starts a server with its store in dir (a new temporary directory
// when dir is "") and sets up Viber's streams with o.
func Start(t testing.TB, dir string, o bus.SetupOptions) *Env {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	srv, err := server.Start(server.Options{Dir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start NATS: %v", err)
	}
	env := &Env{Server: srv, Dir: dir, URL: srv.ClientURL(), Setup: o}
	t.Cleanup(env.Stop)
	env.NC = env.Connect(t, "bustest")
	env.JS, err = jetstream.New(env.NC)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.Setup(ctx, env.JS, o); err != nil {
		t.Fatalf("setup: %v", err)
	}
	env.Log = bus.NewLog(env.JS)
	return env
}

// Connect opens another client connection over TCP, closed at test end.
func (e *Env) Connect(t testing.TB, name string) *nats.Conn {
	t.Helper()
	nc, err := bus.Connect(bus.ConnectOptions{URL: e.URL, Name: name})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Stop shuts the server down (idempotent).
func (e *Env) Stop() {
	if e.NC != nil {
		e.NC.Close()
	}
	if e.Server != nil {
		e.Server.Shutdown()
		e.Server = nil
	}
}

// Context returns a context that ends with the test or after d.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
