package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/viberhq/viber/bus"
)

// Default limits of child tasks.
const (
	DefaultMaxDepth    = 2
	DefaultMaxChildren = 8
)

func (g *Gateway) maxDepth() int {
	if g.cfg.MaxDepth > 0 {
		return g.cfg.MaxDepth
	}
	return DefaultMaxDepth
}

func (g *Gateway) maxChildren() int {
	if g.cfg.MaxChildren > 0 {
		return g.cfg.MaxChildren
	}
	return DefaultMaxChildren
}

// childOf checks a request for a child task against its parent and
// completes created from it: the id derived from the parent and its spawn
// call, the depth, the parent's submitter, and the parent's policy, which
// the child may only make stricter. When the call already started its
// child, that child's summary is returned instead.
func (g *Gateway) childOf(ctx context.Context, req *bus.CreateTaskRequest, created *bus.Created) (string, *bus.Summary, error) {
	p := req.Parent
	if !bus.ValidToken(p.Task) || p.CallID == "" {
		return "", nil, fmt.Errorf("%w: a child task needs its parent's task id and spawn call id", bus.ErrMalformed)
	}
	id := bus.ChildID(p.Task, p.CallID)
	parent, err := g.tasks.Load(ctx, p.Task, g.firstSeq(ctx, p.Task))
	if err != nil {
		return "", nil, fmt.Errorf("parent of a child task: %w", err)
	}
	if parent.Child(p.CallID) != "" {
		sum, err := g.Task(ctx, id)
		return id, sum, err
	}
	if sum, err := g.Task(ctx, id); err == nil {
		return id, sum, nil // created, its child_created not stored yet
	}
	c := parent.Call(p.CallID)
	switch {
	case parent.State.Terminal():
		return "", nil, fmt.Errorf("parent task %s already %s: %w", p.Task, parent.State, bus.ErrTerminal)
	case c == nil || c.Tool != "spawn":
		return "", nil, fmt.Errorf("%w: parent task %s has no open spawn call %q", bus.ErrCallNotFound, p.Task, p.CallID)
	case parent.Depth+1 > g.maxDepth():
		return "", nil, fmt.Errorf("%w: task %s is at depth %d; child tasks nest at most %d deep", bus.ErrMalformed, p.Task, parent.Depth, g.maxDepth())
	case len(parent.Children) >= g.maxChildren():
		return "", nil, fmt.Errorf("%w: task %s already started %d child tasks, the limit", bus.ErrMalformed, p.Task, len(parent.Children))
	}
	pc := createdOf(parent.Events)
	created.Parent, created.Depth = &bus.ParentRef{Task: p.Task, CallID: p.CallID, Wait: p.Wait}, parent.Depth+1
	created.Submitter = pc.Submitter
	created.Policy = bus.StricterPolicy(pc.Policy, created.Policy)
	return id, nil, nil
}

// createdOf returns a task's created payload.
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

// cancelChildren asks every child of a cancelled task that is still
// running to stop too (and theirs, in turn). Failures are logged: the
// parent's cancel stands.
func (g *Gateway) cancelChildren(ctx context.Context, parent *bus.Summary, req *bus.CancelTaskRequest) {
	for _, c := range parent.Children {
		_, err := g.CancelTask(ctx, &bus.CancelTaskRequest{ID: c.Task, Reason: "its parent task " + parent.ID + " was cancelled", By: req.By})
		if err != nil && !errors.Is(err, bus.ErrTerminal) {
			g.log.Warn().Err(err).Str("task", c.Task).Str("parent", parent.ID).Msg("could not cancel a child of a cancelled task")
		}
	}
}

// childEnded passes the answer of a child task whose parent did not wait
// for it to the parent, as a follow-up input. The projector calls it once
// per turn end it folds (after storing the summary), so a gateway that
// dies in between loses that message; the child's result stays in its log.
func (g *Gateway) childEnded(child *bus.Summary) {
	if child.Parent == nil || child.Parent.Wait {
		return
	}
	text := fmt.Sprintf("Child task %s (started by your spawn call %s) %s", child.ID, child.Parent.CallID, child.State)
	switch child.State {
	case bus.StateCompleted:
		text += ":\n" + child.Result
	case bus.StateFailed:
		text += ": " + child.Error
	}
	if len(text) > bus.MaxInputBytes {
		text = text[:bus.MaxInputBytes-200] + "\n[cut; `viber task show " + child.ID + "` has it whole]"
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := g.SendInput(ctx, &bus.SendInputRequest{ID: child.Parent.Task, Text: text, Mode: bus.InputQueue, By: "child " + child.ID})
		if err != nil {
			g.log.Warn().Err(err).Str("task", child.ID).Str("parent", child.Parent.Task).Msg("could not pass a child's answer to its parent")
		}
	}()
}
