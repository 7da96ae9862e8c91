package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/viberhq/viber/bus"
)

// DefaultRetireAfter is how long a daemon may stay silent before the
// gateway removes its presence record and its own work consumer.
const DefaultRetireAfter = 7 * 24 * time.Hour

// retireEvery is how often daemons are considered for retirement: a
// twenty-fourth of RetireAfter, at least the sweep interval and at most an
// hour.
func (g *Gateway) retireEvery() time.Duration {
	return min(max(g.cfg.RetireAfter/24, g.cfg.SweepInterval), time.Hour)
}

// retireLoop retires long-silent daemons until the gateway stops.
func (g *Gateway) retireLoop(ctx context.Context) {
	if g.cfg.RetireAfter < 0 {
		return
	}
	t := time.NewTicker(g.retireEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.stop:
			return
		case <-t.C:
		}
		if _, err := g.RetireDaemons(ctx); err != nil && ctx.Err() == nil {
			g.log.Warn().Err(err).Msg("retiring silent daemons failed")
		}
	}
}

// RetireDaemons removes the presence record and the own work consumer
// (daemon-<id>) of every daemon whose last heartbeat is older than
// Config.RetireAfter, and own work consumers left without a presence
// record that have been idle as long. It never retires a daemon that
// beats (the presence record is deleted only if unchanged since read),
// that has a pull waiting (a live daemon keeps one), or that still has
// assignments pinned to it. A daemon that comes back later registers
// again as new. It returns the ids retired. Two gateways may run it at
// once.
func (g *Gateway) RetireDaemons(ctx context.Context) ([]string, error) {
	if g.cfg.RetireAfter < 0 {
		return nil, nil
	}
	cutoff := time.Now().Add(-g.cfg.RetireAfter)
	list, err := g.presence.List(ctx)
	if err != nil {
		return nil, err
	}
	consumers, err := bus.DaemonWorkConsumers(ctx, g.js)
	if err != nil {
		return nil, err
	}
	work := make(map[string]bus.DaemonWork, len(consumers))
	for _, c := range consumers {
		work[c.Daemon] = c
	}
	var retired []string
	var errs []error
	known := make(map[string]bool, len(list))
	for _, d := range list {
		known[d.ID] = true
		if !d.LastSeen.Before(cutoff) {
			continue
		}
		c, hasConsumer := work[d.ID]
		if hasConsumer && (c.Waiting > 0 || c.Pending > 0) {
			continue
		}
		ok, err := g.retire(ctx, d.ID, func(ctx context.Context) (bool, error) {
			return g.presence.Retire(ctx, d.ID, cutoff)
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			retired = append(retired, d.ID)
			g.log.Info().Str("daemon", d.ID).Time("last_seen", d.LastSeen).Dur("retire_after", g.cfg.RetireAfter).
				Msg("retired a silent daemon: presence record and work consumer removed")
		}
	}
	for _, c := range consumers {
		if known[c.Daemon] || !c.LastActive.Before(cutoff) || c.Waiting > 0 || c.Pending > 0 {
			continue
		}
		ok, err := g.retire(ctx, c.Daemon, func(context.Context) (bool, error) { return true, nil })
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			retired = append(retired, c.Daemon)
			g.log.Info().Str("daemon", c.Daemon).Time("last_active", c.LastActive).
				Msg("retired a work consumer without a daemon")
		}
	}
	return retired, errors.Join(errs...)
}

// retire retires daemon id if it has no pinned assignment and drop (its
// presence record's removal) succeeds, then deletes its work consumer. A
// daemon whose record reappeared meanwhile (it came back) gets its
// consumer again.
func (g *Gateway) retire(ctx context.Context, id string, drop func(context.Context) (bool, error)) (bool, error) {
	pending, err := bus.HasDaemonWork(ctx, g.js, id)
	if err != nil || pending {
		return false, err
	}
	if ok, err := drop(ctx); err != nil || !ok {
		return false, err
	}
	if err := bus.DeleteDaemonWorkConsumer(ctx, g.js, id); err != nil {
		return false, err
	}
	// A daemon starting right now creates its consumer and then beats:
	// if it beat, it may have lost the consumer just created.
	if _, err := g.presence.Get(ctx, id); err == nil {
		if _, err := g.js.CreateOrUpdateConsumer(ctx, bus.WorkStream, bus.WorkConsumerConfig(id, g.cfg.Setup)); err != nil {
			return false, err
		}
		return false, nil
	} else if !errors.Is(err, bus.ErrDaemonNotFound) {
		return false, err
	}
	return true, nil
}
