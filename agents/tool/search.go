package tool

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

const (
	// maxGlobResults bounds glob's answer.
	maxGlobResults = 1000
	// maxGrepMatches bounds grep's answer.
	maxGrepMatches = 500
	// maxGrepLine is how much of a matching line grep shows.
	maxGrepLine = 300
	// maxGrepFileBytes is the largest file grep searches.
	maxGrepFileBytes = 16 << 20
)

// skipDir reports directories that glob and grep do not descend into
// (unless the search starts inside them).
func skipDir(name string) bool { return name == ".git" }

// globPattern is a slash-separated pattern whose segments are path.Match
// patterns, where a segment "**" matches any number of segments.
type globPattern []string

func parseGlob(p string) (globPattern, error) {
	var segs globPattern
	for _, s := range strings.Split(p, "/") {
		switch {
		case s == "" || s == ".":
			continue
		case s == "..":
			return nil, errors.New(`".." is not allowed in the wildcard part of a pattern`)
		case s == "**":
			if len(segs) > 0 && segs[len(segs)-1] == "**" {
				continue
			}
		default:
			if _, err := path.Match(s, ""); err != nil {
				return nil, fmt.Errorf("bad pattern segment %q: %w", s, err)
			}
		}
		segs = append(segs, s)
	}
	return segs, nil
}

// match reports whether the slash-separated relative path name matches.
func (g globPattern) match(name string) bool {
	return matchSegs(g, strings.Split(name, "/"))
}

