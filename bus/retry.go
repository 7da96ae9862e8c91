package bus

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Transient reports whether err, returned by a NATS request or a JetStream
// API call made under ctx, may go away by itself: the call timed out while
// ctx is still alive (a busy server, hundreds of clients starting at once),
// nobody answered (JetStream starting, a cluster without a leader, a
// reconnect under way), or JetStream answered 503 (temporarily
// unavailable). Everything else (a refused configuration, a missing
// permission, a closed connection, ctx itself ending) is permanent.
func Transient(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return true
	}
	var jsErr jetstream.JetStreamError
	if errors.As(err, &jsErr) {
		if api := jsErr.APIError(); api != nil {
			return api.Code == 503 && api.ErrorCode != jetstream.JSErrCodeJetStreamNotEnabledForAccount
		}
	}
	return false
}

// RetryNotify is told about every failed attempt that [Retry] will repeat:
// the error, how many attempts failed so far and the wait before the next.
type RetryNotify func(err error, attempt int, wait time.Duration)

// Retry backoff: the first wait, and the longest.
const (
	retryFirstWait = 100 * time.Millisecond
	retryMaxWait   = 5 * time.Second
)

// Retry calls fn (each attempt bounded by [RetryAttemptTimeout]) until it succeeds, fails with an error that is neither
// [Transient] nor one of also (errors.Is), or ctx ends. Waits between
// attempts double from 100 ms up to 5 s, with jitter so that many clients
// started together do not retry together. notify (optional) is told about
// each retry, so the caller can log it. The error returned is fn's last,
// or ctx's.
//
// Start-up steps of daemons and gateways go through Retry: a server busy
// with hundreds of clients starting at once answers late, and that is no
// reason to exit.
func Retry(ctx context.Context, notify RetryNotify, fn func(context.Context) error, also ...error) error {
	wait := retryFirstWait
	for attempt := 1; ; attempt++ {
		err := attempt1(ctx, fn)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
		if !Transient(ctx, err) && !isAny(err, also) {
			return err
		}
		// Full jitter on the upper half: between wait/2 and wait.
		d := wait/2 + rand.N(wait/2+1)
		if notify != nil {
			notify(err, attempt, d)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, retryMaxWait)
	}
}

// RetryAttemptTimeout bounds one attempt of [Retry] when the caller's
// context allows longer: a request nobody answers (a cluster still
// electing its leader drops it) would otherwise wait for the caller's whole
// deadline instead of being tried again. Without a deadline the JetStream
// client's own default timeout bounds each request.
const RetryAttemptTimeout = 10 * time.Second

func attempt1(ctx context.Context, fn func(context.Context) error) error {
	if d, ok := ctx.Deadline(); ok && time.Until(d) > RetryAttemptTimeout {
		actx, cancel := context.WithTimeout(ctx, RetryAttemptTimeout)
		defer cancel()
		return fn(actx)
	}
	return fn(ctx)
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// WithoutDeadline returns a context that ends when ctx does but has no
// deadline of its own, for the long-lived loops of a gateway or a daemon.
// The JetStream client bounds a request made under a context without a
// deadline by its default timeout (5 s); under a context with one, it waits
// until that deadline. A request whose answer is lost — sent to, or
// through, a NATS node that dies before answering, or in flight on a
// connection that reconnects — would otherwise hold its caller (the
// projector folding, a daemon appending, a start-up step) for the whole
// life of the process's context, which a test or a job may bound by
// minutes. Under WithoutDeadline such a request times out, and its caller
// retries. Values of ctx are kept; ctx without a deadline is returned as
// is.
func WithoutDeadline(ctx context.Context) context.Context {
	if _, ok := ctx.Deadline(); !ok {
		return ctx
	}
	c, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	return c
}
