package daemon

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
)

// An edge daemon reaches the hub's task log through a leaf link that can be
// cut. Its runtime then keeps the task running: events the hub cannot take
// are kept, in order, in the daemon and forwarded by one goroutine per task
// with the same compare-and-set appends once the link is back. The turn is
// completed only after everything is forwarded, so the completion still
// sees follow-ups that reached the hub meanwhile.

// hubTimeout bounds one attempt to reach the hub from an edge.
const hubTimeout = 2 * time.Second

// unreachable reports whether err means the hub could not be reached (a
// cut link), as opposed to a refusal.
func unreachable(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrDisconnected)
}

// buffered reports whether events wait to be forwarded.
func (r *runtime) buffered() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending) > 0
}

// remember records an event the hub stored.
func (r *runtime) remember(ev *bus.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.cache); n == 0 || r.cache[n-1].Seq < ev.Seq {
		r.cache = append(r.cache, ev)
	}
	if r.stored == nil {
		r.stored = map[string]*bus.Event{}
	}
	r.stored[ev.ID] = ev
}

// buffer keeps an event for forwarding and starts the forwarder.
func (r *runtime) buffer(ev *bus.Event) *bus.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	last := uint64(0)
	if n := len(r.pending); n > 0 {
		last = r.pending[n-1].Seq
	} else if n := len(r.cache); n > 0 {
		last = r.cache[n-1].Seq
	}
	ev.Seq = last + 1 // tentative: the hub assigns the real one
	r.pending = append(r.pending, ev)
	if !r.forwarding {
		r.forwarding = true
		go r.forward()
	}
	r.d.log.Info().Str("task", r.taskID).Str("type", ev.Type.Short()).Int("buffered", len(r.pending)).Msg("hub unreachable: event kept on the edge")
	return ev
}

// forward appends buffered events to the hub in order until none is left.
func (r *runtime) forward() {
	for {
		r.mu.Lock()
		if len(r.pending) == 0 {
			r.forwarding = false
			close(r.drained)
			r.drained = make(chan struct{})
			r.mu.Unlock()
			return
		}
		ev := *r.pending[0]
		claim := r.claim
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), hubTimeout)
		if other := r.takenOver(ctx, claim); other != "" {
			cancel()
			r.mu.Lock()
			dropped := len(r.pending)
			r.pending = nil
			r.mu.Unlock()
			r.d.log.Warn().Str("task", r.taskID).Str("owner", other).Int("dropped", dropped).
				Msg("while the link was cut another daemon took the task over; the events kept on the edge are dropped")
			continue
		}
		stored, err := r.d.tasks.Append(ctx, &ev)
		cancel()
		switch {
		case err == nil:
			r.mu.Lock()
			r.pending = r.pending[1:]
			r.mu.Unlock()
			r.remember(stored)
		case unreachable(err):
			time.Sleep(500 * time.Millisecond)
		default:
			r.d.log.Error().Err(err).Str("task", r.taskID).Str("type", ev.Type.Short()).Msg("the hub refused a buffered event; dropping it")
			r.mu.Lock()
			r.pending = r.pending[1:]
			r.mu.Unlock()
		}
	}
}

// drain waits until every buffered event is on the hub.
func (r *runtime) drain(ctx context.Context) error {
	for {
		r.mu.Lock()
		if len(r.pending) == 0 {
			r.mu.Unlock()
			return nil
		}
		ch := r.drained
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// resolve returns the hub's copy of an event that was buffered.
func (r *runtime) resolve(ev *bus.Event) *bus.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.stored[ev.ID]; ok {
		return s
	}
	return ev
}

// edgeAppend appends through the hub, or buffers when it is unreachable or
// earlier events still wait.
func (r *runtime) edgeAppend(ctx context.Context, ev *bus.Event, prev *bus.Event) (*bus.Event, error) {
	if !r.buffered() {
		actx, cancel := context.WithTimeout(ctx, hubTimeout)
		var stored *bus.Event
		var err error
		if prev != nil {
			stored, err = r.d.tasks.AppendAfter(actx, ev, r.resolve(prev))
		} else {
			stored, err = r.d.tasks.Append(actx, ev)
		}
		cancel()
		if err == nil {
			r.remember(stored)
			return stored, nil
		}
		if ctx.Err() != nil || !unreachable(err) {
			return nil, err
		}
	}
	return r.buffer(ev), nil
}

// edgeEvents is the task's log as the edge knows it: the hub's, or while
// the hub is unreachable, what it last saw plus the buffered events.
func (r *runtime) edgeEvents(ctx context.Context) ([]*bus.Event, error) {
	if !r.buffered() {
		actx, cancel := context.WithTimeout(ctx, hubTimeout)
		events, err := r.d.tasks.Events(actx, r.taskID)
		cancel()
		if err == nil {
			r.mu.Lock()
			r.cache = events
			r.mu.Unlock()
			return events, nil
		}
		if ctx.Err() != nil || !unreachable(err) {
			return nil, err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(slices.Clone(r.cache), r.pending...), nil
}

// takenOver returns the daemon that claimed the task after claim, if any
// ("" when none did or the hub cannot be asked).
func (r *runtime) takenOver(ctx context.Context, claim *bus.Event) string {
	if claim == nil {
		return ""
	}
	for ev, err := range r.d.tasks.Replay(ctx, r.taskID, bus.ReplayOptions{AfterStreamSeq: claim.StreamSeq}) {
		if err != nil {
			return ""
		}
		if ev.Type == bus.TypeAssigned {
			if a, err := bus.DecodeAs[bus.Assigned](ev); err == nil && a.Daemon != r.d.cfg.ID {
				return a.Daemon
			}
		}
	}
	return ""
}
