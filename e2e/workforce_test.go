package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
	if want := []string{"activate_skill", "grep", "memory_read", "memory_update", "read_file", "update_plan"}; !slices.Equal(got, want) {
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
	// ls --local reads the folders here: the workspace's agent, the
	// built-in default, and a warning for the sloppy one.
	ws, home := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(skills.AgentsWorkspaceDir(ws), "reviewer.md"), reviewerAgent)
	writeFile(t, filepath.Join(skills.AgentsUserDir(home), "sloppy.yaml"), "name: sloppy\ndescription: d\nsystem: s\nmax_steps: many\n")
	stdout, stderr, code = run(t, []string{"VIBER_HOME=" + home}, "viber", "agent", "ls", "--local", "--workspace", ws)
	if code != 0 || !strings.Contains(stdout, "reviewer") || !strings.Contains(stdout, "default") || !strings.Contains(stdout, "sloppy") ||
		!strings.Contains(stderr, "warning:") || !strings.Contains(stderr, "max_steps") {
		t.Errorf("agent ls --local: exit %d\n%s%s", code, stdout, stderr)
	}
}

// memoryEvents returns the memory_updated events of a task's log.
func memoryEvents(t *testing.T, events []*bus.Event) []*bus.MemoryUpdated {
	var out []*bus.MemoryUpdated
	for _, ev := range events {
		if ev.Type == bus.TypeMemoryUpdated {
			out = append(out, payload[bus.MemoryUpdated](t, ev))
		}
	}
	return out
}

// A task saves memory with memory_update (a memory_updated event in its
// log, a revision in viber_memory); a later task of the same agent sees it
// in its system prompt; the API lists, shows, logs and restores it.
func TestMemoryUpdateThenANewTaskRemembers(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", func(req *openaitest.Request) openaitest.Reply {
		switch {
		case strings.HasPrefix(req.LastToolResult(), "saved"):
			return openaitest.Reply{Text: "noted"}
		case req.LastUser() == "remember that I like tea":
			return callTool("c1", "memory_update", map[string]any{"name": "MEMORY.md", "content": "The user likes tea.", "scope": "agent"})(req)
		}
		return openaitest.Reply{Text: "fine"}
	})
	r.gateway()
	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, ".viber", "SOUL.md"), "You are calm and precise.")
	r.daemonOpts("d1", daemonOptions{Workspace: ws})

	first := r.submit("remember that I like tea")
	events := r.follow(first.ID, 15*time.Second)
	if s, _ := bus.Fold(events); s.State != bus.StateCompleted {
		t.Fatalf("first task ended %s: %s (%s)", s.State, s.Error, types(events))
	}
	mu := memoryEvents(t, events)
	if len(mu) != 1 || mu[0].Scope != "agent:default" || mu[0].Name != "MEMORY.md" || mu[0].Content != "The user likes tea." || mu[0].CallID != "c1" || mu[0].Revision == 0 {
		t.Fatalf("memory_updated events %+v, want one for agent:default MEMORY.md by call c1", mu)
	}

	const goal = "what do you know?"
	second := r.submit(goal)
	r.follow(second.ID, 15*time.Second)
	reqs := requestsFor(r.model, goal)
	if len(reqs) == 0 {
		t.Fatal("no model request for the second task")
	}
	sys := systemOf(reqs[0])
	for _, want := range []string{"The user likes tea.", `scope="pinned" name="SOUL.md"`, "You are calm and precise."} {
		if !strings.Contains(sys, want) {
			t.Errorf("the second task's system prompt lacks %q:\n%s", want, sys)
		}
	}
	if tools := reqs[0].ToolNames(); !slices.Contains(tools, "memory_update") || !slices.Contains(tools, "memory_read") {
		t.Errorf("memory tools not offered: %v", tools)
	}

	// The API: list, show, write (compare-and-set), log, restore.
	ctx := r.ctx(10 * time.Second)
	files, err := r.client.MemoryList(ctx, "agent:default")
	if err != nil || len(files) != 1 || files[0].Name != "MEMORY.md" {
		t.Fatalf("memory list: %v %+v", err, files)
	}
	cur, err := r.client.MemoryGet(ctx, "agent:default", "MEMORY.md", 0)
	if err != nil || cur.Content != "The user likes tea." {
		t.Fatalf("memory get: %v %+v", err, cur)
	}
	if _, err := r.client.MemoryPut(ctx, "agent:default", "MEMORY.md", "stale write", cur.Revision-1); !errors.Is(err, bus.ErrConflict) {
		t.Errorf("a write over an old revision: got %v, want ErrConflict", err)
	}
	edited, err := r.client.MemoryPut(ctx, "agent:default", "MEMORY.md", "The user likes coffee.", cur.Revision)
	if err != nil {
		t.Fatal(err)
	}
	revs, err := r.client.MemoryHistory(ctx, "agent:default", "MEMORY.md")
	if err != nil || len(revs) != 2 || revs[0].Content != "The user likes coffee." || revs[1].Content != "The user likes tea." {
		t.Fatalf("memory log: %v %+v", err, revs)
	}
	back, err := r.client.MemoryRestore(ctx, "agent:default", "MEMORY.md", cur.Revision)
	if err != nil || back.Content != "The user likes tea." || back.Revision <= edited.Revision {
		t.Fatalf("restore: %v %+v", err, back)
	}
	if _, err := r.client.MemoryGet(ctx, "user:nobody", "MEMORY.md", 0); !errors.Is(err, bus.ErrMemoryNotFound) {
		t.Errorf("missing file: got %v, want ErrMemoryNotFound", err)
	}
}

