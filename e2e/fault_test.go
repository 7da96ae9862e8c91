package e2e

// The fault campaign: a seeded, randomized run of the real binaries (one
// vibergw with its embedded NATS, three viberd, each reaching NATS through
// a TCP proxy the test can cut) under a mixed load of tasks, while faults
// chosen by the seed hit them: kill -9 of a daemon (restarted with the same
// --name), SIGSTOP of a daemon past the work ack wait, a daemon's
// connection cut for 1-5 s, kill -9 of the gateway (and with it the NATS
// server) restarted on the same store. When the faults stop and everything
// is healed, every task's log is read from the stream and checked by
// internal/taskcheck, with the shell side effects counted per tool call.
//
//	go test -run TestFaultCampaign -v ./e2e/                  # ~30 faults, a few minutes
//	FAULT_SEED=42 go test -run TestFaultCampaign -v ./e2e/    # replay a seed's choices
//	FAULTS=1000 go test -run TestFaultCampaign -timeout 3h -v ./e2e/
//	FAULTS_STRICT=0 ...                                       # report violations without failing
//
// docs/reliability.md describes the campaign and keeps its figures.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
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
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/internal/taskcheck"
)

const (
	// faultAckWait is the work ack wait of the campaign's gateway and
	// daemons: a frozen daemon loses its task after it.
	faultAckWait = 2 * time.Second
	// faultDefault is how many faults a run without FAULTS makes.
	faultDefault = 30
	// faultDaemons is how many viberd run.
	faultDaemons = 3
	// faultPerFault bounds the campaign's fault phase: a loaded machine
	// makes fewer faults rather than running long.
	faultPerFault = 4 * time.Second
	// faultKeyPrefix starts each daemon's model API key; the rest is its
	// name.
	faultKeyPrefix = "sk-fault-"
)

// faultConfig is what the environment says about a run.
type faultConfig struct {
	seed   uint64
	faults int
	strict bool
}

func faultConfigFromEnv(t *testing.T) faultConfig {
	t.Helper()
	c := faultConfig{seed: uint64(time.Now().UnixNano()), faults: faultDefault, strict: os.Getenv("FAULTS_STRICT") != "0"}
	if s := os.Getenv("FAULT_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FAULT_SEED=%q: want an unsigned integer", s)
		}
		c.seed = v
	}
	if s := os.Getenv("FAULTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			t.Fatalf("FAULTS=%q: want a count of faults", s)
		}
		c.faults = v
	}
	return c
}

// fproc is one run of a binary, its output going to a file.
type fproc struct {
	label string
	cmd   *exec.Cmd
	log   string
	done  chan struct{}
	err   error
	// killed is set when the campaign killed it on purpose.
	killed atomic.Bool
}

func (p *fproc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *fproc) signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// kill9 sends SIGKILL and waits for the process to be reaped.
func (p *fproc) kill9() {
	p.killed.Store(true)
	_ = p.signal(syscall.SIGKILL)
	<-p.done
}

// faultDaemon is one viberd name: its workspace and proxy outlive its
// processes.
type faultDaemon struct {
	name      string
	workspace string
	proxy     *linkProxy
	p         *fproc
	runs      int
}

// campaign is one fault campaign's system and bookkeeping.
type campaign struct {
	t      *testing.T
	cfg    faultConfig
	began  time.Time
	logDir string
	env    []string // for every binary
	cliEnv []string // for the viber CLI

	natsAddr, httpAddr, gwData string
	gw                         *fproc
	gwRuns                     int
	daemons                    []*faultDaemon

	nc     *nats.Conn
	js     jetstream.JetStream
	client *client.Client

	model      *openaitest.Server
	modelCalls atomic.Int64
	inFlight   sync.Map // daemon name -> *atomic.Int32: model calls under way
	sidefx     string

	mu      sync.Mutex
	known   []string // tasks whose create was acknowledged
	nextKey int
	counts  map[string]int // workload and fault counters
	notes   []string       // what went wrong with the rig itself
}

