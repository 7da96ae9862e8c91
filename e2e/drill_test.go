package e2e

// Failure drills: tests that really kill, cut and restart the pieces of a
// running system and check that no task is lost, none runs twice where it
// must not, and every task's log stays one ordered story. The processes are
// the real binaries (vibergw, viberd, viber); where the drill is about a
// NATS server the test process runs it (bus/server) so it can stop and
// start it. Everything listens on loopback only. docs/reliability.md
// records what each drill does and what it found.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/server"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/schemas"
)

// drillAckWait is the work ack wait of every drill's gateway and daemons,
// so a dead daemon's assignment moves on quickly.
const drillAckWait = "2s"

// drill is one drill's view of a running system: the NATS URL, the
// environment the binaries get, and a client connection of its own that
// reconnects forever like the binaries do.
type drill struct {
	t      *testing.T
	url    string
	env    []string
	nc     *nats.Conn
	js     jetstream.JetStream
	client *client.Client
	log    *bus.Log
	valid  *schemas.Validator
}

func newDrill(t *testing.T, url string, fake *openaitest.Server) *drill {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("drills use POSIX signals")
	}
	d := &drill{t: t, url: url}
	d.env = append(modelEnv(fake), "VIBER_NATS_URL="+url, "NATS_URL=", "VIBER_HOME="+t.TempDir(), "VIBER_LOG_FORMAT=json")
	var err error
	if d.valid, err = schemas.NewValidator(); err != nil {
		t.Fatal(err)
	}
	return d
}

// connect opens the drill's own connection; the server must be up.
func (d *drill) connect() {
	d.t.Helper()
	nc, err := bus.Connect(bus.ConnectOptions{URL: d.url, Name: "drill"})
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(nc.Close)
	d.nc = nc
	if d.js, err = jetstream.New(nc); err != nil {
		d.t.Fatal(err)
	}
	if d.client, err = client.New(nc); err != nil {
		d.t.Fatal(err)
	}
	d.log = bus.NewLog(d.js)
}

// drillNATS runs a NATS server with JetStream in the test process.
func drillNATS(t *testing.T, dir, listen string) *server.Server {
	t.Helper()
	var srv *server.Server
	var err error
	// The port of a server just shut down can take a moment to free.
	for range 50 {
		if srv, err = server.Start(server.Options{Dir: dir, Listen: listen, StartTimeout: 10 * time.Second}); err == nil {
			return srv
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("start NATS on %s: %v", listen, err)
	return nil
}

// gatewayArgs are vibergw's arguments against an external NATS server.
func (d *drill) gatewayArgs(httpAddr string) []string {
	return []string{"--nats-url", d.url, "--http-listen", httpAddr, "--work-ack-wait", drillAckWait, "--id", "drill-gw", "--data", d.t.TempDir()}
}

// daemon starts a viberd process and waits until its presence says online.
func (d *drill) daemon(name string, capacity int) *proc {
	d.t.Helper()
	p := start(d.t, d.env, "viberd", "--nats-url", d.url, "--name", name, "--workspace", d.t.TempDir(),
		"--heartbeat", "200ms", "--work-ack-wait", drillAckWait, "--capacity", fmt.Sprint(capacity))
	d.waitOnline(name, 20*time.Second)
	return p
}

func (d *drill) waitOnline(name string, within time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		p, err := bus.OpenPresence(ctx, d.js)
		if err == nil {
			var info *bus.DaemonInfo
			if info, err = p.Get(ctx, name); err == nil && info.Online(time.Now()) {
				cancel()
				return
			}
		}
		cancel()
		time.Sleep(50 * time.Millisecond)
	}
	d.t.Fatalf("daemon %s not online within %s", name, within)
}

func (d *drill) ctx(within time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	d.t.Cleanup(cancel)
	return ctx
}

func (d *drill) submit(goal string) string {
	d.t.Helper()
	s, err := d.client.CreateTask(d.ctx(5*time.Second), &bus.CreateTaskRequest{Goal: goal})
	if err != nil {
		d.t.Fatalf("create %q: %v", goal, err)
	}
	return s.ID
}

// waitType follows a task until an event of type want is stored.
func (d *drill) waitType(id string, want bus.Type, within time.Duration) {
	d.t.Helper()
	var seen []*bus.Event
	for ev, err := range d.log.Replay(d.ctx(within), id, bus.ReplayOptions{Follow: bus.Forever}) {
		if err != nil {
			d.t.Fatalf("waiting for %s in %s: %v (so far: %s)", want, id, err, types(seen))
		}
		seen = append(seen, ev)
		if ev.Type == want {
			return
		}
	}
}

// events reads a task's whole log and checks it is one story: seq 1..n
// without gaps, every event valid against its schema.
func (d *drill) events(id string) []*bus.Event {
	d.t.Helper()
	evs, err := d.log.Events(d.ctx(10*time.Second), id)
	if err != nil {
		d.t.Fatalf("events of %s: %v", id, err)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			d.t.Errorf("task %s: event %d has seq %d: %s", id, i, ev.Seq, types(evs))
		}
		b, err := json.Marshal(ev)
		if err != nil {
			d.t.Fatal(err)
		}
		if err := d.valid.Validate(b); err != nil {
			d.t.Errorf("task %s: event %d (%s) does not match its schema: %v", id, ev.Seq, ev.Type, err)
		}
	}
	return evs
}

