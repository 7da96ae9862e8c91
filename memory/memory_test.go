package memory_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/viberhq/viber/agents/tool"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
	"github.com/viberhq/viber/memory"
)

func session(t *testing.T, fileCap int) (*memory.Session, *bus.Memory, string, *[]bus.Payload) {
	t.Helper()
	env := bustest.Start(t, "", bus.SetupOptions{})
	store, err := bus.OpenMemory(bustest.Context(t, 5*time.Second), env.JS)
	if err != nil {
		t.Fatal(err)
	}
	ws := t.TempDir()
	if err := os.MkdirAll(memory.PinnedDir(ws), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(memory.PinnedDir(ws), "SOUL.md"), []byte("Be kind."), 0o600); err != nil {
		t.Fatal(err)
	}
	s := memory.NewSession(memory.Options{Store: store, Kinds: []string{"global", "agent", "user"}, Agent: "helper", Submitter: "viber/bob", PinnedDir: memory.PinnedDir(ws), FileCap: fileCap})
	return s, store, ws, &[]bus.Payload{}
}

func call(t *testing.T, tools []tool.Tool, name, callID string, args any) tool.Result {
	t.Helper()
	b, _ := json.Marshal(args)
	for _, tl := range tools {
		if tl.Name() == name {
			return tl.Call(tool.WithCallID(context.Background(), callID), b)
		}
	}
	t.Fatalf("no tool %s", name)
	return tool.Result{}
}

func TestPromptCapsFilesAndShowsPinned(t *testing.T) {
	t.Parallel()
	s, store, _, _ := session(t, 16)
	ctx := bustest.Context(t, 5*time.Second)
	long := strings.Repeat("é", 20) // 40 bytes: cut on a character boundary
	if _, err := store.Put(ctx, bus.MemoryScope{Kind: "agent", Name: "helper"}, "MEMORY.md", long, 0); err != nil {
		t.Fatal(err)
	}
	p := s.Prompt(ctx)
	for _, want := range []string{`<memory scope="pinned" name="SOUL.md">`, "Be kind.", `<memory scope="agent" name="MEMORY.md" revision="1">`,
		strings.Repeat("é", 8) + "\n[cut: this file is 40 bytes; only the first 16 are shown"} {
		if !strings.Contains(p, want) {
			t.Errorf("prompt lacks %q:\n%s", want, p)
		}
	}
}

func TestUpdateIsCompareAndSetAndRecorded(t *testing.T) {
	t.Parallel()
	s, store, _, _ := session(t, 0)
	ctx := bustest.Context(t, 5*time.Second)
	var recorded []*bus.MemoryUpdated
	tools := s.Tools(func(_ context.Context, p bus.Payload) error {
		recorded = append(recorded, p.(*bus.MemoryUpdated))
		return nil
	})
	if r := call(t, tools, "memory_update", "c1", map[string]any{"name": "SOUL.md", "content": "be rude"}); !r.IsError || !strings.Contains(r.Output, "pinned") {
		t.Errorf("a pinned file was not refused: %+v", r)
	}
	if r := call(t, tools, "memory_update", "c2", map[string]any{"name": "USER.md", "content": "Bob likes tests.", "scope": "user"}); r.IsError {
		t.Fatalf("first write: %s", r.Output)
	}
	if len(recorded) != 1 || recorded[0].CallID != "c2" || recorded[0].Scope != "user:viber/bob" || recorded[0].Previous != 0 {
		t.Fatalf("recorded %+v", recorded)
	}
	// Someone else writes meanwhile: the next write is refused with the
	// current text, then lands once merged.
	if _, err := store.Put(ctx, bus.MemoryScope{Kind: "user", Name: "viber/bob"}, "USER.md", "Bob likes tea.", recorded[0].Revision); err != nil {
		t.Fatal(err)
	}
	r := call(t, tools, "memory_update", "c3", map[string]any{"name": "USER.md", "content": "Bob likes tests and CI.", "scope": "user"})
	if !r.IsError || !strings.Contains(r.Output, "<current>\nBob likes tea.\n</current>") {
		t.Fatalf("a concurrent write was not reported with the current text: %+v", r)
	}
	if r := call(t, tools, "memory_update", "c4", map[string]any{"name": "USER.md", "content": "Bob likes tea, tests and CI.", "scope": "user"}); r.IsError {
		t.Fatalf("merged write: %s", r.Output)
	}
	if r := call(t, tools, "memory_read", "c5", map[string]any{"name": "USER.md", "scope": "user"}); !strings.Contains(r.Output, "Bob likes tea, tests and CI.") {
		t.Errorf("read: %s", r.Output)
	}
	if r := call(t, tools, "memory_update", "c6", map[string]any{"name": "X.md", "content": "x", "scope": "team"}); !r.IsError {
		t.Errorf("an unknown scope was accepted")
	}
}
