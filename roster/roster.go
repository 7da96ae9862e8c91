package roster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/viberhq/viber/skills"
)

// DefaultName is the name of the built-in agent: the daemon's general
// worker, today's behaviour.
const DefaultName = "default"

// SourceBuiltin marks the built-in default agent.
const SourceBuiltin skills.Source = "builtin"

// Memory scopes an agent may read and write (see the memory package).
const (
	// ScopeAgent is memory shared by every task of one agent.
	ScopeAgent = "agent"
	// ScopeUser is memory about the task's submitter.
	ScopeUser = "user"
	// ScopeGlobal is memory shared by every agent.
	ScopeGlobal = "global"
)

// Scopes lists the memory scopes in the order memory is loaded.
func Scopes() []string { return []string{ScopeGlobal, ScopeAgent, ScopeUser} }

func validScope(s string) bool { return slices.Contains(Scopes(), s) }

// Agent is one named agent: how tasks that ask for it are run.
type Agent struct {
	// Name is the agent's name, what `task submit --agent` takes.
	Name string
	// Description says what the agent is for.
	Description string
	// Model is the "provider/model" (or model) it runs on; empty means the
	// daemon's default. A task's own model wins.
	Model string
	// System is the system prompt; empty (the default agent) means the
	// daemon's.
	System string
	// Tools is the allow-list of tool names and path.Match globs
	// ("mcp_github_*"); nil means every tool, empty means none. The
	// agent's own tools (update_plan, activate_skill, the memory tools)
	// are not in it.
	Tools []string
	// Skills are the only skills offered; nil means all of the daemon's.
	Skills []string
	// Policy makes the daemon's tool policy stricter (never looser).
	Policy map[string]string
	// MaxSteps bounds model calls per turn; 0 means the daemon's.
	MaxSteps int
	// Memory lists the memory scopes the agent reads and writes; nil
	// means every scope, empty means no memory.
	Memory []string
	// Path is the file the agent came from ("" for the built-in one).
	Path string
	// Source says which folder it came from.
	Source skills.Source
}

// Default returns the built-in default agent.
func Default() *Agent {
	return &Agent{
		Name:        DefaultName,
		Description: "The daemon's general worker: every tool and skill, the daemon's prompt, model and policy.",
		Source:      SourceBuiltin,
	}
}

// Allows reports whether the agent may call the tool: its allow-list
// names it or a glob of it matches (every tool when there is no list).
func (a *Agent) Allows(tool string) bool {
	if a == nil || a.Tools == nil {
		return true
	}
	for _, p := range a.Tools {
		if p == tool {
			return true
		}
		if ok, _ := path.Match(p, tool); ok {
			return true
		}
	}
	return false
}

// HasScope reports whether the agent uses the memory scope.
func (a *Agent) HasScope(scope string) bool {
	return a == nil || a.Memory == nil || slices.Contains(a.Memory, scope)
}

// MemoryScopes lists the memory scopes the agent uses, in load order.
func (a *Agent) MemoryScopes() []string {
	var out []string
	for _, s := range Scopes() {
		if a.HasScope(s) {
			out = append(out, s)
		}
	}
	return out
}

// Validate checks one agent file strictly and returns every problem, each
// with its line, or nil for a valid file.
func Validate(p string) []Problem {
	abs, err := filepath.Abs(p)
	if err != nil {
		return []Problem{{Path: p, Message: err.Error()}}
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return []Problem{{Path: abs, Message: "does not exist"}}
	case err != nil:
		return []Problem{{Path: abs, Message: err.Error()}}
	case fi.IsDir():
		return []Problem{{Path: abs, Message: "is a folder; an agent is a file <name>.md or <name>.yaml"}}
	}
	var problems []Problem
	if !IsFile(filepath.Base(abs)) {
		problems = append(problems, Problem{Path: abs, Message: "an agent file is named <name>.md, <name>.yaml or <name>.yml"})
	}
	src, err := readFile(abs)
	if err != nil {
		return append(problems, Problem{Path: abs, Message: err.Error()})
	}
	return append(problems, parse(abs, src).problems...)
}

