package bus_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
)

func TestMemoryScopesAndKeys(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]string{"global": "global", "agent:reviewer": "agent:reviewer", "user:viber/alice": "user:viber/alice"} {
		s, err := bus.ParseMemoryScope(text)
		if err != nil || s.String() != want {
			t.Errorf("ParseMemoryScope(%q) = %v, %v", text, s, err)
		}
	}
	for _, bad := range []string{"", "agent", "agent:", "global:x", "team:x"} {
		if _, err := bus.ParseMemoryScope(bad); !errors.Is(err, bus.ErrMalformed) {
			t.Errorf("ParseMemoryScope(%q): want ErrMalformed, got %v", bad, err)
		}
	}
	for _, bad := range []string{"", ".hidden", "a/b", `a\b`, "tab\there"} {
		if err := bus.ValidMemoryName(bad); err == nil {
			t.Errorf("ValidMemoryName(%q) accepted", bad)
		}
	}
	if k := bus.MemoryKey(bus.MemoryScope{Kind: bus.MemoryUser, Name: "viber/alice"}, "MEMORY.md"); k != "user.viber=2Falice.MEMORY=2Emd" {
		t.Errorf("key %q", k)
	}
}

// Files with dots, spaces and slashes in their scope round-trip through
// the bucket; writes are compare-and-set; history and restore work.
func TestMemoryStore(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx := bustest.Context(t, 10*time.Second)
	m, err := bus.OpenMemory(ctx, env.JS)
	if err != nil {
		t.Fatal(err)
	}
	alice := bus.MemoryScope{Kind: bus.MemoryUser, Name: "viber/alice smith"}
	f1, err := m.Put(ctx, alice, "USER notes.md", "likes tea", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Put(ctx, alice, "USER notes.md", "again", 0); !errors.Is(err, bus.ErrConflict) {
		t.Errorf("creating an existing file: want ErrConflict, got %v", err)
	}
	cur, err := m.Put(ctx, alice, "USER notes.md", "stale", f1.Revision+100)
	if !errors.Is(err, bus.ErrConflict) || cur == nil || cur.Content != "likes tea" {
		t.Errorf("stale write: want ErrConflict with the current text, got %v %+v", err, cur)
	}
	f2, err := m.Put(ctx, alice, "USER notes.md", "likes coffee", f1.Revision)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Put(ctx, bus.MemoryScope{Kind: bus.MemoryGlobal}, "SOUL.md", "calm", 0); err != nil {
		t.Fatal(err)
	}
	list, err := m.List(ctx, &alice)
	if err != nil || len(list) != 1 || list[0].Scope != "user:viber/alice smith" || list[0].Name != "USER notes.md" || list[0].Revision != f2.Revision {
		t.Fatalf("list of alice: %v %+v", err, list)
	}
	all, err := m.List(ctx, nil)
	if err != nil || len(all) != 2 {
		t.Fatalf("list of all: %v %d", err, len(all))
	}
	hist, err := m.History(ctx, alice, "USER notes.md")
	if err != nil || len(hist) != 2 || hist[0].Content != "likes coffee" || hist[1].Content != "likes tea" {
		t.Fatalf("history: %v %+v", err, hist)
	}
	back, err := m.Restore(ctx, alice, "USER notes.md", f1.Revision)
	if err != nil || back.Content != "likes tea" || back.Revision <= f2.Revision {
		t.Fatalf("restore: %v %+v", err, back)
	}
	old, err := m.Get(ctx, alice, "USER notes.md", f2.Revision)
	if err != nil || old.Content != "likes coffee" {
		t.Errorf("get at a revision: %v %+v", err, old)
	}
	if _, err := m.Get(ctx, alice, "nope.md", 0); !errors.Is(err, bus.ErrMemoryNotFound) {
		t.Errorf("missing file: %v", err)
	}
	// The watch sees every current file, then the end-of-snapshot marker.
	wctx := bustest.Context(t, 5*time.Second)
	got := make(chan *bus.MemoryFile, 16)
	go func() {
		_ = m.Watch(wctx, func(f *bus.MemoryFile) { got <- f })
		close(got) // a watch that never delivers its snapshot ends the loop
	}()
	var seen []string
	for f := range got {
		if f == nil {
			break
		}
		seen = append(seen, f.Scope+" "+f.Name)
	}
	if !slices.Contains(seen, "global SOUL.md") || !slices.Contains(seen, "user:viber/alice smith USER notes.md") || len(seen) != 2 {
		t.Errorf("watch saw %v, want the two current files", seen)
	}
}
