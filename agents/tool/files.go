package tool

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

const (
	// defaultReadLines is how many lines read_file returns without limit.
	defaultReadLines = 2000
	// maxEditBytes bounds the files edit_file loads whole.
	maxEditBytes = 16 << 20
	// maxListEntries bounds list_dir.
	maxListEntries = 1000
	// sniffLen is how much of a file is checked for NUL bytes to call it
	// binary.
	sniffLen = 8000
)

// pathError turns a Resolve error into a Result that tells the model why
// and what to do.
func pathError(err error) Result {
	switch {
	case errors.Is(err, ErrReadOnly):
		return Errorf("refused: %v. That location may be read but not written; write inside the workspace instead.", err)
	case errors.Is(err, ErrInvalidPath) && errors.Is(err, ErrOutsideWorkspace):
		return Errorf("refused: %v.", err)
	case errors.Is(err, ErrInvalidPath):
		return Errorf("refused: %v. Give a path relative to the workspace root.", err)
	case errors.Is(err, ErrOutsideWorkspace):
		return Errorf("refused: %v. Tools may only use paths inside the workspace (relative paths are relative to its root).", err)
	}
	return Errorf("cannot use path: %v", err)
}

// fsError turns a file system error about shown (a workspace-relative
// path) into a Result.
func fsError(op, shown string, err error) Result {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Errorf("%s %s: no such file or directory", op, shown)
	case errors.Is(err, fs.ErrPermission):
		return Errorf("%s %s: permission denied", op, shown)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return Errorf("%s %s: %v", op, shown, pe.Err)
	}
	return Errorf("%s %s: %v", op, shown, err)
}

// ---- read_file ----

type readFile struct {
	ws *Workspace
	o  Options
}

type readFileArgs struct {
	Path   string `json:"path"`
	Offset int    `json:"offset"`
	Limit  int    `json:"limit"`
}

func (*readFile) Name() string { return "read_file" }

func (t *readFile) Description() string {
	return fmt.Sprintf("Read a text file from the workspace. path is relative to the workspace root "+
		"(absolute paths must be inside the workspace or a read-only root such as the skills folder). "+
		"Returns the file's text as is. Use offset (1-based first line) and limit (number of lines, default %d) "+
		"to page through long files; one call returns at most %d bytes and says when there is more.",
		defaultReadLines, t.o.MaxReadBytes)
}

func (*readFile) Parameters() map[string]any {
	return schema(map[string]any{
		"path":   prop("string", "File to read, relative to the workspace root."),
		"offset": map[string]any{"type": "integer", "minimum": 1, "description": "1-based line number to start at (default 1)."},
		"limit":  map[string]any{"type": "integer", "minimum": 1, "description": fmt.Sprintf("Maximum number of lines to return (default %d).", defaultReadLines)},
	}, "path")
}