// Two tasks racing to write one memory file both land: the second write
// is refused with the current text, the model merges, and its next write
// lands.
func TestMemoryRaceBothLandOneAfterAMerge(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	firsts := map[string]bool{}
	both := make(chan struct{})
	r := newRig(t, "", func(req *openaitest.Request) openaitest.Reply {
		goal := ""
		for _, m := range req.Messages {
			if m.Role == "user" {
				goal = m.Text()
				break
			}
		}
		fact := "fact " + strings.TrimPrefix(goal, "remember ")
		last := req.LastToolResult()
		switch {
		case strings.HasPrefix(last, "saved"):
			return openaitest.Reply{Text: "saved " + fact}
		case strings.Contains(last, "<current>"):
			current := last[strings.Index(last, "<current>\n")+len("<current>\n") : strings.Index(last, "\n</current>")]
			return callTool("c2", "memory_update", map[string]any{"name": "MEMORY.md", "content": current + "\n" + fact, "scope": "global"})(req)
		}
		// Both tasks read the (empty) memory before either writes.
		mu.Lock()
		firsts[goal] = true
		if len(firsts) == 2 {
			select {
			case <-both:
			default:
				close(both)
			}
		}
		mu.Unlock()
		select {
		case <-both:
		case <-time.After(10 * time.Second):
		}
		return callTool("c1", "memory_update", map[string]any{"name": "MEMORY.md", "content": fact, "scope": "global"})(req)
	})
	r.gateway()
	r.daemon("d1")
	a, b := r.submit("remember A"), r.submit("remember B")
	var updates []*bus.MemoryUpdated
	for _, id := range []string{a.ID, b.ID} {
		events := r.follow(id, 20*time.Second)
		if s, _ := bus.Fold(events); s.State != bus.StateCompleted {
			t.Fatalf("task %s ended %s: %s", id, s.State, s.Error)
		}
		updates = append(updates, memoryEvents(t, events)...)
	}
	if len(updates) != 2 {
		t.Fatalf("want 2 memory_updated events (one per task), got %d", len(updates))
	}
	f, err := r.client.MemoryGet(r.ctx(5*time.Second), "global", "MEMORY.md", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.Content, "fact A") || !strings.Contains(f.Content, "fact B") {
		t.Errorf("the merged file lost a write: %q", f.Content)
	}
	revs, err := r.client.MemoryHistory(r.ctx(5*time.Second), "global", "MEMORY.md")
	if err != nil || len(revs) != 2 {
		t.Errorf("want 2 revisions, got %d (%v)", len(revs), err)
	}
}

