package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStoreLocked: a second server on the same store directory fails at
// once with a clear error while the first runs, and starts once it has
// stopped.
func TestStoreLocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := Start(Options{Dir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	second, err := Start(Options{Dir: dir, Listen: "127.0.0.1:0"})
	if err == nil {
		second.Shutdown()
		first.Shutdown()
		t.Fatal("a second server started on a store directory in use")
	}
	if !errors.Is(err, ErrStoreLocked) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "--data") {
		t.Errorf("second start: %v; want ErrStoreLocked naming %s and --data", err, dir)
	}
	if took := time.Since(t0); took > 2*time.Second {
		t.Errorf("refusing took %s; want at once", took)
	}
	first.Shutdown()
	again, err := Start(Options{Dir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start after the first stopped: %v", err)
	}
	again.Shutdown()
}

// TestPortTaken: a client or leaf listener on a taken port fails at once,
// naming the address, and leaves the store directory free.
func TestPortTaken(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().String()
	dir := t.TempDir()
	for _, o := range []Options{
		{Dir: dir, Listen: taken},
		{Dir: dir, Listen: "127.0.0.1:0", LeafListen: taken},
	} {
		t0 := time.Now()
		srv, err := Start(o)
		if err == nil {
			srv.Shutdown()
			t.Fatalf("%+v: started on a taken port", o)
		}
		if !errors.Is(err, ErrListen) || !strings.Contains(err.Error(), taken) {
			t.Errorf("%+v: %v; want ErrListen naming %s", o, err, taken)
		}
		if took := time.Since(t0); took > 2*time.Second {
			t.Errorf("%+v: failing took %s; want at once", o, took)
		}
	}
	srv, err := Start(Options{Dir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("the store stayed locked after failed starts: %v", err)
	}
	srv.Shutdown()
}

// TestOpenListenerRefused: a listener beyond loopback without auth needs
// Insecure, and then the server warns.
func TestOpenListenerRefused(t *testing.T) {
	t.Parallel()
	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		srv, err := Start(Options{Dir: t.TempDir(), Listen: listen})
		if err == nil {
			srv.Shutdown()
			t.Fatalf("%s: an open listener without auth started", listen)
		}
		if !errors.Is(err, ErrOpenListener) || !strings.Contains(err.Error(), "--insecure") || !strings.Contains(err.Error(), "--auth") {
			t.Errorf("%s: %v; want ErrOpenListener saying --auth or --insecure", listen, err)
		}
	}
	for _, listen := range []string{"127.0.0.1:0", "localhost:0", "none", ""} {
		srv, err := Start(Options{Dir: t.TempDir(), Listen: listen})
		if err != nil {
			t.Errorf("%q: %v", listen, err)
			continue
		}
		srv.Shutdown()
	}
	logs := &recorder{}
	srv, err := Start(Options{Dir: t.TempDir(), Listen: "0.0.0.0:0", Insecure: true, Logger: logs})
	if err != nil {
		t.Fatalf("with Insecure: %v", err)
	}
	srv.Shutdown()
	if w := logs.warnings(); !strings.Contains(w, "INSECURE") || !strings.Contains(w, "0.0.0.0:0") {
		t.Errorf("with Insecure, warnings %q; want one naming the listener", w)
	}
}

// TestStartInterrupted: a start whose context has ended (SIGTERM while
// waiting for the server) shuts the server down, returns the context's
// error and leaves the store directory free.
func TestStartInterrupted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	srv, err := StartContext(ctx, Options{Dir: dir, Listen: "127.0.0.1:0"})
	if err == nil {
		srv.Shutdown()
		t.Fatal("a start with an ended context succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted start: %v; want context.Canceled", err)
	}
	srv, err = Start(Options{Dir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start after an interrupted one: %v", err)
	}
	srv.Shutdown()
}

// recorder keeps the server's warnings.
type recorder struct {
	mu   sync.Mutex
	warn []string
}

func (r *recorder) warnings() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.warn, "\n")
}

func (r *recorder) Warnf(format string, v ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warn = append(r.warn, fmt.Sprintf(format, v...))
}
func (*recorder) Noticef(string, ...any) {}
func (*recorder) Fatalf(string, ...any)  {}
func (*recorder) Errorf(string, ...any)  {}
func (*recorder) Debugf(string, ...any)  {}
func (*recorder) Tracef(string, ...any)  {}
