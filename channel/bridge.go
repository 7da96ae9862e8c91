package channel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/client"
)

// Defaults of [Config].
const (
	DefaultEditInterval = time.Second
	DefaultAckWait      = 30 * time.Second
)

// Config configures a [Bridge].
type Config struct {
	// Platform speaks the chat service's API.
	Platform Platform
	// Client reaches Viber; its connection stays the caller's.
	Client *client.Client
	// AllowFrom lists the sender ids (or chat ids, to admit a whole
	// group) that may talk to Viber. Empty admits nobody.
	AllowFrom []string
	// Daemon, Model and Skills are given to the tasks the bridge creates
	// (see bus.CreateTaskRequest); empty means the gateway's choice.
	Daemon string
	Model  string
	Skills []string
	// Agent is the named agent that runs the tasks ("" for the default).
	Agent string
	// EditInterval is the least time between two edits of a progress
	// message (default 1 s).
	EditInterval time.Duration
	// AckWait is how long a reply may stay unacknowledged before the
	// consumer redelivers it (default 30 s); the bridge extends it while
	// it sends.
	AckWait time.Duration
	// Setup gives the replica count of the bridge's buckets (its consumer
	// takes its stream's).
	Setup bus.SetupOptions
	// Logger receives the bridge's logs.
	Logger zerolog.Logger
}

// Validate reports every problem of the config, joined.
func (c *Config) Validate() error {
	var errs []error
	if c.Platform == nil {
		errs = append(errs, errors.New("channel: no platform"))
	} else if !bus.ValidToken(c.Platform.Name()) {
		errs = append(errs, fmt.Errorf("channel: platform name %q is not a subject token", c.Platform.Name()))
	}
	if c.Client == nil {
		errs = append(errs, errors.New("channel: no Viber client"))
	}
	if c.EditInterval < 0 {
		errs = append(errs, fmt.Errorf("channel: edit interval %s is negative", c.EditInterval))
	}
	if c.AckWait < 0 {
		errs = append(errs, fmt.Errorf("channel: ack wait %s is negative", c.AckWait))
	}
	return errors.Join(errs...)
}

// Bridge connects one chat platform to Viber. Run it with [Bridge.Run].
type Bridge struct {
	cfg   Config
	p     Platform
	cl    *client.Client
	js    jetstream.JetStream
	log   zerolog.Logger
	allow map[string]bool

	state, deliveries jetstream.KeyValue

	mu       sync.Mutex
	progress map[string]*progress // by task
}

// New checks the config and returns a bridge.
func New(cfg Config) (*Bridge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.EditInterval == 0 {
		cfg.EditInterval = DefaultEditInterval
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = DefaultAckWait
	}
	js, err := jetstream.New(cfg.Client.Conn())
	if err != nil {
		return nil, fmt.Errorf("channel: %w", err)
	}
	b := &Bridge{
		cfg: cfg, p: cfg.Platform, cl: cfg.Client, js: js,
		log:      cfg.Logger.With().Str("component", "channel").Str("platform", cfg.Platform.Name()).Logger(),
		allow:    map[string]bool{},
		progress: map[string]*progress{},
	}
	for _, id := range cfg.AllowFrom {
		if id = strings.TrimSpace(id); id != "" {
			b.allow[id] = true
		}
	}
	return b, nil
}

// Run bridges until ctx ends (then it returns nil) or the bridge cannot go
// on: it receives from the platform and delivers replies from the task
// log at the same time.
func (b *Bridge) Run(ctx context.Context) error {
	var err error
	b.state, b.deliveries, err = bus.OpenChannelBuckets(ctx, b.js, b.cfg.Setup)
	if err != nil {
		return fmt.Errorf("channel %s: %w", b.p.Name(), err)
	}
	cons, err := b.consumer(ctx)
	if err != nil {
		return fmt.Errorf("channel %s: %w", b.p.Name(), err)
	}
	if len(b.allow) == 0 {
		b.log.Warn().Msg("the allow-list is empty: every sender will be refused")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- b.p.Receive(ctx, b.handle) }()
	go func() { errc <- b.deliver(ctx, cons) }()
	var first error
	for range 2 {
		if err := <-errc; err != nil && first == nil && ctx.Err() == nil {
			first = err
		}
		cancel()
	}
	b.mu.Lock()
	for task, p := range b.progress {
		p.end()
		delete(b.progress, task)
	}
	b.mu.Unlock()
	if first != nil {
		return fmt.Errorf("channel %s: %w", b.p.Name(), first)
	}
	return nil
}

// consumer opens the bridge's durable consumer, creating it (from the end
// of the log) the first time.
func (b *Bridge) consumer(ctx context.Context) (jetstream.Consumer, error) {
	name := bus.ChannelConsumer(b.p.Name())
	cons, err := b.js.Consumer(ctx, bus.TaskStream, name)
	if err == nil {
		return cons, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("open consumer %s: %w", name, err)
	}
	cons, err = b.js.CreateConsumer(ctx, bus.TaskStream, bus.ChannelConsumerConfig(b.p.Name(), b.cfg.AckWait))
	if errors.Is(err, jetstream.ErrConsumerExists) {
		cons, err = b.js.Consumer(ctx, bus.TaskStream, name)
	}
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", name, err)
	}
	return cons, nil
}

// submitter is the Submitter of the tasks a chat creates; the bridge
// recognises its tasks by it in their created events.
func (b *Bridge) submitter(chat string) string { return b.p.Name() + ":" + chat }

// by names a person in events (input, approvals, cancel).
func (b *Bridge) by(in *Incoming) string {
	name := in.SenderName
	if name == "" {
		name = in.Sender
	}
	return b.p.Name() + ":" + name
}

func (b *Bridge) allowed(in *Incoming) bool { return b.allow[in.Sender] || b.allow[in.Chat] }

// backoff waits before retrying, or returns false when ctx ends first.
func backoff(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
