package schemas_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/schemas"
)

// samples holds a payload with every required field set, per type.
var samples = map[bus.Type]bus.Payload{
	bus.TypeCreated:           &bus.Created{Goal: "list the files", Skills: []string{"go"}},
	bus.TypeAssigned:          &bus.Assigned{Daemon: "d1", Attempt: 1},
	bus.TypeStarted:           &bus.Started{Daemon: "d1", Provider: "openai", Model: "gpt-4o-mini"},
	bus.TypeMessage:           &bus.Message{Role: "assistant", Text: "hello"},
	bus.TypePlan:              &bus.Plan{Items: []bus.PlanItem{{Text: "read", Status: "done"}, {Text: "write", Status: "pending"}}},
	bus.TypeToolCall:          &bus.ToolCall{CallID: "c1", Tool: "shell", Arguments: `{"cmd":"ls"}`},
	bus.TypeToolResult:        &bus.ToolResult{CallID: "c1", Tool: "shell", Output: "a\nb\n"},
	bus.TypeApprovalRequested: &bus.ApprovalRequested{CallID: "c1", Tool: "shell", Arguments: `{}`, Reason: "policy asks"},
	bus.TypeApprovalDecided:   &bus.ApprovalDecided{CallID: "c1", Approved: true, By: "ann"},
	bus.TypeInput:             &bus.Input{Text: "also run the tests", Mode: bus.InputSteer},
	bus.TypeCancelRequested:   &bus.CancelRequested{},
	bus.TypeCompleted:         &bus.Completed{Result: "done", Usage: &bus.Usage{InputTokens: 10, OutputTokens: 3}},
	bus.TypeFailed:            &bus.Failed{Error: "no model configured", Code: bus.FailNoModel},
	bus.TypeCancelled:         &bus.Cancelled{Reason: "user"},
	bus.TypeChildCreated:      &bus.ChildCreated{CallID: "c1", Task: "01HCHILD-abc", Goal: "sub-goal", Wait: true},
	bus.TypeMemoryUpdated:     &bus.MemoryUpdated{CallID: "c1", Scope: "agent:reviewer", Name: "MEMORY.md", Revision: 2, Previous: 1, Content: "likes tea"},
}

type testBundle struct {
	v *schemas.Validator
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	v, err := schemas.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	return &testBundle{v: v}
}

// envelope returns a valid event of p's type as a JSON object.
func envelope(t *testing.T, p bus.Payload) map[string]any {
	t.Helper()
	e, err := bus.NewEvent(bus.NewID(), "viberd/test", p)
	if err != nil {
		t.Fatal(err)
	}
	e.Seq = 1
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func encode(t *testing.T, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFresh(t *testing.T) {
	t.Parallel()
	const stale = "schemas are stale: run `go generate ./schemas`"
	want, err := schemas.Generate()
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range onDisk {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: %s is not generated any more", stale, name)
		}
	}
	for name, b := range want {
		got, err := os.ReadFile(name)
		if err != nil {
			t.Errorf("%s: %v", stale, err)
			continue
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%s: %s differs", stale, name)
		}
	}
}

func TestGenerateDeterministic(t *testing.T) {
	t.Parallel()
	a, err := schemas.Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := schemas.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("%d files, then %d", len(a), len(b))
	}
	for name := range a {
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s differs between two runs", name)
		}
		if !bytes.HasSuffix(a[name], []byte("}\n")) || !bytes.HasPrefix(a[name], []byte("{\n  \"")) {
			t.Errorf("%s is not 2-space indented JSON ending in a newline", name)
		}
	}
}

