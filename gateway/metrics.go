package gateway

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/telemetry"
)

// startMetrics registers the gateway's metrics: counters the projector
// moves, and gauges read from the gateway (gatewayState) at each scrape.
func (g *Gateway) startMetrics() error {
	reg := g.cfg.Metrics
	if reg == nil {
		reg = telemetry.NewRegistry()
		g.cfg.Metrics = reg
	}
	m, err := telemetry.NewGateway(reg, gatewayState{g})
	if err != nil {
		return fmt.Errorf("gateway: metrics: %w", err)
	}
	if err := telemetry.WatchNATS(reg, "vibergw-"+g.cfg.ID, g.cfg.NC); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	g.metrics = m
	return nil
}

// metricsHandler serves /metrics (behind the token like the API; see
// RequireToken).
func (g *Gateway) metricsHandler() http.Handler { return telemetry.Handler(g.cfg.Metrics) }

// gatewayState answers the scrape-time gauges.
type gatewayState struct{ g *Gateway }

func (s gatewayState) TaskCounts(ctx context.Context) (map[bus.State]int, int, error) {
	all, err := s.g.summaries.List(ctx)
	if err != nil {
		return nil, 0, err
	}
	counts := map[bus.State]int{}
	waiting := 0
	for _, t := range all {
		counts[t.State]++
		waiting += len(t.PendingApprovals)
	}
	return counts, waiting, nil
}

func (s gatewayState) QueueDepth(ctx context.Context) (uint64, error) {
	st, err := s.g.js.Stream(ctx, bus.WorkStream)
	if err != nil {
		return 0, fmt.Errorf("open stream %s: %w", bus.WorkStream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", bus.WorkStream, err)
	}
	return info.State.Msgs, nil
}

func (s gatewayState) DaemonsOnline(ctx context.Context) (int, error) {
	list, err := s.g.presence.List(ctx)
	if err != nil {
		return 0, err
	}
	now, n := time.Now(), 0
	for _, d := range list {
		if d.Online(now) {
			n++
		}
	}
	return n, nil
}
