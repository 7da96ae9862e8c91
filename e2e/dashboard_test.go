package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/mcpclient/mcptest"
	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/gateway"
	"github.com/viberhq/viber/web"
)

// chromiumPath is Debian's Chromium, which the browser tests drive.
const chromiumPath = "/usr/bin/chromium"

// browser is a headless Chromium tab plus what the page said on its
// console.
type browser struct {
	t         *testing.T
	ctx       context.Context
	base      string
	artifacts string

	mu     sync.Mutex
	errors []string
}

// needBrowser skips the test unless Chromium and the built dashboard are
// there.
func needBrowser(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests skipped in -short mode")
	}
	if _, err := exec.LookPath(chromiumPath); err != nil {
		t.Skipf("browser test needs Chromium at %s: install it with `apt-get install -y chromium` (Debian)", chromiumPath)
	}
	if _, ok := web.Dist(); !ok {
		t.Skip("browser test needs the built dashboard: run `make web` (npm ci && npm run build in web/), then rerun the tests")
	}
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	dir := os.Getenv("VIBER_TEST_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "viber-dashboard-"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("dashboard screenshots in %s", dir)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, base: base, artifacts: dir}
	// Start the browser without a timeout (a timeout on the first run
	// would end the browser with it).
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				b.mu.Lock()
				b.errors = append(b.errors, "console.error: "+strings.Join(parts, " "))
				b.mu.Unlock()
			}
		case *runtime.EventExceptionThrown:
			msg := ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
			b.mu.Lock()
			b.errors = append(b.errors, "exception: "+msg)
			b.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	return b
}

// do runs browser actions with a time limit.
func (b *browser) do(what string, within time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, within)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		var html string
		hctx, hcancel := context.WithTimeout(b.ctx, 2*time.Second)
		html, _ = chromedp.Run(hctx, chromedp.Evaluate[string](`document.querySelector('main')?.innerText ?? ''`))
		hcancel()
		b.shot("FAILED-" + strings.NewReplacer(" ", "-", "/", "_").Replace(what))
		b.t.Fatalf("%s: %v\npage text:\n%s", what, err, html)
	}
}

func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS waits until a JavaScript expression is true.
func (b *browser) waitJS(what, expr string, within time.Duration) {
	b.t.Helper()
	b.do(what, within+time.Second, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(within))(ctx, t)
		return err
	}))
}

func (b *browser) open(path string) {
	b.t.Helper()
	b.do("open "+path, 10*time.Second, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS("main")))
}

// shot saves a full-page screenshot of the page at the current width.
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(b.artifacts, name+".png"), png, 0o644); err != nil {
		b.t.Error(err)
	}
}

// shots saves the page at desktop (1280×800) and phone (390 px) widths,
// and checks it with axe-core at both.
func (b *browser) shots(name string) {
	b.t.Helper()
	b.do("phone width", 5*time.Second, chromedp.EmulateViewport(390, 844))
	b.checkNoHorizontalScroll(name)
	b.shot(name + "-390")
	b.axe(name + "-390")
	b.do("desktop width", 5*time.Second, chromedp.EmulateViewport(1280, 800))
	b.shot(name + "-1280")
	b.axe(name + "-1280")
}

// axePath is axe-core's browser build: a dev dependency of the dashboard,
// installed with it by `make web` (npm ci in web/).
var axePath = filepath.Join("..", "web", "node_modules", "axe-core", "axe.min.js")

