package daemon

import (
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tmc/langchaingo/llms"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/telemetry"
)

// outcome is what happens to an assignment after a run.
type outcome int

const (
	// done: the task ended (or needs nothing from us): ack.
	done outcome = iota
	// handBack: the daemon is stopping: nak so another daemon resumes.
	handBack
	// retryLater: a transient failure (NATS unreachable): try again.
	retryLater
	// deferToOwner: another live daemon runs the task: give the message
	// back with a delay, never ack it away.
	deferToOwner
	// abandon: this daemon no longer holds the task (another daemon
	// claimed it, or its turn ended); the live delivery of the assignment
	// is someone else's, so ours is left alone.
	abandon
	// notForUs: the task needs skills this daemon lacks: give it back at
	// once for a daemon that has them.
	notForUs
)

var errSteer = errors.New("steered by a follow-up")

// cancelled is the cause of a task context ended by a cancel request.
type cancelled struct{ reason string }

func (c *cancelled) Error() string { return "cancelled: " + c.reason }

// cancelReason is the reason a cancel_requested event gives, or a default.
func cancelReason(ev *bus.Event) string {
	if p, err := bus.DecodeAs[bus.CancelRequested](ev); err == nil && p.Reason != "" {
		return p.Reason
	}
	return "cancelled by request"
}