func TestEveryTypeHasAFile(t *testing.T) {
	t.Parallel()
	for _, p := range bus.AllTypes() {
		typ := p.EventType()
		b, err := schemas.File(typ)
		if err != nil {
			t.Errorf("%s: %v", typ, err)
			continue
		}
		var s struct {
			Schema string `json:"$schema"`
			ID     string `json:"$id"`
			Title  string `json:"title"`
			Desc   string `json:"description"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			t.Errorf("%s: %v", typ, err)
			continue
		}
		if s.Schema != "https://json-schema.org/draft/2020-12/schema" || s.ID != schemas.URL(typ) ||
			s.ID != "https://viber.dev/schemas/"+string(typ)+".json" || s.Title == "" || s.Desc == "" {
			t.Errorf("%s: header %+v", typ, s)
		}
		if bytes.Contains(b, []byte(`"$ref"`)) {
			t.Errorf("%s: has a $ref; files must stand alone", typ)
		}
	}
	if _, err := fs.Stat(schemas.FS, schemas.AnyEventFile); err != nil {
		t.Error(err)
	}
	if _, err := schemas.File("viber.task.nope"); !errors.Is(err, bus.ErrUnknownType) {
		t.Errorf("File of an unknown type: %v", err)
	}
}

func TestValidEvents(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	for _, p := range bus.AllTypes() {
		typ := p.EventType()
		sample, ok := samples[typ]
		if !ok {
			t.Errorf("no sample payload for %s: add one to samples", typ)
			continue
		}
		b := encode(t, envelope(t, sample))
		if err := tb.v.Validate(b); err != nil {
			t.Errorf("%s: %v\n%s", typ, err, b)
		}
		if err := tb.v.ValidateAny(b); err != nil {
			t.Errorf("%s against %s: %v", typ, schemas.AnyEventFile, err)
		}
	}
}

func TestPayloadsAreOpen(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	m := envelope(t, samples[bus.TypeStarted])
	m["data"].(map[string]any)["added_later"] = 42
	if err := tb.v.Validate(encode(t, m)); err != nil {
		t.Errorf("a payload field added later is refused: %v", err)
	}
}

func TestInvalidEvents(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	cases := []struct {
		name   string
		typ    bus.Type
		change func(m map[string]any)
		want   string // in the error
	}{
		{"data of another type", bus.TypeStarted, func(m map[string]any) {
			m["type"] = string(bus.TypeCreated)
		}, "goal"},
		{"missing required data field", bus.TypeCreated, func(m map[string]any) {
			delete(m["data"].(map[string]any), "goal")
		}, "goal"},
		{"empty goal", bus.TypeCreated, func(m map[string]any) {
			m["data"].(map[string]any)["goal"] = ""
		}, "/data/goal"},
		{"bad role", bus.TypeMessage, func(m map[string]any) {
			m["data"].(map[string]any)["role"] = "robot"
		}, "/data/role"},
		{"bad plan status", bus.TypePlan, func(m map[string]any) {
			m["data"].(map[string]any)["items"].([]any)[0].(map[string]any)["status"] = "maybe"
		}, "/data/items/0/status"},
		{"bad input mode", bus.TypeInput, func(m map[string]any) {
			m["data"].(map[string]any)["mode"] = "shout"
		}, "/data/mode"},
		{"attempt 0", bus.TypeAssigned, func(m map[string]any) {
			m["data"].(map[string]any)["attempt"] = 0
		}, "/data/attempt"},
		{"extra envelope property", bus.TypeStarted, func(m map[string]any) {
			m["traceparent"] = "00-abc"
		}, "traceparent"},
		{"seq 0", bus.TypeStarted, func(m map[string]any) { m["seq"] = 0 }, "/seq"},
		{"seq not an integer", bus.TypeStarted, func(m map[string]any) { m["seq"] = 1.5 }, "/seq"},
		{"no data", bus.TypeStarted, func(m map[string]any) { delete(m, "data") }, "data"},
		{"data not an object", bus.TypeStarted, func(m map[string]any) { m["data"] = "d1" }, "/data"},
		{"specversion", bus.TypeStarted, func(m map[string]any) { m["specversion"] = "0.3" }, "/specversion"},
		{"datacontenttype", bus.TypeStarted, func(m map[string]any) { m["datacontenttype"] = "text/plain" }, "/datacontenttype"},
		{"time not a date-time", bus.TypeStarted, func(m map[string]any) { m["time"] = "yesterday" }, "/time"},
		{"subject not a task id", bus.TypeStarted, func(m map[string]any) { m["subject"] = "a.b" }, "/subject"},
		{"empty id", bus.TypeStarted, func(m map[string]any) { m["id"] = "" }, "/id"},
		{"no source", bus.TypeStarted, func(m map[string]any) { delete(m, "source") }, "source"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := envelope(t, samples[c.typ])
			c.change(m)
			b := encode(t, m)
			err := tb.v.Validate(b)
			if !errors.Is(err, schemas.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid\n%s", err, b)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error does not mention %q: %v", c.want, err)
			}
			if err := tb.v.ValidateAny(b); !errors.Is(err, schemas.ErrInvalid) {
				t.Errorf("ValidateAny = %v, want ErrInvalid", err)
			}
		})
	}
}

// Each file pins type: an event of another type is refused by it.
func TestTypeConst(t *testing.T) {
	t.Parallel()
	b, err := schemas.File(bus.TypeStarted)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemas.URL(bus.TypeStarted), doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(schemas.URL(bus.TypeStarted))
	if err != nil {
		t.Fatal(err)
	}
	m := envelope(t, samples[bus.TypeStarted])
	if err := s.Validate(roundTrip(t, m)); err != nil {
		t.Fatalf("valid started event: %v", err)
	}
	m["type"] = string(bus.TypeCompleted)
	err = s.Validate(roundTrip(t, m))
	if err == nil || !strings.Contains(err.Error(), "/type") {
		t.Errorf("completed event against the started schema: %v", err)
	}
}

// roundTrip decodes m's JSON the way the validator library wants it.
func roundTrip(t *testing.T, m map[string]any) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(encode(t, m)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestUnknownType(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	for _, typ := range []any{"viber.task.exploded", 7, nil} {
		m := envelope(t, samples[bus.TypeStarted])
		if typ == nil {
			delete(m, "type")
		} else {
			m["type"] = typ
		}
		b := encode(t, m)
		err := tb.v.Validate(b)
		if !errors.Is(err, bus.ErrUnknownType) {
			t.Errorf("type %v: Validate = %v, want bus.ErrUnknownType", typ, err)
		}
		if err := tb.v.ValidateAny(b); !errors.Is(err, schemas.ErrInvalid) {
			t.Errorf("type %v: ValidateAny = %v, want ErrInvalid", typ, err)
		}
	}
	if err := tb.v.Validate([]byte(`[1]`)); err == nil {
		t.Error("an array validates")
	}
	if err := tb.v.Validate([]byte(`{`)); err == nil {
		t.Error("broken JSON validates")
	}
}

func TestValidateEvent(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	e, err := bus.NewEvent(bus.NewID(), "vibergw/g1", samples[bus.TypeFailed])
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.v.ValidateEvent(e); !errors.Is(err, schemas.ErrInvalid) {
		t.Errorf("seq 0: %v", err)
	}
	e.Seq = 7
	if err := tb.v.ValidateEvent(e); err != nil {
		t.Error(err)
	}
}

func TestAnyEventListsEveryType(t *testing.T) {
	t.Parallel()
	b, err := fs.ReadFile(schemas.FS, schemas.AnyEventFile)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs       map[string]json.RawMessage `json:"$defs"`
		Properties struct {
			Type struct {
				Enum []string `json:"enum"`
			} `json:"type"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	for _, p := range bus.AllTypes() {
		typ := string(p.EventType())
		if _, ok := s.Defs[typ]; !ok {
			t.Errorf("no $defs entry for %s", typ)
		}
		if !slices.Contains(s.Properties.Type.Enum, typ) {
			t.Errorf("type enum lacks %s", typ)
		}
	}
}
