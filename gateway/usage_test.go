package gateway

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
	"github.com/viberhq/viber/client"
)

// appendUsageTask stores the log of a task created at created that ran
// one turn on model (provider/name) and used u.
func appendUsageTask(t *testing.T, env *bustest.Env, created time.Time, provider, model string, u *bus.Usage) string {
	t.Helper()
	ctx := bustest.Context(t, 10*time.Second)
	id := bus.NewID()
	ev, err := bus.NewEvent(id, bus.GatewaySource("gw-test"), &bus.Created{Goal: "spend tokens"})
	if err != nil {
		t.Fatal(err)
	}
	ev.Time = created.UTC()
	if _, err := env.Log.Append(ctx, ev); err != nil {
		t.Fatal(err)
	}
	for _, p := range []bus.Payload{
		&bus.Assigned{Daemon: "d1", Attempt: 1},
		&bus.Started{Daemon: "d1", Provider: provider, Model: model},
		&bus.Message{Role: "assistant", Text: "done"},
		&bus.Completed{Result: "done", Usage: u},
	} {
		if _, err := env.Log.AppendPayload(ctx, id, bus.DaemonSource("d1"), p); err != nil {
			t.Fatalf("append %s: %v", p.EventType(), err)
		}
	}
	return id
}

// TestUsagePerDay sums real tasks' usage per UTC day of creation and per
// model, over NATS and HTTP, leaving out days before the range.
func TestUsagePerDay(t *testing.T) {
	t.Parallel()
	r := newHTTPRig(t)
	now := time.Now().UTC()
	yesterday := now.AddDate(0, 0, -1)
	appendUsageTask(t, r.env, now, "custom", "big", &bus.Usage{InputTokens: 1000, OutputTokens: 200, CostUSD: 0.5})
	appendUsageTask(t, r.env, now, "custom", "small", &bus.Usage{InputTokens: 100, OutputTokens: 20})
	appendUsageTask(t, r.env, yesterday, "custom", "big", &bus.Usage{InputTokens: 3000, OutputTokens: 600, CostUSD: 1.5})
	appendUsageTask(t, r.env, now.AddDate(0, 0, -10), "custom", "big", &bus.Usage{InputTokens: 7, OutputTokens: 7, CostUSD: 7})
	// A task that never ran counts as a task without usage.
	var pending bus.Summary
	if code := r.do("POST", "/api/tasks", &bus.CreateTaskRequest{Goal: "wait"}, &pending); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}

	cl, err := client.New(r.env.Connect(t, "client"))
	if err != nil {
		t.Fatal(err)
	}
	var u *bus.UsageResponse
	eventually(t, 10*time.Second, "the week's usage summed", func() (bool, string) {
		u, err = cl.Usage(bustest.Context(t, 5*time.Second), 7)
		if err != nil {
			return false, err.Error()
		}
		return u.Total.Tasks == 4 && u.Total.Usage.InputTokens == 4100, fmt.Sprintf("%+v", u.Total)
	})
	day := func(tm time.Time) string { return tm.Format(bus.UsageDayLayout) }
	if len(u.Days) != 7 || u.From != day(now.AddDate(0, 0, -6)) || u.To != day(now) || u.Days[6].Day != day(now) || u.Days[5].Day != day(yesterday) {
		t.Fatalf("range %s..%s with %d days (last two %+v, %+v); want 7 days ending today %s", u.From, u.To, len(u.Days), u.Days[5], u.Days[6], day(now))
	}
	today := u.Days[6]
	if today.Tasks != 3 || today.Usage != (bus.Usage{InputTokens: 1100, OutputTokens: 220, CostUSD: 0.5}) || today.Unpriced != 1 {
		t.Errorf("today: %+v; want 3 tasks, 1100 in, 220 out, $0.5, 1 unpriced", today)
	}
	if len(today.Models) != 2 || today.Models[0].Model != "custom/big" || today.Models[1].Model != "custom/small" || today.Models[1].Usage.InputTokens != 100 {
		t.Errorf("today's models: %+v; want custom/big then custom/small", today.Models)
	}
	if y := u.Days[5]; y.Tasks != 1 || y.Usage.CostUSD != 1.5 || y.Usage.OutputTokens != 600 {
		t.Errorf("yesterday: %+v; want 1 task, 600 out, $1.5", y)
	}
	if u.Total.Usage.CostUSD != 2 || len(u.Total.Models) != 2 || u.Total.Models[0].Tasks != 2 || u.Total.Models[0].Usage.InputTokens != 4000 {
		t.Errorf("total: %+v; want $2 and custom/big's 2 tasks with 4000 in first", u.Total)
	}

	// HTTP answers the same; the task ten days ago is in a 30-day range.
	var h bus.UsageResponse
	if code := r.do("GET", "/api/usage?days=30", nil, &h); code != http.StatusOK {
		t.Fatalf("GET /api/usage: %d", code)
	}
	if len(h.Days) != 30 || h.Total.Tasks != 5 || h.Total.Usage.CostUSD != 9 {
		t.Errorf("30 days over HTTP: %d days, total %+v; want 30 days, 5 tasks, $9", len(h.Days), h.Total)
	}
	var e bus.APIError
	if code := r.do("GET", "/api/usage?days=400", nil, &e); code != http.StatusBadRequest || e.Code != bus.CodeMalformed {
		t.Errorf("days=400: %d %+v; want 400 malformed", code, e)
	}
	if code := r.do("GET", "/api/usage?days=x", nil, &e); code != http.StatusBadRequest {
		t.Errorf("days=x: %d; want 400", code)
	}
}
