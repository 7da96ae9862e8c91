package bus

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// SpecVersion is the CloudEvents version of the envelope.
const SpecVersion = "1.0"

// ContentType is the datacontenttype of every event.
const ContentType = "application/json"

// Type is an event type such as "viber.task.started". It is stable: tools
// filter on it and schemas/<type>.json describes it.
type Type string

// The task event types. See the payload type of each for its data.
const (
	TypeCreated           Type = "viber.task.created"
	TypeAssigned          Type = "viber.task.assigned"
	TypeStarted           Type = "viber.task.started"
	TypeMessage           Type = "viber.task.message"
	TypePlan              Type = "viber.task.plan"
	TypeToolCall          Type = "viber.task.tool_call"
	TypeToolResult        Type = "viber.task.tool_result"
	TypeApprovalRequested Type = "viber.task.approval_requested"
	TypeApprovalDecided   Type = "viber.task.approval_decided"
	TypeInput             Type = "viber.task.input"
	TypeCancelRequested   Type = "viber.task.cancel_requested"
	TypeCompleted         Type = "viber.task.completed"
	TypeFailed            Type = "viber.task.failed"
	TypeCancelled         Type = "viber.task.cancelled"
	TypeMemoryUpdated     Type = "viber.task.memory_updated"
	TypeChildCreated      Type = "viber.task.child_created"
)

const typePrefix = "viber.task."

// Short is the last part of the type ("started"), used as the last subject
// token of the event.
func (t Type) Short() string { return strings.TrimPrefix(string(t), typePrefix) }

// Terminal reports whether an event of this type ends a task's turn: after
// completed, failed or cancelled nothing runs until new input arrives.
func (t Type) Terminal() bool {
	return t == TypeCompleted || t == TypeFailed || t == TypeCancelled
}

// Known reports whether t is one of the task event types.
func (t Type) Known() bool {
	_, ok := payloadFactories[t]
	return ok
}

// Event is the envelope of every task event: CloudEvents 1.0 attributes in
// structured JSON mode, plus seq, the event's position in its task (1 for
// created). Data holds the JSON of the payload type named by Type.
type Event struct {
	// SpecVersion is always "1.0".
	SpecVersion string `json:"specversion"`
	// ID is the event's unique, sortable id; it is also the Nats-Msg-Id.
	ID string `json:"id"`
	// Type names the payload, e.g. "viber.task.started".
	Type Type `json:"type"`
	// Source is the writer: "vibergw/<id>", "viberd/<id>" or "viber/<user>".
	Source string `json:"source"`
	// Subject is the task id.
	Subject string `json:"subject"`
	// Time is when the writer created the event.
	Time time.Time `json:"time"`
	// DataContentType is always "application/json".
	DataContentType string `json:"datacontenttype"`
	// Seq is the position of the event in its task, from 1, without gaps.
	Seq uint64 `json:"seq"`
	// Data is the payload.
	Data json.RawMessage `json:"data"`

	// StreamSeq is where the event is stored in VIBER_TASKS, filled in when
	// it is read from or written to the log. It is not part of the JSON.
	StreamSeq uint64 `json:"-"`
}

// TaskID returns the task the event belongs to (its CloudEvents subject).
func (e *Event) TaskID() string { return e.Subject }

// Payload is implemented by the data type of every event.
type Payload interface {
	// EventType is the type of the events carrying this payload. It must be
	// a constant: it is part of the wire.
	EventType() Type
}

// NewEvent builds an event of the payload's type for a task. Seq is left
// zero: [Log.Append] assigns it.
func NewEvent(taskID, source string, p Payload) (*Event, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s data: %w", p.EventType(), err)
	}
	return &Event{
		SpecVersion:     SpecVersion,
		ID:              NewID(),
		Type:            p.EventType(),
		Source:          source,
		Subject:         taskID,
		Time:            time.Now().UTC(),
		DataContentType: ContentType,
		Data:            data,
	}, nil
}