// handle runs one assignment and settles its message.
func (d *Daemon) handle(ctx context.Context, msg *bus.WorkMsg, ackWait time.Duration) {
	a, err := bus.ParseAssignment(msg.Data())
	if err != nil {
		d.log.Error().Err(err).Str("subject", msg.Subject()).Msg("dropping a malformed assignment")
		_ = msg.Term()
		return
	}
	ctx = bus.ExtractTrace(ctx, msg.Headers()) // the turn joins the submit's trace
	attempt := msg.Delivered()
	log := d.log.With().Str("task", a.TaskID).Int("attempt", attempt).Logger()

	// Keep the assignment ours while the task runs.
	hbCtx, stopHB := context.WithCancel(context.Background())
	defer stopHB()
	go func() {
		every := ackWait / 3
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()

	if !d.claimLocal(a.TaskID) {
		// Already running here (a duplicate delivery): leave it to the
		// run in progress.
		stopHB()
		_ = msg.NakWithDelay(ackWait)
		return
	}
	defer func() {
		d.setRunning(a.TaskID, false)
		d.beatSoon()
	}()
	out := d.run(ctx, a, attempt)
	// A transient failure (NATS away) is retried here, keeping the
	// assignment: giving it back would let a daemon that sees us alive
	// bounce it around while nobody runs the task.
	for delay := time.Second; out == retryLater && ctx.Err() == nil; delay = min(delay*2, 30*time.Second) {
		log.Warn().Dur("in", delay).Msg("task interrupted by a transient failure; retrying")
		sleep(ctx, delay)
		if ctx.Err() != nil {
			out = handBack
			break
		}
		attempt++
		out = d.run(ctx, a, attempt)
	}
	stopHB()
	switch out {
	case done:
		// Not waited for: the log says the turn ended, so an ack that is
		// lost only means a redelivery, which finds the task ended and is
		// acknowledged then.
		if err := msg.Ack(); err != nil {
			log.Warn().Err(err).Msg("ack of a finished task failed; it may be delivered again and will be dropped then")
		}
	case handBack:
		_ = msg.Nak()
		log.Info().Msg("handed the task back for another daemon to resume")
	case retryLater:
		_ = msg.NakWithDelay(2 * time.Second)
	case deferToOwner:
		_ = msg.NakWithDelay(ackWait)
	case notForUs:
		_ = msg.NakWithDelay(time.Second)
	}
}

// lacks lists the skills of names this daemon cannot offer.
func (d *Daemon) lacks(names []string) []string {
	var out []string
	offered := d.offer.Load().skills
	for _, n := range names {
		ok := false
		for _, s := range offered {
			ok = ok || (s.Name == n && len(s.Missing) == 0)
		}
		if !ok {
			out = append(out, n)
		}
	}
	return out
}

// lacksTools lists the MCP tools of names this daemon cannot offer now
// (as bus.DaemonInfo.OffersTools: other names are built-in tools).
func (d *Daemon) lacksTools(names []string) []string {
	var out []string
	have := map[string]bool{}
	for _, t := range d.toolset() {
		have[t.Name()] = true
	}
	for _, n := range names {
		if strings.HasPrefix(n, "mcp_") && !have[n] {
			out = append(out, n)
		}
	}
	return out
}

// claimLocal marks a task running here unless it already is.
func (d *Daemon) claimLocal(taskID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.running[taskID]; ok {
		return false
	}
	d.running[taskID] = struct{}{}
	return true
}

// beatSoon asks for a presence update shortly, so others see the running
// set change without waiting for the next heartbeat. Requests close
// together are coalesced into one write.
func (d *Daemon) beatSoon() {
	select {
	case d.beatReq <- struct{}{}:
	default: // one is pending already
	}
}

func (d *Daemon) setRunning(taskID string, on bool) {
	d.mu.Lock()
	if on {
		d.running[taskID] = struct{}{}
	} else {
		delete(d.running, taskID)
	}
	d.mu.Unlock()
}

// reportReject logs a message of a task's log that does not fit it (a
// forged or garbage event): it is skipped, never acted on.
func (d *Daemon) reportReject(taskID string) func(error) {
	return func(err error) {
		d.log.Warn().Err(err).Str("task", taskID).Msg("skipped a message of the task log that does not fit the task")
	}
}

// errMoved means the log moved on while a decision was made on it.
var errMoved = errors.New("the task log moved on")

// run claims the task and executes its turn. Everything it knows of the
// task comes from one tail of the task's log, which it keeps until the
// run ends.
func (d *Daemon) run(ctx context.Context, a *bus.Assignment, attempt int) outcome {
	taskID := a.TaskID
	log := d.log.With().Str("task", taskID).Logger()
	tail, err := d.tasks.Tail(ctx, taskID, a.From, d.reportReject(taskID))
	if errors.Is(err, bus.ErrTaskNotFound) {
		log.Warn().Err(err).Msg("assignment for a task that does not exist; dropping it")
		return done
	}
	if err != nil {
		if ctx.Err() != nil {
			return handBack
		}
		log.Warn().Err(err).Msg("cannot read the task log")
		return retryLater
	}
	defer tail.Close()
	for range 8 {
		v := tail.Snapshot()
		if v.State.Terminal() {
			return done // finished already; a late or duplicate assignment
		}
		if missing := d.lacks(v.Skills); len(missing) > 0 {
			log.Debug().Strs("skills", missing).Msg("task needs skills this daemon lacks; leaving it to others")
			return notForUs
		}
		if missing := d.lacksTools(v.Tools); len(missing) > 0 {
			log.Debug().Strs("tools", missing).Msg("task needs tools this daemon lacks; leaving it to others")
			return notForUs
		}
		if _, ok := d.offer.Load().roster.Get(v.Agent); !ok {
			log.Debug().Str("agent", v.Agent).Msg("task asks for an agent this daemon lacks; leaving it to others")
			return notForUs
		}
		if v.Owner != "" && v.Owner != d.cfg.ID && d.ownerAlive(ctx, v.Owner, taskID) {
			// The owner is alive but missed its in-progress acks (NATS was
			// away, say): leave the assignment for it to finish and ack.
			log.Info().Str("owner", v.Owner).Msg("task is running on a live daemon; leaving the assignment to it")
			return deferToOwner
		}
		claim, err := bus.NewEvent(taskID, d.source, &bus.Assigned{Daemon: d.cfg.ID, Attempt: attempt, Instance: d.instance})
		if err != nil {
			return retryLater
		}
		claimed, err := tail.Append(ctx, claim, func(cur *bus.View) error {
			if cur.StreamSeq != v.StreamSeq {
				return errMoved
			}
			return cur.Admits(claim)
		})
		if errors.Is(err, errMoved) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return handBack
			}
			log.Warn().Err(err).Msg("cannot claim the task")
			return retryLater
		}
		rt := newRuntime(d, tail)
		if v.CancelRequested {
			rt.finish(ctx, &bus.Cancelled{Reason: "cancel requested before the task resumed: " + cancelReasonOf(v)})
			return done
		}
		return d.execute(ctx, rt, claimed, v.State != bus.StatePending, createdOf(v.Events))
	}
	log.Warn().Msg("task log kept changing while claiming; retrying later")
	return retryLater
}

// ownerAlive reports whether another daemon is online and running the task.
func (d *Daemon) ownerAlive(ctx context.Context, owner, taskID string) bool {
	info, err := d.presence.Get(ctx, owner)
	if err != nil || !info.Online(time.Now()) {
		return false
	}
	for _, t := range info.Running {
		if t == taskID {
			return true
		}
	}
	return false
}

