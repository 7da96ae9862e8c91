package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tmc/langchaingo/llms"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/bus"
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
	// abandon: another daemon took the task over; its delivery of the
	// assignment is the live one, so ours is left alone.
	abandon
	// notForUs: the task needs skills this daemon lacks: give it back at
	// once for a daemon that has them.
	notForUs
)

var (
	errSteer     = errors.New("steered by a follow-up")
	errTakenOver = errors.New("another daemon took the task over")
)

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
func (d *Daemon) handle(ctx context.Context, msg jetstream.Msg, ackWait time.Duration) {
	a, err := bus.ParseAssignment(msg.Data())
	if err != nil {
		d.log.Error().Err(err).Str("subject", msg.Subject()).Msg("dropping a malformed assignment")
		_ = msg.Term()
		return
	}
	attempt := 1
	if md, err := msg.Metadata(); err == nil {
		attempt = int(md.NumDelivered)
	}
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
	out := d.run(ctx, a.TaskID, attempt)
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
		out = d.run(ctx, a.TaskID, attempt)
	}
	stopHB()
	switch out {
	case done:
		actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := msg.DoubleAck(actx); err != nil {
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
	for _, n := range names {
		ok := false
		for _, s := range d.skills {
			ok = ok || (s.Name == n && len(s.Missing) == 0)
		}
		if !ok {
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

// load reads a task's events; a fresh task (only created) costs one read.
func (d *Daemon) load(ctx context.Context, taskID string) ([]*bus.Event, error) {
	last, err := d.tasks.Last(ctx, taskID)
	if err != nil {
		return nil, err
	}
	if last.Seq == 1 {
		return []*bus.Event{last}, nil
	}
	return d.tasks.Events(ctx, taskID)
}

// run claims the task and executes its turn.
func (d *Daemon) run(ctx context.Context, taskID string, attempt int) outcome {
	log := d.log.With().Str("task", taskID).Logger()
	for range 8 {
		events, err := d.load(ctx, taskID)
		if errors.Is(err, bus.ErrTaskNotFound) {
			log.Warn().Msg("assignment for a task with no events; dropping it")
			return done
		}
		if err != nil {
			if ctx.Err() != nil {
				return handBack
			}
			log.Warn().Err(err).Msg("cannot read the task log")
			return retryLater
		}
		sum, err := bus.Fold(events)
		if err != nil {
			log.Error().Err(err).Msg("task log does not fold; failing the task")
			d.finish(ctx, taskID, &bus.Failed{Error: "the task's log is unreadable: " + err.Error(), Code: bus.FailInternal})
			return done
		}
		if sum.State.Terminal() {
			return done // finished already; a late or duplicate assignment
		}
		if missing := d.lacks(sum.Skills); len(missing) > 0 {
			log.Debug().Strs("skills", missing).Msg("task needs skills this daemon lacks; leaving it to others")
			return notForUs
		}
		if sum.Daemon != "" && sum.Daemon != d.cfg.ID && sum.State != bus.StatePending && d.ownerAlive(ctx, sum.Daemon, taskID) {
			// The owner is alive but missed its in-progress acks (NATS was
			// away, say): leave the assignment for it to finish and ack.
			log.Info().Str("owner", sum.Daemon).Msg("task is running on a live daemon; leaving the assignment to it")
			return deferToOwner
		}
		last := events[len(events)-1]
		if sum.CancelRequested {
			ev, err := bus.NewEvent(taskID, d.source, &bus.Cancelled{Reason: "cancel requested before the task resumed"})
			if err != nil {
				return retryLater
			}
			if _, err := d.tasks.AppendAfter(ctx, ev, last); errors.Is(err, bus.ErrConflict) {
				continue
			} else if err != nil {
				return retryLater
			}
			return done
		}
		claim, err := bus.NewEvent(taskID, d.source, &bus.Assigned{Daemon: d.cfg.ID, Attempt: attempt})
		if err != nil {
			return retryLater
		}
		claimed, err := d.tasks.AppendAfter(ctx, claim, last)
		if errors.Is(err, bus.ErrConflict) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return handBack
			}
			log.Warn().Err(err).Msg("cannot claim the task")
			return retryLater
		}
		resumed := sum.State != bus.StatePending
		return d.execute(ctx, taskID, claimed, resumed, createdOf(events))
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

// execute runs the turn of a claimed task.
func (d *Daemon) execute(ctx context.Context, taskID string, claimed *bus.Event, resumed bool, created *bus.Created) outcome {
	log := d.log.With().Str("task", taskID).Logger()
	taskCtx, stopTask := context.WithCancelCause(ctx)
	defer stopTask(nil)
	rt := newRuntime(d, taskID)
	rt.claim, rt.life = claimed, ctx

	// Watch the log for cancel requests, steering follow-ups and another
	// daemon taking the task over; resubscribe after errors (a reconnect)
	// from the last event seen.
	go func() {
		after := claimed.StreamSeq
		for taskCtx.Err() == nil {
			for ev, err := range d.tasks.Replay(taskCtx, taskID, bus.ReplayOptions{Follow: bus.Forever, AfterStreamSeq: after}) {
				if err != nil {
					break
				}
				after = ev.StreamSeq
				switch ev.Type {
				case bus.TypeCancelRequested:
					stopTask(&cancelled{reason: cancelReason(ev)})
					return
				case bus.TypeAssigned:
					if p, err := bus.DecodeAs[bus.Assigned](ev); err == nil && p.Daemon != d.cfg.ID {
						stopTask(errTakenOver)
						return
					}
				case bus.TypeInput:
					if p, err := bus.DecodeAs[bus.Input](ev); err == nil && p.Mode == bus.InputSteer {
						rt.steer()
					}
				}
			}
			sleep(taskCtx, time.Second)
		}
	}()

	model, mc, err := d.model(created.Model)
	if err != nil {
		d.finish(ctx, taskID, &bus.Failed{Error: err.Error(), Code: bus.FailNoModel})
		log.Warn().Err(err).Msg("task failed: no model")
		return done
	}
	policy, ignored, err := d.policy.Tighten(created.Policy)
	if err != nil {
		d.finish(ctx, taskID, &bus.Failed{Error: err.Error(), Code: bus.FailBadRequest})
		return done
	}
	if len(ignored) > 0 {
		log.Info().Strs("ignored", ignored).Msg("the task asked for a looser tool policy than this daemon allows; kept the daemon's")
	}
	agent := &agents.Agent{
		Model: model, Kind: mc.Provider, Tools: d.tools, Skills: d.catalog, Policy: policy,
		MaxSteps: d.cfg.MaxSteps, System: d.systemPrompt(),
	}
	if _, err := d.appendPayload(taskCtx, taskID, &bus.Started{Daemon: d.cfg.ID, Provider: mc.Provider, Model: mc.Model, Resumed: resumed}); err != nil {
		return d.interrupted(ctx, taskCtx, taskID, err)
	}
	log.Info().Bool("resumed", resumed).Msg("task started")
	d.beatSoon() // others see it running here without waiting for a heartbeat

	for {
		res, err := agent.Run(taskCtx, rt)
		if taskCtx.Err() != nil {
			return d.interrupted(ctx, taskCtx, taskID, context.Cause(taskCtx))
		}
		if errors.Is(err, agents.ErrTaskLog) {
			// NATS is away or the log unreadable: not the task's fault.
			return d.interrupted(ctx, taskCtx, taskID, err)
		}
		if err != nil {
			code := bus.FailModel
			if errors.Is(err, agents.ErrMaxSteps) {
				code = bus.FailMaxSteps
			}
			d.finish(ctx, taskID, &bus.Failed{Error: err.Error(), Code: code})
			log.Warn().Err(err).Msg("task failed")
			return done
		}
		// Complete only if nothing arrived since the answer: a follow-up
		// that came meanwhile is answered first.
		if d.cfg.Edge {
			// Everything the turn kept on the edge reaches the hub first.
			if err := rt.drain(taskCtx); err != nil {
				return d.interrupted(ctx, taskCtx, taskID, err)
			}
			res.Message = rt.resolve(res.Message)
		}
		more, err := d.complete(taskCtx, taskID, res.Message, &bus.Completed{Result: res.Text, Usage: res.Usage})
		if err != nil {
			return d.interrupted(ctx, taskCtx, taskID, err)
		}
		if more {
			continue
		}
		log.Info().Msg("task completed")
		return done
	}
}

// complete appends the terminal event right after prev. When other events
// came first it looks at them: a follow-up means another model call (more
// is true), a cancel request means cancelled; anything else is stepped over.
func (d *Daemon) complete(ctx context.Context, taskID string, prev *bus.Event, p bus.Payload) (more bool, err error) {
	ev, err := bus.NewEvent(taskID, d.source, p)
	if err != nil {
		return false, err
	}
	for range 16 {
		_, err := d.tasks.AppendAfter(ctx, ev, prev)
		if err == nil {
			return false, nil
		}
		if !errors.Is(err, bus.ErrConflict) {
			return false, err
		}
		for newer, err := range d.tasks.Replay(ctx, taskID, bus.ReplayOptions{AfterStreamSeq: prev.StreamSeq}) {
			if err != nil {
				return false, err
			}
			switch newer.Type {
			case bus.TypeAssigned:
				if a, err := bus.DecodeAs[bus.Assigned](newer); err == nil && a.Daemon != d.cfg.ID {
					return false, errTakenOver
				}
			case bus.TypeCompleted, bus.TypeFailed, bus.TypeCancelled:
				return false, nil // someone else ended the turn; never end it twice
			case bus.TypeInput:
				return true, nil
			case bus.TypeCancelRequested:
				d.finish(ctx, taskID, &bus.Cancelled{Reason: cancelReason(newer)})
				return false, nil
			}
			prev = newer
		}
	}
	return false, fmt.Errorf("complete task %s: %w", taskID, bus.ErrConflict)
}

// interrupted decides what a stopped run means: a cancel request ends the
// task; a shutdown hands it back; anything else is retried later.
func (d *Daemon) interrupted(ctx, taskCtx context.Context, taskID string, cause error) outcome {
	var c *cancelled
	if errors.As(context.Cause(taskCtx), &c) {
		d.finish(ctx, taskID, &bus.Cancelled{Reason: c.reason})
		d.log.Info().Str("task", taskID).Msg("task cancelled")
		return done
	}
	if errors.Is(context.Cause(taskCtx), errTakenOver) || errors.Is(cause, errTakenOver) {
		d.log.Warn().Str("task", taskID).Msg("another daemon took this task over (we were silent too long); stopping our run")
		return abandon
	}
	if ctx.Err() != nil {
		return handBack
	}
	d.log.Warn().Err(cause).Str("task", taskID).Msg("task interrupted; will retry")
	return retryLater
}

// finish appends a terminal event, retrying while NATS is unreachable
// (bounded), even when the daemon is stopping.
func (d *Daemon) finish(ctx context.Context, taskID string, p bus.Payload) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	ev, err := bus.NewEvent(taskID, d.source, p)
	if err != nil {
		return
	}
	for {
		_, err := d.tasks.Append(fctx, ev)
		if err == nil || errors.Is(err, bus.ErrTooLarge) || errors.Is(err, bus.ErrMalformed) {
			return
		}
		if fctx.Err() != nil {
			d.log.Error().Err(err).Str("task", taskID).Msg("could not store the task's terminal event")
			return
		}
		sleep(fctx, 500*time.Millisecond)
	}
}

func (d *Daemon) appendPayload(ctx context.Context, taskID string, p bus.Payload) (*bus.Event, error) {
	return d.tasks.AppendPayload(ctx, taskID, d.source, p)
}

// model returns the model for a task: the one its created event names
// ("provider/model", "model") or the daemon's default.
func (d *Daemon) model(requested string) (llms.Model, agents.ModelConfig, error) {
	var cfg agents.ModelConfig
	if d.cfg.Models != nil {
		var err error
		if cfg, err = d.cfg.Models.Resolve(requested); err != nil {
			return nil, cfg, fmt.Errorf("daemon %s: %w", d.cfg.ID, err)
		}
	} else {
		cfg = d.cfg.Model
		if requested != "" {
			prov, name, ok := strings.Cut(requested, "/")
			if !ok {
				prov, name = cfg.Provider, requested
			}
			if prov != cfg.Provider {
				return nil, cfg, fmt.Errorf("%w: the task asks for provider %q but daemon %s is configured for %q", agents.ErrNoModel, prov, d.cfg.ID, cfg.Provider)
			}
			cfg.Model = name
		}
	}
	if d.cfg.LLM != nil {
		return d.cfg.LLM, cfg, nil
	}
	m, err := agents.NewModel(cfg)
	if err != nil {
		return nil, cfg, fmt.Errorf("daemon %s: %w", d.cfg.ID, err)
	}
	return m, cfg, nil
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

// runtime is the agents.Runtime of one running task.
type runtime struct {
	d      *Daemon
	taskID string
	deltas int

	mu       sync.Mutex
	callStop context.CancelCauseFunc

	// Edge daemons only (see edge.go).
	cache      []*bus.Event
	pending    []*bus.Event
	stored     map[string]*bus.Event
	forwarding bool
	drained    chan struct{}
	claim      *bus.Event
	life       context.Context // the daemon's run; forwarding stops with it
}

func newRuntime(d *Daemon, taskID string) *runtime {
	return &runtime{d: d, taskID: taskID, drained: make(chan struct{})}
}

func (r *runtime) Events(ctx context.Context) ([]*bus.Event, error) {
	if r.d.cfg.Edge {
		return r.edgeEvents(ctx)
	}
	return r.refresh(ctx)
}

// refresh brings the runtime's copy of the task's log up to date, reading
// only the events after the last one it has (the agent asks for the log
// before every model call).
func (r *runtime) refresh(ctx context.Context) ([]*bus.Event, error) {
	r.mu.Lock()
	cache := slices.Clone(r.cache)
	r.mu.Unlock()
	if len(cache) == 0 {
		events, err := r.d.tasks.Events(ctx, r.taskID)
		if err != nil {
			return nil, err
		}
		cache = events
	} else {
		for ev, err := range r.d.tasks.Replay(ctx, r.taskID, bus.ReplayOptions{AfterStreamSeq: cache[len(cache)-1].StreamSeq}) {
			if err != nil {
				return nil, err
			}
			cache = append(cache, ev)
		}
	}
	r.mu.Lock()
	r.cache = cache
	r.mu.Unlock()
	return slices.Clone(cache), nil
}

func (r *runtime) Append(ctx context.Context, p bus.Payload) (*bus.Event, error) {
	if r.d.cfg.Edge {
		ev, err := bus.NewEvent(r.taskID, r.d.source, p)
		if err != nil {
			return nil, err
		}
		return r.edgeAppend(ctx, ev, nil)
	}
	return r.d.appendPayload(ctx, r.taskID, p)
}

func (r *runtime) AppendAfter(ctx context.Context, p bus.Payload, prev *bus.Event) (*bus.Event, error) {
	ev, err := bus.NewEvent(r.taskID, r.d.source, p)
	if err != nil {
		return nil, err
	}
	if r.d.cfg.Edge {
		return r.edgeAppend(ctx, ev, prev)
	}
	return r.d.tasks.AppendAfter(ctx, ev, prev)
}

func (r *runtime) Delta(text string) {
	b, err := json.Marshal(bus.Delta{TaskID: r.taskID, Text: text, Index: r.deltas})
	if err == nil {
		_ = r.d.cfg.NC.Publish(bus.LiveSubject(r.taskID), b)
	}
	r.deltas++
}

func (r *runtime) WaitDecision(ctx context.Context, callID string) (*bus.ApprovalDecided, error) {
	// Only a decision after the latest request for this call counts (a
	// provider reusing call ids must not run a tool on an old approval).
	requested := false
	for ev, err := range r.d.tasks.Replay(ctx, r.taskID, bus.ReplayOptions{Follow: bus.Forever}) {
		if err != nil {
			return nil, err
		}
		switch ev.Type {
		case bus.TypeApprovalRequested:
			if q, err := bus.DecodeAs[bus.ApprovalRequested](ev); err == nil && q.CallID == callID {
				requested = true
			}
		case bus.TypeApprovalDecided:
			if d, err := bus.DecodeAs[bus.ApprovalDecided](ev); err == nil && d.CallID == callID && requested {
				return d, nil
			}
		}
	}
	return nil, ctx.Err()
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
