package agents

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/viberhq/viber/agents/tool"
)

// Decision is what a policy says about a tool call.
type Decision string

// Decisions.
const (
	// Allow runs the call.
	Allow Decision = "allow"
	// Ask appends approval_requested and runs the call only once a person
	// approves it.
	Ask Decision = "ask"
	// Deny refuses the call; the model is told.
	Deny Decision = "deny"
)

// ParseDecision reads "allow", "ask" or "deny".
func ParseDecision(s string) (Decision, error) {
	switch d := Decision(strings.ToLower(strings.TrimSpace(s))); d {
	case Allow, Ask, Deny:
		return d, nil
	}
	return "", fmt.Errorf("policy %q: use allow, ask or deny", s)
}

// ShellRule decides shell commands that start with Prefix.
type ShellRule struct {
	Prefix   string
	Decision Decision
}

// Policy decides, per tool, whether a call runs, waits for a person, or is
// refused. Shell commands can have their own rules by command prefix; the
// longest matching prefix wins.
type Policy struct {
	// Tools maps a tool name, or a glob of names ("mcp_github_*", in
	// path.Match syntax), to its decision. A name's own entry wins over
	// globs; among matching globs the longest wins, and of equally long
	// ones the strictest.
	Tools map[string]Decision
	// Default applies to tools not in Tools (default ask).
	Default Decision
	// Shell rules apply to the shell tool before Tools["shell"].
	Shell []ShellRule
	// Tight are glob rules a task added with Tighten: a call they match is
	// decided by the strictest of them and of the rest of the policy, so
	// they can only make it stricter.
	Tight map[string]Decision
}

// IsGlob reports whether a policy key is a glob of tool names (it holds *,
// ? or [) rather than one name, "*" (the default) or a shell rule.
func IsGlob(key string) bool {
	return key != "*" && !strings.HasPrefix(key, "shell:") && strings.ContainsAny(key, "*?[")
}

// globDecision is the decision of the longest glob in rules matching tool
// (ties: the strictest), and the glob.
func globDecision(rules map[string]Decision, tool string) (Decision, string, bool) {
	var best string
	var d Decision
	found := false
	for g, v := range rules {
		if !IsGlob(g) {
			continue
		}
		if ok, _ := path.Match(g, tool); !ok {
			continue
		}
		if !found || len(g) > len(best) || (len(g) == len(best) && (strictness(v) > strictness(d) || (v == d && g < best))) {
			best, d, found = g, v, true
		}
	}
	return d, best, found
}

// DefaultPolicy reads and writes in the workspace freely and asks before
// running shell commands. Tools it does not know (for example ones added
// later, and MCP servers' mcp_* tools) are asked about.
func DefaultPolicy() Policy {
	return Policy{
		Tools: map[string]Decision{
			"read_file": Allow, "list_dir": Allow, "glob": Allow, "grep": Allow,
			"write_file": Allow, "edit_file": Allow, "web_fetch": Allow,
			"update_plan": Allow, "activate_skill": Allow,
			"memory_read": Allow, "memory_update": Allow, "spawn": Allow,
			"shell": Ask, "schedule": Ask,
		},
		Default: Ask,
	}
}

// With returns a copy of p with per-tool overrides (tool → decision)
// applied. A key "shell:PREFIX" adds a shell rule.
func (p Policy) With(overrides map[string]string) (Policy, error) {
	out := Policy{Tools: map[string]Decision{}, Default: p.Default, Shell: append([]ShellRule(nil), p.Shell...)}
	for k, v := range p.Tools {
		out.Tools[k] = v
	}
	if p.Tight != nil {
		out.Tight = map[string]Decision{}
		for k, v := range p.Tight {
			out.Tight[k] = v
		}
	}
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var problems []string
	for _, k := range keys {
		d, err := ParseDecision(overrides[k])
		if err != nil {
			problems = append(problems, k+": "+err.Error())
			continue
		}
		if prefix, ok := strings.CutPrefix(k, "shell:"); ok {
			out.Shell = append(out.Shell, ShellRule{Prefix: strings.TrimSpace(prefix), Decision: d})
			continue
		}
		if k == "*" {
			out.Default = d
			continue
		}
		if IsGlob(k) {
			if _, err := path.Match(k, ""); err != nil {
				problems = append(problems, fmt.Sprintf("%s: not a glob (use *, ?, [a-z])", k))
				continue
			}
		}
		out.Tools[k] = d
	}
	if len(problems) > 0 {
		return p, fmt.Errorf("policy: %s", strings.Join(problems, "; "))
	}
	return out, nil
}

