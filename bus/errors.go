package bus

import (
	"errors"
	"net/http"
)

// Sentinel errors. Check them with errors.Is. Each one that the gateway's
// API can answer has an [ErrorCode], so it survives the trip over NATS and
// HTTP: errors.Is holds on the client side too.
var (
	// ErrTaskNotFound means no event exists for the task id.
	ErrTaskNotFound = errors.New("task not found")
	// ErrDaemonNotFound means no daemon with that id ever registered.
	ErrDaemonNotFound = errors.New("daemon not found")
	// ErrCallNotFound means the task has no tool call with that id waiting
	// for a decision.
	ErrCallNotFound = errors.New("call not found")
	// ErrMalformed means an event or request could not be decoded or is
	// missing required fields.
	ErrMalformed = errors.New("malformed")
	// ErrUnknownType means an event's type is not a task event type.
	ErrUnknownType = errors.New("unknown event type")
	// ErrTooLarge means a goal, input or event is over its size limit.
	ErrTooLarge = errors.New("too large")
	// ErrTerminal means the task already ended and the request needs a
	// running task.
	ErrTerminal = errors.New("task already ended")
	// ErrNotWaiting means a decision named a tool call that is not waiting
	// for approval (unknown, or already decided) in a task that has not
	// ended.
	ErrNotWaiting = errors.New("no such call waiting for approval")
	// ErrSkillUnavailable means no daemon (or not the pinned one) offers
	// the skills (with all their requirements) or the tools a task needs.
	ErrSkillUnavailable = errors.New("skill or tool unavailable")
	// ErrAgentUnavailable means no daemon (or not the pinned one) offers
	// the named agent a task asks for.
	ErrAgentUnavailable = errors.New("agent unavailable")
	// ErrMemoryNotFound means a memory file (or the revision asked for)
	// does not exist.
	ErrMemoryNotFound = errors.New("memory file not found")
	// ErrConflict means an append lost its optimistic-concurrency race too
	// many times in a row.
	ErrConflict = errors.New("task log write conflict")
	// ErrUnauthorized means the caller did not prove who it is or may not
	// do what it asked.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnavailable means the gateway or NATS did not answer.
	ErrUnavailable = errors.New("unavailable")
	// ErrScheduleNotFound means no schedule has that name.
	ErrScheduleNotFound = errors.New("schedule not found")
	// ErrUnsupported means the NATS server or the gateway lacks a feature
	// the request needs (for example message schedules before nats-server
	// 2.12, or webhooks on a gateway without a webhook secret).
	ErrUnsupported = errors.New("not supported")
)

// Errors of the task lifecycle.
var (
	// ErrRejected means a message on a task's subjects does not fit the
	// task (malformed, out of order, or from a writer that may not write
	// it); readers skip it.
	ErrRejected = errors.New("event rejected")
	// ErrFenced means a daemon no longer holds the task it writes to:
	// another daemon claimed it or the turn ended. The daemon stops its run
	// and does not retry.
	ErrFenced = errors.New("task no longer held")
	// ErrActive means an operation that needs an ended task (removing
	// it) met one that is still pending or running.
	ErrActive = errors.New("task still active")
)

// ErrorCode is the stable, machine-readable name of an API error. The
// gateway sends it in the Nats-Service-Error-Code header of a micro-service
// reply and as "code" in the JSON body of an HTTP error; clients map it back
// to its sentinel ([ErrorCode.Sentinel]). Codes never change meaning; new
// ones may be added.
type ErrorCode string

