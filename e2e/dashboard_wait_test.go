package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/mcpclient/mcptest"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/skills"
)

const waitSkill = `---
name: weather-report
description: Reports the weather.
---
Look outside.
`

// TestDashboardWaitReasons says why a pending task waits when the only
// daemon with the skill, the agent or the MCP tool it needs is offline, and when the
// daemon it is pinned to is offline (another daemon being online each
// time).
func TestDashboardWaitReasons(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	r := newRig(t, "", answer("done")) // the MCP config needs a model; no task here reaches it
	_, g := r.gateway()
	ws := t.TempDir()
	writeFile(t, filepath.Join(skills.WorkspaceDir(ws), "weather-report", "SKILL.md"), waitSkill)
	writeFile(t, filepath.Join(skills.AgentsWorkspaceDir(ws), "auditor.md"), pagesAgent)
	server, err := mcptest.StdioConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	staffed := r.daemonOpts("staffed", daemonOptions{Workspace: ws, Models: r.mcpModels(map[string]agents.MCPServerConfig{"test": server})})
	r.daemon("plain")
	presence, err := bus.OpenPresence(r.ctx(5*time.Second), r.env.JS)
	if err != nil {
		t.Fatal(err)
	}
	r.eventually(30*time.Second, "staffed announces the skill, the agent and the MCP tool", func() bool {
		d, err := presence.Get(r.ctx(5*time.Second), "staffed")
		return err == nil && d.Offers([]string{"weather-report"}) && d.HasAgent("auditor") && d.OffersTools([]string{"mcp_test_echo"})
	})
	staffed.Stop()
	r.eventually(10*time.Second, "staffed offline", func() bool {
		d, err := presence.Get(r.ctx(5*time.Second), "staffed")
		return err == nil && !d.Online(time.Now())
	})
	create := func(req *bus.CreateTaskRequest) string {
		t.Helper()
		s, err := r.client.CreateTask(r.ctx(5*time.Second), req)
		if err != nil {
			t.Fatalf("create %q: %v", req.Goal, err)
		}
		return s.ID
	}
	b := newBrowser(t, "http://"+g.HTTPAddr())
	for _, tc := range []struct {
		name string
		req  *bus.CreateTaskRequest
		want string
	}{
		{"skill", &bus.CreateTaskRequest{Goal: "weather in Lyon", Skills: []string{"weather-report"}}, "No online daemon has the skill weather-report."},
		{"agent", &bus.CreateTaskRequest{Goal: "audit the dependencies", Agent: "auditor"}, "No online daemon offers the agent auditor."},
		{"tool", &bus.CreateTaskRequest{Goal: "echo through MCP", Tools: []string{"mcp_test_echo"}}, "No online daemon offers the tool mcp_test_echo."},
		{"pinned", &bus.CreateTaskRequest{Goal: "run on staffed only", Daemon: "staffed"}, "It waits for daemon staffed, which is offline."},
	} {
		id := create(tc.req)
		b.open("/tasks/" + id)
		b.waitJS("reason: "+tc.name, fmt.Sprintf(`document.querySelector('[data-testid=wait-reason]')?.textContent.trim() === %q`, "Waiting: "+tc.want), 10*time.Second)
		if st := eval[string](b, `document.querySelector('[data-testid=task-state]')?.textContent ?? ''`); st != "pending" {
			t.Errorf("%s: the task is shown %q, want pending", tc.name, st)
		}
		b.shots("task-pending-" + tc.name)
		// The list shows it pending (the reason is on the task's page).
		b.open("/tasks")
		b.waitJS(tc.name+" pending in the list", fmt.Sprintf(`[...document.querySelectorAll('a[href="/tasks/%s"]')].some(a => a.closest('tr')?.innerText.includes('pending'))`, id), 10*time.Second)
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the pages logged errors:\n%s", strings.Join(errs, "\n"))
	}
}
