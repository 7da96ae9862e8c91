package tool

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileToolsRefuseEscapes(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{})
	before := f.outsideEntries()
	for _, p := range escapes(f) {
		calls := map[string]obj{
			"read_file":  {"path": p},
			"write_file": {"path": p, "content": "pwned"},
			"edit_file":  {"path": p, "old_string": "TOP", "new_string": "pwned"},
			"list_dir":   {"path": p},
			"grep":       {"pattern": "SECRET", "path": p},
		}
		for name, args := range calls {
			r := f.call(name, args)
			if !r.IsError {
				t.Errorf("%s(%q) = %+v, want an error", name, p, r)
				continue
			}
			if !strings.Contains(r.Output, "refused") {
				t.Errorf("%s(%q) output %q does not say refused", name, p, r.Output)
			}
			if strings.Contains(r.Output, "TOP SECRET") {
				t.Errorf("%s(%q) leaked the secret: %q", name, p, r.Output)
			}
		}
	}
	if got := f.read(f.secret); got != "TOP SECRET\n" {
		t.Fatalf("secret changed: %q", got)
	}
	if after := f.outsideEntries(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("outside dir changed: %v -> %v", before, after)
	}
}

func TestWriteThroughLinkedDirCreatesNothingOutside(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{})
	for _, p := range []string{"linkdir/new.txt", "linkdir/deep/er/new.txt", "chain1/new.txt", "dangling", "sub/up/new.txt"} {
		r := f.call("write_file", obj{"path": p, "content": "x"})
		if !r.IsError || !strings.Contains(r.Output, "outside") {
			t.Errorf("write_file(%q) = %+v", p, r)
		}
	}
	if got := f.outsideEntries(); len(got) != 1 || got[0] != "secret.txt" {
		t.Fatalf("outside dir now holds %v", got)
	}
}

func TestWriteFile(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{})
	r := f.call("write_file", obj{"path": "a/b/c.txt", "content": "one\n"})
	if r.IsError || !strings.Contains(r.Output, "created a/b/c.txt") {
		t.Fatalf("create: %+v", r)
	}
	if got := f.read(filepath.Join(f.root, "a/b/c.txt")); got != "one\n" {
		t.Fatalf("content %q", got)
	}
	if err := os.Chmod(filepath.Join(f.root, "a/b/c.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = f.call("write_file", obj{"path": "a/b/c.txt", "content": ""})
	if r.IsError || !strings.Contains(r.Output, "overwrote") {
		t.Fatalf("overwrite: %+v", r)
	}
	fi, err := os.Stat(filepath.Join(f.root, "a/b/c.txt"))
	if err != nil || fi.Size() != 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("after overwrite: %v %v", fi, err)
	}
	// Through a link that stays inside: the target is written.
	r = f.call("write_file", obj{"path": "inlink/via-link.txt", "content": "v"})
	if r.IsError || f.read(filepath.Join(f.root, "sub", "via-link.txt")) != "v" {
		t.Fatalf("write via inside link: %+v", r)
	}
	for _, args := range []obj{
		{"path": "sub", "content": "x"},
		{"path": ".", "content": "x"},
		{"path": "x.txt"},
		{"content": "x"},
		{"path": "x.txt", "content": "x", "mode": "0777"},
		{"path": "hello.txt/x", "content": "x"},
	} {
		if r := f.call("write_file", args); !r.IsError {
			t.Errorf("write_file(%v) = %+v, want error", args, r)
		}
	}
}

func TestEditFile(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{})
	p := filepath.Join(f.root, "code.go")
	f.write(p, "package x\n\nfunc A() {}\nfunc B() {}\nfunc B() {}\n")

	r := f.call("edit_file", obj{"path": "code.go", "old_string": "func A() {}", "new_string": "func A() { return }"})
	if r.IsError || !strings.Contains(r.Output, "line 3") {
		t.Fatalf("unique: %+v", r)
	}
	if got := f.read(p); !strings.Contains(got, "func A() { return }") {
		t.Fatalf("content %q", got)
	}

	r = f.call("edit_file", obj{"path": "code.go", "old_string": "func C() {}", "new_string": "x"})
	if !r.IsError || !strings.Contains(r.Output, "occurs 0 times") {
		t.Fatalf("zero: %+v", r)
	}
	r = f.call("edit_file", obj{"path": "code.go", "old_string": "func B() {}", "new_string": "x"})
	if !r.IsError || !strings.Contains(r.Output, "occurs 2 times") {
		t.Fatalf("multiple: %+v", r)
	}
	r = f.call("edit_file", obj{"path": "code.go", "old_string": "func  A() {\n return }", "new_string": "x"})
	if !r.IsError || !strings.Contains(r.Output, "white space") {
		t.Fatalf("whitespace hint: %+v", r)
	}
	if got := f.read(p); got != "package x\n\nfunc A() { return }\nfunc B() {}\nfunc B() {}\n" {
		t.Fatalf("failed edits changed the file: %q", got)
	}
	// Deleting text.
	r = f.call("edit_file", obj{"path": "code.go", "old_string": "package x\n\n", "new_string": ""})
	if r.IsError || strings.HasPrefix(f.read(p), "package") {
		t.Fatalf("delete: %+v", r)
	}
	for _, args := range []obj{
		{"path": "code.go", "old_string": "", "new_string": "x"},
		{"path": "code.go", "old_string": "B", "new_string": "B"},
		{"path": "code.go", "old_string": "B"},
		{"path": "missing.go", "old_string": "a", "new_string": "b"},
		{"path": "sub", "old_string": "a", "new_string": "b"},
	} {
		if r := f.call("edit_file", args); !r.IsError {
			t.Errorf("edit_file(%v) = %+v, want error", args, r)
		}
	}
	if r := f.call("edit_file", obj{"path": "missing.go", "old_string": "a", "new_string": "b"}); !strings.Contains(r.Output, "no such file") {
		t.Errorf("missing file message: %q", r.Output)
	}
}

