package bus

import "errors"

// Sentinel errors. Check them with errors.Is.
var (
	// ErrTaskNotFound means no event exists for the task id.
	ErrTaskNotFound = errors.New("task not found")
	// ErrDaemonNotFound means no daemon with that id ever registered.
	ErrDaemonNotFound = errors.New("daemon not found")
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
	// ErrConflict means an append lost its optimistic-concurrency race too
	// many times in a row.
	ErrConflict = errors.New("task log write conflict")
	// ErrUnavailable means the gateway or NATS did not answer.
	ErrUnavailable = errors.New("unavailable")
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
)

// ErrCallNotFound means a task has no tool call with that id waiting for
// what the request asks (a decision, say).
var ErrCallNotFound = errors.New("call not found")
