package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
)

// stays checks that a JavaScript expression holds for a while (for what
// must not happen, such as a stale bubble coming back).
func (b *browser) stays(what, expr string, d time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !eval[bool](b, expr) {
			b.shot("FAILED-" + strings.NewReplacer(" ", "-", "/", "_").Replace(what))
			b.t.Fatalf("%s: %s stopped holding", what, expr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// frame waits for the page to render twice (what a handler changed is on
// screen after).
func (b *browser) frame() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, chromedp.EvalAwaitPromise)); err != nil {
		b.t.Fatalf("wait for a frame: %v", err)
	}
}

// workedTime sums a task's turns (started to its end) from its log: the
// time spent working, without the idle time between turns.
func workedTime(log []*bus.Event) (worked, span time.Duration) {
	var start, first time.Time
	for _, ev := range log {
		switch ev.Type {
		case bus.TypeStarted:
			if start.IsZero() {
				start = ev.Time
			}
			if first.IsZero() {
				first = ev.Time
			}
		case bus.TypeCompleted, bus.TypeFailed, bus.TypeCancelled:
			if !start.IsZero() {
				worked += ev.Time.Sub(start)
			}
			start = time.Time{}
			span = ev.Time.Sub(first)
		}
	}
	return worked, span
}

// TestDashboardDay replays what a day of use found (issue 14), each step a
// check that failed before its fix: a pending task says why it waits; a
// long Markdown goal is one plain line as the title and in full in the
// first message; deltas arriving after the final message never bring the
// "writing…" bubble back; a follow-up does not repeat turn 1's answer as a
// result; the duration leaves out the idle time between turns; a finished
// task opens at its top, a live one keeps its end in view unless the user
// scrolled away; the failed badge has no border; an approval shows
// as one card with one outcome line, is announced and keeps the focus; a
// daemon's slots busy with approvals are said; the model's thinking and a
// running tool's time show; cancel asks first; an empty filtered list
// offers to clear the filters; the list searches goals. Every page is
// screenshot at 1280 and 390 px and checked with axe-core.
func TestDashboardDay(t *testing.T) {
	needBrowser(t)
	t.Parallel()

	gate := make(chan struct{}) // the approval task's model waits for the page
	longGoal := "# Quarterly report\n\n" + strings.Repeat("- **item** with `code` and enough words to make a long line of text\n", 60)
	r := newRig(t, "", func(req *openaitest.Request) openaitest.Reply {
		switch last := req.LastUser(); {
		case strings.Contains(last, "and again"):
			return chunked("Second answer, for the follow-up.", 30*time.Millisecond)
		case strings.Contains(last, "Quarterly report"):
			return chunked("First answer: the report is **done**.", 30*time.Millisecond)
		case strings.Contains(last, "please fail"):
			return openaitest.Reply{Status: 400, Error: "the fake model refuses"}
		case strings.Contains(last, "hang"):
			return openaitest.Reply{Hang: true}
		case strings.Contains(last, "approval"):
			if out := req.LastToolResult(); out != "" {
				return chunked("The command printed: "+out, 20*time.Millisecond)
			}
			<-gate
			return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call("a1", "shell", `{"command":"sleep 2; echo ran-fine"}`)}}
		}
		return openaitest.Reply{Text: "ok"}
	})
	var gateOnce sync.Once
	openGate := func() { gateOnce.Do(func() { close(gate) }) }
	t.Cleanup(openGate)
	_, g := r.gateway()
	b := newBrowser(t, "http://"+g.HTTPAddr())
	state := func(s string) string {
		return fmt.Sprintf(`document.querySelector('[data-testid=task-state]')?.textContent === %q`, s)
	}
	timelineReady := `document.querySelector('[data-testid=timeline]')?.getAttribute('aria-busy') === 'false'`

	// No daemon yet: the task says why it waits.
	report := r.submit(longGoal)
	b.open("/tasks/" + report.ID)
	b.waitJS("reason: no daemon", `document.querySelector('[data-testid=wait-reason]')?.textContent.includes('No daemon is online')`, 10*time.Second)

	// The goal: one plain line as the title (and the tab's), in full in
	// the first message.
	if title := eval[string](b, `document.getElementById('task-title').textContent`); !strings.HasPrefix(title, "Quarterly report item with code") || strings.ContainsAny(title, "#*`\n") {
		t.Errorf("the title is %q, want the goal as one line of plain text", title)
	}
	if !eval[bool](b, `(() => { const h = document.getElementById('task-title'); return h.getBoundingClientRect().height < 1.6 * parseFloat(getComputedStyle(h).lineHeight); })()`) {
		t.Errorf("the title takes %v px, more than one line", eval[float64](b, `document.getElementById('task-title').getBoundingClientRect().height`))
	}
	if n := eval[int](b, `document.querySelectorAll('[data-testid=goal] li strong').length`); n != 60 || !eval[bool](b, `document.querySelector('[data-testid=goal] h1')?.textContent === 'Quarterly report'`) {
		t.Errorf("the first message renders %d of the goal's 60 items (or not its heading)", n)
	}
	if title := eval[string](b, `document.title`); !strings.HasPrefix(title, "Quarterly report") {
		t.Errorf("the tab's title is %q, want the goal", title)
	}
	b.shots("task-pending-no-daemon")

	// A daemon with one slot comes: the task runs and completes.
	r.daemonOpts("d1", daemonOptions{Capacity: 1})
	b.waitJS("report completed", state("completed"), 15*time.Second)
	b.waitJS("completed shown", `!!document.querySelector('li[data-type="viber.task.completed"]')`, 5*time.Second)
	if eval[bool](b, `!!document.querySelector("[data-testid=wait-reason]")`) {
		t.Error("a completed task still says why it waits")
	}

	// Deltas arriving after the final message (the stream interleaves them
	// with stored events freely) never bring the bubble back.
	for _, d := range []bus.Delta{{TaskID: report.ID, Text: "STALE tail", Index: 7}, {TaskID: report.ID, Text: "STALE again", Index: 0}} {
		if err := bus.PublishDelta(r.env.NC, d); err != nil {
			t.Fatal(err)
		}
	}
	b.stays("no writing bubble after the final message", `!document.querySelector('[data-testid=streaming]') && !document.querySelector('main').innerText.includes('STALE')`, time.Second)

	// A follow-up after an idle gap: turn 1's answer is not repeated as a
	// result, and the duration leaves the gap out.
	turn1 := r.follow(report.ID, 5*time.Second)
	end1 := turn1[len(turn1)-1].Time
	r.eventually(5*time.Second, "an idle gap of 1.5 s after turn 1", func() bool { return time.Since(end1) > 1500*time.Millisecond })
	b.do("follow-up", 10*time.Second,
		chromedp.SendKeys(chromedp.CSS(`#followup`), "and again"),
		chromedp.Click(chromedp.CSS(`form.followup button[type=submit]`)),
	)
	b.waitJS("second turn completed", `document.querySelectorAll('li[data-type="viber.task.completed"]').length === 2 && `+state("completed"), 15*time.Second)
	if id := eval[string](b, `document.activeElement?.id ?? ''`); id != "followup" {
		t.Errorf("after sending a follow-up the focus is on %q, want the follow-up field", id)
	}
	if n := eval[int](b, `[...document.querySelectorAll('[data-testid=timeline] .who')].filter(e => e.textContent.trim() === 'result').length`); n != 0 {
		t.Errorf("the timeline repeats %d answers as a result block", n)
	}
	log := r.follow(report.ID, 5*time.Second)
	checkTimeline(t, b, log)
	worked, span := workedTime(log)
	if got := time.Duration(eval[int](b, `+document.querySelector('[data-testid=duration]').dataset.ms`)) * time.Millisecond; got < worked-10*time.Millisecond || got > worked+10*time.Millisecond || got > span-time.Second {
		t.Errorf("duration shows %s; the turns took %s, from the first start to the last end is %s", got, worked, span)
	}

	// Opened again, the finished task starts at its top.
	b.open("/tasks/" + report.ID)
	b.waitJS("replayed", `document.querySelectorAll('li[data-type="viber.task.completed"]').length === 2 && `+timelineReady, 10*time.Second)
	b.frame()
	if h := eval[float64](b, `document.body.scrollHeight - innerHeight`); h < 300 {
		t.Fatalf("the page is only %v px taller than the window: the scroll check needs a long page", h)
	}
	if y := eval[float64](b, `scrollY`); y != 0 {
		t.Errorf("a finished task opens scrolled to %v px, want its top", y)
	}
	b.shots("task-long-goal")

	// A failed task: the badge has no border.
	failed := r.submit("please fail")
	r.waitFor(failed.ID, bus.TypeFailed, 15*time.Second)
	b.open("/tasks/" + failed.ID)
	b.waitJS("failed", state("failed"), 10*time.Second)
	if w := eval[string](b, `getComputedStyle(document.querySelector('[data-testid=task-state]')).borderLeftWidth`); w != "0px" {
		t.Errorf("the failed badge has a %s left border", w)
	}
	b.shots("task-failed")

	// An approval: one card, announced, no tool row saying the same.
	appr := r.submit("needs approval to run a command")
	b.open("/tasks/" + appr.ID)
	b.waitJS("page ready", timelineReady, 10*time.Second)
	openGate()
	b.waitJS("approve button", `[...document.querySelectorAll('button')].some(x => x.textContent === 'Approve')`, 15*time.Second)
	b.waitJS("approval announced", `document.querySelector('[data-testid=announce]')?.textContent.includes('Approval needed for shell')`, 5*time.Second)
	if n := eval[int](b, `document.querySelectorAll('[data-testid=timeline] .approval').length`); n != 1 {
		t.Errorf("%d approval cards, want 1", n)
	}
	if txt := eval[string](b, `document.querySelector('[data-testid=timeline]').innerText`); strings.Contains(strings.ToLower(txt), "waiting for approval") {
		t.Errorf("besides its card, the timeline says the call waits for approval:\n%s", txt)
	}

	// Its daemon's only slot waits for that approval: a new task says so,
	// and so does the daemons page.
	hung := r.submit("hang on")
	b.open("/tasks/" + hung.ID)
	b.waitJS("reason: slots busy", `/The one slot of the daemon that can run it \(d1\) is busy with a task waiting for approval\./.test(document.querySelector('[data-testid=wait-reason]')?.textContent)`, 10*time.Second)
	b.shots("task-pending-busy")
	b.do("daemons page", 10*time.Second, chromedp.Click(chromedp.CSS(`nav a[href="/daemons"]`)))
	b.waitJS("focus on the daemons heading", `document.activeElement?.tagName === 'H1' && document.activeElement.textContent === 'Daemons'`, 5*time.Second)
	b.waitJS("slots waiting for approval", `document.querySelector('[data-testid=slots]')?.textContent.includes('1 / 1 (1 waiting for approval)')`, 10*time.Second)
	b.shots("daemons-approval")

	// Approve: the focus stays on the card, the tool's time shows, one
	// outcome line.
	b.open("/tasks/" + appr.ID)
	b.waitJS("approve button again", `[...document.querySelectorAll('button')].some(x => x.textContent === 'Approve')`, 10*time.Second)
	b.do("approve", 5*time.Second, chromedp.Click(chromedp.Search(`//button[text()="Approve"]`)))
	b.waitJS("focus on the decided card", `document.activeElement?.id === 'approval-a1'`, 5*time.Second)
	b.waitJS("tool running with its time", `[...document.querySelectorAll('[data-testid=tool-status]')].some(e => /running… \d+s/.test(e.textContent))`, 5*time.Second)
	b.waitJS("approved task completed", state("completed"), 15*time.Second)
	if txt := eval[string](b, `document.querySelector('[data-testid=timeline]').innerText`); strings.Count(strings.ToLower(txt), "by dashboard") != 1 {
		t.Errorf("the decision shows %d times, want once:\n%s", strings.Count(strings.ToLower(txt), "by dashboard"), txt)
	}
	b.shots("task-approved")

	// The slot is free: the waiting task runs; the page shows the model
	// thinking; cancel asks first.
	b.open("/tasks/" + hung.ID)
	b.waitJS("thinking", `!!document.querySelector('[data-testid=thinking]')`, 15*time.Second)
	b.shots("task-thinking")
	b.do("cancel", 5*time.Second, chromedp.Click(chromedp.Search(`//button[text()="Cancel task"]`)))
	b.waitJS("cancel asks first", `document.activeElement?.textContent === 'Keep running'`, 5*time.Second)
	b.shots("task-cancel-confirm")
	b.do("keep running", 5*time.Second, chromedp.Click(chromedp.Search(`//button[text()="Keep running"]`)))
	b.waitJS("back to the cancel button", `document.activeElement?.id === 'cancel-task'`, 5*time.Second)
	if !eval[bool](b, state("running")) {
		t.Errorf("after Keep running the task is %s", eval[string](b, `document.querySelector('[data-testid=task-state]')?.textContent`))
	}
	b.do("cancel for real", 5*time.Second,
		chromedp.Click(chromedp.Search(`//button[text()="Cancel task"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid=cancel-confirm]`)),
	)
	b.waitJS("cancelled", state("cancelled"), 15*time.Second)
	b.waitJS("cancel announced", `document.querySelector('[data-testid=announce]')?.textContent.includes('cancelled')`, 5*time.Second)

	// The list: goals as plain text; filters that match nothing offer to
	// clear them; search finds goals.
	b.open("/tasks")
	b.firstRows("list of 4, warm")
	b.waitJS("report row", fmt.Sprintf(`!!document.querySelector('tr[data-task=%q]')`, report.ID), 5*time.Second)
	if txt := eval[string](b, fmt.Sprintf(`document.querySelector('tr[data-task=%q] td.goal').textContent`, report.ID)); !strings.HasPrefix(txt, "Quarterly report item") || strings.ContainsAny(txt, "#*`") {
		t.Errorf("the list shows the goal as %q, want plain text", txt)
	}
	b.open("/tasks?state=assigned&q=nothing-like-this")
	b.waitJS("offer to clear", `!!document.querySelector('[data-testid=clear-filters]')`, 10*time.Second)
	b.shots("tasks-empty-filtered")
	b.do("clear filters", 5*time.Second, chromedp.Click(chromedp.CSS(`[data-testid=clear-filters]`)))
	b.waitJS("all tasks again", `location.search === '' && document.querySelectorAll('tr[data-task]').length === 4`, 10*time.Second)
	b.do("search", 5*time.Second, chromedp.SendKeys(chromedp.CSS(`[data-testid=search]`), "QUARTERLY"))
	b.waitJS("found by goal", fmt.Sprintf(`new URLSearchParams(location.search).get('q') === 'QUARTERLY' && document.querySelectorAll('tr[data-task]').length === 1 && !!document.querySelector('tr[data-task=%q]')`, report.ID), 10*time.Second)
	b.shots("tasks-search")

	// Live turns (last: they keep the daemon's one slot busy a while): the
	// page keeps the end in view, unless the user scrolled away from it.
	input := func(n int) {
		t.Helper()
		if _, err := r.client.SendInput(r.ctx(5*time.Second), &bus.SendInputRequest{ID: report.ID, Text: "and again", By: "test"}); err != nil {
			t.Fatal(err)
		}
		b.waitJS(fmt.Sprintf("turn %d completed", n), fmt.Sprintf(`document.querySelectorAll('li[data-type="viber.task.completed"]').length === %d && `, n)+state("completed"), 15*time.Second)
		b.frame()
	}
	atEnd := `scrollY + innerHeight >= document.body.scrollHeight - 2`
	b.open("/tasks/" + report.ID)
	b.waitJS("report replayed", `document.querySelectorAll('li[data-type="viber.task.completed"]').length === 2 && `+timelineReady, 10*time.Second)
	eval[chromedp.Void](b, `scrollTo(0, 0)`)
	b.waitJS("scrolled away", `scrollY === 0`, 5*time.Second)
	input(3)
	if y := eval[float64](b, `scrollY`); y != 0 {
		t.Errorf("scrolled away to the top, the page moved to %v px when the task went on", y)
	}
	eval[chromedp.Void](b, `scrollTo(0, document.body.scrollHeight)`)
	b.waitJS("at the end", atEnd, 5*time.Second)
	input(4)
	if !eval[bool](b, atEnd) {
		t.Errorf("at the end, the page stayed at %v px of %v when the task went on", eval[float64](b, `scrollY + innerHeight`), eval[float64](b, `document.body.scrollHeight`))
	}

	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestDashboardTenThousand lists 10,000 tasks: the API pages them by a
