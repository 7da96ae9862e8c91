package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/mcpclient"
	"github.com/viberhq/viber/agents/tool"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/memory"
	"github.com/viberhq/viber/skills"
	"github.com/viberhq/viber/telemetry"
)

// Config configures a Daemon.
type Config struct {
	// NC is the daemon's NATS connection. Required.
	NC *nats.Conn
	// ID is the daemon's id (viberd --name): letters, digits, '-' and '_'.
	// Tasks pinned to it survive its restarts. Required.
	ID string
	// Workspace is the directory tasks work in. Required; created if
	// missing.
	Workspace string
	// Capacity is how many tasks run at once (default 4).
	Capacity int
	// Heartbeat is the presence interval (default 5 s).
	Heartbeat time.Duration
	// PullWait is how long an idle daemon's pull for work waits on the
	// server before it is renewed (default 30 s). An assignment arrives at
	// once whatever the wait; longer waits cost an idle daemon fewer
	// requests. The server heartbeats a long pull (every 5 s, or every
	// Heartbeat when that is longer, at most a third of the wait), so a
	// pull lost with a NATS node (a restart, a node of a cluster dying) is
	// noticed within two heartbeats and renewed. When only one
	// slot is free the shared queue's pull holds it and an assignment
	// queued for this daemon ends that pull at once (see startPulling).
	PullWait time.Duration
	// Setup must match the gateway's (the work ack wait in particular).
	Setup bus.SetupOptions
	// Models gives the model that answers each task (the config file:
	// an *agents.Config; one configuration: agents.Single; a model built
	// elsewhere: agents.Fixed). Without it tasks fail saying no model is
	// configured.
	Models agents.Models
	// StrictCredentials says the daemon's NATS credential may not create
	// consumers (vibergw creds daemon|edge): it waits for the gateway to
	// make its work consumer instead of trying.
	StrictCredentials bool
	// MCPServers are the Model Context Protocol servers whose tools tasks
	// may use, and Getenv expands the ${VAR}s of their settings (default
	// os.Getenv). When MCPServers is nil and Models is the config file,
	// the file's mcp_servers (and its environment) are used.
	MCPServers map[string]agents.MCPServerConfig
	Getenv     func(string) string
	// Policy decides which tool calls run, wait for approval or are
	// refused (default: agents.DefaultPolicy). Tasks may override it.
	Policy *agents.Policy
	// MaxSteps bounds the model calls of one turn (default 25).
	MaxSteps int
	// Tools tunes the built-in tools (shell timeout, output caps, ...).
	Tools tool.Options
	// Home holds the user's skills (Home/skills) and the built-in skills
	// written out for the tools to read (Home/builtin-skills). Default
	// ~/.viber.
	Home string
	// NoBuiltinSkills leaves the skills built into the binary out.
	NoBuiltinSkills bool
	// MaxDepth is the deepest task that is offered the spawn tool (default
	// 2, the gateway's default limit; negative: no spawn at all).
	MaxDepth int
	// MemoryFileCap caps each memory file in an agent's system prompt
	// (default 8 KB; the agent reads the rest with memory_read).
	MemoryFileCap int
	// Rescan is how often the skill and agent folders are read again, so
	// that skills and agents dropped into them are offered without a
	// restart (default 2 s; negative: never).
	Rescan time.Duration
	// Version is reported in presence.
	Version string
	// Labels are reported in presence.
	Labels map[string]string
	// Edge marks a daemon behind a leaf node.
	Edge bool
	// JS, when set, is the JetStream context to use instead of one on NC's
	// own domain: an edge daemon reaches the hub's streams with
	// jetstream.NewWithDomain(nc, "hub").
	JS jetstream.JetStream
	// LocalJS, for an edge daemon, is its own server's JetStream: events the
	// hub cannot take while the link is cut are kept there (stream
	// VIBER_OUTBOX) so they survive a restart of the daemon.
	LocalJS jetstream.JetStream
	// Metrics, when set, counts the daemon's model calls, tokens, tool
	// calls and approvals (viberd --metrics-listen; `viber up` shares the
	// gateway's registry). Traces need no setting: see package telemetry.
	Metrics *telemetry.Daemon
	// Logger receives the daemon's logs.
	Logger zerolog.Logger
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.NC == nil {
		errs = append(errs, errors.New("daemon: no NATS connection"))
	}
	switch {
	case c.ID == "":
		errs = append(errs, errors.New("daemon: no id; set --name"))
	case c.ID == bus.AnyDaemon:
		errs = append(errs, fmt.Errorf("daemon: %q is reserved; choose another --name", bus.AnyDaemon))
	case !bus.ValidToken(c.ID):
		errs = append(errs, fmt.Errorf("daemon: --name %q must be 1-64 letters, digits, '-' or '_'", c.ID))
	}
	if c.Workspace == "" {
		errs = append(errs, errors.New("daemon: no workspace; set --workspace"))
	}
	if c.Capacity < 0 {
		errs = append(errs, fmt.Errorf("daemon: capacity %d is negative", c.Capacity))
	}
	return errors.Join(errs...)
}

