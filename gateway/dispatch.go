package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/roster"
	"github.com/viberhq/viber/telemetry"
)

// CreateTask validates the request, appends the created event and queues
// the assignment. The returned summary is the task as pending.
func (g *Gateway) CreateTask(ctx context.Context, req *bus.CreateTaskRequest) (_ *bus.Summary, err error) {
	ctx, span := telemetry.Start(ctx, telemetry.SpanSubmit, trace.SpanKindProducer)
	defer func() { telemetry.End(span, err) }()
	return g.createTask(ctx, req, "", "")
}

// checkGoal refuses an empty, oversized or non-UTF-8 goal.
func checkGoal(goal string) error {
	switch {
	case strings.TrimSpace(goal) == "":
		return fmt.Errorf("%w: the goal is empty; say what the task should do", bus.ErrMalformed)
	case len(goal) > bus.MaxGoalBytes:
		return fmt.Errorf("%w: the goal is %d bytes; the limit is %d (put large material in a file in the workspace and refer to it)", bus.ErrTooLarge, len(goal), bus.MaxGoalBytes)
	case !utf8.ValidString(goal):
		return fmt.Errorf("%w: the goal is not valid UTF-8", bus.ErrMalformed)
	}
	return nil
}

// createTask is CreateTask with a task id chosen by the caller (a new one
// when id is "") and the schedule that made it. Creating a task whose id
// exists returns the existing task: a retry (a schedule's firing handled
// again) never makes a second one.
func (g *Gateway) createTask(ctx context.Context, req *bus.CreateTaskRequest, id, schedule string) (*bus.Summary, error) {
	if id != "" {
		if sum, err := g.existingTask(ctx, id); err == nil || !errors.Is(err, bus.ErrTaskNotFound) {
			return sum, err
		}
	}
	if err := checkGoal(req.Goal); err != nil {
		return nil, err
	}
	if err := g.checkNotify(req.Notify); err != nil {
		return nil, err
	}
	target := bus.AnyDaemon
	if req.Daemon != "" && req.Daemon != bus.AnyDaemon {
		if !bus.ValidToken(req.Daemon) {
			return nil, fmt.Errorf("%w: daemon id %q is not valid", bus.ErrMalformed, req.Daemon)
		}
		if _, err := g.presence.Get(ctx, req.Daemon); err != nil {
			if errors.Is(err, bus.ErrDaemonNotFound) {
				return nil, fmt.Errorf("unknown daemon %q (`viber daemon ls` lists daemons): %w", req.Daemon, bus.ErrDaemonNotFound)
			}
			return nil, err
		}
		target = req.Daemon
	}
	for _, s := range req.Skills {
		if !bus.ValidToken(s) {
			return nil, fmt.Errorf("%w: skill name %q is not valid", bus.ErrMalformed, s)
		}
	}
	for _, t := range req.Tools {
		if !bus.ValidToken(t) {
			return nil, fmt.Errorf("%w: tool name %q is not valid", bus.ErrMalformed, t)
		}
	}
	if req.Agent != "" && !roster.ValidName(req.Agent) {
		return nil, fmt.Errorf("%w: agent name %q is not valid (a-z, 0-9 and \"-\")", bus.ErrMalformed, req.Agent)
	}
	if len(req.Skills) > 0 || len(req.Tools) > 0 || req.Agent != "" {
		var err error
		if target, err = g.route(ctx, target, req.Skills, req.Tools, req.Agent); err != nil {
			return nil, err
		}
	}
	if id == "" {
		id = bus.NewID()
	}
	pinned := req.Daemon
	if pinned == bus.AnyDaemon {
		pinned = "" // the shared queue: no daemon is pinned
	}
	created := &bus.Created{Goal: req.Goal, Daemon: pinned, Model: req.Model, Skills: req.Skills, Agent: req.Agent, Policy: req.Policy, Submitter: req.Submitter,
		Tools: req.Tools, Schedule: schedule, Notify: req.Notify}
	if req.Parent != nil {
		var existing *bus.Summary
		var err error
		if id, existing, err = g.childOf(ctx, req, created); err != nil || existing != nil {
			return existing, err
		}
	}
	telemetry.SetTask(ctx, id)
	ev, err := bus.NewEvent(id, g.source, created)
	if err != nil {
		return nil, err
	}
	// Append as the first message of the task's subjects, without reading
	// a head: the id is new, or (a schedule's firing) made by whoever came
	// first.
	if ev, err = g.tasks.AppendAt(ctx, ev, 0, 0); err != nil {
		if errors.Is(err, bus.ErrConflict) && schedule != "" {
			// Another gateway made it a moment ago.
			return g.existingTask(ctx, id)
		}
		if errors.Is(err, bus.ErrConflict) && req.Parent != nil {
			// The same spawn call asked twice (a resumed parent, a retry):
			// the child it started is the answer.
			return g.Task(ctx, id)
		}
		return nil, fmt.Errorf("create task: %w", err)
	}
	if g.cfg.WebhookSecret != "" { // only such a gateway delivers (startWebhooks)
		g.notifyOf.put(id, created.Notify)
	}
	if err := g.assign(ctx, id, target, ev.Seq, ev.StreamSeq); err != nil {
		// The sweeper queues it later; the task is safely in the log.
		g.log.Warn().Err(err).Str("task", id).Msg("queueing assignment failed; the sweeper will retry")
	}
	g.log.Debug().Str("task", id).Str("target", target).Msg("task created")
	return bus.Fold([]*bus.Event{ev})
}