// Decode returns the event's payload as its Go type (for example *Started).
func (e *Event) Decode() (Payload, error) {
	f, ok := payloadFactories[e.Type]
	if !ok {
		return nil, fmt.Errorf("event %s: %w %q", e.ID, ErrUnknownType, e.Type)
	}
	p := f()
	if err := json.Unmarshal(e.Data, p); err != nil {
		return nil, fmt.Errorf("event %s (%s): %w: %v", e.ID, e.Type, ErrMalformed, err)
	}
	return p, nil
}

// DecodeAs decodes an event's data into the payload type P, checking that
// the event is of P's type.
func DecodeAs[P any, PP interface {
	*P
	Payload
}](e *Event) (*P, error) {
	var p P
	if want := PP(&p).EventType(); e.Type != want {
		return nil, fmt.Errorf("event %s is %s, not %s: %w", e.ID, e.Type, want, ErrMalformed)
	}
	if err := json.Unmarshal(e.Data, &p); err != nil {
		return nil, fmt.Errorf("event %s (%s): %w: %v", e.ID, e.Type, ErrMalformed, err)
	}
	return &p, nil
}

// ParseEvent decodes and checks an envelope read from the wire.
func ParseEvent(b []byte) (*Event, error) {
	return parseEvent(b, nil)
}

func parseEvent(b []byte, h *hints) (*Event, error) {
	var e Event
	if err := decodeEnvelope(b, &e, h); err != nil {
		return nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return &e, nil
}

// Validate checks the envelope's attributes (not the payload).
func (e *Event) Validate() error {
	var problems []string
	if e.SpecVersion != SpecVersion {
		problems = append(problems, fmt.Sprintf("specversion %q, want %q", e.SpecVersion, SpecVersion))
	}
	if e.ID == "" {
		problems = append(problems, "no id")
	}
	if !e.Type.Known() {
		problems = append(problems, fmt.Sprintf("unknown type %q", e.Type))
	}
	if !ValidToken(e.Subject) {
		problems = append(problems, fmt.Sprintf("subject %q is not a task id", e.Subject))
	}
	if e.Source == "" {
		problems = append(problems, "no source")
	}
	if len(e.Data) == 0 {
		problems = append(problems, "no data")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrMalformed, strings.Join(problems, "; "))
	}
	return nil
}

// AllTypes lists every task event type with a zero payload, in lifecycle
// order. Schema generation and documentation walk it.
func AllTypes() []Payload {
	return []Payload{
		&Created{}, &Assigned{}, &Started{}, &Message{}, &Plan{},
		&ToolCall{}, &ToolResult{}, &ApprovalRequested{}, &ApprovalDecided{},
		&Input{}, &CancelRequested{}, &Completed{}, &Failed{}, &Cancelled{},
		&MemoryUpdated{}, &ChildCreated{},
	}
}

var payloadFactories = map[Type]func() Payload{
	TypeCreated:           func() Payload { return &Created{} },
	TypeAssigned:          func() Payload { return &Assigned{} },
	TypeStarted:           func() Payload { return &Started{} },
	TypeMessage:           func() Payload { return &Message{} },
	TypePlan:              func() Payload { return &Plan{} },
	TypeToolCall:          func() Payload { return &ToolCall{} },
	TypeToolResult:        func() Payload { return &ToolResult{} },
	TypeApprovalRequested: func() Payload { return &ApprovalRequested{} },
	TypeApprovalDecided:   func() Payload { return &ApprovalDecided{} },
	TypeInput:             func() Payload { return &Input{} },
	TypeCancelRequested:   func() Payload { return &CancelRequested{} },
	TypeCompleted:         func() Payload { return &Completed{} },
	TypeFailed:            func() Payload { return &Failed{} },
	TypeCancelled:         func() Payload { return &Cancelled{} },
	TypeMemoryUpdated:     func() Payload { return &MemoryUpdated{} },
	TypeChildCreated:      func() Payload { return &ChildCreated{} },
}

