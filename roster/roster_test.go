package roster_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/viberhq/viber/roster"
	"github.com/viberhq/viber/skills"
)

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const reviewerMD = `---
name: reviewer
description: Reviews Go changes.
model: openai/gpt-4o-mini
tools: [read_file, grep, "mcp_github_*"]
skills: [go-review]
policy:
  shell: deny
max_steps: 7
memory: [agent, user]
---
You review Go code and say what to fix.
`

func TestValidateAcceptsBothForms(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	md := write(t, dir, "reviewer.md", reviewerMD)
	yml := write(t, dir, "writer.yaml", "name: writer\ndescription: Writes docs.\nsystem: You write docs.\ntools: []\nmemory: none\n")
	for _, p := range []string{md, yml} {
		if problems := roster.Validate(p); len(problems) != 0 {
			t.Errorf("%s: want no problems, got %v", p, problems)
		}
	}
	a, warnings, err := roster.Load(md, skills.SourceWorkspace)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("load: %v %v", err, warnings)
	}
	if a.System != "You review Go code and say what to fix." || a.Model != "openai/gpt-4o-mini" || a.MaxSteps != 7 ||
		a.Policy["shell"] != "deny" || !slices.Equal(a.Skills, []string{"go-review"}) || !slices.Equal(a.Memory, []string{"agent", "user"}) {
		t.Errorf("loaded %+v", a)
	}
	for tool, want := range map[string]bool{"read_file": true, "grep": true, "mcp_github_issues": true, "shell": false, "mcp_slack_post": false} {
		if got := a.Allows(tool); got != want {
			t.Errorf("Allows(%s) = %v, want %v", tool, got, want)
		}
	}
	if a.HasScope("global") || !a.HasScope("agent") {
		t.Errorf("scopes %v", a.MemoryScopes())
	}
	w, _, err := roster.Load(yml, skills.SourceUser)
	if err != nil {
		t.Fatal(err)
	}
	if w.Allows("read_file") || w.Memory == nil || len(w.Memory) != 0 {
		t.Errorf("an empty tools list allows nothing and memory none is no scope: %+v", w)
	}
}

func TestValidateReportsLines(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := write(t, dir, "bad.md", "---\nname: bad\ndescription: x\ncolour: blue\nmax_steps: lots\ntools: [\"read_[\"]\n---\nbody\n")
	problems := roster.Validate(p)
	var got []string
	for _, pr := range problems {
		got = append(got, strings.TrimPrefix(pr.Error(), p))
	}
	want := []string{
		":4: colour: is not a field of an agent",
		":5: max_steps: must be a whole number",
		":6: tools: \"read_[\" is not a valid glob",
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
			t.Errorf("want a problem starting %q, got %q", w, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("want %d problems, got %q", len(want), got)
	}
	// Leniently, a bad allow-list must not load as "every tool".
	if _, _, err := roster.Load(p, skills.SourceUser); err == nil {
		t.Error("an agent whose tools cannot be read loaded")
	}
	yml := write(t, dir, "other.yaml", "name: mismatch\ndescription: d\nsystem: s\n")
	if pr := roster.Validate(yml); len(pr) != 1 || pr[0].Line != 1 || pr[0].Field != "name" {
		t.Errorf("name that differs from the file: got %v", pr)
	}
}

func TestDiscoverWorkspaceWinsAndDefault(t *testing.T) {
	t.Parallel()
	ws, home := t.TempDir(), t.TempDir()
	write(t, skills.AgentsWorkspaceDir(ws), "reviewer.md", reviewerMD)
	write(t, skills.AgentsUserDir(home), "reviewer.yaml", "name: reviewer\ndescription: user copy\nsystem: s\n")
	write(t, skills.AgentsUserDir(home), "broken.yaml", "name: broken\ndescription: d\nsystem: s\npolicy: deny\n")
	write(t, skills.AgentsUserDir(home), "notes.txt", "not an agent")
	r, warnings := roster.Discover(skills.AgentRoots(ws, home)...)
	if got := r.Names(); !slices.Equal(got, []string{"default", "reviewer"}) {
		t.Fatalf("names %v", got)
	}
	a, _ := r.Get("reviewer")
	if a.Source != skills.SourceWorkspace {
		t.Errorf("reviewer from %s, want the workspace's", a.Source)
	}
	d, ok := r.Get("")
	if !ok || d.Name != roster.DefaultName || d.Source != roster.SourceBuiltin || !d.Allows("anything") {
		t.Errorf("default agent %+v", d)
	}
	var text []string
	for _, w := range warnings {
		text = append(text, w.String())
	}
	all := strings.Join(text, "\n")
	if !strings.Contains(all, "shadowed") || !strings.Contains(all, "broken.yaml: agent skipped") {
		t.Errorf("warnings:\n%s", all)
	}
}
