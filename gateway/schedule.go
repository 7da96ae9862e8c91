package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/roster"
)

// maxScheduleName bounds a schedule's name (it is a subject token).
const maxScheduleName = 48

// queueRetry is how often a queued firing checks whether the previous
// run ended.
const queueRetry = 2 * time.Second

// setupSchedules creates the schedule stream, bucket and consumer. A NATS
// server without message schedules leaves the gateway running without
// them: schedule requests answer the error naming the version needed.
func (g *Gateway) setupSchedules(ctx context.Context) error {
	err := bus.SetupSchedules(ctx, g.js, g.cfg.NC.ConnectedServerVersion(), g.cfg.ScheduleAckWait, g.cfg.Setup)
	if errors.Is(err, bus.ErrUnsupported) {
		g.schedErr = err
		g.log.Warn().Err(err).Msg("schedules are off")
		return nil
	}
	if err != nil {
		return err
	}
	if g.schedules, err = bus.OpenSchedules(ctx, g.js); err != nil {
		return err
	}
	if g.schedStream, err = g.js.Stream(ctx, bus.ScheduleStream); err != nil {
		return fmt.Errorf("open stream %s: %w", bus.ScheduleStream, err)
	}
	return nil
}

// startScheduler consumes firings until the gateway stops.
func (g *Gateway) startScheduler(ctx context.Context) error {
	if g.schedErr != nil {
		return nil
	}
	var cons jetstream.Consumer
	err := g.retry(ctx, "open the schedule consumer", func(ctx context.Context) (err error) {
		cons, err = g.js.Consumer(ctx, bus.ScheduleStream, bus.ScheduleConsumer)
		return err
	})
	if err != nil {
		return fmt.Errorf("open consumer %s: %w", bus.ScheduleConsumer, err)
	}
	fctx, cancel := context.WithCancel(ctx)
	cc, err := cons.Consume(func(m jetstream.Msg) { g.handleFiring(fctx, m) },
		jetstream.PullMaxMessages(16), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if fctx.Err() == nil && !errors.Is(err, jetstream.ErrNoHeartbeat) {
				g.log.Debug().Err(err).Msg("schedule consumer")
			}
		}))
	if err != nil {
		cancel()
		return fmt.Errorf("consume firings: %w", err)
	}
	g.stopScheduler = func() { cancel(); cc.Stop() }
	return nil
}

// handleFiring turns one firing into a task. The task id comes from the
// schedule name and the firing's time, so handling a firing again (a
// gateway died before acknowledging it, or two gateways share the
// consumer) finds the task instead of making another.
func (g *Gateway) handleFiring(ctx context.Context, m jetstream.Msg) {
	name, ok := bus.ScheduleNameFromFire(m.Subject())
	if !ok {
		_ = m.Term()
		return
	}
	md, err := m.Metadata()
	if err != nil {
		_ = m.Term()
		return
	}
	log := g.log.With().Str("schedule", name).Uint64("firing", md.Sequence.Stream).Logger()
	retry := func(err error) {
		if ctx.Err() == nil {
			log.Warn().Err(err).Msg("handling a firing failed; retrying")
			_ = m.NakWithDelay(queueRetry)
		}
	}
	fired, manual := md.Timestamp.UTC(), false
	if v := m.Headers().Get(bus.HeaderScheduleManual); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			fired, manual = t.UTC(), true
		}
	}
	sc, _, err := g.schedules.Get(ctx, name)
	if errors.Is(err, bus.ErrScheduleNotFound) {
		_ = m.Ack() // removed since
		return
	}
	if err != nil {
		retry(err)
		return
	}
	next := m.Headers().Get(bus.HeaderScheduleNext)
	run := bus.ScheduleRun{Time: fired, Manual: manual}
	taskID := bus.FiringTaskID(name, fired)

	if _, err := g.tasks.HeadSeq(ctx, taskID); err == nil {
		// Made by an earlier attempt at this firing.
		run.Task = taskID
		g.finishFiring(ctx, m, name, run, next)
		return
	} else if !errors.Is(err, bus.ErrTaskNotFound) {
		retry(err)
		return
	}
	if sc.Paused && !manual {
		run.Skipped = "paused"
		g.finishFiring(ctx, m, name, run, next)
		return
	}
	if !manual {
		last, err := g.schedStream.GetLastMsgForSubject(ctx, m.Subject())
		if err == nil && last.Sequence > md.Sequence.Stream && last.Header.Get(bus.HeaderScheduleManual) == "" {
			// The gateway fell behind (it was down): fire once, for the
			// latest firing, rather than catching up a storm.
			run.Skipped = "missed: a later firing is stored"
			g.finishFiring(ctx, m, name, run, "")
			return
		}
	}
	if sc.LastTask != "" {
		prev, err := g.taskSummary(ctx, sc.LastTask)
		if err != nil && !errors.Is(err, bus.ErrTaskNotFound) {
			retry(err)
			return
		}
		if err == nil && !prev.State.Terminal() {
			if sc.Overlap == bus.OverlapQueue {
				_ = m.NakWithDelay(queueRetry)
				return
			}
			run.Skipped = fmt.Sprintf("previous run %s is still %s", prev.ID, prev.State)
			g.finishFiring(ctx, m, name, run, next)
			return
		}
	}
	req := &bus.CreateTaskRequest{
		Goal: sc.Goal, Daemon: sc.Daemon, Model: sc.Model, Skills: sc.Skills, Tools: sc.Tools, Agent: sc.Agent, Policy: sc.Policy,
		Notify: sc.Notify, Submitter: "schedule/" + name,
	}
	sum, err := g.createTask(ctx, req, taskID, name)
	if err != nil {
		switch bus.CodeOf(err) {
		case bus.CodeInternal, bus.CodeUnavailable, bus.CodeConflict:
			retry(err)
		default:
			log.Warn().Err(err).Msg("the schedule's task could not be created")
			run.Skipped = "could not create the task: " + err.Error()
			g.finishFiring(ctx, m, name, run, next)
		}
		return
	}
	if g.firingMade != nil {
		g.firingMade(sum.ID)
	}
	run.Task = sum.ID
	log.Info().Str("task", sum.ID).Bool("manual", manual).Msg("schedule fired")
	g.finishFiring(ctx, m, name, run, next)
}

