package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/skills"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// requestFor returns the first model request whose first user message is
// goal.
func requestsFor(m *openaitest.Server, goal string) []*openaitest.Request {
	var out []*openaitest.Request
	for _, req := range m.Requests() {
		for _, msg := range req.Messages {
			if msg.Role == "user" {
				if msg.Text() == goal {
					out = append(out, req)
				}
				break
			}
		}
	}
	return out
}

func systemOf(req *openaitest.Request) string {
	if len(req.Messages) > 0 && req.Messages[0].Role == "system" {
		return req.Messages[0].Text()
	}
	return ""
}

// agentsOf is the agent names a daemon announces.
func (r *rig) agentsOf(daemon string) []string {
	p, err := bus.OpenPresence(r.ctx(5*time.Second), r.env.JS)
	if err != nil {
		r.t.Fatal(err)
	}
	d, err := p.Get(context.Background(), daemon)
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range d.Agents {
		out = append(out, a.Name)
	}
	return out
}

const reviewerAgent = `---
name: reviewer
description: Reads code and reports; never changes anything.
tools: [read_file, grep]
max_steps: 5
---
You are the reviewer. You read and report, nothing else.
`

// A task that asks for a named agent goes to the daemon that has it, runs
// with the agent's prompt, and the model is offered only the tools the
// agent's allow-list names (plus the agent's own).
func TestNamedAgentRoutingPromptAndTools(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", answer("reviewed"))
	r.gateway()
	r.daemon("plain") // offers only the default agent
	ws := t.TempDir()
	writeFile(t, filepath.Join(skills.AgentsWorkspaceDir(ws), "reviewer.md"), reviewerAgent)
	r.daemonOpts("staffed", daemonOptions{Workspace: ws})
	if got := r.agentsOf("staffed"); !slices.Equal(got, []string{"default", "reviewer"}) {
		t.Fatalf("staffed announces agents %v, want default and reviewer", got)
	}

	const goal = "review the code"
	sum := r.submitWith(&bus.CreateTaskRequest{Goal: goal, Agent: "reviewer"})
	if sum.Agent != "reviewer" {
		t.Errorf("summary agent %q, want reviewer", sum.Agent)
	}
	events := r.follow(sum.ID, 15*time.Second)
	final, _ := bus.Fold(events)
	if final.State != bus.StateCompleted || final.Daemon != "staffed" || final.Agent != "reviewer" {
		t.Fatalf("task ended %s on %q with agent %q, want completed on staffed with reviewer", final.State, final.Daemon, final.Agent)
	}
	created := payload[bus.Created](t, events[0])
	if created.Agent != "reviewer" {
		t.Errorf("created event names agent %q", created.Agent)
	}
	reqs := requestsFor(r.model, goal)
	if len(reqs) == 0 {
		t.Fatal("the model got no request for the task")
	}
	if sys := systemOf(reqs[0]); !strings.HasPrefix(sys, "You are the reviewer.") {
		t.Errorf("system prompt does not start with the agent's: %q", sys)
	}
	tools := reqs[0].ToolNames()
	for _, banned := range []string{"shell", "write_file", "edit_file", "web_fetch", "list_dir"} {
		if slices.Contains(tools, banned) {
			t.Errorf("tool %s is outside the agent's allow-list but was offered: %v", banned, tools)
		}
	}
	for _, want := range []string{"read_file", "grep", "update_plan"} {
		if !slices.Contains(tools, want) {
			t.Errorf("tool %s should be offered, got %v", want, tools)
		}
	}

	// A task without an agent keeps today's behaviour: every tool.
	const plainGoal = "just answer"
	s2 := r.submitWith(&bus.CreateTaskRequest{Goal: plainGoal})
	r.follow(s2.ID, 15*time.Second)
	if reqs := requestsFor(r.model, plainGoal); len(reqs) == 0 || !slices.Contains(reqs[0].ToolNames(), "shell") {
		t.Errorf("the default agent should be offered every tool")
	}

	// No daemon has it: refused at submit, saying so.
	_, err := r.client.CreateTask(r.ctx(5*time.Second), &bus.CreateTaskRequest{Goal: "x", Agent: "nobody"})
	if !errors.Is(err, bus.ErrAgentUnavailable) || !strings.Contains(err.Error(), "viber agent ls") {
		t.Errorf("unknown agent: got %v, want ErrAgentUnavailable naming `viber agent ls`", err)
	}
	// Pinned to a daemon that lacks it: refused too.
	_, err = r.client.CreateTask(r.ctx(5*time.Second), &bus.CreateTaskRequest{Goal: "x", Agent: "reviewer", Daemon: "plain"})
	if !errors.Is(err, bus.ErrAgentUnavailable) {
		t.Errorf("agent on a daemon that lacks it: got %v, want ErrAgentUnavailable", err)
	}
}