// Load reads one agent file leniently: problems come back as warnings and
// the agent still loads, unless the file cannot be read as an agent at all
// or a restricting field (tools, policy) is unreadable; Load then returns
// an error wrapping [ErrUnusable]. A missing name takes the file's name.
func Load(p string, source skills.Source) (*Agent, []Warning, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrUnusable, p, err)
	}
	src, err := readFile(abs)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrUnusable, abs, err)
	}
	d := parse(abs, src)
	if d.broken {
		parts := make([]string, len(d.problems))
		for i, pr := range d.problems {
			parts[i] = pr.Error()
		}
		return nil, nil, fmt.Errorf("%w: %s", ErrUnusable, strings.Join(parts, "; "))
	}
	var warnings []Warning
	for _, pr := range d.problems {
		warnings = append(warnings, Warning{Path: abs, Message: strings.TrimPrefix(pr.Error(), abs+": ")})
	}
	a := d.agent
	if !ValidName(a.Name) {
		name := stem(abs)
		if !ValidName(name) {
			return nil, warnings, fmt.Errorf("%w: %s: neither the name field nor the file's name is a valid agent name", ErrUnusable, abs)
		}
		warnings = append(warnings, Warning{Path: abs, Message: fmt.Sprintf("named %q after the file", name)})
		a.Name = name
	}
	a.Path, a.Source = abs, source
	return &a, warnings, nil
}

// Roster is the set of agents a daemon offers, by name. It is read-only
// once built; the methods accept a nil *Roster, which holds only the
// default agent.
type Roster struct {
	byName map[string]*Agent
	sorted []*Agent
}

// Discover loads the agents of the given roots (in order of precedence:
// the first agent found with a name wins, see [skills.AgentRoots]) plus
// the built-in default agent, which a file of that name replaces. Unusable
// files are skipped with a warning; shadowed ones produce a warning naming
// both files.
func Discover(roots ...skills.Root) (*Roster, []Warning) {
	r := &Roster{byName: map[string]*Agent{}}
	var warnings []Warning
	for _, root := range roots {
		if root.Dir == "" {
			continue
		}
		dir, err := filepath.Abs(root.Dir)
		if err != nil {
			warnings = append(warnings, Warning{Path: root.Dir, Message: "agents folder skipped: " + err.Error()})
			continue
		}
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			warnings = append(warnings, Warning{Path: dir, Message: "agents folder skipped: " + err.Error()})
			continue
		}
		for _, e := range entries {
			if !IsFile(e.Name()) {
				continue
			}
			p := filepath.Join(dir, e.Name())
			if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
				continue
			}
			a, ws, err := Load(p, root.Source)
			warnings = append(warnings, ws...)
			if err != nil {
				warnings = append(warnings, Warning{Path: p, Message: "agent skipped: " + err.Error()})
				continue
			}
			if prev, ok := r.byName[a.Name]; ok {
				warnings = append(warnings, Warning{Path: p, Message: fmt.Sprintf(
					"agent %q (%s) is shadowed by the %s agent of the same name at %s", a.Name, a.Source, prev.Source, prev.Path)})
				continue
			}
			r.byName[a.Name] = a
			r.sorted = append(r.sorted, a)
		}
	}
	if _, ok := r.byName[DefaultName]; !ok {
		d := Default()
		r.byName[d.Name] = d
		r.sorted = append(r.sorted, d)
	}
	slices.SortFunc(r.sorted, func(a, b *Agent) int { return strings.Compare(a.Name, b.Name) })
	return r, warnings
}

// Get returns the named agent; "" means the default agent.
func (r *Roster) Get(name string) (*Agent, bool) {
	if name == "" {
		name = DefaultName
	}
	if r == nil {
		if name == DefaultName {
			return Default(), true
		}
		return nil, false
	}
	a, ok := r.byName[name]
	return a, ok
}

// List returns the agents sorted by name.
func (r *Roster) List() []*Agent {
	if r == nil {
		return []*Agent{Default()}
	}
	return slices.Clone(r.sorted)
}

// Names returns the agent names sorted.
func (r *Roster) Names() []string {
	var out []string
	for _, a := range r.List() {
		out = append(out, a.Name)
	}
	return out
}
