package client

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
)

// WatchOptions tune [Client.Watch].
type WatchOptions struct {
	// Follow says when the watch stops. The zero value, bus.UntilCaughtUp,
	// replays what is stored and stops; bus.UntilEnd follows live until the
	// task is caught up on a terminal event; bus.Forever follows until the
	// context ends (across follow-up turns).
	Follow bus.Follow
	// AfterSeq resumes a watch: only events whose seq is above it are
	// yielded. Pass the Seq of the last event seen to go on where an
	// earlier watch stopped (after an error, a restart of the tool, a
	// lost connection); nothing is skipped or repeated.
	AfterSeq uint64
}

// Watch yields a task's events in order, as typed envelopes, from the
// first one (or after opt.AfterSeq) and, depending on opt.Follow, live as
// they are stored. It reads the task log in JetStream directly, not through
// the gateway. An unknown task yields an error matching bus.ErrTaskNotFound
// (unless resuming). The first error ends the sequence; breaking out of the
// loop releases the consumer.
func (c *Client) Watch(ctx context.Context, taskID string, opt WatchOptions) iter.Seq2[*bus.Event, error] {
	return c.log.Replay(ctx, taskID, bus.ReplayOptions{Follow: opt.Follow, AfterSeq: opt.AfterSeq})
}

// WatchAll yields the events of every task stored from now on, in the
// order of the log, until ctx ends (which ends the sequence without an
// error). It is what an audit tool or a bridge to another system reads. An
// event that cannot be decoded yields an error matching bus.ErrMalformed
// or bus.ErrUnknownType and the watch goes on if the loop does; any other
// error ends it.
func (c *Client) WatchAll(ctx context.Context) iter.Seq2[*bus.Event, error] {
	return func(yield func(*bus.Event, error) bool) {
		cons, err := c.js.OrderedConsumer(ctx, bus.TaskStream, bus.AllTasksReaderConfig())
		if err != nil {
			yield(nil, fmt.Errorf("watch all tasks: %w", err))
			return
		}
		msgs, err := cons.Messages()
		if err != nil {
			yield(nil, fmt.Errorf("watch all tasks: %w", err))
			return
		}
		defer func() {
			msgs.Stop()
			c.deleteConsumer(cons)
		}()
		for {
			m, err := msgs.Next(jetstream.NextContext(ctx))
			if err != nil {
				if ctx.Err() == nil {
					yield(nil, fmt.Errorf("watch all tasks: %w", err))
				}
				return
			}
			ev, err := bus.ParseEvent(m.Data())
			if err != nil {
				if !yield(nil, fmt.Errorf("watch all tasks: event on %s: %w", m.Subject(), err)) {
					return
				}
				continue
			}
			if md, err := m.Metadata(); err == nil {
				ev.StreamSeq = md.Sequence.Stream
			}
			if !yield(ev, nil) {
				return
			}
		}
	}
}

// deleteConsumer removes an ordered consumer once a watch is done rather
// than leaving it to expire on the server.
func (c *Client) deleteConsumer(cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil || info.Name == "" {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.js.DeleteConsumer(ctx, bus.TaskStream, info.Name)
	}()
}

// Wait follows a task until the current turn ends and returns its final
// summary, folded from the log. ctx bounds the wait; the task goes on when
// it ends.
func (c *Client) Wait(ctx context.Context, taskID string) (*bus.Summary, error) {
	var events []*bus.Event
	for ev, err := range c.Watch(ctx, taskID, WatchOptions{Follow: bus.UntilEnd}) {
		if err != nil {
			return nil, fmt.Errorf("wait for task %s: %w", taskID, err)
		}
		events = append(events, ev)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("wait for task %s: %w", taskID, bus.ErrTaskNotFound)
	}
	return bus.Fold(events)
}

// Live calls fn with each piece of text a model writes for the task while
// it streams (viber.live.<task_id>). Deltas are never stored: they are for
// showing progress, while [Client.Watch] gives the whole messages once they
// are done. fn runs on one goroutine, in order. Live returns once the
// subscription is in place; stop ends it, and so does ctx.
func (c *Client) Live(ctx context.Context, taskID string, fn func(bus.Delta)) (stop func(), err error) {
	sub, err := bus.SubscribeDeltas(c.nc, taskID, fn)
	if err != nil {
		return nil, err
	}
	// Make sure the server has the subscription before returning, so no
	// delta published after Live returns is missed.
	fctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	if err := c.nc.FlushWithContext(fctx); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("live deltas of %s: %w", taskID, err)
	}
	unsubscribe := sync.OnceFunc(func() { _ = sub.Unsubscribe() })
	release := context.AfterFunc(ctx, unsubscribe)
	return func() {
		release()
		unsubscribe()
	}, nil
}
