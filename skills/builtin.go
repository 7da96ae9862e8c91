package skills

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// builtinFS holds the built-in skills, one folder each under builtin/.
//
//go:embed builtin
var builtinFS embed.FS

// builtinRoot is the folder of builtinFS that holds the skill folders.
const builtinRoot = "builtin"

// BuiltinNames returns the names of the skills embedded in the binary,
// sorted.
func BuiltinNames() []string {
	entries, _ := fs.ReadDir(builtinFS, builtinRoot)
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// MaterializeBuiltins writes the built-in skills embedded in the binary to
// dir, one folder per skill, and returns the [Root] to pass last to
// [Discover]. Built-ins live on disk, not only in the binary, because their
// scripts and references must be reachable by the file and shell tools
// through the paths the catalog gives the model.
//
// It is idempotent and cheap to call at every start: files already holding
// the embedded content are left alone, others are replaced atomically (so a
// concurrent reader never sees half a file), files under scripts/ get mode
// 0755 and the rest 0644, and files in a built-in skill's folder that the
// binary no longer ships are removed (hidden files excepted). The folders of built-in skills belong
// to Viber and local edits there are overwritten; to change a built-in,
// copy it to ~/.viber/skills, where it takes precedence. Other entries of
// dir are not touched.
func MaterializeBuiltins(dir string) (Root, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Root{}, fmt.Errorf("skills: materialize built-ins: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return Root{}, fmt.Errorf("skills: materialize built-ins: %w", err)
	}
	for _, name := range BuiltinNames() {
		if err := materialize(path.Join(builtinRoot, name), filepath.Join(abs, name)); err != nil {
			return Root{}, fmt.Errorf("skills: materialize built-in %s: %w", name, err)
		}
	}
	return Root{Dir: abs, Source: SourceBuiltin}, nil
}

// materialize mirrors the embedded folder src into the folder dst.
func materialize(src, dst string) error {
	want := map[string]bool{}
	err := fs.WalkDir(builtinFS, src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, src), "/")
		want[rel] = true
		target := filepath.Join(dst, filepath.FromSlash(rel))
		if d.IsDir() {
			return ensureDir(target)
		}
		data, err := builtinFS.ReadFile(p)
		if err != nil {
			return err
		}
		return writeFile(target, data, builtinMode(rel))
	})
	if err != nil {
		return err
	}
	// Remove what an earlier version shipped and this one does not.
	return filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dst, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		// Hidden entries are never shipped; they may be another
		// process's temporary files.
		if rel == "." || want[rel] || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		if err := os.RemoveAll(p); err != nil {
			return err
		}
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
}

// builtinMode is the permission of an embedded file once on disk: scripts
// are executable, everything else is not. (Embedded files carry no mode.)
func builtinMode(rel string) fs.FileMode {
	if strings.HasPrefix(rel, "scripts/") {
		return 0o755
	}
	return 0o644
}

// ensureDir makes p a real folder, replacing a file or link found there.
func ensureDir(p string) error {
	fi, err := os.Lstat(p)
	if err == nil && fi.IsDir() {
		return nil
	}
	if err == nil {
		if err := os.Remove(p); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Mkdir(p, 0o755)
}

// writeFile makes p a regular file holding data with the given mode,
// writing it only when it differs.
func writeFile(p string, data []byte, mode fs.FileMode) error {
	if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() {
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, data) {
			if fi.Mode().Perm() == mode {
				return nil
			}
			return os.Chmod(p, mode)
		}
	}
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if fi, lerr := os.Lstat(p); lerr == nil && fi.IsDir() {
			err = os.RemoveAll(p)
		}
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
