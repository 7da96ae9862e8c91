package tool

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewWorkspace(t *testing.T) {
	t.Parallel()
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	ws, err := NewWorkspace(link)
	if err != nil {
		t.Fatal(err)
	}
	if ws.Root() != real {
		t.Errorf("Root() = %q, want symlink-resolved %q", ws.Root(), real)
	}
	// A path given through the unresolved root is still inside.
	got, err := ws.Resolve(filepath.Join(link, "x.txt"))
	if err != nil || got != filepath.Join(real, "x.txt") {
		t.Errorf("Resolve via linked root = %q, %v", got, err)
	}

	if _, err := NewWorkspace(filepath.Join(base, "missing")); err == nil {
		t.Error("NewWorkspace(missing dir) succeeded")
	}
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewWorkspace(file); err == nil {
		t.Error("NewWorkspace(file) succeeded")
	}
	if _, err := NewWorkspace(""); err == nil {
		t.Error("NewWorkspace(\"\") succeeded")
	}
	if _, err := NewWorkspace(real, WithReadOnlyRoot(filepath.Join(base, "missing"))); err == nil {
		t.Error("NewWorkspace with missing read-only root succeeded")
	}
}

func TestResolveInside(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{})
	for _, tc := range []struct{ in, want string }{
		{".", f.root},
		{"hello.txt", filepath.Join(f.root, "hello.txt")},
		{"./sub/../hello.txt", filepath.Join(f.root, "hello.txt")},
		{"new/dir/file.txt", filepath.Join(f.root, "new/dir/file.txt")},
		{filepath.Join(f.root, "sub", "inner.txt"), filepath.Join(f.root, "sub", "inner.txt")},
		{"inlink/inner.txt", filepath.Join(f.root, "sub", "inner.txt")},
		{"inlink/not-yet.txt", filepath.Join(f.root, "sub", "not-yet.txt")},
		{"hello-link", filepath.Join(f.root, "hello.txt")},
		{"sub/../../ws/hello.txt", filepath.Join(f.root, "hello.txt")},
	} {
		got, err := f.ws.Resolve(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// escapes are paths that must be refused by every path tool.
func escapes(f *fixture) []string {
	return []string{
		"..",
		"../outside/secret.txt",
		"../..",
		"../../etc/passwd",
		"sub/../../outside/secret.txt",
		f.secret,
		"/etc/passwd",
		"linkfile",
		"linkdir",
		"linkdir/secret.txt",
		"linkdir/new.txt",
		"chain1",
		"chain1/secret.txt",
		"dangling",
		"sub/up/secret.txt",
		"~",
		"~/x",
		"~root",
		"~root/.bashrc",
		"hello\x00.txt",
	}
}

func TestResolveRefusesEscapes(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{})
	for _, p := range escapes(f) {
		for name, resolve := range map[string]func(string) (string, error){"Resolve": f.ws.Resolve, "ResolveRead": f.ws.ResolveRead} {
			got, err := resolve(p)
			if err == nil {
				t.Errorf("%s(%q) = %q, want an error", name, p, got)
				continue
			}
			if !strings.Contains(p, "\x00") && !errors.Is(err, ErrOutsideWorkspace) {
				t.Errorf("%s(%q) error %v is not ErrOutsideWorkspace", name, p, err)
			}
		}
	}
	for _, p := range []string{"", "a\x00b"} {
		if _, err := f.ws.Resolve(p); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("Resolve(%q) error = %v, want ErrInvalidPath", p, err)
		}
	}
	if _, err := f.ws.Resolve("~"); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("Resolve(~) error = %v, want also ErrInvalidPath", err)
	}
}

func TestResolveLinkCreatedLater(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{})
	// A directory that is fine now ...
	if _, err := f.ws.Resolve("later/x.txt"); err != nil {
		t.Fatal(err)
	}
	// ... becomes an escape once it is a link out.
	f.symlink(f.outside, filepath.Join(f.root, "later"))
	if _, err := f.ws.Resolve("later/x.txt"); !errors.Is(err, ErrOutsideWorkspace) {
		t.Fatalf("after linking out: %v", err)
	}
}

