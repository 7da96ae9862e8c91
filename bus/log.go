package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Limits of the task log.
const (
	// MaxEventBytes is the largest encoded event the log accepts. Writers
	// cut long tool output before it gets here.
	MaxEventBytes = 1 << 20
	// maxAppendAttempts bounds the optimistic-concurrency retries of one
	// append.
	maxAppendAttempts = 64
	// headCacheSize bounds how many task heads a Log remembers.
	headCacheSize = 8192
)

// head is where a task's log ends: the stream sequence of its last event and
// that event's seq.
type head struct {
	streamSeq uint64
	seq       uint64
	lastID    string
}

// Log appends to and reads from the task log (stream VIBER_TASKS). It is
// safe for concurrent use; one Log per connection is enough.
type Log struct {
	js jetstream.JetStream

	streamOnce sync.Mutex
	stream     jetstream.Stream

	mu    sync.Mutex
	heads map[string]head
}

// NewLog returns a Log over a JetStream context. The streams must exist
// (see [Setup]).
func NewLog(js jetstream.JetStream) *Log {
	return &Log{js: js, heads: make(map[string]head)}
}

func (l *Log) taskStream(ctx context.Context) (jetstream.Stream, error) {
	l.streamOnce.Lock()
	defer l.streamOnce.Unlock()
	if l.stream != nil {
		return l.stream, nil
	}
	s, err := l.js.Stream(ctx, TaskStream)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", TaskStream, err)
	}
	l.stream = s
	return s, nil
}

func (l *Log) cachedHead(taskID string) (head, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.heads[taskID]
	return h, ok
}

func (l *Log) setHead(taskID string, h head) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cur, ok := l.heads[taskID]; ok && cur.streamSeq > h.streamSeq {
		return
	}
	if len(l.heads) >= headCacheSize {
		clear(l.heads)
	}
	l.heads[taskID] = h
}

func (l *Log) forgetHead(taskID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.heads, taskID)
}

