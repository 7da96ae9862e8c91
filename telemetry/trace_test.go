package telemetry_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/telemetry"
)

// receiver is an OTLP/HTTP trace endpoint: it decodes each protobuf
// export request and keeps the spans with their service name.
type receiver struct {
	mu      sync.Mutex
	spans   []*tracepb.Span
	service map[string]string // span id → service.name
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want POST /v1/traces with application/x-protobuf", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var export collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &export); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	for _, rs := range export.GetResourceSpans() {
		svc := attr(rs.GetResource().GetAttributes(), "service.name")
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, s)
				r.service[hex.EncodeToString(s.GetSpanId())] = svc
			}
		}
	}
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	b, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	_, _ = w.Write(b)
}

// trace returns the spans of the trace whose submit span is of task id.
func (r *receiver) trace(id string) []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var traceID []byte
	for _, s := range r.spans {
		if s.GetName() == telemetry.SpanSubmit && attr(s.GetAttributes(), string(telemetry.AttrTask)) == id {
			traceID = s.GetTraceId()
		}
	}
	var out []*tracepb.Span
	for _, s := range r.spans {
		if traceID != nil && string(s.GetTraceId()) == string(traceID) {
			out = append(out, s)
		}
	}
	return out
}

func attr(list []*commonpb.KeyValue, key string) string {
	for _, kv := range list {
		if kv.GetKey() == key {
			v := kv.GetValue()
			switch {
			case v.GetStringValue() != "":
				return v.GetStringValue()
			case v.GetIntValue() != 0:
				return fmt.Sprint(v.GetIntValue())
			}
			return v.String()
		}
	}
	return ""
}

// TestTraceOfATaskWithAToolCall sends traces to an in-process OTLP/HTTP
// receiver, configured through the standard variables, and checks that
// one trace covers the task's turn: submit and dispatch at the gateway,
// the turn at the daemon (its parent carried in the assignment's NATS
// headers), both model calls with GenAI attributes, the tool call and the
// approval it waited for.
func TestTraceOfATaskWithAToolCall(t *testing.T) {
	t.Parallel()
	rec := &receiver{service: map[string]string{}}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL}
	shutdown, on, err := telemetry.SetupTracing(context.Background(), "viber-test", "0.0.0-test", func(k string) string { return env[k] })
	if err != nil || !on {
		t.Fatalf("SetupTracing with OTEL_EXPORTER_OTLP_ENDPOINT: on=%v, %v", on, err)
	}
	t.Cleanup(func() { _ = shutdown(context.Background()) })

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
	if _, err := st.Gateway.Decide(ctx, &bus.DecideRequest{ID: sum.ID, CallID: waiting.PendingApprovals[0], Approved: true, By: "test"}); err != nil {
		t.Fatal(err)
	}
	waitState(t, st, sum.ID, bus.StateCompleted)

	want := []string{telemetry.SpanSubmit, telemetry.SpanDispatch, telemetry.SpanTurn, "chat m", "chat m", "execute_tool list_dir", "approval list_dir"}
	var spans []*tracepb.Span
	eventually(t, "the task's spans at the receiver", func() (bool, string) {
		_ = telemetry.Flush(ctx)
		spans = rec.trace(sum.ID)
		var names []string
		for _, s := range spans {
			names = append(names, s.GetName())
		}
		for _, w := range want {
			if countName(spans, w) < countOf(want, w) {
				return false, fmt.Sprintf("spans %v lack %q", names, w)
			}
		}
		return true, ""
	})

	byName := map[string]*tracepb.Span{}
	for _, s := range spans {
		byName[s.GetName()] = s
	}
	parentIs := func(child, parent string) {
		t.Helper()
		c, p := byName[child], byName[parent]
		if string(c.GetParentSpanId()) != string(p.GetSpanId()) {
			t.Errorf("span %q has parent %x, want %q (%x)", child, c.GetParentSpanId(), parent, p.GetSpanId())
		}
	}
	parentIs(telemetry.SpanDispatch, telemetry.SpanSubmit)
	parentIs(telemetry.SpanTurn, telemetry.SpanDispatch) // across NATS
	parentIs("chat m", telemetry.SpanTurn)
	parentIs("execute_tool list_dir", telemetry.SpanTurn)
	parentIs("approval list_dir", "execute_tool list_dir")

	for _, s := range spans {
		if s.GetName() != "chat m" {
			continue
		}
		for k, v := range map[string]string{"gen_ai.system": "custom", "gen_ai.request.model": "m", "gen_ai.operation.name": "chat",
			"gen_ai.usage.input_tokens": "7", "gen_ai.usage.output_tokens": "3"} {
			if got := attr(s.GetAttributes(), k); got != v {
				t.Errorf("model call span: %s = %q, want %q", k, got, v)
			}
		}
	}
	tool := byName["execute_tool list_dir"]
	if got := attr(tool.GetAttributes(), "gen_ai.tool.name"); got != "list_dir" {
		t.Errorf("tool span: gen_ai.tool.name = %q, want list_dir", got)
	}
	if got := attr(byName[telemetry.SpanTurn].GetAttributes(), string(telemetry.AttrTask)); got != sum.ID {
		t.Errorf("turn span: %s = %q, want %s", telemetry.AttrTask, got, sum.ID)
	}
	if svc := rec.service[hex.EncodeToString(byName[telemetry.SpanTurn].GetSpanId())]; !strings.HasPrefix(svc, "viber-test") {
		t.Errorf("service.name = %q, want viber-test", svc)
	}

	// A caller that traces: the submit span of an HTTP request joins the
	// trace its traceparent header names.
	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	body := strings.NewReader(`{"goal": "traced from outside"}`)
	req, _ := http.NewRequest(http.MethodPost, "http://"+st.Gateway.HTTPAddr()+"/api/tasks", body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(bus.HeaderTraceparent, "00-"+callerTrace+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/tasks: %s", resp.Status)
	}
	eventually(t, "a submit span in the caller's trace", func() (bool, string) {
		_ = telemetry.Flush(ctx)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, s := range rec.spans {
			if s.GetName() == telemetry.SpanSubmit && hex.EncodeToString(s.GetTraceId()) == callerTrace {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d spans, none a submit in trace %s", len(rec.spans), callerTrace)
	})
}

func countName(spans []*tracepb.Span, name string) int {
	n := 0
	for _, s := range spans {
		if s.GetName() == name {
			n++
		}
	}
	return n
}

func countOf(list []string, v string) int {
	n := 0
	for _, x := range list {
		if x == v {
			n++
		}
	}
	return n
}

// TestTracingOffByDefault: without OTEL_* variables nothing is set up,
// and an unsupported exporter or protocol is refused with a reason.
func TestTracingOffByDefault(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{{}, {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}} {
		_, on, err := telemetry.SetupTracing(context.Background(), "s", "v", func(k string) string { return env[k] })
		if err != nil || on {
			t.Errorf("env %v: tracing on=%v err=%v, want off", env, on, err)
		}
	}
	for env, want := range map[string]string{"OTEL_TRACES_EXPORTER=zipkin": "otlp only", "OTEL_EXPORTER_OTLP_PROTOCOL=grpc": "http/protobuf only"} {
		k, v, _ := strings.Cut(env, "=")
		e := map[string]string{k: v, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}
		_, on, err := telemetry.SetupTracing(context.Background(), "s", "v", func(k string) string { return e[k] })
		if err == nil || on || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: on=%v err=%v, want an error saying %q", env, on, err, want)
		}
	}
}
