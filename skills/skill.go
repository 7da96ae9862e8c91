package skills

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
)

// FileName is the name of the file that makes a folder a skill.
const FileName = "SKILL.md"

// maxFileSize bounds how much of a SKILL.md is read. A skill's instructions
// are meant to stay well under 5000 tokens; anything near this size cannot be
// put in front of a model and is refused rather than read into memory.
const maxFileSize = 1 << 20

// maxResources caps how many resource files Activate lists.
const maxResources = 200

// resourceDirs are the skill sub-folders whose files Activate lists.
var resourceDirs = []string{"scripts", "references", "assets"}

// Metadata keys of the requirements convention (see the package doc).
const (
	// MetaRequiresBins names the metadata key listing the executables a
	// skill needs on PATH, separated by spaces or commas.
	MetaRequiresBins = "requires-bins"
	// MetaRequiresEnv names the metadata key listing the environment
	// variables a skill needs set to a non-empty value, separated by spaces
	// or commas.
	MetaRequiresEnv = "requires-env"
)

var (
	// ErrUnknownSkill is returned by [Catalog.Activate] for a name the
	// catalog does not hold.
	ErrUnknownSkill = errors.New("unknown skill")
	// ErrUnusable is returned by [Load] for a skill that cannot be used at
	// all: no SKILL.md, no front matter, YAML that cannot be parsed, or no
	// name or description.
	ErrUnusable = errors.New("unusable skill")
)

// Source says where a skill was found. It decides nothing by itself; the
// order of the [Root]s given to [Discover] decides precedence.
type Source string

// The sources of skills, in the order a daemon searches them.
const (
	// SourceWorkspace is a skill shipped with the workspace, in
	// <workspace>/.agents/skills.
	SourceWorkspace Source = "workspace"
	// SourceUser is a skill the machine's user installed, in
	// ~/.viber/skills.
	SourceUser Source = "user"
	// SourceBuiltin is a skill embedded in the Viber binary and written to
	// disk by [MaterializeBuiltins].
	SourceBuiltin Source = "builtin"
)

// Skill is one loaded skill: the front matter of its SKILL.md, where it
// lives, and the instructions that follow the front matter.
type Skill struct {
	// Name is the skill's name from the front matter; it is the key of the
	// catalog and what the model passes to activate_skill.
	Name string
	// Description says what the skill does and when to use it.
	Description string
	// License is the optional license name or bundled license file.
	License string
	// Compatibility optionally states environment requirements in prose.
	Compatibility string
	// Metadata holds the optional string-to-string metadata map. Viber
	// reads the keys [MetaRequiresBins] and [MetaRequiresEnv] from it.
	Metadata map[string]string
	// AllowedTools lists the tools the skill declares as pre-approved
	// (experimental in the specification; Viber records but does not yet
	// enforce it).
	AllowedTools []string
	// Dir is the absolute path of the skill's folder.
	Dir string
	// Source says which kind of root the skill was found in.
	Source Source

	body string
}

// Body returns the Markdown instructions that follow the front matter,
// trimmed of surrounding blank space. It is read when the skill is loaded.
func (s *Skill) Body() string { return s.body }

// Location returns the absolute path of the skill's SKILL.md.
func (s *Skill) Location() string { return filepath.Join(s.Dir, FileName) }

// Requires returns the executables and environment variables the skill
// declares in its metadata under [MetaRequiresBins] and [MetaRequiresEnv].
func (s *Skill) Requires() (bins, env []string) {
	return splitList(s.Metadata[MetaRequiresBins]), splitList(s.Metadata[MetaRequiresEnv])
}

// Missing returns the declared requirements that this machine does not
// meet, as human-readable items such as "binary git" or "env GITHUB_TOKEN",
// binaries first, in declaration order. A binary is missing when lookPath
// fails for it; a variable is missing when getenv returns "". A nil
// lookPath means [exec.LookPath] and a nil getenv means [os.Getenv].
func (s *Skill) Missing(lookPath func(string) (string, error), getenv func(string) string) []string {
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	bins, env := s.Requires()
	var missing []string
	for _, b := range bins {
		if _, err := lookPath(b); err != nil {
			missing = append(missing, "binary "+b)
		}
	}
	for _, e := range env {
		if getenv(e) == "" {
			missing = append(missing, "env "+e)
		}
	}
	return missing
}

// Resources returns the files under the skill's scripts/, references/ and
// assets/ folders as slash-separated paths relative to [Skill.Dir], sorted.
// Hidden files and folders and unreadable folders are left out, symbolic
// links to folders are not followed, and the list stops after a few hundred
// entries (truncated then reports true).
func (s *Skill) Resources() (files []string, truncated bool, err error) {
	for _, sub := range resourceDirs {
		root := filepath.Join(s.Dir, sub)
		if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
			continue
		}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // unreadable: leave it out rather than fail activation
			}
			if strings.HasPrefix(d.Name(), ".") && p != root {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				if fi, err := os.Stat(p); err != nil || fi.IsDir() {
					return nil
				}
			}
			if len(files) == maxResources {
				truncated = true
				return fs.SkipAll
			}
			rel, err := filepath.Rel(s.Dir, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
			return nil
		})
		if err != nil {
			return nil, false, fmt.Errorf("skills: list resources of %s: %w", s.Name, err)
		}
		if truncated {
			break
		}
	}
	slices.Sort(files)
	return files, truncated, nil
}

// splitList splits a requirements value on spaces and commas.
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}