// Created opens a task: the goal and how it should be run.
type Created struct {
	// Goal is what the user asked for.
	Goal string `json:"goal" jsonschema:"minLength=1"`
	// Daemon pins the task to one daemon id; empty means any daemon.
	Daemon string `json:"daemon,omitempty"`
	// Model asks for a provider/model (e.g. "openai/gpt-4o-mini"); empty
	// means the daemon's default.
	Model string `json:"model,omitempty"`
	// Skills the task needs; only daemons offering them take it.
	Skills []string `json:"skills,omitempty"`
	// Tools the task needs by name (an MCP server's tools, say); only
	// daemons offering them take it.
	Tools []string `json:"tools,omitempty"`
	// Agent names the named agent that runs the task (its prompt, tools,
	// skills, policy and memory); only daemons offering it take it. Empty
	// means the daemon's default agent.
	Agent string `json:"agent,omitempty" jsonschema:"pattern=^[a-z0-9]+(-[a-z0-9]+)*$"`
	// Submitter says who asked (free text, e.g. a user or a tool name).
	Submitter string `json:"submitter,omitempty"`
	// Policy overrides the daemon's tool policy for this task: tool name
	// (or "shell:PREFIX", or "*" for the default) → allow, ask or deny.
	Policy map[string]string `json:"policy,omitempty"`
	// Schedule names the schedule whose firing made the task.
	Schedule string `json:"schedule,omitempty"`
	// Notify is a URL the gateway POSTs the terminal event of each turn
	// to (signed; see docs/schedules.md). It is stored in the log: put no
	// secrets in it.
	Notify string `json:"notify,omitempty" jsonschema:"format=uri"`
	// Parent names the task and spawn call that started this one (a child
	// task); absent for a task a person or tool started.
	Parent *ParentRef `json:"parent,omitempty"`
	// Depth is how many parents the task has (0 for a top-level task).
	Depth int `json:"depth,omitempty" jsonschema:"minimum=0"`
}

// ParentRef names the task and tool call that started a child task. The
// child's id is derived from both ([ChildID]), so creating it again for
// the same call finds the same task.
type ParentRef struct {
	// Task is the parent task's id.
	Task string `json:"task" jsonschema:"minLength=1"`
	// CallID is the parent's spawn call.
	CallID string `json:"call_id" jsonschema:"minLength=1"`
	// Wait is true when the parent waits for the child and takes its
	// result as the call's result; false when the result reaches the
	// parent later as a follow-up input.
	Wait bool `json:"wait,omitempty"`
}

// EventType implements [Payload].
func (*Created) EventType() Type { return TypeCreated }

// Assigned records that a daemon took the task. A task is assigned again
// when its daemon died and another daemon resumes it.
type Assigned struct {
	// Daemon is the id of the daemon that took the task.
	Daemon string `json:"daemon" jsonschema:"minLength=1"`
	// Attempt counts deliveries of the assignment, from 1.
	Attempt int `json:"attempt" jsonschema:"minimum=1"`
	// Instance identifies the daemon process that claimed the task, so
	// that a stale process of the same daemon is fenced off too.
	Instance string `json:"instance,omitempty"`
}

// EventType implements [Payload].
func (*Assigned) EventType() Type { return TypeAssigned }

// Started records that a daemon began (or resumed) running the task.
type Started struct {
	// Daemon is the id of the daemon running the task.
	Daemon string `json:"daemon" jsonschema:"minLength=1"`
	// Provider names the provider of the model that will answer.
	Provider string `json:"provider,omitempty"`
	// Model names the model that will answer.
	Model string `json:"model,omitempty"`
	// Resumed is true when the daemon continues a task that already ran.
	Resumed bool `json:"resumed,omitempty"`
}

// EventType implements [Payload].
func (*Started) EventType() Type { return TypeStarted }

// Message is a whole message of the conversation.
type Message struct {
	// Role is "assistant" or "user".
	Role string `json:"role" jsonschema:"enum=assistant,enum=user"`
	// Text is the message.
	Text string `json:"text"`
	// Final marks the assistant's answer of the turn: the turn completes
	// with it, and a daemon resuming the task completes with it instead of
	// asking the model again.
	Final bool `json:"final,omitempty"`
	// Usage, on a final answer, counts the tokens of the turn's model calls
	// up to it, when the provider reports them; a daemon that completes
	// the turn from the stored answer completes with this usage.
	Usage *Usage `json:"usage,omitempty"`
}

