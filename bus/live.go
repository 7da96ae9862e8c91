package bus

import (
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
)

// Delta is a piece of a model's answer published on viber.live.<task_id>
// while the model writes. Deltas are never stored: the log keeps the whole
// message once it is done.
type Delta struct {
	// TaskID is the task the model writes for.
	TaskID string `json:"task_id"`
	// Text is the new text.
	Text string `json:"text"`
	// Index counts deltas of one model call from 0.
	Index int `json:"index"`
}

// PublishDelta publishes d on [LiveSubject](d.TaskID), on core NATS only:
// nothing is stored and a delta nobody listens to is lost. The daemon
// running the task calls it while its model streams.
func PublishDelta(nc *nats.Conn, d Delta) error {
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode delta of task %s: %w", d.TaskID, err)
	}
	if err := nc.Publish(LiveSubject(d.TaskID), b); err != nil {
		return fmt.Errorf("publish delta of task %s: %w", d.TaskID, err)
	}
	return nil
}

// SubscribeDeltas calls fn with each delta published for a task, in order,
// on the subscription's goroutine; a message that is not a [Delta] is
// skipped. The gateway's event streams and the client's Live read deltas
// through it. Unsubscribe the returned subscription to stop; flush the
// connection first when no delta published after this call may be missed.
func SubscribeDeltas(nc *nats.Conn, taskID string, fn func(Delta)) (*nats.Subscription, error) {
	if !ValidToken(taskID) {
		return nil, fmt.Errorf("live deltas of %q: %w", taskID, ErrTaskNotFound)
	}
	sub, err := nc.Subscribe(LiveSubject(taskID), func(m *nats.Msg) {
		var d Delta
		if json.Unmarshal(m.Data, &d) != nil {
			return
		}
		fn(d)
	})
	if err != nil {
		return nil, fmt.Errorf("live deltas of %s: %w", taskID, err)
	}
	return sub, nil
}
