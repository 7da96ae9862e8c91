package gateway

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
	"github.com/viberhq/viber/client"
)

// TestRemoveTask removes tasks over NATS and HTTP: an ended task goes, with
// its log, assignment and summary; a pending one is refused (active)
// unless forced; other tasks are untouched.
func TestRemoveTask(t *testing.T) {
	t.Parallel()
	r := newHTTPRig(t)
	ctx := bustest.Context(t, 30*time.Second)
	cl, err := client.New(r.env.Connect(t, "remove-client"))
	if err != nil {
		t.Fatal(err)
	}
	create := func() string {
		t.Helper()
		s, err := cl.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "to be removed"})
		if err != nil {
			t.Fatal(err)
		}
		return s.ID
	}
	events := func(id string) uint64 {
		t.Helper()
		s, err := r.env.JS.Stream(ctx, bus.TaskStream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(bus.TaskFilter(id)))
		if err != nil {
			t.Fatal(err)
		}
		n := uint64(0)
		for _, c := range info.State.Subjects {
			n += c
		}
		return n
	}
	gone := func(id string) {
		t.Helper()
		if _, err := cl.Task(ctx, id); !errors.Is(err, bus.ErrTaskNotFound) {
			t.Errorf("task %s after removal: %v, want task not found", id, err)
		}
		if n := events(id); n != 0 {
			t.Errorf("task %s after removal: %d events left in the log", id, n)
		}
		if has, err := bus.HasAssignment(ctx, r.env.JS, id); err != nil || has {
			t.Errorf("task %s after removal: assignment left %v (%v)", id, has, err)
		}
		if _, _, err := r.g.summaries.Get(ctx, id); !errors.Is(err, bus.ErrTaskNotFound) {
			t.Errorf("task %s after removal: summary %v, want none", id, err)
		}
	}

	keep := create()
	ended := create()
	if _, err := cl.CancelTask(ctx, &bus.CancelTaskRequest{ID: ended}); err != nil {
		t.Fatal(err)
	}
	resp, err := cl.RemoveTask(ctx, &bus.RemoveTaskRequest{ID: ended})
	if err != nil {
		t.Fatalf("remove an ended task over NATS: %v", err)
	}
	if resp.State != bus.StateCancelled || resp.Events < 2 {
		t.Errorf("removed %+v, want state cancelled and its events counted", resp)
	}
	gone(ended)

	pending := create()
	if _, err := cl.RemoveTask(ctx, &bus.RemoveTaskRequest{ID: pending}); !errors.Is(err, bus.ErrActive) {
		t.Errorf("remove a pending task without force over NATS: %v, want ErrActive", err)
	}
	var apiErr bus.APIError
	if code := r.do(http.MethodDelete, "/api/tasks/"+pending, nil, &apiErr); code != http.StatusConflict || apiErr.Code != bus.CodeActive {
		t.Errorf("DELETE a pending task: %d %+v, want 409 active", code, apiErr)
	}
	var removed bus.RemoveTaskResponse
	if code := r.do(http.MethodDelete, "/api/tasks/"+pending+"?force=true", nil, &removed); code != http.StatusOK || removed.ID != pending || removed.State != bus.StatePending {
		t.Errorf("DELETE ?force=true: %d %+v, want 200 and the pending task", code, removed)
	}
	gone(pending)
	if code := r.do(http.MethodDelete, "/api/tasks/"+pending, nil, &apiErr); code != http.StatusNotFound {
		t.Errorf("DELETE a removed task: %d, want 404", code)
	}
	if _, err := cl.Task(ctx, keep); err != nil || events(keep) == 0 {
		t.Errorf("the other task after the removals: %v, %d events", err, events(keep))
	}
}
