package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// SetupOptions tune the streams and buckets [Setup] creates.
type SetupOptions struct {
	// Replicas is the replica count of every stream and bucket (default 1).
	Replicas int
	// DuplicateWindow is how long an event id is remembered for
	// de-duplication (default 2 minutes).
	DuplicateWindow time.Duration
	// WorkAckWait is how long an assignment may go without an ack or an
	// in-progress heartbeat before it is given to another daemon
	// (default 30 s).
	WorkAckWait time.Duration
	// TaskRetention is how long events stay in VIBER_TASKS (vibergw
	// --retention): 0 leaves the stream's limit as it is (none for a new
	// stream), a negative value removes it (keep forever).
	TaskRetention time.Duration
	// TaskMaxBytes bounds VIBER_TASKS (vibergw --max-bytes); the oldest
	// events go first. 0 leaves the stream's limit as it is (none for a
	// new stream), a negative value removes it.
	TaskMaxBytes int64
	// Changed, when set, is told about every change [Setup] makes to an
	// existing stream, so the gateway can log it.
	Changed func(stream, change string)
}

func (o SetupOptions) withDefaults() SetupOptions {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.DuplicateWindow <= 0 {
		o.DuplicateWindow = 2 * time.Minute
	}
	if o.WorkAckWait <= 0 {
		o.WorkAckWait = DefaultWorkAckWait
	}
	return o
}

// DefaultWorkAckWait is the default time after which the assignment of a
// silent (dead) daemon goes to another daemon.
const DefaultWorkAckWait = 30 * time.Second

// TaskStreamConfig is the configuration of VIBER_TASKS.
func TaskStreamConfig(o SetupOptions) jetstream.StreamConfig {
	o = o.withDefaults()
	return jetstream.StreamConfig{
		Name:         TaskStream,
		Description:  "Viber task log: every event of every task, in order",
		Subjects:     []string{TaskStreamSubjects()},
		Storage:      jetstream.FileStorage,
		Retention:    jetstream.LimitsPolicy,
		Discard:      jetstream.DiscardOld,
		Duplicates:   o.DuplicateWindow,
		MaxMsgSize:   MaxEventBytes + 4096,
		MaxAge:       max(o.TaskRetention, 0),
		MaxBytes:     limitOrNone(o.TaskMaxBytes),
		MaxConsumers: StreamMaxConsumers,
		Replicas:     o.Replicas,
		AllowDirect:  true,
	}
}

// limitOrNone is n, or -1 (no limit) when n is not positive.
func limitOrNone(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// StreamMaxConsumers is the consumer limit of VIBER_TASKS and VIBER_WORK.
// Without one the server allows 1,000 per stream: VIBER_WORK has one
// durable consumer per daemon, VIBER_TASKS one per live reader.
const StreamMaxConsumers = 1_000_000

// WorkStreamConfig is the configuration of VIBER_WORK.
func WorkStreamConfig(o SetupOptions) jetstream.StreamConfig {
	o = o.withDefaults()
	return jetstream.StreamConfig{
		Name:         WorkStream,
		Description:  "Viber assignments: one message per task waiting for or held by a daemon",
		Subjects:     []string{WorkSubjects()},
		Storage:      jetstream.FileStorage,
		Retention:    jetstream.WorkQueuePolicy,
		Duplicates:   o.DuplicateWindow,
		MaxConsumers: StreamMaxConsumers,
		Replicas:     o.Replicas,
		AllowDirect:  true,
	}
}

// WorkConsumerConfig is the configuration of the durable consumer that
// pulls assignments for a target: a daemon id, or [AnyDaemon] for the
// consumer every daemon shares.
func WorkConsumerConfig(target string, o SetupOptions) jetstream.ConsumerConfig {
	o = o.withDefaults()
	name := AnyWorkConsumer
	if target != AnyDaemon {
		name = DaemonWorkConsumer(target)
	}
	maxWaiting := 0 // the server's default (512): one daemon pulls it
	if target == AnyDaemon {
		maxWaiting = AnyWorkMaxWaiting
	}
	return jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "assignments for " + target,
		MaxWaiting:    maxWaiting,
		FilterSubject: WorkFilter(target),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.AckWait(),
		MaxDeliver:    -1,
		MaxAckPending: 100_000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// None: the server gives a durable consumer its stream's replica
		// count. A daemon creates its own consumer with its own options,
		// which need not know the gateway's --replicas; and a work-queue
		// stream refuses a consumer with another count than its own.
	}
}