// waitEnded polls the log until every task's last event ends it and
// returns how long that took.
func (d *drill) waitEnded(ids []string, within time.Duration) time.Duration {
	d.t.Helper()
	began := time.Now()
	pending := append([]string(nil), ids...)
	for len(pending) > 0 {
		var still []string
		for _, id := range pending {
			last, err := d.log.Last(d.ctx(5*time.Second), id)
			if err != nil || !last.Type.Terminal() {
				still = append(still, id)
			}
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		if time.Since(began) > within {
			d.t.Fatalf("%d of %d tasks not ended within %s, e.g. %s", len(pending), len(ids), within, pending[0])
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(began)
}

// drillDefect fails the drill with the description of a defect it found
// before (both are fixed; the check stays so they cannot come back).
func drillDefect(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Errorf("defect: "+format, args...)
}

// cliList runs `viber task ls --json` and decodes it.
func (d *drill) cliList(extra ...string) (*bus.ListTasksResponse, error) {
	args := append([]string{"task", "ls", "--json", "--limit", "1000"}, extra...)
	stdout, stderr, code := run(d.t, d.env, "viber", args...)
	if code != 0 {
		return nil, fmt.Errorf("viber task ls: exit %d: %s", code, stderr)
	}
	var resp bus.ListTasksResponse
	if err := json.Unmarshal([]byte(stdout), &resp); err != nil {
		return nil, fmt.Errorf("viber task ls --json: %v\n%s", err, stdout)
	}
	return &resp, nil
}

// waitAllCompleted polls `viber task ls --json` until n tasks exist and
// all are completed.
func (d *drill) waitAllCompleted(n int, within time.Duration) *bus.ListTasksResponse {
	d.t.Helper()
	deadline := time.Now().Add(within)
	var last *bus.ListTasksResponse
	var lastErr error
	for time.Now().Before(deadline) {
		last, lastErr = d.cliList()
		if lastErr == nil && last.Total >= n {
			done := 0
			for _, s := range last.Tasks {
				if s.State == bus.StateCompleted {
					done++
				}
			}
			if done == last.Total {
				return last
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	if lastErr != nil {
		d.t.Fatalf("tasks not all completed within %s: %v", within, lastErr)
	}
	states := map[bus.State]int{}
	for _, s := range last.Tasks {
		states[s.State]++
	}
	d.t.Fatalf("tasks not all completed within %s: total %d (want %d), states %v", within, last.Total, n, states)
	return nil
}

// drillKill9 sends SIGKILL and reaps the process.
func drillKill9(t *testing.T, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %s: %v", p.cmd.Path, err)
	}
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("%s after SIGKILL: %v", p.cmd.Path, err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("%s did not die of SIGKILL: %v", p.cmd.Path, err)
	}
}

// drillModelCalls counts the model requests per last user message.
func drillModelCalls(fake *openaitest.Server) map[string]int {
	out := map[string]int{}
	for _, r := range fake.Requests() {
		out[r.LastUser()]++
	}
	return out
}

func drillDelayedEcho(d time.Duration) func(*openaitest.Request) openaitest.Reply {
	return func(r *openaitest.Request) openaitest.Reply {
		time.Sleep(d)
		return openaitest.Echo(r)
	}
}

// TestDrillKillDaemonMidTask: viberd gets SIGKILL while its model call
// hangs; the task finishes on another viberd process.
func TestDrillKillDaemonMidTask(t *testing.T) {
	t.Parallel()
	began := time.Now()
	var calls atomic.Int32
	fake := openaitest.New(t, func(r *openaitest.Request) openaitest.Reply {
		if calls.Add(1) == 1 {
			return openaitest.Reply{Hang: true} // daemon a's call never returns
		}
		return openaitest.Echo(r)
	})
	natsAddr, httpAddr := freeAddr(t), freeAddr(t)
	d := newDrill(t, "nats://"+natsAddr, fake)
	gw := start(t, append(d.env, "VIBER_NATS_URL="), "vibergw", "--data", t.TempDir(), "--nats-listen", natsAddr,
		"--http-listen", httpAddr, "--work-ack-wait", drillAckWait)
	waitHealthy(t, httpAddr, gw)
	d.connect()
	a := d.daemon("a", 4)

	id := d.submit("survive kill -9")
	d.waitType(id, bus.TypeStarted, 15*time.Second)
	select {
	case <-fake.Arrived():
	case <-time.After(10 * time.Second):
		t.Fatal("daemon a never called the model")
	}
	d.daemon("b", 4)
	killed := time.Now()
	drillKill9(t, a)

	var events []*bus.Event
	for ev, err := range d.log.Replay(d.ctx(30*time.Second), id, bus.ReplayOptions{Follow: bus.UntilEnd}) {
		if err != nil {
			t.Fatalf("follow after kill: %v (so far %s)\ngateway:\n%s", err, types(events), gw.out.String())
		}
		events = append(events, ev)
	}
	recovered := time.Since(killed)
	events = d.events(id)
	if got, want := types(events), "created assigned started assigned started message completed"; got != want {
		t.Fatalf("events: %s, want %s", got, want)
	}
	first, second := payload[bus.Assigned](t, events[1]), payload[bus.Assigned](t, events[3])
	if first.Daemon != "a" || second.Daemon != "b" || second.Attempt < 2 {
		t.Fatalf("assignments: %+v then %+v", first, second)
	}
	if s := payload[bus.Started](t, events[4]); !s.Resumed || s.Daemon != "b" {
		t.Fatalf("second start: %+v", s)
	}
	if res := payload[bus.Completed](t, events[6]).Result; res != "echo: survive kill -9" {
		t.Fatalf("result %q", res)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := d.client.Task(d.ctx(5*time.Second), id)
		if err == nil && s.State == bus.StateCompleted && s.Daemon == "b" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("summary after recovery: %+v %v", s, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(fake.Requests()); n != 2 {
		t.Errorf("model called %d times, want 2 (one hung, one answered)", n)
	}
	t.Logf("drill kill-daemon: completed on b %s after the kill; drill took %s", recovered.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}

// TestDrillGatewayKilledUnderLoad: vibergw (against a NATS server of its
// own, so only the gateway dies) gets SIGKILL while 50 tasks are being
// submitted and run, and is restarted. Every task completes exactly once
// and the summaries are right.
func TestDrillGatewayKilledUnderLoad(t *testing.T) {
	t.Parallel()
	began := time.Now()
	const total, first = 50, 30
	fake := openaitest.New(t, drillDelayedEcho(300*time.Millisecond))
	srv := drillNATS(t, t.TempDir(), "127.0.0.1:0")
	t.Cleanup(srv.Shutdown)
	d := newDrill(t, srv.ClientURL(), fake)
	d.connect()
	httpAddr := freeAddr(t)
	args := d.gatewayArgs(httpAddr)
	gw := start(t, d.env, "vibergw", args...)
	waitHealthy(t, httpAddr, gw)
	d.daemon("d1", 4)
	d.daemon("d2", 4)

	goal := func(i int) string { return fmt.Sprintf("drill load task %02d", i) }
	ids := map[string]bool{}
	var firstID string
	for i := range first {
		id := d.submit(goal(i))
		ids[id] = true
		if i == 0 {
			firstID = id
		}
	}
	// Some are done, many are queued or running when the gateway dies;
	// the rest are submitted around the kill, retried while it is down.
	d.waitType(firstID, bus.TypeCompleted, 30*time.Second)
	var (
		mu       sync.Mutex
		retried  = map[string]int{}
		created  = map[string]string{}
		fiveIn   = make(chan struct{})
		subDone  = make(chan struct{})
		subErr   error
		fiveOnce sync.Once
	)
	go func() {
		defer close(subDone)
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		for i := first; i < total; i++ {
			for {
				cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
				s, err := d.client.CreateTask(cctx, &bus.CreateTaskRequest{Goal: goal(i)})
				ccancel()
				if err == nil {
					mu.Lock()
					created[goal(i)] = s.ID
					if len(created) == 5 {
						fiveOnce.Do(func() { close(fiveIn) })
					}
					mu.Unlock()
					break
				}
				if !errors.Is(err, bus.ErrUnavailable) || ctx.Err() != nil {
					subErr = fmt.Errorf("create %q: %w", goal(i), err)
					return
				}
				mu.Lock()
				retried[goal(i)]++
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		}
	}()
	select {
	case <-fiveIn:
	case <-subDone:
		t.Fatalf("submitter ended early: %v", subErr)
	}
	killed := time.Now()
	drillKill9(t, gw)
	time.Sleep(time.Second)
	gw2 := start(t, d.env, "vibergw", args...)
	waitHealthy(t, httpAddr, gw2)
	restarted := time.Since(killed)
	if c, err := d.js.Consumer(d.ctx(5*time.Second), bus.TaskStream, bus.ProjectorConsumer); err == nil {
		if info, err := c.Info(d.ctx(5 * time.Second)); err == nil {
			t.Logf("projector consumer after the restart: %d delivered but unacked (held by the dead gateway), %d redelivered, %d pending", info.NumAckPending, info.NumRedelivered, info.NumPending)
		}
	}
	<-subDone
	if subErr != nil {
		t.Fatal(subErr)
	}
	for _, id := range created {
		ids[id] = true
	}

	// The log first, then the summaries the projector folds from it.
	var idList []string
	for id := range ids {
		idList = append(idList, id)
	}
	d.waitEnded(idList, 60*time.Second)
	logsDone := time.Since(killed)
	list := d.waitAllCompleted(total, 60*time.Second)
	settled := time.Since(killed)
	lag := settled - logsDone
	// Group by goal: a second task with one goal could only come from a
	// create retried after a reply lost with the gateway.
	byGoal := map[string][]*bus.Summary{}
	for _, s := range list.Tasks {
		byGoal[s.Goal] = append(byGoal[s.Goal], s)
	}
	for i := range total {
		g := goal(i)
		switch n := len(byGoal[g]); {
		case n == 0:
			t.Errorf("task %q lost", g)
		case n > 1 && retried[g] == 0:
			t.Errorf("task %q exists %d times without a retried create", g, n)
		case n > 1:
			t.Logf("finding: %q exists %d times: a create whose reply died with the gateway was retried (creates are not idempotent)", g, n)
		}
	}
	if list.Total != len(list.Tasks) || list.Total < total {
		t.Errorf("viber task ls: total %d, %d listed, want at least %d", list.Total, len(list.Tasks), total)
	}
	for id := range ids {
		found := false
		for _, s := range list.Tasks {
			found = found || s.ID == id
		}
		if !found {
			t.Errorf("task %s acknowledged to the client is missing from viber task ls", id)
		}
	}
	reqs := drillModelCalls(fake)
	for _, s := range list.Tasks {
		events := d.events(s.ID)
		// The daemons never died: each task ran exactly once.
		if got, want := types(events), "created assigned started message completed"; got != want {
			t.Errorf("task %s (%s): events %s, want %s", s.ID, s.Goal, got, want)
			continue
		}
		ran := payload[bus.Assigned](t, events[1]).Daemon
		res := payload[bus.Completed](t, events[4]).Result
		if s.State != bus.StateCompleted || s.Result != "echo: "+s.Goal || s.Result != res || s.Daemon != ran || s.LastSeq != events[4].Seq {
			t.Errorf("summary of %s does not match its log: %+v (daemon %s, result %q)", s.ID, s, ran, res)
		}
	}
	for g, tasks := range byGoal {
		if reqs[g] != len(tasks) {
			t.Errorf("goal %q: model called %d times for %d task(s)", g, reqs[g], len(tasks))
		}
	}
	done, err := d.cliList("--state", "completed")
	if err != nil || done.Total != list.Total {
		t.Errorf("viber task ls --state completed: %+v %v", done, err)
	}
	mu.Lock()
	nRetried := len(retried)
	mu.Unlock()
	t.Logf("drill gateway-kill: %d tasks, gateway healthy again %s after SIGKILL, every log ended %s and every summary completed %s after it; %d creates retried while it was down; drill took %s",
		list.Total, restarted.Round(time.Millisecond), logsDone.Round(time.Millisecond), settled.Round(time.Millisecond), nRetried, time.Since(began).Round(time.Millisecond))
	if lag > 10*time.Second {
		drillDefect(t, "task summaries lagged the log by %s after the gateway's SIGKILL: gateway/projector.go startProjector gives the durable projector consumer AckWait 30s and pulls up to 256 events ahead, so events the dead gateway had pulled but not folded come back only after 30 s and `viber task ls` shows finished tasks as running until then", lag.Round(time.Millisecond))
	}
}

// TestDrillNATSRestart: the NATS server under vibergw and two viberd is
// shut down, left down for 2 s and started again on the same port and
// store; the processes reconnect by themselves and no task is lost.
func TestDrillNATSRestart(t *testing.T) {
	t.Parallel()
	began := time.Now()
	fake := openaitest.New(t, drillDelayedEcho(300*time.Millisecond))
	dir, addr := t.TempDir(), freeAddr(t)
	var srvMu sync.Mutex
	srv := drillNATS(t, dir, addr)
	t.Cleanup(func() {
		srvMu.Lock()
		defer srvMu.Unlock()
		if srv != nil {
			srv.Shutdown()
		}
	})
	d := newDrill(t, "nats://"+addr, fake)
	d.connect()
	httpAddr := freeAddr(t)
	gw := start(t, d.env, "vibergw", d.gatewayArgs(httpAddr)...)
	waitHealthy(t, httpAddr, gw)
	d1 := d.daemon("d1", 2)
	d2 := d.daemon("d2", 2)

	var ids []string
	goals := map[string]string{}
	for i := range 10 {
		g := fmt.Sprintf("before restart %d", i)
		id := d.submit(g)
		ids, goals[id] = append(ids, id), g
	}
	d.waitType(ids[0], bus.TypeCompleted, 20*time.Second)

	srvMu.Lock()
	srv.Shutdown()
	srv = nil
	srvMu.Unlock()
	down := time.Now()
	time.Sleep(2 * time.Second)
	srvMu.Lock()
	srv = drillNATS(t, dir, addr)
	srvMu.Unlock()
	up := time.Now()

	// The gateway answers again once it has reconnected.
	var back time.Duration
	for {
		_, err := d.client.ListTasks(d.ctx(2*time.Second), &bus.ListTasksRequest{})
		if err == nil {
			back = time.Since(up)
			break
		}
		if time.Since(up) > 30*time.Second {
			t.Fatalf("gateway did not answer within 30 s of the restart: %v\ngateway:\n%s", err, gw.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.waitOnline("d1", 30*time.Second)
	d.waitOnline("d2", 30*time.Second)
	daemonsBack := time.Since(up)
	for i := range 10 {
		g := fmt.Sprintf("after restart %d", i)
		id := d.submit(g)
		ids, goals[id] = append(ids, id), g
	}
	d.waitEnded(ids, 60*time.Second)
	settled := time.Since(up)
	reruns := 0
	final := map[string]bus.State{}
	var failed []string
	for _, id := range ids {
		events := d.events(id)
		ty := types(events)
		if len(events) < 4 || events[0].Type != bus.TypeCreated || events[1].Type != bus.TypeAssigned || events[2].Type != bus.TypeStarted {
			t.Errorf("task %s (%s): events %s", id, goals[id], ty)
			continue
		}
		ends := 0
		for i, ev := range events {
			if ev.Type.Terminal() {
				ends++
			}
			switch ev.Type {
			case bus.TypeStarted:
				if events[i-1].Type != bus.TypeAssigned {
					t.Errorf("task %s: started not right after assigned: %s", id, ty)
				}
			case bus.TypeCreated:
				if i != 0 {
					t.Errorf("task %s: created at %d: %s", id, i, ty)
				}
			}
		}
		last := events[len(events)-1]
		if ends != 1 || !last.Type.Terminal() {
			t.Errorf("task %s: %d terminal events: %s", id, ends, ty)
			continue
		}
		switch last.Type {
		case bus.TypeCompleted:
			final[id] = bus.StateCompleted
			if res := payload[bus.Completed](t, last).Result; res != "echo: "+goals[id] {
				t.Errorf("task %s: result %q", id, res)
			}
			if events[len(events)-2].Type != bus.TypeMessage {
				t.Errorf("task %s: completed without its message: %s", id, ty)
			}
		case bus.TypeFailed:
			final[id] = bus.StateFailed
			f := payload[bus.Failed](t, last)
			failed = append(failed, fmt.Sprintf("%s (%s): %s [%s]", id, ty, f.Error, f.Code))
		default:
			t.Errorf("task %s: ended %s", id, ty)
		}
		if strings.Count(ty, "started") > 1 {
			reruns++
			t.Logf("task %s resumed after the outage: %s", id, ty)
		}
	}
	// The summaries agree with the logs.
	var list *bus.ListTasksResponse
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		list, err = d.cliList()
		agree := err == nil && list.Total == len(ids)
		for _, s := range drillTasks(list) {
			agree = agree && s.State == final[s.ID]
		}
		if agree {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("viber task ls disagrees with the logs: %v %+v", err, list)
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, p := range []*proc{gw, d1, d2} {
		if !strings.Contains(p.out.String(), "NATS reconnected") {
			t.Errorf("%s never logged a reconnect:\n%s", p.cmd.Path, p.out.String())
		}
	}
	// A redelivered assignment of a task whose owner still looks alive is
	// acked and dropped by the other daemon: the owner then holds no
	// assignment, and a task it hands back waits for the gateway's sweeper.
	dropped := strings.Count(d1.out.String(), "dropping the duplicate assignment") + strings.Count(d2.out.String(), "dropping the duplicate assignment")
	t.Logf("drill nats-restart: down %s; gateway answering %s after the restart, daemons online %s after it; %d tasks all ended %s after it (%d resumed, %d failed); %d redelivered assignments dropped as duplicates; drill took %s",
		up.Sub(down).Round(time.Millisecond), back.Round(time.Millisecond), daemonsBack.Round(time.Millisecond), len(ids), settled.Round(time.Millisecond), reruns, len(failed), dropped, time.Since(began).Round(time.Millisecond))
	if len(failed) > 0 {
		drillDefect(t, "%d task(s) running during the NATS outage FAILED instead of resuming: daemon/task.go execute treats every error of agent.Run as a model failure (bus.FailModel), including the task-log read of the runtime (runtime.Events -> bus.Log.Events) that fails while NATS is away; it should return interrupted/retryLater so the assignment is redelivered and resumed. Failed: %s", len(failed), strings.Join(failed, "; "))
	}
}

func drillTasks(l *bus.ListTasksResponse) []*bus.Summary {
	if l == nil {
		return nil
	}
	return l.Tasks
}

// TestDrillUnusableStore: vibergw and `viber up` started on a store that
// cannot be used end quickly with a clear error naming the directory and a
// non-zero exit code, never a panic.
func TestDrillUnusableStore(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("uses Linux credentials and namespaces")
	}
	type store struct {
		name string
		// prepare returns the --data directory and how to run the command.
		prepare func(t *testing.T) (dir string, wrap func(*exec.Cmd))
		// says is what the error must mention besides the directory.
		says string
	}
	stores := []store{
		{name: "under-a-file", says: "not a directory", prepare: func(t *testing.T) (string, func(*exec.Cmd)) {
			f := filepath.Join(t.TempDir(), "a-file")
			if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(f, "store"), nil
		}},
		{name: "permission-denied", says: "permission denied", prepare: func(t *testing.T) (string, func(*exec.Cmd)) {
			dir := drillWorldDir(t)
			data := filepath.Join(dir, "read-only")
			if err := os.Mkdir(data, 0o555); err != nil {
				t.Fatal(err)
			}
			if os.Geteuid() != 0 {
				return data, nil
			}
			// root ignores file modes: run the binary as nobody.
			return data, func(c *exec.Cmd) {
				c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, NoSetGroups: true}}
				c.Dir = dir
			}
		}},
		{name: "disk-full", says: "no space left", prepare: func(t *testing.T) (string, func(*exec.Cmd)) {
			// A 64 KiB tmpfs, filled up, in a private mount namespace.
			unshare, err := exec.LookPath("unshare")
			if err != nil {
				t.Skip("no unshare(1): cannot make a full file system")
			}
			if out, err := exec.Command(unshare, "-Urm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt").CombinedOutput(); err != nil {
				t.Skipf("no user namespaces here (%v: %s): cannot make a full file system", err, out)
			}
			mnt := t.TempDir()
			return mnt, func(c *exec.Cmd) {
				script := `mount -t tmpfs -o size=64k tmpfs "$0" || exit 97; dd if=/dev/zero of="$0/fill" bs=4k >/dev/null 2>&1; exec "$@"`
				c.Args = append([]string{unshare, "-Urm", "sh", "-c", script, mnt, c.Path}, c.Args[1:]...)
				c.Path = unshare
			}
		}},
	}
	for _, st := range stores {
		for _, cmd := range []string{"vibergw", "viber up"} {
			t.Run(st.name+"/"+strings.ReplaceAll(cmd, " ", "-"), func(t *testing.T) {
				t.Parallel()
				dir, wrap := st.prepare(t)
				bin, args := cmd, []string{}
				if cmd == "viber up" {
					bin, args = "viber", []string{"up"}
				}
				args = append(args, "--data", dir, "--nats-listen", freeAddr(t), "--http-listen", freeAddr(t))
				out, code, took := drillRunUnusable(t, bin, wrap, args...)
				t.Logf("%s --data %s: exit %d after %s: %s", cmd, dir, code, took.Round(time.Millisecond), strings.TrimSpace(out))
				if code == 97 {
					t.Skip("could not mount a tmpfs in the namespace")
				}
				if code == 0 || code == -1 {
					t.Errorf("exit code %d, want a non-zero exit", code)
				}
				if took > 10*time.Second {
					t.Errorf("took %s to give up", took)
				}
				if !strings.Contains(out, dir) {
					t.Errorf("the error does not name the directory %s", dir)
				}
				if !strings.Contains(strings.ToLower(out), st.says) {
					t.Errorf("the error does not say %q", st.says)
				}
				for _, bad := range []string{"panic:", "goroutine ", "SIGSEGV", ".go:"} {
					if strings.Contains(out, bad) {
						t.Errorf("output has %q: a crash, not a clear error", bad)
					}
				}
				if strings.Count(strings.TrimSpace(out), "\n") > 3 {
					t.Errorf("the error is not short (%d lines)", strings.Count(out, "\n")+1)
				}
			})
		}
	}
}

// drillWorldDir is a temporary directory anyone may enter, holding copies of
// the binaries anyone may run (t.TempDir and the build directory are
// private to the user).
func drillWorldDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "viber-drill-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = filepath.WalkDir(dir, func(p string, _ os.DirEntry, _ error) error { _ = os.Chmod(p, 0o755); return nil })
		_ = os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"viber", "vibergw"} {
		src, err := os.Open(filepath.Join(binaries(t), name))
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		if err := dst.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// drillRunUnusable runs a binary that should refuse to start and returns its
// combined output, exit code and run time. wrap may change the command
// (credentials, a wrapper); a binary run under other credentials is taken
// from the command's directory when it has a copy there.
func drillRunUnusable(t *testing.T, name string, wrap func(*exec.Cmd), args ...string) (string, int, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binaries(t), name), args...)
	cmd.Env = append(os.Environ(), "VIBER_HOME="+t.TempDir(), "VIBER_NATS_URL=", "VIBER_LOG_FORMAT=json")
	if wrap != nil {
		wrap(cmd)
		if cmd.SysProcAttr != nil && cmd.Dir != "" {
			cmd.Path = filepath.Join(cmd.Dir, name)
			cmd.Args[0] = cmd.Path
			cmd.Env = append(cmd.Env, "VIBER_HOME="+filepath.Join(cmd.Dir, "home"))
		}
	}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	began := time.Now()
	err := cmd.Run()
	took := time.Since(began)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v still running after 30 s:\n%s", name, args, out.String())
	}
	return out.String(), code, took
}
