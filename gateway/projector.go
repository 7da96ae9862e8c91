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
	cons, err := g.js.CreateOrUpdateConsumer(ctx, bus.TaskStream, jetstream.ConsumerConfig{
		Durable:     bus.ProjectorConsumer,
		Description: "folds the task log into the viber_tasks summaries",
		AckPolicy:   jetstream.AckExplicitPolicy,
		// Short: events a crashed gateway had fetched but not folded come
		// back to the next one after this long.
		AckWait:       5 * time.Second,
		MaxAckPending: 1024,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxDeliver:    -1,
	})
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
			if err := g.projectOne(ctx, m.Data()); err != nil {
				if ctx.Err() != nil {
					break
				}
				g.log.Warn().Err(err).Str("subject", m.Subject()).Msg("projector: event not folded")
				if errors.Is(err, bus.ErrMalformed) || errors.Is(err, bus.ErrUnknownType) {
					_ = m.Term()
				} else {
					_ = m.NakWithDelay(time.Second)
				}
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

func (g *Gateway) projectOne(ctx context.Context, data []byte) error {
	ev, err := bus.ParseEvent(data)
	if err != nil {
		return err
	}
	for range 16 {
		sum, rev, err := g.summaries.Get(ctx, ev.Subject)
		create := false
		switch {
		case errors.Is(err, bus.ErrTaskNotFound):
			sum, create = &bus.Summary{}, true
		case err != nil:
			return err
		}
		if ev.Seq <= sum.LastSeq {
			return nil // already folded
		}
		if ev.Seq != sum.LastSeq+1 {
			// A gap: fold the task again from its log.
			events, err := g.tasks.Events(ctx, ev.Subject)
			if err != nil {
				return err
			}
			var upTo []*bus.Event
			for _, e := range events {
				if e.Seq <= ev.Seq {
					upTo = append(upTo, e)
				}
			}
			if sum, err = bus.Fold(upTo); err != nil {
				return err
			}
		} else if _, err := sum.Apply(ev); err != nil {
			return err
		}
		err = g.summaries.Put(ctx, sum, rev, create)
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return err
		}
	}
	return fmt.Errorf("summary of %s: %w", ev.Subject, bus.ErrConflict)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