// axe runs axe-core in the page against WCAG 2.0, 2.1 and 2.2 A and AA and
// fails the test on any violation, naming the rule and the elements.
func (b *browser) axe(name string) {
	b.t.Helper()
	if !eval[bool](b, `typeof window.axe === 'object'`) {
		src, err := os.ReadFile(axePath)
		if err != nil {
			b.t.Fatalf("the accessibility check needs axe-core: %v (run `make web`, which installs the dashboard's dev dependencies)", err)
		}
		eval[chromedp.Void](b, string(src))
	}
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}}).then(r => r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + '\n    ' + v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' — ' + (n.failureSummary || '').replace(/\n/g, ' ')).join('\n    ')).join('\n'))`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("axe-core on %s: %v", name, err)
	}
	if out != "" {
		b.t.Errorf("axe-core finds WCAG 2.2 AA violations on %s:\n%s", name, out)
	}
}

// firstRows reports how long the task list took to show its first rows
// after navigation (the page marks it), and that the JavaScript bundle
// came compressed.
func (b *browser) firstRows(what string) {
	b.t.Helper()
	b.waitJS("first rows marked", `performance.getEntriesByName('viber:first-rows').length > 0`, 10*time.Second)
	ms := eval[float64](b, `performance.getEntriesByName('viber:first-rows')[0].startTime`)
	b.t.Logf("%s: first rows %.0f ms after navigation", what, ms)
	if !eval[bool](b, `performance.getEntriesByType('resource').filter(r => r.name.endsWith('.js')).every(r => r.encodedBodySize === 0 || r.encodedBodySize < r.decodedBodySize)`) {
		b.t.Errorf("%s: the JavaScript bundle came uncompressed: %s", what, eval[string](b, `JSON.stringify(performance.getEntriesByType('resource').filter(r => r.name.endsWith('.js')).map(r => [r.name, r.encodedBodySize, r.decodedBodySize]))`))
	}
}

func (b *browser) checkNoHorizontalScroll(name string) {
	b.t.Helper()
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > 392 {
		b.t.Errorf("%s at 390 px is %d px wide (scrolls sideways)", name, w)
	}
}

// waitErrors waits for n console errors and forgets them.
func (b *browser) waitErrors(n int) {
	b.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		got := len(b.errors)
		if got >= n {
			b.errors = nil
		}
		b.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the console watch saw %d errors, want %d", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// domEvents returns the seqs of the timeline's events in page order.
func (b *browser) domSeqs() []int {
	b.t.Helper()
	return eval[[]int](b, `[...document.querySelectorAll('[data-testid=timeline] li[data-seq]')].map(e => +e.dataset.seq)`)
}

func checkTimeline(t *testing.T, b *browser, log []*bus.Event) {
	t.Helper()
	seqs := b.domSeqs()
	if len(seqs) != len(log) {
		t.Fatalf("timeline shows %d events %v, the log has %d (%s)", len(seqs), seqs, len(log), types(log))
	}
	for i, s := range seqs {
		if s != int(log[i].Seq) {
			t.Fatalf("timeline seqs %v, log %s", seqs, types(log))
		}
	}
}

// TestDashboard drives the dashboard in headless Chromium against a real
// gateway, daemon and NATS: create a task through the form and watch it
// stream and complete, see new tasks appear in the list, replay a finished
// task, reload in the middle of a task, approve a waiting tool call, and
// screenshot every page at 1280×800 and 390 px.
func TestDashboard(t *testing.T) {
	needBrowser(t)
	t.Parallel()

	answer := "Here is **bold** and `code`.\n\n- one\n- two\n\n<img src=x onerror=\"window.__xss=1\"> stays text."
	r := newRig(t, "", func(req *openaitest.Request) openaitest.Reply {
		goal := req.LastUser()
		switch {
		case strings.Contains(goal, "approval"):
			// A plan, then the shell, which asks for approval under the
			// default policy, then the answer.
			switch out := req.LastToolResult(); {
			case out == "":
				return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call("p1", "update_plan",
					`{"items":[{"text":"Run the command","status":"in_progress"},{"text":"Report its output","status":"pending"}]}`)}}
			case strings.HasPrefix(out, "plan recorded"):
				return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call("a1", "shell", `{"command":"echo approved-ran"}`)}}
			default:
				return chunked("The command printed: "+out, 20*time.Millisecond)
			}
		case strings.Contains(goal, "hang"):
			return openaitest.Reply{Hang: true}
		case strings.Contains(goal, "slow"):
			return chunked("slow answer: "+strings.Repeat("word ", 14), 200*time.Millisecond)
		default:
			return chunked(answer, 80*time.Millisecond)
		}
	})
	_, g := r.gateway()
	files, err := mcptest.StdioConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	files.EnabledTools = []string{"echo", "add"}
	r.daemonOpts("d1", daemonOptions{Models: r.mcpModels(map[string]agents.MCPServerConfig{"files": files})})
	b := newBrowser(t, "http://"+g.HTTPAddr())

	// Tasks page, empty; the skip link is the first stop of the keyboard.
	b.open("/")
	// The console watch works: a probe error is seen, then forgotten.
	eval[chromedp.Void](b, `console.error("probe")`)
	b.waitErrors(1)
	b.waitJS("empty task list", `!!document.querySelector('.empty')`, 5*time.Second)
	b.do("tab", 5*time.Second, chromedp.KeyEvent("\t"))
	if cls := eval[string](b, `document.activeElement?.className ?? ''`); !strings.Contains(cls, "skip") {
		t.Errorf("first Tab focuses %q, want the skip link", cls)
	}
	b.shots("tasks-empty")

	// New task through the form; the page follows it live to the end.
	b.do("new task form", 10*time.Second,
		chromedp.Click(chromedp.CSS(`nav a[href="/tasks/new"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#goal`)),
	)
	b.shots("new-task")
	b.do("submit", 10*time.Second,
		chromedp.SendKeys(chromedp.CSS(`#goal`), "write a short note"),
		chromedp.Click(chromedp.CSS(`form[data-testid=new-task] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=timeline]`)),
	)
	b.waitJS("focus on the new task's title", `document.activeElement?.id === 'task-title'`, 5*time.Second)
	loc := eval[string](b, `location.pathname`)
	id := strings.TrimPrefix(loc, "/tasks/")
	if !bus.ValidToken(id) {
		t.Fatalf("after submit the page is %s", loc)
	}
	b.waitJS("answer streaming in", `!!document.querySelector('[data-testid=streaming]')`, 10*time.Second)
	b.waitJS("task completed", `document.querySelector('[data-testid=task-state]')?.textContent === 'completed'`, 15*time.Second)
	b.waitJS("completed event shown", `!!document.querySelector('li[data-type="viber.task.completed"]')`, 5*time.Second)
	// The fake model reports usage: the page shows the task's tokens.
	b.waitJS("tokens shown", `/\d+ in · \d+ out/.test(document.querySelector('[data-testid=task-usage]')?.textContent || '')`, 5*time.Second)
	if !eval[bool](b, `!!document.querySelector('li[data-type="viber.task.message"] .md strong')`) {
		t.Error("the answer's Markdown was not rendered")
	}
	if eval[bool](b, `window.__xss === 1 || !!document.querySelector('[data-testid=timeline] img')`) {
		t.Error("HTML in the answer was rendered, not escaped")
	}
	if !eval[bool](b, `document.querySelector('[data-testid=timeline]').innerText.includes('<img src=x')`) {
		t.Error("HTML in the answer should show as text")
	}
	first := r.follow(id, 5*time.Second)
	checkTimeline(t, b, first)
	b.shots("task-completed")

	// The list shows it, and a task created elsewhere appears without reload.
	b.do("tasks page", 10*time.Second, chromedp.Click(chromedp.CSS(`nav a[href="/tasks"]`)))
	b.waitJS("focus on the page heading", `document.activeElement?.tagName === 'H1' && document.activeElement.textContent === 'Tasks'`, 5*time.Second)
	b.waitJS("task in list", fmt.Sprintf(`document.querySelector('tr[data-task=%q]')?.dataset.state === 'completed'`, id), 5*time.Second)
	slow := r.submit("a slow task")
	b.waitJS("new task appears live", fmt.Sprintf(`!!document.querySelector('tr[data-task=%q]')`, slow.ID), 5*time.Second)
	b.shots("tasks")

	// Reload in the middle of the slow task: nothing lost, nothing twice.
	b.open("/tasks/" + slow.ID)
	b.waitJS("slow task streaming", `!!document.querySelector('[data-testid=streaming]')`, 10*time.Second)
	b.do("reload", 10*time.Second, chromedp.Reload())
	b.waitJS("slow task completed after reload", `document.querySelector('[data-testid=task-state]')?.textContent === 'completed'`, 15*time.Second)
	b.waitJS("completed event after reload", `!!document.querySelector('li[data-type="viber.task.completed"]')`, 5*time.Second)
	checkTimeline(t, b, r.follow(slow.ID, 5*time.Second))

	// A finished task replays the same timeline from the log.
	b.open("/tasks/" + id)
	b.waitJS("replayed", `!!document.querySelector('li[data-type="viber.task.completed"]')`, 10*time.Second)
	checkTimeline(t, b, first)

	// A follow-up opens a new turn, which streams and completes live.
	b.do("follow-up", 10*time.Second,
		chromedp.SendKeys(chromedp.CSS(`#followup`), "and one more"),
		chromedp.Click(chromedp.CSS(`form.followup button[type=submit]`)),
	)
	b.waitJS("follow-up shown", `!!document.querySelector('li[data-type="viber.task.input"]')`, 5*time.Second)
	b.waitJS("second turn completed", `document.querySelectorAll('li[data-type="viber.task.completed"]').length === 2 && document.querySelector('[data-testid=task-state]')?.textContent === 'completed'`, 15*time.Second)
	checkTimeline(t, b, r.follow(id, 5*time.Second))

	// Approvals: the model calls the shell, the daemon asks, the page
	// approves, the tool runs and the task goes on to its answer.
	waiting := r.submit("needs approval to run a command")
	r.waitFor(waiting.ID, bus.TypeApprovalRequested, 15*time.Second)
	b.open("/tasks/" + waiting.ID)
	b.waitJS("approve button", `[...document.querySelectorAll('button')].some(x => x.textContent === 'Approve')`, 10*time.Second)
	b.waitJS("waiting state", `document.querySelector('[data-testid=task-state]')?.textContent === 'waiting approval'`, 5*time.Second)
	b.waitJS("plan checklist", `document.querySelectorAll('section.plan li').length === 2 && document.querySelector('section.plan li.in_progress')?.textContent.includes('Run the command')`, 5*time.Second)
	b.shots("task-approval")
	b.do("approve", 5*time.Second, chromedp.Click(chromedp.Search(`//button[text()="Approve"]`)))
	decided := r.waitFor(waiting.ID, bus.TypeApprovalDecided, 10*time.Second)
	if d := payload[bus.ApprovalDecided](t, decided); !d.Approved || d.CallID != "a1" || d.By != "dashboard" {
		t.Fatalf("decision: %+v", d)
	}
	b.waitJS("decision shown", `!!document.querySelector('li[data-type="viber.task.approval_decided"]')`, 5*time.Second)
	b.waitJS("approved task completed", `document.querySelector('[data-testid=task-state]')?.textContent === 'completed'`, 15*time.Second)
	b.do("open the tool call", 5*time.Second, chromedp.Click(chromedp.Search(`//details[contains(@class,"tool")]/summary[span[text()="shell"]]`)))
	if out := eval[string](b, `document.querySelector('details.tool[open]')?.innerText ?? ''`); !strings.Contains(out, "echo approved-ran") || !strings.Contains(out, "Result") || strings.Count(out, "approved-ran") < 2 {
		t.Errorf("tool call details: %q", out)
	}
	checkTimeline(t, b, r.follow(waiting.ID, 5*time.Second))
	b.shots("task-tool-call")

	// Cancel stops a task whose model never answers.
	hung := r.submit("hang forever")
	r.waitFor(hung.ID, bus.TypeStarted, 10*time.Second)
	b.open("/tasks/" + hung.ID)
	b.waitJS("cancel button", `[...document.querySelectorAll('button')].some(x => x.textContent === 'Cancel task')`, 10*time.Second)
	b.do("cancel", 5*time.Second, chromedp.Click(chromedp.Search(`//button[text()="Cancel task"]`)))
	b.waitJS("cancel asks first", `document.activeElement?.textContent === 'Keep running'`, 5*time.Second)
	b.do("confirm cancel", 5*time.Second, chromedp.Click(chromedp.CSS(`[data-testid=cancel-confirm]`)))
	b.waitJS("cancelled", `document.querySelector('[data-testid=task-state]')?.textContent === 'cancelled'`, 15*time.Second)
	b.waitJS("cancelled event", `!!document.querySelector('li[data-type="viber.task.cancelled"]')`, 5*time.Second)

	// The list filters by status (kept in the URL).
	b.open("/tasks?state=completed")
	b.firstRows("filtered list, warm")
	b.waitJS("filtered list", fmt.Sprintf(`(() => { const rows = [...document.querySelectorAll('tr[data-task]')]; return rows.length === 3 && rows.every(r => r.dataset.state === 'completed') && !document.querySelector('tr[data-task=%q]'); })()`, hung.ID), 10*time.Second)
	if v := eval[string](b, `document.querySelector('[data-testid=filter-state]').value`); v != "completed" {
		t.Errorf("status filter shows %q", v)
	}

	// Daemons and skills.
	b.do("daemons page", 10*time.Second, chromedp.Click(chromedp.CSS(`nav a[href="/daemons"]`)))
	b.waitJS("daemon listed", `document.querySelector('[data-testid=daemon-list]')?.innerText.includes('d1')`, 5*time.Second)
	b.waitJS("MCP server listed", `document.querySelector('[data-testid=mcp-servers]')?.innerText.includes('files')`, 5*time.Second)
	if txt := eval[string](b, `document.querySelector('[data-testid=mcp-servers]').innerText`); !strings.Contains(txt, "connected") || !strings.Contains(txt, "2 tools") {
		t.Errorf("MCP servers on the daemons page: %q", txt)
	}
	b.shots("daemons")
	b.do("skills page", 10*time.Second, chromedp.Click(chromedp.CSS(`nav a[href="/skills"]`)))
	b.waitJS("skills page", `document.querySelector('h1')?.textContent === 'Skills'`, 5*time.Second)
	b.shots("skills")

	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// chunked streams text in about a dozen pieces with a delay between them.
