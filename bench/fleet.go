package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/daemon"
	"github.com/viberhq/viber/gateway"
)

// FleetOptions size `viber bench --daemons N`: N simulated daemons in this
// process, each the real daemon code (daemon.New, Run) on its own NATS
// connection with presence and a work consumer, answering with the
// in-process instant model, and one gateway.
type FleetOptions struct {
	// Daemons is the size of the fleet (default 1,000).
	Daemons int
	// Backlog is how many tasks are submitted at once for the fleet to
	// drain (default 10,000).
	Backlog int
	// Capacity is how many tasks each daemon runs at once (default the
	// daemon's, 4).
	Capacity int
	// Heartbeat is the daemons' presence interval (default the daemon's).
	Heartbeat time.Duration
	// PullWait is how long an idle daemon's pull waits (default the
	// daemon's).
	PullWait time.Duration
	// Idle is how long the idle fleet's cost is measured (default 10 s).
	Idle time.Duration
	// Dispatch is how many tasks are submitted one at a time to the idle
	// fleet for the submit → started figures (default 200).
	Dispatch int
	// Submitters is how many clients submit the backlog together
	// (default 32).
	Submitters int
	// Dir is where the temporary store and workspaces go (default: the
	// OS temp dir).
	Dir string
	// Progress receives one line per phase (nil for none).
	Progress io.Writer
	// NATS starts the server (default [ChildNATS]).
	NATS func(ctx context.Context, dir string) (*NATS, error)
}