// The check, through the binaries: an agent file dropped into a
// running daemon's folder shows up in `viber agent ls`; `task submit
// --agent` runs with its prompt; memory_update then a new task sees the
// memory; `viber memory log` shows the revisions; edit, show and restore.
func TestCLIAgentsAndMemory(t *testing.T) {
	t.Parallel()
	fake := openaitest.New(t, func(r *openaitest.Request) openaitest.Reply {
		switch {
		case strings.HasPrefix(r.LastToolResult(), "saved"):
			return openaitest.Reply{Text: "noted"}
		case r.LastUser() == "remember the launch is on Friday":
			return callTool("c1", "memory_update", map[string]any{"name": "MEMORY.md", "content": "The launch is on Friday."})(r)
		case goalOf(r) == "delegate the shell work":
			if res := r.LastToolResult(); res != "" {
				return openaitest.Reply{Text: "delegated: " + res}
			}
			return callTool("s1", "spawn", map[string]any{"goal": "run the shell", "wait": true})(r)
		case goalOf(r) == "run the shell":
			if res := r.LastToolResult(); res != "" {
				return openaitest.Reply{Text: "shell said " + strings.TrimSpace(res)}
			}
			return callTool("sh1", "shell", map[string]any{"command": "echo from-child"})(r)
		}
		return openaitest.Reply{Text: "ok"}
	})
	natsAddr, httpAddr := freeAddr(t), freeAddr(t)
	home := t.TempDir()
	env := append(modelEnv(fake), "VIBER_NATS_URL=nats://"+natsAddr, "VIBER_HOME="+home)
	up := start(t, env, "viber", "up", "--data", t.TempDir(), "--nats-listen", natsAddr, "--http-listen", httpAddr)
	waitHealthy(t, httpAddr, up)
	defer up.stop(t)

	writeFile(t, filepath.Join(skills.AgentsUserDir(home), "scribe.yaml"),
		"name: scribe\ndescription: Keeps notes.\nsystem: You are the scribe; you keep notes.\nmemory: [agent]\n")
	deadline := time.Now().Add(15 * time.Second)
	for {
		stdout, _, _ := run(t, env, "viber", "agent", "ls")
		if strings.Contains(stdout, "scribe") && strings.Contains(stdout, "Keeps notes.") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dropped agent never showed in viber agent ls:\n%s", stdout)
		}
		time.Sleep(200 * time.Millisecond)
	}

	stdout, stderr, code := run(t, env, "viber", "task", "submit", "--wait", "--agent", "scribe", "remember the launch is on Friday")
	if code != 0 || strings.TrimSpace(stdout) != "noted" {
		t.Fatalf("submit --agent scribe: exit %d\n%s%s", code, stdout, stderr)
	}
	id := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(stderr, "\n", 2)[0], "task "))
	if out, _, _ := run(t, env, "viber", "task", "show", id); !strings.Contains(out, "agent") || !strings.Contains(out, "scribe") {
		t.Errorf("task show does not name the agent:\n%s", out)
	}
	if reqs := requestsFor(fake, "remember the launch is on Friday"); len(reqs) == 0 || !strings.HasPrefix(systemOf(reqs[0]), "You are the scribe") {
		t.Errorf("the task did not run with the scribe's prompt")
	}
	if _, stderr, code := run(t, env, "viber", "task", "submit", "--wait", "--agent", "scribe", "what is planned?"); code != 0 {
		t.Fatalf("second task: exit %d %s", code, stderr)
	}
	if reqs := requestsFor(fake, "what is planned?"); len(reqs) == 0 || !strings.Contains(systemOf(reqs[0]), "The launch is on Friday.") {
		t.Errorf("the second task's system prompt lacks the memory")
	}

	// An operator's edit from stdin, then the log shows both revisions.
	cmd := exec.Command(filepath.Join(binaries(t), "viber"), "memory", "edit", "agent:scribe", "MEMORY.md")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader("The launch moved to Monday.\n")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "revision") {
		t.Fatalf("memory edit: %v\n%s", err, out)
	}
	stdout, _, code = run(t, env, "viber", "memory", "log", "agent:scribe", "MEMORY.md")
	if code != 0 || !strings.Contains(stdout, "The launch is on Friday.") || !strings.Contains(stdout, "The launch moved to Monday.") {
		t.Fatalf("memory log: exit %d\n%s", code, stdout)
	}
	var revs []bus.MemoryFile
	stdout, _, _ = run(t, env, "viber", "memory", "log", "--json", "agent:scribe", "MEMORY.md")
	if err := json.Unmarshal([]byte(stdout), &revs); err != nil || len(revs) != 2 {
		t.Fatalf("memory log --json: %v\n%s", err, stdout)
	}
	if _, stderr, code := run(t, env, "viber", "memory", "restore", "agent:scribe", "MEMORY.md", strconv.FormatUint(revs[1].Revision, 10)); code != 0 {
		t.Fatalf("restore: exit %d %s", code, stderr)
	}
	if stdout, _, _ := run(t, env, "viber", "memory", "show", "agent:scribe", "MEMORY.md"); strings.TrimSpace(stdout) != "The launch is on Friday." {
		t.Errorf("after restore, show prints %q", stdout)
	}
	if stdout, _, _ := run(t, env, "viber", "memory", "ls"); !strings.Contains(stdout, "agent:scribe") {
		t.Errorf("memory ls:\n%s", stdout)
	}
	if _, stderr, code := run(t, env, "viber", "memory", "show", "global", "NOPE.md"); code != 1 || !strings.Contains(stderr, "viber memory ls") {
		t.Errorf("show a missing file: exit %d %q", code, stderr)
	}

	// A child's approval request is visible from its parent and decided
	// there; the tree shows both.
	stdout, _, code = run(t, env, "viber", "task", "submit", "delegate the shell work")
	parent := strings.TrimSpace(stdout)
	if code != 0 || !bus.ValidToken(parent) {
		t.Fatalf("submit: exit %d %q", code, stdout)
	}
	child := bus.ChildID(parent, "s1")
	want := "child " + child + " waits for approval of call sh1"
	deadline = time.Now().Add(20 * time.Second)
	for {
		out, _, _ := run(t, env, "viber", "task", "show", parent)
		if strings.Contains(out, want) && strings.Contains(out, "viber task approve "+child+" sh1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task show of the parent never showed %q:\n%s", want, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, stderr, code := run(t, env, "viber", "task", "approve", child, "sh1"); code != 0 {
		t.Fatalf("approve the child's call: exit %d %s", code, stderr)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		out, _, _ := run(t, env, "viber", "task", "tree", parent)
		if strings.Contains(out, parent+"  completed") && strings.Contains(out, "└─ "+child+"  completed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task tree never showed both completed:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out, _, _ := run(t, env, "viber", "task", "show", parent); !strings.Contains(out, "delegated: child task "+child+" completed") || !strings.Contains(out, "shell said from-child") {
		t.Errorf("the parent's result lacks the child's answer:\n%s", out)
	}
	if out, _, _ := run(t, env, "viber", "task", "ls", "--parent", parent); !strings.Contains(out, child) || strings.Contains(out, parent+" ") {
		t.Errorf("task ls --parent:\n%s", out)
	}
}

// goalOf is the first user message of a request: the task's goal.
func goalOf(req *openaitest.Request) string {
	for _, m := range req.Messages {
		if m.Role == "user" {
			return m.Text()
		}
	}
	return ""
}

// childrenOf lists the tasks whose parent is id.
func (r *rig) childrenOf(id string) []*bus.Summary {
	r.t.Helper()
	resp, err := r.client.ListTasks(r.ctx(5*time.Second), &bus.ListTasksRequest{Parent: id})
	if err != nil {
		r.t.Fatal(err)
	}
	return resp.Tasks
}

// A parent that spawns a child with wait:true gets the child's answer as
// the tool result, on a daemon with a single slot (the waiting parent
// gives its slot to the child instead of deadlocking).
func TestSpawnWaitOnASingleSlotDaemon(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", func(req *openaitest.Request) openaitest.Reply {
		switch goalOf(req) {
		case "plan the trip":
			if res := req.LastToolResult(); res != "" {
				return openaitest.Reply{Text: "parent heard: " + res}
			}
			return callTool("s1", "spawn", map[string]any{"goal": "find the train times", "wait": true})(req)
		case "find the train times":
			return openaitest.Reply{Text: "the 9:14 and the 10:02"}
		}
		return openaitest.Reply{Text: "?"}
	})
	r.gateway()
	r.daemonOpts("solo", daemonOptions{Capacity: 1})
	parent := r.submit("plan the trip")
	events := r.follow(parent.ID, 20*time.Second)
	final, _ := bus.Fold(events)
	if final.State != bus.StateCompleted || !strings.Contains(final.Result, "the 9:14 and the 10:02") {
		t.Fatalf("parent ended %s with %q (%s); want the child's answer in its result", final.State, final.Result, final.Error)
	}
	childID := bus.ChildID(parent.ID, "s1")
	if len(final.Children) != 1 || final.Children[0].Task != childID || final.Children[0].CallID != "s1" {
		t.Fatalf("parent's children %+v, want the one derived from call s1 (%s)", final.Children, childID)
	}
	kids := r.childrenOf(parent.ID)
	if len(kids) != 1 || kids[0].ID != childID || kids[0].Parent == nil || kids[0].Parent.CallID != "s1" || kids[0].Depth != 1 {
		t.Fatalf("task ls --parent: %+v", kids)
	}
	childEvents := r.follow(childID, 5*time.Second)
	created := payload[bus.Created](t, childEvents[0])
	if created.Parent == nil || created.Parent.Task != parent.ID || !created.Parent.Wait || created.Submitter != "" {
		t.Errorf("child's created: %+v", created)
	}
	// The child is offered spawn (depth 1 of 2).
	for _, req := range requestsFor(r.model, "find the train times") {
		if !slices.Contains(req.ToolNames(), "spawn") {
			t.Errorf("the child at depth 1 should be offered spawn: %v", req.ToolNames())
		}
	}
	// Asking again for the same call finds the same child.
	again, err := r.client.CreateTask(r.ctx(5*time.Second), &bus.CreateTaskRequest{Goal: "x", Parent: &bus.ParentRef{Task: parent.ID, CallID: "s1"}})
	if err != nil || again.ID != childID {
		t.Errorf("a second create for call s1: %v %+v, want child %s", err, again, childID)
	}
	// A call that is not a spawn call starts nothing.
	if _, err := r.client.CreateTask(r.ctx(5*time.Second), &bus.CreateTaskRequest{Goal: "x", Parent: &bus.ParentRef{Task: childID, CallID: "nope"}}); !errors.Is(err, bus.ErrTerminal) && !errors.Is(err, bus.ErrCallNotFound) {
		t.Errorf("a child for no spawn call: got %v", err)
	}
}