// lastMsg returns the last message stored on a task's subjects (which may
// be one readers reject), or ErrTaskNotFound.
func (l *Log) lastMsg(ctx context.Context, taskID string) (*jetstream.RawStreamMsg, error) {
	if !ValidToken(taskID) {
		return nil, fmt.Errorf("task id %q: %w", taskID, ErrTaskNotFound)
	}
	s, err := l.taskStream(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := s.GetLastMsgForSubject(ctx, TaskFilter(taskID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("task %s: %w", taskID, ErrTaskNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read last event of task %s: %w", taskID, err)
	}
	return raw, nil
}

// HeadSeq returns the stream sequence of the last message stored on a
// task's subjects, or ErrTaskNotFound. It costs one direct get.
func (l *Log) HeadSeq(ctx context.Context, taskID string) (uint64, error) {
	raw, err := l.lastMsg(ctx, taskID)
	if err != nil {
		return 0, err
	}
	return raw.Sequence, nil
}

// Last returns the last event of a task when it is a well-formed event
// stored where it belongs, or ErrTaskNotFound. It does not check that the
// event fits the task (only a fold can): use [Log.Load] to act on a task.
func (l *Log) Last(ctx context.Context, taskID string) (*Event, error) {
	raw, err := l.lastMsg(ctx, taskID)
	if err != nil {
		return nil, err
	}
	ev, err := ParseEvent(raw.Data)
	if err == nil {
		err = checkSubject(raw.Subject, ev)
	}
	if err != nil {
		return nil, fmt.Errorf("last event of task %s: %w: %w", taskID, ErrRejected, err)
	}
	ev.StreamSeq = raw.Sequence
	l.setHead(taskID, head{streamSeq: raw.Sequence, seq: ev.Seq, lastID: ev.ID})
	return ev, nil
}

func (l *Log) loadHead(ctx context.Context, taskID string) (head, error) {
	ev, err := l.Last(ctx, taskID)
	if errors.Is(err, ErrTaskNotFound) {
		return head{}, nil
	}
	if err != nil {
		return head{}, err
	}
	return head{streamSeq: ev.StreamSeq, seq: ev.Seq, lastID: ev.ID}, nil
}

// Append stores an event at the end of its task and returns it with Seq and
// StreamSeq set. It returns only after JetStream acknowledged the write.
//
// An event of type created must be the first of its task; any other event
// needs an existing task. Appends from several writers to one task are
// serialised with JetStream's expected-last-subject-sequence check; a writer
// that lost the race re-reads the head and tries again — so Append is for
// creating tasks and for tools that copy or generate logs. Writers that act
// on what they read (the gateway's decisions, every daemon write) append
// through a [Tail] or [Log.AppendAfter] so that a stale writer is fenced. Appending an event
// whose id is already stored returns the stored event (at-least-once
// publishing with exactly-once storage).
func (l *Log) Append(ctx context.Context, ev *Event) (*Event, error) {
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	taskID := ev.Subject
	for attempt := 0; attempt < maxAppendAttempts; attempt++ {
		h, ok := l.cachedHead(taskID)
		if !ok {
			var err error
			if h, err = l.loadHead(ctx, taskID); err != nil {
				return nil, err
			}
		}
		if h.lastID == ev.ID {
			// A previous attempt of ours was stored.
			ev.Seq, ev.StreamSeq = h.seq, h.streamSeq
			return ev, nil
		}
		if ev.Type == TypeCreated && h.seq != 0 {
			return nil, fmt.Errorf("create task %s: it already exists: %w", taskID, ErrConflict)
		}
		if ev.Type != TypeCreated && h.seq == 0 {
			return nil, fmt.Errorf("append %s: task %s: %w", ev.Type, taskID, ErrTaskNotFound)
		}
		stored, err := l.appendAt(ctx, ev, h)
		if errors.Is(err, errWrongHead) {
			continue
		}
		return stored, err
	}
	return nil, fmt.Errorf("append %s to task %s after %d attempts: %w", ev.Type, taskID, maxAppendAttempts, ErrConflict)
}

// AppendAfter stores an event only if the task's last message is still
// prev (an event, or a [View]'s head): a compare-and-set on the log. It returns ErrConflict when another event
// came first. Writers use it to claim a task or to act on what they just
// read (for example to cancel a task no daemon has taken yet).
func (l *Log) AppendAfter(ctx context.Context, ev *Event, prev *Event) (*Event, error) {
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	if prev == nil || prev.Subject != ev.Subject {
		return nil, fmt.Errorf("append after: %w: previous event of another task", ErrMalformed)
	}
	return l.AppendAt(ctx, ev, prev.StreamSeq, prev.Seq)
}

// AppendAt stores an event only if the task's last message is still at
// stream sequence streamSeq and its last event has seq: the
// compare-and-set every writer that decides on a fold uses. It returns
// ErrConflict when another message came first.
func (l *Log) AppendAt(ctx context.Context, ev *Event, streamSeq, seq uint64) (*Event, error) {
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	stored, err := l.appendAt(ctx, ev, head{streamSeq: streamSeq, seq: seq})
	if errors.Is(err, errWrongHead) {
		return nil, fmt.Errorf("append %s to task %s: %w", ev.Type, ev.Subject, ErrConflict)
	}
	return stored, err
}

// errWrongHead means the task's log no longer ends where the writer
// thought; the head cache is already forgotten.
var errWrongHead = errors.New("task log head moved")

// appendAt stores ev right after h (a compare-and-set on the task's
// subjects). A stored duplicate of ev (same id) is returned as stored.
func (l *Log) appendAt(ctx context.Context, ev *Event, h head) (*Event, error) {
	ev.Seq = h.seq + 1
	msg, err := eventMsg(ev)
	if err != nil {
		return nil, err
	}
	InjectTrace(ctx, msg.Header)
	ack, err := l.js.PublishMsg(ctx, msg,
		jetstream.WithMsgID(ev.ID),
		jetstream.WithExpectLastSequenceForSubject(h.streamSeq, TaskFilter(ev.Subject)))
	if err != nil {
		if isWrongLastSeq(err) {
			l.forgetHead(ev.Subject)
			return nil, errWrongHead
		}
		return nil, fmt.Errorf("append %s to task %s: %w", ev.Type, ev.Subject, err)
	}
	if ack.Duplicate {
		return l.At(ctx, ack.Sequence)
	}
	ev.StreamSeq = ack.Sequence
	l.setHead(ev.Subject, head{streamSeq: ack.Sequence, seq: ev.Seq, lastID: ev.ID})
	return ev, nil
}

// eventMsg encodes an event as the message stored for it.
func eventMsg(ev *Event) (*nats.Msg, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	if len(body) > MaxEventBytes {
		return nil, fmt.Errorf("event %s of %d bytes (limit %d): %w", ev.Type, len(body), MaxEventBytes, ErrTooLarge)
	}
	writer, err := WriterOf(ev.Source)
	if err != nil {
		return nil, err
	}
	msg := &nats.Msg{Subject: TaskEventSubject(ev.Subject, writer, ev.Type), Data: body, Header: nats.Header{}}
	msg.Header.Set(HeaderEventType, string(ev.Type))
	return msg, nil
}

// AppendPayload builds an event from a payload and appends it.
func (l *Log) AppendPayload(ctx context.Context, taskID, source string, p Payload) (*Event, error) {
	ev, err := NewEvent(taskID, source, p)
	if err != nil {
		return nil, err
	}
	return l.Append(ctx, ev)
}

// At reads the event stored at a stream sequence.
func (l *Log) At(ctx context.Context, streamSeq uint64) (*Event, error) {
	s, err := l.taskStream(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := s.GetMsg(ctx, streamSeq)
	if err != nil {
		return nil, fmt.Errorf("read event at %d: %w", streamSeq, err)
	}
	ev, err := ParseEvent(raw.Data)
	if err != nil {
		return nil, err
	}
	ev.StreamSeq = raw.Sequence
	return ev, nil
}

func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
	}
	return false
}

// Follow says how far a replay goes.
type Follow int

const (
	// UntilCaughtUp delivers the events stored when the replay started and
	// stops.
	UntilCaughtUp Follow = iota
	// UntilEnd delivers every event and keeps following live until the task
	// is caught up on a terminal event (completed, failed or cancelled).
	UntilEnd
	// Forever keeps following until the context ends.
	Forever
)

// ReplayOptions tune [Log.Replay].
type ReplayOptions struct {
	// Follow says when the replay stops; the default stops when caught up.
	Follow Follow
	// AfterStreamSeq skips events at or before this stream sequence (a
	// resume point, e.g. the StreamSeq of the last event seen).
	AfterStreamSeq uint64
	// AfterSeq skips events whose task seq is at or below it.
	AfterSeq uint64
	// OnReject, when set, is told about every message of the task that
	// does not fit it (see [Summary]); such messages are never yielded.
	OnReject func(error)
	// Summary, when set, receives the fold of everything read so far.
	Summary *Summary
	// From is the stream sequence of the task's first event when known
	// (a summary's FirstStreamSeq, an assignment's From): the replay starts
	// there instead of making the server search the stream.
	From uint64
	// CaughtUp, when set, is called once, after the events stored when the
	// replay started were yielded (even if the last of them was rejected).
	CaughtUp func()
}

// Replay yields a task's events in order, from the first, as typed
// envelopes, each checked by a fold of the task: messages that do not fit
// (forged, malformed, out of order, from a writer that may not write them)
// are skipped and reported to OnReject. The check needs the whole log, so a
// replay always reads from the task's first message; a resume point only
// skips yielding. It yields ErrTaskNotFound when the task has no events and
// stops at the first error. Stopping the loop early releases the reader
// (see read.go: no JetStream consumer is used).
func (l *Log) Replay(ctx context.Context, taskID string, opt ReplayOptions) iter.Seq2[*Event, error] {
	return func(yield func(*Event, error) bool) {
		if !ValidToken(taskID) {
			yield(nil, fmt.Errorf("task id %q: %w", taskID, ErrTaskNotFound))
			return
		}
		last, err := l.HeadSeq(ctx, taskID)
		if err != nil {
			yield(nil, err)
			return
		}
		sum := opt.Summary
		if sum == nil {
			sum = &Summary{}
		}
		if opt.From > last {
			opt.From = 0
		}
		r, err := l.openReader(taskID, max(opt.From, 1), opt.Follow != UntilCaughtUp, nil)
		if err != nil {
			yield(nil, fmt.Errorf("replay task %s: %w", taskID, err))
			return
		}
		defer r.Close()
		for {
			m, err := r.Next(ctx)
			if err != nil {
				yield(nil, fmt.Errorf("replay task %s: %w", taskID, err))
				return
			}
			ev, err := sum.ApplyMsg(m.subject, m.data, m.streamSeq)
			if err != nil && opt.OnReject != nil {
				opt.OnReject(err)
			}
			if ev != nil && ev.StreamSeq > opt.AfterStreamSeq && ev.Seq > opt.AfterSeq {
				if !yield(ev, nil) {
					return
				}
			}
			caughtUp := m.streamSeq >= last || m.pending == 0
			if caughtUp && sum.LastSeq == 0 && opt.From > 0 {
				// From was not the task's first event: read it all.
				r.Close()
				*sum = Summary{}
				opt.From = 0
				for ev, err := range l.Replay(ctx, taskID, opt) {
					if !yield(ev, err) {
						return
					}
				}
				return
			}
			if caughtUp && sum.LastSeq == 0 {
				yield(nil, fmt.Errorf("task %s: %w (its log holds only messages that do not fit a task: %s)", taskID, ErrTaskNotFound, sum.LastRejection))
				return
			}
			if caughtUp && opt.CaughtUp != nil {
				opt.CaughtUp()
				opt.CaughtUp = nil
			}
			switch opt.Follow {
			case UntilCaughtUp:
				if caughtUp {
					return
				}
			case UntilEnd:
				if sum.State.Terminal() && m.pending == 0 {
					return
				}
			}
		}
	}
}

// Events replays a task until caught up and returns its events (those that
// fit the task; see [Log.Replay]).
func (l *Log) Events(ctx context.Context, taskID string) ([]*Event, error) {
	v, err := l.Load(ctx, taskID, 0)
	if err != nil {
		return nil, err
	}
	return v.Events, nil
}

// View is a task as one reader holds it: the events that fit it, in order,
// and their fold, whose StreamSeq is the head to append after.
type View struct {
	Summary
	// Events are the task's events that fit it, in order.
	Events []*Event
}

// Last returns the view's last event (nil for an empty view).
func (v *View) Last() *Event {
	if len(v.Events) == 0 {
		return nil
	}
	return v.Events[len(v.Events)-1]
}

// After returns the view's events with a seq above seq.
func (v *View) After(seq uint64) []*Event {
	i := len(v.Events)
	for i > 0 && v.Events[i-1].Seq > seq {
		i--
	}
	return v.Events[i:]
}

// Load reads a task until caught up into a [View]. Rejected messages are
// skipped (and counted in the view's Summary). from is the stream sequence
// of the task's first event when known, else 0 (see [ReplayOptions]).
func (l *Log) Load(ctx context.Context, taskID string, from uint64) (*View, error) {
	v := &View{}
	for ev, err := range l.Replay(ctx, taskID, ReplayOptions{Summary: &v.Summary, From: from}) {
		if err != nil {
			return nil, err
		}
		v.Events = append(v.Events, ev)
	}
	return v, nil
}

// AppendToView stores ev right after the view's head (compare-and-set) and
// adds it to the view. It returns ErrConflict when the log moved on.
func (l *Log) AppendToView(ctx context.Context, v *View, ev *Event) (*Event, error) {
	stored, err := l.AppendAt(ctx, ev, v.StreamSeq, v.LastSeq)
	if err != nil {
		return nil, err
	}
	if _, err := v.Apply(stored); err != nil {
		return stored, fmt.Errorf("stored %s does not fit task %s: %w", stored.Type.Short(), stored.Subject, err)
	}
	v.Events = append(v.Events, stored)
	return stored, nil
}

// Publish stores a raw envelope exactly as given, keyed by its id, without
// the ordering check of [Log.Append]. It exists for tools that copy events
// between logs; writers use Append.
func (l *Log) Publish(ctx context.Context, ev *Event) (*jetstream.PubAck, error) {
	msg, err := eventMsg(ev)
	if err != nil {
		return nil, err
	}
	return l.js.PublishMsg(ctx, msg, jetstream.WithMsgID(ev.ID))
}
