package tool

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func searchFixture(t *testing.T, opts Options) *fixture {
	f := setup(t, opts)
	f.write(filepath.Join(f.root, "main.go"), "package main\n\nfunc main() {\n\tHandleThing()\n}\n")
	f.write(filepath.Join(f.root, "cmd", "tool", "main.go"), "package main\n// handleThing is here\n")
	f.write(filepath.Join(f.root, "cmd", "tool", "main_test.go"), "package main\n")
	f.write(filepath.Join(f.root, "pkg", "a", "b", "c", "deep.go"), "package c\nfunc HandleThing() {}\n")
	f.write(filepath.Join(f.root, "pkg", "a", "notes.md"), "HandleThing in docs\n")
	f.write(filepath.Join(f.root, ".git", "config"), "HandleThing\n")
	f.write(filepath.Join(f.root, "image.bin"), "HandleThing\x00\x01")
	return f
}

func lines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }

func TestGlob(t *testing.T) {
	t.Parallel()
	f := searchFixture(t, Options{})
	for _, tc := range []struct {
		pattern, path string
		want          []string
	}{
		{"**/*.go", "", []string{"cmd/tool/main.go", "cmd/tool/main_test.go", "main.go", "pkg/a/b/c/deep.go"}},
		{"*.go", "", []string{"main.go"}},
		{"cmd/**/main.go", "", []string{"cmd/tool/main.go"}},
		{"pkg/**", "", []string{"pkg/a/", "pkg/a/b/", "pkg/a/b/c/", "pkg/a/b/c/deep.go", "pkg/a/notes.md"}},
		{"**/*_test.go", "", []string{"cmd/tool/main_test.go"}},
		{"pkg/**/c/*.go", "", []string{"pkg/a/b/c/deep.go"}},
		{"*.md", "pkg/a", []string{"pkg/a/notes.md"}},
		{"sub/inner.txt", "", []string{"sub/inner.txt"}},
		{"inlink/*", "", []string{"sub/inner.txt", "sub/up"}},
		{"**/config", "", nil},
		{".git/*", "", []string{".git/config"}},
		{"linkdir", "", []string{"linkdir"}}, // the link itself, not followed
		{"sub/", "", []string{"sub/"}},
		{"pkg/a/notes.md", "", []string{"pkg/a/notes.md"}},
		{"pkg/a/missing.md", "", nil},
	} {
		r := f.call("glob", obj{"pattern": tc.pattern, "path": tc.path})
		if r.IsError {
			t.Errorf("glob(%q, %q): %s", tc.pattern, tc.path, r.Output)
			continue
		}
		if tc.want == nil {
			if !strings.HasPrefix(r.Output, "no matches") {
				t.Errorf("glob(%q) = %q, want no matches", tc.pattern, r.Output)
			}
			continue
		}
		if got := lines(r.Output); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("glob(%q, %q) = %q, want %q", tc.pattern, tc.path, got, tc.want)
		}
	}
	// The pattern cannot be used to walk out of the workspace.
	for _, p := range []string{"../*", "../outside/*", "linkdir/*", "chain1/**", f.outside + "/*", "/*", "~/*"} {
		r := f.call("glob", obj{"pattern": p})
		if !r.IsError || strings.Contains(r.Output, "secret") {
			t.Errorf("glob(%q) = %+v, want refusal", p, r)
		}
	}
	for _, p := range []string{"sub/**/../../..", "[", ""} {
		if r := f.call("glob", obj{"pattern": p}); !r.IsError {
			t.Errorf("glob(%q) = %+v, want error", p, r)
		}
	}
	// Absolute patterns inside the workspace work.
	r := f.call("glob", obj{"pattern": filepath.Join(f.root, "cmd", "**", "*_test.go")})
	if r.IsError || strings.TrimSpace(r.Output) != "cmd/tool/main_test.go" {
		t.Errorf("absolute glob = %+v", r)
	}
	// ** does not descend into links.
	r = f.call("glob", obj{"pattern": "**/secret.txt"})
	if r.IsError || !strings.HasPrefix(r.Output, "no matches") {
		t.Errorf("glob through links = %+v", r)
	}
}

