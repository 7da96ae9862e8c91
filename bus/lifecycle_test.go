package bus_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/viberhq/viber/bus"
)

// fixture is one golden lifecycle case in testdata/lifecycle: events in a
// compact form and the fields of the summary they must fold into (a field
// given as null must be absent).
type fixture struct {
	Description string `json:"description"`
	Events      []struct {
		Type string          `json:"type"`
		By   string          `json:"by"`
		Data json.RawMessage `json:"data"`
		Seq  uint64          `json:"seq"`
		// Reject says the event must not fit the task.
		Reject bool `json:"reject"`
	} `json:"events"`
	Summary map[string]json.RawMessage `json:"summary"`
}

// events expands a fixture's events into envelopes: "gw" writes as a
// gateway, anything else as the daemon of that id; seq is the next one
// after the events that fit, unless given.
func (f *fixture) events(t *testing.T) []*bus.Event {
	t.Helper()
	base := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var out []*bus.Event
	next := uint64(1)
	for i, e := range f.Events {
		source := bus.DaemonSource(e.By)
		if e.By == "gw" {
			source = bus.GatewaySource("test")
		}
		seq := e.Seq
		if seq == 0 {
			seq = next
		}
		if !e.Reject {
			next++
		}
		out = append(out, &bus.Event{
			SpecVersion: bus.SpecVersion, ID: bus.NewID(), Type: bus.Type("viber.task." + e.Type), Source: source,
			Subject: "t1", Time: base.Add(time.Duration(i) * time.Second), DataContentType: bus.ContentType, Seq: seq, Data: e.Data,
		})
	}
	return out
}

// TestLifecycleFixtures folds every golden case and compares the summary.
// The same fixtures describe the lifecycle for any other implementation.
func TestLifecycleFixtures(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "lifecycle", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var f fixture
			if err := json.Unmarshal(b, &f); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			sum := &bus.Summary{}
			for i, ev := range f.events(t) {
				_, err := sum.Apply(ev)
				if rejected := err != nil; rejected != f.Events[i].Reject {
					t.Errorf("%s (%s): event %d (%s by %s): rejected %v (%v), want %v", name, f.Description, i, ev.Type.Short(), ev.Source, rejected, err, f.Events[i].Reject)
				}
			}
			got := map[string]json.RawMessage{}
			raw, _ := json.Marshal(sum)
			_ = json.Unmarshal(raw, &got)
			for key, want := range f.Summary {
				have, ok := got[key]
				if string(want) == "null" {
					if ok && string(have) != "null" {
						t.Errorf("%s (%s): %s = %s, want it absent", name, f.Description, key, have)
					}
					continue
				}
				if !ok {
					have = zeroJSON(want)
				}
				if !jsonEqual(t, have, want) {
					t.Errorf("%s (%s): %s = %s, want %s", name, f.Description, key, have, want)
				}
			}
		})
	}
}

// zeroJSON is what an omitted (omitempty) field stands for.
func zeroJSON(like json.RawMessage) json.RawMessage {
	switch {
	case len(like) > 0 && like[0] == '"':
		return json.RawMessage(`""`)
	case string(like) == "true" || string(like) == "false":
		return json.RawMessage(`false`)
	case len(like) > 0 && (like[0] == '[' || like[0] == '{'):
		return json.RawMessage(`null`)
	}
	return json.RawMessage(`0`)
}

func jsonEqual(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}
