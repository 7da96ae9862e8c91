package bus

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
)

// Limits the gateway API enforces.
const (
	// MaxGoalBytes is the largest goal a task may have.
	MaxGoalBytes = 64 << 10
	// MaxInputBytes is the largest follow-up text.
	MaxInputBytes = 64 << 10
	// DefaultListLimit is how many tasks a list returns by default.
	DefaultListLimit = 100
)

// API groups and endpoints of the gateway's micro service. Each endpoint's
// subject is [APISubject](group, endpoint), e.g. viber.api.task.create.
const (
	APIGroupTask   = "task"
	APIGroupDaemon = "daemon"

	APITaskCreate = "create"
	APITaskGet    = "get"
	APITaskList   = "list"
	APITaskCancel = "cancel"
	APITaskSend   = "send"
	APITaskDecide = "decide"
	APIDaemonList = "list"
)

// CreateTaskRequest asks the gateway to create and queue a task.
type CreateTaskRequest struct {
	Goal      string            `json:"goal"`
	Daemon    string            `json:"daemon,omitempty"`
	Model     string            `json:"model,omitempty"`
	Skills    []string          `json:"skills,omitempty"`
	Policy    map[string]string `json:"policy,omitempty"`
	Submitter string            `json:"submitter,omitempty"`
}

// TaskRequest names one task (get).
type TaskRequest struct {
	ID string `json:"id"`
}

// ListTasksRequest filters a task list.
type ListTasksRequest struct {
	// State keeps only tasks in that state.
	State State `json:"state,omitempty"`
	// Daemon keeps only tasks run (or pinned) on that daemon.
	Daemon string `json:"daemon,omitempty"`
	// Limit caps the count (default 100, newest first).
	Limit int `json:"limit,omitempty"`
}

// ListTasksResponse is a page of task summaries, newest first.
type ListTasksResponse struct {
	Tasks []*Summary `json:"tasks"`
	// Total is how many tasks matched before the limit.
	Total int `json:"total"`
}

// CancelTaskRequest asks to stop a task.
type CancelTaskRequest struct {
	ID     string `json:"id"`
	Reason string `json:"reason,omitempty"`
	By     string `json:"by,omitempty"`
}

// SendInputRequest adds a follow-up to a task.
type SendInputRequest struct {
	ID   string `json:"id"`
	Text string `json:"text"`
	// Mode is "queue" (default) or "steer".
	Mode string `json:"mode,omitempty"`
	By   string `json:"by,omitempty"`
}

// DecideRequest approves or denies a tool call waiting for approval.
type DecideRequest struct {
	ID     string `json:"id"`
	CallID string `json:"call_id"`
	// Approved runs the tool; false refuses it and tells the model why.
	Approved bool   `json:"approved"`
	Reason   string `json:"reason,omitempty"`
	By       string `json:"by,omitempty"`
}

// EventResponse returns the event a command appended.
type EventResponse struct {
	Event *Event `json:"event"`
}

// ListDaemonsResponse lists daemons with their presence.
type ListDaemonsResponse struct {
	Daemons []*DaemonView `json:"daemons"`
}

// DaemonView is a daemon's presence plus whether it is online now, as the
// gateway judged it.
type DaemonView struct {
	DaemonInfo
	Online bool `json:"online"`
}

// API error codes, carried in the Nats-Service-Error-Code header. They
// follow HTTP's meanings.
const (
	CodeBadRequest  = 400
	CodeNotFound    = 404
	CodeConflict    = 409
	CodeTooLarge    = 413
	CodeInternal    = 500
	CodeUnavailable = 503
)

// APIError is an error answered by the gateway.
type APIError struct {
	Code    int
	Message string
}

// Error implements error.
func (e *APIError) Error() string { return e.Message }

// Unwrap maps the code to the bus sentinel, so errors.Is works across the
// wire (e.g. errors.Is(err, ErrTaskNotFound)).
func (e *APIError) Unwrap() error {
	switch e.Code {
	case CodeNotFound:
		return ErrTaskNotFound
	case CodeBadRequest:
		return ErrMalformed
	case CodeTooLarge:
		return ErrTooLarge
	case CodeConflict:
		return ErrTerminal
	case CodeUnavailable:
		return ErrUnavailable
	}
	return nil
}

// CodeFor picks the API code for an error from its sentinel.
func CodeFor(err error) int {
	switch {
	case errors.Is(err, ErrTaskNotFound), errors.Is(err, ErrDaemonNotFound):
		return CodeNotFound
	case errors.Is(err, ErrTooLarge):
		return CodeTooLarge
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrUnknownType), errors.Is(err, ErrSkillUnavailable):
		return CodeBadRequest
	case errors.Is(err, ErrTerminal), errors.Is(err, ErrConflict), errors.Is(err, ErrNotWaiting):
		return CodeConflict
	case errors.Is(err, ErrUnavailable):
		return CodeUnavailable
	}
	return CodeInternal
}

// ParseReply decodes a gateway reply into out, or returns the *APIError
// it carries.
func ParseReply(msg *nats.Msg, out any) error {
	if code := msg.Header.Get(HeaderServiceErrorCode); code != "" {
		n, _ := strconv.Atoi(code)
		return &APIError{Code: n, Message: msg.Header.Get(HeaderServiceError)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(msg.Data, out); err != nil {
		return fmt.Errorf("gateway reply: %w: %v", ErrMalformed, err)
	}
	return nil
}
