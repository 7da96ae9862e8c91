package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/anthropictest"
	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/agents/tool"
	"github.com/viberhq/viber/bus"
)

// script answers by how many tool results the conversation already holds:
// step i gets steps[i] (the last one repeats).
func script(steps ...func(*openaitest.Request) openaitest.Reply) func(*openaitest.Request) openaitest.Reply {
	return func(r *openaitest.Request) openaitest.Reply {
		n := 0
		for _, m := range r.Messages {
			if m.Role == "tool" {
				n++
			}
		}
		return steps[min(n, len(steps)-1)](r)
	}
}

func callTool(id, name string, args any) func(*openaitest.Request) openaitest.Reply {
	b, _ := json.Marshal(args)
	return func(*openaitest.Request) openaitest.Reply {
		return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call(id, name, string(b))}}
	}
}

func answer(text string) func(*openaitest.Request) openaitest.Reply {
	return func(*openaitest.Request) openaitest.Reply { return openaitest.Reply{Text: text} }
}

// shellAllowed is a daemon policy that runs shell commands without asking.
func shellAllowed() *agents.Policy {
	p := agents.DefaultPolicy()
	p.Tools["shell"] = agents.Allow
	return &p
}

func (r *rig) submitWith(req *bus.CreateTaskRequest) *bus.Summary {
	r.t.Helper()
	s, err := r.client.CreateTask(r.ctx(5*time.Second), req)
	if err != nil {
		r.t.Fatalf("create task: %v", err)
	}
	return s
}

func results(t *testing.T, events []*bus.Event) []*bus.ToolResult {
	var out []*bus.ToolResult
	for _, ev := range events {
		if ev.Type == bus.TypeToolResult {
			out = append(out, payload[bus.ToolResult](t, ev))
		}
	}
	return out
}

