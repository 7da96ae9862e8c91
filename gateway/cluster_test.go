package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/tmc/langchaingo/llms"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/daemon"
	"github.com/viberhq/viber/internal/taskcheck"
)

// TestReplicasOnACluster runs a gateway with replicas 3 against three
// embedded clustered servers, checks that the streams, buckets and work
// consumers have three replicas (a leader and two replicas each; the
// daemons, which are not told the replica count, make theirs like their
// stream), and runs tasks on them: each started and completed once.
func TestReplicasOnACluster(t *testing.T) {
	t.Parallel()
	ctx := bustest.Context(t, 2*time.Minute)
	r := newClusterRig(t, ctx)
	g, _ := r.gateway("gw1")
	r.daemons(2, quick{})

	// Requests are bounded one by one: a cluster drops those for a stream
	// or consumer that has no leader yet, without an answer.
	for _, name := range []string{bus.TaskStream, bus.WorkStream, "KV_" + bus.DaemonBucket, "KV_" + bus.TaskBucket} {
		var info *jetstream.StreamInfo
		eventually(t, 30*time.Second, "stream "+name+" has a leader", func() (bool, string) {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			s, err := g.js.Stream(cctx, name)
			if err != nil {
				return false, err.Error()
			}
			info = s.CachedInfo()
			return info.Cluster != nil && info.Cluster.Leader != "", fmt.Sprintf("cluster %+v", info.Cluster)
		})
		if info.Config.Replicas != 3 || len(info.Cluster.Replicas) != 2 {
			t.Errorf("%s: %d replicas configured, cluster %+v; want 3 (a leader and two replicas)", name, info.Config.Replicas, info.Cluster)
		}
	}
	for _, name := range []string{bus.AnyWorkConsumer, bus.DaemonWorkConsumer("worker-0"), bus.DaemonWorkConsumer("worker-1")} {
		var info *jetstream.ConsumerInfo
		eventually(t, 30*time.Second, "work consumer "+name+" has a leader", func() (bool, string) {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			c, err := g.js.Consumer(cctx, bus.WorkStream, name)
			if err != nil {
				return false, err.Error()
			}
			info = c.CachedInfo()
			return info.Cluster != nil && info.Cluster.Leader != "", fmt.Sprintf("cluster %+v", info.Cluster)
		})
		if len(info.Cluster.Replicas) != 2 {
			t.Errorf("work consumer %s: leader %s and %d replicas; want two replicas, as its stream", name, info.Cluster.Leader, len(info.Cluster.Replicas))
		}
	}

	for i := range 20 {
		r.submit(fmt.Sprintf("task %d", i))
	}
	all := r.allCompleted(g, 20, 90*time.Second)
	for _, s := range all {
		events, err := replay(ctx, g, s.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		counts := map[bus.Type]int{}
		for _, ev := range events {
			counts[ev.Type]++
		}
		if counts[bus.TypeStarted] != 1 || counts[bus.TypeCompleted] != 1 {
			t.Errorf("task %s: %d started, %d completed events; want one each", s.ID, counts[bus.TypeStarted], counts[bus.TypeCompleted])
		}
	}
}

// TestClusterNodeKilled is the acceptance check of running on a cluster:
// three clustered NATS nodes with replicas 3, two gateways, two daemons
// (not told the replica count) whose tasks each make one shell call that
// records its execution. While the first tasks run, a NATS node and one
// gateway are killed at once; more tasks are submitted during the
// recovery. Every task whose creation was confirmed is in the log, every
// task in the log completes and its summary says what its log says, no
// event is lost or doubled (internal/taskcheck), and every tool call ran
// exactly once (none was reported interrupted: daemons retry the writes
// the kill made fail instead of giving their runs up).
// One variant kills the node leading the task log (VIBER_TASKS), the other
// a node that does not lead it.
func TestClusterNodeKilled(t *testing.T) {
	t.Parallel()
	for _, victim := range []string{"task-log-leader", "follower"} {
		t.Run(victim, func(t *testing.T) {
			t.Parallel()
			nodeKilled(t, victim == "task-log-leader")
		})
	}
}

func nodeKilled(t *testing.T, killLeader bool) {
	ctx := bustest.Context(t, 2*time.Minute)
	r := newClusterRig(t, ctx)
	g, _ := r.gateway("gw1")
	_, killGateway := r.gateway("gw2")
	effects := filepath.Join(t.TempDir(), "effects")
	r.daemons(2, caller{effects: effects, delay: 100 * time.Millisecond})

	const first, second = 12, 12
	var (
		mu        sync.Mutex
		confirmed = map[string]string{} // task id -> key
	)
	submitAll := func(from, n int) {
		var wg sync.WaitGroup
		for w := range 3 {
			wg.Go(func() {
				for i := from + w; i < from+n; i += 3 {
					id, key := r.submitTask(fmt.Sprintf("K%02d", i))
					if id == "" {
						return // the test is failing: submitTask said why
					}
					mu.Lock()
					confirmed[id] = key
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	submitAll(0, first)

	// Kill while tool calls run: once a few took effect.
	atKill := 0
	eventually(t, 30*time.Second, "tool calls run", func() (bool, string) {
		atKill = len(readEffects(t, effects))
		return atKill >= 3, fmt.Sprintf("%d calls took effect", atKill)
	})
	var info *jetstream.StreamInfo
	eventually(t, 30*time.Second, bus.TaskStream+" has a leader", func() (bool, string) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		s, err := g.js.Stream(cctx, bus.TaskStream)
		if err != nil {
			return false, err.Error()
		}
		info = s.CachedInfo()
		return info.Cluster != nil && info.Cluster.Leader != "" && len(info.Cluster.Replicas) > 0, fmt.Sprintf("cluster %+v", info.Cluster)
	})
	victim := info.Cluster.Leader
	if !killLeader {
		victim = info.Cluster.Replicas[0].Name
	}
	r.cluster.Kill(victim)
	killGateway()
	killed := time.Now()
	r.log.Warn().Str("node", victim).Bool("task_log_leader", killLeader).Msg("test: killed a NATS node and gateway gw2")
	submitAll(first, second)

	// Every task in the log (the confirmed ones among them) completes.
	var ids []string
	eventually(t, 60*time.Second, "every task in the log completed", func() (bool, string) {
		// A request lost with the killed node must not hold the test.
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var err error
		if ids, err = r.tasksInLog(cctx, g); err != nil {
			return false, err.Error()
		}
		list, err := g.summaries.List(cctx)
		if err != nil {
			return false, err.Error()
		}
		states := map[bus.State]int{}
		byID := map[string]*bus.Summary{}
		for _, s := range list {
			byID[s.ID] = s
		}
		for _, id := range ids {
			if s := byID[id]; s != nil {
				states[s.State]++
			} else {
				states["no summary"]++
			}
		}
		return len(ids) >= first+second && states[bus.StateCompleted] == len(ids), fmt.Sprintf("%d tasks in the log: %v", len(ids), states)
	})
	recovery := time.Since(killed)
	if recovery > 20*time.Second {
		r.dumpLog(fmt.Sprintf("slow: every task completed %s after the kill", recovery.Round(time.Second)))
	}
	inLog := map[string]bool{}
	for _, id := range ids {
		inLog[id] = true
	}
	for id := range confirmed {
		if !inLog[id] {
			t.Errorf("task %s was confirmed to its submitter but is not in the log", id)
		}
	}

	ran := readEffects(t, effects)
	stored := map[string]bool{} // call ids stored in some task's log
	var violations []taskcheck.Violation
	interrupted := 0
	for _, id := range ids {
		var rejected []error
		events, err := replay(ctx, g, id, func(err error) { rejected = append(rejected, err) })
		if err != nil {
			t.Fatal(err)
		}
		if len(rejected) > 0 {
			t.Errorf("task %s: %d stored messages do not fit it: %v", id, len(rejected), rejected)
		}
		mine := map[string]int{}
		calls := 0
		for _, ev := range events {
			switch ev.Type {
			case bus.TypeToolCall:
				c, err := bus.DecodeAs[bus.ToolCall](ev)
				if err != nil {
					t.Fatal(err)
				}
				calls++
				mine[c.CallID] = ran[c.CallID]
				stored[c.CallID] = true
			case bus.TypeToolResult:
				res, err := bus.DecodeAs[bus.ToolResult](ev)
				if err != nil {
					t.Fatal(err)
				}
				if res.IsError && strings.HasPrefix(res.Output, "interrupted") {
					// Never run twice, but maybe never run: a daemon
					// gave up a write for good.
					interrupted++
					t.Errorf("task %s: call %s reported interrupted (ran %d times); want it run once, its run not given up", id, res.CallID, ran[res.CallID])
				} else if n := ran[res.CallID]; n != 1 {
					t.Errorf("task %s: call %s reported %q but ran %d times; want once", id, res.CallID, res.Output, n)
				}
			}
		}
		if calls != 1 {
			t.Errorf("task %s: %d tool calls stored; want 1", id, calls)
		}
		violations = append(violations, taskcheck.Check(id, events, mine)...)
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		sum, _, err := g.summaries.Get(cctx, id)
		cancel()
		if err != nil {
			t.Fatalf("summary of %s: %v", id, err)
		}
		violations = append(violations, taskcheck.CheckSummary(id, events, sum)...)
	}
	for call, n := range ran {
		if !stored[call] {
			t.Errorf("call %s ran %d times but no task's log stores it", call, n)
		}
	}
	if len(violations) > 0 {
		t.Errorf("%d violations:\n%s", len(violations), taskcheck.Report(violations, 40))
	}
	t.Logf("node %s (task log leader: %v) and gateway gw2 killed after %d of the first %d tasks' calls ran; every task completed %s after; %d tasks in the log, %d confirmed, %d tool calls ran, %d reported interrupted",
		victim, killLeader, atKill, first, recovery.Round(100*time.Millisecond), len(ids), len(confirmed), len(ran), interrupted)
}

// clusterRig is a three-node cluster with replicas 3, its gateways and
// daemons, and a submitter.
type clusterRig struct {
	t       *testing.T
	ctx     context.Context
	cluster *bustest.Cluster
	setup   bus.SetupOptions
	log     zerolog.Logger
	dumpLog func(why string)
	cl      *client.Client
}

func newClusterRig(t *testing.T, ctx context.Context) *clusterRig {
	r := &clusterRig{t: t, ctx: ctx, cluster: bustest.StartCluster(t, 3), setup: bus.SetupOptions{Replicas: 3}}
	r.log, r.dumpLog = failureLog(t)
	cl, err := client.New(r.cluster.Connect(t, "submitter"))
	if err != nil {
		t.Fatal(err)
	}
	r.cl = cl
	return r
}

// gateway starts a gateway; kill stops it as a crash would (its connection
// cut first: requests and folds in flight are lost).
func (r *clusterRig) gateway(id string) (*Gateway, func()) {
	t := r.t
	nc := r.cluster.Connect(t, "vibergw-"+id)
	gctx, cancel := context.WithCancel(r.ctx)
	g, err := New(gctx, Config{NC: nc, ID: id, HTTPListen: "none", Setup: r.setup, SweepInterval: 500 * time.Millisecond,
		Logger: r.log.With().Str("gateway", id).Logger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(gctx); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	kill := func() {
		once.Do(func() {
			nc.Close()
			cancel()
			g.Stop()
		})
	}
	t.Cleanup(kill)
	return g, kill
}

// daemons starts n daemons answering with model. They get default set-up
// options, as viberd does: they are not told the replica count.
func (r *clusterRig) daemons(n int, model llms.Model) {
	t := r.t
	policy := agents.DefaultPolicy()
	policy.Tools["shell"] = agents.Allow
	for i := range n {
		id := fmt.Sprintf("worker-%d", i)
		d, err := daemon.New(daemon.Config{NC: r.cluster.Connect(t, "viberd-"+id), ID: id, Workspace: t.TempDir(), Home: t.TempDir(),
			NoBuiltinSkills: true, Capacity: 4, Models: agents.Fixed(model, agents.ModelConfig{}), Policy: &policy,
			Logger: r.log.With().Str("daemon", id).Logger()})
		if err != nil {
			t.Fatal(err)
		}
		dctx, dcancel := context.WithCancel(r.ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := d.Run(dctx); err != nil && dctx.Err() == nil {
				t.Errorf("daemon %s: %v", id, err)
			}
		}()
		t.Cleanup(func() { dcancel(); <-done })
	}
}

// submit creates a task with goal, retrying what fails (a gateway or a node
// killed, a leader being elected). A retried create whose first attempt
// was stored makes a second task with the same goal.
func (r *clusterRig) submit(goal string) string {
	t := r.t
	for attempt := 0; ; attempt++ {
		rctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
		s, err := r.cl.CreateTask(rctx, &bus.CreateTaskRequest{Goal: goal})
		cancel()
		if err == nil {
			return s.ID
		}
		if r.ctx.Err() != nil || attempt > 30 {
			t.Errorf("submit %q: %v", goal, err)
			return ""
		}
		r.log.Info().Err(err).Str("goal", goal).Msg("test: submit failed; retrying")
		sleep(r.ctx, 250*time.Millisecond)
	}
}

// submitTask submits a task for [caller] under a fresh key per attempt, so
// that a create retried after its first attempt was stored makes a task
// with calls of its own.
func (r *clusterRig) submitTask(prefix string) (id, key string) {
	for attempt := 0; r.ctx.Err() == nil; attempt++ {
		key = fmt.Sprintf("%s-a%d", prefix, attempt)
		rctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
		s, err := r.cl.CreateTask(rctx, &bus.CreateTaskRequest{Goal: "cluster-task " + key})
		cancel()
		if err == nil {
			return s.ID, key
		}
		r.log.Info().Err(err).Str("key", key).Msg("test: submit failed; retrying")
		sleep(r.ctx, 250*time.Millisecond)
	}
	r.t.Errorf("submit %s: %v", prefix, r.ctx.Err())
	return "", ""
}

// allCompleted waits until at least n tasks are listed, all completed.
func (r *clusterRig) allCompleted(g *Gateway, n int, within time.Duration) []*bus.Summary {
	var all []*bus.Summary
	eventually(r.t, within, "every task completed", func() (bool, string) {
		ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
		defer cancel()
		var err error
		if all, err = g.summaries.List(ctx); err != nil {
			return false, err.Error()
		}
		states := map[bus.State]int{}
		for _, s := range all {
			states[s.State]++
		}
		return len(all) >= n && states[bus.StateCompleted] == len(all), fmt.Sprintf("%d tasks: %v", len(all), states)
	})
	return all
}

// tasksInLog lists the ids of the tasks whose created event the task log
// stores, whatever the summaries say.
func (r *clusterRig) tasksInLog(ctx context.Context, g *Gateway) ([]string, error) {
	s, err := g.js.Stream(ctx, bus.TaskStream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(bus.TaskEventSubject("*", "*", bus.TypeCreated)))
	if err != nil {
		return nil, err
	}
	var ids []string
	for subject := range info.State.Subjects {
		ids = append(ids, bus.TaskIDFromSubject(subject))
	}
	return ids, nil
}

// replay reads a task's events (those that fit it), trying again when a
// read gets no answer.
func replay(ctx context.Context, g *Gateway, id string, onReject func(error)) ([]*bus.Event, error) {
	for {
		var events []*bus.Event
		var rejected []error
		err := func() error {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			for ev, err := range g.tasks.Replay(cctx, id, bus.ReplayOptions{OnReject: func(err error) { rejected = append(rejected, err) }}) {
				if err != nil {
					return err
				}
				events = append(events, ev)
			}
			return nil
		}()
		if err == nil {
			if onReject != nil {
				for _, r := range rejected {
					onReject(r)
				}
			}
			return events, nil
		}
		if ctx.Err() != nil || !bus.Transient(ctx, err) {
			return nil, fmt.Errorf("replay %s: %w", id, err)
		}
	}
}

// caller is a model that makes one shell call per task and answers once it
// has the call's result. The call's id is the task's key (from its goal,
// "cluster-task <key>"), so a model asked again for the same task gives
// the same id; the command appends the id to the effects file, one line
// per execution.
type caller struct {
	effects string
	delay   time.Duration
}

func (m caller) GenerateContent(ctx context.Context, msgs []llms.MessageContent, _ ...llms.CallOption) (*llms.ContentResponse, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(m.delay):
	}
	key, results := "", 0
	for _, msg := range msgs {
		switch msg.Role {
		case llms.ChatMessageTypeHuman:
			for _, p := range msg.Parts {
				if text, ok := p.(llms.TextContent); ok && key == "" {
					if _, rest, ok := strings.Cut(text.Text, "cluster-task "); ok {
						key = strings.Fields(rest)[0]
					}
				}
			}
		case llms.ChatMessageTypeTool:
			results++
		}
	}
	if key == "" {
		return nil, errors.New("not a cluster-task conversation")
	}
	if results == 0 {
		id := key + "-call"
		args, err := json.Marshal(map[string]string{"command": "echo " + id + " >> " + m.effects})
		if err != nil {
			return nil, err
		}
		return &llms.ContentResponse{Choices: []*llms.ContentChoice{{ToolCalls: []llms.ToolCall{{
			ID: id, Type: "function", FunctionCall: &llms.FunctionCall{Name: "shell", Arguments: string(args)}}}}}}, nil
	}
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: "done " + key}}}, nil
}

func (m caller) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, opts...)
}

// readEffects counts the executions recorded in the effects file per call
// id.
func readEffects(t *testing.T, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]int{}
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out[line]++
		}
	}
	return out
}

// failureLog is a logger whose lines (info and above) are printed when the
// test fails (the last 400 of them), or when dump is called.
func failureLog(t *testing.T) (_ zerolog.Logger, dump func(why string)) {
	var (
		mu  sync.Mutex
		buf bytes.Buffer
	)
	dump = func(why string) {
		mu.Lock()
		defer mu.Unlock()
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) > 400 {
			lines = lines[len(lines)-400:]
		}
		t.Logf("%s; last %d log lines:\n%s", why, len(lines), strings.Join(lines, "\n"))
	}
	t.Cleanup(func() {
		if t.Failed() {
			dump("failed")
		}
	})
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	})
	return zerolog.New(w).With().Timestamp().Logger().Level(zerolog.InfoLevel), dump
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
