package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// State is a task's state, derived only from its events.
type State string

// Task states: pending → assigned → running → (waiting_approval ↔ running)
// → completed | failed | cancelled.
const (
	StatePending         State = "pending"
	StateAssigned        State = "assigned"
	StateRunning         State = "running"
	StateWaitingApproval State = "waiting_approval"
	StateCompleted       State = "completed"
	StateFailed          State = "failed"
	StateCancelled       State = "cancelled"
)

// Terminal reports whether the state ends a turn.
func (s State) Terminal() bool {
	return s == StateCompleted || s == StateFailed || s == StateCancelled
}

// AllStates lists the states in lifecycle order.
func AllStates() []State {
	return []State{StatePending, StateAssigned, StateRunning, StateWaitingApproval, StateCompleted, StateFailed, StateCancelled}
}

// Summary is the view of one task folded from its events. The gateway keeps
// one per task in the viber_tasks bucket; [Fold] rebuilds it from the log.
type Summary struct {
	ID     string `json:"id"`
	Goal   string `json:"goal"`
	State  State  `json:"state"`
	Daemon string `json:"daemon,omitempty"`
	// RequestedDaemon is the daemon the task was pinned to at creation.
	RequestedDaemon string   `json:"requested_daemon,omitempty"`
	Model           string   `json:"model,omitempty"`
	Skills          []string `json:"skills,omitempty"`
	// Result is the answer of the latest completed turn.
	Result string `json:"result,omitempty"`
	// Error is the reason of the latest failed turn.
	Error string `json:"error,omitempty"`
	// CancelRequested is true while a cancel waits to be obeyed.
	CancelRequested bool `json:"cancel_requested,omitempty"`
	// PendingApprovals lists call ids waiting for a decision.
	PendingApprovals []string `json:"pending_approvals,omitempty"`
	// Attempts counts assignments (more than one after a daemon died).
	Attempts int `json:"attempts,omitempty"`
	// Turns counts started turns (follow-ups start new ones).
	Turns int `json:"turns,omitempty"`
	// TurnSeq is the seq of the event that opened the current turn: 1 for
	// created, or the follow-up input that reopened an ended task.
	TurnSeq   uint64     `json:"turn_seq"`
	Events    uint64     `json:"events"`
	LastSeq   uint64     `json:"last_seq"`
	CreatedAt time.Time  `json:"created_at"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// Duration is how long the task ran (so far, for a running task).
func (s *Summary) Duration(now time.Time) time.Duration {
	if s.StartedAt == nil {
		return 0
	}
	if s.EndedAt != nil && s.State.Terminal() {
		return s.EndedAt.Sub(*s.StartedAt)
	}
	return now.Sub(*s.StartedAt)
}

// Apply folds one event into the summary. Events at or below LastSeq are
// ignored, so applying a redelivered event changes nothing. It returns
// whether the summary changed.
func (s *Summary) Apply(ev *Event) (bool, error) {
	if ev.Seq != 0 && ev.Seq <= s.LastSeq {
		return false, nil
	}
	p, err := ev.Decode()
	if err != nil {
		return false, err
	}
	if s.ID == "" {
		s.ID = ev.Subject
	}
	t := ev.Time
	switch d := p.(type) {
	case *Created:
		s.Goal, s.RequestedDaemon, s.Model, s.Skills = d.Goal, d.Daemon, d.Model, d.Skills
		s.State, s.CreatedAt, s.TurnSeq = StatePending, t, ev.Seq
	case *Input:
		if s.State.Terminal() {
			// A follow-up reopens an ended task as a new turn.
			s.State, s.TurnSeq = StatePending, ev.Seq
		}
	case *Assigned:
		s.Daemon, s.Attempts = d.Daemon, s.Attempts+1
		if !s.State.Terminal() {
			s.State = StateAssigned
		}
	case *Started:
		s.Daemon = d.Daemon
		if d.Model != "" {
			s.Model = d.Model
			if d.Provider != "" {
				s.Model = d.Provider + "/" + d.Model
			}
		}
		if !d.Resumed || s.Turns == 0 {
			s.Turns++
		}
		if s.StartedAt == nil || s.State.Terminal() {
			s.StartedAt = &t
		}
		s.State, s.EndedAt, s.Result, s.Error = StateRunning, nil, "", ""
		if len(s.PendingApprovals) > 0 {
			s.State = StateWaitingApproval // resumed while a call waits
		}
	case *ApprovalRequested:
		s.PendingApprovals = append(s.PendingApprovals, d.CallID)
		s.State = StateWaitingApproval
	case *ApprovalDecided:
		s.PendingApprovals = without(s.PendingApprovals, d.CallID)
		if len(s.PendingApprovals) == 0 && s.State == StateWaitingApproval {
			s.State = StateRunning
		}
	case *CancelRequested:
		if !s.State.Terminal() {
			s.CancelRequested = true
		}
	case *Completed:
		s.end(StateCompleted, t)
		s.Result = d.Result
	case *Failed:
		s.end(StateFailed, t)
		s.Error = d.Error
	case *Cancelled:
		s.end(StateCancelled, t)
	}
	s.Events++
	if ev.Seq != 0 {
		s.LastSeq = ev.Seq
	}
	s.UpdatedAt = t
	return true, nil
}

func (s *Summary) end(st State, t time.Time) {
	s.State, s.EndedAt = st, &t
	s.CancelRequested, s.PendingApprovals = false, nil
}

func without(list []string, v string) []string {
	out := list[:0]
	for _, x := range list {
		if x != v {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Fold builds a summary from a task's events.
func Fold(events []*Event) (*Summary, error) {
	s := &Summary{}
	for _, ev := range events {
		if _, err := s.Apply(ev); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Summaries reads and writes the task-summary view (bucket viber_tasks).
type Summaries struct {
	kv jetstream.KeyValue
}

// OpenSummaries opens the viber_tasks bucket (see [Setup]).
func OpenSummaries(ctx context.Context, js jetstream.JetStream) (*Summaries, error) {
	kv, err := js.KeyValue(ctx, TaskBucket)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", TaskBucket, err)
	}
	return &Summaries{kv: kv}, nil
}

// Get returns a task's stored summary and its revision, or ErrTaskNotFound.
func (s *Summaries) Get(ctx context.Context, taskID string) (*Summary, uint64, error) {
	if !ValidToken(taskID) {
		return nil, 0, fmt.Errorf("task %q: %w", taskID, ErrTaskNotFound)
	}
	e, err := s.kv.Get(ctx, taskID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("task %s: %w", taskID, ErrTaskNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read summary of %s: %w", taskID, err)
	}
	var sum Summary
	if err := json.Unmarshal(e.Value(), &sum); err != nil {
		return nil, 0, fmt.Errorf("summary of %s: %w: %v", taskID, ErrMalformed, err)
	}
	return &sum, e.Revision(), nil
}

// Put stores a summary. With rev > 0 it writes only if the stored revision
// is still rev (returns jetstream.ErrKeyExists-style conflicts as errors);
// rev 0 with create=true writes only if no summary exists.
func (s *Summaries) Put(ctx context.Context, sum *Summary, rev uint64, create bool) error {
	b, err := json.Marshal(sum)
	if err != nil {
		return err
	}
	switch {
	case rev > 0:
		_, err = s.kv.Update(ctx, sum.ID, b, rev)
	case create:
		_, err = s.kv.Create(ctx, sum.ID, b)
	default:
		_, err = s.kv.Put(ctx, sum.ID, b)
	}
	if err != nil {
		return fmt.Errorf("write summary of %s: %w", sum.ID, err)
	}
	return nil
}

// List returns every stored summary, newest first.
func (s *Summaries) List(ctx context.Context) ([]*Summary, error) {
	out, _, err := listJSON[Summary](ctx, s.kv, "tasks", nil)
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}
