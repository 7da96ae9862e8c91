package bus_test

import (
	"testing"
	"time"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
)

// TestSetupAppliesRetention: Setup on an existing task log applies a new
// retention and size limit (and tells Changed), leaves them alone when
// unset, removes them when negative, and says nothing when nothing
// changes.
func TestSetupAppliesRetention(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx := bustest.Context(t, 30*time.Second)
	limits := func() (time.Duration, int64, int) {
		t.Helper()
		s, err := env.JS.Stream(ctx, bus.TaskStream)
		if err != nil {
			t.Fatal(err)
		}
		c := s.CachedInfo().Config
		return c.MaxAge, c.MaxBytes, c.MaxConsumers
	}
	if age, bytes, consumers := limits(); age != 0 || bytes != -1 || consumers != bus.StreamMaxConsumers {
		t.Fatalf("new task log: max age %v, max bytes %d, max consumers %d; want 0, -1, %d", age, bytes, consumers, bus.StreamMaxConsumers)
	}
	setup := func(o bus.SetupOptions) []string {
		t.Helper()
		var changes []string
		o.Changed = func(stream, change string) { changes = append(changes, stream+": "+change) }
		if err := bus.Setup(ctx, env.JS, o); err != nil {
			t.Fatal(err)
		}
		return changes
	}
	changes := setup(bus.SetupOptions{TaskRetention: 720 * time.Hour, TaskMaxBytes: 1 << 30})
	if age, bytes, _ := limits(); age != 720*time.Hour || bytes != 1<<30 {
		t.Errorf("after --retention 720h --max-bytes 1GiB: max age %v, max bytes %d", age, bytes)
	}
	if len(changes) != 3 {
		t.Errorf("changes told: %q, want the log's retention and size and the summaries' retention", changes)
	}
	if kv, err := env.JS.KeyValue(ctx, bus.TaskBucket); err != nil {
		t.Fatal(err)
	} else if st, err := kv.Status(ctx); err != nil {
		t.Fatal(err)
	} else if st.TTL() != 720*time.Hour {
		t.Errorf("summaries after --retention 720h: ttl %v, want 720h", st.TTL())
	}
	if changes := setup(bus.SetupOptions{}); len(changes) != 0 {
		t.Errorf("Setup without limits changed %q", changes)
	}
	if age, bytes, _ := limits(); age != 720*time.Hour || bytes != 1<<30 {
		t.Errorf("Setup without limits left max age %v, max bytes %d; want them kept", age, bytes)
	}
	if changes := setup(bus.SetupOptions{TaskRetention: 720 * time.Hour, TaskMaxBytes: 1 << 30}); len(changes) != 0 {
		t.Errorf("Setup with the same limits changed %q", changes)
	}
	setup(bus.SetupOptions{TaskRetention: -1, TaskMaxBytes: -1})
	if age, bytes, _ := limits(); age != 0 || bytes != -1 {
		t.Errorf("after forever and unlimited: max age %v, max bytes %d; want 0, -1", age, bytes)
	}
}