// An agent or skill dropped into a running daemon's folder is offered
// within seconds, without a restart, and a task can use it at once.
func TestAgentsAndSkillsPickedUpWithoutRestart(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", answer("hello from the late agent"))
	r.gateway()
	home, ws := t.TempDir(), t.TempDir()
	r.daemonOpts("d1", daemonOptions{Home: home, Workspace: ws, Rescan: 100 * time.Millisecond})
	writeFile(t, filepath.Join(skills.AgentsUserDir(home), "late.yaml"),
		"name: late\ndescription: Came later.\nsystem: You are the late agent.\nmemory: none\n")
	writeFile(t, filepath.Join(skills.WorkspaceDir(ws), "fresh", "SKILL.md"),
		"---\nname: fresh\ndescription: A skill that came later.\n---\nDo it freshly.\n")
	p, err := bus.OpenPresence(r.ctx(5*time.Second), r.env.JS)
	if err != nil {
		t.Fatal(err)
	}
	r.eventually(5*time.Second, "presence to show agent late and skill fresh", func() bool {
		d, err := p.Get(context.Background(), "d1")
		return err == nil && d.HasAgent("late") && d.Offers([]string{"fresh"})
	})
	const goal = "greet late"
	sum := r.submitWith(&bus.CreateTaskRequest{Goal: goal, Agent: "late", Skills: []string{"fresh"}})
	final, _ := bus.Fold(r.follow(sum.ID, 15*time.Second))
	if final.State != bus.StateCompleted || final.Result != "hello from the late agent" {
		t.Fatalf("task ended %s: %q %s", final.State, final.Result, final.Error)
	}
	if reqs := requestsFor(r.model, goal); len(reqs) == 0 || !strings.HasPrefix(systemOf(reqs[0]), "You are the late agent.") ||
		!strings.Contains(systemOf(reqs[0]), "<name>fresh</name>") {
		t.Errorf("the task did not run with the late agent's prompt and the fresh skill")
	}
}

// Once a skill that declares allowed-tools is activated, the model is
// offered only those tools (and the agent's own).
func TestSkillAllowedToolsNarrowTheTools(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", script(
		callTool("c1", "activate_skill", map[string]any{"name": "careful"}),
		answer("done carefully"),
	))
	r.gateway()
	ws := t.TempDir()
	writeFile(t, filepath.Join(skills.WorkspaceDir(ws), "careful", "SKILL.md"),
		"---\nname: careful\ndescription: Look, do not touch.\nallowed-tools: Read grep\n---\nOnly read.\n")
	r.daemonOpts("d1", daemonOptions{Workspace: ws})
	const goal = "be careful"
	sum := r.submit(goal)
	final, _ := bus.Fold(r.follow(sum.ID, 15*time.Second))
	if final.State != bus.StateCompleted {
		t.Fatalf("task ended %s: %s", final.State, final.Error)
	}
	reqs := requestsFor(r.model, goal)
	if len(reqs) != 2 {
		t.Fatalf("want 2 model requests, got %d", len(reqs))
	}
	if !slices.Contains(reqs[0].ToolNames(), "shell") {
		t.Errorf("before the skill every tool is offered, got %v", reqs[0].ToolNames())
	}
	got := reqs[1].ToolNames()
	slices.Sort(got)
	if want := []string{"activate_skill", "grep", "read_file", "update_plan"}; !slices.Equal(got, want) {
		t.Errorf("after activating the skill the tools are %v, want %v", got, want)
	}
}

// viber agent validate refuses an agent file with a bad field and names
// the line.
func TestCLIAgentValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "reviewer.md")
	writeFile(t, good, reviewerAgent)
	writeFile(t, filepath.Join(dir, "sloppy.yaml"), "name: sloppy\ndescription: d\nsystem: s\nmax_steps: many\n")
	stdout, stderr, code := run(t, nil, "viber", "agent", "validate", good)
	if code != 0 || !strings.Contains(stdout, "ok    "+good) {
		t.Fatalf("good: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = run(t, nil, "viber", "agent", "validate", dir)
	if code != 1 || !strings.Contains(stderr, "1 of 2") {
		t.Fatalf("folder with a bad agent: exit %d\n%s%s", code, stdout, stderr)
	}
	if want := "sloppy.yaml:4: max_steps: must be a whole number"; !strings.Contains(stdout, want) {
		t.Errorf("want %q in:\n%s", want, stdout)
	}
}
