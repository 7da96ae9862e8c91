package daemon

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
)

// pullState coordinates the daemon's two pull loops: one on its own work
// consumer (tasks pinned to it) and one on the shared consumer.
//
// A waiting pull holds the slots it may fill, so that a daemon never pulls
// more assignments than it has room for. The shared queue's pull asks for
// as many assignments as it holds slots: every free slot but one while the
// own loop has no pull out, which that loop then takes for a long pull of
// its own (an idle daemon's two pulls just wait). When no slot is left for
// it the own loop does not pull but waits to be told: a core subscription
// on the daemon's own work subjects (an assignment queued for it) or,
// every busyPullWait, a look for redeliveries, which no publish announces.
// Told, it asks the shared pull to give its slots up (PullWork ends a pull
// without losing what was delivered meanwhile; the shared loop runs that),
// takes a slot and pulls. Conversely, when the shared loop waits for a
// slot while the own loop's long pull holds one, it asks that pull to give
// it up. So a task on either queue is pulled at once whenever a slot is
// free, with one slot too.
type pullState struct {
	// ownWake is poked by the subscription on the daemon's own work
	// subjects, and by the own loop itself when its consumer has more.
	ownWake chan struct{}
	// ownYield and anyYield end the current long pull of each loop.
	ownYield, anyYield yieldSignal
	// ownPulling and anyPulling say that the loop has a long pull out.
	ownPulling, anyPulling atomic.Bool
	// recheck is how often the own loop looks at its queue unasked
	// while the shared pull holds the last slot (busyPullWait; tests
	// lengthen it).
	recheck time.Duration
}

// yieldSignal asks a loop's waiting pull to end and give its slot up.
type yieldSignal struct {
	mu      sync.Mutex
	cur     chan struct{} // the waiting pull's, nil between pulls
	pending bool          // asked between pulls: the next pull ends at once
}

// begin starts a pull and returns the channel that ends it.
func (y *yieldSignal) begin() <-chan struct{} {
	y.mu.Lock()
	defer y.mu.Unlock()
	y.cur = make(chan struct{})
	if y.pending {
		y.pending = false
		close(y.cur)
	}
	return y.cur
}

// end marks the pull over.
func (y *yieldSignal) end() {
	y.mu.Lock()
	y.cur = nil
	y.mu.Unlock()
}

// ask ends the waiting pull, or the next one if none waits.
func (y *yieldSignal) ask() {
	y.mu.Lock()
	defer y.mu.Unlock()
	if y.cur == nil {
		y.pending = true
		return
	}
	select {
	case <-y.cur:
	default:
		close(y.cur)
	}
}

// withdraw takes back an ask not yet acted on (the asker got its slot).
func (y *yieldSignal) withdraw() {
	y.mu.Lock()
	y.pending = false
	y.mu.Unlock()
}

// startPulling starts the two pull loops, and the subscription that wakes
// the own loop, until ctx ends.
func (d *Daemon) startPulling(ctx context.Context, own, anyc jetstream.Consumer, loops *sync.WaitGroup) {
	wake, err := d.cfg.NC.Subscribe(bus.WorkFilter(d.cfg.ID), func(*nats.Msg) { d.pokeOwn() })
	if err == nil {
		err = d.cfg.NC.Flush() // the server knows it before the first look below
	}
	// The own queue is looked at once at start: what was queued before
	// the subscription rang no bell.
	d.pokeOwn()
	if err != nil {
		// Without it the own queue is looked at every busyPullWait.
		d.log.Warn().Err(err).Msg("cannot watch this daemon's work subjects; its pinned tasks may wait up to " + busyPullWait.String() + " for its last free slot")
	}
	loops.Add(2)
	go func() {
		defer loops.Done()
		if wake != nil {
			defer func() { _ = wake.Unsubscribe() }()
		}
		d.ownLoop(ctx, own)
	}()
	go func() {
		defer loops.Done()
		d.anyLoop(ctx, anyc)
	}()
}

// pokeOwn tells the own loop that its queue may hold an assignment.
func (d *Daemon) pokeOwn() {
	select {
	case d.pulls.ownWake <- struct{}{}:
	default:
	}
}