// A parent whose daemon is killed while its child runs resumes on a new
// process, runs the spawn call again, finds the child it started (no
// second child) and takes its answer.
func TestSpawnParentKilledResumesWithTheSameChild(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	childAsked := make(chan struct{}, 8)
	r := newRig(t, "", func(req *openaitest.Request) openaitest.Reply {
		switch goalOf(req) {
		case "write the report":
			if res := req.LastToolResult(); res != "" {
				return openaitest.Reply{Text: "report done with: " + res}
			}
			return callTool("s1", "spawn", map[string]any{"goal": "gather the numbers", "daemon": "worker", "wait": true})(req)
		case "gather the numbers":
			childAsked <- struct{}{}
			<-release
			return openaitest.Reply{Text: "42 units"}
		}
		return openaitest.Reply{Text: "?"}
	})
	r.gateway()
	r.daemon("worker")
	boss := r.daemon("boss")
	parent := r.submitWith(&bus.CreateTaskRequest{Goal: "write the report", Daemon: "boss"})
	select {
	case <-childAsked:
	case <-time.After(15 * time.Second):
		t.Fatal("the child never reached its model")
	}
	boss.Kill()
	r.daemon("boss") // a new process of the same daemon resumes the parent
	r.waitFor(parent.ID, bus.TypeStarted, 10*time.Second)
	r.eventually(15*time.Second, "the parent to be resumed", func() bool {
		v, err := r.env.Log.Load(context.Background(), parent.ID, 0)
		return err == nil && v.Attempts >= 2 && v.State == bus.StateRunning
	})
	close(release)
	events := r.follow(parent.ID, 20*time.Second)
	final, _ := bus.Fold(events)
	if final.State != bus.StateCompleted || !strings.Contains(final.Result, "42 units") {
		t.Fatalf("parent ended %s with %q (%s): %s", final.State, final.Result, final.Error, types(events))
	}
	if kids := r.childrenOf(parent.ID); len(kids) != 1 {
		t.Fatalf("want exactly one child after the resume, got %d", len(kids))
	}
	n := 0
	for _, ev := range events {
		if ev.Type == bus.TypeChildCreated {
			n++
		}
		if ev.Type == bus.TypeToolResult && strings.Contains(payload[bus.ToolResult](t, ev).Output, "interrupted") {
			t.Errorf("the spawn call was reported interrupted instead of finished: %s", payload[bus.ToolResult](t, ev).Output)
		}
	}
	if n != 1 {
		t.Errorf("want one child_created in the parent's log, got %d", n)
	}
}

