package tool

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/viberhq/viber/bus"
)

// Scheduler is what the schedule tool asks of the gateway; a
// *client.Client is one. Every call is bounded by the tool's context.
type Scheduler interface {
	AddSchedule(ctx context.Context, req *bus.AddScheduleRequest) (*bus.ScheduleView, error)
	Schedules(ctx context.Context) ([]*bus.ScheduleView, error)
	RemoveSchedule(ctx context.Context, name string) error
}

// scheduleTimeout bounds one call to the gateway.
const scheduleTimeout = 15 * time.Second

// scheduleBy is who schedules made by agents are recorded as added by.
const scheduleBy = "agent"

type scheduleTool struct {
	s Scheduler
}

func (*scheduleTool) Name() string { return "schedule" }

func (*scheduleTool) Description() string {
	return "Create, list or remove schedules. A schedule starts a new task with the given goal at every firing: " +
		"a cron expression (\"0 9 * * 1\" = Mondays at 09:00, with an IANA time zone in tz), an interval (every: \"15m\") " +
		"or one time (at: RFC 3339). Use it for reminders and recurring work (\"remind me every Monday\"); each task " +
		"starts fresh, so put everything the task needs in its goal. action: add (name, goal and one of cron/every/at), " +
		"list, or remove (name)."
}

func (*scheduleTool) Parameters() map[string]any {
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"action":  map[string]any{"type": "string", "enum": []string{"add", "list", "remove"}},
			"name":    map[string]any{"type": "string", "description": "schedule name: letters, digits, '-' or '_' (add, remove)"},
			"goal":    map[string]any{"type": "string", "description": "what each task should do (add)"},
			"cron":    map[string]any{"type": "string", "description": "cron expression, 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first"},
			"tz":      map[string]any{"type": "string", "description": "IANA time zone of cron, e.g. Europe/Paris (default UTC)"},
			"every":   map[string]any{"type": "string", "description": "interval such as 30m or 24h (at least 1s)"},
			"at":      map[string]any{"type": "string", "description": "one-time RFC 3339 time, e.g. 2026-12-24T09:00:00Z"},
			"overlap": map[string]any{"type": "string", "enum": []string{bus.OverlapSkip, bus.OverlapQueue}, "description": "while the previous run is unfinished: skip (default) or queue"},
		},
		"required": []string{"action"},
	}
}

type scheduleArgs struct {
	Action  string `json:"action"`
	Name    string `json:"name"`
	Goal    string `json:"goal"`
	Cron    string `json:"cron"`
	TZ      string `json:"tz"`
	Every   string `json:"every"`
	At      string `json:"at"`
	Overlap string `json:"overlap"`
}

func (t *scheduleTool) Call(ctx context.Context, raw json.RawMessage) Result {
	var a scheduleArgs
	if r, ok := decodeArgs(raw, &a); !ok {
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, scheduleTimeout)
	defer cancel()
	switch a.Action {
	case "add":
		if a.Name == "" || strings.TrimSpace(a.Goal) == "" {
			return Errorf("add needs a name and a goal")
		}
		v, err := t.s.AddSchedule(ctx, &bus.AddScheduleRequest{
			Name: a.Name, Goal: a.Goal, Cron: a.Cron, TZ: a.TZ, Every: a.Every, At: a.At, Overlap: a.Overlap, By: scheduleBy,
		})
		if err != nil {
			return Errorf("the schedule was not added: %v", err)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "added schedule %s (%s)", v.Name, v.Pattern)
		if v.TZ != "" {
			fmt.Fprintf(&b, " in %s", v.TZ)
		}
		for i, n := range v.NextRuns {
			if i == 3 {
				break
			}
			fmt.Fprintf(&b, "\nnext: %s", n.UTC().Format(time.RFC3339))
		}
		return Result{Output: b.String()}
	case "list":
		list, err := t.s.Schedules(ctx)
		if err != nil {
			return Errorf("could not list schedules: %v", err)
		}
		if len(list) == 0 {
			return Result{Output: "no schedules"}
		}
		var b strings.Builder
		for _, v := range list {
			fmt.Fprintf(&b, "%s: %s", v.Name, v.Pattern)
			if v.TZ != "" {
				fmt.Fprintf(&b, " %s", v.TZ)
			}
			switch {
			case v.Paused:
				b.WriteString(", paused")
			case v.Done:
				b.WriteString(", done")
			case len(v.NextRuns) > 0:
				fmt.Fprintf(&b, ", next %s", v.NextRuns[0].UTC().Format(time.RFC3339))
			}
			fmt.Fprintf(&b, " — %s\n", clip(v.Goal, 200))
		}
		return Result{Output: strings.TrimSuffix(b.String(), "\n")}
	case "remove":
		if a.Name == "" {
			return Errorf("remove needs the schedule's name (action list shows them)")
		}
		if err := t.s.RemoveSchedule(ctx, a.Name); err != nil {
			return Errorf("the schedule was not removed: %v", err)
		}
		return Result{Output: "removed schedule " + a.Name}
	}
	return Errorf("action %q: want add, list or remove", a.Action)
}
