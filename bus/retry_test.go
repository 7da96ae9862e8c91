package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
)

// TestTransientOnRealErrors classifies errors a real server gives.
func TestTransientOnRealErrors(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx := bustest.Context(t, 30*time.Second)

	// Nobody listens: no responders.
	_, noResp := env.NC.RequestWithContext(ctx, "viber.test.nobody", nil)
	// A deadline shorter than any answer, while ctx lives on.
	short, cancel := context.WithTimeout(ctx, time.Nanosecond)
	_, timeout := env.JS.KeyValue(short, bus.DaemonBucket)
	cancel()
	_, missing := env.JS.Stream(ctx, "NO_SUCH_STREAM")
	_, refused := env.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "BAD", Subjects: []string{bus.TaskStreamSubjects()}})
	unavailable := &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}

	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"no responders", noResp, true},
		{"timeout", timeout, true},
		{"503", unavailable, true},
		{"stream not found", missing, false},
		{"overlapping subjects", refused, false},
		{"plain", errors.New("boom"), false},
	} {
		if c.err == nil {
			t.Errorf("%s: the server gave no error", c.name)
			continue
		}
		if got := bus.Transient(ctx, c.err); got != c.want {
			t.Errorf("Transient(%s: %v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
	ended, endCancel := context.WithCancel(ctx)
	endCancel()
	if bus.Transient(ended, context.DeadlineExceeded) {
		t.Error("a timeout after the caller's own context ended counts as transient")
	}
}

func TestRetry(t *testing.T) {
	t.Parallel()
	ctx := bustest.Context(t, 30*time.Second)
	unavailable := &jetstream.APIError{Code: 503, ErrorCode: 10008}

	calls, notified := 0, 0
	err := bus.Retry(ctx, func(error, int, time.Duration) { notified++ }, func(context.Context) error {
		calls++
		if calls < 3 {
			return unavailable
		}
		return nil
	})
	if err != nil || calls != 3 || notified != 2 {
		t.Errorf("transient twice then success: err %v, %d calls, %d notices; want nil, 3, 2", err, calls, notified)
	}

	calls = 0
	err = bus.Retry(ctx, nil, func(context.Context) error { calls++; return jetstream.ErrStreamNotFound })
	if !errors.Is(err, jetstream.ErrStreamNotFound) || calls != 1 {
		t.Errorf("permanent error: err %v after %d calls; want stream not found after 1", err, calls)
	}

	calls = 0
	err = bus.Retry(ctx, nil, func(context.Context) error {
		calls++
		if calls < 2 {
			return jetstream.ErrBucketNotFound
		}
		return nil
	}, jetstream.ErrBucketNotFound)
	if err != nil || calls != 2 {
		t.Errorf("an error named as retryable: err %v after %d calls; want nil after 2", err, calls)
	}

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err = bus.Retry(short, nil, func(context.Context) error { return unavailable })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("retrying past the caller's deadline: err %v, want one wrapping context.DeadlineExceeded", err)
	}
}

// TestWithoutDeadline: the context keeps its parent's values and ends with
// it (deadline included, with the parent's cause), but has no deadline of
// its own, so a request without an answer made under it is bounded by the
// JetStream client's default timeout instead of the parent's deadline.
func TestWithoutDeadline(t *testing.T) {
	t.Parallel()
	type key struct{}
	parent, cancel := context.WithTimeout(context.WithValue(context.Background(), key{}, "v"), 2*time.Second)
	defer cancel()
	ctx := bus.WithoutDeadline(parent)
	if _, ok := ctx.Deadline(); ok {
		t.Fatal("WithoutDeadline kept a deadline")
	}
	if ctx.Value(key{}) != "v" {
		t.Error("WithoutDeadline lost the parent's values")
	}

	// A request nobody answers (a subject with a subscriber that never
	// replies, as a dead node's) ends at the client's default timeout.
	env := bustest.Start(t, "", bus.SetupOptions{})
	sub, err := env.NC.SubscribeSync("silent.api.>")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	js, err := jetstream.NewWithAPIPrefix(env.NC, "silent.api", jetstream.WithDefaultTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := js.Stream(ctx, "SILENT"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("unanswered request: %v; want the default timeout's deadline exceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("unanswered request took %s; want the client's default timeout (200ms), not the parent's deadline", d)
	}

	<-ctx.Done()
	if !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		t.Errorf("ended with cause %v; want the parent's deadline", context.Cause(ctx))
	}
	if bus.WithoutDeadline(context.Background()) != context.Background() {
		t.Error("a context without a deadline is not returned as is")
	}
}
