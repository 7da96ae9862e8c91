package wiredoc_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/internal/wiredoc"
)

// TestFresh fails while docs/wire.md is not what the registry in bus
// renders.
func TestFresh(t *testing.T) {
	t.Parallel()
	const stale = "docs/wire.md is stale: run `go generate ./internal/wiredoc`"
	want, err := wiredoc.Render()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(wiredoc.Path)))
	if err != nil {
		t.Fatalf("%s: %v", stale, err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s: line %d is\n\t%s\nwant\n\t%s", stale, i+1, g, w)
			}
		}
		t.Fatal(stale)
	}
}

// TestRenderNamesEverything checks that the page shows every entry of the
// registry, and every event type with its schema.
func TestRenderNamesEverything(t *testing.T) {
	t.Parallel()
	page, err := wiredoc.Render()
	if err != nil {
		t.Fatal(err)
	}
	again, err := wiredoc.Render()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(page, again) {
		t.Fatal("two renders differ: the page must be deterministic")
	}
	for _, e := range bus.Wire() {
		name := "`" + strings.ReplaceAll(e.Name, "|", `\|`) + "`"
		if !bytes.Contains(page, []byte(name)) {
			t.Errorf("%s %s is not on the page", e.Kind, name)
		}
		if e.Kind == bus.WireEvent && !bytes.Contains(page, []byte("(../schemas/"+string(e.EventType)+".json)")) {
			t.Errorf("event type %s has no schema link", e.EventType)
		}
	}
	if !bytes.HasSuffix(page, []byte("\n")) || bytes.HasSuffix(page, []byte("\n\n")) {
		t.Error("the page must end in exactly one newline")
	}
}
