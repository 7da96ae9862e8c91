package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/telemetry"
)

// Config configures a Gateway.
type Config struct {
	// NC is the gateway's NATS connection. Required.
	NC *nats.Conn
	// ID names this gateway in event sources ("vibergw/<id>"); default is
	// the host name.
	ID string
	// Version is reported by the micro service and /healthz.
	Version string
	// HTTPListen is the HTTP address (default 127.0.0.1:6009); "none"
	// disables HTTP.
	HTTPListen string
	// HTTPToken, when set, is required (as "Authorization: Bearer <token>")
	// on every API, MCP and /metrics request (not /healthz nor the
	// dashboard's static files). It must be set whenever
	// HTTPListen is not a loopback address.
	HTTPToken string
	// Setup tunes the streams the gateway creates.
	Setup bus.SetupOptions
	// SweepInterval is how often tasks that lost their assignment are
	// queued again (default 1 minute).
	SweepInterval time.Duration
	// RetireAfter is how long a daemon may stay silent before its
	// presence record and its own work consumer are removed (vibergw
	// --retire-after; default 7 days, negative for never). See
	// [Gateway.RetireDaemons].
	RetireAfter time.Duration
	// Metrics is the registry /metrics serves; the gateway registers its
	// metrics there. Nil means a registry of its own (with the Go and
	// process collectors); `viber up` shares one with its daemon.
	Metrics *prometheus.Registry
	// MaxDepth bounds how deep child tasks nest (default 2: a child's
	// child, never further); MaxChildren bounds the children of one task
	// (default 8).
	MaxDepth, MaxChildren int
	// Logger receives the gateway's logs.
	Logger zerolog.Logger

	// ScheduleAckWait is how long a firing may stay unacknowledged (its
	// gateway died) before it is handled again (default 30 s).
	ScheduleAckWait time.Duration
	// WebhookSecret signs webhook deliveries (HMAC-SHA256 of the body in
	// the Viber-Signature header). Without it, tasks cannot ask for
	// notifications.
	WebhookSecret string
	// WebhookAllowPrivate lets notify URLs reach loopback and private
	// networks (off by default, like web_fetch).
	WebhookAllowPrivate bool
	// WebhookRetry is the first delay before a failed delivery is retried
	// (default 1 s; doubled at each attempt up to 5 minutes).
	WebhookRetry time.Duration
	// WebhookAttempts is how many attempts a delivery gets before it is
	// given up (default 400).
	WebhookAttempts int
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.NC == nil {
		errs = append(errs, errors.New("gateway: no NATS connection"))
	}
	if c.ID != "" && !bus.ValidToken(c.ID) {
		errs = append(errs, fmt.Errorf("gateway: id %q must be letters, digits, '-' or '_'", c.ID))
	}
	if c.MaxDepth < 0 || c.MaxChildren < 0 {
		errs = append(errs, fmt.Errorf("gateway: child task limits must not be negative (depth %d, children %d)", c.MaxDepth, c.MaxChildren))
	}
	if c.HTTPListen != "" && c.HTTPListen != "none" {
		host, _, err := net.SplitHostPort(c.HTTPListen)
		if err != nil {
			errs = append(errs, fmt.Errorf("gateway: --http-listen %q: %w", c.HTTPListen, err))
		} else if !loopback(host) && c.HTTPToken == "" {
			errs = append(errs, fmt.Errorf("gateway: --http-listen %s is reachable beyond this machine: set --http-token (or VIBER_HTTP_TOKEN)", c.HTTPListen))
		}
	}
	return errors.Join(errs...)
}

// Gateway is a running control plane.
type Gateway struct {
	cfg       Config
	log       zerolog.Logger
	source    string
	js        jetstream.JetStream
	tasks     *bus.Log
	summaries *bus.Summaries
	index     *taskIndex // every summary in memory, for lists
	presence  *bus.Presence
	memory    *bus.Memory
	svc       micro.Service
	httpSrv   *http.Server
	httpAddr  net.Addr
	metrics   *telemetry.Gateway

	schedules     *bus.Schedules
	schedStream   jetstream.Stream
	schedErr      error
	stopScheduler func()
	// firingMade, when set (tests), runs after a firing's task is made
	// and before the firing is acknowledged.
	firingMade func(taskID string)

	webhooks     *bus.Webhooks
	taskStream   jetstream.Stream
	hookClient   *http.Client
	hookWG       sync.WaitGroup
	hookMu       sync.Mutex  // orders hookWG.Add before the wait at stop
	notifyOf     notifyCache // notify URLs of tasks created here
	stopWebhooks func()

	caughtUp        chan struct{}
	caughtUpOnce    sync.Once
	stop            chan struct{}
	stopOnce        sync.Once
	projectorCancel context.CancelFunc
	wg              sync.WaitGroup
}

// DefaultHTTPListen is the HTTP address used when none is given.
const DefaultHTTPListen = "127.0.0.1:6009"

