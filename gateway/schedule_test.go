package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
	"github.com/viberhq/viber/client"
)

// eventually polls cond until it holds or d passes; what describes the
// condition in the failure.
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s did not happen; last seen: %s", d, what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startGateway starts a gateway on env with cfg's extra settings.
func startGateway(t *testing.T, env *bustest.Env, cfg Config) *Gateway {
	t.Helper()
	cfg.NC = env.Connect(t, "gateway")
	if cfg.HTTPListen == "" {
		cfg.HTTPListen = "none"
	}
	cfg.Logger = zerolog.Nop()
	ctx, cancel := context.WithCancel(context.Background())
	g, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); g.Stop() })
	return g
}

// scheduledTasks lists the tasks a schedule made, read from the log's
// projection.
func scheduledTasks(t *testing.T, g *Gateway, name string) []*bus.Summary {
	t.Helper()
	resp, err := g.ListTasks(context.Background(), &bus.ListTasksRequest{Schedule: name, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Tasks
}

// cancelPending ends every pending task of a schedule (there is no
// daemon in these tests), so the skip policy lets the next firing run.
func cancelPending(t *testing.T, g *Gateway, name string) {
	t.Helper()
	for _, s := range scheduledTasks(t, g, name) {
		if s.State == bus.StatePending {
			if _, err := g.CancelTask(context.Background(), &bus.CancelTaskRequest{ID: s.ID, Reason: "test"}); err != nil && !errors.Is(err, bus.ErrTerminal) {
				t.Fatalf("cancel %s: %v", s.ID, err)
			}
		}
	}
}

func TestScheduleEveryMakesTasksUntilRemoved(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	g := startGateway(t, env, Config{})
	ctx := bustest.Context(t, 60*time.Second)

	v, err := g.AddSchedule(ctx, &bus.AddScheduleRequest{Name: "tick", Every: "1s", Goal: "say tick", Model: "m/x", Skills: nil})
	if err != nil {
		t.Fatal(err)
	}
	if v.Pattern != "@every 1s" || len(v.NextRuns) == 0 || !v.NextRuns[0].After(time.Now().Add(-time.Second)) {
		t.Fatalf("added schedule: pattern %q next %v", v.Pattern, v.NextRuns)
	}
	if _, err := g.AddSchedule(ctx, &bus.AddScheduleRequest{Name: "tick", Every: "1s", Goal: "again"}); !errors.Is(err, bus.ErrConflict) {
		t.Fatalf("adding tick twice: %v, want a conflict", err)
	}
	eventually(t, 20*time.Second, "three tasks from schedule tick", func() (bool, string) {
		cancelPending(t, g, "tick")
		n := len(scheduledTasks(t, g, "tick"))
		return n >= 3, fmt.Sprintf("%d tasks", n)
	})
	tasks := scheduledTasks(t, g, "tick")
	for _, s := range tasks {
		if s.Goal != "say tick" || s.Model != "m/x" || s.Schedule != "tick" {
			t.Fatalf("task %s: goal %q model %q schedule %q", s.ID, s.Goal, s.Model, s.Schedule)
		}
	}
	list, err := g.ListSchedules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Schedules) != 1 || list.Schedules[0].LastTask == "" || len(list.Schedules[0].NextRuns) == 0 || list.Schedules[0].LastRun == nil {
		t.Fatalf("schedule list: %+v", list.Schedules)
	}
	if next := list.Schedules[0].NextRuns[0]; next.Before(time.Now().Add(-2*time.Second)) || next.After(time.Now().Add(3*time.Second)) {
		t.Fatalf("next run %s is not about a second from now", next)
	}

	if err := g.RemoveSchedule(ctx, "tick"); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Schedule(ctx, "tick"); !errors.Is(err, bus.ErrScheduleNotFound) {
		t.Fatalf("schedule after rm: %v, want not found", err)
	}
	// The server no longer holds the schedule message...
	if _, err := g.schedStream.GetLastMsgForSubject(ctx, bus.ScheduleSubject("tick")); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("schedule message after rm: %v, want none", err)
	}
	// ...so three more intervals pass without a task.
	before := len(scheduledTasks(t, g, "tick"))
	deadline := time.Now().Add(3500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if n := len(scheduledTasks(t, g, "tick")); n > before+1 {
			// One firing may have been in flight when rm ran.
			t.Fatalf("%d tasks after rm, had %d", n, before)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestFiringHandledAgainAfterCrashMakesOneTask(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx := bustest.Context(t, 60*time.Second)

	// The first gateway makes the task, then dies before acknowledging
	// the firing.
	made := make(chan string, 4)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	cfg1 := Config{ID: "gw1", ScheduleAckWait: time.Second}
	cfg1.NC = env.Connect(t, "gw1")
	cfg1.HTTPListen, cfg1.Logger = "none", zerolog.Nop()
	gctx, gcancel := context.WithCancel(context.Background())
	g1, err := New(gctx, cfg1)
	if err != nil {
		t.Fatal(err)
	}
	g1.firingMade = func(id string) {
		made <- id
		<-release
	}
	if err := g1.Start(gctx); err != nil {
		t.Fatal(err)
	}
	if _, err := g1.AddSchedule(ctx, &bus.AddScheduleRequest{Name: "once", Cron: "0 0 1 1 *", Goal: "new year"}); err != nil {
		t.Fatal(err)
	}
	fired, err := g1.RunSchedule(ctx, "once")
	if err != nil {
		t.Fatal(err)
	}
	var first string
	select {
	case first = <-made:
	case <-ctx.Done():
		t.Fatal("the first gateway never made the firing's task")
	}
	if first != fired.Task {
		t.Fatalf("task %s, run said %s", first, fired.Task)
	}
	// Kill: the connection goes away with the firing unacknowledged.
	cfg1.NC.Close()
	gcancel()

	g2 := startGateway(t, env, Config{ID: "gw2", ScheduleAckWait: time.Second})
	eventually(t, 20*time.Second, "the restarted gateway records the firing's run", func() (bool, string) {
		v, err := g2.Schedule(ctx, "once")
		if err != nil {
			return false, err.Error()
		}
		return v.LastTask == first && len(v.Runs) == 1, fmt.Sprintf("last task %q runs %+v", v.LastTask, v.Runs)
	})
	eventually(t, 10*time.Second, "the projection shows the firing's task", func() (bool, string) {
		var ids []string
		for _, s := range scheduledTasks(t, g2, "once") {
			ids = append(ids, s.ID)
		}
		if len(ids) > 1 {
			t.Fatalf("tasks of schedule once: %v, want only %s", ids, first)
		}
		return len(ids) == 1 && ids[0] == first, fmt.Sprint(ids)
	})
	// The firing is acknowledged now: nothing is pending on the consumer.
	eventually(t, 10*time.Second, "the firing acknowledged", func() (bool, string) {
		c, err := env.JS.Consumer(ctx, bus.ScheduleStream, bus.ScheduleConsumer)
		if err != nil {
			return false, err.Error()
		}
		info, err := c.Info(ctx)
		if err != nil {
			return false, err.Error()
		}
		return info.NumAckPending == 0 && info.NumPending == 0, fmt.Sprintf("ack pending %d, pending %d", info.NumAckPending, info.NumPending)
	})
	// A second create with the same id returns the task, not a new one.
	again, err := g2.createTask(ctx, &bus.CreateTaskRequest{Goal: "new year"}, first, "once")
	if err != nil || again.ID != first {
		t.Fatalf("create again: %v, %v", again, err)
	}
	if n, _ := g2.tasks.HeadSeq(ctx, first); n == 0 {
		t.Fatalf("task %s has no head", first)
	}
	events, err := g2.tasks.Events(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Type != bus.TypeCreated {
		t.Fatalf("task %s has %d events, want only created", first, len(events))
	}
}

func TestScheduleOverlapSkipAndPause(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	g := startGateway(t, env, Config{})
	ctx := bustest.Context(t, 60*time.Second)
	if _, err := g.AddSchedule(ctx, &bus.AddScheduleRequest{Name: "busy", Every: "1s", Goal: "work"}); err != nil {
		t.Fatal(err)
	}
	// Nothing runs the first task, so later firings are skipped.
	eventually(t, 20*time.Second, "a skipped firing", func() (bool, string) {
		v, err := g.Schedule(ctx, "busy")
		if err != nil {
			return false, err.Error()
		}
		for _, r := range v.Runs {
			if strings.HasPrefix(r.Skipped, "previous run") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("runs %+v", v.Runs)
	})
	if n := len(scheduledTasks(t, g, "busy")); n != 1 {
		t.Fatalf("%d tasks while the first never ended, want 1", n)
	}
	v, err := g.PauseSchedule(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	if !v.Paused || len(v.NextRuns) != 0 {
		t.Fatalf("paused schedule: paused %v next %v", v.Paused, v.NextRuns)
	}
	if _, err := g.schedStream.GetLastMsgForSubject(ctx, bus.ScheduleSubject("busy")); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("schedule message while paused: %v, want none", err)
	}
	v, err = g.ResumeSchedule(ctx, "busy")
	if err != nil || v.Paused || len(v.NextRuns) == 0 {
		t.Fatalf("resume: %+v %v", v, err)
	}
	if _, err := g.schedStream.GetLastMsgForSubject(ctx, bus.ScheduleSubject("busy")); err != nil {
		t.Fatalf("schedule message after resume: %v", err)
	}
}

func TestScheduleRequestsRefused(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	g := startGateway(t, env, Config{})
	ctx := bustest.Context(t, 30*time.Second)
	for _, tc := range []struct {
		name string
		req  bus.AddScheduleRequest
		want error
	}{
		{"no spec", bus.AddScheduleRequest{Name: "a", Goal: "g"}, bus.ErrMalformed},
		{"two specs", bus.AddScheduleRequest{Name: "a", Goal: "g", Every: "1m", Cron: "* * * * *"}, bus.ErrMalformed},
		{"bad cron", bus.AddScheduleRequest{Name: "a", Goal: "g", Cron: "61 * * * *"}, bus.ErrMalformed},
		{"tz without cron", bus.AddScheduleRequest{Name: "a", Goal: "g", Every: "1m", TZ: "Europe/Paris"}, bus.ErrMalformed},
		{"bad tz", bus.AddScheduleRequest{Name: "a", Goal: "g", Cron: "0 9 * * *", TZ: "Mars/Olympus"}, bus.ErrMalformed},
		{"sub-second", bus.AddScheduleRequest{Name: "a", Goal: "g", Every: "500ms"}, bus.ErrMalformed},
		{"past at", bus.AddScheduleRequest{Name: "a", Goal: "g", At: "2001-01-01T00:00:00Z"}, bus.ErrMalformed},
		{"bad name", bus.AddScheduleRequest{Name: "a.b", Goal: "g", Every: "1m"}, bus.ErrMalformed},
		{"no goal", bus.AddScheduleRequest{Name: "a", Every: "1m"}, bus.ErrMalformed},
		{"bad overlap", bus.AddScheduleRequest{Name: "a", Goal: "g", Every: "1m", Overlap: "stack"}, bus.ErrMalformed},
		{"bad agent", bus.AddScheduleRequest{Name: "a", Goal: "g", Every: "1m", Agent: "Bad_Name"}, bus.ErrMalformed},
		{"notify without secret", bus.AddScheduleRequest{Name: "a", Goal: "g", Every: "1m", Notify: "https://example.com/hook"}, bus.ErrUnsupported},
	} {
		if _, err := g.AddSchedule(ctx, &tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	for _, f := range []func() error{
		func() error { _, err := g.Schedule(ctx, "nope"); return err },
		func() error { _, err := g.PauseSchedule(ctx, "nope"); return err },
		func() error { _, err := g.RunSchedule(ctx, "nope"); return err },
		func() error { return g.RemoveSchedule(ctx, "nope") },
	} {
		if err := f(); !errors.Is(err, bus.ErrScheduleNotFound) {
			t.Errorf("unknown schedule: %v, want not found", err)
		}
	}
	// A cron in a time zone is accepted and previews its runs there.
	v, err := g.AddSchedule(ctx, &bus.AddScheduleRequest{Name: "paris", Goal: "g", Cron: "0 9 * * 1-5", TZ: "Europe/Paris"})
	if err != nil {
		t.Fatal(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	if v.Pattern != "0 0 9 * * 1-5" || len(v.NextRuns) != 5 {
		t.Fatalf("paris: pattern %q next %v", v.Pattern, v.NextRuns)
	}
	for _, r := range v.NextRuns {
		if l := r.In(paris); l.Hour() != 9 || l.Minute() != 0 || l.Weekday() == time.Saturday || l.Weekday() == time.Sunday {
			t.Fatalf("paris: next run %s", l)
		}
	}
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	v, err = g.AddSchedule(ctx, &bus.AddScheduleRequest{Name: "later", Goal: "g", At: at.Format(time.RFC3339)})
	if err != nil || len(v.NextRuns) != 1 || !v.NextRuns[0].Equal(at) {
		t.Fatalf("one-shot: %+v %v", v, err)
	}
}

func TestServerSupportsSchedules(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{"2.15.2": true, "2.12.0": true, "v2.12.0-beta.1": true, "2.11.9": false, "2.10.22": false, "3.0.0": true, "": false, "x": false} {
		if got := bus.ServerSupportsSchedules(v); got != want {
			t.Errorf("ServerSupportsSchedules(%q) = %v, want %v", v, got, want)
		}
	}
	err := bus.SetupSchedules(context.Background(), nil, "2.11.4", 0, bus.SetupOptions{})
	if !errors.Is(err, bus.ErrUnsupported) || !strings.Contains(err.Error(), "2.12") || !strings.Contains(err.Error(), "2.11.4") {
		t.Fatalf("old server: %v; want an unsupported error naming 2.12 and 2.11.4", err)
	}
}

// The overlap "queue" policy holds a firing until the previous run ends.
func TestScheduleOverlapQueue(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	g := startGateway(t, env, Config{})
	ctx := bustest.Context(t, 60*time.Second)
	if _, err := g.AddSchedule(ctx, &bus.AddScheduleRequest{Name: "q", Cron: "0 0 1 1 *", Goal: "work", Overlap: bus.OverlapQueue}); err != nil {
		t.Fatal(err)
	}
	first, err := g.RunSchedule(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the first run's task", func() (bool, string) {
		n := len(scheduledTasks(t, g, "q"))
		return n == 1, fmt.Sprintf("%d tasks", n)
	})
	second, err := g.RunSchedule(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	// The second firing waits while the first task is pending: it was
	// handled and put back at least once.
	eventually(t, 15*time.Second, "the second firing held back", func() (bool, string) {
		c, err := env.JS.Consumer(ctx, bus.ScheduleStream, bus.ScheduleConsumer)
		if err != nil {
			return false, err.Error()
		}
		info, err := c.Info(ctx)
		if err != nil {
			return false, err.Error()
		}
		return info.NumRedelivered >= 1 && info.NumAckPending == 1, fmt.Sprintf("redelivered %d ack pending %d", info.NumRedelivered, info.NumAckPending)
	})
	if _, err := g.tasks.HeadSeq(ctx, second.Task); !errors.Is(err, bus.ErrTaskNotFound) {
		t.Fatalf("second run's task exists while the first is unfinished: %v", err)
	}
	if _, err := g.CancelTask(ctx, &bus.CancelTaskRequest{ID: first.Task}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the queued run's task once the first ended", func() (bool, string) {
		_, err := g.tasks.HeadSeq(ctx, second.Task)
		return err == nil, fmt.Sprint(err)
	})
}

func TestScheduleAtFiresOnce(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	g := startGateway(t, env, Config{WebhookSecret: "k", WebhookAllowPrivate: true})
	ctx := bustest.Context(t, 60*time.Second)
	at := time.Now().UTC().Truncate(time.Second).Add(2 * time.Second)
	if _, err := g.AddSchedule(ctx, &bus.AddScheduleRequest{Name: "once", At: at.Format(time.RFC3339), Goal: "just once", Notify: "http://127.0.0.1:9/hook"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the one-shot's task and the schedule marked done", func() (bool, string) {
		v, err := g.Schedule(ctx, "once")
		if err != nil {
			return false, err.Error()
		}
		return v.Done && v.LastTask != "", fmt.Sprintf("done %v last task %q runs %+v", v.Done, v.LastTask, v.Runs)
	})
	v, _ := g.Schedule(ctx, "once")
	if len(v.NextRuns) != 0 || len(v.Runs) != 1 {
		t.Fatalf("done one-shot: next %v runs %+v", v.NextRuns, v.Runs)
	}
	if fired := v.LastRun; fired == nil || fired.Before(at.Add(-time.Second)) {
		t.Fatalf("fired at %v, due %s", fired, at)
	}
	sum, err := g.Task(ctx, v.LastTask)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Schedule != "once" || sum.Notify != "http://127.0.0.1:9/hook" || sum.Goal != "just once" {
		t.Fatalf("task: schedule %q notify %q goal %q", sum.Schedule, sum.Notify, sum.Goal)
	}
	// The server purged the schedule message after its last firing.
	eventually(t, 10*time.Second, "the schedule message purged", func() (bool, string) {
		_, err := g.schedStream.GetLastMsgForSubject(ctx, bus.ScheduleSubject("once"))
		return errors.Is(err, jetstream.ErrMsgNotFound), fmt.Sprint(err)
	})
	if _, err := g.ResumeSchedule(ctx, "once"); !errors.Is(err, bus.ErrTerminal) {
		t.Fatalf("resume a fired one-shot: %v, want terminal", err)
	}
}

// The schedule API over NATS (the client package) and HTTP.
func TestScheduleAPI(t *testing.T) {
	t.Parallel()
	r := newHTTPRig(t)
	ctx := bustest.Context(t, 30*time.Second)
	cl, err := client.New(r.env.Connect(t, "client"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := cl.AddSchedule(ctx, &bus.AddScheduleRequest{Name: "nats", Cron: "@daily", Goal: "g"})
	if err != nil || v.Pattern != "@daily" || len(v.NextRuns) == 0 {
		t.Fatalf("add over NATS: %+v %v", v, err)
	}
	var hv bus.ScheduleView
	if code := r.do("POST", "/api/schedules", &bus.AddScheduleRequest{Name: "http", Every: "1h", Goal: "g"}, &hv); code != 201 || hv.Name != "http" || hv.By != httpBy {
		t.Fatalf("POST /api/schedules: %d %+v", code, hv)
	}
	list, err := cl.Schedules(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "http" || list[1].Name != "nats" {
		t.Fatalf("list over NATS: %v %v", list, err)
	}
	var hl bus.ListSchedulesResponse
	if code := r.do("GET", "/api/schedules", nil, &hl); code != 200 || len(hl.Schedules) != 2 {
		t.Fatalf("GET /api/schedules: %d %+v", code, hl)
	}
	run, err := cl.RunSchedule(ctx, "nats")
	if err != nil || !bus.ValidToken(run.Task) {
		t.Fatalf("run over NATS: %+v %v", run, err)
	}
	eventually(t, 10*time.Second, "the run's task listed by schedule over HTTP", func() (bool, string) {
		var tl bus.ListTasksResponse
		code := r.do("GET", "/api/tasks?schedule=nats", nil, &tl)
		return code == 200 && len(tl.Tasks) == 1 && tl.Tasks[0].ID == run.Task, fmt.Sprintf("%d %+v", code, tl.Tasks)
	})
	var rr bus.RunScheduleResponse
	if code := r.do("POST", "/api/schedules/http/run", struct{}{}, &rr); code != 200 || rr.Schedule != "http" {
		t.Fatalf("POST run: %d %+v", code, rr)
	}
	if code := r.do("POST", "/api/schedules/http/pause", struct{}{}, &hv); code != 200 || !hv.Paused {
		t.Fatalf("POST pause: %d %+v", code, hv)
	}
	if v, err := cl.ResumeSchedule(ctx, "http"); err != nil || v.Paused {
		t.Fatalf("resume over NATS: %+v %v", v, err)
	}
	eventually(t, 10*time.Second, "the schedule's runs over HTTP", func() (bool, string) {
		code := r.do("GET", "/api/schedules/http", nil, &hv)
		return code == 200 && len(hv.Runs) == 1 && hv.Runs[0].Manual && hv.Runs[0].Task == rr.Task, fmt.Sprintf("%d %+v", code, hv.Runs)
	})
	var apiErr bus.APIError
	if code := r.do("GET", "/api/schedules/nope", nil, &apiErr); code != 404 || apiErr.Code != bus.CodeScheduleNotFound {
		t.Fatalf("GET unknown: %d %+v", code, apiErr)
	}
	if code := r.do("DELETE", "/api/schedules/http", nil, nil); code != 200 {
		t.Fatalf("DELETE: %d", code)
	}
	if err := cl.RemoveSchedule(ctx, "nats"); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Schedule(ctx, "nats"); !errors.Is(err, bus.ErrScheduleNotFound) {
		t.Fatalf("get removed over NATS: %v", err)
	}
	if ds, err := cl.Webhooks(ctx, run.Task); err != nil || len(ds) != 0 {
		t.Fatalf("webhooks of a task without notify: %v %v", ds, err)
	}
}

// Two gateways creating the task of one firing at once make one task.
func TestCreateTaskWithIDRacesToOneTask(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	g1 := startGateway(t, env, Config{ID: "gw1"})
	g2 := startGateway(t, env, Config{ID: "gw2"})
	ctx := bustest.Context(t, 30*time.Second)
	for i := range 5 {
		id := bus.FiringTaskID("race", time.Now().Add(time.Duration(i)*time.Second))
		var wg sync.WaitGroup
		got := make([]string, 2)
		errs := make([]error, 2)
		for j, g := range []*Gateway{g1, g2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := g.createTask(ctx, &bus.CreateTaskRequest{Goal: "race"}, id, "race")
				errs[j] = err
				if s != nil {
					got[j] = s.ID
				}
			}()
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil || got[0] != id || got[1] != id {
			t.Fatalf("round %d: ids %v errors %v, want both %s", i, got, errs, id)
		}
		events, err := g1.tasks.Events(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].Type != bus.TypeCreated {
			t.Fatalf("round %d: task %s has %d events, want one created", i, id, len(events))
		}
	}
}

// A schedule keeps the agent (and tools) its tasks need; a firing no
// daemon can take for that agent is recorded as skipped, naming why.
func TestScheduleCarriesItsAgent(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	g := startGateway(t, env, Config{})
	ctx := bustest.Context(t, 30*time.Second)
	if _, err := g.AddSchedule(ctx, &bus.AddScheduleRequest{Name: "review", Goal: "review the diff", Every: "1h", Agent: "reviewer", Tools: []string{"mcp_git_diff"}}); err != nil {
		t.Fatal(err)
	}
	sc, err := g.Schedule(ctx, "review")
	if err != nil || sc.Agent != "reviewer" || len(sc.Tools) != 1 {
		t.Fatalf("schedule: %+v %v; want agent reviewer and its tool", sc, err)
	}
	if _, err := g.RunSchedule(ctx, "review"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the firing recorded", func() (bool, string) {
		sc, err := g.Schedule(ctx, "review")
		if err != nil || len(sc.Runs) == 0 {
			return false, fmt.Sprint(sc, err)
		}
		skipped := sc.Runs[0].Skipped
		return strings.Contains(skipped, "could not create the task") && (strings.Contains(skipped, "reviewer") || strings.Contains(skipped, "mcp_git_diff")), fmt.Sprintf("%+v", sc.Runs[0])
	})
}
