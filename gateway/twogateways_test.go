package gateway

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/tmc/langchaingo/llms"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/daemon"
)

// quick is a model that answers after a short pause, so that tasks are in
// flight when a gateway dies.
type quick struct{}

func (quick) GenerateContent(ctx context.Context, _ []llms.MessageContent, _ ...llms.CallOption) (*llms.ContentResponse, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(20 * time.Millisecond):
	}
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: "done"}}}, nil
}

func (q quick) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, q, prompt, opts...)
}

// TestTwoGatewaysOneKilled runs two gateways against one server with
// daemons working, submits tasks through the shared API, and kills one
// gateway (its NATS connection cut, as a crash would) while tasks are being
// created, dispatched and projected. Every task whose creation was
// confirmed, and every task in the log, completes, and each was started
// and completed exactly once.
func TestTwoGatewaysOneKilled(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx := bustest.Context(t, 2*time.Minute)

	start := func(id string) (*Gateway, func()) {
		nc := env.Connect(t, "vibergw-"+id)
		gctx, cancel := context.WithCancel(ctx)
		g, err := New(gctx, Config{NC: nc, ID: id, HTTPListen: "none", SweepInterval: 200 * time.Millisecond, Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Start(gctx); err != nil {
			t.Fatal(err)
		}
		var once sync.Once
		kill := func() {
			once.Do(func() {
				nc.Close() // no goodbye: in-flight requests and folds are lost
				cancel()
				g.Stop()
			})
		}
		t.Cleanup(kill)
		return g, kill
	}
	survivor, _ := start("gw1")
	_, kill := start("gw2")

	for i := range 3 {
		id := fmt.Sprintf("worker-%d", i)
		d, err := daemon.New(daemon.Config{NC: env.Connect(t, "viberd-"+id), ID: id, Workspace: t.TempDir(), Home: t.TempDir(),
			NoBuiltinSkills: true, Capacity: 4, Models: agents.Fixed(quick{}, agents.ModelConfig{}), Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		dctx, dcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = d.Run(dctx) }()
		t.Cleanup(func() { dcancel(); <-done })
	}

	cl, err := client.New(env.Connect(t, "submitter"))
	if err != nil {
		t.Fatal(err)
	}
	const total = 120
	var (
		mu        sync.Mutex
		confirmed []string
		failures  int
		wg        sync.WaitGroup
	)
	next := make(chan int, total)
	for i := range total {
		next <- i
	}
	close(next)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if i == total/3 {
					kill()
				}
				for {
					rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
					s, err := cl.CreateTask(rctx, &bus.CreateTaskRequest{Goal: fmt.Sprintf("task %d", i)})
					cancel()
					mu.Lock()
					if err == nil {
						confirmed = append(confirmed, s.ID)
					} else {
						failures++ // lost with the killed gateway: try again
					}
					mu.Unlock()
					if err == nil || ctx.Err() != nil {
						break
					}
				}
			}
		}()
	}
	wg.Wait()

	// Every task in the log ends completed, the confirmed ones among them.
	var all []*bus.Summary
	eventually(t, 90*time.Second, "every task completed", func() (bool, string) {
		all, err = survivor.summaries.List(ctx)
		if err != nil {
			return false, err.Error()
		}
		states := map[bus.State]int{}
		for _, s := range all {
			states[s.State]++
		}
		return len(all) >= total && states[bus.StateCompleted] == len(all), fmt.Sprintf("%d tasks: %v", len(all), states)
	})
	inLog := map[string]bool{}
	for _, s := range all {
		inLog[s.ID] = true
	}
	for _, id := range confirmed {
		if !inLog[id] {
			t.Errorf("task %s was confirmed to its submitter but is not in the log", id)
		}
	}
	for _, s := range all {
		counts := map[bus.Type]int{}
		for ev, err := range env.Log.Replay(ctx, s.ID, bus.ReplayOptions{}) {
			if err != nil {
				t.Fatalf("replay %s: %v", s.ID, err)
			}
			counts[ev.Type]++
		}
		if counts[bus.TypeStarted] != 1 || counts[bus.TypeCompleted] != 1 || counts[bus.TypeCreated] != 1 {
			t.Errorf("task %s: %d created, %d started, %d completed events; want one each", s.ID, counts[bus.TypeCreated], counts[bus.TypeStarted], counts[bus.TypeCompleted])
		}
	}
	t.Logf("%d tasks in the log, %d confirmed, %d submissions lost with the killed gateway and retried", len(all), len(confirmed), failures)
}