func (t *readFile) Call(ctx context.Context, raw json.RawMessage) Result {
	var a readFileArgs
	if r, ok := decodeArgs(raw, &a); !ok {
		return r
	}
	if a.Path == "" {
		return Errorf("path is required")
	}
	if a.Offset < 0 || a.Limit < 0 {
		return Errorf("offset and limit must be positive")
	}
	if a.Offset == 0 {
		a.Offset = 1
	}
	if a.Limit == 0 {
		a.Limit = defaultReadLines
	}
	abs, err := t.ws.ResolveRead(a.Path)
	if err != nil {
		return pathError(err)
	}
	shown := t.ws.Rel(abs)
	root, rel, err := t.ws.openRoot(abs)
	if err != nil {
		return pathError(err)
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		return fsError("read", shown, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fsError("read", shown, err)
	}
	if fi.IsDir() {
		return Errorf("%s is a directory; use list_dir to see its entries", shown)
	}
	if !fi.Mode().IsRegular() {
		return Errorf("%s is not a regular file (%v)", shown, fi.Mode().Type())
	}
	br := bufio.NewReaderSize(f, 64<<10)
	head, _ := br.Peek(sniffLen)
	if bytes.IndexByte(head, 0) >= 0 {
		return Errorf("%s looks binary (%d bytes, contains NUL bytes); not shown", shown, fi.Size())
	}
	if err := ctx.Err(); err != nil {
		return Errorf("cancelled: %v", err)
	}
	pg, err := readLines(br, a.Offset, a.Limit, t.o.MaxReadBytes)
	if err != nil {
		return fsError("read", shown, err)
	}
	if len(pg.text) == 0 {
		if fi.Size() == 0 {
			return Result{Output: "[empty file]"}
		}
		if a.Offset > 1 {
			return Errorf("offset %d is past the end of %s (%d lines)", a.Offset, shown, pg.lastLine)
		}
	}
	res := Result{Output: text(pg.text)}
	last := a.Offset + pg.lines - 1
	switch {
	case pg.cut:
		res.Truncated = true
		res.Output += fmt.Sprintf("\n[truncated at %d bytes inside line %d; showing lines %d-%d of %s (%d bytes)]",
			t.o.MaxReadBytes, last+1, a.Offset, last+1, shown, fi.Size())
	case pg.more:
		res.Truncated = true
		res.Output += fmt.Sprintf("\n[showing lines %d-%d of %s (%d bytes); there is more: call read_file with offset=%d]",
			a.Offset, last, shown, fi.Size(), last+1)
	}
	return res
}

type page struct {
	text     []byte
	lines    int  // whole lines returned
	more     bool // lines remain after the page
	cut      bool // the byte cap cut a line
	lastLine int  // lines in the file, when it was read to the end
}

// readLines returns up to limit lines from r starting at 1-based line
// offset, stopping at maxBytes.
func readLines(r *bufio.Reader, offset, limit, maxBytes int) (page, error) {
	var pg page
	var buf bytes.Buffer
	line := 1
	partial := false // inside a line (no newline seen yet)
	for {
		chunk, err := r.ReadSlice('\n')
		if len(chunk) > 0 {
			if line >= offset {
				if buf.Len()+len(chunk) > maxBytes {
					buf.Write(chunk[:maxBytes-buf.Len()])
					pg.cut = true
					pg.text = buf.Bytes()
					return pg, nil
				}
				buf.Write(chunk)
			}
			partial = chunk[len(chunk)-1] != '\n'
			if !partial {
				if line >= offset {
					pg.lines++
				}
				line++
				if pg.lines == limit {
					if _, perr := r.Peek(1); perr == nil {
						pg.more = true
					}
					pg.text = buf.Bytes()
					return pg, nil
				}
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			if partial {
				if line >= offset {
					pg.lines++
				}
				line++
			}
			pg.lastLine = line - 1
			pg.text = buf.Bytes()
			return pg, nil
		}
		if err != nil {
			return pg, err
		}
	}
}

// ---- write_file ----

type writeFile struct {
	ws *Workspace
	o  Options
}

type writeFileArgs struct {
	Path    *string `json:"path"`
	Content *string `json:"content"`
}

func (*writeFile) Name() string { return "write_file" }

func (*writeFile) Description() string {
	return "Create or overwrite a file in the workspace with the given content. path is relative to the " +
		"workspace root; missing parent directories are created. Overwriting replaces the whole file, so " +
		"prefer edit_file for small changes to an existing file."
}

func (*writeFile) Parameters() map[string]any {
	return schema(map[string]any{
		"path":    prop("string", "File to write, relative to the workspace root."),
		"content": prop("string", "The complete new content of the file."),
	}, "path", "content")
}

func (t *writeFile) Call(ctx context.Context, raw json.RawMessage) Result {
	var a writeFileArgs
	if r, ok := decodeArgs(raw, &a); !ok {
		return r
	}
	if a.Path == nil || *a.Path == "" {
		return Errorf("path is required")
	}
	if a.Content == nil {
		return Errorf("content is required (use an empty string for an empty file)")
	}
	if err := ctx.Err(); err != nil {
		return Errorf("cancelled: %v", err)
	}
	abs, err := t.ws.Resolve(*a.Path)
	if err != nil {
		return pathError(err)
	}
	shown := t.ws.Rel(abs)
	if abs == t.ws.Root() {
		return Errorf("%s is the workspace root, not a file", shown)
	}
	root, rel, err := t.ws.openRoot(abs)
	if err != nil {
		return pathError(err)
	}
	defer root.Close()
	existed := false
	if fi, err := root.Stat(rel); err == nil {
		if fi.IsDir() {
			return Errorf("%s is a directory; give a file path", shown)
		}
		existed = true
	}
	if dir := filepath.Dir(rel); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fsError("create directory for", shown, err)
		}
	}
	if err := writeIn(root, rel, []byte(*a.Content)); err != nil {
		return fsError("write", shown, err)
	}
	verb := "created"
	if existed {
		verb = "overwrote"
	}
	return Result{Output: fmt.Sprintf("%s %s (%d bytes)", verb, shown, len(*a.Content))}
}

// writeIn writes data to name under root, truncating an existing file (and
// so keeping its mode) or creating it 0644.
func writeIn(root *os.Root, name string, data []byte) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ---- edit_file ----

type editFile struct {
	ws *Workspace
	o  Options
}

type editFileArgs struct {
	Path      string  `json:"path"`
	OldString *string `json:"old_string"`
	NewString *string `json:"new_string"`
}

func (*editFile) Name() string { return "edit_file" }

func (*editFile) Description() string {
	return "Replace one exact piece of text in an existing workspace file. old_string must occur exactly " +
		"once in the file, character for character including white space and indentation; include enough " +
		"surrounding lines to make it unique. If it occurs zero or several times nothing is changed and the " +
		"error says how many times it occurs. To create a file use write_file."
}

func (*editFile) Parameters() map[string]any {
	return schema(map[string]any{
		"path":       prop("string", "File to edit, relative to the workspace root."),
		"old_string": prop("string", "Exact text to replace; must occur exactly once in the file."),
		"new_string": prop("string", "Text to put in its place (may be empty to delete)."),
	}, "path", "old_string", "new_string")
}

