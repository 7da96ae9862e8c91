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
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/mcpclient/mcptest"
	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
)

const mcpSecret = "mcp-secret-value-7731"

// mcpModels is a model config answering with r's scripted model and
// using servers.
func (r *rig) mcpModels(servers map[string]agents.MCPServerConfig) *agents.Config {
	r.t.Helper()
	models, err := agents.LoadConfig("", func(k string) string {
		switch k {
		case "VIBER_PROVIDER":
			return "custom"
		case "VIBER_BASE_URL":
			return r.model.URL
		case "VIBER_MODEL":
			return "fake-model"
		case "VIBER_API_KEY":
			return "sk-test"
		case "HOME", "VIBER_HOME":
			return r.t.TempDir()
		case "TEST_MCP_TOKEN":
			return mcpSecret
		}
		return ""
	})
	if err != nil {
		r.t.Fatal(err)
	}
	models.MCPServers = servers
	if err := models.Validate(); err != nil {
		r.t.Fatal(err)
	}
	return models
}

// approveWhenAsked approves call id once the task waits for it.
func (r *rig) approveWhenAsked(task, id string) {
	r.t.Helper()
	r.eventually(30*time.Second, "approval request "+id, func() bool {
		s, err := r.client.Task(context.Background(), task)
		return err == nil && slices.Contains(s.PendingApprovals, id)
	})
	if _, err := r.client.Decide(r.ctx(5*time.Second), &bus.DecideRequest{ID: task, CallID: id, Approved: true, By: "tester"}); err != nil {
		r.t.Fatalf("approve %s: %v", id, err)
	}
}

func TestDaemonUsesMCPServerTools(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", script(
		callTool("m1", "mcp_test_echo", map[string]any{"text": "from the model"}),
		callTool("m2", "mcp_test_env", map[string]any{"name": "SERVER_TOKEN"}),
		callTool("m3", "mcp_auto_add", map[string]any{"a": 40, "b": 2}),
		func(req *openaitest.Request) openaitest.Reply {
			return openaitest.Reply{Text: "the servers said: " + req.LastToolResult()}
		},
	))
	r.gateway()
	asked, err := mcptest.StdioConfig(map[string]string{"SERVER_TOKEN": "${TEST_MCP_TOKEN}"})
	if err != nil {
		t.Fatal(err)
	}
	auto := asked
	auto.Policy = "allow"
	auto.EnabledTools = []string{"add"}
	logs := &syncBuffer{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel)
	r.daemonOpts("mcp1", daemonOptions{Models: r.mcpModels(map[string]agents.MCPServerConfig{"test": asked, "auto": auto}), Logger: &log})

	// Presence shows the servers and their tools.
	ds, err := r.client.Daemons(r.ctx(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var servers []bus.MCPServerInfo
	for _, d := range ds {
		if d.ID == "mcp1" {
			servers = d.MCPServers
		}
	}
	if len(servers) != 2 || servers[0].Name != "auto" || servers[0].Status != "connected" || !slices.Equal(servers[0].Tools, []string{"mcp_auto_add"}) ||
		servers[1].Name != "test" || !slices.Contains(servers[1].Tools, "mcp_test_echo") {
		t.Fatalf("presence MCP servers = %+v", servers)
	}

	task := r.submit("use the MCP tools")
	// The test server's tools wait for approval by default; the auto
	// server's policy allows its tool.
	r.approveWhenAsked(task.ID, "m1")
	r.approveWhenAsked(task.ID, "m2")
	events := r.follow(task.ID, 60*time.Second)
	want := "created assigned started tool_call approval_requested approval_decided tool_result " +
		"tool_call approval_requested approval_decided tool_result tool_call tool_result message completed"
	if got := types(events); got != want {
		t.Fatalf("events: %s\nwant:   %s", got, want)
	}
	res := results(t, events)
	if res[0].Output != "echo: from the model" || res[0].IsError {
		t.Errorf("echo result = %+v", res[0])
	}
	if res[1].Output != "SERVER_TOKEN=***" {
		t.Errorf("env result = %q, want the secret redacted", res[1].Output)
	}
	if !strings.Contains(res[2].Output, `{"sum":42}`) {
		t.Errorf("add result = %q", res[2].Output)
	}
	for _, ev := range events {
		b, _ := json.Marshal(ev)
		if strings.Contains(string(b), mcpSecret) {
			t.Errorf("event %d (%s) holds the secret: %s", ev.Seq, ev.Type, b)
		}
	}
	if strings.Contains(logs.String(), mcpSecret) {
		t.Errorf("the daemon's logs hold the secret")
	}
	if !strings.Contains(logs.String(), "MCP server connected") {
		t.Errorf("the daemon's logs do not say the MCP servers connected:\n%s", logs)
	}
}

// TestDaemonUsesNPMServer runs an MCP server nobody here wrote, from npm.
func TestDaemonUsesNPMServer(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("installs an npm package; skipped with -short")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not installed, so @modelcontextprotocol/server-everything cannot be installed")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--prefix", dir, "@modelcontextprotocol/server-everything")
	if out, err := install.CombinedOutput(); err != nil {
		t.Skipf("npm could not install @modelcontextprotocol/server-everything (offline or unavailable?): %v\n%s", err, out)
	}
	bin := filepath.Join(dir, "node_modules", ".bin", "mcp-server-everything")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("the package installed no mcp-server-everything command: %v", err)
	}
	r := newRig(t, "", script(
		callTool("e1", "mcp_everything_echo", map[string]any{"message": "hello from viber"}),
		func(req *openaitest.Request) openaitest.Reply {
			return openaitest.Reply{Text: "it said: " + req.LastToolResult()}
		},
	))
	r.gateway()
	r.daemonOpts("npm1", daemonOptions{Models: r.mcpModels(map[string]agents.MCPServerConfig{
		"everything": {Command: bin, Args: []string{"stdio"}, EnabledTools: []string{"echo", "get-sum", "add"}},
	})})
	task := r.submit("echo through the npm server")
	r.approveWhenAsked(task.ID, "e1")
	events := r.follow(task.ID, 60*time.Second)
	res := results(t, events)
	if len(res) != 1 || res[0].IsError || !strings.Contains(res[0].Output, "hello from viber") {
		t.Fatalf("result of the npm server's echo = %+v (events %s)", res, types(events))
	}
	if got := payload[bus.Completed](t, events[len(events)-1]).Result; !strings.Contains(got, "hello from viber") {
		t.Errorf("completed result = %q", got)
	}
}

