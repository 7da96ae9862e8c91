package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/agents/tool"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
)

// scheduleTasks lists the tasks schedule name made, oldest first, with
// the CLI.
func scheduleTasks(t *testing.T, env []string, name string) []*bus.Summary {
	t.Helper()
	stdout, stderr, code := run(t, env, "viber", "task", "ls", "--json", "--schedule", name, "--limit", "1000")
	var r bus.ListTasksResponse
	if code != 0 || json.Unmarshal([]byte(stdout), &r) != nil {
		t.Fatalf("task ls --schedule %s: %d %s %s", name, code, stdout, stderr)
	}
	sort.Slice(r.Tasks, func(i, j int) bool { return r.Tasks[i].CreatedAt.Before(r.Tasks[j].CreatedAt) })
	return r.Tasks
}

// waitTasks polls until schedule name made at least n tasks.
func waitTasks(t *testing.T, env []string, name string, n int, p *proc) []*bus.Summary {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		tasks := scheduleTasks(t, env, name)
		if len(tasks) >= n {
			return tasks
		}
		if time.Now().After(deadline) {
			t.Fatalf("schedule %s made %d tasks, want %d:\n%s", name, len(tasks), n, p.out.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// checkSpacing fails when two tasks of a schedule were made for one
// firing: every pair is at least a second apart.
func checkSpacing(t *testing.T, tasks []*bus.Summary) {
	t.Helper()
	seen := map[string]bool{}
	for i, s := range tasks {
		if seen[s.ID] {
			t.Fatalf("task %s listed twice", s.ID)
		}
		seen[s.ID] = true
		if i > 0 {
			if gap := s.CreatedAt.Sub(tasks[i-1].CreatedAt); gap < time.Second {
				t.Fatalf("tasks %s and %s made %s apart: two tasks for one firing", tasks[i-1].ID, s.ID, gap)
			}
		}
	}
}

func TestCLIScheduleEveryTwoSeconds(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses POSIX signals")
	}
	t.Parallel()
	fake := openaitest.New(t, openaitest.Echo)
	natsAddr, httpAddr, data := freeAddr(t), freeAddr(t), t.TempDir()
	env := append(modelEnv(fake), "VIBER_NATS_URL=nats://"+natsAddr, "VIBER_HOME="+t.TempDir())
	upArgs := []string{"up", "--data", data, "--nats-listen", natsAddr, "--http-listen", httpAddr}
	up := start(t, env, "viber", upArgs...)
	waitHealthy(t, httpAddr, up)

	stdout, stderr, code := run(t, env, "viber", "schedule", "add", "tick", "--every", "2s", "say tick")
	if code != 0 || !strings.Contains(stdout, "added tick (every 2s)") {
		t.Fatalf("schedule add: %d %q %q", code, stdout, stderr)
	}
	stdout, stderr, code = run(t, env, "viber", "schedule", "ls", "--json")
	var ls bus.ListSchedulesResponse
	if code != 0 || json.Unmarshal([]byte(stdout), &ls) != nil || len(ls.Schedules) != 1 {
		t.Fatalf("schedule ls --json: %d %s %s", code, stdout, stderr)
	}
	if s := ls.Schedules[0]; s.Name != "tick" || len(s.NextRuns) == 0 || time.Until(s.NextRuns[0]) > 3*time.Second || time.Until(s.NextRuns[0]) < -2*time.Second {
		t.Fatalf("schedule ls: %+v; want tick with its next run within 2s", s)
	}

	tasks := waitTasks(t, env, "tick", 3, up)
	checkSpacing(t, tasks)
	for _, s := range tasks {
		if s.Goal != "say tick" {
			t.Fatalf("task %s goal %q", s.ID, s.Goal)
		}
	}
	if last := tasks[len(tasks)-1]; last.CreatedAt.Sub(tasks[0].CreatedAt) > time.Duration(len(tasks))*3*time.Second {
		t.Fatalf("%d tasks over %s: not about one every 2s", len(tasks), last.CreatedAt.Sub(tasks[0].CreatedAt))
	}
	// ls shows the last run and its result once a task completed.
	deadline := time.Now().Add(20 * time.Second)
	for {
		stdout, _, code = run(t, env, "viber", "schedule", "ls")
		if code == 0 && strings.Contains(stdout, "completed: echo: say tick") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("schedule ls never showed a completed last run:\n%s", stdout)
		}
		time.Sleep(300 * time.Millisecond)
	}

	// Kill everything (gateway, NATS, daemon: one process) and start
	// again on the same data: the schedule goes on, and no firing makes
	// two tasks.
	before := len(scheduleTasks(t, env, "tick"))
	_ = up.cmd.Process.Kill()
	_ = up.cmd.Wait()
	up2 := start(t, env, "viber", upArgs...)
	waitHealthy(t, httpAddr, up2)
	tasks = waitTasks(t, env, "tick", before+3, up2)
	checkSpacing(t, tasks)

	stdout, _, code = run(t, env, "viber", "schedule", "show", "tick")
	if code != 0 || !strings.Contains(stdout, "recent runs:") || !strings.Contains(stdout, "every 2s") {
		t.Fatalf("schedule show: %d\n%s", code, stdout)
	}
	stdout, _, code = run(t, env, "viber", "schedule", "show", "tick", "--json")
	var shown bus.ScheduleView
	if code != 0 || json.Unmarshal([]byte(stdout), &shown) != nil || shown.Name != "tick" || len(shown.Runs) == 0 {
		t.Fatalf("schedule show NAME --json: %d\n%s", code, stdout)
	}

	// rm stops it: three intervals pass without a new task.
	if _, stderr, code := run(t, env, "viber", "schedule", "rm", "tick"); code != 0 {
		t.Fatalf("schedule rm: %d %s", code, stderr)
	}
	n := len(scheduleTasks(t, env, "tick"))
	stop := time.Now().Add(6 * time.Second)
	for time.Now().Before(stop) {
		if got := len(scheduleTasks(t, env, "tick")); got > n+1 {
			t.Fatalf("%d tasks after rm, had %d", got, n)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if _, stderr, code := run(t, env, "viber", "schedule", "show", "tick"); code == 0 || !strings.Contains(stderr, "schedule ls") {
		t.Fatalf("show after rm: %d %q", code, stderr)
	}
	up2.stop(t)
}

func TestCLINotifyWebhook(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses POSIX signals")
	}
	t.Parallel()
	const secret = "hook-secret"
	var (
		mu    sync.Mutex
		calls int
		good  []string
		bad   []string
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if !bus.VerifyWebhook([]byte(secret), body, r.Header.Get(bus.HeaderWebhookSignature)) {
			bad = append(bad, fmt.Sprintf("call %d: bad signature %q", calls, r.Header.Get(bus.HeaderWebhookSignature)))
		}
		if calls == 1 {
			http.Error(w, "try later", http.StatusInternalServerError)
			return
		}
		good = append(good, r.Header.Get(bus.HeaderIdempotencyKey))
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rcv.Close)

	fake := openaitest.New(t, openaitest.Echo)
	natsAddr, httpAddr := freeAddr(t), freeAddr(t)
	env := append(modelEnv(fake), "VIBER_NATS_URL=nats://"+natsAddr, "VIBER_HOME="+t.TempDir())
	up := start(t, env, "viber", "up", "--data", t.TempDir(), "--nats-listen", natsAddr, "--http-listen", httpAddr,
		"--webhook-secret", secret, "--webhook-allow-private")
	waitHealthy(t, httpAddr, up)

	stdout, stderr, code := run(t, env, "viber", "task", "submit", "--wait", "--notify", rcv.URL+"/done", "hello")
	if code != 0 || strings.TrimSpace(stdout) != "echo: hello" {
		t.Fatalf("submit: %d %q %q", code, stdout, stderr)
	}
	id := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(stderr, "\n", 2)[0], "task "))
	// Retries start after a second; wait for the delivery to be recorded.
	deadline := time.Now().Add(30 * time.Second)
	for {
		stdout, _, code = run(t, env, "viber", "task", "show", id)
		if code == 0 && strings.Contains(stdout, "webhook:  completed delivered") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task show never said the webhook was delivered:\n%s\n%s", stdout, up.out.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !strings.Contains(stdout, "after 2 attempt(s), last HTTP 200") {
		t.Fatalf("task show: want delivery on the second attempt:\n%s", stdout)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 || len(good) != 1 || len(bad) != 0 {
		t.Fatalf("receiver: %d calls, successes %v, problems %v; want 2 calls, one success, valid signatures", calls, good, bad)
	}
	up.stop(t)
}

// TestDashboardSchedules adds a schedule through the Schedules page, sees
// its task run, pauses, fires and removes it from the page.
func TestDashboardSchedules(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	r := newRig(t, "", openaitest.Echo)
	_, g := r.gateway()
	r.daemon("d1")
	b := newBrowser(t, "http://"+g.HTTPAddr())

	b.open("/schedules")
	b.waitJS("empty schedule list", `!!document.querySelector('.empty')`, 5*time.Second)
	b.do("add a schedule", 10*time.Second,
		chromedp.SendKeys(chromedp.CSS(`#sched-name`), "pulse"),
		chromedp.SetValue(chromedp.CSS(`#sched-kind`), "every"),
		chromedp.SendKeys(chromedp.CSS(`#sched-when`), "1s"),
		chromedp.SendKeys(chromedp.CSS(`#sched-goal`), "say pulse"),
		chromedp.Click(chromedp.CSS(`form[data-testid=new-schedule] button[type=submit]`)),
	)
	b.waitJS("schedule listed with its next run", `(() => { const row = document.querySelector('tr[data-schedule=pulse]'); return !!row && /^(in |now)/.test(row.querySelector('[data-testid=next-run]').textContent.trim()); })()`, 10*time.Second)
	b.waitJS("a completed last run", `document.querySelector('tr[data-schedule=pulse]')?.innerText.includes('echo: say pulse')`, 20*time.Second)
	b.shots("schedules")

	b.do("pause", 5*time.Second, chromedp.Click(chromedp.Search(`//tr[@data-schedule="pulse"]//button[text()="Pause"]`)))
	b.waitJS("paused", `document.querySelector('tr[data-schedule=pulse] [data-testid=next-run]')?.textContent.trim() === 'paused'`, 10*time.Second)
	v, err := r.client.Schedule(bustest.Context(t, 10*time.Second), "pulse")
	if err != nil || !v.Paused {
		t.Fatalf("after pause on the page: %+v %v", v, err)
	}
	before := len(v.Runs)
	b.do("run now", 5*time.Second, chromedp.Click(chromedp.Search(`//tr[@data-schedule="pulse"]//button[text()="Run now"]`)))
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err = r.client.Schedule(bustest.Context(t, 10*time.Second), "pulse")
		if err == nil && len(v.Runs) > before && v.Runs[len(v.Runs)-1].Manual {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run now made no manual run: %+v %v", v, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	eval[chromedp.Void](b, `window.confirm = () => true`)
	b.do("remove", 5*time.Second, chromedp.Click(chromedp.Search(`//tr[@data-schedule="pulse"]//button[text()="Remove"]`)))
	b.waitJS("removed", `!document.querySelector('tr[data-schedule=pulse]')`, 10*time.Second)
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestAgentScheduleTool: an agent asks to add a schedule ("remind me every
// Monday"); the call waits for approval (the tool's default policy is
// ask), and once approved the schedule exists and fires tasks.
func TestAgentScheduleTool(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", func(req *openaitest.Request) openaitest.Reply {
		if strings.Contains(req.LastUser(), "remind me") {
			if out := req.LastToolResult(); out != "" {
				return openaitest.Reply{Text: "done: " + out}
			}
			return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call("s1", "schedule",
				`{"action":"add","name":"monday","goal":"tell the team about the standup","cron":"0 9 * * MON","tz":"Europe/Paris"}`)}}
		}
		return openaitest.Reply{Text: "reminder sent"}
	})
	r.gateway()
	r.daemonOpts("d1", daemonOptions{Tools: tool.Options{Schedules: r.client}})
	task := r.submit("remind me every Monday at 9 about the standup")
	req := r.waitFor(task.ID, bus.TypeApprovalRequested, 20*time.Second)
	if ar := payload[bus.ApprovalRequested](t, req); ar.Tool != "schedule" {
		t.Fatalf("approval asked for %q, want schedule", ar.Tool)
	}
	if _, err := r.client.Schedule(r.ctx(5*time.Second), "monday"); !errors.Is(err, bus.ErrScheduleNotFound) {
		t.Fatalf("schedule before approval: %v, want none", err)
	}
	if _, err := r.client.Approve(r.ctx(5*time.Second), task.ID, "s1", "", "tester"); err != nil {
		t.Fatal(err)
	}
	events := r.follow(task.ID, 20*time.Second)
	res := results(t, events)
	if len(res) != 1 || res[0].IsError || !strings.Contains(res[0].Output, "added schedule monday (0 0 9 * * MON) in Europe/Paris") {
		t.Fatalf("tool results: %+v", res)
	}
	v, err := r.client.Schedule(r.ctx(5*time.Second), "monday")
	if err != nil || v.By != "agent" || v.Goal != "tell the team about the standup" || len(v.NextRuns) == 0 {
		t.Fatalf("schedule: %+v %v", v, err)
	}
	// It runs like any schedule: fire it now and its task completes.
	run, err := r.client.RunSchedule(r.ctx(5*time.Second), "monday")
	if err != nil {
		t.Fatal(err)
	}
	r.eventually(20*time.Second, "the schedule's task completed", func() bool {
		s, err := r.client.Task(r.ctx(time.Second), run.Task)
		return err == nil && s.State == bus.StateCompleted && s.Result == "reminder sent" && s.Schedule == "monday"
	})
}