func (t *editFile) Call(ctx context.Context, raw json.RawMessage) Result {
	var a editFileArgs
	if r, ok := decodeArgs(raw, &a); !ok {
		return r
	}
	switch {
	case a.Path == "":
		return Errorf("path is required")
	case a.OldString == nil || *a.OldString == "":
		return Errorf("old_string is required and must not be empty (to create a file use write_file)")
	case a.NewString == nil:
		return Errorf("new_string is required (use an empty string to delete old_string)")
	case *a.OldString == *a.NewString:
		return Errorf("old_string and new_string are identical; nothing to change")
	}
	if err := ctx.Err(); err != nil {
		return Errorf("cancelled: %v", err)
	}
	abs, err := t.ws.Resolve(a.Path)
	if err != nil {
		return pathError(err)
	}
	shown := t.ws.Rel(abs)
	root, rel, err := t.ws.openRoot(abs)
	if err != nil {
		return pathError(err)
	}
	defer root.Close()
	fi, err := root.Stat(rel)
	if err != nil {
		return fsError("edit", shown, err)
	}
	if fi.IsDir() {
		return Errorf("%s is a directory; give a file path", shown)
	}
	if !fi.Mode().IsRegular() {
		return Errorf("%s is not a regular file", shown)
	}
	if fi.Size() > maxEditBytes {
		return Errorf("%s is %d bytes, larger than edit_file handles (%d); use shell tools instead", shown, fi.Size(), maxEditBytes)
	}
	data, err := root.ReadFile(rel)
	if err != nil {
		return fsError("edit", shown, err)
	}
	content := string(data)
	old, repl := *a.OldString, *a.NewString
	switch n := strings.Count(content, old); n {
	case 1:
	case 0:
		hint := ""
		if strings.Contains(strings.Join(strings.Fields(content), " "), strings.Join(strings.Fields(old), " ")) {
			hint = " (it does occur if white space is ignored: check indentation, tabs and line endings)"
		}
		return Errorf("old_string occurs 0 times in %s%s; nothing changed. Read the file and copy the text exactly.", shown, hint)
	default:
		return Errorf("old_string occurs %d times in %s; it must occur exactly once. Nothing changed; include more surrounding text to make it unique.", n, shown)
	}
	i := strings.Index(content, old)
	line := strings.Count(content[:i], "\n") + 1
	updated := content[:i] + repl + content[i+len(old):]
	if err := writeIn(root, rel, []byte(updated)); err != nil {
		return fsError("write", shown, err)
	}
	return Result{Output: fmt.Sprintf("edited %s: replaced 1 occurrence at line %d (%d bytes -> %d bytes)", shown, line, len(data), len(updated))}
}

// ---- list_dir ----

type listDir struct {
	ws *Workspace
	o  Options
}

type listDirArgs struct {
	Path string `json:"path"`
}

func (*listDir) Name() string { return "list_dir" }

func (*listDir) Description() string {
	return "List the entries of a directory in the workspace (default: the workspace root), sorted by name. " +
		"Directories end with \"/\", files show their size in bytes, symbolic links show their target."
}

func (*listDir) Parameters() map[string]any {
	return schema(map[string]any{
		"path": prop("string", "Directory to list, relative to the workspace root (default \".\")."),
	})
}

func (t *listDir) Call(ctx context.Context, raw json.RawMessage) Result {
	var a listDirArgs
	if r, ok := decodeArgs(raw, &a); !ok {
		return r
	}
	if a.Path == "" {
		a.Path = "."
	}
	abs, err := t.ws.ResolveRead(a.Path)
	if err != nil {
		return pathError(err)
	}
	shown := t.ws.Rel(abs)
	root, rel, err := t.ws.openRoot(abs)
	if err != nil {
		return pathError(err)
	}
	defer root.Close()
	d, err := root.Open(rel)
	if err != nil {
		return fsError("list", shown, err)
	}
	defer d.Close()
	fi, err := d.Stat()
	if err != nil {
		return fsError("list", shown, err)
	}
	if !fi.IsDir() {
		return Errorf("%s is not a directory (%d bytes); use read_file to read it", shown, fi.Size())
	}
	entries, err := d.ReadDir(-1)
	if err != nil {
		return fsError("list", shown, err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	if len(entries) == 0 {
		return Result{Output: fmt.Sprintf("%s is empty", shown)}
	}
	var b strings.Builder
	res := Result{}
	for i, e := range entries {
		if err := ctx.Err(); err != nil {
			return Errorf("cancelled: %v", err)
		}
		if i == maxListEntries || b.Len() > t.o.MaxOutputBytes {
			fmt.Fprintf(&b, "[%d more entries not shown]\n", len(entries)-i)
			res.Truncated = true
			break
		}
		name := e.Name()
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			target, _ := root.Readlink(filepath.Join(rel, name))
			fmt.Fprintf(&b, "%s -> %s\n", name, target)
		case e.IsDir():
			b.WriteString(name + "/\n")
		default:
			if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
				fmt.Fprintf(&b, "%s  %d\n", name, info.Size())
			} else {
				b.WriteString(name + "\n")
			}
		}
	}
	res.Output = strings.TrimSuffix(text([]byte(b.String())), "\n")
	return res
}