func chunked(text string, delay time.Duration) openaitest.Reply {
	var chunks []string
	n := (len(text) + 11) / 12
	for i := 0; i < len(text); i += n {
		chunks = append(chunks, text[i:min(i+n, len(text))])
	}
	return openaitest.Reply{Text: text, Chunks: chunks, ChunkDelay: delay}
}

// TestDashboardToken checks the sign-in of a gateway that needs a token:
// the dashboard asks for it, refuses a wrong one and works with the right
// one.
func TestDashboardToken(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	r := newRig(t, "", nil)
	nc := r.env.Connect(t, "gateway")
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, gateway.Config{NC: nc, HTTPListen: "127.0.0.1:0", HTTPToken: "letmein", Setup: setup, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); g.Stop() })
	r.submit("a task behind a token")

	b := newBrowser(t, "http://"+g.HTTPAddr())
	b.open("/tasks")
	b.waitJS("sign-in form", `!!document.querySelector('#token')`, 10*time.Second)
	b.shots("sign-in")
	b.do("wrong token", 5*time.Second,
		chromedp.SendKeys(chromedp.CSS(`#token`), "nope"),
		chromedp.Click(chromedp.CSS(`main form button[type=submit]`)),
	)
	b.waitJS("refused", `document.querySelector('main .error')?.textContent.includes('wrong token')`, 5*time.Second)
	b.do("right token", 5*time.Second,
		chromedp.SendKeys(chromedp.CSS(`#token`), "\b\b\b\bletmein"),
		chromedp.Click(chromedp.CSS(`main form button[type=submit]`)),
	)
	b.waitJS("tasks after sign-in", `document.querySelector('[data-testid=task-list]')?.innerText.includes('a task behind a token')`, 10*time.Second)
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}