func TestAgentReadsEditsAndAnswers(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", script(
		callTool("c1", "read_file", map[string]any{"path": "notes.txt"}),
		callTool("c2", "edit_file", map[string]any{"path": "notes.txt", "old_string": "draft", "new_string": "final"}),
		callTool("c3", "update_plan", map[string]any{"items": []map[string]string{{"text": "edit notes", "status": "done"}}}),
		answer("Done: the notes are final."),
	))
	r.gateway()
	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, "notes.txt"), []byte("status: draft\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.daemonOpts("d1", daemonOptions{Workspace: ws})
	var mu sync.Mutex
	var deltas []string
	sub, err := r.env.NC.Subscribe("viber.live.*", func(m *nats.Msg) {
		var d bus.Delta
		if json.Unmarshal(m.Data, &d) == nil {
			mu.Lock()
			deltas = append(deltas, d.Text)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	task := r.submit("mark the notes final")
	events := r.follow(task.ID, 30*time.Second)
	// Streamed tool-call deltas never reach watchers as words.
	r.eventually(2*time.Second, "the answer streamed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(deltas, "") == "Done: the notes are final."
	})
	want := "created assigned started tool_call tool_result tool_call tool_result tool_call plan tool_result message completed"
	if got := types(events); got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}
	checkOrdered(t, events)
	res := results(t, events)
	if !strings.Contains(res[0].Output, "status: draft") || res[0].IsError {
		t.Fatalf("read_file result: %+v", res[0])
	}
	if res[1].IsError {
		t.Fatalf("edit_file result: %+v", res[1])
	}
	b, _ := os.ReadFile(filepath.Join(ws, "notes.txt"))
	if string(b) != "status: final\n" {
		t.Fatalf("file now %q", b)
	}
	if got := payload[bus.Completed](t, events[len(events)-1]).Result; got != "Done: the notes are final." {
		t.Fatalf("result %q", got)
	}
	// The model got each call back as its own assistant message followed by
	// its tool message, and was offered the built-in tools.
	reqs := r.model.Requests()
	last := reqs[len(reqs)-1]
	var shape []string
	for _, m := range last.Messages {
		s := m.Role
		if len(m.ToolCalls) > 0 {
			s += fmt.Sprintf("(%d call)", len(m.ToolCalls))
		}
		shape = append(shape, s)
	}
	if got := strings.Join(shape, ","); got != "system,user,assistant(1 call),tool,assistant(1 call),tool,assistant(1 call),tool" {
		t.Fatalf("conversation shape: %s", got)
	}
	names := strings.Join(last.ToolNames(), ",")
	for _, n := range []string{"read_file", "write_file", "edit_file", "list_dir", "glob", "grep", "shell", "web_fetch", "update_plan", "activate_skill"} {
		if !strings.Contains(names, n) {
			t.Errorf("tool %s not offered (offered: %s)", n, names)
		}
	}
}

func TestAgentEscapesAreRefused(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	secret := "TOP-SECRET-" + bus.NewID()
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	ws := t.TempDir()
	if err := os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(ws, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(ws, "dirlink")); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(ws, filepath.Join(outside, "secret.txt"))
	attempts := []func(*openaitest.Request) openaitest.Reply{
		callTool("e1", "read_file", map[string]any{"path": rel}),
		callTool("e2", "read_file", map[string]any{"path": filepath.Join(outside, "secret.txt")}),
		callTool("e3", "read_file", map[string]any{"path": "link.txt"}),
		callTool("e4", "read_file", map[string]any{"path": "dirlink/secret.txt"}),
		callTool("e5", "read_file", map[string]any{"path": "~/secret.txt"}),
		callTool("e6", "list_dir", map[string]any{"path": "dirlink"}),
		callTool("e7", "write_file", map[string]any{"path": "dirlink/planted.txt", "content": "x"}),
		callTool("e8", "edit_file", map[string]any{"path": "link.txt", "old_string": "TOP", "new_string": "BOTTOM"}),
		callTool("e9", "grep", map[string]any{"pattern": "TOP-SECRET", "path": "dirlink"}),
		answer("I could not get out."),
	}
	r := newRig(t, "", script(attempts...))
	r.gateway()
	r.daemonOpts("d1", daemonOptions{Workspace: ws})
	task := r.submit("try to escape")
	events := r.follow(task.ID, 30*time.Second)
	res := results(t, events)
	if len(res) != len(attempts)-1 {
		t.Fatalf("%d results for %d attempts: %s", len(res), len(attempts)-1, types(events))
	}
	for i, rs := range res {
		if !rs.IsError {
			t.Errorf("attempt %d (%s) was not refused: %q", i+1, rs.Tool, rs.Output)
		}
	}
	for _, ev := range events {
		b, _ := json.Marshal(ev)
		if strings.Contains(string(b), secret) {
			t.Fatalf("the secret leaked into event %d (%s): %s", ev.Seq, ev.Type, b)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "planted.txt")); err == nil {
		t.Fatal("a file was written outside the workspace")
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "secret.txt")); string(b) != secret {
		t.Fatal("the outside file was changed")
	}
}

func TestAgentShellTimeout(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", script(
		callTool("s1", "shell", map[string]any{"command": "sleep 30"}),
		answer("it timed out"),
	))
	r.gateway()
	r.daemonOpts("d1", daemonOptions{Tools: tool.Options{ShellTimeout: time.Second}, Policy: shellAllowed()})
	start := time.Now()
	task := r.submit("sleep")
	events := r.follow(task.ID, 30*time.Second)
	res := results(t, events)
	if len(res) != 1 || !res[0].IsError || !strings.Contains(strings.ToLower(res[0].Output), "timed out") {
		t.Fatalf("shell result: %+v", res)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("took %s", took)
	}
}

