package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/viberhq/viber/bus"
)

// RemoveTask removes a task: its events, its assignment and its summary
// (bus.PurgeTask). A task that has not ended is refused with bus.ErrActive
// unless req.Force; the daemon running a forced one finds its next write
// refused and stops.
func (g *Gateway) RemoveTask(ctx context.Context, req *bus.RemoveTaskRequest) (*bus.RemoveTaskResponse, error) {
	s, err := g.Task(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	if !s.State.Terminal() && !req.Force {
		return nil, fmt.Errorf("task %s is %s; cancel it first, or force its removal (`viber task rm --force`): %w", req.ID, s.State, bus.ErrActive)
	}
	g.awaitProjected(ctx, req.ID)
	events, err := bus.PurgeTask(ctx, g.js, req.ID)
	if err != nil {
		return nil, err
	}
	g.log.Info().Str("task", req.ID).Str("state", string(s.State)).Uint64("events", events).Bool("force", req.Force).Msg("task removed")
	return &bus.RemoveTaskResponse{ID: req.ID, State: s.State, Events: events}, nil
}

// awaitProjected waits, for a few seconds at most, until the task's stored
// summary has folded the whole of its log. A purge that came before the
// projector's last write would otherwise find the summary written again
// after it. When the projector is behind for longer (another gateway runs
// it and is down), the removal goes on.
func (g *Gateway) awaitProjected(ctx context.Context, taskID string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		head, err := g.tasks.HeadSeq(ctx, taskID)
		if err != nil {
			return
		}
		if sum, _, err := g.summaries.Get(ctx, taskID); err == nil && sum.StreamSeq >= head {
			return
		}
		sleep(ctx, delay)
		if ctx.Err() != nil {
			g.log.Warn().Str("task", taskID).Msg("removing a task whose summary is not yet projected; it may reappear until the projector catches up")
			return
		}
	}
}

func (g *Gateway) apiRemoveTask(w http.ResponseWriter, r *http.Request) {
	req := bus.RemoveTaskRequest{ID: r.PathValue("id")}
	if v := r.URL.Query().Get(bus.QueryForce); v != "" {
		force, err := strconv.ParseBool(v)
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, bus.CodeMalformed, fmt.Sprintf("?%s=%q: want true or false", bus.QueryForce, v))
			return
		}
		req.Force = force
	}
	resp, err := g.RemoveTask(r.Context(), &req)
	if err != nil {
		g.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
