package bench

import (
	"testing"
	"time"
)

// TestRunSmall runs every phase at a small size: the report is complete and
// its figures are positive. (No timing assertions: machines are noisy.)
func TestRunSmall(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r, err := Run(ctx, Options{AppendEvents: 2000, AppendTasks: 50, ReplayEvents: 2000, DispatchTasks: 50, Dir: t.TempDir(), NATS: InProcessNATS})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]float64{
		"raw_js_pub_per_s": r.RawJSPubPerS, "append_per_s": r.AppendPerS, "append_ratio": r.AppendRatio,
		"raw_ordered_per_s": r.RawOrderedPerS, "replay_per_s": r.ReplayPerS, "replay_ratio": r.ReplayRatio,
		"dispatch_p50_ms": r.DispatchP50Ms, "dispatch_p99_ms": r.DispatchP99Ms,
		"task_p50_ms": r.TaskP50Ms, "tasks_per_s_c20": r.TasksPerS, "cpu_ms_per_task": r.CPUMsPerTask,
	} {
		if v <= 0 {
			t.Errorf("%s = %v", name, v)
		}
	}
	if r.Machine.CPUs == 0 || r.Machine.NATSServer == "" || r.DurationSeconds <= 0 {
		t.Errorf("machine: %+v", r.Machine)
	}
	_ = time.Second
}
