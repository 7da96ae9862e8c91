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
	// ErrNotWaiting means a decision named a tool call that is not waiting
	// for approval (unknown, or already decided) in a task that has not
	// ended.
	ErrNotWaiting = errors.New("no such call waiting for approval")
	// ErrSkillUnavailable means no daemon (or not the pinned one) offers
	// the skills a task needs with all their requirements.
	ErrSkillUnavailable = errors.New("skill unavailable")
	// ErrConflict means an append lost its optimistic-concurrency race too
	// many times in a row.
	ErrConflict = errors.New("task log write conflict")
	// ErrUnavailable means the gateway or NATS did not answer.
	ErrUnavailable = errors.New("unavailable")
)
