package telemetry

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tmc/langchaingo/llms"
	"go.opentelemetry.io/otel/trace"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/bus"
)

// Daemon holds a daemon's metrics. A nil *Daemon records no metrics, but
// its wrappers still trace.
type Daemon struct {
	modelCalls, modelErrors *prometheus.CounterVec
	modelTokens             *prometheus.CounterVec
	modelCost               *prometheus.CounterVec
	modelSeconds            *prometheus.HistogramVec
	toolCalls               *prometheus.CounterVec
	toolSeconds             *prometheus.HistogramVec
	approvalsWaiting        prometheus.Gauge
	turns                   prometheus.Counter
	reg                     prometheus.Registerer
}

// NewDaemon registers a daemon's metrics with reg.
func NewDaemon(reg prometheus.Registerer) (*Daemon, error) {
	pm := []string{"provider", "model"}
	d := &Daemon{
		reg: reg,
		modelCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "model_calls_total",
			Help: "Model calls, by provider and model."}, pm),
		modelErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "model_errors_total",
			Help: "Model calls that failed (not counting calls a steer or cancel stopped), by provider and model."}, pm),
		modelTokens: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "model_tokens_total",
			Help: "Tokens the provider reported, by provider, model and direction (input, output)."}, []string{"provider", "model", "direction"}),
		modelCost: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "model_cost_usd_total",
			Help: "Cost of model calls in US dollars by the config's price table, by provider and model."}, pm),
		modelSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "model_call_duration_seconds",
			Help: "Duration of model calls, by provider and model.", Buckets: durationBuckets}, pm),
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "tool_calls_total",
			Help: "Tool calls settled, by tool and outcome (ok, error, denied: a person refused it)."}, []string{"tool", "outcome"}),
		toolSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "tool_call_duration_seconds",
			Help: "From a tool call stored to its result stored (approval waits included), by tool.", Buckets: durationBuckets}, []string{"tool"}),
		approvalsWaiting: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "daemon_approvals_waiting",
			Help: "Tool calls this daemon's tasks wait on a decision for."}),
		turns: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "daemon_turns_total",
			Help: "Task turns this daemon ran (each run of a claimed task)."}),
	}
	for _, c := range []prometheus.Collector{d.modelCalls, d.modelErrors, d.modelTokens, d.modelCost, d.modelSeconds, d.toolCalls, d.toolSeconds, d.approvalsWaiting, d.turns} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// WatchRunning registers viber_daemon_tasks_running, read from running at
// each scrape.
func (d *Daemon) WatchRunning(running func() int) error {
	if d == nil {
		return nil
	}
	return d.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "daemon_tasks_running",
		Help: "Tasks this daemon is running."}, func() float64 { return float64(running()) }))
}

// Model wraps m so that its calls are counted under provider/name and
// traced. price, when not nil, gives the cost in US dollars of a call's
// tokens. Label values are resolved here, once per task, not per call.
func (d *Daemon) Model(m llms.Model, provider, name string, price *agents.Price) llms.Model {
	w := &model{Model: m, provider: provider, name: name}
	if d != nil {
		w.calls = d.modelCalls.WithLabelValues(provider, name)
		w.errors = d.modelErrors.WithLabelValues(provider, name)
		w.tokensIn = d.modelTokens.WithLabelValues(provider, name, "input")
		w.tokensOut = d.modelTokens.WithLabelValues(provider, name, "output")
		w.cost = d.modelCost.WithLabelValues(provider, name)
		w.seconds = d.modelSeconds.WithLabelValues(provider, name)
	}
	if price != nil {
		p := *price
		w.price = func(in, out int) float64 { return p.Cost(&bus.Usage{InputTokens: in, OutputTokens: out}) }
	}
	return w
}

// StartTurn starts the span of a task turn on a daemon (under the trace
// context the assignment carried) and counts the turn.
func (d *Daemon) StartTurn(ctx context.Context, taskID, daemonID string) (context.Context, trace.Span) {
	if d != nil {
		d.turns.Inc()
	}
	return Start(ctx, SpanTurn, trace.SpanKindConsumer, AttrTask.String(taskID), AttrDaemon.String(daemonID))
}