// TestDaemonKilledDuringMCPCall: the call is reported as interrupted by
// the daemon that takes the task over, never sent to the server again.
func TestDaemonKilledDuringMCPCall(t *testing.T) {
	t.Parallel()
	mark := filepath.Join(t.TempDir(), "marks.txt")
	r := newRig(t, "", func(req *openaitest.Request) openaitest.Reply {
		if tr := req.LastToolResult(); tr != "" {
			return openaitest.Reply{Text: "after: " + tr}
		}
		b, _ := json.Marshal(map[string]any{"path": mark, "seconds": 60})
		return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call("k1", "mcp_test_mark", string(b))}}
	})
	r.gateway()
	srv, err := mcptest.StdioConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Policy = "allow"
	servers := map[string]agents.MCPServerConfig{"test": srv}
	a := r.daemonOpts("a", daemonOptions{Models: r.mcpModels(servers)})
	task := r.submit("mark once")
	r.eventually(20*time.Second, "the MCP call to start", func() bool {
		b, _ := os.ReadFile(mark)
		return strings.Count(string(b), "ran") == 1
	})
	r.daemonOpts("b", daemonOptions{Models: r.mcpModels(servers)})
	a.Kill()
	events := r.follow(task.ID, 40*time.Second)
	checkOrdered(t, events)
	res := results(t, events)
	if len(res) != 1 || !res[0].IsError || !strings.Contains(res[0].Output, "interrupted") {
		t.Fatalf("results %+v (%s), want one interrupted result", res, types(events))
	}
	b, _ := os.ReadFile(mark)
	if n := strings.Count(string(b), "ran"); n != 1 {
		t.Fatalf("the MCP tool ran %d times", n)
	}
}

// TestMCPCheckCommand: `viber mcp check` starts the config's servers and
// says which work and what to fix.
func TestMCPCheckCommand(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	text := "mcp_servers:\n" +
		"  good: {command: " + strconv.Quote(exe) + ", env: {" + mcptest.EnvVar + ": stdio, SERVER_TOKEN: \"${MCP_CHECK_SECRET}\"}, enabled_tools: [echo, add]}\n" +
		"  broken: {command: /nonexistent/mcp-server}\n"
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"MCP_CHECK_SECRET=" + mcpSecret, "VIBER_HOME=" + t.TempDir()}
	out, stderr, code := run(t, env, "viber", "mcp", "check", "--config", cfg, "--wait", "20s")
	if code != 1 {
		t.Errorf("exit code %d, want 1 for the broken server\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	for _, want := range []string{"good", "connected", "mcp_good_add, mcp_good_echo", "broken", "error", "fix mcp_servers.broken"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+stderr, mcpSecret) {
		t.Errorf("the output shows the secret")
	}
}

// A task that names an MCP tool goes to a daemon offering it; one naming a
// tool nobody offers is refused, saying where to look.
func TestTaskRoutedByMCPTool(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", answer("done"))
	r.gateway()
	server, err := mcptest.StdioConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	r.daemon("plain")
	r.daemonOpts("tooled", daemonOptions{Models: r.mcpModels(map[string]agents.MCPServerConfig{"test": server})})
	r.eventually(30*time.Second, "the tooled daemon's MCP tools in presence", func() bool {
		ds, err := r.client.Daemons(context.Background())
		if err != nil {
			return false
		}
		for _, d := range ds {
			if d.ID == "tooled" && d.OffersTools([]string{"mcp_test_echo"}) {
				return true
			}
		}
		return false
	})
	for range 3 {
		s := r.submitWith(&bus.CreateTaskRequest{Goal: "use the echo tool", Tools: []string{"mcp_test_echo"}})
		events := r.follow(s.ID, 30*time.Second)
		if a := payload[bus.Assigned](t, events[1]); a.Daemon != "tooled" {
			t.Fatalf("a task needing mcp_test_echo ran on %s (events: %s)", a.Daemon, types(events))
		}
	}
	_, err = r.client.CreateTask(r.ctx(5*time.Second), &bus.CreateTaskRequest{Goal: "x", Tools: []string{"mcp_nope_tool"}})
	if !errors.Is(err, bus.ErrSkillUnavailable) || !strings.Contains(err.Error(), "mcp_nope_tool") {
		t.Errorf("a tool nobody offers: %v, want a refusal naming it", err)
	}
}