// AnyWorkMaxWaiting is how many pulls the shared work consumer holds at
// once: every idle daemon keeps one waiting there, and a pull beyond the
// limit is refused (409), so it bounds the daemons that can wait for
// shared work. The server's default, 512, is too few for a fleet. A
// consumer created with another value keeps it (the server cannot change
// it): delete the consumer while no gateway runs to take the new one.
const AnyWorkMaxWaiting = 16_384

// DaemonBucketConfig is the configuration of the viber_daemons bucket:
// one key per daemon id, holding its [DaemonInfo]. Each daemon writes its
// own key at every heartbeat; gateways and users read them.
func DaemonBucketConfig(o SetupOptions) jetstream.KeyValueConfig {
	o = o.withDefaults()
	return jetstream.KeyValueConfig{Bucket: DaemonBucket, Description: "Viber daemon presence", History: 1, Storage: jetstream.FileStorage, Replicas: o.Replicas}
}

// TaskBucketConfig is the configuration of the viber_tasks bucket: one key
// per task id, holding its [Summary]. The projector writes it; gateways
// and users read it. Its age limit is the task log's retention.
func TaskBucketConfig(o SetupOptions) jetstream.KeyValueConfig {
	o = o.withDefaults()
	return jetstream.KeyValueConfig{Bucket: TaskBucket, Description: "Viber task summaries, folded from VIBER_TASKS", History: 1, Storage: jetstream.FileStorage, Replicas: o.Replicas,
		TTL: max(o.TaskRetention, 0)}
}

// ProjectorAckWait is how long the projector may hold an event of the task
// log without acking it: events a crashed gateway had fetched but not
// folded come back to the next one after this long.
const ProjectorAckWait = 5 * time.Second

// ProjectorConsumerConfig is the configuration of the gateways' durable
// consumer on VIBER_TASKS, which folds every event into the viber_tasks
// summaries. Every gateway pulls from this one consumer, so a restarted or
// second gateway continues where the others are.
func ProjectorConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ProjectorConsumer,
		Description:   "folds the task log into the viber_tasks summaries",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ProjectorAckWait,
		MaxAckPending: 1024,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxDeliver:    -1,
	}
}

// ReaderInactiveThreshold is how long the server keeps an ordered consumer
// on the task log whose reader went away without deleting it.
const ReaderInactiveThreshold = 30 * time.Second

// AllTasksReaderConfig is the ordered consumer that reads the events of
// every task stored from now on (the client's WatchAll).
func AllTasksReaderConfig() jetstream.OrderedConsumerConfig {
	return jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{TaskSubjects()},
		DeliverPolicy:     jetstream.DeliverNewPolicy,
		InactiveThreshold: ReaderInactiveThreshold,
	}
}

// DefaultHubDomain is the JetStream domain of the hub, the server the
// gateway runs with (vibergw --js-domain), unless configured otherwise.
// Edge daemons reach the hub's streams and buckets through it.
const DefaultHubDomain = "hub"

// EdgeDomain is the JetStream domain (and server name) of edge daemon id's
// embedded leaf node, edge-<id>, where its VIBER_OUTBOX lives.
func EdgeDomain(daemonID string) string { return "edge-" + daemonID }

// OutboxStreamConfig is the configuration of VIBER_OUTBOX, the stream an
// edge daemon keeps in its own JetStream domain for the events it could not
// hand to the hub yet. The edge daemon creates it, writes an event there
// while the hub is out of reach and deletes it once forwarded.
func OutboxStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        OutboxStream,
		Description: "events of this edge's tasks waiting for the hub",
		Subjects:    []string{OutboxSubjects()},
		Storage:     jetstream.FileStorage,
	}
}

// AckWait returns the work ack wait with its default applied.
func (o SetupOptions) AckWait() time.Duration { return o.withDefaults().WorkAckWait }

