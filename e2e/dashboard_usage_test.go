package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
)

// appendUsageTask stores the log of a task created at created that ran
// one turn on provider/model and used u, as a daemon would have written
// it (the way to have a task from an earlier day).
func (r *rig) appendUsageTask(created time.Time, provider, model string, u *bus.Usage) string {
	r.t.Helper()
	ctx := r.ctx(10 * time.Second)
	id := bus.NewID()
	ev, err := bus.NewEvent(id, bus.GatewaySource("gw-test"), &bus.Created{Goal: "spend tokens"})
	if err != nil {
		r.t.Fatal(err)
	}
	ev.Time = created.UTC()
	if _, err := r.env.Log.Append(ctx, ev); err != nil {
		r.t.Fatal(err)
	}
	for _, p := range []bus.Payload{
		&bus.Assigned{Daemon: "d0", Attempt: 1},
		&bus.Started{Daemon: "d0", Provider: provider, Model: model},
		&bus.Message{Role: "assistant", Text: "done"},
		&bus.Completed{Result: "done", Usage: u},
	} {
		if _, err := r.env.Log.AppendPayload(ctx, id, bus.DaemonSource("d0"), p); err != nil {
			r.t.Fatalf("append %s: %v", p.EventType(), err)
		}
	}
	return id
}

// TestDashboardUsage shows tokens and cost per UTC day (a task counts on
// the day it was created), a bar per day, the totals and the split by
// model, and narrows the range with the select.
func TestDashboardUsage(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	r := newRig(t, "", func(*openaitest.Request) openaitest.Reply { return openaitest.Reply{Text: "ok"} })
	_, g := r.gateway()
	now := time.Now().UTC()
	r.appendUsageTask(now, "openai", "gpt-big", &bus.Usage{InputTokens: 120000, OutputTokens: 3400, CostUSD: 0.4321})
	r.appendUsageTask(now.AddDate(0, 0, -2), "openai", "gpt-big", &bus.Usage{InputTokens: 2000000, OutputTokens: 50000, CostUSD: 2.5})
	r.appendUsageTask(now.AddDate(0, 0, -2), "local", "llama", &bus.Usage{InputTokens: 9000, OutputTokens: 1000})
	r.appendUsageTask(now.AddDate(0, 0, -20), "openai", "gpt-big", &bus.Usage{InputTokens: 5, OutputTokens: 5, CostUSD: 1})
	// A task run by a real daemon counts today too.
	r.daemon("d1")
	real := r.submit("say ok")
	r.waitFor(real.ID, bus.TypeCompleted, 20*time.Second)
	todayIn := 120000 + openaitest.PromptTokens
	day := func(tm time.Time) string { return tm.Format(bus.UsageDayLayout) }

	b := newBrowser(t, "http://"+g.HTTPAddr())
	b.open("/tasks")
	b.do("the Usage link", 5*time.Second, chromedp.Click(chromedp.CSS(`nav a[href="/usage"]`)))
	b.waitJS("focus on the Usage heading", `document.activeElement?.tagName === 'H1' && document.activeElement.textContent === 'Usage'`, 5*time.Second)
	row := func(d string) string {
		return fmt.Sprintf(`document.querySelector('[data-testid=usage-days] tr[data-day="%s"]')`, d)
	}
	b.waitJS("today's row with the real task", fmt.Sprintf(`(%s?.innerText ?? '').includes(%q)`, row(day(now)), fmt.Sprintf("%d", todayIn)[:3]), 10*time.Second)
	today := eval[string](b, row(day(now))+`.innerText`)
	for _, want := range []string{"2", "3,403", "$0.4321", "1 unpriced"} {
		if !strings.Contains(today, want) {
			t.Errorf("today's row lacks %q:\n%s", want, today)
		}
	}
	if in := fmt.Sprintf("%d", todayIn); !strings.Contains(strings.ReplaceAll(today, ",", ""), in) {
		t.Errorf("today's row lacks %s tokens in:\n%s", in, today)
	}
	older := eval[string](b, row(day(now.AddDate(0, 0, -2)))+`?.innerText ?? ''`)
	for _, want := range []string{"2,009,000", "51,000", "$2.5000", "1 unpriced"} {
		if !strings.Contains(older, want) {
			t.Errorf("the row of two days ago lacks %q:\n%s", want, older)
		}
	}
	if n := eval[int](b, `document.querySelectorAll('[data-testid=usage-days] tbody tr').length`); n != 3 {
		t.Errorf("%d days shown over 30 days, want 3 (today, two and twenty days ago)", n)
	}
	// The biggest day has the full bar; today's is shorter.
	if w := eval[float64](b, row(day(now.AddDate(0, 0, -2)))+`.querySelector('.bar span').getBoundingClientRect().width / `+row(day(now.AddDate(0, 0, -2)))+`.querySelector('.bar').getBoundingClientRect().width`); w < 0.99 {
		t.Errorf("the biggest day's bar is %.2f of its track, want all of it", w)
	}
	if w := eval[float64](b, row(day(now))+`.querySelector('.bar span').getBoundingClientRect().width`); w <= 0 || w >= eval[float64](b, row(day(now.AddDate(0, 0, -2)))+`.querySelector('.bar span').getBoundingClientRect().width`) {
		t.Errorf("today's bar is %.1f px: want some, less than the biggest day's", w)
	}
	total := eval[string](b, `document.querySelector('[data-testid=usage-total]').innerText`)
	if !strings.Contains(total, "$3.9321") || !strings.Contains(total, "5") {
		t.Errorf("the totals lack 5 tasks and $3.9321:\n%s", total)
	}
	models := eval[string](b, `document.querySelector('[data-testid=usage-models]')?.innerText ?? ''`)
	for _, want := range []string{"openai/gpt-big", "local/llama", "custom/fake-model"} {
		if !strings.Contains(models, want) {
			t.Errorf("the models lack %q:\n%s", want, models)
		}
	}
	b.shots("usage")

	// A week leaves the task of twenty days ago out.
	b.do("pick 7 days", 5*time.Second, chromedp.SetValue(chromedp.CSS(`[data-testid=usage-range]`), "7"))
	b.waitJS("the week's totals", `document.querySelector('[data-testid=usage-total]').innerText.includes('$2.9321')`, 10*time.Second)
	if n := eval[int](b, `document.querySelectorAll('[data-testid=usage-days] tbody tr').length`); n != 2 {
		t.Errorf("%d days shown over 7 days, want 2", n)
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}
