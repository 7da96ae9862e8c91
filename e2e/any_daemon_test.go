package e2e

import (
	"testing"
	"time"

	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
)

// TestTaskForAnyDaemonNamedExplicitly: a task created with daemon "any"
// (the shared queue, as the CLI and API accept) is not pinned to a daemon
// called "any": a daemon's claim is stored and the task completes.
func TestTaskForAnyDaemonNamedExplicitly(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", openaitest.Echo)
	r.gateway()
	r.daemon("d1")
	s, err := r.client.CreateTask(r.ctx(5*time.Second), &bus.CreateTaskRequest{Goal: "hello", Daemon: bus.AnyDaemon})
	if err != nil {
		t.Fatalf("create task: %v", err)
	}
	events := r.follow(s.ID, 20*time.Second)
	if got := types(events); got != "created assigned started message completed" {
		t.Fatalf("events of a task for daemon %q: %s", bus.AnyDaemon, got)
	}
}
