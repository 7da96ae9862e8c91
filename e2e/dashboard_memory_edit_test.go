package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/viberhq/viber/bus"
)

// TestDashboardMemoryEdit edits a memory file on the Memory page: Edit
// focuses the text, Save writes a new revision, Cancel gives the focus
// back, and a save over a change made meanwhile is refused, keeps the
// draft, shows the current text and goes through when repeated.
func TestDashboardMemoryEdit(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	r := newRig(t, "", nil)
	_, g := r.gateway()
	mem, err := bus.OpenMemory(r.ctx(5*time.Second), r.env.JS)
	if err != nil {
		t.Fatal(err)
	}
	scope := bus.MemoryScope{Kind: bus.MemoryAgent, Name: "reviewer"}
	first, err := mem.Put(r.ctx(5*time.Second), scope, "MEMORY.md", "# Reviewer\n\n- the repo uses tabs\n", 0)
	if err != nil {
		t.Fatal(err)
	}
	current := func() *bus.MemoryFile {
		t.Helper()
		f, err := mem.Get(r.ctx(5*time.Second), scope, "MEMORY.md", 0)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	revisions := func(n int) string {
		return fmt.Sprintf(`document.querySelectorAll('[data-testid=memory-history] li[data-revision]').length === %d`, n)
	}

	b := newBrowser(t, "http://"+g.HTTPAddr())
	b.open("/memory?scope=agent:reviewer&name=MEMORY.md")
	b.waitJS("the text", `document.querySelector('[data-testid=memory-text]')?.textContent.includes('uses tabs')`, 10*time.Second)

	// Edit, then cancel: the focus goes back to Edit, nothing is written.
	b.do("edit", 5*time.Second, chromedp.Click(chromedp.CSS(`#memory-edit`)))
	b.waitJS("focus in the editor", `document.activeElement?.id === 'memory-editor'`, 5*time.Second)
	if lbl := eval[string](b, `document.querySelector('label[for=memory-editor]')?.textContent ?? ''`); lbl != "Text of MEMORY.md" {
		t.Errorf("the editor's label is %q", lbl)
	}
	b.do("type", 5*time.Second, chromedp.SendKeys(chromedp.CSS(`#memory-editor`), "- thrown away\n"))
	b.do("cancel", 5*time.Second, chromedp.Click(chromedp.Search(`//form[@data-testid="memory-editor"]//button[text()="Cancel"]`)))
	b.waitJS("focus back on Edit", `document.activeElement?.id === 'memory-edit'`, 5*time.Second)
	if f := current(); f.Revision != first.Revision {
		t.Fatalf("cancel wrote revision %d", f.Revision)
	}

	// Edit and save: a new revision with the text, announced.
	b.do("edit again", 5*time.Second, chromedp.Click(chromedp.CSS(`#memory-edit`)))
	b.waitJS("the editor holds the text", `document.getElementById('memory-editor')?.value.includes('uses tabs')`, 5*time.Second)
	b.do("type a line", 5*time.Second, chromedp.SendKeys(chromedp.CSS(`#memory-editor`), "- reviews need a test\n"))
	b.shots("memory-edit")
	b.do("save", 5*time.Second, chromedp.Click(chromedp.Search(`//form[@data-testid="memory-editor"]//button[text()="Save"]`)))
	b.waitJS("saved", `document.querySelector('[data-testid=memory-status]')?.textContent.startsWith('Saved as revision')`, 10*time.Second)
	b.waitJS("two revisions", revisions(2), 10*time.Second)
	b.waitJS("focus on the saved text", `document.activeElement?.id === 'memory-text' && document.activeElement.textContent.includes('reviews need a test')`, 5*time.Second)
	saved := current()
	if saved.Revision <= first.Revision || saved.Content != "# Reviewer\n\n- the repo uses tabs\n- reviews need a test\n" {
		t.Fatalf("after save the file is revision %d %q", saved.Revision, saved.Content)
	}
	if s := eval[string](b, `document.querySelector('[data-testid=memory-status]').textContent`); s != fmt.Sprintf("Saved as revision %d.", saved.Revision) {
		t.Errorf("the status says %q, want revision %d", s, saved.Revision)
	}

	// Someone writes the file while the editor is open: the save is
	// refused, the draft kept, the current text shown.
	b.do("edit a third time", 5*time.Second, chromedp.Click(chromedp.CSS(`#memory-edit`)))
	b.waitJS("the editor open", `document.activeElement?.id === 'memory-editor'`, 5*time.Second)
	theirs, err := mem.Put(r.ctx(5*time.Second), scope, "MEMORY.md", "# Reviewer\n\n- written by an agent meanwhile\n", saved.Revision)
	if err != nil {
		t.Fatal(err)
	}
	b.do("type another line", 5*time.Second, chromedp.SendKeys(chromedp.CSS(`#memory-editor`), "- mine\n"))
	b.do("save over the change", 5*time.Second, chromedp.Click(chromedp.Search(`//form[@data-testid="memory-editor"]//button[text()="Save"]`)))
	b.waitJS("the conflict is said", fmt.Sprintf(`(document.querySelector('[data-testid=memory-conflict][role=alert]')?.textContent ?? '').includes('changed while you edited it (it is now revision %d')`, theirs.Revision), 10*time.Second)
	if f := current(); f.Revision != theirs.Revision || f.Content != theirs.Content {
		t.Fatalf("the refused save changed the file: revision %d %q", f.Revision, f.Content)
	}
	if v := eval[string](b, `document.getElementById('memory-editor').value`); !strings.HasSuffix(v, "- reviews need a test\n- mine\n") {
		t.Errorf("the draft after the conflict is %q, want it kept", v)
	}
	b.waitJS("the current text below the editor", `document.querySelector('[data-testid=memory-text]')?.textContent.includes('written by an agent meanwhile')`, 5*time.Second)
	b.waitJS("three revisions", revisions(3), 10*time.Second)
	b.shots("memory-conflict")

	// Saving again replaces their text with the draft.
	b.do("save again", 5*time.Second, chromedp.Click(chromedp.Search(`//form[@data-testid="memory-editor"]//button[text()="Save"]`)))
	b.waitJS("saved over", revisions(4), 10*time.Second)
	if f := current(); f.Revision <= theirs.Revision || !strings.HasSuffix(f.Content, "- reviews need a test\n- mine\n") {
		t.Fatalf("after the second save the file is revision %d %q", f.Revision, f.Content)
	}
	if eval[bool](b, `!!document.querySelector('[data-testid=memory-conflict]')`) {
		t.Error("the conflict message stays after a save that went through")
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}