// DefaultPullWait is how long an idle pull for work waits unless
// Config.PullWait says otherwise.
const DefaultPullWait = 30 * time.Second

// busyPullWait is how often a daemon whose last free slot is held by the
// shared queue's pull looks at its own queue anyway (for redeliveries,
// which no publish announces).
const busyPullWait = 5 * time.Second

// quickPullWait bounds a pull of the daemon's own queue that holds its
// last free slot.
const quickPullWait = 500 * time.Millisecond

// Daemon runs tasks assigned through NATS.
type Daemon struct {
	cfg      Config
	log      zerolog.Logger
	source   string
	instance string
	js       jetstream.JetStream
	tasks    *bus.Log
	presence *bus.Presence
	started  time.Time
	host     string

	tools   []tool.Tool
	mcp     *mcpclient.Manager
	offer   atomic.Pointer[offer] // skills and agents, replaced by rescans
	scan    scanner
	mem     memoryState
	cl      *client.Client // the gateway's API, for child tasks
	localJS jetstream.JetStream
	outbox  *outbox
	policy  agents.Policy
	model0  agents.ModelConfig // the default model, for presence

	mu      sync.Mutex
	running map[string]struct{}
	slots   *slotSet
	pulls   pullState
	beatReq chan struct{}
	wg      sync.WaitGroup
}

// New validates the configuration and prepares the workspace.
func New(cfg Config) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Capacity == 0 {
		cfg.Capacity = 4
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 5 * time.Second
	}
	if cfg.PullWait <= 0 {
		cfg.PullWait = DefaultPullWait
	}
	if cfg.Version == "" {
		cfg.Version = "0.0.0-dev"
	}
	ws, err := filepath.Abs(cfg.Workspace)
	if err != nil {
		return nil, fmt.Errorf("daemon: workspace %s: %w", cfg.Workspace, err)
	}
	if err := os.MkdirAll(ws, 0o750); err != nil {
		return nil, fmt.Errorf("daemon: create workspace: %w", err)
	}
	cfg.Workspace = ws
	js := cfg.JS
	if js == nil {
		if js, err = jetstream.New(cfg.NC); err != nil {
			return nil, fmt.Errorf("daemon: %w", err)
		}
	}
	host, _ := os.Hostname()
	if cfg.Home == "" {
		if h, err := os.UserHomeDir(); err == nil {
			cfg.Home = filepath.Join(h, ".viber")
		} else {
			cfg.Home = filepath.Join(ws, ".viber")
		}
	}
	if cfg.Models == nil {
		cfg.Models = agents.Single(agents.ModelConfig{})
	}
	if err := cfg.Tools.Validate(); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	log := cfg.Logger.With().Str("component", "daemon").Str("daemon", cfg.ID).Logger()
	skillRoots, roots := discoverSkills(cfg, ws, log)
	var wsOpts []tool.WorkspaceOption
	for _, r := range roots {
		wsOpts = append(wsOpts, tool.WithReadOnlyRoot(r))
	}
	if st, err := os.Stat(memory.PinnedDir(ws)); err == nil && st.IsDir() {
		// The operator's pinned memory: the file tools may read it, not
		// change it.
		wsOpts = append(wsOpts, tool.WithReadOnlyRoot(memory.PinnedDir(ws)))
	}
	workspace, err := tool.NewWorkspace(ws, wsOpts...)
	if err != nil {
		return nil, fmt.Errorf("daemon: workspace: %w", err)
	}
	policy := agents.DefaultPolicy()
	if cfg.Policy != nil {
		policy = *cfg.Policy
	}
	beatReq := make(chan struct{}, 1)
	tools := tool.Builtins(workspace, cfg.Tools)
	var mcp *mcpclient.Manager
	if file, ok := cfg.Models.(*agents.Config); ok && file != nil && cfg.MCPServers == nil {
		cfg.MCPServers, cfg.Getenv = file.MCPServers, file.Getenv()
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if len(cfg.MCPServers) > 0 {
		mcp, policy = startMCP(cfg, policy, log, beatReq)
		tools = append(tools, mcp.Tools()...)
	}
	cfg.Policy = &policy
	if cfg.Rescan == 0 {
		cfg.Rescan = 2 * time.Second
	}
	d := &Daemon{
		tools:    tools,
		mcp:      mcp,
		localJS:  cfg.LocalJS,
		scan:     scanner{skillRoots: skillRoots, agentRoots: skills.AgentRoots(ws, cfg.Home)},
		policy:   policy,
		model0:   cfg.Models.Default(),
		cfg:      cfg,
		log:      log,
		source:   "viberd/" + cfg.ID,
		instance: bus.NewID(),
		js:       js,
		tasks:    bus.NewLog(js),
		host:     host,
		running:  map[string]struct{}{},
		slots:    newSlotSet(cfg.Capacity),
		pulls:    pullState{ownWake: make(chan struct{}, 1), recheck: busyPullWait},
		beatReq:  beatReq,
	}
	if err := cfg.Metrics.WatchRunning(d.runningCount); err != nil {
		return nil, fmt.Errorf("daemon: metrics: %w", err)
	}
	d.rescan(true)
	if d.cl, err = client.New(cfg.NC); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	return d, nil
}

