package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/viberhq/viber/agents/tool"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/client"
)

// spawnTool starts a child task: an ordinary task whose created event
// names this task and the spawn call. The child's id is derived from both
// (the gateway refuses a second child for the call and answers with the
// first), so the tool is resumable: a daemon that resumes the parent runs
// the call again and finds the child instead of starting another.
type spawnTool struct {
	d  *Daemon
	rt *runtime
	cl *client.Client
	// policy is the parent's task and agent policy, which the child
	// inherits (it may only be made stricter).
	policy map[string]string
}

func (*spawnTool) Name() string { return "spawn" }

func (*spawnTool) Description() string {
	return "Start a child task: another agent (or you) works on a sub-goal as its own task. " +
		"With wait true (the default) the child's answer is this call's result; with wait false you go on at once " +
		"and its answer arrives later as a message. Give the child a complete, self-contained goal."
}

func (t *spawnTool) Parameters() map[string]any {
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"goal":   map[string]any{"type": "string", "description": "what the child task should do, self-contained"},
			"agent":  map[string]any{"type": "string", "description": "the named agent to run it (default: the default agent)"},
			"daemon": map[string]any{"type": "string", "description": "run it on this daemon only (default: any)"},
			"skills": map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": "skills the child needs"},
			"wait":   map[string]any{"type": "boolean", "description": "wait for the child's answer (default true)"},
		},
		"required": []string{"goal"},
	}
}

// Resumable implements tool.Resumable: running the call again finds the
// child it started.
func (*spawnTool) Resumable() bool { return true }

type spawnArgs struct {
	Goal   string   `json:"goal"`
	Agent  string   `json:"agent"`
	Daemon string   `json:"daemon"`
	Skills []string `json:"skills"`
	Wait   *bool    `json:"wait"`
}

func (t *spawnTool) Call(ctx context.Context, raw json.RawMessage) tool.Result {
	var a spawnArgs
	if err := json.Unmarshal(raw, &a); err != nil || strings.TrimSpace(a.Goal) == "" {
		return tool.Errorf("want {\"goal\": \"...\", \"agent\"?: \"...\", \"wait\"?: true}")
	}
	wait := a.Wait == nil || *a.Wait
	callID := tool.CallID(ctx)
	if callID == "" {
		return tool.Errorf("spawn: no call id")
	}
	child := t.rt.tail.Snapshot().Child(callID)
	if child == "" {
		sum, err := t.cl.CreateTask(ctx, &bus.CreateTaskRequest{
			Goal: a.Goal, Agent: a.Agent, Daemon: a.Daemon, Skills: a.Skills, Policy: t.policy,
			Parent: &bus.ParentRef{Task: t.rt.taskID, CallID: callID, Wait: wait},
		})
		if err != nil {
			return tool.Errorf("could not start the child task: %v", err)
		}
		child = sum.ID
		if _, err := t.rt.Append(ctx, &bus.ChildCreated{CallID: callID, Task: child, Goal: a.Goal, Agent: a.Agent, Daemon: a.Daemon, Wait: wait}); err != nil {
			return tool.Errorf("started child task %s, but could not record it: %v", child, err)
		}
	}
	if !wait {
		return tool.Result{Output: fmt.Sprintf("started child task %s; its answer will arrive later as a message. Go on with other work.", child)}
	}
	// A waiting parent gives its capacity slot up, so that a daemon
	// full of waiting parents (one slot: a parent and its own child)
	// still runs the children.
	reacquire := t.d.yieldSlot()
	sum, err := t.d.waitChild(ctx, child)
	reacquire(ctx)
	if err != nil {
		return tool.Errorf("stopped waiting for child task %s: %v", child, err)
	}
	switch sum.State {
	case bus.StateCompleted:
		return tool.Result{Output: fmt.Sprintf("child task %s completed:\n%s", child, sum.Result)}
	case bus.StateFailed:
		return tool.Errorf("child task %s failed: %s", child, sum.Error)
	default:
		return tool.Errorf("child task %s ended %s without an answer", child, sum.State)
	}
}

// waitChild follows a child task's log until its turn ends.
func (d *Daemon) waitChild(ctx context.Context, id string) (*bus.Summary, error) {
	var events []*bus.Event
	for ev, err := range d.tasks.Replay(ctx, id, bus.ReplayOptions{Follow: bus.UntilEnd}) {
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sum, _ := bus.Fold(events)
	if !sum.State.Terminal() {
		return nil, errors.New("its log ended before its answer")
	}
	return sum, nil
}

// yieldSlot gives up the capacity slot of the calling task (the one its
// assignment took) and returns the function that takes one again, before
// the pull loops may take it (a waiting pull is asked to give its slots
// up). When ctx ends while it waits, the slot is
// taken anyway (beyond the capacity, for the moment the task needs to end)
// so that the task's own release at its end stays balanced.
func (d *Daemon) yieldSlot() func(context.Context) {
	d.slots.release()
	return func(ctx context.Context) {
		// A pull waiting idly gives its slots up for it.
		asked := func() { d.pulls.anyYield.ask(); d.pulls.ownYield.ask() }
		if d.slots.acquireOr(ctx, true, asked) != nil {
			d.slots.take()
		}
	}
}

// maxDepth is the deepest task offered the spawn tool.
func (d *Daemon) maxDepth() int {
	switch {
	case d.cfg.MaxDepth < 0:
		return 0
	case d.cfg.MaxDepth == 0:
		return 2
	}
	return d.cfg.MaxDepth
}