func TestResolveLinkLoop(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{})
	f.symlink("loop2", filepath.Join(f.root, "loop1"))
	f.symlink("loop1", filepath.Join(f.root, "loop2"))
	if _, err := f.ws.Resolve("loop1/x"); err == nil {
		t.Fatal("Resolve through a link loop succeeded")
	}
	r := f.call("read_file", obj{"path": "loop1"})
	if !r.IsError {
		t.Fatalf("read_file of a link loop: %+v", r)
	}
}

func TestReadOnlyRoot(t *testing.T) {
	t.Parallel()
	skillsBase, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	skill := filepath.Join(skillsBase, "pdf", "SKILL.md")
	if err := os.MkdirAll(filepath.Dir(skill), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(skill, []byte("---\nname: pdf\n---\nUse pdftotext.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := setup(t, Options{}, WithReadOnlyRoot(skillsBase))
	f.symlink(skillsBase, filepath.Join(f.root, "skills"))

	if got, err := f.ws.ResolveRead(skill); err != nil || got != skill {
		t.Fatalf("ResolveRead(skill) = %q, %v", got, err)
	}
	if _, err := f.ws.Resolve(skill); !errors.Is(err, ErrReadOnly) || !errors.Is(err, ErrOutsideWorkspace) {
		t.Fatalf("Resolve(skill) error = %v, want ErrReadOnly and ErrOutsideWorkspace", err)
	}

	for _, p := range []string{skill, "skills/pdf/SKILL.md"} {
		r := f.call("read_file", obj{"path": p})
		if r.IsError || !strings.Contains(r.Output, "pdftotext") {
			t.Errorf("read_file(%q) = %+v", p, r)
		}
		w := f.call("write_file", obj{"path": p, "content": "pwned"})
		if !w.IsError || !strings.Contains(w.Output, "read-only") {
			t.Errorf("write_file(%q) = %+v, want read-only refusal", p, w)
		}
		e := f.call("edit_file", obj{"path": p, "old_string": "pdftotext", "new_string": "rm"})
		if !e.IsError {
			t.Errorf("edit_file(%q) = %+v, want refusal", p, e)
		}
	}
	if got, _ := os.ReadFile(skill); !strings.Contains(string(got), "pdftotext") {
		t.Fatalf("skill changed: %q", got)
	}
	if r := f.call("list_dir", obj{"path": filepath.Dir(skill)}); r.IsError || !strings.Contains(r.Output, "SKILL.md") {
		t.Errorf("list_dir(skill dir) = %+v", r)
	}
	if r := f.call("grep", obj{"pattern": "pdftotext", "path": skillsBase}); r.IsError || !strings.Contains(r.Output, "SKILL.md:4:") {
		t.Errorf("grep in read-only root = %+v", r)
	}
	if r := f.call("glob", obj{"pattern": "**/SKILL.md", "path": skillsBase}); r.IsError || !strings.Contains(r.Output, skill) {
		t.Errorf("glob in read-only root = %+v", r)
	}
	if _, err := os.Stat(filepath.Join(skillsBase, "pdf", "pwned")); err == nil {
		t.Error("something was written in the read-only root")
	}
}

func TestReadOnlyRootInsideWorkspace(t *testing.T) {
	t.Parallel()
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	skills := filepath.Join(base, ".skills")
	if err := os.MkdirAll(skills, 0o755); err != nil {
		t.Fatal(err)
	}
	ws, err := NewWorkspace(base, WithReadOnlyRoot(skills))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Resolve(".skills/x"); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Resolve(.skills/x) error = %v, want ErrReadOnly", err)
	}
	if _, err := ws.Resolve("other/x"); err != nil {
		t.Fatal(err)
	}
	if got := ws.ReadOnlyRoots(); len(got) != 1 || got[0] != skills {
		t.Fatalf("ReadOnlyRoots() = %v", got)
	}
}