// New sets up the streams and buckets and returns a gateway ready to Start.
func New(ctx context.Context, cfg Config) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ID == "" {
		cfg.ID = bus.HostToken("gateway")
	}
	if cfg.HTTPListen == "" {
		cfg.HTTPListen = DefaultHTTPListen
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = time.Minute
	}
	if cfg.RetireAfter == 0 {
		cfg.RetireAfter = DefaultRetireAfter
	}
	if cfg.Version == "" {
		cfg.Version = "0.0.0-dev"
	}
	if cfg.WebhookRetry <= 0 {
		cfg.WebhookRetry = DefaultWebhookRetry
	}
	if cfg.WebhookAttempts <= 0 {
		cfg.WebhookAttempts = DefaultWebhookAttempts
	}
	js, err := jetstream.New(cfg.NC)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	log := cfg.Logger.With().Str("component", "gateway").Logger()
	if cfg.Setup.Changed == nil {
		cfg.Setup.Changed = func(stream, change string) {
			log.Info().Str("stream", stream).Str("change", change).Msg("stream configuration updated")
		}
	}
	g := &Gateway{
		cfg:      cfg,
		log:      log,
		source:   "vibergw/" + cfg.ID,
		js:       js,
		tasks:    bus.NewLog(js),
		caughtUp: make(chan struct{}),
		stop:     make(chan struct{}),
	}
	// Every step is idempotent, so the whole set-up is retried on what a
	// busy or still-starting server answers (timeouts, no responders, 503).
	err = g.retry(ctx, "set up streams and buckets", func(ctx context.Context) (err error) {
		if err := bus.Setup(ctx, js, cfg.Setup); err != nil {
			return err
		}
		if g.summaries, err = bus.OpenSummaries(ctx, js); err != nil {
			return err
		}
		if g.presence, err = bus.OpenPresence(ctx, js); err != nil {
			return err
		}
		if err := g.setupSchedules(ctx); err != nil {
			return err
		}
		if err := g.setupWebhooks(ctx); err != nil {
			return err
		}
		g.memory, err = bus.OpenMemory(ctx, js)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if err := g.startMetrics(); err != nil {
		return nil, err
	}
	return g, nil
}

// Start starts the API, the projector, the sweeper and HTTP. They run until
// ctx ends or Stop is called.
func (g *Gateway) Start(ctx context.Context) error {
	// ctx bounds the gateway's life, not each of its requests.
	ctx = bus.WithoutDeadline(ctx)
	if err := g.startProjector(ctx); err != nil {
		return err
	}
	if err := g.startIndex(ctx); err != nil {
		g.stopProjector()
		return err
	}
	if err := g.startService(ctx); err != nil {
		g.stopProjector()
		return err
	}
	if err := g.startScheduler(ctx); err != nil {
		_ = g.svc.Stop()
		g.stopProjector()
		return err
	}
	if err := g.startWebhooks(ctx); err != nil {
		g.stopBackground()
		_ = g.svc.Stop()
		g.stopProjector()
		return err
	}
	// Make sure the server has our subscriptions before anyone is told we
	// are up.
	if err := g.cfg.NC.FlushTimeout(10 * time.Second); err != nil {
		_ = g.svc.Stop()
		g.stopProjector()
		return fmt.Errorf("gateway: flush: %w", err)
	}
	if g.cfg.HTTPListen != "none" {
		if err := g.startHTTP(); err != nil {
			_ = g.svc.Stop()
			g.stopProjector()
			return err
		}
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.workConsumers(ctx)
	}()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.sweepLoop(ctx)
	}()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.retireLoop(ctx)
	}()
	g.log.Info().Str("id", g.cfg.ID).Str("http", g.HTTPAddr()).Msg("gateway started")
	return nil
}

// Run starts the gateway and blocks until ctx ends, then stops it.
func (g *Gateway) Run(ctx context.Context) error {
	if err := g.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	g.Stop()
	return nil
}

// Stop stops the API and HTTP and waits for background work. The NATS
// connection stays open; its owner closes it.
func (g *Gateway) Stop() {
	g.stopOnce.Do(func() { close(g.stop) })
	if g.svc != nil {
		_ = g.svc.Stop()
	}
	if g.httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = g.httpSrv.Shutdown(sctx)
		cancel()
	}
	g.stopBackground()
	g.stopProjector()
	g.wg.Wait()
}

// stopBackground stops consuming firings and terminal events.
func (g *Gateway) stopBackground() {
	if g.stopScheduler != nil {
		g.stopScheduler()
	}
	if g.stopWebhooks != nil {
		g.stopWebhooks()
	}
}

// HTTPAddr is the address HTTP listens on ("" when disabled).
func (g *Gateway) HTTPAddr() string {
	if g.httpAddr == nil {
		return ""
	}
	return g.httpAddr.String()
}

// CaughtUp is closed once the projector has folded every event that was in
// the log when the gateway started.
func (g *Gateway) CaughtUp() <-chan struct{} { return g.caughtUp }

// HTTPToken is the token HTTP requests must carry ("" for none).
func (g *Gateway) HTTPToken() string { return g.cfg.HTTPToken }

// retry runs a start-up step through bus.Retry, logging every retry.
func (g *Gateway) retry(ctx context.Context, what string, fn func(context.Context) error) error {
	return bus.Retry(ctx, func(err error, attempt int, wait time.Duration) {
		g.log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Msg(what + " failed; retrying")
	}, fn)
}

// loopback reports whether host only accepts connections from this
// machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// workConsumers makes the work consumer (daemon-<id>) of every daemon that
// shows up in presence, so that daemons need no right to create consumers
// (a credential that may create one may make it a push consumer delivering
// anywhere). Daemons without strict credentials make their own; making it
// again is harmless.
func (g *Gateway) workConsumers(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-g.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	made := map[string]bool{}
	for ctx.Err() == nil {
		err := g.presence.WatchIDs(ctx, func(id string) {
			if made[id] || !bus.ValidToken(id) || id == bus.AnyDaemon {
				return
			}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if _, err := g.js.CreateOrUpdateConsumer(cctx, bus.WorkStream, bus.WorkConsumerConfig(id, g.cfg.Setup)); err != nil {
				g.log.Warn().Err(err).Str("daemon", id).Msg("could not make the daemon's work consumer; trying at its next heartbeat")
				return
			}
			made[id] = true
		}, func(id string) { delete(made, id) })
		if err != nil && ctx.Err() == nil {
			g.log.Warn().Err(err).Msg("presence watch ended; watching again")
		}
		sleep(ctx, time.Second)
	}
}