// Setup creates the streams, the shared work consumer and the KV buckets
// when they are missing. It leaves existing ones as they are (an operator
// may have tuned them), so it is safe to call at every start-up from every
// process, with two exceptions: the task log's retention and size limits
// follow TaskRetention and TaskMaxBytes when those are set, and a stream
// still under the server's default consumer limit gets
// [StreamMaxConsumers]. Each change is told to o.Changed.
func Setup(ctx context.Context, js jetstream.JetStream, o SetupOptions) error {
	o = o.withDefaults()
	if err := ensureStream(ctx, js, TaskStreamConfig(o), o, func(have *jetstream.StreamConfig) []string {
		var changes []string
		if o.TaskRetention != 0 && have.MaxAge != max(o.TaskRetention, 0) {
			have.MaxAge = max(o.TaskRetention, 0)
			changes = append(changes, "retention "+durationOrForever(have.MaxAge))
		}
		if o.TaskMaxBytes != 0 && have.MaxBytes != limitOrNone(o.TaskMaxBytes) {
			have.MaxBytes = limitOrNone(o.TaskMaxBytes)
			changes = append(changes, "max bytes "+bytesOrUnlimited(have.MaxBytes))
		}
		return changes
	}); err != nil {
		return err
	}
	if err := ensureStream(ctx, js, WorkStreamConfig(o), o, nil); err != nil {
		return err
	}
	if err := ensureAnyWorkConsumer(ctx, js, o); err != nil {
		return err
	}
	for _, cfg := range []jetstream.KeyValueConfig{DaemonBucketConfig(o), TaskBucketConfig(o), MemoryBucketConfig(o)} {
		if _, err := js.KeyValue(ctx, cfg.Bucket); err == nil {
			continue
		} else if !errors.Is(err, jetstream.ErrBucketNotFound) {
			return fmt.Errorf("open bucket %s: %w", cfg.Bucket, err)
		}
		if _, err := js.CreateKeyValue(ctx, cfg); err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
			return fmt.Errorf("create bucket %s: %w", cfg.Bucket, err)
		}
	}
	// A summary is rewritten at each of its task's events, so with the
	// log's retention as its age limit it goes when the task's last event
	// does.
	if o.TaskRetention != 0 {
		kv := TaskBucketConfig(o)
		err := ensureStream(ctx, js, jetstream.StreamConfig{Name: "KV_" + kv.Bucket}, o, func(have *jetstream.StreamConfig) []string {
			if have.MaxAge == kv.TTL {
				return nil
			}
			have.MaxAge = kv.TTL
			return []string{"retention " + durationOrForever(kv.TTL)}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ensureStream creates a missing stream. An existing one gets
// [StreamMaxConsumers] if it has no consumer limit of its own, and the
// changes reconcile makes (nil for none); each is told to o.Changed.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, o SetupOptions, reconcile func(have *jetstream.StreamConfig) []string) error {
	if st, err := js.Stream(ctx, cfg.Name); err == nil {
		have := st.CachedInfo().Config
		var changes []string
		if have.MaxConsumers <= 0 && cfg.MaxConsumers > 0 {
			have.MaxConsumers = cfg.MaxConsumers
			changes = append(changes, fmt.Sprintf("max consumers %d", cfg.MaxConsumers))
		}
		if reconcile != nil {
			changes = append(changes, reconcile(&have)...)
		}
		if len(changes) == 0 {
			return nil
		}
		if _, err := js.UpdateStream(ctx, have); err != nil {
			return fmt.Errorf("update stream %s (%s): %w", cfg.Name, strings.Join(changes, ", "), err)
		}
		if o.Changed != nil {
			for _, c := range changes {
				o.Changed(cfg.Name, c)
			}
		}
		return nil
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("open stream %s: %w", cfg.Name, err)
	}
	if _, err := js.CreateStream(ctx, cfg); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("create stream %s: %w", cfg.Name, err)
	}
	return nil
}

// ensureAnyWorkConsumer creates or updates the shared work consumer,
// keeping the MaxWaiting of an existing one (which the server cannot
// change).
func ensureAnyWorkConsumer(ctx context.Context, js jetstream.JetStream, o SetupOptions) error {
	cfg := WorkConsumerConfig(AnyDaemon, o)
	if c, err := js.Consumer(ctx, WorkStream, AnyWorkConsumer); err == nil {
		if info := c.CachedInfo(); info != nil {
			cfg.MaxWaiting = info.Config.MaxWaiting
		}
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("open consumer %s on %s: %w", AnyWorkConsumer, WorkStream, err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, WorkStream, cfg); err != nil {
		return fmt.Errorf("create consumer %s on %s: %w", AnyWorkConsumer, WorkStream, err)
	}
	return nil
}

func durationOrForever(d time.Duration) string {
	if d <= 0 {
		return "forever"
	}
	return d.String()
}

func bytesOrUnlimited(n int64) string {
	if n <= 0 {
		return "unlimited"
	}
	return strconv.FormatInt(n, 10) + " B"
}