// fence says whether this daemon process may still write to the task: it
// holds the turn (its claim is the latest and the turn has not ended).
func (d *Daemon) fence(v *bus.View) error {
	if v.Holds(d.cfg.ID, d.instance) {
		return nil
	}
	if v.State.Terminal() {
		return fmt.Errorf("%w: the turn ended (%s)", bus.ErrFenced, v.State)
	}
	if v.Owner == d.cfg.ID {
		return fmt.Errorf("%w: another process of daemon %s claimed it", bus.ErrFenced, v.Owner)
	}
	return fmt.Errorf("%w: daemon %s claimed it", bus.ErrFenced, v.Owner)
}

// cancelReasonOf is the reason of the task's latest cancel request.
func cancelReasonOf(v *bus.View) string {
	for i := len(v.Events) - 1; i >= 0; i-- {
		if v.Events[i].Type == bus.TypeCancelRequested {
			return cancelReason(v.Events[i])
		}
	}
	return "cancelled by request"
}

// execute runs the turn of a claimed task.
func (d *Daemon) execute(ctx context.Context, rt *runtime, claimed *bus.Event, resumed bool, created *bus.Created) outcome {
	taskID := rt.taskID
	log := d.log.With().Str("task", taskID).Logger()
	ctx, span := d.cfg.Metrics.StartTurn(ctx, taskID, d.cfg.ID)
	defer func() { telemetry.End(span, nil) }()
	observed := d.cfg.Metrics.Runtime(rt)
	defer observed.Close()
	taskCtx, stopTask := context.WithCancelCause(ctx)
	defer stopTask(nil)
	rt.link.start(ctx)

	// Watch the tail for cancel requests, steering follow-ups and the loss
	// of the task (another daemon's claim, an end of turn not ours).
	go func() {
		seen := claimed.Seq
		for {
			var news []*bus.Event
			var fenced error
			err := rt.tail.Wait(taskCtx, func(v *bus.View) bool {
				if err := d.fence(v); err != nil {
					fenced = err
					return true
				}
				if v.LastSeq > seen {
					news, seen = slices.Clone(v.After(seen)), v.LastSeq
					return true
				}
				return false
			})
			if err != nil {
				return
			}
			for _, ev := range news {
				switch ev.Type {
				case bus.TypeCancelRequested:
					stopTask(&cancelled{reason: cancelReason(ev)})
					return
				case bus.TypeInput:
					if p, err := bus.DecodeAs[bus.Input](ev); err == nil && p.Mode == bus.InputSteer {
						rt.steer()
					}
				}
			}
			if fenced != nil {
				stopTask(fenced)
				return
			}
		}
	}()

	model, mc, err := d.model(d.modelFor(created))
	if err != nil {
		rt.finish(ctx, &bus.Failed{Error: err.Error(), Code: bus.FailNoModel})
		log.Warn().Err(err).Msg("task failed: no model")
		return done
	}
	var price *agents.Price
	if p, ok := d.cfg.Models.(agents.Pricer); ok {
		if pr, ok := p.Price(mc); ok {
			price = &pr
		}
	}
	agent, err := d.agentFor(created, d.cfg.Metrics.Model(model, mc.Provider, mc.Model, price), mc.Provider, rt)
	if err != nil {
		rt.finish(ctx, &bus.Failed{Error: err.Error(), Code: bus.FailBadRequest})
		log.Warn().Err(err).Msg("task failed: its agent cannot run here")
		return done
	}
	if _, err := rt.Append(taskCtx, &bus.Started{Daemon: d.cfg.ID, Provider: mc.Provider, Model: mc.Model, Resumed: resumed}); err != nil {
		return d.interrupted(ctx, taskCtx, rt, err)
	}
	log.Info().Bool("resumed", resumed).Msg("task started")
	d.beatSoon() // others see it running here without waiting for a heartbeat

	for {
		res, err := agent.Run(taskCtx, observed)
		if taskCtx.Err() != nil || errors.Is(err, bus.ErrFenced) {
			return d.interrupted(ctx, taskCtx, rt, err)
		}
		if errors.Is(err, agents.ErrTaskLog) {
			// NATS is away or the log unreadable: not the task's fault.
			return d.interrupted(ctx, taskCtx, rt, err)
		}
		if err != nil {
			code := bus.FailModel
			if errors.Is(err, agents.ErrMaxSteps) {
				code = bus.FailMaxSteps
			}
			rt.finish(ctx, &bus.Failed{Error: err.Error(), Code: code})
			log.Warn().Err(err).Msg("task failed")
			return done
		}
		// Everything the turn kept on the way (an edge's buffer) reaches
		// the hub first.
		if err := rt.link.flush(taskCtx); err != nil {
			return d.interrupted(ctx, taskCtx, rt, err)
		}
		res.Message = rt.link.resolve(res.Message)
		if price != nil && res.Usage != nil {
			res.Usage.CostUSD = price.Cost(res.Usage)
		}
		more, err := rt.complete(taskCtx, res)
		if err != nil {
			return d.interrupted(ctx, taskCtx, rt, err)
		}
		if more {
			continue
		}
		log.Info().Msg("task completed")
		return done
	}
}

