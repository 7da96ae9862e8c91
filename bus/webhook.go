package bus

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Webhook delivery: a task created with a notify URL has the terminal
// event of each turn POSTed there by the gateway, from the durable
// consumer [WebhookConsumer] on the task log, retried with backoff until
// the receiver answers 2xx. What happened to each delivery is kept in
// [WebhookBucket].
const (
	// WebhookConsumer is the gateway's durable consumer of terminal
	// events on VIBER_TASKS.
	WebhookConsumer = "webhooks"
	// WebhookBucket is the KV bucket of delivery states, key
	// <task_id>.<event_id>. The gateway writes it; users read it through
	// the gateway's API.
	WebhookBucket = "viber_webhooks"
)

// HTTP headers of a webhook delivery. The body is the terminal event's
// CloudEvents envelope (JSON).
const (
	// HeaderWebhookSignature is "sha256=<hex HMAC-SHA256 of the body>"
	// keyed with the gateway's webhook secret ([SignWebhook]).
	HeaderWebhookSignature = "Viber-Signature"
	// HeaderWebhookEventID is the event id; a receiver that sees one twice
	// (a retry after its 2xx was lost) ignores the repeat.
	HeaderWebhookEventID = "Viber-Event-Id"
	// HeaderIdempotencyKey repeats the event id under the conventional
	// name.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderWebhookAttempt counts deliveries of this event, from 1.
	HeaderWebhookAttempt = "Viber-Delivery-Attempt"
)

// TerminalEventSubjects are the subject filters of the terminal events of
// every task, by any writer.
func TerminalEventSubjects() []string {
	var out []string
	for _, t := range []Type{TypeCompleted, TypeFailed, TypeCancelled} {
		out = append(out, taskPrefix+"*.*."+t.Short())
	}
	return out
}

// CreatedSubject is where the created event of a task is stored (the
// gateway writes it).
func CreatedSubject(taskID string) string {
	return TaskEventSubject(taskID, GatewayWriter, TypeCreated)
}

// WebhookConsumerConfig is the configuration of [WebhookConsumer]. It
// starts with the events stored after it is first created: tasks from
// before webhooks existed have none to deliver. Redelivery delays are set
// per message by the gateway (NakWithDelay), so AckWait only bounds a
// single attempt.
// Its replica count is its stream's.
func WebhookConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        WebhookConsumer,
		Description:    "the gateway POSTs terminal events to the tasks' notify URLs",
		FilterSubjects: TerminalEventSubjects(),
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        time.Minute,
		MaxDeliver:     -1,
		MaxAckPending:  10_000,
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	}
}

// SetupWebhooks creates the webhook consumer and bucket when missing.
func SetupWebhooks(ctx context.Context, js jetstream.JetStream, o SetupOptions) error {
	o = o.withDefaults()
	if _, err := js.Consumer(ctx, TaskStream, WebhookConsumer); errors.Is(err, jetstream.ErrConsumerNotFound) {
		if _, err := js.CreateConsumer(ctx, TaskStream, WebhookConsumerConfig()); err != nil && !errors.Is(err, jetstream.ErrConsumerExists) {
			return fmt.Errorf("create consumer %s on %s: %w", WebhookConsumer, TaskStream, err)
		}
	} else if err != nil {
		return fmt.Errorf("open consumer %s on %s: %w", WebhookConsumer, TaskStream, err)
	}
	return ensureBucket(ctx, js, jetstream.KeyValueConfig{Bucket: WebhookBucket, Description: "Viber webhook deliveries", History: 1, TTL: 30 * 24 * time.Hour, Storage: jetstream.FileStorage, Replicas: o.Replicas})
}

// SignWebhook is the value of [HeaderWebhookSignature] for body:
// "sha256=" and the hex HMAC-SHA256 of body keyed with secret.
func SignWebhook(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhook reports whether signature (a [HeaderWebhookSignature]
// value) is body's signature under secret, in constant time.
func VerifyWebhook(secret, body []byte, signature string) bool {
	return hmac.Equal([]byte(signature), []byte(SignWebhook(secret, body)))
}

// Webhook delivery states.
const (
	// WebhookPending: not delivered yet; retrying.
	WebhookPending = "pending"
	// WebhookDelivered: the receiver answered 2xx.
	WebhookDelivered = "delivered"
	// WebhookRefused: the URL may not be reached (a private address, a
	// bad URL); never retried.
	WebhookRefused = "refused"
	// WebhookGaveUp: retried until the attempts ran out.
	WebhookGaveUp = "gave_up"
)

// WebhookDelivery is what happened to the delivery of one terminal event.
type WebhookDelivery struct {
	Task    string `json:"task"`
	EventID string `json:"event_id"`
	Type    Type   `json:"type"`
	URL     string `json:"url"`
	// State is pending, delivered, refused or gave_up.
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	// LastStatus is the receiver's latest HTTP status (0 when none).
	LastStatus int `json:"last_status,omitempty"`
	// LastError says why the latest attempt failed.
	LastError string `json:"last_error,omitempty"`
	// NextAttempt is when a pending delivery is tried again.
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// Webhooks is the [WebhookBucket].
type Webhooks struct {
	kv jetstream.KeyValue
}

// OpenWebhooks opens the webhook bucket (see [SetupWebhooks]).
func OpenWebhooks(ctx context.Context, js jetstream.JetStream) (*Webhooks, error) {
	kv, err := js.KeyValue(ctx, WebhookBucket)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", WebhookBucket, err)
	}
	return &Webhooks{kv: kv}, nil
}

// Put records a delivery's state.
func (w *Webhooks) Put(ctx context.Context, d *WebhookDelivery) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if _, err := w.kv.Put(ctx, d.Task+"."+d.EventID, b); err != nil {
		return fmt.Errorf("record webhook delivery of %s: %w", d.EventID, err)
	}
	return nil
}

// ForTask returns the deliveries of a task's terminal events, oldest
// first.
func (w *Webhooks) ForTask(ctx context.Context, taskID string) ([]*WebhookDelivery, error) {
	if !ValidToken(taskID) {
		return nil, fmt.Errorf("task id %q: %w", taskID, ErrTaskNotFound)
	}
	watch, err := w.kv.Watch(ctx, taskID+".*", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list webhook deliveries of %s: %w", taskID, err)
	}
	defer func() { _ = watch.Stop() }()
	var out []*WebhookDelivery
	for e := range watch.Updates() {
		if e == nil {
			break
		}
		var d WebhookDelivery
		if json.Unmarshal(e.Value(), &d) == nil {
			out = append(out, &d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.Compare(out[i].EventID, out[j].EventID) < 0 })
	return out, nil
}
