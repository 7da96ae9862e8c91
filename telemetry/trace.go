package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// tracing is true once a tracer provider is in place: until then the
// span helpers cost nothing.
var tracing atomic.Bool

// instrumentation names Viber's tracer.
const instrumentation = "github.com/viberhq/viber"

// Span names. A task turn's trace is: submit (gateway) → dispatch
// (gateway) → turn (daemon) → chat <model> and execute_tool <tool>, with
// approval <tool> under the tool call that waited.
const (
	SpanSubmit   = "submit task"
	SpanFollowUp = "follow up task"
	SpanDispatch = "dispatch task"
	SpanTurn     = "run task turn"
)

// Attribute keys: Viber's own, and the OpenTelemetry GenAI semantic
// conventions' (gen_ai.*).
const (
	AttrTask   = attribute.Key("viber.task.id")
	AttrDaemon = attribute.Key("viber.daemon.id")
	AttrTarget = attribute.Key("viber.work.target")

	attrGenAISystem    = attribute.Key("gen_ai.system")
	attrGenAIProvider  = attribute.Key("gen_ai.provider.name")
	attrGenAIOperation = attribute.Key("gen_ai.operation.name")
	attrGenAIModel     = attribute.Key("gen_ai.request.model")
	attrGenAIIn        = attribute.Key("gen_ai.usage.input_tokens")
	attrGenAIOut       = attribute.Key("gen_ai.usage.output_tokens")
	attrGenAITool      = attribute.Key("gen_ai.tool.name")
	attrGenAICallID    = attribute.Key("gen_ai.tool.call.id")
	attrApproved       = attribute.Key("viber.approval.approved")
	attrDecidedBy      = attribute.Key("viber.approval.by")
)

// SetupTracing turns tracing on when the environment asks for it:
// OTEL_TRACES_EXPORTER=otlp, or OTEL_EXPORTER_OTLP_ENDPOINT /
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set (OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none keep it off). Spans go over OTLP/HTTP
// (protobuf), configured by the standard OTEL_EXPORTER_OTLP_* variables;
// the sampler by OTEL_TRACES_SAMPLER, the resource by OTEL_SERVICE_NAME
// and OTEL_RESOURCE_ATTRIBUTES (service defaults to service). It returns
// a function that flushes and stops the exporter (a no-op when off) and
// whether tracing is on.
func SetupTracing(ctx context.Context, service, version string, getenv func(string) string) (shutdown func(context.Context) error, on bool, err error) {
	off := func(context.Context) error { return nil }
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return off, false, nil
	}
	switch exp := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))); exp {
	case "none":
		return off, false, nil
	case "otlp":
	case "":
		if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return off, false, nil
		}
	default:
		return off, false, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: Viber exports traces with otlp only (or none)", exp)
	}
	proto := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	if proto != "" && proto != "http/protobuf" {
		return off, false, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%s: Viber speaks OTLP over http/protobuf only (the collector's port 4318)", proto)
	}
	// The exporter reads the OTEL_EXPORTER_OTLP_* variables itself; the
	// endpoint is given from getenv too, so that callers (and tests) that
	// pass their own environment are obeyed.
	var opts []otlptracehttp.Option
	if u := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); u != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(u))
	} else if u := getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); u != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(strings.TrimRight(u, "/")+"/v1/traces"))
	}
	exporter, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return off, false, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", service), attribute.String("service.version", version)))
	if err != nil {
		return off, false, fmt.Errorf("tracing: resource: %w", err)
	}
	// The environment (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) wins.
	if env, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, env); err == nil {
			res = merged
		}
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	Use(tp)
	return func(ctx context.Context) error {
		tracing.Store(false)
		return tp.Shutdown(ctx)
	}, true, nil
}

// Use makes tp the process's tracer provider and W3C Trace Context its
// propagator, and turns the span helpers on. SetupTracing calls it; tests
// call it with an SDK provider over an in-memory exporter.
func Use(tp trace.TracerProvider) {
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	tracing.Store(true)
}

// Start starts a span named name under ctx's span (or remote parent).
// With tracing off it returns ctx and a span that records nothing.
func Start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !tracing.Load() {
		return ctx, trace.SpanFromContext(ctx)
	}
	return otel.Tracer(instrumentation).Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// End ends a span started by Start, marking it failed when err is not nil
// (a cancelled context is not a failure).
func End(span trace.Span, err error) {
	if !span.IsRecording() {
		span.End()
		return
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// SetTask names the task of ctx's span (once its id is known).
func SetTask(ctx context.Context, taskID string) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(AttrTask.String(taskID))
	}
}

// attrOutcome is a tool call's outcome on its span.
const attrOutcome = attribute.Key("viber.tool.outcome")

// codesError marks a span failed.
const codesError = codes.Error

// Flush exports the spans ended so far (when the tracer provider batches).
func Flush(ctx context.Context) error {
	if f, ok := otel.GetTracerProvider().(interface{ ForceFlush(context.Context) error }); ok {
		return f.ForceFlush(ctx)
	}
	return nil
}

// FromHTTP is r's context with the W3C trace context r's headers carry,
// if any: the gateway's spans for an API call join the caller's trace.
func FromHTTP(r *http.Request) context.Context {
	if !tracing.Load() {
		return r.Context()
	}
	return otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
}
