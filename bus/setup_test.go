package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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

// TestWorkConsumerFollowsStreamReplicas: on a three-node cluster whose
// work stream has three replicas, a daemon that knows nothing of the
// replica count (its options leave it unset, as viberd does) creates its
// work consumer with three replicas, and so does the shared consumer made
// by Setup.
func TestWorkConsumerFollowsStreamReplicas(t *testing.T) {
	t.Parallel()
	c := bustest.StartCluster(t, 3)
	ctx := bustest.Context(t, time.Minute)
	js, err := jetstream.New(c.Connect(t, "setup"))
	if err != nil {
		t.Fatal(err)
	}
	err = bus.Retry(ctx, nil, func(ctx context.Context) error { return bus.Setup(ctx, js, bus.SetupOptions{Replicas: 3}) })
	if err != nil {
		t.Fatal(err)
	}
	var own jetstream.Consumer
	err = bus.Retry(ctx, nil, func(ctx context.Context) (err error) {
		own, err = js.CreateOrUpdateConsumer(ctx, bus.WorkStream, bus.WorkConsumerConfig("d1", bus.SetupOptions{}))
		return err
	})
	if err != nil {
		t.Fatalf("a daemon with default options creates its work consumer on a replicated work stream: %v", err)
	}
	anyc, err := js.Consumer(ctx, bus.WorkStream, bus.AnyWorkConsumer)
	if err != nil {
		t.Fatal(err)
	}
	for _, cons := range []jetstream.Consumer{own, anyc} {
		info := cons.CachedInfo()
		peers := 0
		if info.Cluster != nil {
			peers = len(info.Cluster.Replicas) // the leader's peers, or all of them while none leads
			if info.Cluster.Leader != "" {
				peers++
			}
		}
		if peers != 3 {
			t.Errorf("consumer %s: %d replicas (cluster %+v); want 3, as its stream", info.Name, peers, info.Cluster)
		}
	}
}

// TestWorkConsumerScaledWithItsStream: a work consumer made with one
// replica while its stream had one takes the stream's three once the
// stream is scaled and the consumer's configuration applied again (as the
// gateway does for every daemon it sees).
func TestWorkConsumerScaledWithItsStream(t *testing.T) {
	t.Parallel()
	c := bustest.StartCluster(t, 3)
	ctx := bustest.Context(t, time.Minute)
	js, err := jetstream.New(c.Connect(t, "setup"))
	if err != nil {
		t.Fatal(err)
	}
	err = bus.Retry(ctx, nil, func(ctx context.Context) error { return bus.Setup(ctx, js, bus.SetupOptions{Replicas: 1}) })
	if err != nil {
		t.Fatal(err)
	}
	old := bus.WorkConsumerConfig("d1", bus.SetupOptions{})
	old.Replicas = 1 // as an older daemon made it
	if _, err := js.CreateOrUpdateConsumer(ctx, bus.WorkStream, old); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, bus.WorkStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.Replicas = 3
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatalf("scale %s: %v", bus.WorkStream, err)
	}
	// The stream's new peers come up in the background: until they do, the
	// server refuses the consumer more replicas than the stream has.
	for {
		err := func() error {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			cons, err := js.CreateOrUpdateConsumer(cctx, bus.WorkStream, bus.WorkConsumerConfig("d1", bus.SetupOptions{}))
			if err != nil {
				return err
			}
			info, err := cons.Info(cctx)
			if err != nil {
				return err
			}
			peers := len(info.Cluster.Replicas)
			if info.Cluster.Leader != "" {
				peers++
			}
			if peers != 3 {
				return fmt.Errorf("%d replicas (cluster %+v)", peers, info.Cluster)
			}
			return nil
		}()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("work consumer after its stream was scaled to 3 and its configuration applied again: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