// finishFiring records a firing's run on its schedule and acknowledges it.
func (g *Gateway) finishFiring(ctx context.Context, m jetstream.Msg, name string, run bus.ScheduleRun, next string) {
	_, err := g.schedules.Change(ctx, name, func(sc *bus.Schedule) error {
		sc.AddRun(run)
		if run.Task != "" && (sc.LastRun == nil || !run.Time.Before(*sc.LastRun)) {
			t := run.Time
			sc.LastRun, sc.LastTask = &t, run.Task
		}
		switch {
		case next == bus.ScheduleNextPurge:
			sc.Done, sc.NextFire = true, nil
		case next != "":
			if t, err := time.Parse(time.RFC3339Nano, next); err == nil {
				t = t.UTC()
				sc.NextFire = &t
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, bus.ErrScheduleNotFound) {
		if ctx.Err() == nil {
			g.log.Warn().Err(err).Str("schedule", name).Msg("recording a firing failed; retrying")
			_ = m.NakWithDelay(queueRetry)
		}
		return
	}
	if err := m.DoubleAck(ctx); err != nil && ctx.Err() == nil {
		g.log.Warn().Err(err).Str("schedule", name).Msg("acknowledging a firing failed (handling it again finds its task)")
	}
}

// taskSummary is a task's summary from the projection, or folded from
// the log when the projection does not have it yet.
func (g *Gateway) taskSummary(ctx context.Context, id string) (*bus.Summary, error) {
	if s, _, err := g.summaries.Get(ctx, id); err == nil {
		return s, nil
	}
	return g.Task(ctx, id)
}

func (g *Gateway) schedulesOn() error {
	if g.schedErr != nil {
		return g.schedErr
	}
	return nil
}

// AddSchedule validates and stores a schedule, then gives its schedule
// message to the NATS server, which fires it from then on.
func (g *Gateway) AddSchedule(ctx context.Context, req *bus.AddScheduleRequest) (*bus.ScheduleView, error) {
	if err := g.schedulesOn(); err != nil {
		return nil, err
	}
	var problems []string
	if !bus.ValidToken(req.Name) || len(req.Name) > maxScheduleName {
		problems = append(problems, fmt.Sprintf("name %q: use 1-%d letters, digits, '-' or '_'", req.Name, maxScheduleName))
	}
	if err := checkGoal(req.Goal); err != nil {
		return nil, err
	}
	overlap := req.Overlap
	if overlap == "" {
		overlap = bus.OverlapSkip
	}
	if overlap != bus.OverlapSkip && overlap != bus.OverlapQueue {
		problems = append(problems, fmt.Sprintf("overlap %q: want skip or queue", req.Overlap))
	}
	if req.Daemon != "" && !bus.ValidToken(req.Daemon) {
		problems = append(problems, fmt.Sprintf("daemon id %q is not valid", req.Daemon))
	}
	for _, s := range req.Skills {
		if !bus.ValidToken(s) {
			problems = append(problems, fmt.Sprintf("skill name %q is not valid", s))
		}
	}
	for _, t := range req.Tools {
		if !bus.ValidToken(t) {
			problems = append(problems, fmt.Sprintf("tool name %q is not valid", t))
		}
	}
	if req.Agent != "" && !roster.ValidName(req.Agent) {
		problems = append(problems, fmt.Sprintf("agent name %q is not valid (a-z, 0-9 and \"-\")", req.Agent))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", bus.ErrMalformed, strings.Join(problems, "; "))
	}
	if err := g.checkNotify(req.Notify); err != nil {
		return nil, err
	}
	spec, err := parseSpec(req.Cron, req.TZ, req.Every, req.At)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	if !spec.at.IsZero() && !spec.at.After(now) {
		return nil, fmt.Errorf("%w: --at %s is in the past", bus.ErrMalformed, spec.at.Format(time.RFC3339))
	}
	sc := &bus.Schedule{
		Name: req.Name, Cron: strings.Join(strings.Fields(req.Cron), " "), TZ: spec.tz, Every: bus.Duration(spec.every), Pattern: spec.pattern,
		Goal: req.Goal, Daemon: req.Daemon, Model: req.Model, Skills: req.Skills, Tools: req.Tools, Agent: req.Agent, Policy: req.Policy, Notify: req.Notify,
		Overlap: overlap, By: req.By, ArmedAt: now, CreatedAt: now,
	}
	if !spec.at.IsZero() {
		at := spec.at
		sc.At = &at
	}
	if _, err := g.schedules.Create(ctx, sc); err != nil {
		return nil, err
	}
	if err := g.arm(ctx, sc, spec); err != nil {
		_ = g.schedules.Delete(context.WithoutCancel(ctx), sc.Name)
		return nil, err
	}
	g.log.Info().Str("schedule", sc.Name).Str("pattern", sc.Pattern).Str("tz", sc.TZ).Msg("schedule added")
	return g.scheduleView(ctx, sc, false), nil
}

// arm stores the schedule message the server fires from.
func (g *Gateway) arm(ctx context.Context, sc *bus.Schedule, spec *scheduleSpec) error {
	body, err := json.Marshal(map[string]string{"schedule": sc.Name})
	if err != nil {
		return err
	}
	m := nats.NewMsg(bus.ScheduleSubject(sc.Name))
	m.Data = body
	m.Header.Set(bus.HeaderSchedule, spec.pattern)
	m.Header.Set(bus.HeaderScheduleTarget, bus.FireSubject(sc.Name))
	m.Header.Set(bus.HeaderScheduleTTL, bus.FiringTTL)
	if spec.tz != "" {
		m.Header.Set(bus.HeaderScheduleTimeZone, spec.tz)
	}
	if _, err := g.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("give schedule %s to the NATS server: %w", sc.Name, err)
	}
	return nil
}

// disarm removes a schedule's message: the server stops firing it.
func (g *Gateway) disarm(ctx context.Context, name string) error {
	if err := g.schedStream.Purge(ctx, jetstream.WithPurgeSubject(bus.ScheduleSubject(name))); err != nil {
		return fmt.Errorf("remove schedule %s from the NATS server: %w", name, err)
	}
	return nil
}

// PauseSchedule stops a schedule's firings until it is resumed.
func (g *Gateway) PauseSchedule(ctx context.Context, name string) (*bus.ScheduleView, error) {
	if err := g.schedulesOn(); err != nil {
		return nil, err
	}
	sc, err := g.schedules.Change(ctx, name, func(sc *bus.Schedule) error {
		sc.Paused, sc.NextFire = true, nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := g.disarm(ctx, name); err != nil {
		return nil, err
	}
	return g.scheduleView(ctx, sc, false), nil
}

// ResumeSchedule gives a paused schedule back to the server.
func (g *Gateway) ResumeSchedule(ctx context.Context, name string) (*bus.ScheduleView, error) {
	if err := g.schedulesOn(); err != nil {
		return nil, err
	}
	var spec *scheduleSpec
	sc, err := g.schedules.Change(ctx, name, func(sc *bus.Schedule) error {
		if sc.Done {
			return fmt.Errorf("schedule %s fired its one time already; add a new one: %w", name, bus.ErrTerminal)
		}
		var err error
		if spec, err = specOf(sc); err != nil {
			return err
		}
		if !spec.at.IsZero() && !spec.at.After(time.Now()) {
			return fmt.Errorf("%w: schedule %s was due at %s, which passed while it was paused; add a new one", bus.ErrMalformed, name, spec.at.Format(time.RFC3339))
		}
		sc.Paused, sc.ArmedAt, sc.NextFire = false, time.Now().UTC(), nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := g.arm(ctx, sc, spec); err != nil {
		return nil, err
	}
	return g.scheduleView(ctx, sc, false), nil
}

// RemoveSchedule stops a schedule and forgets it (its tasks stay).
func (g *Gateway) RemoveSchedule(ctx context.Context, name string) error {
	if err := g.schedulesOn(); err != nil {
		return err
	}
	if _, _, err := g.schedules.Get(ctx, name); err != nil {
		return err
	}
	if err := g.disarm(ctx, name); err != nil {
		return err
	}
	if err := g.schedStream.Purge(ctx, jetstream.WithPurgeSubject(bus.FireSubject(name))); err != nil {
		return fmt.Errorf("remove firings of %s: %w", name, err)
	}
	if err := g.schedules.Delete(ctx, name); err != nil {
		return err
	}
	g.log.Info().Str("schedule", name).Msg("schedule removed")
	return nil
}

// RunSchedule fires a schedule now, paused or not, with its overlap
// policy. The firing is stored like the server's, so it makes exactly one
// task even if the gateway stops halfway.
func (g *Gateway) RunSchedule(ctx context.Context, name string) (*bus.RunScheduleResponse, error) {
	if err := g.schedulesOn(); err != nil {
		return nil, err
	}
	if _, _, err := g.schedules.Get(ctx, name); err != nil {
		return nil, err
	}
	fired := time.Now().UTC()
	m := nats.NewMsg(bus.FireSubject(name))
	m.Data = []byte(`{"schedule":"` + name + `"}`)
	m.Header.Set(bus.HeaderScheduleManual, fired.Format(time.RFC3339Nano))
	if _, err := g.js.PublishMsg(ctx, m, jetstream.WithMsgID("run-"+name+"-"+strconv.FormatInt(fired.UnixNano(), 10))); err != nil {
		return nil, fmt.Errorf("fire schedule %s: %w", name, err)
	}
	return &bus.RunScheduleResponse{Schedule: name, Fired: fired, Task: bus.FiringTaskID(name, fired)}, nil
}

// Schedule returns one schedule with its recent runs and their outcome.
func (g *Gateway) Schedule(ctx context.Context, name string) (*bus.ScheduleView, error) {
	if err := g.schedulesOn(); err != nil {
		return nil, err
	}
	sc, _, err := g.schedules.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return g.scheduleView(ctx, sc, true), nil
}

// ListSchedules returns every schedule by name.
func (g *Gateway) ListSchedules(ctx context.Context) (*bus.ListSchedulesResponse, error) {
	if err := g.schedulesOn(); err != nil {
		return nil, err
	}
	list, err := g.schedules.List(ctx)
	if err != nil {
		return nil, err
	}
	out := &bus.ListSchedulesResponse{Schedules: make([]*bus.ScheduleView, 0, len(list))}
	for _, sc := range list {
		out.Schedules = append(out.Schedules, g.scheduleView(ctx, sc, false))
	}
	return out, nil
}

// scheduleView adds the next firings and the latest outcome (and with
// runs, every recent run's) to a schedule.
func (g *Gateway) scheduleView(ctx context.Context, sc *bus.Schedule, runs bool) *bus.ScheduleView {
	v := &bus.ScheduleView{Schedule: *sc}
	if !sc.Paused && !sc.Done {
		if spec, err := specOf(sc); err == nil {
			var nf time.Time
			if sc.NextFire != nil {
				nf = *sc.NextFire
			}
			v.NextRuns = spec.next(time.Now().UTC(), sc.ArmedAt, nf, 5)
		}
	}
	outcome := func(id string) (bus.State, string) {
		s, err := g.taskSummary(ctx, id)
		if err != nil {
			return "", ""
		}
		res := s.Result
		if s.State == bus.StateFailed {
			res = s.Error
		}
		return s.State, res
	}
	if sc.LastTask != "" {
		v.LastState, v.LastResult = outcome(sc.LastTask)
	}
	if !runs {
		v.Runs = nil
		return v
	}
	v.Runs = append([]bus.ScheduleRun(nil), sc.Runs...)
	for i := range v.Runs {
		if v.Runs[i].Task != "" {
			v.Runs[i].State, v.Runs[i].Result = outcome(v.Runs[i].Task)
		}
	}
	return v
}