// EventType implements [Payload].
func (*Message) EventType() Type { return TypeMessage }

// Plan is the checklist the agent keeps; each event replaces the previous
// plan.
type Plan struct {
	// Items are the steps in order.
	Items []PlanItem `json:"items"`
}

// PlanItem is one step of a plan.
type PlanItem struct {
	// Text describes the step.
	Text string `json:"text"`
	// Status is "pending", "in_progress" or "done".
	Status string `json:"status" jsonschema:"enum=pending,enum=in_progress,enum=done"`
}

// EventType implements [Payload].
func (*Plan) EventType() Type { return TypePlan }

// ToolCall is the model asking to run a tool.
type ToolCall struct {
	// CallID identifies the call; the result and approvals refer to it.
	CallID string `json:"call_id" jsonschema:"minLength=1"`
	// Tool is the tool's name.
	Tool string `json:"tool" jsonschema:"minLength=1"`
	// Arguments is the JSON text of the arguments, as the model wrote it.
	Arguments string `json:"arguments"`
}

// EventType implements [Payload].
func (*ToolCall) EventType() Type { return TypeToolCall }

// ToolResult is what a tool call returned (or why it did not run).
type ToolResult struct {
	// CallID is the call this answers.
	CallID string `json:"call_id" jsonschema:"minLength=1"`
	// Tool is the tool's name.
	Tool string `json:"tool"`
	// Output is the text given back to the model.
	Output string `json:"output"`
	// IsError is true when the tool failed, was refused or was interrupted.
	IsError bool `json:"is_error,omitempty"`
	// Truncated is true when Output was cut to the output cap.
	Truncated bool `json:"truncated,omitempty"`
}

// EventType implements [Payload].
func (*ToolResult) EventType() Type { return TypeToolResult }

// ApprovalRequested means a tool call waits for a person's decision.
type ApprovalRequested struct {
	// CallID is the waiting call.
	CallID string `json:"call_id" jsonschema:"minLength=1"`
	// Tool and Arguments repeat the call for whoever decides.
	Tool      string `json:"tool"`
	Arguments string `json:"arguments"`
	// Reason says why the policy asks.
	Reason string `json:"reason,omitempty"`
}

// EventType implements [Payload].
func (*ApprovalRequested) EventType() Type { return TypeApprovalRequested }

// ApprovalDecided is a person's decision on a waiting call.
type ApprovalDecided struct {
	// CallID is the call decided on.
	CallID string `json:"call_id" jsonschema:"minLength=1"`
	// Approved is true to run the tool, false to refuse it.
	Approved bool `json:"approved"`
	// Reason is told to the model on a denial.
	Reason string `json:"reason,omitempty"`
	// By says who decided.
	By string `json:"by,omitempty"`
}

// EventType implements [Payload].
func (*ApprovalDecided) EventType() Type { return TypeApprovalDecided }

// Input is a follow-up from a user.
type Input struct {
	// Text is the follow-up.
	Text string `json:"text" jsonschema:"minLength=1"`
	// Mode is "queue" (joins at the next step) or "steer" (interrupts the
	// current model call).
	Mode string `json:"mode" jsonschema:"enum=queue,enum=steer"`
	// By says who sent it.
	By string `json:"by,omitempty"`
}

// EventType implements [Payload].
func (*Input) EventType() Type { return TypeInput }

// Input modes.
const (
	InputQueue = "queue"
	InputSteer = "steer"
)

// CancelRequested asks the running daemon to stop the task.
type CancelRequested struct {
	// Reason is free text shown to watchers.
	Reason string `json:"reason,omitempty"`
	// By says who asked.
	By string `json:"by,omitempty"`
}

// EventType implements [Payload].
func (*CancelRequested) EventType() Type { return TypeCancelRequested }

// Completed ends a turn with the answer.
type Completed struct {
	// Result is the final answer.
	Result string `json:"result"`
	// Usage counts the tokens the turn used, when the provider reports them.
	Usage *Usage `json:"usage,omitempty"`
}

