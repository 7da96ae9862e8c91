package telemetry_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
	"github.com/viberhq/viber/daemon"
	"github.com/viberhq/viber/gateway"
	"github.com/viberhq/viber/telemetry"
)

// toolThenAnswer is a scripted model: it lists the workspace first, then
// answers once it has the listing.
func toolThenAnswer(r *openaitest.Request) openaitest.Reply {
	if r.LastToolResult() == "" {
		return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call("call_1", "list_dir", `{"path":"."}`)}}
	}
	return openaitest.Reply{Text: "the workspace is listed"}
}

// rig is a whole Viber in-process: an embedded NATS server, a gateway
// and a daemon sharing one metrics registry (as `viber up` does).
type rig struct {
	Gateway *gateway.Gateway
}

// startStack runs a rig against the fake model, with a price table of $1
// per input token and $2 per output token.
func startStack(t *testing.T, policy *agents.Policy) *rig {
	t.Helper()
	fake := openaitest.New(t, toolThenAnswer)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	cfgText := fmt.Sprintf(`default_model: fake/m
providers:
  fake: {kind: custom, base_url: %q, model: m}
prices:
  fake/m: {input_per_mtok: 1000000, output_per_mtok: 2000000}
`, fake.URL)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := agents.LoadConfig(cfgPath, func(k string) string {
		if k == "HOME" || k == "VIBER_HOME" {
			return dir
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	env := bustest.Start(t, "", bus.SetupOptions{})
	reg := telemetry.NewRegistry()
	gw := startGateway(t, env, gateway.Config{HTTPListen: "127.0.0.1:0", Metrics: reg})
	metrics, err := telemetry.NewDaemon(reg)
	if err != nil {
		t.Fatal(err)
	}
	dnc := env.Connect(t, "viberd-local")
	if err := telemetry.WatchNATS(reg, "viberd-local", dnc); err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Config{
		NC: dnc, ID: "local", Workspace: filepath.Join(dir, "workspace"), Home: filepath.Join(dir, "home"), NoBuiltinSkills: true,
		Models: cfg, Policy: policy, Metrics: metrics, Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if err := d.Run(ctx); err != nil {
			t.Errorf("daemon: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	return &rig{Gateway: gw}
}

// startGateway starts a gateway on env (cfg without its connection and
// logger), stopped at test end.
func startGateway(t *testing.T, env *bustest.Env, cfg gateway.Config) *gateway.Gateway {
	t.Helper()
	cfg.NC, cfg.Logger = env.Connect(t, "vibergw"), zerolog.Nop()
	ctx := context.Background()
	gw, err := gateway.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Stop)
	return gw
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not after 30s (last: %s)", what, last)
}

// waitState waits for a task to reach a state and returns its summary.
func waitState(t *testing.T, st *rig, id string, want bus.State) *bus.Summary {
	t.Helper()
	var sum *bus.Summary
	eventually(t, "task "+id+" "+string(want), func() (bool, string) {
		s, err := st.Gateway.Task(context.Background(), id)
		if err != nil {
			return false, err.Error()
		}
		sum = s
		return s.State == want, string(s.State)
	})
	return sum
}

// scrape reads the gateway's /metrics and parses it as Prometheus text.
func scrape(t *testing.T, st *rig) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + st.Gateway.HTTPAddr() + bus.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	return families
}

// value is the value of the metric of a family whose labels include want
// (a counter, a gauge, or a histogram's count); -1 when there is none.
func value(families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := families[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

// TestMetricsMoveWithATask runs a task with a tool call and checks that
// /metrics parses and that its counters moved with the task; the task's
// summary carries the provider's usage and its cost.
func TestMetricsMoveWithATask(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	before := scrape(t, st)
	if v := value(before, "viber_task_events_total", map[string]string{"type": "created"}); v != 0 {
		t.Fatalf("created events before any task = %v, want 0", v)
	}
	sum, err := st.Gateway.CreateTask(context.Background(), &bus.CreateTaskRequest{Goal: "list the workspace"})
	if err != nil {
		t.Fatal(err)
	}
	done := waitState(t, st, sum.ID, bus.StateCompleted)
	calls := 2.0 // one for the tool call, one for the answer
	wantUsage := bus.Usage{InputTokens: 2 * openaitest.PromptTokens, OutputTokens: 2 * openaitest.CompletionTokens,
		CostUSD: 2*openaitest.PromptTokens*1 + 2*openaitest.CompletionTokens*2}
	if done.Usage != wantUsage {
		t.Errorf("task usage = %+v, want %+v", done.Usage, wantUsage)
	}

	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"viber_task_events_total", map[string]string{"type": "created"}, 1},
		{"viber_task_events_total", map[string]string{"type": "tool_result"}, 1},
		{"viber_task_turns_ended_total", map[string]string{"state": "completed"}, 1},
		{"viber_task_submit_to_start_seconds", nil, 1},
		{"viber_task_turn_duration_seconds", map[string]string{"state": "completed"}, 1},
		{"viber_task_tokens_total", map[string]string{"model": "custom/m", "direction": "input"}, float64(wantUsage.InputTokens)},
		{"viber_task_tokens_total", map[string]string{"model": "custom/m", "direction": "output"}, float64(wantUsage.OutputTokens)},
		{"viber_task_cost_usd_total", map[string]string{"model": "custom/m"}, wantUsage.CostUSD},
		{"viber_task_tool_results_total", map[string]string{"tool": "list_dir", "outcome": "ok"}, 1},
		{"viber_model_calls_total", map[string]string{"provider": "custom", "model": "m"}, calls},
		{"viber_model_errors_total", map[string]string{"provider": "custom", "model": "m"}, 0},
		{"viber_model_tokens_total", map[string]string{"provider": "custom", "model": "m", "direction": "input"}, float64(wantUsage.InputTokens)},
		{"viber_model_cost_usd_total", map[string]string{"provider": "custom", "model": "m"}, wantUsage.CostUSD},
		{"viber_model_call_duration_seconds", map[string]string{"provider": "custom", "model": "m"}, calls},
		{"viber_tool_calls_total", map[string]string{"tool": "list_dir", "outcome": "ok"}, 1},
		{"viber_daemon_turns_total", nil, 1},
		{"viber_tasks", map[string]string{"state": "completed"}, 1},
		{"viber_tasks", map[string]string{"state": "running"}, 0},
		{"viber_approvals_waiting", nil, 0},
		{"viber_daemons_online", nil, 1},
		{"viber_nats_reconnects_total", map[string]string{"conn": "viberd-local"}, 0},
		{"viber_nats_connected", map[string]string{"conn": "viberd-local"}, 1},
	}
	// The projector folds the last events shortly after the summary the
	// gateway answered from the log: wait for the counters to settle.
	var after map[string]*dto.MetricFamily
	eventually(t, "metrics after the task", func() (bool, string) {
		after = scrape(t, st)
		for _, c := range checks {
			if got := value(after, c.name, c.labels); got != c.want {
				return false, fmt.Sprintf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}
		return true, ""
	})
	if v := value(after, "viber_work_queue_depth", nil); v < 0 {
		t.Errorf("viber_work_queue_depth missing")
	}
	if v := value(after, "go_goroutines", nil); v <= 0 {
		t.Errorf("the Go collector is missing (go_goroutines = %v)", v)
	}
}

// TestMetricsNeedTheToken: with an HTTP token, /metrics answers 401
// without it and the metrics with it.
func TestMetricsNeedTheToken(t *testing.T) {
	t.Parallel()
	st := &rig{Gateway: startGateway(t, bustest.Start(t, "", bus.SetupOptions{}), gateway.Config{HTTPListen: "127.0.0.1:0", HTTPToken: "s3cret"})}
	url := "http://" + st.Gateway.HTTPAddr() + bus.MetricsPath
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /metrics without the token: %s, want 401", resp.Status)
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set(bus.HeaderAuthorization, "Bearer s3cret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics with the token: %s, want 200", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	if _, err := parser.TextToMetricFamilies(resp.Body); err != nil {
		t.Errorf("/metrics is not Prometheus text: %v", err)
	}
}

// TestMetricsApprovals: a call waiting for a decision shows in the
// approvals gauges and the tasks-by-state gauge; once a person denies it,
// the daemon counts the call as denied.
func TestMetricsApprovals(t *testing.T) {
	t.Parallel()
	policy, err := agents.DefaultPolicy().With(map[string]string{"list_dir": "ask"})
	if err != nil {
		t.Fatal(err)
	}
	st := startStack(t, &policy)
	ctx := context.Background()
	sum, err := st.Gateway.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "list the workspace"})
	if err != nil {
		t.Fatal(err)
	}
	waiting := waitState(t, st, sum.ID, bus.StateWaitingApproval)
	type check struct {
		labels map[string]string
		want   float64
	}
	settle := func(what string, checks map[string]check) {
		t.Helper()
		eventually(t, what, func() (bool, string) {
			m := scrape(t, st)
			for name, c := range checks {
				if got := value(m, name, c.labels); got != c.want {
					return false, fmt.Sprintf("%s%v = %v, want %v", name, c.labels, got, c.want)
				}
			}
			return true, ""
		})
	}
	settle("metrics while the call waits", map[string]check{
		"viber_approvals_waiting":        {nil, 1},
		"viber_daemon_approvals_waiting": {nil, 1},
		"viber_tasks":                    {map[string]string{"state": "waiting_approval"}, 1},
	})
	if _, err := st.Gateway.Decide(ctx, &bus.DecideRequest{ID: sum.ID, CallID: waiting.PendingApprovals[0], Approved: false, By: "test"}); err != nil {
		t.Fatal(err)
	}
	waitState(t, st, sum.ID, bus.StateCompleted)
	settle("metrics after the denial", map[string]check{
		"viber_approvals_waiting":        {nil, 0},
		"viber_daemon_approvals_waiting": {nil, 0},
		"viber_tool_calls_total":         {map[string]string{"tool": "list_dir", "outcome": "denied"}, 1},
		"viber_task_tool_results_total":  {map[string]string{"tool": "list_dir", "outcome": "error"}, 1},
		"viber_tasks":                    {map[string]string{"state": "completed"}, 1},
	})
}