// The API error codes.
const (
	CodeTaskNotFound   ErrorCode = "task_not_found"
	CodeDaemonNotFound ErrorCode = "daemon_not_found"
	CodeCallNotFound   ErrorCode = "call_not_found"
	CodeConflict       ErrorCode = "conflict"
	CodeTerminal       ErrorCode = "terminal"
	CodeMalformed      ErrorCode = "malformed"
	CodeUnknownType    ErrorCode = "unknown_type"
	CodeTooLarge       ErrorCode = "too_large"
	CodeUnauthorized   ErrorCode = "unauthorized"
	CodeUnavailable    ErrorCode = "unavailable"
	CodeNotWaiting     ErrorCode = "not_waiting"
	CodeSkillMissing   ErrorCode = "skill_unavailable"
	CodeAgentMissing   ErrorCode = "agent_unavailable"
	CodeMemoryNotFound ErrorCode = "memory_not_found"
	// CodeNoEndpoint answers an HTTP request for a path or method the API
	// does not have. It has no sentinel: it is a client's programming
	// error, not a state of the system.
	CodeNoEndpoint ErrorCode = "no_endpoint"
	// CodeInternal is every other failure; it has no sentinel.
	CodeInternal ErrorCode = "internal"
	// CodeScheduleNotFound: no schedule has that name.
	CodeScheduleNotFound ErrorCode = "schedule_not_found"
	// CodeUnsupported: the NATS server or the gateway lacks the feature.
	CodeUnsupported ErrorCode = "unsupported"
	// CodeActive: the task has not ended (removing it needs force).
	CodeActive ErrorCode = "active"
)

// errorCodes maps each code with a sentinel to it and its HTTP status, in
// the order [CodeOf] checks them.
var errorCodes = []struct {
	code   ErrorCode
	err    error
	status int
}{
	{CodeTaskNotFound, ErrTaskNotFound, http.StatusNotFound},
	{CodeDaemonNotFound, ErrDaemonNotFound, http.StatusNotFound},
	{CodeCallNotFound, ErrCallNotFound, http.StatusNotFound},
	{CodeMemoryNotFound, ErrMemoryNotFound, http.StatusNotFound},
	{CodeNotWaiting, ErrNotWaiting, http.StatusConflict},
	{CodeSkillMissing, ErrSkillUnavailable, http.StatusBadRequest},
	{CodeAgentMissing, ErrAgentUnavailable, http.StatusBadRequest},
	{CodeTooLarge, ErrTooLarge, http.StatusRequestEntityTooLarge},
	{CodeMalformed, ErrMalformed, http.StatusBadRequest},
	{CodeUnknownType, ErrUnknownType, http.StatusBadRequest},
	{CodeTerminal, ErrTerminal, http.StatusConflict},
	{CodeConflict, ErrConflict, http.StatusConflict},
	{CodeUnauthorized, ErrUnauthorized, http.StatusUnauthorized},
	{CodeUnavailable, ErrUnavailable, http.StatusServiceUnavailable},
	{CodeScheduleNotFound, ErrScheduleNotFound, http.StatusNotFound},
	{CodeUnsupported, ErrUnsupported, http.StatusNotImplemented},
	{CodeActive, ErrActive, http.StatusConflict},
}

// ErrorCodes lists every code that has a sentinel.
func ErrorCodes() []ErrorCode {
	out := make([]ErrorCode, len(errorCodes))
	for i, c := range errorCodes {
		out[i] = c.code
	}
	return out
}

// CodeOf is the API code for an error, from the first sentinel it wraps
// ([CodeInternal] when none).
func CodeOf(err error) ErrorCode {
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return CodeInternal
}

// Sentinel is the error a code stands for, or nil for [CodeInternal],
// [CodeNoEndpoint] and codes this version does not know.
func (c ErrorCode) Sentinel() error {
	for _, e := range errorCodes {
		if e.code == c {
			return e.err
		}
	}
	return nil
}

// Status is the HTTP status the code is answered with.
func (c ErrorCode) Status() int {
	for _, e := range errorCodes {
		if e.code == c {
			return e.status
		}
	}
	if c == CodeNoEndpoint {
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// codeForStatus guesses the code of an HTTP error that came without one
// (for example from a proxy in front of the gateway): only statuses that
// stand for exactly one code are mapped.
func codeForStatus(status int) ErrorCode {
	switch status {
	case http.StatusBadRequest:
		return CodeMalformed
	case http.StatusUnauthorized, http.StatusForbidden:
		return CodeUnauthorized
	case http.StatusRequestEntityTooLarge:
		return CodeTooLarge
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return CodeUnavailable
	}
	return CodeInternal
}