// Usage counts tokens; no count is negative (the fold rejects an event
// whose usage has one). It has no jsonschema tags: summaries embed it, and
// the MCP server derives its output schemas from them.
type Usage struct {
	// InputTokens counts prompt tokens over the turn's model calls.
	InputTokens int `json:"input_tokens"`
	// OutputTokens counts generated tokens over the turn's model calls.
	OutputTokens int `json:"output_tokens"`
	// CostUSD is what the tokens cost, in US dollars, by the price table
	// of the daemon that ran the turn (absent without one).
	CostUSD float64 `json:"cost_usd,omitempty"`
}

// Add adds u's counts (nil adds nothing).
func (t *Usage) Add(u *Usage) {
	if u == nil {
		return
	}
	t.InputTokens += u.InputTokens
	t.OutputTokens += u.OutputTokens
	t.CostUSD += u.CostUSD
}

// IsZero reports whether nothing was counted.
func (t Usage) IsZero() bool {
	return t.InputTokens == 0 && t.OutputTokens == 0 && t.CostUSD == 0
}

// check says why a usage cannot be stored (negative counts).
func (t *Usage) check() error {
	if t != nil && (t.InputTokens < 0 || t.OutputTokens < 0 || t.CostUSD < 0 || math.IsNaN(t.CostUSD) || math.IsInf(t.CostUSD, 0)) {
		return fmt.Errorf("usage %d/%d tokens, cost %v: counts must not be negative", t.InputTokens, t.OutputTokens, t.CostUSD)
	}
	return nil
}

// EventType implements [Payload].
func (*Completed) EventType() Type { return TypeCompleted }

// Failed ends a turn with an error.
type Failed struct {
	// Error says what went wrong and, where possible, what to do.
	Error string `json:"error" jsonschema:"minLength=1"`
	// Code is a stable machine-readable reason, e.g. "no_model".
	Code string `json:"code,omitempty"`
}

// Failure codes used in [Failed].
const (
	FailNoModel    = "no_model"
	FailModel      = "model_error"
	FailMaxSteps   = "max_steps"
	FailInternal   = "internal"
	FailBadRequest = "bad_request"
)

// EventType implements [Payload].
func (*Failed) EventType() Type { return TypeFailed }

// Cancelled ends a turn because someone stopped it.
type Cancelled struct {
	// Reason repeats the cancel request's reason.
	Reason string `json:"reason,omitempty"`
}

// EventType implements [Payload].
func (*Cancelled) EventType() Type { return TypeCancelled }

// MemoryUpdated records a write to the fleet's memory (bucket viber_memory)
// by the task's memory_update tool call, so that every change of memory is
// replayable and attributable to a task and a call.
type MemoryUpdated struct {
	// CallID is the memory_update call that wrote it.
	CallID string `json:"call_id" jsonschema:"minLength=1"`
	// Scope is the memory scope written: "global", "agent:<name>" or
	// "user:<submitter>".
	Scope string `json:"scope" jsonschema:"minLength=1"`
	// Name is the file's name ("MEMORY.md").
	Name string `json:"name" jsonschema:"minLength=1"`
	// Revision is the file's new revision in the bucket.
	Revision uint64 `json:"revision" jsonschema:"minimum=1"`
	// Previous is the revision it replaced (0: the file was created).
	Previous uint64 `json:"previous,omitempty"`
	// Content is the file's new text.
	Content string `json:"content"`
}

// EventType implements [Payload].
func (*MemoryUpdated) EventType() Type { return TypeMemoryUpdated }

// ChildCreated records in the parent's log that its spawn call started a
// child task.
type ChildCreated struct {
	// CallID is the spawn call.
	CallID string `json:"call_id" jsonschema:"minLength=1"`
	// Task is the child task's id.
	Task string `json:"task" jsonschema:"minLength=1"`
	// Goal, Agent and Daemon repeat what the child was asked.
	Goal   string `json:"goal"`
	Agent  string `json:"agent,omitempty"`
	Daemon string `json:"daemon,omitempty"`
	// Wait repeats whether the parent waits for the child.
	Wait bool `json:"wait,omitempty"`
}

// EventType implements [Payload].
func (*ChildCreated) EventType() Type { return TypeChildCreated }
