package tool

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// fixture is the per-test setup bundle: a workspace with links pointing
// out of it, a directory outside it holding a secret, and the built-in
// tools bound to the workspace.
type fixture struct {
	t       *testing.T
	base    string // temp dir holding ws and outside
	root    string // workspace root
	outside string // directory next to the workspace
	secret  string // outside/secret.txt
	ws      *Workspace
	tools   map[string]Tool
}

func setup(t *testing.T, opts Options, wsOpts ...WorkspaceOption) *fixture {
	t.Helper()
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, base: base, root: filepath.Join(base, "ws"), outside: filepath.Join(base, "outside")}
	f.secret = filepath.Join(f.outside, "secret.txt")
	f.mkdir(f.root)
	f.mkdir(f.outside)
	f.write(f.secret, "TOP SECRET\n")
	f.write(filepath.Join(f.root, "hello.txt"), "hello\nworld\n")
	f.mkdir(filepath.Join(f.root, "sub"))
	f.write(filepath.Join(f.root, "sub", "inner.txt"), "inner\n")

	// Links out of the workspace.
	f.symlink(f.secret, filepath.Join(f.root, "linkfile"))                            // file, absolute
	f.symlink("../outside", filepath.Join(f.root, "linkdir"))                         // dir, relative
	f.symlink("chain2", filepath.Join(f.root, "chain1"))                              // chain: chain1 -> chain2 -> chain3 -> outside
	f.symlink("sub/../chain3", filepath.Join(f.root, "chain2"))                       //
	f.symlink(f.outside, filepath.Join(f.root, "chain3"))                             //
	f.symlink(filepath.Join(f.outside, "new.txt"), filepath.Join(f.root, "dangling")) // dangling, out
	f.symlink("../../outside", filepath.Join(f.root, "sub", "up"))                    // nested, relative
	// Links that stay inside.
	f.symlink("sub", filepath.Join(f.root, "inlink"))
	f.symlink("hello.txt", filepath.Join(f.root, "hello-link"))

	f.ws, err = NewWorkspace(f.root, wsOpts...)
	if err != nil {
		t.Fatal(err)
	}
	f.tools = map[string]Tool{}
	for _, tl := range Builtins(f.ws, opts) {
		f.tools[tl.Name()] = tl
	}
	return f
}

func (f *fixture) mkdir(p string) {
	f.t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) write(p, content string) {
	f.t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) read(p string) string {
	f.t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

func (f *fixture) symlink(target, link string) {
	f.t.Helper()
	if err := os.Symlink(target, link); err != nil {
		f.t.Fatal(err)
	}
}

// call runs tool name with args (marshalled to JSON).
func (f *fixture) call(name string, args any) Result {
	f.t.Helper()
	return f.callCtx(context.Background(), name, args)
}

func (f *fixture) callCtx(ctx context.Context, name string, args any) Result {
	f.t.Helper()
	tl, ok := f.tools[name]
	if !ok {
		f.t.Fatalf("no tool %q", name)
	}
	raw, err := json.Marshal(args)
	if err != nil {
		f.t.Fatal(err)
	}
	return tl.Call(ctx, raw)
}

// outsideEntries lists the outside directory, to prove nothing was added.
func (f *fixture) outsideEntries() []string {
	f.t.Helper()
	es, err := os.ReadDir(f.outside)
	if err != nil {
		f.t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

type obj = map[string]any
