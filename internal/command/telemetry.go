package command

import (
	"context"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/telemetry"
)

// startTracing turns on OpenTelemetry tracing when the OTEL_* variables
// ask for it (see docs/observability.md) and returns what flushes it.
func startTracing(ctx context.Context, service string, log zerolog.Logger) (func(), error) {
	shutdown, on, err := telemetry.SetupTracing(ctx, service, Version, os.Getenv)
	if err != nil {
		return func() {}, err
	}
	if on {
		log.Info().Str("service", service).Msg("tracing on: spans go to the OTLP endpoint of OTEL_EXPORTER_OTLP_*")
	}
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(sctx); err != nil {
			log.Warn().Err(err).Msg("flushing traces failed")
		}
	}, nil
}

func metricsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "metrics-listen", Usage: "serve Prometheus metrics at http://HOST:PORT/metrics (model calls, tokens, tool calls, approvals); off by default", EnvVars: []string{"VIBER_METRICS_LISTEN"}},
		&cli.StringFlag{Name: "metrics-token", Usage: "bearer token /metrics requires (needed when --metrics-listen is beyond loopback)", EnvVars: []string{telemetry.MetricsTokenEnv}},
	}
}

// startDaemonMetrics serves a daemon's metrics when --metrics-listen is
// set; it returns the metrics to give the daemon (nil when off) and what
// stops the listener.
func startDaemonMetrics(c *cli.Context, name string, nc *nats.Conn, log zerolog.Logger) (*telemetry.Daemon, func(), error) {
	addr := c.String("metrics-listen")
	if addr == "" {
		return nil, func() {}, nil
	}
	reg := telemetry.NewRegistry()
	m, err := telemetry.NewDaemon(reg)
	if err != nil {
		return nil, nil, err
	}
	if err := telemetry.WatchNATS(reg, "viberd-"+name, nc); err != nil {
		return nil, nil, err
	}
	srv, err := telemetry.Serve(addr, c.String("metrics-token"), reg)
	if err != nil {
		return nil, nil, err
	}
	log.Info().Str("url", "http://"+srv.Addr()+"/metrics").Msg("metrics served")
	return m, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Close(sctx)
	}, nil
}
