package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Chat channel bridges (package channel) keep their state in two buckets
// and read the task log through one durable consumer per platform.
const (
	// ChannelBucket is the KV bucket of chat bridges: which task a chat
	// talks to (chat.<platform>.<chat>), which chat a task answers to
	// (task.<task_id>) and which strangers were refused
	// (refused.<platform>.<sender>). Written and read by bridges only.
	ChannelBucket = "viber_channels"
	// ChannelDeliveryBucket is the KV bucket of what bridges delivered:
	// per event id, the parts of a reply the platform accepted
	// (sent.<event_id>) and the approval messages posted
	// (approval.<event_id>, call.<task_id>.<call hash>). Entries expire
	// after [ChannelDeliveryMaxAge].
	ChannelDeliveryBucket = "viber_channel_deliveries"
	// ChannelDeliveryMaxAge is how long a delivery record is kept: far
	// longer than any redelivery of the bridge's consumer.
	ChannelDeliveryMaxAge = 7 * 24 * time.Hour
)

// ChannelConsumer is the durable consumer on VIBER_TASKS of the bridge to
// one chat platform ("telegram", "slack"): channel-<platform>.
func ChannelConsumer(platform string) string { return "channel-" + platform }

// ChannelEventTypes are the event types a chat bridge reads from the task
// log: created (to learn which tasks it owns), the approval events (to
// post and update Approve / Deny buttons) and the terminal events (the
// replies).
func ChannelEventTypes() []Type {
	return []Type{TypeCreated, TypeApprovalRequested, TypeApprovalDecided, TypeCompleted, TypeFailed, TypeCancelled}
}

// ChannelEventSubjects are the filter subjects of a bridge's consumer:
// viber.task.*.*.<event> for each of [ChannelEventTypes].
func ChannelEventSubjects() []string {
	var out []string
	for _, t := range ChannelEventTypes() {
		out = append(out, taskPrefix+"*.*."+t.Short())
	}
	return out
}

// ChannelConsumerConfig is the configuration of a bridge's durable
// consumer. It starts at the end of the log when first created, delivers
// one event at a time (MaxAckPending 1) so that a task's created event is
// handled before its replies even across redeliveries, and redelivers an
// event not acked within ackWait.
// Its replica count is its stream's: the bridge need not know --replicas.
func ChannelConsumerConfig(platform string, ackWait time.Duration) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        ChannelConsumer(platform),
		Description:    "replies of the " + platform + " chat bridge",
		FilterSubjects: ChannelEventSubjects(),
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        ackWait,
		MaxDeliver:     -1,
		MaxAckPending:  1,
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	}
}

// OpenChannelBuckets opens (creating them when missing) the two buckets
// of chat bridges: [ChannelBucket] and [ChannelDeliveryBucket].
func OpenChannelBuckets(ctx context.Context, js jetstream.JetStream, o SetupOptions) (state, deliveries jetstream.KeyValue, err error) {
	o = o.withDefaults()
	open := func(cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
		kv, err := js.KeyValue(ctx, cfg.Bucket)
		if err == nil {
			return kv, nil
		}
		if !errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, fmt.Errorf("open bucket %s: %w", cfg.Bucket, err)
		}
		kv, err = js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, cfg.Bucket)
		}
		if err != nil {
			return nil, fmt.Errorf("create bucket %s: %w", cfg.Bucket, err)
		}
		return kv, nil
	}
	state, err = open(jetstream.KeyValueConfig{Bucket: ChannelBucket, Description: "Viber chat bridges: chat to task, task to chat, refused senders",
		History: 1, Storage: jetstream.FileStorage, Replicas: o.Replicas})
	if err != nil {
		return nil, nil, err
	}
	deliveries, err = open(jetstream.KeyValueConfig{Bucket: ChannelDeliveryBucket, Description: "Viber chat bridges: replies and approval messages delivered, by event id",
		History: 1, Storage: jetstream.FileStorage, Replicas: o.Replicas, TTL: ChannelDeliveryMaxAge})
	if err != nil {
		return nil, nil, err
	}
	return state, deliveries, nil
}
