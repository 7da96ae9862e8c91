package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// tailWait bounds how long a writer that lost a compare-and-set waits for
// its tail to read what came first before it reports the log unavailable.
const tailWait = 10 * time.Second

// Tail follows one task's log and keeps its [View] current: the one reader
// a process needs for a task it acts on. A daemon opens one per running
// task; its agent reads the conversation from it, waits on it for
// decisions, cancels and follow-ups, and appends through it.
//
// Appends through a Tail are fenced: each is a compare-and-set against the
// head of the view, decided by a check on that same view. When another
// writer came first the Tail waits until it has read what came first and
// asks the check again — so a writer whose check says it no longer holds
// the task (another daemon claimed it, the turn ended) stops instead of
// writing after them.
type Tail struct {
	log      *Log
	taskID   string
	onReject func(error)
	from     uint64 // where the first reader starts (0: the beginning)
	caughtUp bool   // the first reader reached the end of the log (under mu)

	ownMu sync.Mutex
	own   map[string]struct{} // ids of events appended through this tail

	mu      sync.Mutex
	view    View
	changed chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

// Tail opens a tail on a task and returns once it has read every message
// stored when it was opened. from is the stream sequence of the task's
// first event when known (an assignment carries it), else 0: starting
// there spares the server a search of the stream. It returns
// ErrTaskNotFound for a task that does not exist. onReject (optional) is
// told about every message that does not fit the task; such messages are
// skipped. Close releases it.
func (l *Log) Tail(ctx context.Context, taskID string, from uint64, onReject func(error)) (*Tail, error) {
	// Where the log ends now: asked of the server, unless the first reader
	// starts at a known first event (it then says how much is left).
	head := uint64(0)
	if from == 0 {
		var err error
		if head, err = l.HeadSeq(ctx, taskID); err != nil {
			return nil, err
		}
	}
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t := &Tail{
		log: l, taskID: taskID, onReject: onReject, from: from,
		changed: make(chan struct{}), cancel: cancel, done: make(chan struct{}),
	}
	go t.follow(tctx)
	caughtUp := func(v *View) bool { return v.StreamSeq >= head && t.caughtUp }
	if head > 0 {
		caughtUp = func(v *View) bool { return v.StreamSeq >= head }
	}
	wctx, stop := ctx, context.CancelFunc(func() {})
	if from > 0 {
		// A start past the log's end (a stream reset, say) reads nothing:
		// after a while, look for the head and read it all.
		wctx, stop = context.WithTimeout(ctx, readTimeout)
	}
	err := t.Wait(wctx, caughtUp)
	stop()
	if err != nil {
		t.Close()
		if from > 0 && ctx.Err() == nil {
			return l.Tail(ctx, taskID, 0, onReject)
		}
		return nil, fmt.Errorf("read task %s: %w", taskID, err)
	}
	if t.Snapshot().LastSeq == 0 {
		why := t.Snapshot().LastRejection
		t.Close()
		if from > 0 {
			// from was not the task's first event: read it all.
			return l.Tail(ctx, taskID, 0, onReject)
		}
		return nil, fmt.Errorf("task %s: %w (its log holds only messages that do not fit a task: %s)", taskID, ErrTaskNotFound, why)
	}
	return t, nil
}

// follow reads the task's messages into the view until the tail is closed,
// opening a new reader from where it stopped after any error.
func (t *Tail) follow(ctx context.Context) {
	defer close(t.done)
	for ctx.Err() == nil {
		t.mu.Lock()
		after := t.view.StreamSeq
		t.mu.Unlock()
		if after == 0 && t.from > 0 {
			after = t.from - 1
		}
		r, err := t.log.openReader(t.taskID, after+1, true, t.isOwn)
		if err != nil {
			sleepCtx(ctx, 250*time.Millisecond)
			continue
		}
		for {
			m, err := r.Next(ctx)
			if err != nil {
				break
			}
			t.apply(m.subject, m.data, m.streamSeq, m.pending == 0)
		}
		r.Close()
		sleepCtx(ctx, 250*time.Millisecond)
	}
}

func (t *Tail) apply(subject string, data []byte, streamSeq uint64, last bool) {
	t.mu.Lock()
	if last && !t.caughtUp {
		t.caughtUp = true
		defer func() {
			t.mu.Lock()
			close(t.changed)
			t.changed = make(chan struct{})
			t.mu.Unlock()
		}()
	}
	before := t.view.StreamSeq
	ev, err := t.view.ApplyMsg(subject, data, streamSeq)
	if ev != nil {
		t.view.Events = append(t.view.Events, ev)
	}
	moved := t.view.StreamSeq != before
	if moved {
		close(t.changed)
		t.changed = make(chan struct{})
	}
	t.mu.Unlock()
	if err != nil && t.onReject != nil {
		t.onReject(err)
	}
}

// Close stops following the log. The tail's view stays readable.
func (t *Tail) Close() {
	t.cancel()
	<-t.done
}

// TaskID is the task the tail follows.
func (t *Tail) TaskID() string { return t.taskID }

// Snapshot returns a copy of the view as read so far.
func (t *Tail) Snapshot() *View {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.view.clone()
}

func (v *View) clone() *View {
	c := &View{Summary: v.Summary, Events: slices.Clone(v.Events)}
	c.OpenCalls = slices.Clone(v.OpenCalls)
	c.PendingApprovals = slices.Clone(v.PendingApprovals)
	return c
}

// Wait blocks until cond holds for the view (it is called under the
// tail's lock, after every change, and must not block) or ctx ends.
func (t *Tail) Wait(ctx context.Context, cond func(*View) bool) error {
	for {
		t.mu.Lock()
		ok := cond(&t.view)
		ch := t.changed
		t.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Append stores ev at the end of the task if check (called on the current
// view, under the tail's lock) allows it, as a compare-and-set against the
// view's head. When another writer came first it waits until the tail has
// read that, and asks check again. check's error is returned as is, so a
// writer that no longer holds the task gets its fencing error and nothing
// is stored. The stored event is in the view when Append returns.
func (t *Tail) Append(ctx context.Context, ev *Event, check func(*View) error) (*Event, error) {
	for {
		t.mu.Lock()
		for _, have := range t.view.After(t.view.TurnSeq) {
			if have.ID == ev.ID {
				// An earlier attempt of ours was stored (its ack was lost).
				t.mu.Unlock()
				return have, nil
			}
		}
		var err error
		if check != nil {
			err = check(&t.view)
		}
		streamSeq, seq := t.view.StreamSeq, t.view.LastSeq
		t.mu.Unlock()
		if err != nil {
			return nil, err
		}
		t.markOwn(ev.ID)
		stored, err := t.log.AppendAt(ctx, ev, streamSeq, seq)
		if err == nil {
			return stored, t.applyStored(stored)
		}
		if !errors.Is(err, ErrConflict) {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, tailWait)
		err = t.Wait(wctx, func(v *View) bool { return v.StreamSeq > streamSeq })
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("append %s to task %s: the log moved on but the newer events could not be read: %w", ev.Type.Short(), t.taskID, ErrUnavailable)
		}
	}
}

// markOwn remembers an event id this tail appends: the reader's doorbell
// need not ring for it (the view has it already; the reader reads past it
// at the next ring or poll).
func (t *Tail) markOwn(id string) {
	t.ownMu.Lock()
	defer t.ownMu.Unlock()
	if t.own == nil || len(t.own) > 256 {
		t.own = map[string]struct{}{}
	}
	t.own[id] = struct{}{}
}

// isOwn reports whether id is an event this tail appended.
func (t *Tail) isOwn(id string) bool {
	t.ownMu.Lock()
	defer t.ownMu.Unlock()
	_, ok := t.own[id]
	return ok
}

// applyStored adds an event this process stored to the view (the tail
// reads it too, later, and skips it then).
func (t *Tail) applyStored(ev *Event) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ev.StreamSeq <= t.view.StreamSeq {
		return nil // the tail was quicker
	}
	_, err := t.view.Apply(ev)
	if err == nil {
		t.view.Events = append(t.view.Events, ev)
	}
	close(t.changed)
	t.changed = make(chan struct{})
	if err != nil {
		return fmt.Errorf("stored %s does not fit task %s: %w", ev.Type.Short(), t.taskID, err)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
}
