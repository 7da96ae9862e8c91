package tool

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/viberhq/viber/bus"
)

// fakeScheduler keeps schedules in memory and refuses what the gateway
// would refuse first (a duplicate name, a missing one).
type fakeScheduler struct {
	added map[string]*bus.AddScheduleRequest
}

func (f *fakeScheduler) AddSchedule(_ context.Context, r *bus.AddScheduleRequest) (*bus.ScheduleView, error) {
	if _, ok := f.added[r.Name]; ok {
		return nil, fmt.Errorf("schedule %s already exists: %w", r.Name, bus.ErrConflict)
	}
	f.added[r.Name] = r
	v := &bus.ScheduleView{Schedule: bus.Schedule{Name: r.Name, Goal: r.Goal, TZ: r.TZ, Pattern: "@every " + r.Every}}
	v.NextRuns = []time.Time{time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	return v, nil
}

func (f *fakeScheduler) Schedules(context.Context) ([]*bus.ScheduleView, error) {
	var out []*bus.ScheduleView
	for _, r := range f.added {
		out = append(out, &bus.ScheduleView{Schedule: bus.Schedule{Name: r.Name, Goal: r.Goal, Pattern: "@every " + r.Every, Paused: true}})
	}
	return out, nil
}

func (f *fakeScheduler) RemoveSchedule(_ context.Context, name string) error {
	if _, ok := f.added[name]; !ok {
		return fmt.Errorf("schedule %q: %w", name, bus.ErrScheduleNotFound)
	}
	delete(f.added, name)
	return nil
}

func TestScheduleTool(t *testing.T) {
	t.Parallel()
	f := &fakeScheduler{added: map[string]*bus.AddScheduleRequest{}}
	ws, err := NewWorkspace(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var st Tool
	for _, tl := range Builtins(ws, Options{Schedules: f}) {
		if tl.Name() == "schedule" {
			st = tl
		}
	}
	if st == nil {
		t.Fatal("Builtins with a Scheduler has no schedule tool")
	}
	for _, tl := range Builtins(ws, Options{}) {
		if tl.Name() == "schedule" {
			t.Fatal("Builtins without a Scheduler has a schedule tool")
		}
	}
	if b, err := json.Marshal(st.Parameters()); err != nil || !strings.Contains(string(b), `"required":["action"]`) {
		t.Fatalf("parameters: %s %v", b, err)
	}
	call := func(args string) Result { return st.Call(context.Background(), json.RawMessage(args)) }

	r := call(`{"action":"add","name":"tick","goal":"say tick","every":"1h"}`)
	if r.IsError || !strings.Contains(r.Output, "added schedule tick (@every 1h)") || !strings.Contains(r.Output, "next: 2030-01-01T00:00:00Z") {
		t.Fatalf("add: %+v", r)
	}
	if got := f.added["tick"]; got == nil || got.By != "agent" || got.Every != "1h" {
		t.Fatalf("request: %+v", got)
	}
	if r := call(`{"action":"add","name":"tick","goal":"again","every":"1h"}`); !r.IsError || !strings.Contains(r.Output, "already exists") {
		t.Fatalf("add twice: %+v", r)
	}
	if r := call(`{"action":"add","name":"x"}`); !r.IsError {
		t.Fatalf("add without goal: %+v", r)
	}
	if r := call(`{"action":"list"}`); r.IsError || !strings.Contains(r.Output, "tick: @every 1h, paused — say tick") {
		t.Fatalf("list: %+v", r)
	}
	if r := call(`{"action":"remove","name":"tick"}`); r.IsError || r.Output != "removed schedule tick" {
		t.Fatalf("remove: %+v", r)
	}
	if r := call(`{"action":"remove","name":"tick"}`); !r.IsError || !strings.Contains(r.Output, "not found") {
		t.Fatalf("remove again: %+v", r)
	}
	if r := call(`{"action":"list"}`); r.IsError || r.Output != "no schedules" {
		t.Fatalf("list empty: %+v", r)
	}
	if r := call(`{"action":"explode"}`); !r.IsError {
		t.Fatalf("unknown action: %+v", r)
	}
	if r := call(`{"action":"list","when":"now"}`); !r.IsError || !strings.Contains(r.Output, "invalid arguments") {
		t.Fatalf("unknown field: %+v", r)
	}
}