func matchSegs(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if matchSegs(pat[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}

// mayMatchBelow reports whether some path below directory dir (relative,
// slash-separated) could match, so the walk may skip the rest.
func (g globPattern) mayMatchBelow(dir string) bool {
	pat, segs := []string(g), strings.Split(dir, "/")
	for len(segs) > 0 {
		if len(pat) == 0 {
			return false
		}
		if pat[0] == "**" {
			return true
		}
		if ok, _ := path.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(pat) > 0
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// splitLiteral splits pattern into its leading wildcard-free directory
// part and the rest.
func splitLiteral(pattern string) (lit, rest string) {
	segs := strings.Split(pattern, "/")
	i := 0
	for i < len(segs)-1 && !hasMeta(segs[i]) {
		i++
	}
	lit = strings.Join(segs[:i], "/")
	if lit == "" && strings.HasPrefix(pattern, "/") {
		lit = "/"
	}
	return lit, strings.Join(segs[i:], "/")
}

// walkBase resolves the directory a search starts at, for read tools.
func walkBase(ws *Workspace, dir string) (abs string, res Result, ok bool) {
	abs, err := ws.ResolveRead(dir)
	if err != nil {
		return "", pathError(err), false
	}
	return abs, Result{}, true
}

// ---- glob ----

type globTool struct {
	ws *Workspace
	o  Options
}

type globArgs struct {
	Pattern string `json:"pattern"`
	Path    string `json:"path"`
}

func (*globTool) Name() string { return "glob" }

func (*globTool) Description() string {
	return "Find files and directories whose paths match a glob pattern, relative to the workspace root " +
		"(or to path when given). * matches within one path segment, ** matches any number of directories " +
		"(e.g. \"**/*.go\", \"cmd/**/main.go\"), ? one character, [abc] a class. Results are " +
		"workspace-relative, sorted, directories end with \"/\"; .git is skipped."
}

func (*globTool) Parameters() map[string]any {
	return schema(map[string]any{
		"pattern": prop("string", "Glob pattern, e.g. \"**/*_test.go\"."),
		"path":    prop("string", "Directory the pattern is relative to (default: the workspace root)."),
	}, "pattern")
}

func (t *globTool) Call(ctx context.Context, raw json.RawMessage) Result {
	var a globArgs
	if r, ok := decodeArgs(raw, &a); !ok {
		return r
	}
	if a.Pattern == "" {
		return Errorf("pattern is required")
	}
	if strings.ContainsRune(a.Pattern, 0) {
		return Errorf("pattern contains a NUL byte")
	}
	if a.Path == "" {
		a.Path = "."
	}
	pattern := filepath.ToSlash(a.Pattern)
	lit, rest := splitLiteral(pattern)
	base := a.Path
	if lit != "" {
		if path.IsAbs(lit) {
			base = filepath.FromSlash(lit)
		} else {
			base = filepath.Join(a.Path, filepath.FromSlash(lit))
		}
	}
	g, err := parseGlob(rest)
	if err != nil {
		return Errorf("invalid pattern %q: %v", a.Pattern, err)
	}
	absBase, r, ok := walkBase(t.ws, base)
	if !ok {
		return r
	}
	root, relBase, err := t.ws.openRoot(absBase)
	if err != nil {
		return pathError(err)
	}
	defer root.Close()
	if len(g) == 0 {
		// No wildcard: the pattern names one path.
		fi, err := root.Lstat(relBase)
		if err != nil {
			return Result{Output: fmt.Sprintf("no matches for %q", a.Pattern)}
		}
		shown := t.ws.Rel(absBase)
		if fi.IsDir() {
			shown += "/"
		}
		return Result{Output: shown}
	}
	fsys := root.FS()
	start := filepath.ToSlash(relBase)

	var out []string
	size := 0
	truncated := false
	stop := errors.New("stop")
	err = fs.WalkDir(fsys, start, func(p string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			if p == start {
				return err
			}
			return nil // unreadable entry: skip it
		}
		if p == start {
			return nil
		}
		rel := strings.TrimPrefix(p, start+"/")
		if start == "." {
			rel = p
		}
		if d.IsDir() && skipDir(d.Name()) {
			return fs.SkipDir
		}
		if g.match(rel) {
			if len(out) == maxGlobResults || size > t.o.MaxOutputBytes {
				truncated = true
				return stop
			}
			shown := t.ws.Rel(filepath.Join(absBase, filepath.FromSlash(rel)))
			if d.IsDir() {
				shown += "/"
			}
			out = append(out, shown)
			size += len(shown) + 1
		}
		if d.IsDir() && !g.mayMatchBelow(rel) {
			return fs.SkipDir
		}
		return nil
	})
	switch {
	case err == nil || errors.Is(err, stop):
	case ctx.Err() != nil:
		return Errorf("cancelled: %v", ctx.Err())
	case errors.Is(err, fs.ErrNotExist):
		return Errorf("no matches for %q: %s does not exist", a.Pattern, t.ws.Rel(absBase))
	default:
		return fsError("glob in", t.ws.Rel(absBase), err)
	}
	if len(out) == 0 {
		return Result{Output: fmt.Sprintf("no matches for %q", a.Pattern)}
	}
	res := Result{Output: strings.Join(out, "\n")}
	if truncated {
		res.Truncated = true
		res.Output += fmt.Sprintf("\n[stopped after %d matches; narrow the pattern]", len(out))
	}
	return res
}

// ---- grep ----

type grepTool struct {
	ws *Workspace
	o  Options
}

type grepArgs struct {
	Pattern    string `json:"pattern"`
	Path       string `json:"path"`
	Glob       string `json:"glob"`
	IgnoreCase bool   `json:"ignore_case"`
}

func (*grepTool) Name() string { return "grep" }

func (*grepTool) Description() string {
	return "Search file contents with a Go (RE2) regular expression. Searches the file or directory at path " +
		"(default: the whole workspace), optionally only files matching glob (e.g. \"*.go\" matches by file " +
		"name, \"**/testdata/*.json\" by path relative to path). Returns one line per match as " +
		"file:line: text. Binary files, very large files and .git are skipped."
}

func (*grepTool) Parameters() map[string]any {
	return schema(map[string]any{
		"pattern":     prop("string", "Go regular expression (RE2 syntax), e.g. \"func \\\\w+Handler\"."),
		"path":        prop("string", "File or directory to search, relative to the workspace root (default \".\")."),
		"glob":        prop("string", "Only search files matching this glob: a name pattern like \"*.go\", or a path pattern with \"/\" and \"**\"."),
		"ignore_case": prop("boolean", "Match case-insensitively."),
	}, "pattern")
}

func (t *grepTool) Call(ctx context.Context, raw json.RawMessage) Result {
	var a grepArgs
	if r, ok := decodeArgs(raw, &a); !ok {
		return r
	}
	if a.Pattern == "" {
		return Errorf("pattern is required")
	}
	expr := a.Pattern
	if a.IgnoreCase {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return Errorf("invalid regular expression: %v", err)
	}
	var filter func(rel, name string) bool
	if a.Glob != "" {
		gp := filepath.ToSlash(a.Glob)
		if strings.Contains(gp, "/") {
			g, err := parseGlob(gp)
			if err != nil {
				return Errorf("invalid glob %q: %v", a.Glob, err)
			}
			filter = func(rel, _ string) bool { return g.match(rel) }
		} else {
			if _, err := path.Match(gp, ""); err != nil {
				return Errorf("invalid glob %q: %v", a.Glob, err)
			}
			filter = func(_, name string) bool { ok, _ := path.Match(gp, name); return ok }
		}
	}
	if a.Path == "" {
		a.Path = "."
	}
	absBase, r, ok := walkBase(t.ws, a.Path)
	if !ok {
		return r
	}
	root, relBase, err := t.ws.openRoot(absBase)
	if err != nil {
		return pathError(err)
	}
	defer root.Close()
	fsys := root.FS()
	start := filepath.ToSlash(relBase)

	var b strings.Builder
	matches, files := 0, 0
	truncated := false
	stop := errors.New("stop")
	search := func(p, rel string) error {
		f, err := fsys.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || fi.Size() > maxGrepFileBytes {
			return nil
		}
		br := bufio.NewReaderSize(f, 64<<10)
		if head, _ := br.Peek(sniffLen); bytes.IndexByte(head, 0) >= 0 {
			return nil
		}
		shown := t.ws.Rel(filepath.Join(root.Name(), filepath.FromSlash(p)))
		sc := bufio.NewScanner(br)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		found := false
		for n := 1; sc.Scan(); n++ {
			line := sc.Bytes()
			if !re.Match(line) {
				continue
			}
			if matches == maxGrepMatches || b.Len() > t.o.MaxOutputBytes {
				truncated = true
				return stop
			}
			if !found {
				found = true
				files++
			}
			matches++
			fmt.Fprintf(&b, "%s:%d: %s\n", shown, n, clip(text(bytes.TrimRight(line, "\r")), maxGrepLine))
		}
		return nil
	}
	err = fs.WalkDir(fsys, start, func(p string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			if p == start {
				return err
			}
			return nil
		}
		if d.IsDir() {
			if p != start && skipDir(d.Name()) {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil // links are not followed; devices and pipes not read
		}
		rel := d.Name()
		if p != start {
			rel = strings.TrimPrefix(p, start+"/")
			if start == "." {
				rel = p
			}
		}
		if filter != nil && p != start && !filter(rel, d.Name()) {
			return nil
		}
		return search(p, rel)
	})
	switch {
	case err == nil || errors.Is(err, stop):
	case ctx.Err() != nil:
		return Errorf("cancelled: %v", ctx.Err())
	default:
		return fsError("grep in", t.ws.Rel(absBase), err)
	}
	if matches == 0 {
		return Result{Output: fmt.Sprintf("no matches for /%s/ in %s", a.Pattern, t.ws.Rel(absBase))}
	}
	res := Result{Output: strings.TrimSuffix(b.String(), "\n")}
	if truncated {
		res.Truncated = true
		res.Output += fmt.Sprintf("\n[stopped after %d matches in %d files; narrow the pattern, path or glob]", matches, files)
	}
	return res
}