func (c *campaign) count(what string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[what] += n
}

func (c *campaign) note(format string, args ...any) {
	msg := fmt.Sprintf("%6.1fs ", time.Since(c.began).Seconds()) + fmt.Sprintf(format, args...)
	c.mu.Lock()
	c.notes = append(c.notes, msg)
	c.mu.Unlock()
	c.t.Log(msg)
}

// launch starts a binary with its output in logDir/<label>.log and makes
// sure it is dead when the test ends, even a stopped one.
func (c *campaign) launch(label, name string, env []string, args ...string) *fproc {
	c.t.Helper()
	path := filepath.Join(c.logDir, label+".log")
	f, err := os.Create(path)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binaries(c.t), name), args...)
	cmd.Env = append(append(os.Environ(), c.env...), env...)
	cmd.Stdout, cmd.Stderr = f, f
	p := &fproc{label: label, cmd: cmd, log: path, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		f.Close()
		c.t.Fatalf("start %s: %v", label, err)
	}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	c.t.Cleanup(func() {
		if !p.exited() {
			p.kill9()
		}
	})
	return p
}

func (c *campaign) startGateway() {
	c.t.Helper()
	for attempt := 1; ; attempt++ {
		c.gwRuns++
		c.gw = c.launch(fmt.Sprintf("vibergw.%d", c.gwRuns), "vibergw", nil, "--data", c.gwData, "--nats-listen", c.natsAddr,
			"--http-listen", c.httpAddr, "--work-ack-wait", faultAckWait.String(), "--id", "faults-gw")
		err := c.waitHealthy(30 * time.Second)
		if err == nil {
			return
		}
		// The ports of a just-killed gateway can take a moment to free.
		if !c.gw.exited() || attempt == 5 {
			c.t.Fatalf("gateway run %d: %v (log %s)", c.gwRuns, err, c.gw.log)
		}
		c.note("gateway run %d exited at start (%v); starting it again", c.gwRuns, c.gw.err)
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *campaign) waitHealthy(within time.Duration) error {
	deadline := time.Now().Add(within)
	hc := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		if c.gw.exited() {
			return fmt.Errorf("exited: %v", c.gw.err)
		}
		resp, err := hc.Get("http://" + c.httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not healthy within %s", within)
}

func (c *campaign) startDaemon(d *faultDaemon) {
	c.t.Helper()
	d.runs++
	d.p = c.launch(fmt.Sprintf("viberd-%s.%d", d.name, d.runs), "viberd",
		// The key tells the scripted model which daemon calls it.
		[]string{"VIBER_API_KEY=" + faultKeyPrefix + d.name},
		"--nats-url", "nats://"+d.proxy.ln.Addr().String(),
		"--name", d.name, "--workspace", d.workspace, "--heartbeat", "200ms", "--work-ack-wait", faultAckWait.String(), "--capacity", "3")
	if err := c.waitOnline(d.name, 20*time.Second); err != nil {
		c.note("daemon %s run %d: %v (log %s)", d.name, d.runs, err, d.p.log)
	}
}

func (c *campaign) waitOnline(name string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		p, err := bus.OpenPresence(ctx, c.js)
		if err == nil {
			var info *bus.DaemonInfo
			if info, err = p.Get(ctx, name); err == nil && info.Online(time.Now()) {
				cancel()
				return nil
			}
		}
		cancel()
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not online within %s", within)
}

// revive restarts what died without being killed (a crash is a finding).
func (c *campaign) revive() {
	c.t.Helper()
	if c.gw.exited() && !c.gw.killed.Load() {
		c.note("FINDING: gateway run %d exited by itself: %v (log %s)", c.gwRuns, c.gw.err, c.gw.log)
		c.count("crash gateway", 1)
		c.startGateway()
	}
	for _, d := range c.daemons {
		if d.p.exited() && !d.p.killed.Load() {
			c.note("FINDING: daemon %s run %d exited by itself: %v (log %s)", d.name, d.runs, d.p.err, d.p.log)
			c.count("crash daemon", 1)
			c.startDaemon(d)
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func between(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)+1))
}

// The scripted model. A task's goal says what the model does with it:
//
//	fault-task K000012 steps=2 delay=300ms
//
// Each model call answers, after delay, with one shell call while the
// current turn (since the last user message) has had fewer than steps tool
// results, and then with a final answer. A call's id names its task and its
// place in the conversation (user messages so far, tool results since the
// last), so a model asked again at the same point — a stale daemon and the
// one that took its task over — gives the same id: a second stored call or
// a second execution is caught. An answer carries a number unique to the
// model call, so an answer asked for again differs. The shell command
// appends the call id to the side-effect file, one line per execution.
type faultSpec struct {
	key   string
	steps int
	delay time.Duration
}

func (s faultSpec) goal() string {
	return fmt.Sprintf("fault-task %s steps=%d delay=%s", s.key, s.steps, s.delay)
}

func parseFaultGoal(goal string) (faultSpec, bool) {
	f := strings.Fields(goal)
	if len(f) != 4 || f[0] != "fault-task" {
		return faultSpec{}, false
	}
	s := faultSpec{key: f[1]}
	steps, ok1 := strings.CutPrefix(f[2], "steps=")
	delay, ok2 := strings.CutPrefix(f[3], "delay=")
	var err1, err2 error
	s.steps, err1 = strconv.Atoi(steps)
	s.delay, err2 = time.ParseDuration(delay)
	return s, ok1 && ok2 && err1 == nil && err2 == nil
}

func (c *campaign) reply(r *openaitest.Request) openaitest.Reply {
	var spec faultSpec
	found := false
	for _, m := range r.Messages {
		if m.Role == "user" {
			if spec, found = parseFaultGoal(m.Text()); found {
				break
			}
		}
	}
	if !found {
		return openaitest.Reply{Status: http.StatusBadRequest, Error: "not a fault-task conversation"}
	}
	n := c.modelCalls.Add(1)
	if name, ok := strings.CutPrefix(r.Authorization, "Bearer "+faultKeyPrefix); ok {
		v, _ := c.inFlight.LoadOrStore(name, new(atomic.Int32))
		calls := v.(*atomic.Int32)
		calls.Add(1)
		defer calls.Add(-1)
	}
	time.Sleep(spec.delay)
	done, users := 0, 0
	for i := len(r.Messages) - 1; i >= 0; i-- {
		switch r.Messages[i].Role {
		case "user":
			users++
		case "tool":
			if users == 0 {
				done++
			}
		}
	}
	if done < spec.steps {
		id := fmt.Sprintf("%s-c%d.%d", spec.key, users, done)
		args, _ := json.Marshal(map[string]string{"command": "echo " + id + " >> " + c.sidefx})
		return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call(id, "shell", string(args))}}
	}
	return openaitest.Reply{Text: fmt.Sprintf("answer %s r%d", spec.key, n)}
}

