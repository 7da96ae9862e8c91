package skills

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Problem is one way a skill breaks the Agent Skills specification, as
// reported by [Validate].
type Problem struct {
	// Path is the file or folder the problem is in, usually the SKILL.md.
	Path string
	// Field is the front matter field at fault, such as "name" or
	// "metadata.version"; it is empty for problems with the file as a whole
	// (missing SKILL.md, no front matter, invalid YAML).
	Field string
	// Message says what is wrong, in a form a skill author can act on.
	Message string
}

// Error returns the problem as "path: field: message" (without the field
// part when Field is empty).
func (p Problem) Error() string {
	if p.Field == "" {
		return p.Path + ": " + p.Message
	}
	return p.Path + ": " + p.Field + ": " + p.Message
}

// Warning is something wrong that did not stop skills from loading: a rule
// of the specification that a skill breaks, a skill skipped as unusable, or
// a skill shadowed by another of the same name.
type Warning struct {
	// Path is the file or folder the warning is about.
	Path string
	// Message says what is wrong and what was done about it.
	Message string
}

// String returns the warning as "path: message".
func (w Warning) String() string { return w.Path + ": " + w.Message }

// Validate checks the skill folder dir strictly against the Agent Skills
// specification and returns every problem found, or nil for a valid skill.
// It is what `viber skill validate` runs; daemons use the lenient [Load].
//
// The checks: dir is a folder holding a file named exactly SKILL.md, which
// starts with YAML front matter between "---" lines that parses as a
// mapping; name is present, 1-64 characters of a-z, 0-9 and "-", neither
// starting nor ending with "-", without "--", and equal to the folder's name;
// description is a non-blank string of at most 1024 characters;
// compatibility, if present, is a string of 1-500 characters; license and
// allowed-tools are strings; metadata maps strings to strings; no field is
// defined twice and no other top-level field appears. Lengths count Unicode
// characters. Names are not Unicode-normalised: any character outside a-z,
// 0-9 and "-" is reported, so a look-alike name can never equal another.
func Validate(dir string) []Problem {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return []Problem{{Path: dir, Message: err.Error()}}
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return []Problem{{Path: abs, Message: "skill folder does not exist"}}
	case err != nil:
		return []Problem{{Path: abs, Message: err.Error()}}
	case !fi.IsDir():
		return []Problem{{Path: abs, Message: "is not a folder; a skill is a folder holding " + FileName}}
	}
	var problems []Problem
	path, exact, err := findSkillFile(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return []Problem{{Path: filepath.Join(abs, FileName), Message: FileName + " is missing"}}
	case err != nil:
		return []Problem{{Path: abs, Message: err.Error()}}
	case !exact:
		problems = append(problems, Problem{Path: path, Message: "must be named exactly " + FileName})
	}
	src, err := readSkillFile(path)
	if err != nil {
		return append(problems, Problem{Path: path, Message: err.Error()})
	}
	d := parseDocument(path, filepath.Base(abs), src, false)
	return append(problems, d.problems...)
}

// Load reads the skill in folder dir, found in a root of the given source.
// It is lenient, following the client-implementation guide of the
// specification: every problem [Validate] would report comes back as a
// warning and the skill still loads, unless it is unusable. Unusable means
// no SKILL.md, no front matter, YAML that cannot be read even after quoting
// values containing ": " (a common slip that other clients accept), or a
// missing or empty name or description; Load then returns an error wrapping
// [ErrUnusable]. A name that differs from the folder's or a description over
// 1024 characters is only a warning.
func Load(dir string, source Source) (*Skill, []Warning, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrUnusable, dir, err)
	}
	var warnings []Warning
	path, exact, err := findSkillFile(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%w: %s: no %s: %w", ErrUnusable, abs, FileName, err)
		}
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrUnusable, abs, err)
	}
	if !exact {
		warnings = append(warnings, Warning{Path: path, Message: "should be named exactly " + FileName})
	}
	src, err := readSkillFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrUnusable, path, err)
	}
	d := parseDocument(path, filepath.Base(abs), src, true)
	if d.broken {
		return nil, nil, fmt.Errorf("%w: %s", ErrUnusable, problemText(d.problems))
	}
	for _, p := range d.problems {
		msg := p.Message
		if p.Field != "" {
			msg = p.Field + ": " + msg
		}
		warnings = append(warnings, Warning{Path: p.Path, Message: msg})
	}
	name := strings.TrimSpace(d.fm.name)
	switch {
	case name == "":
		return nil, nil, fmt.Errorf("%w: %s: name is missing or empty", ErrUnusable, path)
	case strings.TrimSpace(d.fm.description) == "":
		return nil, nil, fmt.Errorf("%w: %s: description is missing or empty", ErrUnusable, path)
	}
	return &Skill{
		Name:          name,
		Description:   d.fm.description,
		License:       d.fm.license,
		Compatibility: d.fm.compatibility,
		Metadata:      d.fm.metadata,
		AllowedTools:  d.fm.allowedTools,
		Dir:           abs,
		Source:        source,
		body:          d.body,
	}, warnings, nil
}

// problemText joins problems into one error text.
func problemText(problems []Problem) string {
	parts := make([]string, len(problems))
	for i, p := range problems {
		parts[i] = p.Error()
	}
	return strings.Join(parts, "; ")
}
