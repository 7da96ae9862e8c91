package agents

import (
	"encoding/json"
	"path"
	"strings"

	"github.com/viberhq/viber/agents/tool"
	"github.com/viberhq/viber/bus"
)

// ownTools are the agent's own tools, which no allow-list removes: they
// act on the task itself, not on the world.
var ownTools = map[string]bool{"update_plan": true, "activate_skill": true, "memory_read": true, "memory_update": true}

// toolAliases maps the tool names other agent harnesses use in a skill's
// allowed-tools to Viber's.
var toolAliases = map[string]string{
	"bash": "shell", "read": "read_file", "write": "write_file", "edit": "edit_file",
	"glob": "glob", "grep": "grep", "ls": "list_dir", "webfetch": "web_fetch",
}

// skillToolPattern turns an allowed-tools entry ("Bash(git:*)", "Read",
// "mcp_github_*") into a glob of Viber tool names; the argument part in
// parentheses is not a tool name and is dropped.
func skillToolPattern(entry string) string {
	if i := strings.IndexByte(entry, '('); i >= 0 {
		entry = entry[:i]
	}
	entry = strings.TrimSpace(entry)
	if a, ok := toolAliases[strings.ToLower(entry)]; ok {
		return a
	}
	return strings.ToLower(entry)
}

// activeSkills returns the skills activated so far in the task (an
// activate_skill call whose result is not an error).
func activeSkills(events []*bus.Event) []string {
	calls := map[string]string{}
	var out []string
	for _, ev := range events {
		switch ev.Type {
		case bus.TypeToolCall:
			c, err := bus.DecodeAs[bus.ToolCall](ev)
			if err != nil || c.Tool != "activate_skill" {
				continue
			}
			var a struct {
				Name string `json:"name"`
			}
			if json.Unmarshal([]byte(c.Arguments), &a) == nil && a.Name != "" {
				calls[c.CallID] = a.Name
			}
		case bus.TypeToolResult:
			r, err := bus.DecodeAs[bus.ToolResult](ev)
			if err != nil || r.IsError {
				continue
			}
			if name, ok := calls[r.CallID]; ok {
				out = append(out, name)
			}
		}
	}
	return out
}

// offered is the registry of the tools the model may call at this step:
// once an activated skill declares allowed-tools, only the tools those
// skills allow (and the agent's own) stay; the others are neither shown
// to the model nor callable. Without such a skill it is reg itself.
func (a *Agent) offered(reg *tool.Registry, events []*bus.Event) *tool.Registry {
	if a.Skills == nil {
		return reg
	}
	var patterns []string
	limited := false
	for _, name := range activeSkills(events) {
		s, ok := a.Skills.Get(name)
		if !ok || len(s.AllowedTools) == 0 {
			continue
		}
		limited = true
		for _, e := range s.AllowedTools {
			patterns = append(patterns, skillToolPattern(e))
		}
	}
	if !limited {
		return reg
	}
	var keep []tool.Tool
	for _, t := range reg.List() {
		if ownTools[t.Name()] || matchAny(patterns, t.Name()) {
			keep = append(keep, t)
		}
	}
	out, err := tool.NewRegistry(keep...)
	if err != nil {
		return reg // cannot happen: the tools come from a registry
	}
	return out
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if p == name {
			return true
		}
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}
