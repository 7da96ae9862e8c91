package bench

import (
	"testing"
	"time"
)

// TestRunFleetSmall runs the fleet benchmark at a small size: every daemon
// comes online, and every task of the backlog completes exactly once (one
// started and one completed event in its log). No timing assertions.
func TestRunFleetSmall(t *testing.T) {
	t.Parallel()
	r, err := RunFleet(t.Context(), FleetOptions{
		Daemons: 50, Backlog: 500, Heartbeat: time.Second, Idle: time.Second, Dispatch: 20,
		Dir: t.TempDir(), NATS: InProcessNATS,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Completed != 500 || r.Duplicates != 0 || r.Missing != 0 || !r.Pass {
		t.Errorf("backlog of 500: %d completed exactly once, %d more than once, %d never; pass %v", r.Completed, r.Duplicates, r.Missing, r.Pass)
	}
	for name, v := range map[string]float64{
		"startup_s": r.StartupS, "drain_s": r.DrainS, "tasks_per_s": r.TasksPerS,
		"dispatch_p50_ms": r.DispatchP50Ms, "dispatch_p99_ms": r.DispatchP99Ms,
		"idle_presence_writes_per_s": r.IdlePresenceWritesPerS, "gateway_rss_mb": r.GatewayRSSMB, "total_rss_mb": r.TotalRSSMB,
	} {
		if v <= 0 {
			t.Errorf("%s = %v, want a positive figure", name, v)
		}
	}
	t.Logf("%+v", *r)
}
