package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Assignment is the body of a work message: a task waiting for a daemon.
// The daemon that pulls it reads the task's log for everything else.
type Assignment struct {
	// TaskID is the task to run.
	TaskID string `json:"task_id"`
	// Target is the daemon id the task is pinned to, or "any".
	Target string `json:"target"`
	// Queued is when the gateway queued the assignment.
	Queued time.Time `json:"queued"`
	// From is the VIBER_TASKS sequence of the task's first event (0 when
	// unknown): a reader starts there instead of searching the stream.
	From uint64 `json:"from,omitempty"`
}

// Assign queues a task's assignment for a target daemon id or [AnyDaemon].
// turnSeq is the seq of the event that opened the turn (1 for created, the
// seq of a follow-up input otherwise): repeated calls for one turn within
// the duplicate window store one message.
// from is the stream sequence of the task's first event (0 when unknown).
func Assign(ctx context.Context, js jetstream.JetStream, taskID, target string, turnSeq, from uint64) error {
	if !ValidToken(taskID) || !ValidToken(target) {
		return fmt.Errorf("assign task %q to %q: %w", taskID, target, ErrMalformed)
	}
	body, err := json.Marshal(Assignment{TaskID: taskID, Target: target, Queued: time.Now().UTC(), From: from})
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: WorkSubject(target, taskID), Data: body, Header: nats.Header{}}
	InjectTrace(ctx, msg.Header)
	if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID("work-"+taskID+"-"+strconv.FormatUint(turnSeq, 10))); err != nil {
		return fmt.Errorf("queue assignment of task %s: %w", taskID, err)
	}
	return nil
}

// Requeue queues a task's assignment again under a fresh message id, for a
// task that lost its assignment (the duplicate window would swallow a
// repeat of the original id). Callers check HasAssignment first.
func Requeue(ctx context.Context, js jetstream.JetStream, taskID, target string, from uint64) error {
	if !ValidToken(taskID) || !ValidToken(target) {
		return fmt.Errorf("requeue task %q to %q: %w", taskID, target, ErrMalformed)
	}
	body, err := json.Marshal(Assignment{TaskID: taskID, Target: target, Queued: time.Now().UTC(), From: from})
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: WorkSubject(target, taskID), Data: body}
	if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID("work-"+taskID+"-requeue-"+NewID())); err != nil {
		return fmt.Errorf("requeue task %s: %w", taskID, err)
	}
	return nil
}

// RequeueAt queues a task's assignment again like [Requeue], under a
// message id made of the task id and head, the stream sequence of the last
// event of its log that the caller saw: two gateways sweeping at once, who
// saw the same log, store one assignment (within the duplicate window; a
// later sweep of an unchanged task after that stores a new one).
func RequeueAt(ctx context.Context, js jetstream.JetStream, taskID, target string, from, head uint64) error {
	if !ValidToken(taskID) || !ValidToken(target) {
		return fmt.Errorf("requeue task %q to %q: %w", taskID, target, ErrMalformed)
	}
	body, err := json.Marshal(Assignment{TaskID: taskID, Target: target, Queued: time.Now().UTC(), From: from})
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: WorkSubject(target, taskID), Data: body}
	if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID("work-"+taskID+"-requeue-at-"+strconv.FormatUint(head, 10))); err != nil {
		return fmt.Errorf("requeue task %s: %w", taskID, err)
	}
	return nil
}

// HasAssignment reports whether a task has an assignment in the work stream
// (queued or held by a daemon).
func HasAssignment(ctx context.Context, js jetstream.JetStream, taskID string) (bool, error) {
	s, err := js.Stream(ctx, WorkStream)
	if err != nil {
		return false, fmt.Errorf("open stream %s: %w", WorkStream, err)
	}
	_, err = s.GetLastMsgForSubject(ctx, WorkTaskFilter(taskID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up assignment of task %s: %w", taskID, err)
	}
	return true, nil
}

// ParseAssignment decodes a work message body.
func ParseAssignment(b []byte) (*Assignment, error) {
	var a Assignment
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("assignment: %w: %v", ErrMalformed, err)
	}
	if !ValidToken(a.TaskID) {
		return nil, fmt.Errorf("assignment: task id %q: %w", a.TaskID, ErrMalformed)
	}
	return &a, nil
}

// DaemonOfWorkConsumer returns the daemon id of a daemon's own work
// consumer name (see [DaemonWorkConsumer]).
func DaemonOfWorkConsumer(name string) (string, bool) {
	id, ok := strings.CutPrefix(name, DaemonWorkConsumer(""))
	return id, ok && ValidToken(id)
}

// DaemonWork describes a daemon's own work consumer for retirement.
type DaemonWork struct {
	// Daemon is the daemon's id.
	Daemon string
	// Pending counts its assignments not yet delivered plus those
	// delivered and not acknowledged; Waiting its pulls waiting now (a
	// live daemon keeps one).
	Pending, Waiting int
	// LastActive is when it last delivered an assignment, or when it was
	// created if it never did.
	LastActive time.Time
}

// DaemonWorkConsumers lists the daemons' own work consumers.
func DaemonWorkConsumers(ctx context.Context, js jetstream.JetStream) ([]DaemonWork, error) {
	s, err := js.Stream(ctx, WorkStream)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", WorkStream, err)
	}
	var out []DaemonWork
	l := s.ListConsumers(ctx)
	for info := range l.Info() {
		id, ok := DaemonOfWorkConsumer(info.Name)
		if !ok {
			continue
		}
		last := info.Created
		if info.Delivered.Last != nil && info.Delivered.Last.After(last) {
			last = *info.Delivered.Last
		}
		out = append(out, DaemonWork{Daemon: id, Pending: int(info.NumPending) + info.NumAckPending, Waiting: info.NumWaiting, LastActive: last})
	}
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("list consumers of %s: %w", WorkStream, err)
	}
	return out, nil
}

// HasDaemonWork reports whether the work stream holds an assignment
// pinned to daemon id (queued or held).
func HasDaemonWork(ctx context.Context, js jetstream.JetStream, id string) (bool, error) {
	s, err := js.Stream(ctx, WorkStream)
	if err != nil {
		return false, fmt.Errorf("open stream %s: %w", WorkStream, err)
	}
	_, err = s.GetLastMsgForSubject(ctx, WorkFilter(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up assignments of daemon %s: %w", id, err)
	}
	return true, nil
}

// DeleteDaemonWorkConsumer deletes daemon id's own work consumer (a
// missing one is no error). Assignments pinned to it stay in the stream:
// the daemon's consumer, created again when it starts, delivers them.
func DeleteDaemonWorkConsumer(ctx context.Context, js jetstream.JetStream, id string) error {
	err := js.DeleteConsumer(ctx, WorkStream, DaemonWorkConsumer(id))
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("delete consumer %s: %w", DaemonWorkConsumer(id), err)
	}
	return nil
}