// runningCount is how many tasks run here now.
func (d *Daemon) runningCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.running)
}

// startMCP starts the configured MCP servers (waiting for their first
// connection) and adds each server's policy as a rule for its tools
// (mcp_<server>_*) unless the policy already has one.
func startMCP(cfg Config, policy agents.Policy, log zerolog.Logger, beatReq chan struct{}) (*mcpclient.Manager, agents.Policy) {
	m := mcpclient.Start(context.Background(), mcpclient.Options{
		Servers: cfg.MCPServers, Getenv: cfg.Getenv, Logger: log,
		MaxOutputBytes: cfg.Tools.MaxOutputBytes, Version: cfg.Version,
		OnChange: func() {
			select { // presence shows the change at the next moment
			case beatReq <- struct{}{}:
			default:
			}
		},
	})
	rules := map[string]string{}
	for name, s := range cfg.MCPServers {
		glob := mcpclient.ToolGlob(name)
		if _, set := policy.Tools[glob]; !set && s.Policy != "" {
			rules[glob] = s.Policy
		}
	}
	if p, err := policy.With(rules); err == nil {
		policy = p
	} else {
		log.Warn().Err(err).Msg("MCP server policies not applied")
	}
	return m, policy
}

// Run registers the daemon, pulls and runs tasks until ctx ends, then hands
// running tasks back, marks itself offline and returns.
func (d *Daemon) Run(ctx context.Context) error {
	// ctx bounds the daemon's life, not each of its requests.
	ctx = bus.WithoutDeadline(ctx)
	defer func() { _ = d.mcp.Close() }() // the MCP servers stop with the daemon
	d.started = time.Now().UTC()
	if d.localJS != nil {
		var ob *outbox
		err := d.retry(ctx, "open the outbox", func(ctx context.Context) (err error) {
			ob, err = openOutbox(ctx, d.localJS)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("daemon: %w", err)
		}
		d.outbox = ob
		// Events kept while a cut link outlived the previous run go to the
		// hub before any task is taken, so no task resumes from a log that
		// lacks them.
		d.recoverOutbox(ctx)
	}
	consumers, err := d.waitForWork(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// Every start-up step retries what a busy server or a gateway still
	// setting up may answer (timeouts, no responders, 503, a bucket not
	// created yet): hundreds of daemons starting at once must all come up.
	if d.presence == nil {
		err = d.retry(ctx, "open the presence bucket", func(ctx context.Context) (err error) {
			d.presence, err = bus.OpenPresence(ctx, d.js)
			return err
		}, jetstream.ErrBucketNotFound)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("daemon: %w", err)
		}
	}
	if other, err := d.presence.Get(ctx, d.cfg.ID); err == nil && other.Online(time.Now()) && other.Instance != d.instance {
		d.log.Warn().Str("host", other.Hostname).Time("last_seen", other.LastSeen).
			Msg("another daemon with this --name looks online; if it still runs, the two share its pinned tasks")
	}
	if err := d.retry(ctx, "first heartbeat", func(ctx context.Context) error { return d.beat(ctx, bus.DaemonOnline) }); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("daemon: %w", err)
	}
	d.log.Info().Str("workspace", d.cfg.Workspace).Int("capacity", d.cfg.Capacity).
		Str("model", d.modelName()).Msg("daemon online")

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var loops sync.WaitGroup
	loops.Add(1)
	go func() {
		defer loops.Done()
		d.heartbeatLoop(runCtx)
	}()
	d.startMemory(runCtx, &loops)
	if d.cfg.Rescan > 0 {
		loops.Add(1)
		go func() {
			defer loops.Done()
			d.rescanLoop(runCtx)
		}()
	}
	d.startPulling(runCtx, consumers[0], consumers[1], &loops)
	<-ctx.Done()
	stop()
	loops.Wait()
	d.wg.Wait() // running tasks hand their assignments back
	offCtx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := d.beat(offCtx, bus.DaemonOffline); err != nil {
		d.log.Warn().Err(err).Msg("could not mark the daemon offline")
	}
	d.log.Info().Msg("daemon stopped")
	return nil
}

