package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/skills"
)

const pagesAgent = `---
name: auditor
description: Audits dependencies and reports what is out of date.
model: fake-model-large
tools: [read_file, grep, "mcp_github_*"]
skills: [weather-report]
---
You audit.
`

// TestDashboardAgents shows each daemon's named agents on the Agents page:
// description, model, the tools allow-list and the skills they use.
func TestDashboardAgents(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	r := newRig(t, "", nil)
	_, g := r.gateway()
	ws := t.TempDir()
	writeFile(t, filepath.Join(skills.AgentsWorkspaceDir(ws), "auditor.md"), pagesAgent)
	r.daemonOpts("staffed", daemonOptions{Workspace: ws})
	r.daemon("plain")
	r.eventually(10*time.Second, "staffed announces auditor", func() bool {
		return strings.Contains(strings.Join(r.agentsOf("staffed"), ","), "auditor")
	})

	b := newBrowser(t, "http://"+g.HTTPAddr())
	b.open("/tasks")
	b.do("the Agents link", 5*time.Second, chromedp.Click(chromedp.CSS(`nav a[href="/agents"]`)))
	b.waitJS("both daemons' agents", `document.querySelectorAll('[data-testid=agents-of]').length === 2`, 10*time.Second)
	card := `document.querySelector('[data-daemon=staffed] [data-agent=auditor]')`
	b.waitJS("the auditor card", card+` !== null`, 5*time.Second)
	text := eval[string](b, card+`.innerText`)
	for _, want := range []string{"Audits dependencies", "fake-model-large", "read_file", "grep", "mcp_github_*", "weather-report", "workspace"} {
		if !strings.Contains(text, want) {
			t.Errorf("the auditor's card lacks %q:\n%s", want, text)
		}
	}
	if def := eval[string](b, `document.querySelector('[data-daemon=plain] [data-agent=default] [data-testid=agent-tools]')?.innerText ?? ''`); !strings.Contains(def, "every tool") {
		t.Errorf("the default agent's tools read %q, want every tool", def)
	}
	if nav := eval[string](b, `document.querySelector('nav a[aria-current=page]')?.textContent ?? ''`); nav != "Agents" {
		t.Errorf("the current nav link is %q, want Agents", nav)
	}
	b.shots("agents")
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestDashboardMemory lists memory scopes and files, shows a file's text
// and its revisions, and restores an earlier revision with a button.
func TestDashboardMemory(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	r := newRig(t, "", nil)
	_, g := r.gateway()
	mem, err := bus.OpenMemory(r.ctx(5*time.Second), r.env.JS)
	if err != nil {
		t.Fatal(err)
	}
	reviewer := bus.MemoryScope{Kind: bus.MemoryAgent, Name: "reviewer"}
	ctx := r.ctx(10 * time.Second)
	first, err := mem.Put(ctx, reviewer, "MEMORY.md", "# Reviewer\n\n- the repo uses tabs\n", 0)
	if err != nil {
		t.Fatal(err)
	}
	second, err := mem.Put(ctx, reviewer, "MEMORY.md", "# Reviewer\n\n- the repo uses spaces (wrong)\n", first.Revision)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Put(ctx, bus.MemoryScope{Kind: bus.MemoryGlobal}, "SOUL.md", "Be brief.\n", 0); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, "http://"+g.HTTPAddr())
	b.open("/tasks")
	b.do("the Memory link", 5*time.Second, chromedp.Click(chromedp.CSS(`nav a[href="/memory"]`)))
	b.waitJS("the scopes", `(() => { const t = document.querySelector('[data-testid=memory-scopes]')?.innerText ?? ''; return t.includes('agent:reviewer') && t.includes('global') && t.includes('SOUL.md') && t.includes('MEMORY.md'); })()`, 10*time.Second)
	b.shots("memory")

	b.do("open MEMORY.md", 5*time.Second, chromedp.Click(chromedp.CSS(`[data-testid=memory-scopes] a[href*="MEMORY.md"]`)))
	b.waitJS("the current text", `document.querySelector('[data-testid=memory-text]')?.textContent.includes('spaces (wrong)')`, 10*time.Second)
	b.waitJS("two revisions", `document.querySelectorAll('[data-testid=memory-history] li[data-revision]').length === 2`, 10*time.Second)
	b.do("view the first revision", 5*time.Second, chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid=memory-history] li[data-revision="%d"] button:not(.primary)`, first.Revision))))
	b.waitJS("the earlier text", `document.querySelector('[data-testid=memory-text]')?.textContent.includes('uses tabs')`, 5*time.Second)
	b.shots("memory-file")

	b.do("restore the first revision", 5*time.Second, chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid=memory-history] li[data-revision="%d"] button.primary`, first.Revision))))
	b.waitJS("the restore is announced", `document.querySelector('[data-testid=memory-status]')?.textContent.includes('restored')`, 10*time.Second)
	b.waitJS("three revisions", `document.querySelectorAll('[data-testid=memory-history] li[data-revision]').length === 3`, 10*time.Second)
	cur, err := mem.Get(r.ctx(5*time.Second), reviewer, "MEMORY.md", 0)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Revision <= second.Revision || cur.Content != first.Content {
		t.Fatalf("after restore the file is revision %d %q, want a revision after %d with %q", cur.Revision, cur.Content, second.Revision, first.Content)
	}
	b.waitJS("the restored text is current", `document.querySelector('[data-testid=memory-text]')?.textContent.includes('uses tabs')`, 5*time.Second)
	b.shots("memory-restored")
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestDashboardTaskTree shows a task's children, and theirs, as a nested
// list with each one's state and a link to it.
func TestDashboardTaskTree(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	r := newRig(t, "", func(req *openaitest.Request) openaitest.Reply {
		res := req.LastToolResult()
		switch goalOf(req) {
		case "delegate":
			if res != "" {
				return openaitest.Reply{Text: "parent done: " + res}
			}
			return callTool("s1", "spawn", map[string]any{"goal": "middle manager", "wait": true})(req)
		case "middle manager":
			if res != "" {
				return openaitest.Reply{Text: "middle done: " + res}
			}
			return callTool("s2", "spawn", map[string]any{"goal": "leaf worker", "wait": true})(req)
		case "leaf worker":
			return openaitest.Reply{Text: "leaf done"}
		}
		return openaitest.Reply{Text: "?"}
	})
	_, g := r.gateway()
	r.daemon("d1")
	parent := r.submit("delegate")
	middle := bus.ChildID(parent.ID, "s1")
	leaf := bus.ChildID(middle, "s2")
	if s, _ := bus.Fold(r.follow(parent.ID, 30*time.Second)); s.State != bus.StateCompleted {
		t.Fatalf("the parent ended %s, want completed", s.State)
	}

	b := newBrowser(t, "http://"+g.HTTPAddr())
	b.open("/tasks/" + parent.ID)
	tree := `document.querySelector('[data-testid=task-children]')`
	b.waitJS("the child in the tree", tree+`?.querySelector('li[data-child="`+middle+`"] > a[href="/tasks/`+middle+`"]')?.textContent.includes('middle manager')`, 10*time.Second)
	b.waitJS("the grandchild nested under it", tree+`?.querySelector('li[data-child="`+middle+`"] ul li[data-child="`+leaf+`"] > a[href="/tasks/`+leaf+`"]')?.textContent.includes('leaf worker')`, 10*time.Second)
	b.waitJS("their states", `[...`+tree+`.querySelectorAll('[data-testid=child-state]')].map(e => e.textContent).join(',') === 'completed,completed'`, 10*time.Second)
	b.shots("task-tree")
	b.do("follow the grandchild's link", 5*time.Second, chromedp.Click(chromedp.CSS(`[data-testid=task-children] li[data-child="`+leaf+`"] > a`)))
	b.waitJS("the grandchild's page", `location.pathname === '/tasks/`+leaf+`' && !!document.querySelector('[data-testid=task-parent] a[href="/tasks/`+middle+`"]')`, 10*time.Second)
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}
