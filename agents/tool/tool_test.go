package tool

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

type fakeTool struct {
	name string
	call func(context.Context, json.RawMessage) Result
}

func (f fakeTool) Name() string               { return f.name }
func (f fakeTool) Description() string        { return "fake " + f.name }
func (f fakeTool) Parameters() map[string]any { return schema(map[string]any{}) }
func (f fakeTool) Call(ctx context.Context, args json.RawMessage) Result {
	return f.call(ctx, args)
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	echo := fakeTool{name: "echo", call: func(_ context.Context, a json.RawMessage) Result { return Result{Output: string(a)} }}
	boom := fakeTool{name: "boom", call: func(context.Context, json.RawMessage) Result { panic("kaboom") }}
	r, err := NewRegistry(echo, boom)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Names(); !slices.Equal(got, []string{"echo", "boom"}) {
		t.Fatalf("Names() = %v", got)
	}
	if got := r.List(); len(got) != 2 || got[0].Name() != "echo" {
		t.Fatalf("List() = %v", got)
	}
	if tl, ok := r.Get("boom"); !ok || tl.Name() != "boom" {
		t.Fatal("Get(boom)")
	}
	if _, ok := r.Get("nope"); ok {
		t.Fatal("Get(nope) found something")
	}
	if err := r.Add(fakeTool{name: "echo"}); !errors.Is(err, ErrDuplicateTool) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := r.Add(fakeTool{name: "x1"}, fakeTool{name: "x1"}); !errors.Is(err, ErrDuplicateTool) {
		t.Fatalf("duplicate in one Add: %v", err)
	}
	if err := r.Add(fakeTool{name: "Bad-Name"}); !errors.Is(err, ErrInvalidToolName) {
		t.Fatalf("invalid name: %v", err)
	}
	if err := r.Add(nil); err == nil {
		t.Fatal("nil tool accepted")
	}
	if len(r.List()) != 2 {
		t.Fatal("failed Add changed the registry")
	}

	if res := r.Call(context.Background(), "echo", json.RawMessage(`{"a":1}`)); res.IsError || res.Output != `{"a":1}` {
		t.Fatalf("Call(echo) = %+v", res)
	}
	if res := r.Call(context.Background(), "boom", nil); !res.IsError || !strings.Contains(res.Output, "kaboom") {
		t.Fatalf("Call(boom) = %+v", res)
	}
	if res := r.Call(context.Background(), "nope", nil); !res.IsError || !strings.Contains(res.Output, "available tools: boom, echo") {
		t.Fatalf("Call(nope) = %+v", res)
	}

	var zero Registry
	if err := zero.Add(echo); err != nil {
		t.Fatal(err)
	}
	if _, ok := zero.Get("echo"); !ok {
		t.Fatal("zero Registry unusable")
	}
}

func TestBuiltins(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{})
	tools := Builtins(f.ws, Options{})
	reg, err := NewRegistry(tools...)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"read_file", "write_file", "edit_file", "list_dir", "glob", "grep", "shell", "web_fetch"}
	if got := reg.Names(); !slices.Equal(got, want) {
		t.Fatalf("Builtins names = %v, want %v", got, want)
	}
	defs := reg.LLMTools()
	if len(defs) != len(want) {
		t.Fatalf("LLMTools: %d", len(defs))
	}
	for i, tl := range tools {
		if defs[i].Type != "function" || defs[i].Function.Name != want[i] {
			t.Errorf("LLMTools[%d] = %+v", i, defs[i])
		}
		if len(tl.Description()) < 40 {
			t.Errorf("%s: description too short", tl.Name())
		}
		p := tl.Parameters()
		if p["type"] != "object" {
			t.Errorf("%s: schema type %v", tl.Name(), p["type"])
		}
		props, _ := p["properties"].(map[string]any)
		req, _ := p["required"].([]string)
		for _, r := range req {
			if _, ok := props[r]; !ok {
				t.Errorf("%s: required %q not in properties", tl.Name(), r)
			}
		}
		if _, err := json.Marshal(p); err != nil {
			t.Errorf("%s: schema does not marshal: %v", tl.Name(), err)
		}
		// Garbage arguments never panic and always explain themselves.
		garbage := []string{`[]`, `"x"`, `{`, `{"path": 1}`, `{} {}`, `{"zzz": true}`}
		if tl.Name() != "list_dir" { // list_dir needs no arguments
			garbage = append(garbage, ``, `null`)
		}
		for _, raw := range garbage {
			res := reg.Call(context.Background(), tl.Name(), json.RawMessage(raw))
			if !res.IsError || res.Output == "" {
				t.Errorf("%s(%s) = %+v, want an error", tl.Name(), raw, res)
			}
		}
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	o := Options{}.withDefaults()
	if o.ShellTimeout != DefaultShellTimeout || o.MaxShellTimeout != DefaultMaxShellTimeout || o.MaxOutputBytes != DefaultMaxOutputBytes ||
		o.MaxReadBytes != DefaultMaxReadBytes || o.FetchTimeout != DefaultFetchTimeout || o.MaxFetchBytes != DefaultMaxFetchBytes || o.AllowPrivateNetworks {
		t.Fatalf("defaults: %+v", o)
	}
	o = Options{ShellTimeout: 20 * DefaultMaxShellTimeout}.withDefaults()
	if o.MaxShellTimeout != o.ShellTimeout {
		t.Fatalf("MaxShellTimeout below ShellTimeout: %+v", o)
	}
	if err := (Options{}).Validate(); err != nil {
		t.Fatal(err)
	}
	err := Options{ShellTimeout: -1, MaxOutputBytes: -1, DenyCommands: []string{"(", "ok"}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "ShellTimeout") || !strings.Contains(err.Error(), "MaxOutputBytes") || !strings.Contains(err.Error(), "DenyCommands") {
		t.Fatalf("Validate = %v", err)
	}
}
