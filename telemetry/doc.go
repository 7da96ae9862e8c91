// Package telemetry is how Viber is observed from outside: Prometheus
// metrics (the gateway's /metrics, a daemon's --metrics-listen) and
// OpenTelemetry traces (one trace per task turn: submit, dispatch, the
// daemon's turn, each model call, each tool call, each approval), off
// unless the standard OTEL_* variables ask for them.
//
// Instrumentation stays off the hot path's allocations: counters are
// resolved once per label set, gauges that need a listing (tasks by state,
// queue depth, daemons online) are computed when Prometheus scrapes, and
// with tracing off every span helper returns the context it was given.
// See docs/observability.md for the metric and span names.
package telemetry