func (d *Daemon) modelName() string {
	mc := d.cfg.Models.Default()
	if mc.Provider == "" || mc.Model == "" {
		return "none configured"
	}
	return mc.Provider + "/" + mc.Model
}

// waitForWork waits until the gateway has created the work stream, then
// ensures the daemon's own consumer and finds the shared one.
func (d *Daemon) waitForWork(ctx context.Context) ([]jetstream.Consumer, error) {
	delay := 250 * time.Millisecond
	warned, announced := false, false
	for {
		own, err := d.ownWorkConsumer(ctx)
		if errors.Is(err, errCreateDenied) {
			// A strict credential may not create consumers: the gateway
			// makes ours when it sees our presence.
			if !announced {
				if err := d.announce(ctx); err == nil {
					announced = true
					d.log.Info().Msg("waiting for the gateway to make this daemon's work consumer")
				}
			}
			err = jetstream.ErrConsumerNotFound
		}
		if err == nil {
			anyc, err2 := d.js.Consumer(ctx, bus.WorkStream, bus.AnyWorkConsumer)
			if errors.Is(err2, jetstream.ErrConsumerNotFound) {
				anyc, err2 = d.js.CreateOrUpdateConsumer(ctx, bus.WorkStream, bus.WorkConsumerConfig(bus.AnyDaemon, d.cfg.Setup))
			}
			if err2 == nil {
				return []jetstream.Consumer{own, anyc}, nil
			}
			err = err2
		}
		if le := d.cfg.NC.LastError(); le != nil && strings.Contains(strings.ToLower(le.Error()), "permissions violation") && strings.Contains(le.Error(), "CONSUMER.INFO") {
			return nil, fmt.Errorf("daemon: the NATS credentials do not allow daemon %q's work consumer (issued for another --name?): %w", d.cfg.ID, le)
		}
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			if !warned {
				d.log.Warn().Err(err).Msg("waiting for the gateway to create the VIBER_WORK stream")
				warned = true
			}
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			// the gateway makes it
		case bus.Transient(ctx, err):
			d.log.Warn().Err(err).Dur("retry_in", delay).Msg("set up work consumers failed; retrying")
		default:
			return nil, fmt.Errorf("daemon: set up work consumers: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// errCreateDenied means the daemon's credential may not create its work
// consumer.
var errCreateDenied = errors.New("creating the work consumer is not allowed")

// ownWorkConsumer finds the daemon's work consumer, or makes it when it is
// missing and the credential allows.
func (d *Daemon) ownWorkConsumer(ctx context.Context) (jetstream.Consumer, error) {
	own, err := d.js.Consumer(ctx, bus.WorkStream, bus.DaemonWorkConsumer(d.cfg.ID))
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return own, err
	}
	if d.cfg.StrictCredentials {
		return nil, errCreateDenied
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	own, err = d.js.CreateOrUpdateConsumer(cctx, bus.WorkStream, bus.WorkConsumerConfig(d.cfg.ID, d.cfg.Setup))
	if err != nil {
		// The API answered the lookup: a create that gets no answer or a
		// permissions violation is a credential that may not create.
		le := d.cfg.NC.LastError()
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) ||
			(le != nil && strings.Contains(strings.ToLower(le.Error()), "permissions violation") && strings.Contains(le.Error(), "CONSUMER.CREATE")) {
			return nil, errCreateDenied
		}
	}
	return own, err
}

// announce writes the daemon's presence before it can take work (so that
// the gateway makes its work consumer).
func (d *Daemon) announce(ctx context.Context) error {
	if d.presence == nil {
		p, err := bus.OpenPresence(ctx, d.js)
		if err != nil {
			return err
		}
		d.presence = p
	}
	return d.beat(ctx, bus.DaemonOnline)
}

// retry runs a start-up step through bus.Retry, logging every retry.
func (d *Daemon) retry(ctx context.Context, what string, fn func(context.Context) error, also ...error) error {
	return bus.Retry(ctx, func(err error, attempt int, wait time.Duration) {
		d.log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Msg(what + " failed; retrying")
	}, fn, also...)
}

func (d *Daemon) info(status string) *bus.DaemonInfo {
	d.mu.Lock()
	running := make([]string, 0, len(d.running))
	for id := range d.running {
		running = append(running, id)
	}
	d.mu.Unlock()
	slices.Sort(running)
	return &bus.DaemonInfo{
		ID: d.cfg.ID, Name: d.cfg.ID, Instance: d.instance, Version: d.cfg.Version,
		Hostname: d.host, Labels: d.cfg.Labels, Edge: d.cfg.Edge,
		Provider: d.model0.Provider, Model: d.model0.Model,
		Skills: d.offer.Load().skills, Agents: d.offer.Load().agents, MCPServers: d.mcpInfo(), Capacity: d.cfg.Capacity, Running: running, Status: status,
		Heartbeat: bus.Duration(d.cfg.Heartbeat), StartedAt: d.started, LastSeen: time.Now().UTC(),
	}
}

// mcpInfo describes the MCP servers for presence.
func (d *Daemon) mcpInfo() []bus.MCPServerInfo {
	var out []bus.MCPServerInfo
	for _, s := range d.mcp.Status() {
		out = append(out, bus.MCPServerInfo{Name: s.Name, Transport: s.Transport, Status: s.Status, Tools: s.Tools, Error: s.Error})
	}
	return out
}

// toolset is the built-in tools plus the MCP servers' current ones (which
// change when a server's tool list does). d.tools holds the tools known at
// start.
func (d *Daemon) toolset() []tool.Tool {
	if d.mcp == nil {
		return d.tools
	}
	out := slices.DeleteFunc(slices.Clone(d.tools), func(t tool.Tool) bool { return strings.HasPrefix(t.Name(), "mcp_") })
	return append(out, d.mcp.Tools()...)
}

func (d *Daemon) beat(ctx context.Context, status string) error {
	return d.presence.Put(ctx, d.info(status))
}

func (d *Daemon) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(d.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.beatReq:
			// The running set changed: publish it soon, once for all the
			// changes of the next moment.
			sleep(ctx, 100*time.Millisecond)
		}
		if ctx.Err() != nil {
			return
		}
		bctx, cancel := context.WithTimeout(ctx, d.cfg.Heartbeat)
		if err := d.beat(bctx, bus.DaemonOnline); err != nil && ctx.Err() == nil {
			d.log.Warn().Err(err).Msg("heartbeat failed")
		}
		cancel()
	}
}

