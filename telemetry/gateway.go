package telemetry

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/viberhq/viber/bus"
)

// GatewayState is what the gateway answers when Prometheus scrapes: the
// figures that need a listing, computed then rather than kept.
type GatewayState interface {
	// TaskCounts counts the tasks by state (from the projector's
	// summaries) and the tool calls waiting for a decision.
	TaskCounts(ctx context.Context) (byState map[bus.State]int, approvalsWaiting int, err error)
	// QueueDepth is the number of assignments in VIBER_WORK (queued or
	// held by a daemon).
	QueueDepth(ctx context.Context) (uint64, error)
	// DaemonsOnline counts the daemons whose presence is fresh.
	DaemonsOnline(ctx context.Context) (int, error)
}

// Gateway holds a gateway's metrics. Its counters move as the projector
// folds events ([Gateway.Folded]); its gauges are read from GatewayState
// at each scrape. With several gateways each counts the events its
// projector folded; Prometheus sums them.
type Gateway struct {
	state GatewayState

	tasks, approvals, queue, daemons *prometheus.Desc

	events        map[bus.Type]prometheus.Counter
	ended         map[bus.State]prometheus.Counter
	duration      map[bus.State]prometheus.Observer
	submitToStart prometheus.Histogram
	tokens        *prometheus.CounterVec
	cost          *prometheus.CounterVec
	toolResults   *prometheus.CounterVec

	mu   sync.Mutex
	open map[string]time.Time // tasks whose turn waits to start: when it opened
}

// latencyBuckets suit submit→started (milliseconds to minutes).
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}

// durationBuckets suit whole turns and model calls (up to an hour).
var durationBuckets = []float64{.01, .05, .1, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}

// NewGateway registers a gateway's metrics with reg.
func NewGateway(reg prometheus.Registerer, state GatewayState) (*Gateway, error) {
	g := &Gateway{
		state:     state,
		tasks:     prometheus.NewDesc(namespace+"_tasks", "Tasks by state, from the projector's summaries.", []string{"state"}, nil),
		approvals: prometheus.NewDesc(namespace+"_approvals_waiting", "Tool calls waiting for a person's decision.", nil, nil),
		queue:     prometheus.NewDesc(namespace+"_work_queue_depth", "Assignments in the work stream (queued or held by a daemon).", nil, nil),
		daemons:   prometheus.NewDesc(namespace+"_daemons_online", "Daemons whose presence is fresh.", nil, nil),
		events:    map[bus.Type]prometheus.Counter{},
		ended:     map[bus.State]prometheus.Counter{},
		duration:  map[bus.State]prometheus.Observer{},
		open:      map[string]time.Time{},
	}
	events := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "task_events_total",
		Help: "Task events folded by the projector, by type."}, []string{"type"})
	ended := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "task_turns_ended_total",
		Help: "Task turns that ended, by final state."}, []string{"state"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "task_turn_duration_seconds",
		Help: "From a turn's first started event to its end, by final state.", Buckets: durationBuckets}, []string{"state"})
	g.submitToStart = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "task_submit_to_start_seconds",
		Help: "From the event that opened a turn (created, or a follow-up to an ended task) to its started event.", Buckets: latencyBuckets})
	g.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "task_tokens_total",
		Help: "Tokens of completed turns, by model and direction (input, output)."}, []string{"model", "direction"})
	g.cost = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "task_cost_usd_total",
		Help: "Cost of completed turns in US dollars, by model (daemons with a price table)."}, []string{"model"})
	g.toolResults = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "task_tool_results_total",
		Help: "Tool results stored, by tool and outcome (ok, error)."}, []string{"tool", "outcome"})
	for _, p := range bus.AllTypes() {
		g.events[p.EventType()] = events.WithLabelValues(p.EventType().Short())
	}
	for _, s := range []bus.State{bus.StateCompleted, bus.StateFailed, bus.StateCancelled} {
		g.ended[s] = ended.WithLabelValues(string(s))
		g.duration[s] = duration.WithLabelValues(string(s))
	}
	for _, c := range []prometheus.Collector{g, events, ended, duration, g.submitToStart, g.tokens, g.cost, g.toolResults} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Folded counts an event the projector folded into sum; prev and
