package bench

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/server"
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

// TestPublishAsyncWaitsWhenStalled publishes far more than the client lets
// be outstanding, with a stall wait too short for the server to keep up:
// plain PublishMsgAsync fails with "stalled with too many outstanding
// async published messages"; publishAsync waits and stores every message.
func TestPublishAsyncWaitsWhenStalled(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv, err := server.Start(server.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := bus.Connect(bus.ConnectOptions{URL: srv.ClientURL(), Name: "stall-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "STALL", Subjects: []string{"stall.>"}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	short := jetstream.WithStallWait(time.Microsecond)
	stalled := false
	for range n {
		if _, err := js.PublishMsgAsync(&nats.Msg{Subject: "stall.plain", Data: []byte("x")}, short); errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			stalled = true
			break
		}
	}
	if !stalled {
		t.Skip("this machine's server kept up with 2 outstanding publishes and a 1 µs stall wait; nothing to show")
	}
	<-js.PublishAsyncComplete()
	before, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := publishAsync(ctx, js, &nats.Msg{Subject: "stall.waited", Data: []byte("x")}, short); err != nil {
			t.Fatalf("publishAsync: %v", err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		t.Fatal("acknowledgements still outstanding after 30 s")
	}
	after, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.State.Msgs - before.State.Msgs; got != n {
		t.Fatalf("stored %d messages, want %d", got, n)
	}
}