func TestApprovalApproveRunsTool(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", script(
		callTool("a1", "shell", map[string]any{"command": "echo approved-ran > proof.txt"}),
		answer("ran it"),
	))
	r.gateway()
	d := r.daemonOpts("d1", daemonOptions{})
	task := r.submit("write proof")
	req := r.waitFor(task.ID, bus.TypeApprovalRequested, 20*time.Second)
	ar := payload[bus.ApprovalRequested](t, req)
	if ar.Tool != "shell" || ar.CallID != "a1" || !strings.Contains(ar.Arguments, "approved-ran") {
		t.Fatalf("approval request: %+v", ar)
	}
	r.eventually(5*time.Second, "waiting_approval state", func() bool {
		s, err := r.client.Task(r.ctx(time.Second), task.ID)
		return err == nil && s.State == bus.StateWaitingApproval && len(s.PendingApprovals) == 1
	})
	if _, err := os.Stat(filepath.Join(d.workspace, "proof.txt")); err == nil {
		t.Fatal("the tool ran before approval")
	}
	if _, err := r.client.Decide(r.ctx(5*time.Second), &bus.DecideRequest{ID: task.ID, CallID: "a1", Approved: true, By: "tester"}); err != nil {
		t.Fatal(err)
	}
	events := r.follow(task.ID, 20*time.Second)
	if got := types(events); got != "created assigned started tool_call approval_requested approval_decided tool_result message completed" {
		t.Fatalf("events: %s", got)
	}
	b, err := os.ReadFile(filepath.Join(d.workspace, "proof.txt"))
	if err != nil || strings.TrimSpace(string(b)) != "approved-ran" {
		t.Fatalf("proof: %q %v", b, err)
	}
	// Deciding again is refused.
	if _, err := r.client.Decide(r.ctx(5*time.Second), &bus.DecideRequest{ID: task.ID, CallID: "a1", Approved: true}); err == nil {
		t.Fatal("a second decision was accepted")
	}
}

func TestApprovalDenyTellsModel(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", script(
		callTool("a1", "shell", map[string]any{"command": "touch denied.txt"}),
		func(req *openaitest.Request) openaitest.Reply {
			return openaitest.Reply{Text: "model saw: " + req.LastToolResult()}
		},
	))
	r.gateway()
	d := r.daemonOpts("d1", daemonOptions{})
	task := r.submit("touch a file")
	r.waitFor(task.ID, bus.TypeApprovalRequested, 20*time.Second)
	if _, err := r.client.Decide(r.ctx(5*time.Second), &bus.DecideRequest{ID: task.ID, CallID: "a1", Approved: false, Reason: "not today", By: "tester"}); err != nil {
		t.Fatal(err)
	}
	events := r.follow(task.ID, 20*time.Second)
	res := results(t, events)
	if len(res) != 1 || !res[0].IsError || !strings.Contains(res[0].Output, "not today") {
		t.Fatalf("result: %+v", res)
	}
	if got := payload[bus.Completed](t, events[len(events)-1]).Result; !strings.Contains(got, "not today") {
		t.Fatalf("the model was not told: %q", got)
	}
	if _, err := os.Stat(filepath.Join(d.workspace, "denied.txt")); err == nil {
		t.Fatal("a denied tool ran")
	}
}

func TestPolicyDenyAndMaxSteps(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", script(callTool("x", "shell", map[string]any{"command": "true"})))
	r.gateway()
	r.daemonOpts("d1", daemonOptions{MaxSteps: 3})
	task := r.submitWith(&bus.CreateTaskRequest{Goal: "loop forever", Policy: map[string]string{"shell": "deny"}})
	events := r.follow(task.ID, 30*time.Second)
	f := payload[bus.Failed](t, events[len(events)-1])
	if f.Code != bus.FailMaxSteps || !strings.Contains(f.Error, "max_steps") {
		t.Fatalf("failure: %+v", f)
	}
	for _, rs := range results(t, events) {
		if !rs.IsError || !strings.Contains(rs.Output, "refused") {
			t.Fatalf("denied call: %+v", rs)
		}
	}
}

