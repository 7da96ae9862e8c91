package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/server"
	"github.com/viberhq/viber/daemon"
)

// lockedBuffer is a log sink many daemons write to at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestManyDaemonsStartAtOnce starts a crowd of daemons together against one
// server before the gateway has created anything, with JetStream calls
// given a short time to answer, so that start-up meets missing streams and
// buckets and calls that time out while the server is busy. Every daemon
// must come online; none may exit.
func TestManyDaemonsStartAtOnce(t *testing.T) {
	t.Parallel()
	const n = 120
	srv, err := server.Start(server.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	logs := &lockedBuffer{}
	logger := zerolog.New(logs)
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		exited []string
	)
	t.Cleanup(func() { cancel(); wg.Wait() })
	for i := range n {
		id := fmt.Sprintf("crowd-%03d", i)
		nc, err := nats.Connect(srv.ClientURL(), nats.Name("viberd-"+id))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		// A short default timeout stands in for a server swamped by
		// hundreds of daemons: the calls without their own deadline time
		// out while it is busy.
		js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(40*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		d, err := daemon.New(daemon.Config{
			NC: nc, JS: js, ID: id, Workspace: t.TempDir(), Home: t.TempDir(), NoBuiltinSkills: true,
			Heartbeat: time.Second, Logger: logger,
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Run(ctx); err != nil || ctx.Err() == nil {
				mu.Lock()
				exited = append(exited, fmt.Sprintf("%s: %v", id, err))
				mu.Unlock()
			}
		}()
	}

	// The gateway's set-up comes while the daemons are already starting.
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	setupCtx, setupCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer setupCancel()
	if err := bus.Setup(setupCtx, js, bus.SetupOptions{}); err != nil {
		t.Fatal(err)
	}
	presence, err := bus.OpenPresence(setupCtx, js)
	if err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(90 * time.Second)
	online := 0
	for time.Now().Before(deadline) {
		mu.Lock()
		dead := len(exited)
		mu.Unlock()
		if dead > 0 {
			break
		}
		list, err := presence.List(setupCtx)
		if err == nil {
			online = 0
			for _, d := range list {
				if d.Status == bus.DaemonOnline {
					online++
				}
			}
			if online == n {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(exited) > 0 {
		t.Fatalf("%d of %d daemons exited during start-up instead of retrying:\n%s", len(exited), n, strings.Join(exited, "\n"))
	}
	if online != n {
		t.Fatalf("%d of %d daemons online after 90 s", online, n)
	}
	retries := strings.Count(logs.String(), "retrying")
	t.Logf("%d daemons online; %d start-up retries logged", n, retries)
}