// Cancelling a parent cancels its running child; a child started with
// wait:false reports its answer to the parent as a follow-up.
func TestSpawnCancelCascadesAndNoWaitReportsBack(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", func(req *openaitest.Request) openaitest.Reply {
		switch goalOf(req) {
		case "supervise":
			if strings.HasPrefix(req.LastUser(), "Child task") {
				return openaitest.Reply{Text: "heard back: " + req.LastUser()}
			}
			if res := req.LastToolResult(); res != "" {
				return openaitest.Reply{Text: "started it"}
			}
			return callTool("s1", "spawn", map[string]any{"goal": "quick errand", "wait": false})(req)
		case "quick errand":
			return openaitest.Reply{Text: "errand done"}
		case "wait forever":
			if res := req.LastToolResult(); res != "" {
				return openaitest.Reply{Text: "unexpected: " + res}
			}
			return callTool("s1", "spawn", map[string]any{"goal": "endless chore", "wait": true})(req)
		case "endless chore":
			return openaitest.Reply{Hang: true}
		}
		return openaitest.Reply{Text: "?"}
	})
	r.gateway()
	r.daemon("d1")

	sup := r.submit("supervise")
	r.eventually(20*time.Second, "the child's answer to reach the parent as a new turn", func() bool {
		v, err := r.env.Log.Load(context.Background(), sup.ID, 0)
		return err == nil && v.State == bus.StateCompleted && strings.Contains(v.Result, "heard back") && strings.Contains(v.Result, "errand done")
	})

	boss := r.submit("wait forever")
	childID := bus.ChildID(boss.ID, "s1")
	r.eventually(15*time.Second, "the child to run", func() bool {
		v, err := r.env.Log.Load(context.Background(), childID, 0)
		return err == nil && v.State == bus.StateRunning
	})
	if _, err := r.client.CancelTask(r.ctx(5*time.Second), &bus.CancelTaskRequest{ID: boss.ID, Reason: "enough"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{boss.ID, childID} {
		s, _ := bus.Fold(r.follow(id, 15*time.Second))
		if s.State != bus.StateCancelled {
			t.Errorf("task %s ended %s, want cancelled", id, s.State)
		}
	}
}

// The dashboard shows a child's approval request on its parent's page and
// decides it there; the pages link parent and child.
func TestDashboardChildApproval(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	r := newRig(t, "", func(req *openaitest.Request) openaitest.Reply {
		switch goalOf(req) {
		case "delegate":
			if res := req.LastToolResult(); res != "" {
				return openaitest.Reply{Text: "parent done: " + res}
			}
			return callTool("s1", "spawn", map[string]any{"goal": "run a command", "wait": true})(req)
		case "run a command":
			if res := req.LastToolResult(); res != "" {
				return openaitest.Reply{Text: "child saw " + strings.TrimSpace(res)}
			}
			return callTool("a1", "shell", map[string]any{"command": "echo child-ran"})(req)
		}
		return openaitest.Reply{Text: "?"}
	})
	_, g := r.gateway()
	r.daemon("d1")
	b := newBrowser(t, "http://"+g.HTTPAddr())
	parent := r.submit("delegate")
	child := bus.ChildID(parent.ID, "s1")
	r.eventually(15*time.Second, "the child to wait for approval", func() bool {
		v, err := r.env.Log.Load(context.Background(), child, 0)
		return err == nil && len(v.PendingApprovals) == 1
	})
	b.open("/tasks/" + parent.ID)
	b.waitJS("the child's approval on the parent's page", `document.querySelector('[data-testid=child-approval]')?.textContent.includes('`+child+`')`, 10*time.Second)
	b.waitJS("a link to the child", `!!document.querySelector('[data-testid=task-children] a[href="/tasks/`+child+`"]')`, 5*time.Second)
	b.shots("task-child-approval")
	b.do("approve the child's call", 5*time.Second, chromedp.Click(chromedp.CSS(`[data-testid=child-approval] button.primary`)))
	decided := r.waitFor(child, bus.TypeApprovalDecided, 10*time.Second)
	if d := payload[bus.ApprovalDecided](t, decided); !d.Approved || d.CallID != "a1" {
		t.Fatalf("decision: %+v", d)
	}
	b.waitJS("the parent completes", `document.querySelector('[data-testid=task-state]')?.textContent === 'completed'`, 20*time.Second)
	b.open("/tasks/" + child)
	b.waitJS("the child links its parent", `!!document.querySelector('[data-testid=task-parent] a[href="/tasks/`+parent.ID+`"]')`, 10*time.Second)
	b.open("/daemons")
	b.waitJS("the daemon's agents", `document.querySelector('[data-testid=agents]')?.textContent.includes('default')`, 10*time.Second)
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
