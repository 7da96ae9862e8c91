package tool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrOutsideWorkspace is returned (wrapped) by Workspace.Resolve and
// Workspace.ResolveRead for a path that, once made absolute and once every
// symbolic link on its existing prefix is followed, lies outside the roots
// the caller may use. A leading "~" wraps it too, since it can only be an
// attempt to reach a home directory.
var ErrOutsideWorkspace = errors.New("path is outside the workspace")

// ErrInvalidPath is returned (wrapped) for a path that is refused before it
// is looked at: empty, containing a NUL byte, or starting with "~" (which
// is never expanded).
var ErrInvalidPath = errors.New("invalid path")

// ErrReadOnly is returned (wrapped) by Workspace.Resolve for a path inside
// one of the workspace's read-only roots. Such an error also matches
// ErrOutsideWorkspace when the read-only root lies outside the workspace.
var ErrReadOnly = errors.New("path is read-only")

// maxSymlinks bounds the symbolic links followed while resolving one path,
// as the kernel does (ELOOP), so a cycle cannot spin forever.
const maxSymlinks = 255

// Workspace is the directory tree the built-in tools are confined to: write
// tools may touch only paths under Root, read tools may also read under the
// read-only roots. A Workspace is immutable and safe for concurrent use.
type Workspace struct {
	root     string
	readOnly []string
}

// WorkspaceOption configures a Workspace in NewWorkspace.
type WorkspaceOption func(*workspaceConfig)

type workspaceConfig struct {
	readOnly []string
}

// WithReadOnlyRoot adds dir as a read-only root: read tools (read_file,
// list_dir, glob, grep) may read under it through absolute paths (or links
// from the workspace that lead into it); write tools may not write there,
// even when dir lies inside the workspace. Typical use: a skills folder.
func WithReadOnlyRoot(dir string) WorkspaceOption {
	return func(c *workspaceConfig) { c.readOnly = append(c.readOnly, dir) }
}

// NewWorkspace returns a Workspace rooted at root, which must be an existing
// directory. The root (and every read-only root) is made absolute and has
// its symbolic links resolved, so later checks compare real paths.
func NewWorkspace(root string, opts ...WorkspaceOption) (*Workspace, error) {
	var cfg workspaceConfig
	for _, o := range opts {
		o(&cfg)
	}
	r, err := realDir(root)
	if err != nil {
		return nil, fmt.Errorf("workspace root: %w", err)
	}
	w := &Workspace{root: r}
	for _, d := range cfg.readOnly {
		ro, err := realDir(d)
		if err != nil {
			return nil, fmt.Errorf("read-only root: %w", err)
		}
		w.readOnly = append(w.readOnly, ro)
	}
	return w, nil
}

func realDir(dir string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("%w: empty directory", ErrInvalidPath)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	return real, nil
}

// Root returns the workspace's absolute, symlink-free root directory.
func (w *Workspace) Root() string { return w.root }

// ReadOnlyRoots returns the absolute, symlink-free read-only roots.
func (w *Workspace) ReadOnlyRoots() []string {
	return append([]string(nil), w.readOnly...)
}

// Resolve turns path into an absolute, symlink-free path under the
// workspace root that write tools may use. A relative path is taken
// relative to the root; an absolute one must lie inside it. Every symbolic
// link on the existing prefix of the path is followed (so a file that does
// not exist yet under a linked directory is checked too, as is a dangling
// link), and the result must stay inside the root; otherwise the error
// wraps ErrOutsideWorkspace. Paths inside a read-only root are refused with
// ErrReadOnly. Empty paths, NUL bytes and a leading "~" are refused with
// ErrInvalidPath.
//
// Callers must use the returned path, not the one they passed in.
func (w *Workspace) Resolve(path string) (string, error) {
	real, err := w.resolve(path)
	if err != nil {
		return "", err
	}
	for _, ro := range w.readOnly {
		if within(ro, real) {
			if within(w.root, real) {
				return "", fmt.Errorf("%w: %s is inside read-only root %s", ErrReadOnly, path, ro)
			}
			return "", fmt.Errorf("%w: %s is inside read-only root %s (%w)", ErrReadOnly, path, ro, ErrOutsideWorkspace)
		}
	}
	if !within(w.root, real) {
		return "", w.outside(path, real)
	}
	return real, nil
}

