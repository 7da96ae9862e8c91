package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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

// Summary is one task folded from its events: its state and everything a
// reader needs to act on it (who holds the current turn, which tool calls
// are open, which wait for a decision). It is the only fold of a task in
// Viber: the gateway keeps one per task in the viber_tasks bucket, the
// daemon keeps one per running task in its [Tail], and [Log.Replay] uses
// one to check every event it yields.
//
// Folding is also validation: an event that does not fit the task — a
// malformed body, a subject that disagrees with the envelope, a seq out of
// order, a task that was never created, a writer that may not write it (a
// daemon that does not hold the turn, anyone after the turn ended) — is not
// applied. It is counted in Rejected, so readers skip it and report it
// instead of stopping on it.
type Summary struct {
	ID     string `json:"id"`
	Goal   string `json:"goal"`
	State  State  `json:"state"`
	Daemon string `json:"daemon,omitempty"`
	// Owner is the daemon holding the current turn (the latest claim);
	// empty while the task waits for a daemon and after the turn ended.
	Owner string `json:"owner,omitempty"`
	// OwnerInstance is the process instance of the owner's claim.
	OwnerInstance string `json:"owner_instance,omitempty"`
	// RequestedDaemon is the daemon the task was pinned to at creation.
	RequestedDaemon string   `json:"requested_daemon,omitempty"`
	Model           string   `json:"model,omitempty"`
	Skills          []string `json:"skills,omitempty"`
	// Tools are the tools the task needs (see [Created]).
	Tools []string `json:"tools,omitempty"`
	// Schedule names the schedule that made the task.
	Schedule string `json:"schedule,omitempty"`
	// Notify is the URL the task's terminal events are POSTed to.
	Notify string `json:"notify,omitempty"`
	// Agent is the named agent the task asked for ("" for the default).
	Agent string `json:"agent,omitempty"`
	// Parent names the task and call that started this child task.
	Parent *ParentLink `json:"parent,omitempty"`
	// Depth is how many parents the task has.
	Depth int `json:"depth,omitempty"`
	// Children are the child tasks the task started, in order, with the
	// spawn call of each.
	Children []ChildRef `json:"children,omitempty"`
	// Result is the answer of the latest completed turn.
	Result string `json:"result,omitempty"`
	// Error is the reason of the latest failed turn.
	Error string `json:"error,omitempty"`
	// CancelRequested is true while a cancel waits to be obeyed.
	CancelRequested bool `json:"cancel_requested,omitempty"`
	// PendingApprovals lists call ids waiting for a decision.
	PendingApprovals []string `json:"pending_approvals,omitempty"`
	// OpenCalls are the tool calls stored without a result, in order.
	OpenCalls []OpenCall `json:"open_calls,omitempty"`
	// AnswerSeq is the seq of the current turn's final assistant message
	// once it is stored (0 before): the turn completes with it.
	AnswerSeq uint64 `json:"answer_seq,omitempty"`
	// Attempts counts assignments (more than one after a daemon died).
	Attempts int `json:"attempts,omitempty"`
	// Turns counts started turns (follow-ups start new ones).
	Turns int `json:"turns,omitempty"`
	// Usage sums the usage of the task's completed turns (as their
	// completed events report it).
	Usage Usage `json:"usage,omitzero"`
	// TurnSeq is the seq of the event that opened the current turn: 1 for
	// created, or the follow-up input that reopened an ended task.
	TurnSeq uint64 `json:"turn_seq"`
	Events  uint64 `json:"events"`
	LastSeq uint64 `json:"last_seq"`
	// StreamSeq is the VIBER_TASKS sequence of the last message of the
	// task that was folded or rejected (0 when folded from a list), and
	// FirstStreamSeq that of its created event: readers of the task start
	// there instead of searching the stream.
	StreamSeq      uint64 `json:"stream_seq,omitempty"`
	FirstStreamSeq uint64 `json:"first_stream_seq,omitempty"`
	// Rejected counts messages on the task's subjects that did not fit
	// (see the type's comment); LastRejection says why the latest did not.
	Rejected      int       `json:"rejected,omitempty"`
	LastRejection string    `json:"last_rejection,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	// hints intern the strings the task's events share while folding.
	hints     *hints
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// OpenCall is a tool call stored without its result.
type OpenCall struct {
	CallID    string `json:"call_id"`
	Tool      string `json:"tool"`
	Arguments string `json:"arguments,omitempty"`
	// Seq is the seq of the tool_call event.
	Seq uint64 `json:"seq"`
	// Approval is "" (none asked), "waiting", "approved", "denied", or
	// "expired" (the turn ended before anyone decided).
	Approval string `json:"approval,omitempty"`
	// Decision is the stored decision, once there is one.
	Decision *Decision `json:"decision,omitempty"`
}

// ParentLink is the parent of a child task as a summary keeps it (the
// [ParentRef] of its created event).
type ParentLink struct {
	Task   string `json:"task"`
	CallID string `json:"call_id"`
	Wait   bool   `json:"wait,omitempty"`
}

// ChildRef is a child task and the spawn call that started it.
type ChildRef struct {
	Task   string `json:"task"`
	CallID string `json:"call_id"`
}

// Child returns the child task a spawn call started, or "".
func (s *Summary) Child(callID string) string {
	for _, c := range s.Children {
		if c.CallID == callID {
			return c.Task
		}
	}
	return ""
}

// Decision is a person's decision on a call, as a summary keeps it.
type Decision struct {
	Approved bool   `json:"approved"`
	Reason   string `json:"reason,omitempty"`
	By       string `json:"by,omitempty"`
}

// Approval states of an [OpenCall].
const (
	ApprovalWaiting  = "waiting"
	ApprovalApproved = "approved"
	ApprovalDenied   = "denied"
	ApprovalExpired  = "expired"
)

// Call returns the open call with the given id, or nil.
func (s *Summary) Call(callID string) *OpenCall {
	for i := range s.OpenCalls {
		if s.OpenCalls[i].CallID == callID {
			return &s.OpenCalls[i]
		}
	}
	return nil
}

// Holds reports whether daemon id (process instance, when not empty)
// holds the task's current turn: it may write to it.
func (s *Summary) Holds(daemonID, instance string) bool {
	return s.Owner != "" && s.Owner == daemonID && !s.State.Terminal() &&
		(instance == "" || s.OwnerInstance == "" || s.OwnerInstance == instance)
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

// ApplyMsg folds one message read from VIBER_TASKS (its subject, body and
// stream sequence). It returns the event when it was applied, nil and no
// error when the message was folded before (streamSeq at or below
// StreamSeq), and an error matching [ErrRejected] when it does not fit;
// a rejected message is counted and skipped.
func (s *Summary) ApplyMsg(subject string, data []byte, streamSeq uint64) (*Event, error) {
	if streamSeq != 0 && streamSeq <= s.StreamSeq {
		return nil, nil
	}
	if s.hints == nil {
		s.hints = &hints{}
	}
	ev, err := parseEvent(data, s.hints)
	if err == nil {
		ev.StreamSeq = streamSeq
		err = checkSubject(subject, ev)
	}
	if err != nil {
		return nil, s.reject(streamSeq, 0, err)
	}
	applied, err := s.apply(ev, true)
	if err != nil || !applied {
		return nil, err
	}
	return ev, nil
}

// checkSubject checks that an event is stored where its envelope says.
func checkSubject(subject string, ev *Event) error {
	task, writer, name, ok := TaskSubjectParts(subject)
	if !ok {
		return fmt.Errorf("subject %s is not viber.task.<task>.<writer>.<event>", subject)
	}
	if task != ev.Subject || name != ev.Type.Short() {
		return fmt.Errorf("subject %s does not match the envelope (%s of task %s)", subject, ev.Type.Short(), ev.Subject)
	}
	if !writerMatches(writer, ev.Source) {
		if _, err := WriterOf(ev.Source); err != nil {
			return err
		}
		return fmt.Errorf("subject %s: writer %s does not match source %s", subject, writer, ev.Source)
	}
	return nil
}

// writerMatches reports whether writer is the writer token of source,
// without building it.
func writerMatches(writer, source string) bool {
	if writer == GatewayWriter {
		return SourceIsGateway(source)
	}
	id, ok := SourceDaemon(source)
	return ok && len(writer) == len(daemonWriterPrefix)+len(id) && writer[:len(daemonWriterPrefix)] == daemonWriterPrefix && writer[len(daemonWriterPrefix):] == id
}

func (s *Summary) reject(streamSeq, seq uint64, err error) error {
	if streamSeq > s.StreamSeq {
		s.StreamSeq = streamSeq
	}
	s.Rejected++
	where := fmt.Sprintf("stream seq %d", streamSeq)
	if seq != 0 {
		where = fmt.Sprintf("seq %d (%s)", seq, where)
	}
	s.LastRejection = where + ": " + err.Error()
	return fmt.Errorf("task %s: event at %s: %w: %w", s.ID, where, ErrRejected, err)
}

// Apply folds one event into the summary. It returns true when the event
// was applied, false (and no error) when it was folded before, and an error
// matching [ErrRejected] when it does not fit the task (the event is
// counted in Rejected and otherwise ignored).
func (s *Summary) Apply(ev *Event) (bool, error) { return s.apply(ev, false) }

// apply folds ev; validated says its envelope was checked already.
func (s *Summary) apply(ev *Event, validated bool) (bool, error) {
	if ev.StreamSeq != 0 && ev.StreamSeq <= s.StreamSeq {
		return false, nil
	}
	if ev.StreamSeq == 0 && ev.Seq != 0 && ev.Seq <= s.LastSeq && ev.Type != TypeCreated {
		return false, nil // a list folded twice
	}
	p, err := s.admit(ev, validated)
	if err != nil {
		return false, s.reject(ev.StreamSeq, ev.Seq, err)
	}
	if s.ID == "" {
		s.ID = ev.Subject
	}
	t := ev.Time
	switch d := p.(type) {
	case *Created:
		s.Goal, s.RequestedDaemon, s.Model, s.Skills, s.Tools, s.Agent = d.Goal, d.Daemon, d.Model, d.Skills, d.Tools, d.Agent
		s.Schedule, s.Notify = d.Schedule, d.Notify
		if d.Parent != nil {
			s.Parent = &ParentLink{Task: d.Parent.Task, CallID: d.Parent.CallID, Wait: d.Parent.Wait}
		}
		s.Depth = d.Depth
		s.State, s.CreatedAt, s.TurnSeq, s.FirstStreamSeq = StatePending, t, ev.Seq, ev.StreamSeq
	case *ChildCreated:
		s.Children = append(s.Children, ChildRef{Task: d.Task, CallID: d.CallID})
	case *Input:
		s.AnswerSeq = 0
		if s.State.Terminal() {
			// A follow-up reopens an ended task as a new turn.
			s.State, s.TurnSeq = StatePending, ev.Seq
		}
	case *Assigned:
		s.Daemon, s.Owner, s.OwnerInstance, s.Attempts = d.Daemon, d.Daemon, d.Instance, s.Attempts+1
		s.State = StateAssigned
		if len(s.PendingApprovals) > 0 {
			s.State = StateWaitingApproval
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
		if s.StartedAt == nil || s.EndedAt != nil {
			s.StartedAt = &t
		}
		s.State, s.EndedAt, s.Result, s.Error = StateRunning, nil, "", ""
		if len(s.PendingApprovals) > 0 {
			s.State = StateWaitingApproval // resumed while a call waits
		}
	case *Message:
		if d.Role == "assistant" && d.Final {
			s.AnswerSeq = ev.Seq
		}
	case *ToolCall:
		s.OpenCalls = append(s.OpenCalls, OpenCall{CallID: d.CallID, Tool: d.Tool, Arguments: d.Arguments, Seq: ev.Seq})
	case *ToolResult:
		s.OpenCalls = slices.DeleteFunc(s.OpenCalls, func(c OpenCall) bool { return c.CallID == d.CallID })
		s.PendingApprovals = without(s.PendingApprovals, d.CallID)
	case *ApprovalRequested:
		s.Call(d.CallID).Approval = ApprovalWaiting
		s.PendingApprovals = append(s.PendingApprovals, d.CallID)
		s.State = StateWaitingApproval
	case *ApprovalDecided:
		c := s.Call(d.CallID)
		c.Approval, c.Decision = ApprovalDenied, &Decision{Approved: d.Approved, Reason: d.Reason, By: d.By}
		if d.Approved {
			c.Approval = ApprovalApproved
		}
		s.PendingApprovals = without(s.PendingApprovals, d.CallID)
		if len(s.PendingApprovals) == 0 && s.State == StateWaitingApproval {
			s.State = StateRunning
		}
	case *CancelRequested:
		s.CancelRequested = true
	case *Completed:
		s.end(StateCompleted, t)
		s.Result = d.Result
		s.Usage.Add(d.Usage)
	case *Failed:
		s.end(StateFailed, t)
		s.Error = d.Error
	case *Cancelled:
		s.end(StateCancelled, t)
	}
	s.Events++
	s.LastSeq = ev.Seq
	if ev.StreamSeq > s.StreamSeq {
		s.StreamSeq = ev.StreamSeq
	}
	s.UpdatedAt = t
	return true, nil
}

// admit checks that ev fits the task as folded so far: in order, of a
// writer allowed to write it now. It says why not.
func (s *Summary) admit(ev *Event, validated bool) (Payload, error) {
	if !validated {
		if err := ev.Validate(); err != nil {
			return nil, err
		}
	}
	p, ok := lightDecode(ev)
	if !ok {
		var err error
		if p, err = ev.Decode(); err != nil {
			return nil, err
		}
	}
	return p, s.admitPayload(ev, p)
}

func (s *Summary) admitPayload(ev *Event, p Payload) error {
	if s.ID != "" && ev.Subject != s.ID {
		return fmt.Errorf("event of task %s in the log of %s", ev.Subject, s.ID)
	}
	if s.LastSeq == 0 {
		if ev.Type != TypeCreated || ev.Seq != 1 {
			return fmt.Errorf("%s at seq %d of a task that was never created", ev.Type.Short(), ev.Seq)
		}
	} else if ev.Type == TypeCreated {
		return errors.New("a second created event")
	}
	if ev.Seq != s.LastSeq+1 {
		return fmt.Errorf("seq %d out of order (the log is at %d)", ev.Seq, s.LastSeq)
	}
	gateway := SourceIsGateway(ev.Source)
	daemon, isDaemon := SourceDaemon(ev.Source)
	ended := s.State.Terminal()
	needGateway := func() error {
		if !gateway {
			return fmt.Errorf("only a gateway may write %s, not %s", ev.Type.Short(), ev.Source)
		}
		return nil
	}
	needOwner := func() error {
		switch {
		case !isDaemon:
			return fmt.Errorf("only the daemon running the task may write %s, not %s", ev.Type.Short(), ev.Source)
		case ended:
			return fmt.Errorf("%s from %s after the turn ended (%s)", ev.Type.Short(), ev.Source, s.State)
		case s.Owner != daemon:
			return fmt.Errorf("%s from daemon %s, which does not hold the task (owner %q)", ev.Type.Short(), daemon, s.Owner)
		}
		return nil
	}
	switch d := p.(type) {
	case *Message:
		if err := d.Usage.check(); err != nil {
			return err
		}
	case *Completed:
		if err := d.Usage.check(); err != nil {
			return err
		}
	}
	switch d := p.(type) {
	case *Created:
		return needGateway()
	case *Input:
		return needGateway()
	case *CancelRequested:
		if err := needGateway(); err != nil {
			return err
		}
		if ended {
			return fmt.Errorf("cancel request after the turn ended (%s)", s.State)
		}
	case *ApprovalDecided:
		if err := needGateway(); err != nil {
			return err
		}
		if c := s.Call(d.CallID); ended || c == nil || c.Approval != ApprovalWaiting {
			return fmt.Errorf("decision on call %q, which does not wait for one", d.CallID)
		}
	case *Cancelled:
		if gateway {
			if ended || s.Owner != "" {
				return errors.New("a gateway may only cancel a task no daemon holds")
			}
			return nil
		}
		return needOwner()
	case *Assigned:
		switch {
		case !isDaemon || d.Daemon != daemon:
			return fmt.Errorf("claim for daemon %q written by %s", d.Daemon, ev.Source)
		case ended:
			return fmt.Errorf("claim by %s after the turn ended (%s)", daemon, s.State)
		case s.RequestedDaemon != "" && s.RequestedDaemon != daemon:
			return fmt.Errorf("claim by %s of a task pinned to %s", daemon, s.RequestedDaemon)
		}
	case *ToolCall:
		if err := needOwner(); err != nil {
			return err
		}
		if s.Call(d.CallID) != nil {
			return fmt.Errorf("tool call %q is already open", d.CallID)
		}
	case *ToolResult:
		if err := needOwner(); err != nil {
			return err
		}
		c := s.Call(d.CallID)
		if c == nil {
			return fmt.Errorf("result for call %q, which is not open", d.CallID)
		}
		if c.Approval == ApprovalWaiting {
			return fmt.Errorf("result for call %q, which waits for approval", d.CallID)
		}
	case *ApprovalRequested:
		if err := needOwner(); err != nil {
			return err
		}
		if c := s.Call(d.CallID); c == nil || c.Approval != "" {
			return fmt.Errorf("approval request for call %q, which is not open or was asked already", d.CallID)
		}
	case *ChildCreated:
		if err := needOwner(); err != nil {
			return err
		}
		if c := s.Call(d.CallID); c == nil || c.Tool != "spawn" || c.Approval == ApprovalWaiting {
			return fmt.Errorf("child task by call %q, which is not an open spawn call", d.CallID)
		}
		for _, ch := range s.Children {
			if ch.CallID == d.CallID || ch.Task == d.Task {
				return fmt.Errorf("call %q already started child task %s", ch.CallID, ch.Task)
			}
		}
	case *MemoryUpdated:
		if err := needOwner(); err != nil {
			return err
		}
		if c := s.Call(d.CallID); c == nil || c.Tool != "memory_update" || c.Approval == ApprovalWaiting {
			return fmt.Errorf("memory update by call %q, which is not an open memory_update call", d.CallID)
		}
	default: // started, message, plan, completed, failed
		return needOwner()
	}
	return nil
}

func (s *Summary) end(st State, t time.Time) {
	s.State, s.EndedAt = st, &t
	s.Owner, s.OwnerInstance = "", ""
	s.CancelRequested, s.PendingApprovals = false, nil
	for i := range s.OpenCalls {
		if s.OpenCalls[i].Approval == ApprovalWaiting {
			s.OpenCalls[i].Approval = ApprovalExpired
		}
	}
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

// Fold builds a summary from a task's events. Events that do not fit are
// skipped and counted in Rejected; the error is about the first of them
// (nil when every event fit).
func Fold(events []*Event) (*Summary, error) {
	s := &Summary{}
	var first error
	for _, ev := range events {
		if _, err := s.Apply(ev); err != nil && first == nil {
			first = err
		}
	}
	return s, first
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

// Put stores a summary and returns its new revision. With rev > 0 it
// writes only if the stored revision is still rev (returns
// jetstream.ErrKeyExists-style conflicts as errors); rev 0 with
// create=true writes only if no summary exists.
func (s *Summaries) Put(ctx context.Context, sum *Summary, rev uint64, create bool) (uint64, error) {
	b, err := json.Marshal(sum)
	if err != nil {
		return 0, err
	}
	var newRev uint64
	switch {
	case rev > 0:
		newRev, err = s.kv.Update(ctx, sum.ID, b, rev)
	case create:
		newRev, err = s.kv.Create(ctx, sum.ID, b)
	default:
		newRev, err = s.kv.Put(ctx, sum.ID, b)
	}
	if err != nil {
		return 0, fmt.Errorf("write summary of %s: %w", sum.ID, err)
	}
	return newRev, nil
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

// Admits reports why ev could not be appended to the task as folded so
// far (nil when it could): the check readers apply, asked before writing
// so that a writer never stores what readers would skip. ev's Seq is taken
// as the next one.
func (s *Summary) Admits(ev *Event) error {
	next := *ev
	next.Seq = s.LastSeq + 1
	_, err := s.admit(&next, false)
	return err
}
