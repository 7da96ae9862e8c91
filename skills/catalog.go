package skills

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Root is a folder holding skill folders (<Dir>/<name>/SKILL.md), all of
// one source.
type Root struct {
	// Dir is the folder to scan. A Dir that does not exist holds no skills
	// and is not worth a warning; an empty Dir is skipped.
	Dir string
	// Source is recorded on every skill found under Dir.
	Source Source
}

// Catalog is the set of skills a daemon offers its model, keyed by name.
// It is read-only once built, so it is safe for concurrent use. The methods
// accept a nil *Catalog, which holds no skills.
type Catalog struct {
	byName map[string]*Skill
	sorted []*Skill
}

// Discover loads every skill in the given roots and returns them as a
// catalog, with every warning met on the way. Roots are searched in order
// and the first skill found with a name wins: the daemon passes the
// workspace's .agents/skills first, then ~/.viber/skills, then the
// materialised built-ins, so a workspace can override a user skill and a
// user a built-in. A shadowed skill produces a warning naming both
// locations.
//
// In each root every sub-folder is a skill, loaded with [Load]: a skill that
// is unusable is skipped with a warning, the others load with their warnings.
// Hidden entries and plain files are ignored. Symbolic links to folders are
// followed, since installing a skill by linking it is common.
func Discover(roots ...Root) (*Catalog, []Warning) {
	c := &Catalog{byName: map[string]*Skill{}}
	var warnings []Warning
	for _, r := range roots {
		if r.Dir == "" {
			continue
		}
		dir, err := filepath.Abs(r.Dir)
		if err != nil {
			warnings = append(warnings, Warning{Path: r.Dir, Message: "skills folder skipped: " + err.Error()})
			continue
		}
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			warnings = append(warnings, Warning{Path: dir, Message: "skills folder skipped: " + err.Error()})
			continue
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			p := filepath.Join(dir, e.Name())
			if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
				continue
			}
			s, ws, err := Load(p, r.Source)
			warnings = append(warnings, ws...)
			if err != nil {
				warnings = append(warnings, Warning{Path: p, Message: "skill skipped: " + err.Error()})
				continue
			}
			if prev, ok := c.byName[s.Name]; ok {
				warnings = append(warnings, Warning{Path: s.Location(), Message: fmt.Sprintf(
					"skill %q (%s) is shadowed by the %s skill of the same name at %s",
					s.Name, s.Source, prev.Source, prev.Location())})
				continue
			}
			c.byName[s.Name] = s
			c.sorted = append(c.sorted, s)
		}
	}
	slices.SortFunc(c.sorted, func(a, b *Skill) int { return strings.Compare(a.Name, b.Name) })
	return c, warnings
}

// Only returns a catalog of the named skills this catalog holds (names it
// does not hold are left out), for an agent limited to some skills.
func (c *Catalog) Only(names []string) *Catalog {
	out := &Catalog{byName: map[string]*Skill{}}
	for _, s := range c.List() {
		if slices.Contains(names, s.Name) {
			out.byName[s.Name] = s
			out.sorted = append(out.sorted, s)
		}
	}
	return out
}

// List returns the skills sorted by name.
func (c *Catalog) List() []*Skill {
	if c == nil {
		return nil
	}
	return slices.Clone(c.sorted)
}

// Names returns the skill names sorted, for example to constrain the name
// parameter of the activate_skill tool to an enum.
func (c *Catalog) Names() []string {
	if c == nil {
		return nil
	}
	names := make([]string, len(c.sorted))
	for i, s := range c.sorted {
		names[i] = s.Name
	}
	return names
}

// Len returns the number of skills in the catalog.
func (c *Catalog) Len() int {
	if c == nil {
		return 0
	}
	return len(c.sorted)
}

// Get returns the skill with the given name.
func (c *Catalog) Get(name string) (*Skill, bool) {
	if c == nil {
		return nil, false
	}
	s, ok := c.byName[name]
	return s, ok
}

// Prompt returns the catalog's section of the system prompt: a few lines
// telling the model to call the activate_skill tool when a task matches a
// skill, then each skill's name, description and SKILL.md location in an
// <available_skills> block. It returns "" for an empty catalog, so that no
// empty section reaches the model.
func (c *Catalog) Prompt() string {
	if c.Len() == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(`## Skills

The following skills provide specialized instructions for specific tasks.
When a task matches a skill's description, call the activate_skill tool with
the skill's name to load its full instructions before proceeding. Activate a
skill at most once per task. Relative paths in a skill's instructions (such as
scripts/ or references/) are relative to the skill's folder, the folder
holding its SKILL.md: use absolute paths in tool calls, and read or run those
files only when the instructions call for it.

<available_skills>
`)
	for _, s := range c.sorted {
		b.WriteString("  <skill>\n    <name>")
		xmlText(&b, s.Name)
		b.WriteString("</name>\n    <description>")
		xmlText(&b, s.Description)
		b.WriteString("</description>\n    <location>")
		xmlText(&b, s.Location())
		b.WriteString("</location>\n  </skill>\n")
	}
	b.WriteString("</available_skills>\n")
	return b.String()
}