func TestFollowUpWhileRunningJoinsNextStep(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", script(
		callTool("a1", "shell", map[string]any{"command": "true"}),
		func(req *openaitest.Request) openaitest.Reply {
			return openaitest.Reply{Text: "last user said: " + req.LastUser()}
		},
	))
	r.gateway()
	r.daemonOpts("d1", daemonOptions{})
	task := r.submit("first")
	r.waitFor(task.ID, bus.TypeApprovalRequested, 20*time.Second)
	if _, err := r.client.SendInput(r.ctx(5*time.Second), &bus.SendInputRequest{ID: task.ID, Text: "also mention bananas"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.Decide(r.ctx(5*time.Second), &bus.DecideRequest{ID: task.ID, CallID: "a1", Approved: true}); err != nil {
		t.Fatal(err)
	}
	events := r.follow(task.ID, 20*time.Second)
	if got := payload[bus.Completed](t, events[len(events)-1]).Result; got != "last user said: also mention bananas" {
		t.Fatalf("result %q (%s)", got, types(events))
	}
}

func TestDaemonKilledBetweenToolCallAndResult(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	var calls atomic.Int32
	r := newRig(t, "", func(req *openaitest.Request) openaitest.Reply {
		calls.Add(1)
		if tr := req.LastToolResult(); tr != "" {
			return openaitest.Reply{Text: "after: " + tr}
		}
		return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call("k1", "shell", `{"command":"echo ran >> counter.txt; sleep 30"}`)}}
	})
	r.gateway()
	policy := shellAllowed()
	a := r.daemonOpts("a", daemonOptions{Workspace: ws, Policy: policy})
	task := r.submit("run once")
	r.waitFor(task.ID, bus.TypeToolCall, 20*time.Second)
	r.eventually(5*time.Second, "the command started", func() bool {
		b, _ := os.ReadFile(filepath.Join(ws, "counter.txt"))
		return strings.Count(string(b), "ran") == 1
	})
	r.daemonOpts("b", daemonOptions{Workspace: ws, Policy: policy})
	a.Kill()
	events := r.follow(task.ID, 40*time.Second)
	checkOrdered(t, events)
	var toolCalls int
	for _, ev := range events {
		if ev.Type == bus.TypeToolCall {
			toolCalls++
		}
	}
	res := results(t, events)
	if toolCalls != 1 || len(res) != 1 || !res[0].IsError || !strings.Contains(res[0].Output, "interrupted") {
		t.Fatalf("tool calls %d, results %+v (%s)", toolCalls, res, types(events))
	}
	if got := payload[bus.Completed](t, events[len(events)-1]).Result; !strings.HasPrefix(got, "after: ERROR: interrupted") {
		t.Fatalf("result %q", got)
	}
	b, _ := os.ReadFile(filepath.Join(ws, "counter.txt"))
	if n := strings.Count(string(b), "ran"); n != 1 {
		t.Fatalf("the command ran %d times", n)
	}
}

