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