// cursor, newest first, and searches goals; the page shows one page at a
// time, loads older ones on demand and fits 390 px.
func TestDashboardTenThousand(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	const n = 10000
	r := newRig(t, "", nil)
	_, g := r.gateway()
	sums, err := bus.OpenSummaries(r.ctx(10*time.Second), r.env.JS)
	if err != nil {
		t.Fatal(err)
	}
	// Summaries as the projector stores them, of finished tasks (their
	// logs do not matter to a list).
	ids := make([]string, n)
	for i := range ids {
		ids[i] = bus.NewID()
	}
	ctx := r.ctx(2 * time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				at := time.Now().Add(time.Duration(i-n) * time.Minute)
				end := at.Add(3 * time.Second)
				s := &bus.Summary{ID: ids[i], Goal: fmt.Sprintf("Task number %05d: **tidy** the `logs` of service %d", i, i%7), State: bus.StateCompleted,
					Daemon: "d1", Model: "fake-model", Result: "done", TurnSeq: 1, Events: 4, LastSeq: 4, Turns: 1,
					CreatedAt: at, StartedAt: &at, EndedAt: &end, UpdatedAt: end}
				if _, err := sums.Put(ctx, s, 0, false); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	base := "http://" + g.HTTPAddr()

	// The API: pages of 1,000 cover every task once, newest first.
	list := func(q url.Values) *bus.ListTasksResponse {
		t.Helper()
		resp, err := http.Get(base + "/api/tasks?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out bus.ListTasksResponse
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil {
			t.Fatalf("GET /api/tasks?%s: %d", q.Encode(), resp.StatusCode)
		}
		return &out
	}
	var seen []string
	start := time.Now()
	for cursor, pages := "", 0; ; pages++ {
		q := url.Values{"limit": {"1000"}}
		if cursor != "" {
			q.Set("before", cursor)
		}
		page := list(q)
		if page.Total != n {
			t.Fatalf("page %d says %d tasks match, want %d", pages, page.Total, n)
		}
		for _, s := range page.Tasks {
			seen = append(seen, s.ID)
		}
		if page.Next == "" {
			break
		}
		if pages > n/1000 {
			t.Fatalf("more than %d pages", pages)
		}
		cursor = page.Next
	}
	t.Logf("10,000 tasks listed in pages of 1,000 in %s", time.Since(start))
	if len(seen) != n {
		t.Fatalf("the pages hold %d tasks, want %d", len(seen), n)
	}
	for i, id := range seen {
		if id != ids[n-1-i] {
			t.Fatalf("task %d of the pages is %s, want %s (newest first, each once)", i, id, ids[n-1-i])
		}
	}
	if found := list(url.Values{"q": {"NUMBER 04321:"}}); found.Total != 1 || len(found.Tasks) != 1 || found.Tasks[0].ID != ids[4321] {
		t.Fatalf("search for task 04321 found %d", found.Total)
	}
	if resp, err := http.Get(base + "/api/tasks?before=not%20an%20id"); err != nil || resp.StatusCode != 400 {
		t.Fatalf("a bad cursor: %v %v", resp.StatusCode, err)
	}

	// The page, on a phone: one page of rows, older ones on demand.
	b := newBrowser(t, base)
	b.do("phone width", 5*time.Second, chromedp.EmulateViewport(390, 844))
	b.open("/tasks")
	b.firstRows("list of 10,000 at 390 px")
	b.waitJS("first page", `document.querySelectorAll('tr[data-task]').length === 50 && document.querySelector('[data-testid=count]')?.textContent.includes('50 of 10000')`, 10*time.Second)
	if first := eval[string](b, `document.querySelector('tr[data-task]').dataset.task`); first != ids[n-1] {
		t.Errorf("the first row is %s, want the newest task %s", first, ids[n-1])
	}
	b.do("older tasks", 5*time.Second, chromedp.Click(chromedp.CSS(`[data-testid=more]`)))
	b.waitJS("second page", `document.querySelectorAll('tr[data-task]').length === 100`, 10*time.Second)
	if last := eval[string](b, `[...document.querySelectorAll('tr[data-task]')].at(-1).dataset.task`); last != ids[n-100] {
		t.Errorf("the 100th row is %s, want %s", last, ids[n-100])
	}
	b.checkNoHorizontalScroll("tasks-10000")
	if h := eval[float64](b, `document.querySelector('tr[data-task]').getBoundingClientRect().height`); h > 80 {
		t.Errorf("a row is %v px high at 390 px, want a compact row", h)
	}
	b.do("search", 5*time.Second, chromedp.SendKeys(chromedp.CSS(`[data-testid=search]`), "number 04321:"))
	b.waitJS("found", fmt.Sprintf(`document.querySelectorAll('tr[data-task]').length === 1 && !!document.querySelector('tr[data-task=%q]')`, ids[4321]), 10*time.Second)
	b.shots("tasks-10000-search")
	b.do("clear the search", 5*time.Second, chromedp.Navigate(base+"/tasks"))
	b.waitJS("first page again", `document.querySelectorAll('tr[data-task]').length === 50`, 10*time.Second)
	b.shots("tasks-10000")
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// tab opens another tab of the same browser (same profile, so the same
// shared worker).
func (b *browser) tab() *browser {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		b.t.Fatalf("open a tab: %v", err)
	}
	return &browser{t: b.t, ctx: ctx, base: b.base, artifacts: b.artifacts}
}

// TestDashboardTabs keeps ten dashboard tabs open on one gateway, nine on
// live tasks and one on the list: all of them follow their streams, which
// browsers cap at six connections per host unless the tabs share one.
func TestDashboardTabs(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	r := newRig(t, "", nil) // no daemon: the tasks wait, their pages stay live
	_, g := r.gateway()
	b := newBrowser(t, "http://"+g.HTTPAddr())
	b.open("/tasks")
	b.waitJS("list live", `document.querySelector('.live')?.textContent === 'live'`, 10*time.Second)

	var ids []string
	var tabs []*browser
	for i := range 9 {
		ids = append(ids, r.submit(fmt.Sprintf("tab task %d", i)).ID)
		tb := b.tab()
		tb.open("/tasks/" + ids[i])
		tabs = append(tabs, tb)
	}
	for i, tb := range tabs {
		tb.waitJS(fmt.Sprintf("tab %d live", i), `document.querySelector('[data-testid=timeline]')?.getAttribute('aria-busy') === 'false' && !!document.querySelector('[data-testid=wait-reason]')`, 10*time.Second)
	}
	// Live events reach every tab, and the list.
	for _, id := range ids {
		if _, err := r.client.CancelTask(r.ctx(5*time.Second), &bus.CancelTaskRequest{ID: id, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	for i, tb := range tabs {
		tb.waitJS(fmt.Sprintf("tab %d sees its task cancelled", i), `document.querySelector('[data-testid=task-state]')?.textContent === 'cancelled'`, 10*time.Second)
	}
	b.waitJS("the list sees them all", `document.querySelectorAll('tr[data-state=cancelled]').length === 9`, 10*time.Second)

	// The pages that say something is not there.
	b.open("/tasks/" + bus.NewID())
	b.waitJS("task not found", `document.querySelector('main h1')?.textContent === 'Task not found'`, 10*time.Second)
	b.shots("task-not-found")
	b.open("/nowhere")
	b.waitJS("page not found", `document.querySelector('main h1')?.textContent === 'Not found'`, 10*time.Second)
	b.shots("not-found")
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}