func TestSkillsRoutingAndActivation(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", script(
		callTool("s1", "activate_skill", map[string]any{"name": "weather-report"}),
		func(req *openaitest.Request) openaitest.Reply {
			return openaitest.Reply{Text: "skill said: " + req.LastToolResult()}
		},
	))
	r.gateway()
	ws := t.TempDir()
	dir := filepath.Join(ws, ".agents", "skills", "weather-report")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	skill := "---\nname: weather-report\ndescription: Report the weather from the station log in the workspace.\n---\nRead station.log and SAY-THE-MAGIC-WORD.\n"
	if err := os.WriteFile(filepath.Join(dir, "SKILL.md"), []byte(skill), 0o644); err != nil {
		t.Fatal(err)
	}
	r.daemonOpts("plain", daemonOptions{})
	r.daemonOpts("skilled", daemonOptions{Workspace: ws})
	for range 3 {
		task := r.submitWith(&bus.CreateTaskRequest{Goal: "weather?", Skills: []string{"weather-report"}})
		events := r.follow(task.ID, 20*time.Second)
		if a := payload[bus.Assigned](t, events[1]); a.Daemon != "skilled" {
			t.Fatalf("assigned to %s", a.Daemon)
		}
		if got := payload[bus.Completed](t, events[len(events)-1]).Result; !strings.Contains(got, "SAY-THE-MAGIC-WORD") {
			t.Fatalf("activation: %q", got)
		}
	}
	// The system prompt lists the catalog.
	reqs := r.model.Requests()
	if sys := reqs[0].Messages[0].Text(); !strings.Contains(sys, "weather-report") || !strings.Contains(sys, "station log") {
		t.Fatalf("system prompt lacks the catalog:\n%s", sys)
	}
	// Nobody offers this one: a clear error.
	_, err := r.client.CreateTask(r.ctx(5*time.Second), &bus.CreateTaskRequest{Goal: "x", Skills: []string{"no-such-skill"}})
	if err == nil || !strings.Contains(err.Error(), "no daemon offers") {
		t.Fatalf("unknown skill: %v", err)
	}
	// Presence advertises the skills.
	ds, err := r.client.Daemons(r.ctx(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range ds {
		for _, s := range d.Skills {
			found = found || (d.ID == "skilled" && s.Name == "weather-report" && s.Source == "workspace")
		}
	}
	if !found {
		t.Fatalf("presence: %+v", ds)
	}
}

func TestAnthropicTextAndToolCallInOneTurn(t *testing.T) {
	t.Parallel()
	fake := anthropictest.New(t, func(req *anthropictest.Request) anthropictest.Reply {
		if tr := req.LastToolResult(); tr != "" {
			return anthropictest.Reply{Text: "The file says: " + strings.TrimSpace(tr)}
		}
		return anthropictest.Reply{
			Text:     "Let me read the file first.",
			ToolUses: []anthropictest.ToolUse{anthropictest.Use("toolu_1", "read_file", `{"path":"hello.txt"}`)},
		}
	})
	r := newRig(t, "", nil)
	r.gateway()
	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, "hello.txt"), []byte("hi from the workspace\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	models, err := agents.LoadConfig("", func(k string) string {
		switch k {
		case "ANTHROPIC_API_KEY":
			return "sk-ant-test"
		case "VIBER_BASE_URL":
			return fake.URL
		case "VIBER_PROVIDER":
			return "anthropic"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	r.daemonOpts("claude", daemonOptions{Workspace: ws, Models: models})
	task := r.submitWith(&bus.CreateTaskRequest{Goal: "what does hello.txt say?", Model: "anthropic/claude-sonnet-4-5"})
	events := r.follow(task.ID, 30*time.Second)
	if got, want := types(events), "created assigned started message tool_call tool_result message completed"; got != want {
		t.Fatalf("events: %s, want %s", got, want)
	}
	if m := payload[bus.Message](t, events[3]); m.Text != "Let me read the file first." {
		t.Fatalf("first message %q", m.Text)
	}
	if s := payload[bus.Started](t, events[2]); s.Provider != "anthropic" || s.Model != "claude-sonnet-4-5" {
		t.Fatalf("started: %+v", s)
	}
	if got := payload[bus.Completed](t, events[len(events)-1]).Result; !strings.Contains(got, "hi from the workspace") {
		t.Fatalf("result %q", got)
	}
	reqs := fake.Requests()
	if len(reqs) != 2 || reqs[1].APIKey != "sk-ant-test" {
		t.Fatalf("requests: %d", len(reqs))
	}
}

func TestCancelStopsRunningTool(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", script(
		callTool("s1", "shell", map[string]any{"command": "sleep 37; echo finished > late.txt"}),
		answer("done"),
	))
	r.gateway()
	d := r.daemonOpts("d1", daemonOptions{Policy: shellAllowed()})
	task := r.submit("sleep")
	r.waitFor(task.ID, bus.TypeToolCall, 20*time.Second)
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if _, err := r.client.CancelTask(r.ctx(5*time.Second), &bus.CancelTaskRequest{ID: task.ID}); err != nil {
		t.Fatal(err)
	}
	events := r.follow(task.ID, 10*time.Second)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("cancel took %s", took)
	}
	if events[len(events)-1].Type != bus.TypeCancelled {
		t.Fatalf("events: %s", types(events))
	}
	r.eventually(5*time.Second, "the shell's processes to end", func() bool {
		out, _ := exec.Command("pgrep", "-f", "sleep 37").Output()
		return len(strings.TrimSpace(string(out))) == 0
	})
	if _, err := os.Stat(filepath.Join(d.workspace, "late.txt")); err == nil {
		t.Fatal("the shell command kept running after cancel")
	}
}