// Runtime wraps an agent's runtime so that each tool call (from its
// tool_call event to its tool_result) and each approval wait is counted
// and traced. One wrapper serves one run of a task.
func (d *Daemon) Runtime(rt agents.Runtime) *Run {
	return &Run{Runtime: rt, d: d, calls: map[string]*openCall{}}
}

type openCall struct {
	tool    string
	began   time.Time
	span    trace.Span
	ctx     context.Context
	waiting bool
	denied  bool
}

// Run is an agents.Runtime that observes one run of a task; Close it when
// the run ends.
type Run struct {
	agents.Runtime
	d *Daemon

	mu    sync.Mutex
	calls map[string]*openCall
}

// Append implements agents.Runtime: it starts a tool call's span at its
// tool_call event and ends it at its tool_result.
func (r *Run) Append(ctx context.Context, p bus.Payload) (*bus.Event, error) {
	switch v := p.(type) {
	case *bus.ToolCall:
		cctx, span := Start(ctx, "execute_tool "+v.Tool, trace.SpanKindInternal,
			attrGenAIOperation.String("execute_tool"), attrGenAITool.String(v.Tool), attrGenAICallID.String(v.CallID))
		ev, err := r.Runtime.Append(cctx, p)
		if err != nil {
			End(span, err)
			return ev, err
		}
		r.mu.Lock()
		r.calls[v.CallID] = &openCall{tool: v.Tool, began: time.Now(), span: span, ctx: cctx}
		r.mu.Unlock()
		return ev, nil
	case *bus.ApprovalRequested:
		r.mu.Lock()
		c := r.calls[v.CallID]
		r.mu.Unlock()
		if c != nil {
			ctx = c.ctx
		}
		ev, err := r.Runtime.Append(ctx, p)
		if err == nil && c != nil {
			c.waiting = true
		}
		return ev, err
	case *bus.ToolResult:
		r.mu.Lock()
		c := r.calls[v.CallID]
		delete(r.calls, v.CallID)
		r.mu.Unlock()
		if c != nil {
			ctx = c.ctx
		}
		ev, err := r.Runtime.Append(ctx, p)
		if c != nil {
			r.settled(c, v, err)
		}
		return ev, err
	}
	return r.Runtime.Append(ctx, p)
}

// settled counts and ends a tool call once its result is stored.
func (r *Run) settled(c *openCall, res *bus.ToolResult, err error) {
	outcome := "ok"
	switch {
	case c.denied:
		outcome = "denied"
	case res.IsError:
		outcome = "error"
	}
	if r.d != nil && err == nil {
		r.d.toolCalls.WithLabelValues(c.tool, outcome).Inc()
		r.d.toolSeconds.WithLabelValues(c.tool).Observe(time.Since(c.began).Seconds())
	}
	if c.span.IsRecording() {
		c.span.SetAttributes(attrOutcome.String(outcome))
		if res.IsError && err == nil {
			c.span.SetStatus(codesError, outcome)
		}
	}
	End(c.span, err)
}

// WaitDecision implements agents.Runtime with an approval span.
func (r *Run) WaitDecision(ctx context.Context, callID string) (*bus.ApprovalDecided, error) {
	r.mu.Lock()
	c := r.calls[callID]
	r.mu.Unlock()
	tool := ""
	if c != nil {
		ctx, tool = c.ctx, c.tool
	}
	actx, span := Start(ctx, "approval "+tool, trace.SpanKindInternal, attrGenAITool.String(tool), attrGenAICallID.String(callID))
	if r.d != nil {
		r.d.approvalsWaiting.Inc()
	}
	dec, err := r.Runtime.WaitDecision(actx, callID)
	if r.d != nil {
		r.d.approvalsWaiting.Dec()
	}
	if err == nil && dec != nil {
		if span.IsRecording() {
			span.SetAttributes(attrApproved.Bool(dec.Approved), attrDecidedBy.String(dec.By))
		}
		if c != nil && !dec.Approved {
			r.mu.Lock()
			c.denied = true
			r.mu.Unlock()
		}
	}
	End(span, err)
	return dec, err
}

// Close ends the spans of calls the run left open (the daemon stopped or
// lost the task mid-call).
func (r *Run) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, c := range r.calls {
		End(c.span, context.Canceled)
		delete(r.calls, id)
	}
}