func (o FleetOptions) withDefaults() FleetOptions {
	if o.Daemons <= 0 {
		o.Daemons = 1_000
	}
	if o.Backlog <= 0 {
		o.Backlog = 10_000
	}
	if o.Capacity <= 0 {
		o.Capacity = 4
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 5 * time.Second
	}
	if o.PullWait <= 0 {
		o.PullWait = daemon.DefaultPullWait
	}
	if o.Idle <= 0 {
		o.Idle = 10 * time.Second
	}
	if o.Dispatch <= 0 {
		o.Dispatch = 200
	}
	if o.Submitters <= 0 {
		o.Submitters = 32
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.NATS == nil {
		o.NATS = ChildNATS
	}
	return o
}

// FleetReport is what `viber bench --daemons N --json` prints.
type FleetReport struct {
	Daemons    int     `json:"daemons"`
	Backlog    int     `json:"backlog"`
	Capacity   int     `json:"capacity"`
	HeartbeatS float64 `json:"heartbeat_s"`
	PullWaitS  float64 `json:"pull_wait_s"`
	// StartupS is from starting every daemon at once to every one online
	// in presence.
	StartupS float64 `json:"startup_s"`
	// The idle fleet: CPU of this process (gateway and every daemon) and
	// of the NATS server, as % of one core; presence writes and the NATS
	// server's inbound messages per second.
	IdleCPUPct             float64 `json:"idle_cpu_pct"`
	IdleNATSCPUPct         float64 `json:"idle_nats_cpu_pct"`
	IdlePresenceWritesPerS float64 `json:"idle_presence_writes_per_s"`
	IdlePresenceBytesPerS  float64 `json:"idle_presence_bytes_per_s"`
	// DispatchP50Ms and DispatchP99Ms are submit → started, one task at a
	// time, on the idle fleet.
	DispatchP50Ms float64 `json:"dispatch_p50_ms"`
	DispatchP99Ms float64 `json:"dispatch_p99_ms"`
	// The backlog: SubmitS to submit every task, DrainS from the first
	// submit to the last completed, TasksPerS = Backlog / DrainS, and each
	// task's created → started (its wait in the queue) p50/p99.
	SubmitS      float64 `json:"submit_s"`
	DrainS       float64 `json:"drain_s"`
	TasksPerS    float64 `json:"tasks_per_s"`
	QueueP50Ms   float64 `json:"queue_p50_ms"`
	QueueP99Ms   float64 `json:"queue_p99_ms"`
	CPUMsPerTask float64 `json:"cpu_ms_per_task"`
	// Completed counts backlog tasks with exactly one completed event and
	// one started event in their logs; Duplicates those with more, Missing
	// those with none. DaemonsUsed is how many daemons ran a task.
	Completed   int `json:"completed"`
	Duplicates  int `json:"duplicates"`
	Missing     int `json:"missing"`
	DaemonsUsed int `json:"daemons_used"`
	// Memory: this process with the gateway alone (GatewayRSSMB), with
	// the whole fleet after the drain (TotalRSSMB, and its peak), per
	// daemon, and the NATS server's.
	GatewayRSSMB   float64 `json:"gateway_rss_mb"`
	TotalRSSMB     float64 `json:"total_rss_mb"`
	PeakRSSMB      float64 `json:"peak_rss_mb"`
	RSSPerDaemonKB float64 `json:"rss_per_daemon_kb"`
	NATSRSSMB      float64 `json:"nats_rss_mb"`
	Pass           bool    `json:"pass"`
	Machine        Machine `json:"machine"`
	DurationS      float64 `json:"duration_s"`
}

// RunFleet runs the fleet benchmark: start the gateway, start every daemon
// at once, measure the idle fleet, submit → started one at a time, then
// drain a backlog and check every task completed exactly once.
func RunFleet(ctx context.Context, o FleetOptions) (*FleetReport, error) {
	o = o.withDefaults()
	start := time.Now()
	raiseFileLimit()
	host, _ := os.Hostname()
	r := &FleetReport{
		Daemons: o.Daemons, Backlog: o.Backlog, Capacity: o.Capacity,
		HeartbeatS: o.Heartbeat.Seconds(), PullWaitS: o.PullWait.Seconds(),
		Machine: Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version(), NATSServer: natsserver.VERSION, Host: host},
	}
	dir, err := os.MkdirTemp(o.Dir, "viber-fleet-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ns, err := o.NATS(ctx, filepath.Join(dir, "nats"))
	if err != nil {
		return nil, err
	}
	defer ns.Stop()

	f := &fleet{o: o, ns: ns, dir: dir}
	defer f.stop()
	if err := f.startGateway(ctx); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	runtime.GC()
	r.GatewayRSSMB = mb(selfRSS())

	fmt.Fprintf(o.Progress, "starting %d daemons at once\n", o.Daemons)
	t0 := time.Now()
	if err := f.startDaemons(ctx); err != nil {
		return nil, err
	}
	if err := f.waitOnline(ctx); err != nil {
		return nil, err
	}
	r.StartupS = round(time.Since(t0).Seconds())

	fmt.Fprintf(o.Progress, "idle fleet for %s\n", o.Idle)
	if err := f.measureIdle(ctx, r); err != nil {
		return nil, fmt.Errorf("idle: %w", err)
	}
	fmt.Fprintf(o.Progress, "submit → started, %d tasks one at a time\n", o.Dispatch)
	if err := f.measureDispatch(ctx, r); err != nil {
		return nil, fmt.Errorf("dispatch: %w", err)
	}
	fmt.Fprintf(o.Progress, "draining a backlog of %d tasks with %d submitters\n", o.Backlog, o.Submitters)
	if err := f.drain(ctx, r); err != nil {
		return nil, fmt.Errorf("backlog: %w", err)
	}
	r.TotalRSSMB = mb(selfRSS())
	r.PeakRSSMB = mb(selfPeakRSS())
	r.RSSPerDaemonKB = round((r.TotalRSSMB - r.GatewayRSSMB) * 1024 / float64(o.Daemons))
	if ns.RSS != nil {
		r.NATSRSSMB = mb(ns.RSS())
	}
	if err := f.failed(); err != nil {
		return nil, err
	}
	r.Pass = r.Completed == o.Backlog && r.Duplicates == 0 && r.Missing == 0
	r.DurationS = round(time.Since(start).Seconds())
	return r, nil
}

// fleet is the gateway, the daemons and the benchmark's client.
type fleet struct {
	o     FleetOptions
	ns    *NATS
	dir   string
	conns []*nats.Conn
	stops []func()

	nc *nats.Conn
	js jetstream.JetStream
	cl *client.Client

	mu     sync.Mutex
	exited []error // daemons that stopped on their own
}

// failed returns the errors of daemons that stopped on their own.
func (f *fleet) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return errors.Join(f.exited...)
}