// newSpec draws a task: trivial, one shell call, several, or slow.
func (c *campaign) newSpec(r *rand.Rand) faultSpec {
	c.mu.Lock()
	c.nextKey++
	key := fmt.Sprintf("K%06d", c.nextKey)
	c.mu.Unlock()
	s := faultSpec{key: key, delay: between(r, 10*time.Millisecond, 200*time.Millisecond)}
	switch x := r.IntN(100); {
	case x < 25: // trivial
	case x < 55:
		s.steps = 1
	case x < 80:
		s.steps = 2 + r.IntN(2)
	default: // slow model calls: faults land inside them
		s.steps, s.delay = r.IntN(3), between(r, 500*time.Millisecond, 2500*time.Millisecond)
	}
	return s
}

// submit creates a task, retrying with a fresh key while the gateway is
// away (creates are not idempotent: a retried create may make a second
// task, which is then just one more task to check).
func (c *campaign) submit(ctx context.Context, r *rand.Rand) {
	for ctx.Err() == nil {
		spec := c.newSpec(r)
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		s, err := c.client.CreateTask(cctx, &bus.CreateTaskRequest{Goal: spec.goal()})
		cancel()
		if err == nil {
			c.mu.Lock()
			c.known = append(c.known, s.ID)
			c.counts["tasks submitted"]++
			c.mu.Unlock()
			return
		}
		c.count("creates retried", 1)
		sleep(ctx, 200*time.Millisecond)
	}
}