// ResolveRead is Resolve for read tools: the result may also lie inside a
// read-only root.
func (w *Workspace) ResolveRead(path string) (string, error) {
	real, err := w.resolve(path)
	if err != nil {
		return "", err
	}
	if _, ok := w.rootOf(real); !ok {
		return "", w.outside(path, real)
	}
	return real, nil
}

func (w *Workspace) outside(path, real string) error {
	lexical := path
	if !filepath.IsAbs(lexical) {
		lexical = filepath.Join(w.root, lexical)
	}
	if filepath.Clean(lexical) != real {
		return fmt.Errorf("%w: %q leads (through a symbolic link) to %s, outside %s", ErrOutsideWorkspace, path, real, w.root)
	}
	return fmt.Errorf("%w: %q is outside %s", ErrOutsideWorkspace, path, w.root)
}

// rootOf returns the root (workspace first, then read-only roots) that
// holds the absolute path p.
func (w *Workspace) rootOf(p string) (string, bool) {
	if within(w.root, p) {
		return w.root, true
	}
	for _, ro := range w.readOnly {
		if within(ro, p) {
			return ro, true
		}
	}
	return "", false
}

// Rel returns how tools show an absolute path to the model: relative to
// the workspace root (with forward slashes) when inside it, else absolute.
func (w *Workspace) Rel(abs string) string {
	if within(w.root, abs) {
		rel, err := filepath.Rel(w.root, abs)
		if err == nil {
			return filepath.ToSlash(rel)
		}
	}
	return abs
}

// resolve validates path and returns its absolute real path, without
// checking which root it is in.
func (w *Workspace) resolve(path string) (string, error) {
	switch {
	case path == "":
		return "", fmt.Errorf("%w: empty path", ErrInvalidPath)
	case strings.ContainsRune(path, 0):
		return "", fmt.Errorf("%w: path contains a NUL byte", ErrInvalidPath)
	case strings.HasPrefix(path, "~"):
		return "", fmt.Errorf("%w: %q: \"~\" is not expanded; use a path relative to the workspace (%w)", ErrInvalidPath, path, ErrOutsideWorkspace)
	}
	p := path
	if !filepath.IsAbs(p) {
		p = filepath.Join(w.root, p)
	}
	return realPath(filepath.Clean(p))
}

// within reports whether the absolute, clean path p is root or below it.
func within(root, p string) bool {
	if p == root {
		return true
	}
	if root == string(filepath.Separator) {
		return strings.HasPrefix(p, root)
	}
	return strings.HasPrefix(p, root+string(filepath.Separator))
}

// realPath follows every symbolic link in the absolute path p, component by
// component, like the kernel does. Unlike filepath.EvalSymlinks it accepts
// paths whose tail does not exist (the tail is kept as written) and it
// follows dangling links, so the result is where a create would land.
func realPath(p string) (string, error) {
	pending := splitPath(p)
	resolved := string(filepath.Separator)
	links := 0
	for len(pending) > 0 {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			// resolved has no links, so its lexical parent is its real parent.
			resolved = filepath.Dir(resolved)
			continue
		}
		next := filepath.Join(resolved, c)
		fi, err := os.Lstat(next)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				// Nothing below a missing entry exists, so no more links.
				return filepath.Join(append([]string{next}, pending...)...), nil
			}
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if len(pending) > 0 && !fi.IsDir() {
				return "", fmt.Errorf("%s: not a directory", next)
			}
			resolved = next
			continue
		}
		links++
		if links > maxSymlinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			resolved = string(filepath.Separator)
		}
		pending = append(splitPath(target), pending...)
	}
	return resolved, nil
}

func splitPath(p string) []string {
	return strings.Split(p, string(filepath.Separator))
}

// openRoot opens an os.Root for the root holding the resolved path abs and
// returns it with abs relative to it. Operating through os.Root as well as
// checking paths up front means a link swapped in between the check and the
// use still cannot lead outside.
func (w *Workspace) openRoot(abs string) (*os.Root, string, error) {
	root, ok := w.rootOf(abs)
	if !ok {
		return nil, "", fmt.Errorf("%w: %s", ErrOutsideWorkspace, abs)
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return nil, "", err
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, "", err
	}
	return r, rel, nil
}
