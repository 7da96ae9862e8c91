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
	cons, err := g.projectorConsumer(ctx)
	if err != nil {
		return err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("projector consumer: %w", err)
	}
	target := info.Delivered.Stream + info.NumPending
	caughtUp := info.NumPending == 0
	if caughtUp {
		close(g.caughtUp)
	}
	pctx, cancel := context.WithCancel(ctx)
	g.projectorCancel = cancel
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.project(pctx, cons, target, caughtUp)
	}()
	return nil
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

func (g *Gateway) project(ctx context.Context, cons jetstream.Consumer, target uint64, caughtUp bool) {
	for ctx.Err() == nil {
		it, err := cons.Messages(jetstream.PullMaxMessages(64))
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
			md, _ := m.Metadata()
			var streamSeq uint64
			if md != nil {
				streamSeq = md.Sequence.Stream
			}
			if err := g.projectOne(ctx, m.Subject(), m.Data(), streamSeq); err != nil {
				if ctx.Err() != nil {
					break
				}
				g.log.Warn().Err(err).Str("subject", m.Subject()).Msg("projector: event not folded; retrying")
				_ = m.NakWithDelay(time.Second)
			} else {
				_ = m.Ack()
			}
			if !caughtUp && md != nil && md.Sequence.Stream >= target {
				caughtUp = true
				close(g.caughtUp)
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

// projectOne folds one message of the task log into its task's summary.
// A message that does not fit the task (forged, malformed, or out of order
// because an earlier one is being retried) makes the projector fold the
// task again from its log, which skips what does not fit and reports it.
func (g *Gateway) projectOne(ctx context.Context, subject string, data []byte, streamSeq uint64) error {
	taskID := bus.TaskIDFromSubject(subject)
	if !bus.ValidToken(taskID) {
		g.log.Warn().Str("subject", subject).Msg("projector: skipped a message that names no task")
		return nil
	}
	for range 16 {
		sum, rev, err := g.summaries.Get(ctx, taskID)
		create := false
		switch {
		case errors.Is(err, bus.ErrTaskNotFound):
			sum, create = &bus.Summary{}, true
		case err != nil:
			return err
		}
		if streamSeq != 0 && streamSeq <= sum.StreamSeq {
			return nil // already folded
		}
		ended := sum.State.Terminal()
		if _, err := sum.ApplyMsg(subject, data, streamSeq); err != nil {
			g.log.Warn().Err(err).Msg("projector: a message does not fit its task; folding the task again from its log")
			v, lerr := g.tasks.Load(ctx, taskID)
			if errors.Is(lerr, bus.ErrTaskNotFound) {
				return nil // a message for a task that does not exist: no summary
			}
			if lerr != nil {
				return lerr
			}
			sum = &v.Summary
		}
		err = g.summaries.Put(ctx, sum, rev, create)
		if err == nil {
			if !ended && sum.State.Terminal() {
				g.childEnded(sum) // a child's answer goes to a parent that did not wait
			}
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return err
		}
	}
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