// prevUsage are the summary's state and usage before it. Call it once
// the summary is stored, so a retried fold is not counted twice.
func (g *Gateway) Folded(prev bus.State, prevUsage bus.Usage, sum *bus.Summary, ev *bus.Event) {
	if g == nil {
		return
	}
	if c := g.events[ev.Type]; c != nil {
		c.Inc()
	}
	switch ev.Type {
	case bus.TypeCreated:
		g.openTurn(sum.ID, ev.Time)
	case bus.TypeInput:
		if prev.Terminal() && sum.State == bus.StatePending {
			g.openTurn(sum.ID, ev.Time)
		}
	case bus.TypeStarted:
		g.mu.Lock()
		opened, ok := g.open[sum.ID]
		delete(g.open, sum.ID)
		g.mu.Unlock()
		if ok {
			g.submitToStart.Observe(nonNegative(ev.Time.Sub(opened)))
		}
	case bus.TypeToolResult:
		if r, err := bus.DecodeAs[bus.ToolResult](ev); err == nil {
			outcome := "ok"
			if r.IsError {
				outcome = "error"
			}
			g.toolResults.WithLabelValues(r.Tool, outcome).Inc()
		}
	}
	if sum.State.Terminal() && !prev.Terminal() {
		g.mu.Lock()
		delete(g.open, sum.ID)
		g.mu.Unlock()
		g.ended[sum.State].Inc()
		if sum.StartedAt != nil && sum.EndedAt != nil {
			g.duration[sum.State].Observe(nonNegative(sum.EndedAt.Sub(*sum.StartedAt)))
		}
	}
	if sum.Usage != prevUsage {
		model := sum.Model
		if model == "" {
			model = "unknown"
		}
		if d := sum.Usage.InputTokens - prevUsage.InputTokens; d > 0 {
			g.tokens.WithLabelValues(model, "input").Add(float64(d))
		}
		if d := sum.Usage.OutputTokens - prevUsage.OutputTokens; d > 0 {
			g.tokens.WithLabelValues(model, "output").Add(float64(d))
		}
		if d := sum.Usage.CostUSD - prevUsage.CostUSD; d > 0 {
			g.cost.WithLabelValues(model).Add(d)
		}
	}
}

func (g *Gateway) openTurn(task string, at time.Time) {
	g.mu.Lock()
	g.open[task] = at
	g.mu.Unlock()
}

func nonNegative(d time.Duration) float64 {
	return max(d.Seconds(), 0)
}

// Describe implements prometheus.Collector for the scrape-time gauges.
func (g *Gateway) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.tasks
	ch <- g.approvals
	ch <- g.queue
	ch <- g.daemons
}

// scrapeTimeout bounds the look-ups of one scrape.
const scrapeTimeout = 5 * time.Second

// Collect implements prometheus.Collector: it lists the summaries,
// presence and the work stream.
func (g *Gateway) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	if counts, waiting, err := g.state.TaskCounts(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(g.tasks, err)
	} else {
		for _, s := range bus.AllStates() {
			ch <- prometheus.MustNewConstMetric(g.tasks, prometheus.GaugeValue, float64(counts[s]), string(s))
		}
		ch <- prometheus.MustNewConstMetric(g.approvals, prometheus.GaugeValue, float64(waiting))
	}
	if n, err := g.state.QueueDepth(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(g.queue, err)
	} else {
		ch <- prometheus.MustNewConstMetric(g.queue, prometheus.GaugeValue, float64(n))
	}
	if n, err := g.state.DaemonsOnline(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(g.daemons, err)
	} else {
		ch <- prometheus.MustNewConstMetric(g.daemons, prometheus.GaugeValue, float64(n))
	}
}
