package bus

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// W3C Trace Context headers. When tracing is on (package telemetry sets
// the process's propagator), the gateway writes them on the created and
// follow-up events it appends and on the assignments it queues, and a
// daemon on the events of a turn, so one trace follows a task turn from
// the submit to the last model call. With tracing off nothing is written.
const (
	// HeaderTraceparent carries the trace and parent span ids.
	HeaderTraceparent = "traceparent"
	// HeaderTracestate carries vendor trace state, when there is some.
	HeaderTracestate = "tracestate"
)

// traceCarrier adapts NATS headers to the propagation API. Header names
// are used as given (lower case), as W3C Trace Context writes them.
type traceCarrier nats.Header

func (c traceCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c traceCarrier) Set(key, value string) { c[key] = []string{value} }

func (c traceCarrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

// InjectTrace writes the trace context of ctx into h (nothing when
// tracing is off or ctx carries no span). h must not be nil.
func InjectTrace(ctx context.Context, h nats.Header) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return // nothing to carry: skip the propagator (tracing is off)
	}
	otel.GetTextMapPropagator().Inject(ctx, traceCarrier(h))
}

// ExtractTrace returns ctx with the remote trace context h carries, if
// any (ctx itself when tracing is off or h has none).
func ExtractTrace(ctx context.Context, h nats.Header) context.Context {
	if traceCarrier(h).Get(HeaderTraceparent) == "" {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, traceCarrier(h))
}
