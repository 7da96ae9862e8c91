package bus

import (
	"context"
	"errors"
	"fmt"
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
		Name:        TaskStream,
		Description: "Viber task log: every event of every task, in order",
		Subjects:    []string{TaskStreamSubjects()},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Duplicates:  o.DuplicateWindow,
		MaxMsgSize:  MaxEventBytes + 4096,
		Replicas:    o.Replicas,
		AllowDirect: true,
	}
}

// WorkStreamConfig is the configuration of VIBER_WORK.
func WorkStreamConfig(o SetupOptions) jetstream.StreamConfig {
	o = o.withDefaults()
	return jetstream.StreamConfig{
		Name:        WorkStream,
		Description: "Viber assignments: one message per task waiting for or held by a daemon",
		Subjects:    []string{WorkSubjects()},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.WorkQueuePolicy,
		Duplicates:  o.DuplicateWindow,
		Replicas:    o.Replicas,
		AllowDirect: true,
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
	return jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "assignments for " + target,
		FilterSubject: WorkFilter(target),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.AckWait(),
		MaxDeliver:    -1,
		MaxAckPending: 100_000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      o.Replicas,
	}
}

// AckWait returns the work ack wait with its default applied.
func (o SetupOptions) AckWait() time.Duration { return o.withDefaults().WorkAckWait }

// Setup creates the streams, the shared work consumer and the KV buckets
// when they are missing. It leaves existing ones as they are (an operator
// may have tuned them), so it is safe to call at every start-up from every
// process.
func Setup(ctx context.Context, js jetstream.JetStream, o SetupOptions) error {
	o = o.withDefaults()
	for _, cfg := range []jetstream.StreamConfig{TaskStreamConfig(o), WorkStreamConfig(o)} {
		if err := ensureStream(ctx, js, cfg); err != nil {
			return err
		}
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, WorkStream, WorkConsumerConfig(AnyDaemon, o)); err != nil {
		return fmt.Errorf("create consumer %s on %s: %w", AnyWorkConsumer, WorkStream, err)
	}
	for _, cfg := range []jetstream.KeyValueConfig{
		{Bucket: DaemonBucket, Description: "Viber daemon presence", History: 1, Storage: jetstream.FileStorage, Replicas: o.Replicas},
		{Bucket: TaskBucket, Description: "Viber task summaries, folded from VIBER_TASKS", History: 1, Storage: jetstream.FileStorage, Replicas: o.Replicas},
	} {
		if _, err := js.KeyValue(ctx, cfg.Bucket); err == nil {
			continue
		} else if !errors.Is(err, jetstream.ErrBucketNotFound) {
			return fmt.Errorf("open bucket %s: %w", cfg.Bucket, err)
		}
		if _, err := js.CreateKeyValue(ctx, cfg); err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
			return fmt.Errorf("create bucket %s: %w", cfg.Bucket, err)
		}
	}
	return nil
}

func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	if _, err := js.Stream(ctx, cfg.Name); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("open stream %s: %w", cfg.Name, err)
	}
	if _, err := js.CreateStream(ctx, cfg); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("create stream %s: %w", cfg.Name, err)
	}
	return nil
}
