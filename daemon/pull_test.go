package daemon_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/daemon"
	"github.com/viberhq/viber/daemon/daemontest"
)

// TestOneSlotServesBothQueues runs a daemon with one slot and long pulls
// (20 s, and 20 s between its unasked looks at its own queue): tasks
// pinned to it and tasks for any daemon, one after the other, must each
// start within 10 s, which waiting for the other queue's pull to expire
// (the old take-turns) would exceed; and tasks of both kinds submitted
// together must run one at a time (never more assignments than slots).
func TestOneSlotServesBothQueues(t *testing.T) {
	t.Parallel()
	hub := daemontest.NewHub(t, func(*openaitest.Request) openaitest.Reply { return openaitest.Reply{Text: "ok"} })
	nc, err := nats.Connect(hub.URL, nats.Name("viberd-solo"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	cfg := config(t, hub, "solo", daemontest.Options{Workspace: t.TempDir()})
	cfg.NC, cfg.Capacity, cfg.PullWait = nc, 1, 20*time.Second
	d, err := daemon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	daemon.SetRecheck(d, 20*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil {
			t.Errorf("daemon: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitOnline(t, hub, "solo")

	submit := func(target string) string {
		t.Helper()
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		s, err := hub.Client.CreateTask(cctx, &bus.CreateTaskRequest{Goal: "hi", Daemon: target})
		if err != nil {
			t.Fatalf("create task for %q: %v", target, err)
		}
		return s.ID
	}
	// follow reads a task until its turn ends, within 10 s.
	follow := func(id string) []*bus.Event {
		fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer fcancel()
		var out []*bus.Event
		for ev, err := range hub.Log.Replay(fctx, id, bus.ReplayOptions{Follow: bus.UntilEnd}) {
			if err != nil {
				t.Errorf("task %s did not end within 10 s: %v (so far: %s)", id, err, daemontest.Types(out))
				return out
			}
			out = append(out, ev)
		}
		return out
	}

	// One at a time: the slot is idle between tasks, held by a pull on one
	// queue while the next task arrives on one or the other.
	for i, target := range []string{"solo", "", "solo", "", "", "solo", "solo"} {
		id := submit(target)
		if evs := follow(id); t.Failed() {
			t.Fatalf("task %d (daemon %q): %s", i, target, daemontest.Types(evs))
		}
	}

	// Both queues at once: every task completes, one at a time.
	var ids []string
	for i := range 6 {
		ids = append(ids, submit([]string{"solo", ""}[i%2]))
	}
	checkConcurrency(t, hub, ids, 1)
}

// TestPullsNeverExceedCapacity submits three times a daemon's capacity at
// once, on both queues, with a model slow enough for runs to overlap:
// every task completes and no more run at once than the capacity.
func TestPullsNeverExceedCapacity(t *testing.T) {
	t.Parallel()
	hub := daemontest.NewHub(t, func(*openaitest.Request) openaitest.Reply {
		time.Sleep(30 * time.Millisecond)
		return openaitest.Reply{Text: "ok"}
	})
	nc, err := nats.Connect(hub.URL, nats.Name("viberd-trio"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	cfg := config(t, hub, "trio", daemontest.Options{Workspace: t.TempDir()})
	cfg.NC, cfg.Capacity = nc, 3
	r := start(t, cfg)
	t.Cleanup(r.Stop)
	waitOnline(t, hub, "trio")
	var ids []string
	for i := range 9 {
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := hub.Client.CreateTask(cctx, &bus.CreateTaskRequest{Goal: "hi", Daemon: []string{"trio", ""}[i%2]})
		ccancel()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	checkConcurrency(t, hub, ids, 3)
}

// checkConcurrency follows tasks until they end (each within 30 s) and
// checks that each completed and that no more than max ran at once (by
// the stream sequences of their started and completed events).
func checkConcurrency(t *testing.T, hub *daemontest.Hub, ids []string, most int) {
	t.Helper()
	type span struct{ from, to uint64 }
	var (
		mu    sync.Mutex
		spans = map[string]span{}
		wg    sync.WaitGroup
	)
	for _, id := range ids {
		wg.Go(func() {
			fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer fcancel()
			var s span
			for ev, err := range hub.Log.Replay(fctx, id, bus.ReplayOptions{Follow: bus.UntilEnd}) {
				if err != nil {
					t.Errorf("task %s: %v", id, err)
					break
				}
				switch ev.Type {
				case bus.TypeStarted:
					s.from = ev.StreamSeq
				case bus.TypeCompleted:
					s.to = ev.StreamSeq
				}
			}
			mu.Lock()
			spans[id] = s
			mu.Unlock()
		})
	}
	wg.Wait()
	for a, sa := range spans {
		if sa.from == 0 || sa.to == 0 {
			t.Errorf("task %s: started at %d, completed at %d", a, sa.from, sa.to)
			continue
		}
		running := 0
		for _, sb := range spans {
			if sb.from <= sa.from && sa.from < sb.to {
				running++
			}
		}
		if running > most {
			t.Errorf("when task %s started (stream seq %d), %d tasks ran on a daemon with capacity %d", a, sa.from, running, most)
		}
	}
}

func waitOnline(t *testing.T, hub *daemontest.Hub, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ds, err := hub.Client.Daemons(context.Background())
		if err == nil {
			for _, x := range ds {
				if x.ID == id && x.Online {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon %s not online after 30 s", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