func TestReadFile(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{MaxReadBytes: 100})
	var sb strings.Builder
	for i := 1; i <= 50; i++ {
		fmt.Fprintf(&sb, "line %d\n", i)
	}
	f.write(filepath.Join(f.root, "lines.txt"), sb.String())

	r := f.call("read_file", obj{"path": "hello.txt"})
	if r.IsError || r.Output != "hello\nworld\n" || r.Truncated {
		t.Fatalf("whole file: %+v", r)
	}
	r = f.call("read_file", obj{"path": "hello-link"})
	if r.IsError || r.Output != "hello\nworld\n" {
		t.Fatalf("via inside link: %+v", r)
	}
	r = f.call("read_file", obj{"path": "lines.txt", "offset": 10, "limit": 3})
	if r.IsError || !strings.HasPrefix(r.Output, "line 10\nline 11\nline 12\n") || !r.Truncated || !strings.Contains(r.Output, "offset=13") {
		t.Fatalf("offset/limit: %+v", r)
	}
	r = f.call("read_file", obj{"path": "lines.txt", "offset": 48})
	if r.IsError || r.Output != "line 48\nline 49\nline 50\n" || r.Truncated {
		t.Fatalf("tail: %+v", r)
	}
	r = f.call("read_file", obj{"path": "lines.txt"})
	if r.IsError || !r.Truncated || !strings.Contains(r.Output, "truncated at 100 bytes") || len(r.Output) > 300 {
		t.Fatalf("size cap: %+v", r)
	}
	r = f.call("read_file", obj{"path": "lines.txt", "offset": 99})
	if !r.IsError || !strings.Contains(r.Output, "past the end") {
		t.Fatalf("past end: %+v", r)
	}
	f.write(filepath.Join(f.root, "bin"), "ab\x00cd")
	if r := f.call("read_file", obj{"path": "bin"}); !r.IsError || !strings.Contains(r.Output, "binary") {
		t.Fatalf("binary: %+v", r)
	}
	f.write(filepath.Join(f.root, "empty"), "")
	if r := f.call("read_file", obj{"path": "empty"}); r.IsError || r.Output != "[empty file]" {
		t.Fatalf("empty: %+v", r)
	}
	f.write(filepath.Join(f.root, "nonl"), "a\nb")
	if r := f.call("read_file", obj{"path": "nonl", "offset": 2}); r.IsError || r.Output != "b" {
		t.Fatalf("no final newline: %+v", r)
	}
	for _, args := range []obj{
		{"path": "sub"},
		{"path": "missing"},
		{},
		{"path": "hello.txt", "offset": -1},
		{"path": "hello.txt", "offset": "ten"},
		{"file_path": "hello.txt"},
	} {
		if r := f.call("read_file", args); !r.IsError {
			t.Errorf("read_file(%v) = %+v, want error", args, r)
		}
	}
	if r := f.call("read_file", obj{"file_path": "hello.txt"}); !strings.Contains(r.Output, `unknown field "file_path"`) || !strings.Contains(r.Output, "path, offset, limit") {
		t.Errorf("unknown field message: %q", r.Output)
	}
}

func TestListDir(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{})
	r := f.call("list_dir", obj{})
	if r.IsError {
		t.Fatal(r.Output)
	}
	for _, want := range []string{"hello.txt  12", "sub/", "linkdir -> ../outside", "inlink -> sub"} {
		if !strings.Contains(r.Output, want) {
			t.Errorf("list_dir output lacks %q:\n%s", want, r.Output)
		}
	}
	if strings.Contains(r.Output, "\nsecret.txt") || strings.Contains(r.Output, "TOP SECRET") {
		t.Errorf("list_dir listed the outside: %s", r.Output)
	}
	r = f.call("list_dir", obj{"path": "inlink"})
	if r.IsError || !strings.Contains(r.Output, "inner.txt") {
		t.Fatalf("list_dir(inlink) = %+v", r)
	}
	if r := f.call("list_dir", obj{"path": "hello.txt"}); !r.IsError {
		t.Fatalf("list_dir(file) = %+v", r)
	}
	f.mkdir(filepath.Join(f.root, "empty"))
	if r := f.call("list_dir", obj{"path": "empty"}); r.IsError || !strings.Contains(r.Output, "empty") {
		t.Fatalf("list_dir(empty) = %+v", r)
	}
}
