package tool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/tmc/langchaingo/llms"
)

// Tool is one capability the model can call.
//
// Implementations must be safe for concurrent use and must report every
// problem — bad arguments, refusals, failures — as a Result with IsError
// set and a message the model can act on; Call never panics and never
// fails silently. Call must return promptly once ctx is done.
type Tool interface {
	// Name is the stable, snake_case name the model calls the tool by
	// (e.g. "read_file"); it is also what tool_call events record.
	Name() string
	// Description is one paragraph telling the model what the tool does
	// and when to use it.
	Description() string
	// Parameters is the JSON Schema (type "object") of the arguments.
	Parameters() map[string]any
	// Call runs the tool with args, the JSON object the model produced.
	Call(ctx context.Context, args json.RawMessage) Result
}

// Result is what goes back to the model (and into the tool_result event).
type Result struct {
	// Output is the text the model sees: the tool's answer, or for an
	// error a message saying what went wrong and what to do instead.
	Output string `json:"output"`
	// IsError reports a failed or refused call.
	IsError bool `json:"is_error,omitempty"`
	// Truncated reports that Output was cut to a size cap.
	Truncated bool `json:"truncated,omitempty"`
}

// Errorf returns an error Result with a formatted message.
func Errorf(format string, args ...any) Result {
	return Result{Output: fmt.Sprintf(format, args...), IsError: true}
}

// ErrDuplicateTool is returned by Registry.Add for a name already present.
var ErrDuplicateTool = errors.New("duplicate tool name")

// ErrInvalidToolName is returned by Registry.Add for a name that is not
// snake_case (lowercase letters, digits and underscores, starting with a
// letter, at most 64 characters), which providers would refuse.
var ErrInvalidToolName = errors.New("invalid tool name")

var toolName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Registry is an ordered set of tools with unique names. The zero value is
// an empty registry ready to use. A Registry is not safe for concurrent
// Add; once filled it may be read (Get, List, Call) concurrently.
type Registry struct {
	tools []Tool
	index map[string]int
}

// NewRegistry returns a registry holding tools, in order.
func NewRegistry(tools ...Tool) (*Registry, error) {
	r := &Registry{}
	if err := r.Add(tools...); err != nil {
		return nil, err
	}
	return r, nil
}

// Add appends tools in order. It refuses (adding none of them) a nil tool,
// an invalid name (ErrInvalidToolName) or a name already present or
// repeated among tools (ErrDuplicateTool).
func (r *Registry) Add(tools ...Tool) error {
	seen := map[string]bool{}
	for _, t := range tools {
		if t == nil {
			return errors.New("tool: nil tool")
		}
		n := t.Name()
		if !toolName.MatchString(n) {
			return fmt.Errorf("%w: %q", ErrInvalidToolName, n)
		}
		if _, ok := r.index[n]; ok || seen[n] {
			return fmt.Errorf("%w: %q", ErrDuplicateTool, n)
		}
		seen[n] = true
	}
	if r.index == nil {
		r.index = map[string]int{}
	}
	for _, t := range tools {
		r.index[t.Name()] = len(r.tools)
		r.tools = append(r.tools, t)
	}
	return nil
}

// Get returns the tool called name.
func (r *Registry) Get(name string) (Tool, bool) {
	i, ok := r.index[name]
	if !ok {
		return nil, false
	}
	return r.tools[i], true
}

// List returns the tools in the order they were added.
func (r *Registry) List() []Tool { return slices.Clone(r.tools) }

// Names returns the tool names in the order they were added.
func (r *Registry) Names() []string {
	names := make([]string, len(r.tools))
	for i, t := range r.tools {
		names[i] = t.Name()
	}
	return names
}

// Call runs the tool called name. An unknown name, or a panic inside the
// tool, becomes an error Result rather than a Go error, so the agent loop
// can hand every outcome back to the model.
func (r *Registry) Call(ctx context.Context, name string, args json.RawMessage) (res Result) {
	t, ok := r.Get(name)
	if !ok {
		names := r.Names()
		sort.Strings(names)
		return Errorf("unknown tool %q; available tools: %s", name, strings.Join(names, ", "))
	}
	defer func() {
		if v := recover(); v != nil {
			res = Errorf("tool %s failed internally: %v", name, v)
		}
	}()
	return t.Call(ctx, args)
}

// LLMTools returns the registry's tools as langchaingo function
// definitions, in order, ready for llms.WithTools.
func (r *Registry) LLMTools() []llms.Tool {
	out := make([]llms.Tool, len(r.tools))
	for i, t := range r.tools {
		out[i] = llms.Tool{
			Type: "function",
			Function: &llms.FunctionDefinition{
				Name:        t.Name(),
				Description: t.Description(),
				Parameters:  t.Parameters(),
			},
		}
	}
	return out
}

// Builtins returns the built-in tools, confined to ws and configured by
// opts (zero fields take defaults): read_file, write_file, edit_file,
// list_dir, glob, grep, shell and web_fetch, in that order, then schedule
// when opts.Schedules is set.
func Builtins(ws *Workspace, opts Options) []Tool {
	o := opts.withDefaults()
	tools := []Tool{
		&readFile{ws: ws, o: o},
		&writeFile{ws: ws, o: o},
		&editFile{ws: ws, o: o},
		&listDir{ws: ws, o: o},
		&globTool{ws: ws, o: o},
		&grepTool{ws: ws, o: o},
		newShell(ws, o),
		newWebFetch(o),
	}
	if o.Schedules != nil {
		tools = append(tools, &scheduleTool{s: o.Schedules})
	}
	return tools
}

// decodeArgs unmarshals the model's arguments into v (a pointer to a
// struct with json tags), refusing unknown fields so a misspelt argument is
// reported rather than ignored. It returns an error Result and false when
// the arguments are unusable.
func decodeArgs(args json.RawMessage, v any) (Result, bool) {
	trimmed := bytes.TrimSpace(args)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		trimmed = []byte("{}")
	}
	if trimmed[0] != '{' {
		return Errorf("arguments must be a JSON object, got %s", clip(string(trimmed), 200)), false
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf("invalid arguments: %v; expected fields: %s", err, strings.Join(jsonFields(v), ", ")), false
	}
	if dec.More() {
		return Errorf("invalid arguments: trailing data after the JSON object"), false
	}
	return Result{}, true
}

// schema builds a JSON Schema object with the given properties and
// required names.
func schema(props map[string]any, required ...string) map[string]any {
	s := map[string]any{
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func prop(typ, desc string) map[string]any {
	return map[string]any{"type": typ, "description": desc}
}

// clip cuts s to at most n bytes (on a rune boundary), marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// text makes b safe to put in a JSON event: invalid UTF-8 becomes U+FFFD.
func text(b []byte) string { return strings.ToValidUTF8(string(b), "\uFFFD") }

// jsonFields lists the json names of the struct v points to.
func jsonFields(v any) []string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		names = append(names, name)
	}
	return names
}
