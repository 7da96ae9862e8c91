package daemon

import (
	"context"
	"slices"
	"sync"
)

// slotSet counts the tasks a daemon runs against its capacity. A pull
// loop takes a slot before it fetches an assignment and the task gives it
// back when it ends. A task waiting for its child task gives its slot up
// meanwhile (so a daemon with one slot runs the child) and takes one back
// before the pull loops may: it is already running and only waited.
// Waiters are served in order (urgent ones first), each freed slot handed
// straight to the next, so a pull loop that gives its slot back and asks
// again at once cannot starve the others.
type slotSet struct {
	mu     sync.Mutex
	used   int
	max    int
	urgent []chan struct{}
	normal []chan struct{}
}

func newSlotSet(max int) *slotSet { return &slotSet{max: max} }

// acquire takes a slot, waiting until one is handed over; urgent waiters
// (tasks taking their slot back) go before the others. It returns ctx's
// error when ctx ends first.
func (s *slotSet) acquire(ctx context.Context, urgent bool) error {
	return s.acquireOr(ctx, urgent, nil)
}

// acquireOr is acquire, calling queued (when not nil) once the caller waits
// in line, so that it may ask whoever holds a slot idly to give it up.
func (s *slotSet) acquireOr(ctx context.Context, urgent bool, queued func()) error {
	s.mu.Lock()
	if s.used < s.max && len(s.urgent) == 0 && (urgent || len(s.normal) == 0) {
		s.used++
		s.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	if urgent {
		s.urgent = append(s.urgent, ch)
	} else {
		s.normal = append(s.normal, ch)
	}
	s.mu.Unlock()
	if queued != nil {
		queued()
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	select {
	case <-ch: // handed a slot just now: give it on
		s.used--
		s.dispatch()
	default:
		s.urgent = slices.DeleteFunc(s.urgent, func(c chan struct{}) bool { return c == ch })
		s.normal = slices.DeleteFunc(s.normal, func(c chan struct{}) bool { return c == ch })
	}
	s.mu.Unlock()
	return ctx.Err()
}

// take takes a slot at once, even beyond the capacity: a task that stops
// waiting for one (its context ended) still ends with a release.
func (s *slotSet) take() {
	s.mu.Lock()
	s.used++
	s.mu.Unlock()
}

// release gives a slot back, to the next waiter if there is one.
func (s *slotSet) release() { s.releaseN(1) }

// dispatch hands free slots to waiters, urgent ones first; s.mu is held.
func (s *slotSet) dispatch() {
	for s.used < s.max {
		var ch chan struct{}
		switch {
		case len(s.urgent) > 0:
			ch, s.urgent = s.urgent[0], s.urgent[1:]
		case len(s.normal) > 0:
			ch, s.normal = s.normal[0], s.normal[1:]
		default:
			return
		}
		s.used++
		close(ch)
	}
}

// takeFree takes up to n more slots at once, only those free with nobody
// waiting for one, and returns how many it took.
func (s *slotSet) takeFree(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.urgent) > 0 || len(s.normal) > 0 {
		return 0
	}
	k := max(0, min(n, s.max-s.used))
	s.used += k
	return k
}

// releaseN gives n slots back (see release).
func (s *slotSet) releaseN(n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	s.used -= n
	s.dispatch()
	s.mu.Unlock()
}

// free is how many slots are free.
func (s *slotSet) free() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max - s.used
}

// full reports whether every slot is taken.
func (s *slotSet) full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used >= s.max
}