var (
	errMore            = errors.New("a follow-up arrived after the answer")
	errCancelRequested = errors.New("a cancel was requested after the answer")
)

// complete appends the turn's terminal event right after its answer. A
// follow-up that came first means another model call (more is true); a
// cancel request means cancelled.
func (r *runtime) complete(ctx context.Context, res *agents.Result) (more bool, err error) {
	ev, err := bus.NewEvent(r.taskID, r.d.source, &bus.Completed{Result: res.Text, Usage: res.Usage})
	if err != nil {
		return false, err
	}
	answer := uint64(0)
	if res.Message != nil {
		answer = res.Message.Seq
	}
	_, err = r.tail.Append(ctx, ev, func(v *bus.View) error {
		if err := r.d.fence(v); err != nil {
			return err
		}
		if res.Message != nil && !slices.ContainsFunc(v.After(v.TurnSeq), func(e *bus.Event) bool { return e.ID == res.Message.ID }) {
			return errMore // an edge dropped the answer: a follow-up came first
		}
		for _, e := range v.After(answer) {
			if e.Type == bus.TypeInput {
				return errMore
			}
		}
		if v.CancelRequested {
			return errCancelRequested
		}
		return v.Admits(ev)
	})
	switch {
	case errors.Is(err, errMore):
		return true, nil
	case errors.Is(err, errCancelRequested):
		r.finish(ctx, &bus.Cancelled{Reason: cancelReasonOf(r.tail.Snapshot())})
		return false, nil
	}
	return false, err
}

// interrupted decides what a stopped run means: a cancel request ends the
// task; the loss of the task ends our run; a shutdown hands it back;
// anything else is retried later.
func (d *Daemon) interrupted(ctx, taskCtx context.Context, rt *runtime, cause error) outcome {
	var c *cancelled
	if errors.As(context.Cause(taskCtx), &c) {
		rt.finish(ctx, &bus.Cancelled{Reason: c.reason})
		d.log.Info().Str("task", rt.taskID).Msg("task cancelled")
		return done
	}
	if errors.Is(context.Cause(taskCtx), bus.ErrFenced) || errors.Is(cause, bus.ErrFenced) {
		why := cause
		if errors.Is(context.Cause(taskCtx), bus.ErrFenced) {
			why = context.Cause(taskCtx)
		}
		d.log.Warn().Err(why).Str("task", rt.taskID).Msg("this daemon no longer holds the task; stopping its run without writing more")
		return abandon
	}
	if ctx.Err() != nil {
		return handBack
	}
	d.log.Warn().Err(cause).Str("task", rt.taskID).Msg("task interrupted; will retry")
	return retryLater
}

// finish appends a terminal event while the daemon holds the task,
// retrying while NATS is unreachable (bounded), even when the daemon is
// stopping.
func (r *runtime) finish(ctx context.Context, p bus.Payload) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	ev, err := bus.NewEvent(r.taskID, r.d.source, p)
	if err != nil {
		return
	}
	// What the link keeps (an edge's buffer) reaches the hub first: stored
	// after the end of the turn it would be fenced off and dropped.
	if err := r.link.flush(fctx); err != nil {
		r.d.log.Error().Err(err).Str("task", r.taskID).Msg("could not forward the task's kept events before its terminal event")
		return
	}
	for {
		_, err := r.append(fctx, ev, nil)
		if err == nil || errors.Is(err, bus.ErrTooLarge) || errors.Is(err, bus.ErrMalformed) || errors.Is(err, bus.ErrFenced) {
			if errors.Is(err, bus.ErrFenced) {
				r.d.log.Warn().Err(err).Str("task", r.taskID).Str("type", ev.Type.Short()).Msg("did not end the task: this daemon no longer holds it")
			}
			return
		}
		if fctx.Err() != nil {
			r.d.log.Error().Err(err).Str("task", r.taskID).Msg("could not store the task's terminal event")
			return
		}
		sleep(fctx, 500*time.Millisecond)
	}
}

