package gateway

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
	"github.com/viberhq/viber/bus/server"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/daemon"
)

// freePort returns a loopback port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestReplicasOnACluster runs a gateway with replicas 3 against three
// embedded clustered servers, checks that the streams and buckets have
// three replicas (a leader and two replicas each), and runs tasks on
// them: each started and completed once.
func TestReplicasOnACluster(t *testing.T) {
	t.Parallel()
	runCluster(t, false)
}

// TestClusterNodeKilled does the same and kills a NATS node (one that does
// not lead the task log) between two batches of tasks. It is flaky today:
// in some runs the projector stops folding after the node dies (no error
// logged) or a few tasks running at that moment stay running; see
// docs/operations.md. VIBER_CLUSTER_KILL=1 runs it.
func TestClusterNodeKilled(t *testing.T) {
	if os.Getenv("VIBER_CLUSTER_KILL") == "" {
		t.Skip("known issue (docs/operations.md, replicas): after a node dies the projector sometimes stops folding; set VIBER_CLUSTER_KILL=1 to run")
	}
	t.Parallel()
	runCluster(t, true)
}

func runCluster(t *testing.T, kill bool) {
	ctx := bustest.Context(t, 3*time.Minute)
	const nodes = 3
	routes := make([]string, nodes)
	clusterPorts := make([]int, nodes)
	for i := range nodes {
		clusterPorts[i] = freePort(t)
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", clusterPorts[i])
	}
	servers := make([]*server.Server, nodes)
	urls := make([]string, nodes)
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i], errs[i] = server.Start(server.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0", Name: fmt.Sprintf("n%d", i),
				ClusterName: "viber-test", ClusterListen: fmt.Sprintf("127.0.0.1:%d", clusterPorts[i]), Routes: routes})
		}()
	}
	wg.Wait()
	for i := range nodes {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
		t.Cleanup(servers[i].Shutdown)
		urls[i] = servers[i].ClientURL()
	}
	dial := func(name string) *nats.Conn {
		nc, err := bus.Connect(bus.ConnectOptions{URL: strings.Join(urls, ","), Name: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}

	setup := bus.SetupOptions{Replicas: 3}
	gctx, gcancel := context.WithCancel(ctx)
	g, err := New(gctx, Config{NC: dial("vibergw"), HTTPListen: "none", Setup: setup, SweepInterval: time.Second, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(gctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gcancel(); g.Stop() })

	for _, name := range []string{bus.TaskStream, bus.WorkStream, "KV_" + bus.DaemonBucket, "KV_" + bus.TaskBucket} {
		s, err := g.js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info := s.CachedInfo()
		if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			t.Errorf("%s: %d replicas configured, cluster %+v; want 3 (a leader and two replicas)", name, info.Config.Replicas, info.Cluster)
		}
	}

	for i := range 2 {
		id := fmt.Sprintf("worker-%d", i)
		d, err := daemon.New(daemon.Config{NC: dial("viberd-" + id), ID: id, Workspace: t.TempDir(), Home: t.TempDir(), Setup: setup,
			NoBuiltinSkills: true, Capacity: 4, Models: agents.Fixed(quick{}, agents.ModelConfig{}), Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		dctx, dcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := d.Run(dctx); err != nil && dctx.Err() == nil {
				t.Errorf("daemon %s: %v", id, err)
			}
		}()
		t.Cleanup(func() { dcancel(); <-done })
	}

	cl, err := client.New(dial("submitter"))
	if err != nil {
		t.Fatal(err)
	}
	submit := func(n int) {
		for i := range n {
			for attempt := 0; ; attempt++ {
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := cl.CreateTask(rctx, &bus.CreateTaskRequest{Goal: fmt.Sprintf("task %d", i)})
				cancel()
				if err == nil {
					break
				}
				if ctx.Err() != nil || attempt > 20 {
					t.Fatalf("submit: %v", err)
				}
				time.Sleep(250 * time.Millisecond)
			}
		}
	}
	submit(10)
	if !kill {
		submit(10)
	}

	// Kill a node that does not lead the task log.
	s, err := g.js.Stream(ctx, bus.TaskStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	killed := ""
	for i, srv := range servers {
		if kill && srv.NATS().Name() != info.Cluster.Leader && killed == "" {
			killed = srv.NATS().Name()
			servers[i].Shutdown()
		}
	}
	if kill {
		if killed == "" {
			t.Fatalf("no node besides the leader of %s (cluster %+v)", bus.TaskStream, info.Cluster)
		}
		submit(10)
	}

	var all []*bus.Summary
	eventually(t, 2*time.Minute, "every task completed (node killed: "+killed+")", func() (bool, string) {
		all, err = g.summaries.List(ctx)
		if err != nil {
			return false, err.Error()
		}
		states := map[bus.State]int{}
		for _, s := range all {
			states[s.State]++
		}
		return len(all) >= 20 && states[bus.StateCompleted] == len(all), fmt.Sprintf("%d tasks: %v", len(all), states)
	})
	for _, s := range all {
		counts := map[bus.Type]int{}
		for ev, err := range g.tasks.Replay(ctx, s.ID, bus.ReplayOptions{}) {
			if err != nil {
				t.Fatalf("replay %s: %v", s.ID, err)
			}
			counts[ev.Type]++
		}
		if counts[bus.TypeStarted] != 1 || counts[bus.TypeCompleted] != 1 {
			t.Errorf("task %s: %d started, %d completed events; want one each", s.ID, counts[bus.TypeStarted], counts[bus.TypeCompleted])
		}
	}
	t.Logf("%d tasks completed; node killed mid-run: %q", len(all), killed)
}
