package channel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// chatRecord is chat.<platform>.<chat> in bus.ChannelBucket: the task the
// chat talks to.
type chatRecord struct {
	Task string `json:"task"`
}

// taskRecord is task.<task_id> in bus.ChannelBucket: where the task's
// replies go.
type taskRecord struct {
	Platform string `json:"platform"`
	Chat     string `json:"chat"`
}

// sentRecord is sent.<event_id> in bus.ChannelDeliveryBucket: how much of
// a reply the platform accepted.
type sentRecord struct {
	// Parts counts the parts accepted, in order.
	Parts int `json:"parts"`
	// Messages are their ids.
	Messages []string `json:"messages,omitempty"`
	// Progress is the progress message the first part replaces ("" to
	// send the first part as a new message).
	Progress string `json:"progress,omitempty"`
}

// approvalRecord is approval.<event_id> in bus.ChannelDeliveryBucket: the
// message posted for an approval_requested event.
type approvalRecord struct {
	Task     string `json:"task"`
	Call     string `json:"call"`
	Chat     string `json:"chat"`
	Markdown string `json:"markdown"`
	Message  string `json:"message,omitempty"`
	// Outcome is set once the message shows the decision.
	Outcome string `json:"outcome,omitempty"`
}

func chatKey(platform, chat string) string { return "chat." + platform + "." + keyToken(chat) }
func taskKey(task string) string           { return "task." + task }
func refusedKey(platform, sender string) string {
	return "refused." + platform + "." + keyToken(sender)
}
func sentKey(eventID string) string      { return "sent." + eventID }
func seenKey(platform, id string) string { return "seen." + platform + "." + keyToken(id) }
func approvalKey(eventID string) string  { return "approval." + eventID }

// callKey finds the approval message of a call (call ids are the model's
// and may hold anything, so they are hashed).
func callKey(task, call string) string {
	h := sha256.Sum256([]byte(call))
	return "call." + task + "." + hex.EncodeToString(h[:12])
}

// keyToken makes an id safe as one KV key token: ids made only of
// letters, digits, '-' and '_' stay as they are, others are hashed.
func keyToken(s string) string {
	ok := s != "" && len(s) <= 64
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
	}
	if ok {
		return s
	}
	h := sha256.Sum256([]byte(s))
	return "h" + hex.EncodeToString(h[:16])
}

// getJSON reads a key into v; found is false when the key does not exist.
func getJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) (found bool, err error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	return true, nil
}

// putJSON writes v under key.
func putJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	if _, err := kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}