// cli runs the viber CLI; it never touches t (it runs in goroutines).
func (c *campaign) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "viber"), args...)
	cmd.Env = append(os.Environ(), c.cliEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// workload submits tasks, sends follow-ups (`viber task send`, some
// steering) and cancels (`viber task cancel`) until ctx ends.
func (c *campaign) workload(ctx context.Context, cliDone *sync.WaitGroup) {
	r := rand.New(rand.NewPCG(c.cfg.seed, 2))
	slots := make(chan struct{}, 3) // CLI processes at once
	for ctx.Err() == nil {
		sleep(ctx, between(r, 150*time.Millisecond, 450*time.Millisecond))
		c.mu.Lock()
		n := len(c.known)
		var target string
		if n > 0 {
			// Mostly recent tasks, so follow-ups and cancels meet running ones.
			target = c.known[n-1-r.IntN(min(n, 20))]
		}
		c.mu.Unlock()
		x := r.IntN(100)
		if x < 72 || target == "" {
			c.submit(ctx, r)
			continue
		}
		var args []string
		var what string
		switch {
		case x < 80:
			what, args = "follow-ups", []string{"task", "send", "--timeout", "3s", target, fmt.Sprintf("follow-up %d", r.IntN(1000))}
		case x < 86:
			what, args = "steers", []string{"task", "send", "--steer", "--timeout", "3s", target, fmt.Sprintf("steer %d", r.IntN(1000))}
		default:
			what, args = "cancels", []string{"task", "cancel", "--timeout", "3s", "--reason", "fault campaign", target}
		}
		select {
		case slots <- struct{}{}:
		default:
			c.count(what+" skipped (CLI busy)", 1)
			continue
		}
		cliDone.Add(1)
		go func() {
			defer cliDone.Done()
			defer func() { <-slots }()
			if _, err := c.cli(args...); err != nil {
				c.count(what+" refused or failed", 1)
				return
			}
			c.count(what+" sent", 1)
		}()
	}
}

// busy returns a daemon with a model call under way, looking from the
// first-th daemon on and waiting up to within for one, or nil.
func (c *campaign) busy(ctx context.Context, first int, within time.Duration) *faultDaemon {
	deadline := time.Now().Add(within)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		for i := range c.daemons {
			d := c.daemons[(first+i)%len(c.daemons)]
			if v, ok := c.inFlight.Load(d.name); ok && v.(*atomic.Int32).Load() > 0 {
				return d
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// fault makes one fault chosen by r and returns a line describing it. Most
// daemon faults are aimed: they hit a daemon while its model call is under
// way, the window where a daemon about to write a tool call or an answer
// loses its task (r still decides the kind, the durations and whether to
// aim; which daemon is busy is up to timing).
func (c *campaign) fault(ctx context.Context, r *rand.Rand) string {
	first := r.IntN(len(c.daemons))
	d := c.daemons[first]
	aim, offset := r.IntN(100) < 70, between(r, 0, 400*time.Millisecond)
	x := r.IntN(100)
	aimed := ""
	if aim && x < 85 {
		if b := c.busy(ctx, first, 2*time.Second); b != nil {
			d, aimed = b, fmt.Sprintf(" (aimed: %s into a model call)", offset.Round(time.Millisecond))
			sleep(ctx, offset)
			c.count("faults aimed at a model call", 1)
		}
	}
	return c.faultOn(ctx, r, d, x) + aimed
}

func (c *campaign) faultOn(ctx context.Context, r *rand.Rand, d *faultDaemon, x int) string {
	switch {
	case x < 30:
		down := between(r, 0, time.Second)
		d.p.kill9()
		sleep(ctx, down)
		c.startDaemon(d)
		c.count("fault daemon kill -9", 1)
		return fmt.Sprintf("kill -9 %s, restarted after %s", d.name, down.Round(time.Millisecond))
	case x < 55:
		hold := faultAckWait + between(r, 300*time.Millisecond, 2*time.Second)
		_ = d.p.signal(syscall.SIGSTOP)
		sleep(ctx, hold)
		_ = d.p.signal(syscall.SIGCONT)
		c.count("fault daemon SIGSTOP", 1)
		return fmt.Sprintf("SIGSTOP %s for %s", d.name, hold.Round(time.Millisecond))
	case x < 85:
		cut := between(r, time.Second, 5*time.Second)
		d.proxy.Cut()
		sleep(ctx, cut)
		d.proxy.Heal()
		c.count("fault connection cut", 1)
		return fmt.Sprintf("cut %s's connection for %s", d.name, cut.Round(time.Millisecond))
	default:
		down := between(r, 200*time.Millisecond, 2*time.Second)
		c.gw.kill9()
		sleep(ctx, down)
		began := time.Now()
		c.startGateway()
		c.count("fault gateway+NATS kill -9", 1)
		return fmt.Sprintf("kill -9 the gateway (and its NATS), down %s, healthy %s after the restart", down.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	}
}

// streamState is the last sequence of the task stream.
func (c *campaign) streamLast() (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s, err := c.js.Stream(ctx, bus.TaskStream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq, nil
}

// taskLogs is every task's events as stored, and what could not be read.
type taskLogs struct {
	events     map[string][]*bus.Event
	unreadable []taskcheck.Violation
	last       uint64
	total      int
}

// readAll reads the whole task stream with one ordered consumer, raw: no
// ordering check, no skipping, so the checker sees what is stored.
func (c *campaign) readAll(within time.Duration) (*taskLogs, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	last, err := c.streamLast()
	if err != nil {
		return nil, err
	}
	out := &taskLogs{events: map[string][]*bus.Event{}, last: last}
	if last == 0 {
		return out, nil
	}
	cons, err := c.js.OrderedConsumer(ctx, bus.TaskStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{bus.TaskSubjects()}})
	if err != nil {
		return nil, err
	}
	msgs, err := cons.Messages(jetstream.PullMaxMessages(1024))
	if err != nil {
		return nil, err
	}
	defer msgs.Stop()
	for {
		m, err := msgs.Next(jetstream.NextContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("read the task stream (at %d of %d events): %w", out.total, last, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return nil, err
		}
		id := bus.TaskIDFromSubject(m.Subject())
		out.total++
		if ev, err := bus.ParseEvent(m.Data()); err != nil {
			out.unreadable = append(out.unreadable, taskcheck.Violation{Task: id, Kind: taskcheck.Unreadable,
				Detail: fmt.Sprintf("stream message %d on %s: %v", md.Sequence.Stream, m.Subject(), err)})
		} else {
			ev.StreamSeq = md.Sequence.Stream
			out.events[id] = append(out.events[id], ev)
		}
		if md.Sequence.Stream >= last {
			return out, nil
		}
	}
}

// unended lists the tasks whose last turn has no terminal event.
func (l *taskLogs) unended() []string {
	var out []string
	for id, evs := range l.events {
		if !taskcheck.Expect(evs).Ended {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// drain waits until every task's last turn has ended and nothing has been
// stored for a few seconds (late writes from a daemon that was frozen are
// what the checker is after), or until the log has been quiet longer than
// the gateway's sweep interval with tasks still open (they are stuck), or
// until within has passed.
func (c *campaign) drain(within time.Duration) *taskLogs {
	c.t.Helper()
	const settle, stuck = 3 * time.Second, 75 * time.Second
	deadline := time.Now().Add(within)
	var (
		logs        *taskLogs
		seen        uint64
		quietSince  = time.Now()
		lastUnended int
	)
	for {
		last, err := c.streamLast()
		if err == nil && last != seen {
			seen, quietSince = last, time.Now()
		}
		quiet := time.Since(quietSince)
		if err == nil && quiet >= settle && (logs == nil || logs.last != seen) {
			if logs, err = c.readAll(60 * time.Second); err != nil {
				c.t.Fatalf("seed %d: %v", c.cfg.seed, err)
			}
			if n := len(logs.unended()); n == 0 {
				return logs
			} else if n != lastUnended {
				c.note("drain: %d task(s) not ended yet", n)
				lastUnended = n
			}
		}
		if logs != nil && logs.last == seen && quiet >= stuck {
			c.note("drain: gave up with %d task(s) not ended after %s of silence", len(logs.unended()), quiet.Round(time.Second))
			return logs
		}
		if time.Now().After(deadline) {
			// Still writing (or unreadable): check what is there now.
			if logs, err = c.readAll(60 * time.Second); err != nil {
				c.t.Fatalf("seed %d: %v", c.cfg.seed, err)
			}
			c.note("drain: gave up after %s with %d task(s) not ended, the log still changing %s ago", within, len(logs.unended()), quiet.Round(time.Second))
			return logs
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// sideEffects counts the lines of the side-effect file per task key and
// call id.
func (c *campaign) sideEffects() (map[string]map[string]int, int) {
	c.t.Helper()
	f, err := os.Open(c.sidefx)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0
	}
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]int{}
	lines := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id := strings.TrimSpace(sc.Text())
		key, _, ok := strings.Cut(id, "-c")
		if !ok {
			key = "?"
		}
		if out[key] == nil {
			out[key] = map[string]int{}
		}
		out[key][id]++
		lines++
	}
	if err := sc.Err(); err != nil {
		c.t.Fatal(err)
	}
	return out, lines
}

// list runs `viber task ls --json` over every task; when the answer is too
// big for one NATS message it reads the summaries the list is made of
// (bucket viber_tasks) instead.
func (c *campaign) list() (map[string]*bus.Summary, error) {
	out := map[string]*bus.Summary{}
	stdout, err := c.cli("task", "ls", "--json", "--limit", "1000000", "--timeout", "20s")
	if err == nil {
		var resp bus.ListTasksResponse
		if err := json.Unmarshal([]byte(stdout), &resp); err != nil {
			return nil, fmt.Errorf("viber task ls --json: %v", err)
		}
		for _, s := range resp.Tasks {
			out[s.ID] = s
		}
		return out, nil
	}
	c.note("viber task ls --json failed (%v: %s); reading bucket %s instead", err, strings.TrimSpace(stdout), bus.TaskBucket)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sums, err := bus.OpenSummaries(ctx, c.js)
	if err != nil {
		return nil, err
	}
	all, err := sums.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range all {
		out[s.ID] = s
	}
	return out, nil
}

// check runs the checker over every task; the list is read again until it
// agrees with the logs or within has passed (the projector may lag).
func (c *campaign) check(logs *taskLogs, within time.Duration) ([]taskcheck.Violation, map[string]int) {
	c.t.Helper()
	effects, lines := c.sideEffects()
	keys := map[string]string{} // task key -> task id
	figures := map[string]int{"tasks": len(logs.events), "events": logs.total, "side effects": lines}
	var vs []taskcheck.Violation
	vs = append(vs, logs.unreadable...)
	ids := make([]string, 0, len(logs.events))
	for id := range logs.events {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		evs := logs.events[id]
		var key string
		for _, ev := range evs {
			switch ev.Type {
			case bus.TypeCreated:
				if cr, err := bus.DecodeAs[bus.Created](ev); err == nil {
					if s, ok := parseFaultGoal(cr.Goal); ok {
						key = s.key
					}
				}
			case bus.TypeToolCall:
				figures["tool calls"]++
			case bus.TypeInput:
				figures["inputs"]++
			}
			if ev.Type.Terminal() {
				figures["ended "+ev.Type.Short()]++
			}
		}
		if key != "" {
			keys[key] = id
		}
		vs = append(vs, taskcheck.Check(id, evs, effects[key])...)
	}
	for key, calls := range effects {
		if _, ok := keys[key]; !ok {
			for call, n := range calls {
				vs = append(vs, taskcheck.Violation{Task: "(key " + key + ")", Kind: taskcheck.ToolRanUnstored,
					Detail: fmt.Sprintf("call %s took effect %d time(s) for a task the log does not have", call, n)})
			}
		}
	}
	deadline := time.Now().Add(within)
	for {
		list, err := c.list()
		var disagree []taskcheck.Violation
		if err != nil {
			c.note("list: %v", err)
		} else {
			for _, id := range ids {
				disagree = append(disagree, taskcheck.CheckSummary(id, logs.events[id], list[id])...)
			}
			if len(disagree) == 0 {
				return vs, figures
			}
		}
		if time.Now().After(deadline) {
			return append(vs, disagree...), figures
		}
		time.Sleep(time.Second)
	}
}

// TestFaultCampaign runs the campaign; see the top of this file.
//
// It is not parallel: its faults are timed against a 2 s ack wait, and
// sharing the machine's two cores with the other tests would turn slow
// scheduling into faults of its own.
func TestFaultCampaign(t *testing.T) {
	if testing.Short() {
		t.Skip("fault campaign: runs the real binaries through ~30 faults for a few minutes; run without -short")
	}
	if runtime.GOOS == "windows" {
		t.Skip("the fault campaign uses POSIX signals")
	}
	cfg := faultConfigFromEnv(t)
	t.Logf("fault campaign: seed %d, %d faults (rerun with FAULT_SEED=%d FAULTS=%d)", cfg.seed, cfg.faults, cfg.seed, cfg.faults)
	binaries(t)
	logDir, err := os.MkdirTemp("", "viber-faults-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("FAULT_KEEP") != "" {
			t.Logf("process logs kept in %s", logDir)
			return
		}
		_ = os.RemoveAll(logDir)
	})
	c := &campaign{t: t, cfg: cfg, began: time.Now(), logDir: logDir, counts: map[string]int{},
		natsAddr: freeAddr(t), httpAddr: freeAddr(t), gwData: t.TempDir()}
	c.sidefx = filepath.Join(t.TempDir(), "sidefx")
	c.model = openaitest.New(t, c.reply)
	if cfg.faults > faultDefault {
		c.model.Forget() // a long run would keep every request
	}
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "config.yaml"), []byte("policy:\n  shell: allow\nshell_timeout: 10s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.env = append(modelEnv(c.model), "VIBER_HOME="+home, "VIBER_NATS_URL=", "NATS_URL=", "VIBER_LOG_FORMAT=json", "VIBER_CONFIG=")
	c.cliEnv = append(slices.Clone(c.env), "VIBER_NATS_URL=nats://"+c.natsAddr)

	c.startGateway()
	c.nc, err = bus.Connect(bus.ConnectOptions{URL: "nats://" + c.natsAddr, Name: "fault-campaign"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.nc.Close)
	if c.js, err = jetstream.New(c.nc); err != nil {
		t.Fatal(err)
	}
	if c.client, err = client.New(c.nc); err != nil {
		t.Fatal(err)
	}
	for i := range faultDaemons {
		d := &faultDaemon{name: fmt.Sprintf("d%d", i+1), workspace: t.TempDir(), proxy: newLinkProxy(t, c.natsAddr)}
		c.daemons = append(c.daemons, d)
		c.startDaemon(d)
	}

	// The load runs through the faults.
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	var cliDone, loadDone sync.WaitGroup
	loadDone.Add(1)
	go func() { defer loadDone.Done(); c.workload(ctx, &cliDone) }()

	r := rand.New(rand.NewPCG(cfg.seed, 1))
	budget := time.Duration(cfg.faults) * faultPerFault
	made := 0
	for ; made < cfg.faults; made++ {
		if time.Since(c.began) > budget {
			c.note("time budget of %s spent after %d of %d faults", budget, made, cfg.faults)
			break
		}
		c.revive()
		sleep(ctx, between(r, 100*time.Millisecond, 800*time.Millisecond))
		what := c.fault(ctx, r)
		if cfg.faults <= 100 || made%50 == 0 {
			t.Logf("%6.1fs fault %d/%d: %s", time.Since(c.began).Seconds(), made+1, cfg.faults, what)
		}
	}
	faulted := time.Since(c.began)
	// A little load after the last fault, then stop it and heal. FAULTS=0
	// is a control run: 20 s of load without faults, which must pass the
	// checker.
	tail := 2 * time.Second
	if cfg.faults == 0 {
		tail = 20 * time.Second
	}
	sleep(ctx, tail)
	stop()
	loadDone.Wait()
	cliDone.Wait()
	for _, d := range c.daemons {
		d.proxy.Heal()
		_ = d.p.signal(syscall.SIGCONT)
	}
	c.revive()

	logs := c.drain(90*time.Second + time.Duration(len(c.known))*20*time.Millisecond)
	drained := time.Since(c.began)
	vs, figures := c.check(logs, 45*time.Second)

	// The report: the figures for docs/reliability.md, then the violations.
	c.mu.Lock()
	for k, v := range c.counts {
		figures[k] = v
	}
	c.mu.Unlock()
	figures["faults"] = made
	figures["model calls"] = int(c.modelCalls.Load())
	var fig []string
	for k, v := range figures {
		fig = append(fig, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(fig)
	t.Logf("fault campaign seed %d: faults for %s, drained at %s, checked at %s; %s",
		cfg.seed, faulted.Round(time.Second), drained.Round(time.Second), time.Since(c.began).Round(time.Second), strings.Join(fig, ", "))
	if len(c.notes) > 0 {
		t.Logf("campaign notes:\n  %s", strings.Join(c.notes, "\n  "))
	}
	report := taskcheck.Report(vs, 60) + stories(logs, vs, 12)
	switch {
	case len(vs) == 0:
		t.Logf("seed %d: every log passed the checker", cfg.seed)
	case cfg.strict:
		t.Errorf("seed %d (rerun with FAULT_SEED=%d FAULTS=%d): %s", cfg.seed, cfg.seed, cfg.faults, report)
	default:
		// FAULTS_STRICT=0: report only (for exploring a seed).
		t.Logf("seed %d (rerun with FAULT_SEED=%d FAULTS=%d): %s", cfg.seed, cfg.seed, cfg.faults, report)
	}
}

// stories renders the logs of up to n tasks with violations, one line
// each: seq, type and writer of every event, so that a report shows what
// happened around a violation.
func stories(logs *taskLogs, vs []taskcheck.Violation, n int) string {
	// One task of each kind first, then more in order.
	var pick []taskcheck.Violation
	for _, k := range taskcheck.Kinds() {
		for _, v := range vs {
			if v.Kind == k {
				pick = append(pick, v)
				break
			}
		}
	}
	pick = append(pick, vs...)
	var b strings.Builder
	seen := map[string]bool{}
	for _, v := range pick {
		evs, ok := logs.events[v.Task]
		if !ok || seen[v.Task] {
			continue
		}
		if len(seen) == n {
			b.WriteString("\n  ...")
			break
		}
		seen[v.Task] = true
		fmt.Fprintf(&b, "\n  log of %s (%s):", v.Task, v.Kind)
		for _, ev := range evs {
			who := ev.Source[strings.IndexByte(ev.Source, '/')+1:]
			fmt.Fprintf(&b, " %d:%s(%s)", ev.Seq, ev.Type.Short(), who)
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "\nlogs of the tasks concerned (seq:type(writer)):" + b.String()
}