// model returns the model for a task: the one its created event names
// ("provider/model", "model") or the daemon's default.
func (d *Daemon) model(requested string) (llms.Model, agents.ModelConfig, error) {
	m, mc, err := d.cfg.Models.Model(requested)
	if err != nil {
		return nil, mc, fmt.Errorf("daemon %s: %w", d.cfg.ID, err)
	}
	return m, mc, nil
}

// createdOf returns the task's created payload (its first event).
func createdOf(events []*bus.Event) *bus.Created {
	for _, ev := range events {
		if ev.Type == bus.TypeCreated {
			if c, err := bus.DecodeAs[bus.Created](ev); err == nil {
				return c
			}
		}
	}
	return &bus.Created{}
}

func (d *Daemon) systemPrompt() string {
	return fmt.Sprintf("You are Viber, an AI worker on daemon %q (host %q, %s/%s). Your workspace is %s; "+
		"file tools take paths relative to it and shell commands run in it. "+
		"Carry out the user's goal with the tools you have, keep a plan with update_plan for work of several steps, "+
		"and finish with a direct, complete answer. If a tool call is refused, do not retry it: find another way or explain.",
		d.cfg.ID, d.host, goruntime.GOOS, goruntime.GOARCH, d.cfg.Workspace)
}

// runtime is the agents.Runtime of one running task: the task's tail
// and the fenced writes through it.
type runtime struct {
	d      *Daemon
	tail   *bus.Tail
	taskID string
	deltas int
	link   link

	mu       sync.Mutex
	callStop context.CancelCauseFunc
	// seen is the hub seq of the last event Events gave the agent: a
	// follow-up after it is one the model has not seen.
	seen uint64
}

// link is how a running task's events reach the hub's log: straight
// through the task's tail (a hub daemon), or through the tail with a
// buffer for while the leaf link is cut (an edge daemon; see edge.go).
type link interface {
	// start is called once the run begins; background work (an edge's
	// forwarding) stops with ctx.
	start(ctx context.Context)
	// append stores ev while the daemon holds the task (see
	// runtime.append), or keeps it to store later.
	append(ctx context.Context, ev *bus.Event, extra func(*bus.View) error) (*bus.Event, error)
	// events is the task's log as the daemon knows it, including what it
	// keeps to store later, and the seq of the last of them on the hub.
	events() ([]*bus.Event, uint64)
	// flush waits until everything appended is in the hub's log.
	flush(ctx context.Context) error
	// resolve returns the hub's copy of an event appended through the link.
	resolve(ev *bus.Event) *bus.Event
}

func newRuntime(d *Daemon, tail *bus.Tail) *runtime {
	r := &runtime{d: d, tail: tail, taskID: tail.TaskID()}
	if d.cfg.Edge {
		r.link = newEdgeLink(r)
	} else {
		r.link = direct{r}
	}
	return r
}

// direct is the link of a daemon connected to the hub.
type direct struct{ r *runtime }

func (direct) start(context.Context) {}

// appendRetryFor bounds how long a daemon connected to the hub keeps trying
// a write that failed transiently before it gives the run up.
const appendRetryFor = 30 * time.Second

// append stores ev through the tail. A write whose answer was lost (a NATS
// node died with it) or that found the stream without a leader (an
// election under way) is tried again, the same event, for up to
// appendRetryFor: the tail finds it in the log if it was stored after all,
// so it is never stored twice, and the run goes on instead of being
// interrupted (which would leave a tool call just stored reported
// interrupted, never run).
func (l direct) append(ctx context.Context, ev *bus.Event, extra func(*bus.View) error) (*bus.Event, error) {
	deadline := time.Now().Add(appendRetryFor)
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		stored, err := l.r.append(ctx, ev, extra)
		if err == nil || !bus.Transient(ctx, err) || time.Now().Add(wait).After(deadline) {
			return stored, err
		}
		l.r.d.log.Warn().Err(err).Str("task", l.r.taskID).Str("type", ev.Type.Short()).Dur("retry_in", wait).Msg("write to the task log failed; retrying")
		sleep(ctx, wait)
	}
}