func TestTaskCannotLoosenDaemonPolicy(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", script(
		callTool("l1", "shell", map[string]any{"command": "touch loosened.txt"}),
		answer("done"),
	))
	r.gateway()
	d := r.daemonOpts("d1", daemonOptions{})
	task := r.submitWith(&bus.CreateTaskRequest{Goal: "x", Policy: map[string]string{"shell": "allow", "*": "allow"}})
	// The daemon's "ask" stands: the call waits for a person.
	r.waitFor(task.ID, bus.TypeApprovalRequested, 20*time.Second)
	if _, err := os.Stat(filepath.Join(d.workspace, "loosened.txt")); err == nil {
		t.Fatal("a task loosened the daemon's policy")
	}
	if _, err := r.client.CancelTask(r.ctx(5*time.Second), &bus.CancelTaskRequest{ID: task.ID}); err != nil {
		t.Fatal(err)
	}
}

func TestSteerInterruptsModelCall(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	r := newRig(t, "", func(req *openaitest.Request) openaitest.Reply {
		if calls.Add(1) == 1 {
			return openaitest.Reply{Hang: true} // the first call would never end
		}
		return openaitest.Reply{Text: "steered to: " + req.LastUser()}
	})
	r.gateway()
	r.daemonOpts("d1", daemonOptions{})
	task := r.submit("write a long essay")
	select {
	case <-r.model.Arrived():
	case <-time.After(10 * time.Second):
		t.Fatal("model never called")
	}
	if _, err := r.client.SendInput(r.ctx(5*time.Second), &bus.SendInputRequest{ID: task.ID, Text: "just say hi", Mode: bus.InputSteer}); err != nil {
		t.Fatal(err)
	}
	events := r.follow(task.ID, 20*time.Second)
	if got := payload[bus.Completed](t, events[len(events)-1]).Result; got != "steered to: just say hi" {
		t.Fatalf("result %q (%s)", got, types(events))
	}
	if got := types(events); got != "created assigned started input message completed" {
		t.Fatalf("events: %s", got)
	}
}

func TestRestartWhileWaitingForApprovalKeepsWaiting(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", script(
		callTool("w1", "shell", map[string]any{"command": "echo once >> ran.txt"}),
		answer("done"),
	))
	r.gateway()
	ws := t.TempDir()
	a := r.daemonOpts("a", daemonOptions{Workspace: ws})
	task := r.submit("needs approval")
	r.waitFor(task.ID, bus.TypeApprovalRequested, 20*time.Second)
	r.daemonOpts("b", daemonOptions{Workspace: ws})
	a.Kill()
	// b takes the task over (after the ack wait) and keeps waiting: no tool
	// runs without a decision.
	r.eventually(20*time.Second, "b to take over", func() bool {
		events, _ := r.env.Log.Events(r.ctx(2*time.Second), task.ID)
		for _, ev := range events {
			if ev.Type == bus.TypeAssigned && payload[bus.Assigned](t, ev).Daemon == "b" {
				return true
			}
		}
		return false
	})
	time.Sleep(500 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(ws, "ran.txt")); err == nil {
		t.Fatal("the tool ran without approval after the restart")
	}
	s, err := r.client.Task(r.ctx(5*time.Second), task.ID)
	if err != nil || s.State != bus.StateWaitingApproval {
		t.Fatalf("state after takeover: %+v %v", s, err)
	}
	if _, err := r.client.Decide(r.ctx(5*time.Second), &bus.DecideRequest{ID: task.ID, CallID: "w1", Approved: true}); err != nil {
		t.Fatal(err)
	}
	events := r.follow(task.ID, 20*time.Second)
	if events[len(events)-1].Type != bus.TypeCompleted {
		t.Fatalf("events: %s", types(events))
	}
	b, _ := os.ReadFile(filepath.Join(ws, "ran.txt"))
	if strings.Count(string(b), "once") != 1 {
		t.Fatalf("the tool ran %d times", strings.Count(string(b), "once"))
	}
}