// existingTask returns a task that exists, making sure a pending one has
// its assignment (the gateway that created it may have died before
// queueing it).
func (g *Gateway) existingTask(ctx context.Context, id string) (*bus.Summary, error) {
	v, err := g.tasks.Load(ctx, id, 0)
	if err != nil {
		return nil, err
	}
	if v.State == bus.StatePending {
		if has, err := bus.HasAssignment(ctx, g.js, id); err == nil && !has {
			target, err := g.targetFor(ctx, &v.Summary)
			if err != nil {
				target = bus.AnyDaemon
			}
			if err := g.assign(ctx, id, target, v.TurnSeq, v.FirstStreamSeq); err != nil {
				g.log.Warn().Err(err).Str("task", id).Msg("queueing assignment failed; the sweeper will retry")
			}
		}
	}
	return &v.Summary, nil
}

// assign queues a turn's assignment (bus.Assign) in a dispatch span, whose
// trace context the assignment carries to the daemon.
func (g *Gateway) assign(ctx context.Context, taskID, target string, turnSeq, from uint64) (err error) {
	ctx, span := telemetry.Start(ctx, telemetry.SpanDispatch, trace.SpanKindProducer, telemetry.AttrTask.String(taskID), telemetry.AttrTarget.String(target))
	defer func() { telemetry.End(span, err) }()
	return bus.Assign(ctx, g.js, taskID, target, turnSeq, from)
}

// targetFor is where a task's next assignment goes: its pinned daemon,
// or a daemon with its skills, or any daemon.
func (g *Gateway) targetFor(ctx context.Context, s *bus.Summary) (string, error) {
	target := bus.AnyDaemon
	if s.RequestedDaemon != "" {
		target = s.RequestedDaemon
	}
	if len(s.Skills) > 0 || len(s.Tools) > 0 || s.Agent != "" {
		return g.route(ctx, target, s.Skills, s.Tools, s.Agent)
	}
	return target, nil
}

