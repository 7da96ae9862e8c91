package command

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/viberhq/viber/bus"
)

func TestPrintDaemonsListsMCPServers(t *testing.T) {
	t.Parallel()
	list := []*bus.DaemonView{
		{DaemonInfo: bus.DaemonInfo{ID: "plain", Capacity: 4, LastSeen: time.Now()}, Online: true},
		{DaemonInfo: bus.DaemonInfo{ID: "tooled", Capacity: 2, LastSeen: time.Now(), MCPServers: []bus.MCPServerInfo{
			{Name: "files", Transport: "stdio", Status: "connected", Tools: []string{"mcp_files_read", "mcp_files_write"}},
			{Name: "github", Transport: "http", Status: "error", Error: "connect: Unauthorized"},
		}}, Online: true},
	}
	var b bytes.Buffer
	printDaemons(&b, list)
	out := b.String()
	for _, want := range []string{"MCP SERVER", "files", "stdio", "connected", "github", "connect: Unauthorized"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	var b2 bytes.Buffer
	printDaemons(&b2, list[:1])
	if strings.Contains(b2.String(), "MCP SERVER") {
		t.Errorf("a daemon without MCP servers got an MCP table:\n%s", b2.String())
	}
}

// TestShowNamesWaitingCalls: `task show` names each waiting call's tool
// and arguments.
func TestShowNamesWaitingCalls(t *testing.T) {
	t.Parallel()
	s := &bus.Summary{ID: "T1", State: bus.StateWaitingApproval, Goal: "clean", PendingApprovals: []string{"call_a", "call_b"}}
	var b strings.Builder
	printSummary(&b, s, map[string]*bus.ApprovalRequested{
		"call_a": {CallID: "call_a", Tool: "shell", Arguments: `{"command":"rm -rf build"}`, Reason: "shell asks"},
		"call_b": {CallID: "call_b", Tool: "web_fetch", Arguments: `{"url":"https://example.com"}`},
	})
	out := b.String()
	for _, want := range []string{
		`waiting for approval:  call_a  shell {"command":"rm -rf build"}  (shell asks)`,
		`call_b  web_fetch {"url":"https://example.com"}`,
		"viber task approve|deny T1 CALL_ID",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestParsePolicy(t *testing.T) {
	t.Parallel()
	got, err := parsePolicy([]string{"web_fetch=deny", "shell:rm=deny", "*=ask", "read_file=ask"})
	if err != nil || len(got) != 4 || got["shell:rm"] != "deny" {
		t.Fatalf("valid policy: %v, %v", got, err)
	}
	for in, want := range map[string]string{
		"web_fetch=allow": "only make the daemon's tool policy stricter",
		"webfetch=deny":   `there is no tool "webfetch"`,
		"shell:=deny":     "shell:PREFIX",
		"shell=sometimes": "sometimes",
		"=deny":           "want TOOL=ask|deny",
	} {
		_, err := parsePolicy([]string{in})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--policy %s: %v; want an error saying %q", in, err, want)
		}
	}
}

// TestSkillDirsTakesSkillFile: `skill validate path/SKILL.md` validates
// the file's folder; another file is refused with a hint.
func TestSkillDirsTakesSkillFile(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "demo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"SKILL.md": "---\nname: demo\ndescription: d\n---\n", "notes.txt": "x"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{filepath.Join(dir, "SKILL.md")}, {dir}, {root}} {
		got, err := skillDirs(args)
		if err != nil || !slices.Equal(got, []string{dir}) {
			t.Errorf("skillDirs(%q) = %q, %v; want [%s]", args, got, err, dir)
		}
	}
	if _, err := skillDirs([]string{filepath.Join(dir, "notes.txt")}); err == nil || !strings.Contains(err.Error(), "SKILL.md") {
		t.Errorf("a file other than SKILL.md: %v; want a refusal that mentions SKILL.md", err)
	}
}

// TestShowUsage: `task show` prints the task's tokens and cost, and
// nothing about them when the provider reported none.
func TestShowUsage(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	printSummary(&b, &bus.Summary{ID: "T1", State: bus.StateCompleted, Usage: bus.Usage{InputTokens: 1200, OutputTokens: 34, CostUSD: 0.0123}}, nil)
	if want := "1200 in, 34 out  ($0.0123)"; !strings.Contains(b.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, b.String())
	}
	b.Reset()
	printSummary(&b, &bus.Summary{ID: "T2", State: bus.StateCompleted}, nil)
	if strings.Contains(b.String(), "tokens") {
		t.Errorf("a task without usage shows tokens:\n%s", b.String())
	}
}