// ackWait is the consumer's real ack wait (it may have been set up by a
// gateway with another --work-ack-wait), or def.
func ackWait(c jetstream.Consumer, def time.Duration) time.Duration {
	if info := c.CachedInfo(); info != nil && info.Config.AckWait > 0 {
		return info.Config.AckWait
	}
	return def
}

func sleep(ctx context.Context, dur time.Duration) {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// discoverSkills finds the daemon's skills: the workspace's
// .agents/skills first, then Home/skills, then the built-in ones (written
// out under Home/builtin-skills so scripts can run). It returns the roots
// (read again by every rescan) and the folders the file tools may read.
func discoverSkills(cfg Config, ws string, log zerolog.Logger) ([]skills.Root, []string) {
	roots, err := skills.Roots(ws, cfg.Home, !cfg.NoBuiltinSkills)
	if err != nil {
		log.Warn().Err(err).Msg("built-in skills unavailable")
	}
	// The user's folder exists so that skills dropped into it later are
	// readable by the file tools (they are roots fixed at start).
	_ = os.MkdirAll(skills.UserDir(cfg.Home), 0o750)
	var dirs []string
	for _, r := range roots[1:] {
		if st, err := os.Stat(r.Dir); err == nil && st.IsDir() {
			dirs = append(dirs, r.Dir)
		}
	}
	return roots, dirs
}

// skillInfo describes a catalog for presence, with unmet requirements. It
// runs once at start (like discovery), not at every heartbeat.
func skillInfo(catalog *skills.Catalog) []bus.SkillInfo {
	var out []bus.SkillInfo
	for _, s := range catalog.List() {
		out = append(out, bus.SkillInfo{
			Name: s.Name, Description: s.Description, Source: string(s.Source),
			Missing: s.Missing(exec.LookPath, os.Getenv),
		})
	}
	return out
}
