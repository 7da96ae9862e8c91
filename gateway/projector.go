package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
)

// startProjector consumes VIBER_TASKS with the durable projector consumer
// and folds every event into its task's summary. Because the consumer is
// durable, a restarted gateway continues where the previous one stopped.
func (g *Gateway) startProjector(ctx context.Context) error {
	var (
		cons jetstream.Consumer
		info *jetstream.ConsumerInfo
	)
	err := g.retry(ctx, "create the projector consumer", func(ctx context.Context) (err error) {
		if cons, err = g.projectorConsumer(ctx); err != nil {
			return err
		}
		if info, err = cons.Info(ctx); err != nil {
			return fmt.Errorf("projector consumer: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	target := info.Delivered.Stream + info.NumPending
	caughtUp := info.NumPending == 0
	if caughtUp {
		g.markCaughtUp()
	}
	pctx, cancel := context.WithCancel(ctx)
	g.projectorCancel = cancel
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.project(pctx, cons, target, caughtUp)
	}()
	if !caughtUp {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.watchCaughtUp(pctx, cons, target)
		}()
	}
	return nil
}

func (g *Gateway) markCaughtUp() { g.caughtUpOnce.Do(func() { close(g.caughtUp) }) }

// watchCaughtUp marks the projection caught up once the shared consumer
// has delivered and settled everything up to target, whichever gateway
// folded it: with two gateways the last events may all go to the other.
func (g *Gateway) watchCaughtUp(ctx context.Context, cons jetstream.Consumer, target uint64) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.caughtUp:
			return
		case <-time.After(500 * time.Millisecond):
		}
		if info, err := cons.Info(ctx); err == nil && info.Delivered.Stream >= target && info.NumAckPending == 0 {
			g.markCaughtUp()
			return
		}
	}
}

// projectorConsumer creates (or finds) the projector's durable consumer.
func (g *Gateway) projectorConsumer(ctx context.Context) (jetstream.Consumer, error) {
	cons, err := g.js.CreateOrUpdateConsumer(ctx, bus.TaskStream, bus.ProjectorConsumerConfig())
	if err != nil {
		return nil, fmt.Errorf("projector consumer: %w", err)
	}
	return cons, nil
}

func (g *Gateway) stopProjector() {
	if g.projectorCancel != nil {
		g.projectorCancel()
	}
}

// projectBatch bounds how many messages are folded before their summaries
// are written and the messages acknowledged.
const projectBatch = 256

// projection is a summary the projector holds with its KV revision.
type projection struct {
	sum   *bus.Summary
	rev   uint64 // 0: not in the bucket yet
	dirty bool
	ended bool // a turn ended in what was folded since the last write
}

// projections caches summaries between batches, so that folding an event
// costs no read of the bucket (a revision mismatch on write means another
// writer came first: the entry is read again). It is bounded.
type projections map[string]*projection

const maxProjections = 8192

func (g *Gateway) project(ctx context.Context, cons jetstream.Consumer, target uint64, caughtUp bool) {
	cache := projections{}
	for ctx.Err() == nil {
		// Heartbeated like a daemon's pull: a pull held by a NATS node that
		// dies is lost without an error; two missed beats end the iterator and
		// the projector pulls again, from the consumer's new leader.
		it, err := cons.Messages(jetstream.PullMaxMessages(projectBatch), jetstream.PullHeartbeat(bus.DefaultPullHeartbeat))
		if err != nil {
			g.log.Warn().Err(err).Msg("projector: cannot consume, retrying")
			sleep(ctx, time.Second)
			continue
		}
		var nextErr error
		for {
			m, err := it.Next(jetstream.NextContext(ctx))
			if err != nil {
				nextErr = err
				break
			}
			// Fold what else is already here with it: the summaries of a
			// batch are written once per task, then every message is
			// acknowledged.
			batch := []jetstream.Msg{m}
			for len(batch) < projectBatch {
				more, err := it.Next(jetstream.NextMaxWait(time.Millisecond))
				if err != nil {
					break
				}
				batch = append(batch, more)
			}
			last := g.projectAll(ctx, cache, batch)
			if !caughtUp && last >= target {
				caughtUp = true
				g.markCaughtUp()
			}
		}
		it.Stop()
		if ctx.Err() != nil {
			return
		}
		g.log.Warn().Err(nextErr).Msg("projector: consuming stopped; resuming")
		if errors.Is(nextErr, jetstream.ErrConsumerDeleted) || errors.Is(nextErr, jetstream.ErrConsumerNotFound) {
			// Someone deleted it: make it again; it starts from the
			// beginning and folding is idempotent.
			if c, err := g.projectorConsumer(ctx); err == nil {
				cons = c
			}
		}
		sleep(ctx, time.Second)
	}
}