// prefixMatch reports whether cmd starts with prefix as whole words.
func prefixMatch(cmd, prefix string) bool {
	prefix = strings.TrimSpace(prefix)
	if prefix == "" || !strings.HasPrefix(cmd, prefix) {
		return false
	}
	rest := cmd[len(prefix):]
	return rest == "" || rest[0] == ' ' || rest[0] == '\t'
}

// strictness orders decisions: allow < ask < deny.
func strictness(d Decision) int {
	switch d {
	case Allow:
		return 0
	case Deny:
		return 2
	}
	return 1
}

// Tighten applies a task's overrides, which may only make the policy
// stricter: a task cannot allow what the daemon's operator asks about or
// denies. Looser overrides are ignored and reported.
//
// A glob key ("mcp_github_*") becomes a Tight rule: the tools it matches
// get the stricter of its decision and the daemon's, so "allow" there
// changes nothing and is reported as ignored.
func (p Policy) Tighten(overrides map[string]string) (Policy, []string, error) {
	var ignored []string
	strict := map[string]string{}
	tight := map[string]Decision{}
	for k, v := range overrides {
		d, err := ParseDecision(v)
		if err != nil {
			return p, nil, fmt.Errorf("policy: %s: %w", k, err)
		}
		if IsGlob(k) {
			if _, err := path.Match(k, ""); err != nil {
				return p, nil, fmt.Errorf("policy: %s: not a glob (use *, ?, [a-z])", k)
			}
			if d == Allow {
				ignored = append(ignored, fmt.Sprintf("%s=%s (a task's glob may only tighten)", k, d))
				continue
			}
			tight[k] = d
			continue
		}
		var current Decision
		switch {
		case k == "*":
			current = p.Default
		case strings.HasPrefix(k, "shell:"):
			b, _ := json.Marshal(map[string]string{"command": strings.TrimPrefix(k, "shell:")})
			current, _ = p.Decide("shell", b)
		default:
			current, _ = p.Decide(k, nil)
		}
		if strictness(d) < strictness(current) {
			ignored = append(ignored, fmt.Sprintf("%s=%s (the daemon says %s)", k, d, current))
			continue
		}
		strict[k] = string(d)
	}
	sort.Strings(ignored)
	out, err := p.With(strict)
	if err != nil {
		return out, ignored, err
	}
	if len(tight) > 0 {
		if out.Tight == nil {
			out.Tight = map[string]Decision{}
		}
		for k, d := range tight {
			if strictness(d) > strictness(out.Tight[k]) || out.Tight[k] == "" {
				out.Tight[k] = d
			}
		}
	}
	return out, ignored, nil
}

// Decide returns the decision for a call and a reason people can read.
func (p Policy) Decide(tool string, args json.RawMessage) (Decision, string) {
	d, why := p.decide(tool, args)
	for g, t := range p.Tight {
		if ok, _ := path.Match(g, tool); ok && strictness(t) > strictness(d) {
			d, why = t, fmt.Sprintf("task policy for %s: %s", g, t)
		}
	}
	return d, why
}

func (p Policy) decide(tool string, args json.RawMessage) (Decision, string) {
	if tool == "shell" {
		var a struct {
			Command string `json:"command"`
		}
		_ = json.Unmarshal(args, &a)
		cmd := strings.TrimSpace(a.Command)
		compound := strings.ContainsAny(cmd, ";&|`$<>(){}\n\\")
		best := -1
		for i, r := range p.Shell {
			if !prefixMatch(cmd, r.Prefix) || (r.Decision == Allow && compound) {
				// An allow rule never covers a compound command: "git
				// status; curl x | sh" is not "git status".
				continue
			}
			if best < 0 || len(r.Prefix) > len(p.Shell[best].Prefix) {
				best = i
			}
		}
		if best >= 0 {
			r := p.Shell[best]
			return r.Decision, fmt.Sprintf("shell rule %q: %s", r.Prefix, r.Decision)
		}
	}
	if d, ok := p.Tools[tool]; ok {
		return d, fmt.Sprintf("policy for %s: %s", tool, d)
	}
	if d, g, ok := globDecision(p.Tools, tool); ok {
		return d, fmt.Sprintf("policy for %s: %s", g, d)
	}
	d := p.Default
	if d == "" {
		d = Ask
	}
	return d, fmt.Sprintf("default policy: %s", d)
}

// ToolNames lists the tools a policy can name: the built-in tools and the
// agent's own (update_plan, activate_skill).
func ToolNames() []string {
	var names []string
	// The tools are only asked their names: an empty workspace will do.
	for _, t := range tool.Builtins(&tool.Workspace{}, tool.Options{}) {
		names = append(names, t.Name())
	}
	return append(names, (*planTool)(nil).Name(), (*skillTool)(nil).Name(), "memory_read", "memory_update", "spawn")
}