// ownLoop pulls the daemon's own queue (see pullState).
func (d *Daemon) ownLoop(ctx context.Context, c jetstream.Consumer) {
	p := &d.pulls
	t := time.NewTimer(p.recheck)
	defer t.Stop()
	name := bus.DaemonWorkConsumer(d.cfg.ID)
	for ctx.Err() == nil {
		if free := d.slots.free(); free < 2 && (free < 1 || !p.anyPulling.Load()) {
			// Taking a slot would leave the shared queue none: wait
			// until told, or for the periodic look.
			select {
			case <-ctx.Done():
				return
			case <-p.ownWake:
			case <-t.C:
			}
			t.Reset(p.recheck)
		}
		select { // the pull below covers an earlier poke
		case <-p.ownWake:
		default:
		}
		if d.slots.acquireOr(ctx, false, p.anyYield.ask) != nil {
			return
		}
		p.anyYield.withdraw()
		wait, stop := quickPullWait, (<-chan struct{})(nil)
		long := !d.slots.full() || p.anyPulling.Load()
		if long {
			wait, stop = d.cfg.PullWait, p.ownYield.begin()
			p.ownPulling.Store(true)
		}
		more := false
		n, err := bus.PullWork(ctx, d.js, name, 1, wait, d.pullHeartbeat(), stop, func(msg *bus.WorkMsg) {
			more = msg.Pending() > 0
			d.run1(ctx, c, msg)
		})
		if long {
			p.ownPulling.Store(false)
			p.ownYield.end()
		}
		if more {
			d.pokeOwn() // more queued: no publish will say so
		}
		d.pulled(ctx, 1-n, err)
	}
}

// pullHeartbeat is how often the server heartbeats a long pull: every 5 s
// ([bus.DefaultPullHeartbeat]), or every presence heartbeat when that is
// longer, so that a large fleet that chose a long heartbeat to idle cheaply
// is not woken more often by its pulls. Two missed beats end a pull lost
// with a NATS node.
func (d *Daemon) pullHeartbeat() time.Duration {
	return max(d.cfg.Heartbeat, bus.DefaultPullHeartbeat)
}

// anyLoop pulls the shared queue (see pullState).
func (d *Daemon) anyLoop(ctx context.Context, c jetstream.Consumer) {
	p := &d.pulls
	for ctx.Err() == nil {
		if d.slots.acquireOr(ctx, false, p.ownYield.ask) != nil {
			return
		}
		p.ownYield.withdraw()
		// The free slots go to this pull (under load one request brings
		// many assignments, instead of one per round trip), but one,
		// while the own loop has no pull out: it waits there, so that
		// an idle daemon's two pulls just wait.
		extra := d.slots.free()
		if extra > 0 && !p.ownPulling.Load() {
			extra--
		}
		batch := 1 + d.slots.takeFree(min(extra, maxPullBatch-1))
		stop := p.anyYield.begin()
		p.anyPulling.Store(true)
		n, err := bus.PullWork(ctx, d.js, bus.AnyWorkConsumer, batch, d.cfg.PullWait, d.pullHeartbeat(), stop, func(msg *bus.WorkMsg) {
			d.run1(ctx, c, msg)
		})
		p.anyPulling.Store(false)
		p.anyYield.end()
		d.pulled(ctx, batch-n, err)
	}
}

// maxPullBatch bounds how many assignments one pull of the shared queue
// asks for.
const maxPullBatch = 64

// run1 runs an assignment a pull brought in one of the slots the pull
// held, which it gives back when done.
func (d *Daemon) run1(ctx context.Context, c jetstream.Consumer, msg *bus.WorkMsg) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer d.slots.release()
		d.handle(ctx, msg, ackWait(c, d.cfg.Setup.AckWait()))
	}()
}

// pulled gives back the slots a pull held and brought nothing for, and
// waits a moment after a failed pull.
func (d *Daemon) pulled(ctx context.Context, unused int, err error) {
	d.slots.releaseN(unused)
	if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		d.log.Warn().Err(err).Msg("pull failed; retrying")
		sleep(ctx, time.Second)
	}
}