func TestGlobCap(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{MaxOutputBytes: 200})
	for i := range 100 {
		f.write(filepath.Join(f.root, "many", fmt.Sprintf("f%03d.txt", i)), "")
	}
	r := f.call("glob", obj{"pattern": "many/*.txt"})
	if r.IsError || !r.Truncated || len(r.Output) > 400 {
		t.Fatalf("cap: %+v", r)
	}
}

func TestGrep(t *testing.T) {
	t.Parallel()
	f := searchFixture(t, Options{})
	r := f.call("grep", obj{"pattern": `HandleThing\(`})
	if r.IsError {
		t.Fatal(r.Output)
	}
	want := []string{"main.go:4: \tHandleThing()", "pkg/a/b/c/deep.go:2: func HandleThing() {}"}
	if got := lines(r.Output); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("grep = %q, want %q", got, want)
	}
	if strings.Contains(r.Output, ".git") || strings.Contains(r.Output, "image.bin") {
		t.Fatalf("grep searched .git or a binary: %s", r.Output)
	}

	r = f.call("grep", obj{"pattern": "handlething", "ignore_case": true, "glob": "*.go"})
	if got := lines(r.Output); r.IsError || len(got) != 3 {
		t.Fatalf("ignore_case + glob: %+v", r)
	}
	r = f.call("grep", obj{"pattern": "HandleThing", "glob": "pkg/**/*.md"})
	if r.IsError || strings.TrimSpace(r.Output) != "pkg/a/notes.md:1: HandleThing in docs" {
		t.Fatalf("path glob: %+v", r)
	}
	r = f.call("grep", obj{"pattern": "handle", "path": "cmd/tool/main.go"})
	if r.IsError || strings.TrimSpace(r.Output) != "cmd/tool/main.go:2: // handleThing is here" {
		t.Fatalf("single file: %+v", r)
	}
	r = f.call("grep", obj{"pattern": "inner", "path": "inlink"})
	if r.IsError || strings.TrimSpace(r.Output) != "sub/inner.txt:1: inner" {
		t.Fatalf("via inside link: %+v", r)
	}
	r = f.call("grep", obj{"pattern": "SECRET"})
	if r.IsError || !strings.HasPrefix(r.Output, "no matches") {
		t.Fatalf("grep followed a link out: %+v", r)
	}
	for _, args := range []obj{{"pattern": "("}, {"pattern": ""}, {"pattern": "x", "glob": "["}, {"pattern": "x", "path": "missing"}} {
		if r := f.call("grep", args); !r.IsError {
			t.Errorf("grep(%v) = %+v, want error", args, r)
		}
	}
}

func TestGrepCaps(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{})
	var sb strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&sb, "match %d %s\n", i, strings.Repeat("x", 1000))
	}
	f.write(filepath.Join(f.root, "big.txt"), sb.String())
	r := f.call("grep", obj{"pattern": "match"})
	if r.IsError || !r.Truncated || len(r.Output) > DefaultMaxOutputBytes+2000 || !strings.Contains(r.Output, "stopped after") {
		t.Fatalf("caps: truncated=%v len=%d tail=%q", r.Truncated, len(r.Output), r.Output[max(0, len(r.Output)-200):])
	}
	first := lines(r.Output)[0]
	if len(first) > maxGrepLine+40 || !strings.HasSuffix(first, "…") {
		t.Fatalf("long line not clipped: %d bytes", len(first))
	}
}

func TestGlobMatcher(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"**", "a/b/c", true},
		{"**/*.go", "x.go", true},
		{"**/*.go", "a/b/x.go", true},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"a/**/b", "a/x/y/c", false},
		{"*.go", "a/x.go", false},
		{"a/*/c", "a/b/c", true},
		{"a/*/c", "a/b/b/c", false},
	} {
		g, err := parseGlob(tc.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.match(tc.name); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}
