package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// PurgeTask removes a task from the bus: every event of its log from
// VIBER_TASKS, its assignment from VIBER_WORK and its summary from
// viber_tasks. It returns how many events the log held. Removing what is
// already gone is no error. Only the gateway calls it ([APITaskRemove]).
func PurgeTask(ctx context.Context, js jetstream.JetStream, taskID string) (uint64, error) {
	if !ValidToken(taskID) {
		return 0, fmt.Errorf("task id %q: %w", taskID, ErrMalformed)
	}
	tasks, err := js.Stream(ctx, TaskStream)
	if err != nil {
		return 0, fmt.Errorf("open stream %s: %w", TaskStream, err)
	}
	info, err := tasks.Info(ctx, jetstream.WithSubjectFilter(TaskFilter(taskID)))
	if err != nil {
		return 0, fmt.Errorf("count the events of task %s: %w", taskID, err)
	}
	var events uint64
	for _, n := range info.State.Subjects {
		events += n
	}
	if err := tasks.Purge(ctx, jetstream.WithPurgeSubject(TaskFilter(taskID))); err != nil {
		return 0, fmt.Errorf("purge the log of task %s: %w", taskID, err)
	}
	work, err := js.Stream(ctx, WorkStream)
	if err != nil {
		return events, fmt.Errorf("open stream %s: %w", WorkStream, err)
	}
	if err := work.Purge(ctx, jetstream.WithPurgeSubject(WorkTaskFilter(taskID))); err != nil {
		return events, fmt.Errorf("purge the assignment of task %s: %w", taskID, err)
	}
	kv, err := js.KeyValue(ctx, TaskBucket)
	if err != nil {
		return events, fmt.Errorf("open bucket %s: %w", TaskBucket, err)
	}
	if err := kv.Purge(ctx, taskID); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return events, fmt.Errorf("purge the summary of task %s: %w", taskID, err)
	}
	return events, nil
}