// route checks that some daemon offers the skills, tools and named agent
// a task needs and where to queue it: the pinned daemon if it has them,
// otherwise the shared queue, from which only daemons offering them take
// it (so the task survives the death of any one of them).
func (g *Gateway) route(ctx context.Context, pinned string, skills, tools []string, agent string) (string, error) {
	all, err := g.presence.List(ctx)
	if err != nil {
		return "", err
	}
	skilled := false
	for _, d := range all {
		if !d.Offers(skills) || !d.OffersTools(tools) {
			continue
		}
		skilled = skilled || pinned == bus.AnyDaemon || d.ID == pinned
		if !d.HasAgent(agent) {
			continue
		}
		if pinned == bus.AnyDaemon || d.ID == pinned {
			return pinned, nil
		}
	}
	if skilled || (len(skills) == 0 && len(tools) == 0) {
		if pinned != bus.AnyDaemon {
			return "", fmt.Errorf("daemon %s does not offer agent %q (`viber agent ls` lists who offers what): %w", pinned, agent, bus.ErrAgentUnavailable)
		}
		return "", fmt.Errorf("no daemon offers agent %q%s (`viber agent ls` lists who offers what): %w", agent, withSkills(skills), bus.ErrAgentUnavailable)
	}
	var what []string
	if len(skills) > 0 {
		what = append(what, "skill(s) "+strings.Join(skills, ", ")+" with all their requirements (`viber skill ls` lists who offers what)")
	}
	if len(tools) > 0 {
		what = append(what, "tool(s) "+strings.Join(tools, ", ")+" (`viber daemon ls` lists each daemon's MCP servers and tools)")
	}
	if pinned != bus.AnyDaemon {
		return "", fmt.Errorf("daemon %s does not offer %s: %w", pinned, strings.Join(what, " and "), bus.ErrSkillUnavailable)
	}
	return "", fmt.Errorf("no daemon offers %s: %w", strings.Join(what, " and "), bus.ErrSkillUnavailable)
}

// Task returns a task's summary: the projected one when it is current,
// otherwise folded from the log.
func (g *Gateway) Task(ctx context.Context, id string) (*bus.Summary, error) {
	head, err := g.tasks.HeadSeq(ctx, id)
	if err != nil {
		return nil, err
	}
	sum, _, err := g.summaries.Get(ctx, id)
	if err == nil && sum.StreamSeq >= head {
		return sum, nil
	}
	from := uint64(0)
	if sum != nil {
		from = sum.FirstStreamSeq
	}
	v, err := g.tasks.Load(ctx, id, from)
	if err != nil {
		return nil, err
	}
	return &v.Summary, nil
}

// ListTasks returns a page of summaries, newest first, filtered by the
// request.
func (g *Gateway) ListTasks(ctx context.Context, req *bus.ListTasksRequest) (*bus.ListTasksResponse, error) {
	if req.State != "" && !validState(req.State) {
		return nil, fmt.Errorf("%w: unknown state %q", bus.ErrMalformed, req.State)
	}
	all, err := g.listSummaries(ctx)
	if err != nil {
		return nil, err
	}
	return req.Page(all), nil
}

func validState(s bus.State) bool {
	for _, st := range bus.AllStates() {
		if st == s {
			return true
		}
	}
	return false
}

// CancelTask appends cancel_requested. A task no daemon has taken yet is
// cancelled at once; a running one is cancelled by its daemon. The request
// is appended right after the state it was decided on (compare-and-set),
// so a daemon claiming the task at the same moment is never missed.
func (g *Gateway) CancelTask(ctx context.Context, req *bus.CancelTaskRequest) (*bus.Event, error) {
	unowned := false
	v, stored, err := g.appendDecided(ctx, req.ID, "cancel", func(v *bus.View) (bus.Payload, error) {
		if v.State.Terminal() {
			return nil, fmt.Errorf("task %s already %s: %w", req.ID, v.State, bus.ErrTerminal)
		}
		unowned = v.Owner == ""
		return &bus.CancelRequested{Reason: req.Reason, By: req.By}, nil
	})
	if err != nil {
		return nil, err
	}
	if unowned {
		// Nobody holds it: end it now, unless a daemon claimed it in the
		// meantime (then the append conflicts and the daemon obeys).
		done, err := bus.NewEvent(req.ID, g.source, &bus.Cancelled{Reason: cancelReason(req.Reason)})
		if err != nil {
			return nil, err
		}
		if _, err := g.tasks.AppendToView(ctx, v, done); err != nil && !errors.Is(err, bus.ErrConflict) {
			return nil, err
		}
	}
	g.cancelChildren(ctx, &v.Summary, req)
	return stored, nil
}