// projectAll folds a batch of messages, writes the summaries they changed
// and settles the messages: acknowledged once their task's summary is
// written, given back to be folded again when it could not be. It returns
// the highest stream sequence of the batch.
func (g *Gateway) projectAll(ctx context.Context, cache projections, batch []jetstream.Msg) uint64 {
	if len(cache) > maxProjections {
		clear(cache)
	}
	var last uint64
	failed := map[string]error{}
	tasks := make([]string, len(batch))
	for i, m := range batch {
		md, _ := m.Metadata()
		var streamSeq uint64
		if md != nil {
			streamSeq = md.Sequence.Stream
			last = max(last, streamSeq)
		}
		tasks[i] = bus.TaskIDFromSubject(m.Subject())
		if failed[tasks[i]] != nil {
			continue // keep a task's messages in order: retry them together
		}
		if err := g.fold(ctx, cache, m.Subject(), m.Data(), streamSeq); err != nil {
			failed[tasks[i]] = err
		}
	}
	stored := map[string]bool{}
	for _, id := range tasks {
		p := cache[id]
		if p == nil || !p.dirty || failed[id] != nil || stored[id] {
			continue
		}
		stored[id] = true
		if err := g.store(ctx, cache, id, p); err != nil {
			failed[id] = err
		}
	}
	for i, m := range batch {
		if err := failed[tasks[i]]; err != nil {
			if ctx.Err() == nil {
				g.log.Warn().Err(err).Str("subject", m.Subject()).Msg("projector: event not folded; retrying")
			}
			delete(cache, tasks[i]) // read it again next time
			_ = m.NakWithDelay(time.Second)
			continue
		}
		_ = m.Ack()
	}
	return last
}

// fold folds one message of the task log into its task's cached summary.
// A message that does not fit the task (forged, malformed, or out of order
// because an earlier one is being retried) makes the projector fold the
// task again from its log, which skips what does not fit and reports it.
func (g *Gateway) fold(ctx context.Context, cache projections, subject string, data []byte, streamSeq uint64) error {
	taskID := bus.TaskIDFromSubject(subject)
	if !bus.ValidToken(taskID) {
		g.log.Warn().Str("subject", subject).Msg("projector: skipped a message that names no task")
		return nil
	}
	p := cache[taskID]
	if p == nil {
		sum, rev := &bus.Summary{}, uint64(0)
		// A task's created event is its first: nothing folded it before,
		// unless this is a redelivery, and then writing the summary meets
		// the stored one (store reads it and keeps the newer). Any other
		// event folds onto the stored summary.
		if _, _, typ, _ := bus.TaskSubjectParts(subject); typ != bus.TypeCreated.Short() {
			var err error
			sum, rev, err = g.summaries.Get(ctx, taskID)
			switch {
			case errors.Is(err, bus.ErrTaskNotFound):
				sum, rev = &bus.Summary{}, 0
			case err != nil:
				return err
			}
		}
		p = &projection{sum: sum, rev: rev}
		cache[taskID] = p
	}
	if streamSeq != 0 && streamSeq <= p.sum.StreamSeq {
		return nil // already folded
	}
	prevState, prevUsage := p.sum.State, p.sum.Usage
	ended := p.sum.State.Terminal()
	ev, err := p.sum.ApplyMsg(subject, data, streamSeq)
	if err == nil && ev != nil {
		// Counted when folded: a batch whose write fails and is folded
		// again may count an event twice (rare, and only a metric).
		g.metrics.Folded(prevState, prevUsage, p.sum, ev)
	}
	if err != nil {
		g.log.Warn().Err(err).Msg("projector: a message does not fit its task; folding the task again from its log")
		v, lerr := g.tasks.Load(ctx, taskID, p.sum.FirstStreamSeq)
		if errors.Is(lerr, bus.ErrTaskNotFound) {
			delete(cache, taskID) // a message for a task that does not exist: no summary
			return nil
		}
		if lerr != nil {
			return lerr
		}
		p.sum = &v.Summary
	}
	p.dirty = true
	if !ended && p.sum.State.Terminal() {
		p.ended = true
	}
	return nil
}

// store writes a cached summary, compare-and-set on its revision. When
// another writer came first it reads the stored summary, and keeps
// whichever has folded further.
func (g *Gateway) store(ctx context.Context, cache projections, taskID string, p *projection) error {
	for range 16 {
		rev, err := g.summaries.Put(ctx, p.sum, p.rev, p.rev == 0)
		if err == nil {
			p.rev, p.dirty = rev, false
			if p.ended {
				p.ended = false
				g.childEnded(p.sum) // a child's answer goes to a parent that did not wait
			}
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return err
		}
		stored, srev, gerr := g.summaries.Get(ctx, taskID)
		if gerr != nil {
			return gerr
		}
		p.rev = srev
		if stored.StreamSeq >= p.sum.StreamSeq {
			p.sum, p.dirty = stored, false
			return nil
		}
	}
	delete(cache, taskID)
	return fmt.Errorf("summary of %s: %w", taskID, bus.ErrConflict)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