func (l direct) events() ([]*bus.Event, uint64) {
	v := l.r.tail.Snapshot()
	return v.Events, v.LastSeq
}

func (direct) flush(context.Context) error { return nil }

func (direct) resolve(ev *bus.Event) *bus.Event { return ev }

// append stores ev through the tail while this daemon holds the task and
// the readers' check admits it (plus extra, when given).
func (r *runtime) append(ctx context.Context, ev *bus.Event, extra func(*bus.View) error) (*bus.Event, error) {
	return r.tail.Append(ctx, ev, func(v *bus.View) error {
		if err := r.d.fence(v); err != nil {
			return err
		}
		if extra != nil {
			if err := extra(v); err != nil {
				return err
			}
		}
		if err := v.Admits(ev); err != nil {
			return fmt.Errorf("%w: %w", bus.ErrFenced, err)
		}
		return nil
	})
}

// write appends a payload through the task's link.
func (r *runtime) write(ctx context.Context, p bus.Payload, extra func(*bus.View) error) (*bus.Event, error) {
	ev, err := bus.NewEvent(r.taskID, r.d.source, p)
	if err != nil {
		return nil, err
	}
	return r.link.append(ctx, ev, extra)
}

func (r *runtime) Events(context.Context) ([]*bus.Event, error) {
	events, seen := r.link.events()
	r.mu.Lock()
	r.seen = seen
	r.mu.Unlock()
	return events, nil
}

func (r *runtime) Append(ctx context.Context, p bus.Payload) (*bus.Event, error) {
	return r.write(ctx, p, nil)
}

func (r *runtime) AppendAfter(ctx context.Context, p bus.Payload, prev *bus.Event) (*bus.Event, error) {
	// prev is the last event the agent was given (by Events); what the
	// model has not seen is what came on the hub after the last of them
	// that was on the hub then. (An edge may check this only when it
	// forwards the event, after its kept events: prev's seq is not the
	// hub's yet.)
	r.mu.Lock()
	seen := r.seen
	r.mu.Unlock()
	if seen == 0 { // no Events yet: take prev as it is
		seen = r.link.resolve(prev).Seq
	}
	return r.write(ctx, p, func(v *bus.View) error {
		for _, e := range v.After(seen) {
			if e.Type == bus.TypeInput {
				return fmt.Errorf("append %s to task %s: a follow-up came first: %w", p.EventType().Short(), r.taskID, bus.ErrConflict)
			}
		}
		return nil
	})
}

func (r *runtime) Delta(text string) {
	_ = bus.PublishDelta(r.d.cfg.NC, bus.Delta{TaskID: r.taskID, Text: text, Index: r.deltas})
	r.deltas++
}

func (r *runtime) WaitDecision(ctx context.Context, callID string) (*bus.ApprovalDecided, error) {
	var decision *bus.ApprovalDecided
	var lost error
	err := r.tail.Wait(ctx, func(v *bus.View) bool {
		if err := r.d.fence(v); err != nil {
			lost = err
			return true
		}
		c := v.Call(callID)
		if c == nil {
			lost = fmt.Errorf("%w: call %s was settled by someone else", bus.ErrFenced, callID)
			return true
		}
		if c.Decision != nil {
			decision = &bus.ApprovalDecided{CallID: callID, Approved: c.Decision.Approved, Reason: c.Decision.Reason, By: c.Decision.By}
		}
		return decision != nil
	})
	if err != nil {
		return nil, err
	}
	if lost != nil {
		return nil, lost
	}
	return decision, nil
}

// Answer returns the current turn's stored final answer, if any.
func (r *runtime) Answer(context.Context) *bus.Event {
	v := r.tail.Snapshot()
	if v.AnswerSeq == 0 {
		return nil
	}
	for _, ev := range v.After(v.AnswerSeq - 1) {
		if ev.Seq == v.AnswerSeq {
			return ev
		}
	}
	return nil
}

func (r *runtime) ModelContext(ctx context.Context) (context.Context, func() bool) {
	mctx, stop := context.WithCancelCause(ctx)
	r.mu.Lock()
	r.callStop = stop
	r.mu.Unlock()
	return mctx, func() bool {
		steered := errors.Is(context.Cause(mctx), errSteer)
		r.mu.Lock()
		r.callStop = nil
		r.mu.Unlock()
		stop(nil)
		return steered
	}
}

func (r *runtime) steer() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.callStop != nil {
		r.callStop(errSteer)
	}
}
