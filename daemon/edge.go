package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
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
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, bus.ErrUnavailable) || errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrDisconnected)
}

// edgeLink is the link of an edge daemon: appends go through the task's
// tail while the hub answers, and are kept (in memory and in the edge's
// outbox stream) and forwarded in order when it does not.
type edgeLink struct {
	rt *runtime

	mu         sync.Mutex
	pending    []*bus.Event
	conds      map[string]func(*bus.View) error // event id → the condition it is stored on
	stored     map[string]*bus.Event
	forwarding bool
	drained    chan struct{}
	life       context.Context // the daemon's run; forwarding stops with it
}

func newEdgeLink(rt *runtime) *edgeLink {
	return &edgeLink{rt: rt, drained: make(chan struct{}), life: context.Background()}
}

func (r *edgeLink) start(ctx context.Context) { r.life = ctx }

// buffered reports whether events wait to be forwarded.
func (r *edgeLink) buffered() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending) > 0
}

// remember records the hub's copy of an event that was buffered.
func (r *edgeLink) remember(ev *bus.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stored == nil {
		r.stored = map[string]*bus.Event{}
	}
	r.stored[ev.ID] = ev
}

// buffer keeps an event for forwarding (in the edge's own JetStream, when
// it has one) and starts the forwarder.
func (r *edgeLink) buffer(ev *bus.Event, extra func(*bus.View) error) *bus.Event {
	v := r.rt.tail.Snapshot()
	r.mu.Lock()
	defer r.mu.Unlock()
	last := v.LastSeq
	if n := len(r.pending); n > 0 {
		last = r.pending[n-1].Seq
	}
	ev.Seq = last + 1 // tentative: the hub assigns the real one
	r.rt.d.outboxPut(ev)
	r.pending = append(r.pending, ev)
	if extra != nil {
		if r.conds == nil {
			r.conds = map[string]func(*bus.View) error{}
		}
		r.conds[ev.ID] = extra
	}
	if !r.forwarding {
		r.forwarding = true
		go r.forward(r.life)
	}
	r.rt.d.log.Info().Str("task", r.rt.taskID).Str("type", ev.Type.Short()).Int("buffered", len(r.pending)).Msg("hub unreachable: event kept on the edge")
	return ev
}

// forward appends buffered events to the hub in order until none is left,
// or until the daemon stops (they stay in the edge's outbox for the next
// run). Each is a fenced append: when the task turns out to be held by
// another daemon (or its turn ended) while the link was cut, what was kept
// is dropped, never written after them.
func (r *edgeLink) forward(life context.Context) {
	for {
		r.mu.Lock()
		if life.Err() != nil || len(r.pending) == 0 {
			r.forwarding = false
			if len(r.pending) == 0 {
				close(r.drained)
				r.drained = make(chan struct{})
			}
			r.mu.Unlock()
			return
		}
		ev := *r.pending[0]
		extra := r.conds[ev.ID]
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), hubTimeout)
		stored, err := r.rt.append(ctx, &ev, extra)
		cancel()
		switch {
		case err == nil:
			r.pop()
			r.remember(stored)
		case errors.Is(err, bus.ErrConflict) && extra != nil:
			// Its condition no longer holds on the hub (a follow-up came
			// first): not stored; the turn finds its answer missing.
			r.rt.d.log.Info().Err(err).Str("task", r.rt.taskID).Str("type", ev.Type.Short()).Msg("a kept event's condition failed on the hub; dropping it")
			r.pop()
		case errors.Is(err, bus.ErrFenced):
			r.mu.Lock()
			dropped := len(r.pending)
			r.mu.Unlock()
			for range dropped {
				r.pop()
			}
			r.rt.d.log.Warn().Err(err).Str("task", r.rt.taskID).Int("dropped", dropped).
				Msg("while the link was cut this daemon lost the task; the events kept on the edge are dropped")
		case unreachable(err):
			sleep(life, 500*time.Millisecond)
		default:
			r.rt.d.log.Error().Err(err).Str("task", r.rt.taskID).Str("type", ev.Type.Short()).Msg("the hub refused a buffered event; dropping it")
			r.pop()
		}
	}
}

// pop removes the first buffered event, here and in the outbox.
func (r *edgeLink) pop() {
	r.mu.Lock()
	ev := r.pending[0]
	r.pending = r.pending[1:]
	delete(r.conds, ev.ID)
	r.mu.Unlock()
	r.rt.d.outboxDone(ev.ID)
}