// Activate returns what the activate_skill tool gives the model for the
// named skill: its instructions (the SKILL.md body), its folder, and the
// list of its resource files under scripts/, references/ and assets/ as
// paths relative to that folder, wrapped in a <skill_content> block so the
// harness can recognise it later. Resources are listed, never read. An
// unknown name returns an error wrapping [ErrUnknownSkill] that lists the
// names available.
func (c *Catalog) Activate(name string) (string, error) {
	s, ok := c.Get(name)
	if !ok {
		return "", fmt.Errorf("%w %q (available: %s)", ErrUnknownSkill, name, strings.Join(c.Names(), ", "))
	}
	files, truncated, err := s.Resources()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(`<skill_content name="`)
	xmlText(&b, s.Name)
	b.WriteString("\">\n")
	if s.body != "" {
		xmlSafe(&b, s.body)
		b.WriteString("\n\n")
	}
	b.WriteString("Skill directory: ")
	b.WriteString(s.Dir)
	b.WriteString("\nRelative paths in this skill are relative to the skill directory.\n")
	if len(files) > 0 {
		b.WriteString("\n<skill_resources>\n")
		for _, f := range files {
			b.WriteString("  <file>")
			xmlText(&b, f)
			b.WriteString("</file>\n")
		}
		if truncated {
			fmt.Fprintf(&b, "  <!-- listing stopped after %d files -->\n", len(files))
		}
		b.WriteString("</skill_resources>\n")
	}
	b.WriteString("</skill_content>\n")
	return b.String(), nil
}

// xmlEscaper escapes text for XML elements and attributes while keeping
// line breaks readable (encoding/xml would turn them into character
// references).
var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

// xmlText writes s escaped as XML character data.
func xmlText(b *strings.Builder, s string) {
	_, _ = xmlEscaper.WriteString(b, s)
}

// xmlSafe writes Markdown as is, except that a closing </skill_content> tag
// inside it is defused so the body cannot end its own wrapper early.
func xmlSafe(b *strings.Builder, s string) {
	b.WriteString(strings.ReplaceAll(s, "</skill_content>", "&lt;/skill_content>"))
}

// WorkspaceDir is where a workspace ships its skills: <workspace>/.agents/skills.
func WorkspaceDir(workspace string) string { return filepath.Join(workspace, ".agents", "skills") }

// UserDir is where a user keeps skills for every workspace: <home>/skills
// (home is ~/.viber by default).
func UserDir(home string) string { return filepath.Join(home, "skills") }

// BuiltinDir is where the built-in skills are written out so that their
// scripts can run: <home>/builtin-skills.
func BuiltinDir(home string) string { return filepath.Join(home, "builtin-skills") }

// AgentsWorkspaceDir is where a workspace ships its named agents
// (<name>.md with YAML front matter): <workspace>/.agents/agents.
func AgentsWorkspaceDir(workspace string) string {
	return filepath.Join(workspace, ".agents", "agents")
}

// AgentsUserDir is where a user keeps named agents for every workspace
// (<name>.yaml): <home>/agents (home is ~/.viber by default).
func AgentsUserDir(home string) string { return filepath.Join(home, "agents") }

// AgentRoots are the folders named agents are discovered in, in order of
// precedence (the workspace's first, then the user's): the same order as
// skills, defined here so that skills and agents cannot drift apart. The
// roster package reads them.
func AgentRoots(workspace, home string) []Root {
	return []Root{
		{Dir: AgentsWorkspaceDir(workspace), Source: SourceWorkspace},
		{Dir: AgentsUserDir(home), Source: SourceUser},
	}
}

// Roots are the folders skills are discovered in, in order of precedence
// (a skill found earlier wins): the workspace's, the user's, then the
// built-in skills (written out under home) unless builtins is false. It is
// the one definition of that order, used by daemons and the CLI. The error
// is about the built-in skills, which are then left out.
func Roots(workspace, home string, builtins bool) ([]Root, error) {
	roots := []Root{
		{Dir: WorkspaceDir(workspace), Source: SourceWorkspace},
		{Dir: UserDir(home), Source: SourceUser},
	}
	if !builtins {
		return roots, nil
	}
	r, err := MaterializeBuiltins(BuiltinDir(home))
	if err != nil {
		return roots, err
	}
	return append(roots, r), nil
}