func (f *fleet) connect(name string) (*nats.Conn, error) {
	nc, err := bus.Connect(bus.ConnectOptions{URL: f.ns.URL, Name: name})
	if err != nil {
		return nil, err
	}
	f.conns = append(f.conns, nc)
	return nc, nil
}

func (f *fleet) stop() {
	var wg sync.WaitGroup
	for _, s := range slices.Backward(f.stops) {
		wg.Add(1)
		go func() { defer wg.Done(); s() }()
	}
	wg.Wait()
	for _, nc := range f.conns {
		nc.Close()
	}
}

func (f *fleet) startGateway(ctx context.Context) error {
	gnc, err := f.connect("vibergw")
	if err != nil {
		return err
	}
	gw, err := gateway.New(ctx, gateway.Config{NC: gnc, HTTPListen: "none", Logger: zerolog.Nop()})
	if err != nil {
		return err
	}
	gctx, gcancel := context.WithCancel(context.WithoutCancel(ctx))
	if err := gw.Start(gctx); err != nil {
		gcancel()
		return err
	}
	f.stops = append(f.stops, func() { gcancel(); gw.Stop() })
	if f.nc, err = f.connect("viber-bench"); err != nil {
		return err
	}
	if f.js, err = jetstream.New(f.nc); err != nil {
		return err
	}
	f.cl, err = client.New(f.nc)
	return err
}