// flush waits until every buffered event is on the hub.
func (r *edgeLink) flush(ctx context.Context) error {
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
func (r *edgeLink) resolve(ev *bus.Event) *bus.Event {
	if ev == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.stored[ev.ID]; ok {
		return s
	}
	return ev
}

// append appends through the hub, or buffers when it is unreachable or
// earlier events still wait.
func (r *edgeLink) append(ctx context.Context, ev *bus.Event, extra func(*bus.View) error) (*bus.Event, error) {
	if !r.buffered() {
		actx, cancel := context.WithTimeout(ctx, hubTimeout)
		stored, err := r.rt.append(actx, ev, extra)
		cancel()
		if err == nil {
			return stored, nil
		}
		if ctx.Err() != nil || !unreachable(err) {
			return nil, err
		}
	}
	return r.buffer(ev, extra), nil
}

// events is the task's log as the edge knows it: what its tail has read
// from the hub, plus the events buffered while the link is cut.
func (r *edgeLink) events() ([]*bus.Event, uint64) {
	v := r.rt.tail.Snapshot()
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(v.Events, r.pending...), v.LastSeq
}

// outbox is the edge's durable copy of buffered events.
type outbox struct {
	stream jetstream.Stream
	mu     sync.Mutex
	seqs   map[string]uint64 // event id → outbox stream sequence
}

// openOutbox creates (or opens) the edge's outbox stream.
func openOutbox(ctx context.Context, js jetstream.JetStream) (*outbox, error) {
	s, err := js.CreateOrUpdateStream(ctx, bus.OutboxStreamConfig())
	if err != nil {
		return nil, fmt.Errorf("edge outbox: %w", err)
	}
	return &outbox{stream: s, seqs: map[string]uint64{}}, nil
}

// outboxPut stores a buffered event on the edge (no-op without an outbox).
func (d *Daemon) outboxPut(ev *bus.Event) {
	if d.outbox == nil {
		return
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), hubTimeout)
	defer cancel()
	ack, err := d.localJS.PublishMsg(ctx, &nats.Msg{Subject: bus.OutboxSubject(ev.Subject), Data: b}, jetstream.WithMsgID(ev.ID))
	if err != nil {
		d.log.Error().Err(err).Str("task", ev.Subject).Msg("could not store an event on the edge; it is kept in memory only")
		return
	}
	d.outbox.mu.Lock()
	d.outbox.seqs[ev.ID] = ack.Sequence
	d.outbox.mu.Unlock()
}

// outboxDone removes a forwarded event from the edge's store.
func (d *Daemon) outboxDone(id string) {
	if d.outbox == nil {
		return
	}
	d.outbox.mu.Lock()
	seq, ok := d.outbox.seqs[id]
	delete(d.outbox.seqs, id)
	d.outbox.mu.Unlock()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), hubTimeout)
	defer cancel()
	_ = d.outbox.stream.DeleteMsg(ctx, seq)
}

// recoverOutbox forwards events a previous run of this edge daemon kept
// while the link was cut and could not forward before it stopped. It runs
// until they are all on the hub (or ctx ends).
func (d *Daemon) recoverOutbox(ctx context.Context) {
	info, err := d.outbox.stream.Info(ctx)
	if err != nil || info.State.Msgs == 0 {
		return
	}
	d.log.Info().Uint64("events", info.State.Msgs).Msg("edge: forwarding events kept from a previous run")
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && ctx.Err() == nil; seq++ {
		raw, err := d.outbox.stream.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted: already forwarded
		}
		ev, err := bus.ParseEvent(raw.Data)
		if err != nil {
			d.log.Error().Err(err).Uint64("seq", seq).Msg("edge: dropping an unreadable kept event")
			_ = d.outbox.stream.DeleteMsg(ctx, seq)
			continue
		}
		for ctx.Err() == nil {
			err := d.forwardKept(ctx, ev)
			if err == nil || !unreachable(err) {
				if err != nil {
					d.log.Error().Err(err).Str("task", ev.Subject).Msg("edge: the hub refused a kept event; dropping it")
				}
				_ = d.outbox.stream.DeleteMsg(ctx, seq)
				break
			}
			sleep(ctx, 500*time.Millisecond)
		}
	}
}

// forwardKept appends an event kept by a previous run of this daemon, only
// while this daemon still holds its task (any process of it: the one that
// kept the event is gone).
func (d *Daemon) forwardKept(ctx context.Context, ev *bus.Event) error {
	actx, cancel := context.WithTimeout(ctx, hubTimeout)
	defer cancel()
	tail, err := d.tasks.Tail(actx, ev.Subject, 0, d.reportReject(ev.Subject))
	if err != nil {
		return err
	}
	defer tail.Close()
	_, err = tail.Append(actx, ev, func(v *bus.View) error {
		if !v.Holds(d.cfg.ID, "") {
			return fmt.Errorf("%w: the task is no longer this daemon's (owner %q, %s)", bus.ErrFenced, v.Owner, v.State)
		}
		return v.Admits(ev)
	})
	return err
}