// appendDecided reads a task's log into a view, lets decide choose the
// event to append from it (or refuse), and appends that event right after
// the view's head, starting over when another writer came first. It
// returns the view (with the stored event in it) and the stored event.
func (g *Gateway) appendDecided(ctx context.Context, taskID, what string, decide func(*bus.View) (bus.Payload, error)) (*bus.View, *bus.Event, error) {
	from := g.firstSeq(ctx, taskID)
	for range 16 {
		v, err := g.tasks.Load(ctx, taskID, from)
		if err != nil {
			return nil, nil, err
		}
		p, err := decide(v)
		if err != nil {
			return nil, nil, err
		}
		ev, err := bus.NewEvent(taskID, g.source, p)
		if err != nil {
			return nil, nil, err
		}
		if err := v.Admits(ev); err != nil {
			return nil, nil, fmt.Errorf("%s task %s: %w: %w", what, taskID, bus.ErrConflict, err)
		}
		stored, err := g.tasks.AppendToView(ctx, v, ev)
		if errors.Is(err, bus.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		return v, stored, nil
	}
	return nil, nil, fmt.Errorf("%s task %s: the log kept changing: %w", what, taskID, bus.ErrConflict)
}

// firstSeq is where a task's log starts in the stream, from its summary
// (0 when there is none yet: readers then search the stream).
func (g *Gateway) firstSeq(ctx context.Context, taskID string) uint64 {
	if sum, _, err := g.summaries.Get(ctx, taskID); err == nil {
		return sum.FirstStreamSeq
	}
	return 0
}

func cancelReason(r string) string {
	if r == "" {
		return "cancelled before a daemon took it"
	}
	return r
}

// SendInput appends a follow-up. On an ended task it opens a new turn and
// queues the task again.
func (g *Gateway) SendInput(ctx context.Context, req *bus.SendInputRequest) (_ *bus.Event, err error) {
	ctx, span := telemetry.Start(ctx, telemetry.SpanFollowUp, trace.SpanKindProducer, telemetry.AttrTask.String(req.ID))
	defer func() { telemetry.End(span, err) }()
	switch {
	case strings.TrimSpace(req.Text) == "":
		return nil, fmt.Errorf("%w: the text is empty", bus.ErrMalformed)
	case len(req.Text) > bus.MaxInputBytes:
		return nil, fmt.Errorf("%w: the text is %d bytes; the limit is %d", bus.ErrTooLarge, len(req.Text), bus.MaxInputBytes)
	}
	mode := req.Mode
	if mode == "" {
		mode = bus.InputQueue
	}
	if mode != bus.InputQueue && mode != bus.InputSteer {
		return nil, fmt.Errorf("%w: mode %q (want queue or steer)", bus.ErrMalformed, mode)
	}
	// Append right after the state we decide on: of several follow-ups to
	// an ended task exactly one reopens it, and a follow-up racing the
	// task's completion either lands before it (the daemon answers it) or
	// after it (and queues the task again).
	reopens := false
	v, stored, err := g.appendDecided(ctx, req.ID, "send to", func(v *bus.View) (bus.Payload, error) {
		reopens = v.State.Terminal()
		return &bus.Input{Text: req.Text, Mode: mode, By: req.By}, nil
	})
	if err != nil {
		return nil, err
	}
	if reopens {
		target, err := g.targetFor(ctx, &v.Summary)
		if err != nil {
			target = bus.AnyDaemon
		}
		if err := g.assign(ctx, req.ID, target, stored.Seq, v.FirstStreamSeq); err != nil {
			g.log.Warn().Err(err).Str("task", req.ID).Msg("queueing follow-up failed; the sweeper will retry")
		}
	}
	return stored, nil
}

// Decide appends an approval decision for a call that waits for one. The
// decision is made on the task's log and appended right after it
// (compare-and-set), so of two concurrent decisions on one call exactly one
// is stored; the other is told the call is decided.
func (g *Gateway) Decide(ctx context.Context, req *bus.DecideRequest) (*bus.Event, error) {
	if req.CallID == "" {
		return nil, fmt.Errorf("%w: no call id; `viber task show ID` lists the calls waiting for approval", bus.ErrMalformed)
	}
	_, stored, err := g.appendDecided(ctx, req.ID, "decide on", func(v *bus.View) (bus.Payload, error) {
		c := v.Call(req.CallID)
		switch {
		case c != nil && c.Approval == bus.ApprovalWaiting:
			return &bus.ApprovalDecided{CallID: req.CallID, Approved: req.Approved, Reason: req.Reason, By: req.By}, nil
		case c != nil && c.Decision != nil:
			verb := "denied"
			if c.Decision.Approved {
				verb = "approved"
			}
			by := ""
			if c.Decision.By != "" {
				by = " by " + c.Decision.By
			}
			return nil, fmt.Errorf("call %s of task %s was already %s%s: %w", req.CallID, req.ID, verb, by, bus.ErrConflict)
		case v.State.Terminal():
			return nil, fmt.Errorf("task %s already %s: %w", req.ID, v.State, bus.ErrTerminal)
		case c != nil:
			return nil, fmt.Errorf("call %s (%s) of task %s does not wait for approval (%s): %w", req.CallID, c.Tool, req.ID, waitingList(v.PendingApprovals), bus.ErrNotWaiting)
		}
		return nil, fmt.Errorf("task %s (%s) has no call %q waiting for approval (%s): %w", req.ID, v.State, req.CallID, waitingList(v.PendingApprovals), bus.ErrCallNotFound)
	})
	return stored, err
}

// Daemons lists every known daemon and whether it is online now.
func (g *Gateway) Daemons(ctx context.Context) ([]*bus.DaemonView, error) {
	list, err := g.presence.List(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]*bus.DaemonView, 0, len(list))
	for _, d := range list {
		out = append(out, &bus.DaemonView{DaemonInfo: *d, Online: d.Online(now)})
	}
	return out, nil
}