// startDaemons starts every daemon at once, each on its own connection.
func (f *fleet) startDaemons(ctx context.Context) error {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	f.stops = append(f.stops, func() { cancel(); wg.Wait() })
	home := filepath.Join(f.dir, "home")
	for i := range f.o.Daemons {
		id := fmt.Sprintf("sim-%05d", i)
		nc, err := f.connect("viberd-" + id)
		if err != nil {
			return fmt.Errorf("daemon %s: %w", id, err)
		}
		d, err := daemon.New(daemon.Config{
			NC: nc, ID: id, Workspace: filepath.Join(f.dir, "ws", id), Home: home, NoBuiltinSkills: true,
			Capacity: f.o.Capacity, Heartbeat: f.o.Heartbeat, PullWait: f.o.PullWait,
			Models: agents.Fixed(instant{}, agents.ModelConfig{}), Logger: zerolog.Nop(),
		})
		if err != nil {
			return fmt.Errorf("daemon %s: %w", id, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Run(dctx); err != nil || dctx.Err() == nil {
				f.mu.Lock()
				f.exited = append(f.exited, fmt.Errorf("daemon %s stopped: %v", id, err))
				f.mu.Unlock()
			}
		}()
	}
	return nil
}

// waitOnline waits until presence shows every daemon online.
func (f *fleet) waitOnline(ctx context.Context) error {
	p, err := bus.OpenPresence(ctx, f.js)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(5*time.Minute + time.Duration(f.o.Daemons)*50*time.Millisecond)
	for {
		list, err := p.List(ctx)
		online := 0
		if err == nil {
			now := time.Now()
			for _, d := range list {
				if d.Online(now) {
					online++
				}
			}
			if online >= f.o.Daemons {
				return nil
			}
		}
		if err := f.failed(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d daemons online after %s (last error: %v)", online, f.o.Daemons, time.Since(deadline), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// measureIdle measures what the idle fleet costs.
func (f *fleet) measureIdle(ctx context.Context, r *FleetReport) error {
	kv, err := f.js.Stream(ctx, "KV_"+bus.DaemonBucket)
	if err != nil {
		return err
	}
	state := func() (uint64, uint64, error) {
		info, err := kv.Info(ctx)
		if err != nil {
			return 0, 0, err
		}
		return info.State.LastSeq, info.State.Bytes, nil
	}
	// Let the start-up burst settle for one heartbeat first.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(f.o.Heartbeat):
	}
	seq0, _, err := state()
	if err != nil {
		return err
	}
	_, bytes, err := state()
	if err != nil {
		return err
	}
	t0, cpu0, ncpu0 := time.Now(), selfCPU(), f.ns.CPU()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(f.o.Idle):
	}
	el := time.Since(t0)
	cpu, ncpu := selfCPU()-cpu0, f.ns.CPU()-ncpu0
	seq1, _, err := state()
	if err != nil {
		return err
	}
	writes := float64(seq1 - seq0)
	r.IdleCPUPct = round(100 * cpu.Seconds() / el.Seconds())
	r.IdleNATSCPUPct = round(100 * ncpu.Seconds() / el.Seconds())
	r.IdlePresenceWritesPerS = round(writes / el.Seconds())
	if f.o.Daemons > 0 {
		// One key per daemon and history 1: the stream holds one record
		// per daemon, so bytes/keys is the size of one write.
		r.IdlePresenceBytesPerS = round(writes * float64(bytes) / float64(f.o.Daemons) / el.Seconds())
	}
	return nil
}

// watcher records started and completed events as they are stored.
type watcher struct {
	mu        sync.Mutex
	started   map[string]time.Time
	completed map[string]int
	done      chan struct{} // closed once every wanted task completed
	doneOnce  sync.Once
	want      map[string]bool
	left      int  // wanted tasks not completed yet
	all       bool // every wanted task is in want
	subs      []*nats.Subscription
}

func (f *fleet) watch() (*watcher, error) {
	w := &watcher{started: map[string]time.Time{}, completed: map[string]int{}}
	s1, err := f.nc.Subscribe(bus.TaskEventSubject("*", "*", bus.TypeStarted), func(m *nats.Msg) {
		id := bus.TaskIDFromSubject(m.Subject)
		w.mu.Lock()
		if _, ok := w.started[id]; !ok {
			w.started[id] = time.Now()
		}
		w.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	s2, err := f.nc.Subscribe(bus.TaskEventSubject("*", "*", bus.TypeCompleted), func(m *nats.Msg) {
		id := bus.TaskIDFromSubject(m.Subject)
		w.mu.Lock()
		w.completed[id]++
		if w.want[id] && w.completed[id] == 1 {
			w.left--
			w.check()
		}
		w.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	w.subs = []*nats.Subscription{s1, s2}
	for _, s := range w.subs {
		_ = s.SetPendingLimits(-1, -1)
	}
	return w, f.nc.Flush()
}

// check closes done when every wanted task completed (w.mu held).
func (w *watcher) check() {
	if w.all && w.left == 0 && w.done != nil {
		w.doneOnce.Do(func() { close(w.done) })
	}
}

func (w *watcher) close() {
	for _, s := range w.subs {
		_ = s.Unsubscribe()
	}
}

func (w *watcher) startedAt(id string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.started[id]
	return t, ok
}

func (f *fleet) measureDispatch(ctx context.Context, r *FleetReport) error {
	w, err := f.watch()
	if err != nil {
		return err
	}
	defer w.close()
	lat := make([]time.Duration, 0, f.o.Dispatch)
	for range f.o.Dispatch {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		t0 := time.Now()
		s, err := f.cl.CreateTask(rctx, &bus.CreateTaskRequest{Goal: "benchmark"})
		if err != nil {
			cancel()
			return err
		}
		for {
			if at, ok := w.startedAt(s.ID); ok {
				lat = append(lat, at.Sub(t0))
				break
			}
			select {
			case <-rctx.Done():
				cancel()
				return fmt.Errorf("task %s: no started event: %w", s.ID, rctx.Err())
			case <-time.After(200 * time.Microsecond):
			}
		}
		cancel()
	}
	slices.Sort(lat)
	r.DispatchP50Ms = round(ms(lat[len(lat)/2]))
	r.DispatchP99Ms = round(ms(lat[len(lat)*99/100]))
	return nil
}

// drain submits the backlog with several submitters, waits for every task
// to complete and checks each task's log.
func (f *fleet) drain(ctx context.Context, r *FleetReport) error {
	w, err := f.watch()
	if err != nil {
		return err
	}
	defer w.close()
	w.mu.Lock()
	w.want, w.done = map[string]bool{}, make(chan struct{})
	w.mu.Unlock()

	ids := make([]string, f.o.Backlog)
	created := make([]time.Time, f.o.Backlog)
	next := make(chan int, f.o.Backlog)
	for i := range f.o.Backlog {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	errs := make(chan error, f.o.Submitters)
	t0, cpu0 := time.Now(), selfCPU()
	for range f.o.Submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				rctx, cancel := context.WithTimeout(ctx, time.Minute)
				s, err := f.cl.CreateTask(rctx, &bus.CreateTaskRequest{Goal: "benchmark"})
				cancel()
				if err != nil {
					errs <- err
					return
				}
				ids[i], created[i] = s.ID, s.CreatedAt
				w.mu.Lock()
				w.want[s.ID] = true
				if w.completed[s.ID] == 0 {
					w.left++
				}
				w.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	r.SubmitS = round(time.Since(t0).Seconds())
	w.mu.Lock()
	w.all = true
	w.check()
	w.mu.Unlock()
	timeout := time.Minute + time.Duration(f.o.Backlog)*10*time.Millisecond
	select {
	case <-w.done:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(timeout):
		w.mu.Lock()
		left := w.left
		w.mu.Unlock()
		fmt.Fprintf(f.o.Progress, "%d tasks still not completed after %s; checking the logs\n", left, timeout)
	}
	drain := time.Since(t0)
	r.DrainS = round(drain.Seconds())
	r.TasksPerS = round(float64(f.o.Backlog) / drain.Seconds())
	r.CPUMsPerTask = round(ms(selfCPU()-cpu0) / float64(f.o.Backlog))

	var queue []time.Duration
	for i, id := range ids {
		if at, ok := w.startedAt(id); ok && !created[i].IsZero() {
			queue = append(queue, at.Sub(created[i]))
		}
	}
	if len(queue) > 0 {
		slices.Sort(queue)
		r.QueueP50Ms = round(ms(queue[len(queue)/2]))
		r.QueueP99Ms = round(ms(queue[len(queue)*99/100]))
	}
	fmt.Fprintf(f.o.Progress, "checking the logs of %d tasks\n", len(ids))
	return f.verify(ctx, ids, r)
}

// verify reads every task's log: exactly one started and one completed
// event each, and which daemon ran it.
func (f *fleet) verify(ctx context.Context, ids []string, r *FleetReport) error {
	type result struct {
		started, completed int
		daemon             string
		err                error
	}
	results := make([]result, len(ids))
	next := make(chan int, len(ids))
	for i := range ids {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				res := &results[i]
				rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				for ev, err := range f.cl.Log().Replay(rctx, ids[i], bus.ReplayOptions{}) {
					if err != nil {
						res.err = err
						break
					}
					switch ev.Type {
					case bus.TypeStarted:
						res.started++
						res.daemon = ev.Source
					case bus.TypeCompleted:
						res.completed++
					}
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	used := map[string]bool{}
	var errs []error
	for i, res := range results {
		switch {
		case res.err != nil:
			errs = append(errs, fmt.Errorf("task %s: %w", ids[i], res.err))
		case res.completed == 1 && res.started == 1:
			r.Completed++
		case res.completed == 0:
			r.Missing++
		default:
			r.Duplicates++
		}
		if res.daemon != "" {
			used[res.daemon] = true
		}
	}
	r.DaemonsUsed = len(used)
	return errors.Join(errs...)
}

func mb(b int64) float64 { return round(float64(b) / (1 << 20)) }

// raiseFileLimit lifts the soft limit on open files to the hard one: a
// thousand daemons are a thousand connections.
func raiseFileLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// selfRSS and selfPeakRSS are this process's resident and peak resident
// memory in bytes (Linux; 0 elsewhere).
func selfRSS() int64     { return procStatus("self", "VmRSS:") }
func selfPeakRSS() int64 { return procStatus("self", "VmHWM:") }

// procRSS is another process's resident memory in bytes (0 when unknown).
func procRSS(pid int) int64 { return procStatus(strconv.Itoa(pid), "VmRSS:") }

func procStatus(pid, field string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}