// sweepLoop re-queues tasks whose assignment went missing (for example a
// gateway that died between writing created and queueing the work).
func (g *Gateway) sweepLoop(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-g.stop:
		return
	case <-g.caughtUp:
	}
	t := time.NewTicker(g.cfg.SweepInterval)
	defer t.Stop()
	for {
		if err := g.Sweep(ctx); err != nil && ctx.Err() == nil {
			g.log.Warn().Err(err).Msg("sweep failed")
		}
		select {
		case <-ctx.Done():
			return
		case <-g.stop:
			return
		case <-t.C:
		}
	}
}

// Sweep queues again every unfinished task that has no assignment in the
// work stream.
func (g *Gateway) Sweep(ctx context.Context) error {
	all, err := g.summaries.List(ctx)
	if err != nil {
		return err
	}
	for _, s := range all {
		if s.State.Terminal() {
			continue
		}
		has, err := bus.HasAssignment(ctx, g.js, s.ID)
		if err != nil {
			return err
		}
		if has {
			continue
		}
		target, err := g.targetFor(ctx, s)
		if err != nil {
			target = bus.AnyDaemon
		}
		if err := bus.RequeueAt(ctx, g.js, s.ID, target, s.FirstStreamSeq, s.StreamSeq); err != nil {
			return err
		}
		g.log.Info().Str("task", s.ID).Msg("queued a task that had lost its assignment")
	}
	return nil
}

// withSkills describes skills a task needs besides its agent.
func withSkills(needs []string) string {
	if len(needs) == 0 {
		return ""
	}
	return " with skill(s) " + strings.Join(needs, ", ")
}
