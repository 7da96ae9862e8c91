package roster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/viberhq/viber/internal/yamlnode"
)

// Limits of an agent file.
const (
	maxFileSize       = 256 << 10
	maxNameLen        = 64
	maxDescriptionLen = 1024
	maxMaxSteps       = 1000
)

// Fields of an agent file.
const (
	fieldName        = "name"
	fieldDescription = "description"
	fieldModel       = "model"
	fieldSystem      = "system"
	fieldTools       = "tools"
	fieldSkills      = "skills"
	fieldPolicy      = "policy"
	fieldMaxSteps    = "max_steps"
	fieldMemory      = "memory"
)

var knownFields = []string{fieldName, fieldDescription, fieldModel, fieldSystem, fieldTools, fieldSkills, fieldPolicy, fieldMaxSteps, fieldMemory}

// Problem is one way an agent file is wrong, as [Validate] reports it.
type Problem struct {
	// Path is the file.
	Path string
	// Line is the line of the file the problem is on (1-based), or 0 for
	// the file as a whole.
	Line int
	// Field is the field at fault, or "" for the file as a whole.
	Field string
	// Message says what is wrong.
	Message string
}

// Error returns the problem as "path:line: field: message".
func (p Problem) Error() string {
	s := p.Path
	if p.Line > 0 {
		s += ":" + strconv.Itoa(p.Line)
	}
	if p.Field != "" {
		s += ": " + p.Field
	}
	return s + ": " + p.Message
}

// Warning is something wrong that did not stop agents from loading.
type Warning struct {
	// Path is the file the warning is about.
	Path string
	// Message says what is wrong and what was done about it.
	Message string
}

// String returns the warning as "path: message".
func (w Warning) String() string { return w.Path + ": " + w.Message }

// ErrUnusable is returned by [Load] for a file that cannot be loaded even
// leniently.
var ErrUnusable = errors.New("unusable agent")

// document is an agent file read and checked.
type document struct {
	agent    Agent
	problems []Problem
	// broken: no usable content at all, or a restricting field that could
	// not be read (tools, policy): the agent must not load.
	broken bool
}

// IsFile reports whether a file name is an agent file (.md, .yaml, .yml).
func IsFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".md", ".yaml", ".yml":
		return !strings.HasPrefix(name, ".")
	}
	return false
}

// stem is the file's name without its extension: the agent's name.
func stem(p string) string {
	b := filepath.Base(p)
	return strings.TrimSuffix(b, filepath.Ext(b))
}

func readFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	return b, nil
}

// parse reads an agent file's source. Markdown files (.md) carry the
// fields as front matter and the prompt as the body; YAML files are the
// fields.
func parse(p string, src []byte) document {
	c := &checker{path: p}
	text := strings.TrimPrefix(string(src), "\ufeff")
	offset := 0 // lines before the YAML starts
	body := ""
	md := strings.EqualFold(filepath.Ext(p), ".md")
	if md {
		fm, b, err := splitFrontMatter(text)
		if err != nil {
			c.add(0, "", "%v", err)
			return document{problems: c.problems, broken: true}
		}
		text, body, offset = fm, b, 1
	}
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(text), &root); err != nil {
		c.add(0, "", "not valid YAML: %s", yamlnode.ErrorMessage(err, offset))
		return document{problems: c.problems, broken: true}
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		c.add(0, "", "no fields")
		return document{problems: c.problems, broken: true}
	}
	m := yamlnode.Deref(root.Content[0])
	if m.Kind != yaml.MappingNode {
		c.add(m.Line+offset, "", "must be a mapping of fields, not %s", yamlnode.KindName(m))
		return document{problems: c.problems, broken: true}
	}
	c.offset = offset
	d := document{}
	d.agent = c.fields(m, stem(p), md, body)
	d.problems, d.broken = c.problems, c.broken
	return d
}

// splitFrontMatter returns the YAML between the opening and closing "---"
// lines at the start of src, and the trimmed Markdown after them.
func splitFrontMatter(src string) (yamlText, body string, err error) {
	first, rest, ok := strings.Cut(src, "\n")
	if strings.TrimRight(first, " \t\r") != "---" {
		return "", "", errors.New("must start with YAML front matter: a line \"---\", the fields, and a closing \"---\"")
	}
	if !ok {
		return "", "", errors.New("front matter is not closed by a \"---\" line")
	}
	var b strings.Builder
	for rest != "" {
		line, after, _ := strings.Cut(rest, "\n")
		if strings.TrimRight(line, " \t\r") == "---" {
			return b.String(), strings.TrimSpace(after), nil
		}
		b.WriteString(line)
		b.WriteByte('\n')
		rest = after
	}
	return "", "", errors.New("front matter is not closed by a \"---\" line")
}

// checker collects the problems of one file.
type checker struct {
	path     string
	offset   int
	problems []Problem
	broken   bool
}

func (c *checker) add(line int, field, format string, args ...any) {
	c.problems = append(c.problems, Problem{Path: c.path, Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

// at reports a problem on a node's line.
func (c *checker) at(n *yaml.Node, field, format string, args ...any) {
	c.add(n.Line+c.offset, field, format, args...)
}

// restricting marks a problem with a field that restricts the agent: the
// agent must not load without it.
func (c *checker) restricting(n *yaml.Node, field, format string, args ...any) {
	c.at(n, field, format, args...)
	c.broken = true
}

func (c *checker) fields(m *yaml.Node, fileStem string, md bool, body string) Agent {
	var a Agent
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := yamlnode.Deref(m.Content[i]), yamlnode.Deref(m.Content[i+1])
		if !yamlnode.IsString(k) {
			c.at(k, "", "field names must be strings, found %s %q", yamlnode.KindName(k), k.Value)
			continue
		}
		key := k.Value
		if prev, ok := seen[key]; ok {
			c.at(k, key, "is defined more than once (first on line %d); the first definition is used", prev.Line+c.offset)
			if key == fieldTools || key == fieldPolicy {
				c.broken = true
			}
			continue
		}
		seen[key] = k
		switch key {
		case fieldName:
			a.Name = c.name(v, fileStem)
		case fieldDescription:
			a.Description = c.str(key, v)
			if yamlnode.IsString(v) && strings.TrimSpace(a.Description) == "" {
				c.at(v, key, "must not be empty")
			}
			if n := utf8.RuneCountInString(a.Description); n > maxDescriptionLen {
				c.at(v, key, "must be at most %d characters, has %d", maxDescriptionLen, n)
			}
		case fieldModel:
			a.Model = strings.TrimSpace(c.str(key, v))
			if yamlnode.IsString(v) && (a.Model == "" || strings.ContainsAny(a.Model, " \t\n")) {
				c.at(v, key, "must be \"provider/model\" or a model name without spaces")
			}
		case fieldSystem:
			a.System = c.str(key, v)
			if md {
				c.at(k, key, "is the body of a .md agent file; put the prompt after the front matter")
			}
		case fieldTools:
			a.Tools = c.tools(v)
			if a.Tools == nil {
				a.Tools = []string{} // present and empty: no tools at all
			}
		case fieldSkills:
			a.Skills = c.skillNames(v)
		case fieldPolicy:
			a.Policy = c.policy(v)
		case fieldMaxSteps:
			a.MaxSteps = c.maxSteps(v)
		case fieldMemory:
			a.Memory = c.memory(v)
		default:
			c.at(k, key, "is not a field of an agent (allowed: %s)", strings.Join(knownFields, ", "))
		}
	}
	line := m.Line + c.offset
	if _, ok := seen[fieldName]; !ok {
		c.add(line, fieldName, "is required")
	}
	if _, ok := seen[fieldDescription]; !ok {
		c.add(line, fieldDescription, "is required")
	}
	if md {
		if a.System == "" {
			a.System = body
		}
	}
	if strings.TrimSpace(a.System) == "" {
		where := "the system field"
		if md {
			where = "the body after the front matter"
		}
		c.add(0, fieldSystem, "the agent has no prompt; write it in %s", where)
	}
	return a
}

func (c *checker) str(field string, v *yaml.Node) string {
	if yamlnode.IsString(v) {
		return v.Value
	}
	if v.Kind == yaml.ScalarNode && v.ShortTag() != "!!null" {
		c.at(v, field, "must be a string, found %s %s (quote it)", yamlnode.KindName(v), v.Value)
		return v.Value
	}
	c.at(v, field, "must be a string, found %s", yamlnode.KindName(v))
	return ""
}

var nameRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// ValidName reports whether s is a valid agent name: 1-64 characters of
// a-z, 0-9 and "-", not starting or ending with "-" nor holding "--".
func ValidName(s string) bool {
	return len(s) <= maxNameLen && nameRE.MatchString(s)
}

func (c *checker) name(v *yaml.Node, fileStem string) string {
	n := strings.TrimSpace(c.str(fieldName, v))
	if !yamlnode.IsString(v) {
		return n
	}
	switch {
	case n == "":
		c.at(v, fieldName, "must not be empty")
	case !ValidName(n):
		c.at(v, fieldName, "%q must be 1-%d characters of a-z, 0-9 and \"-\", not starting or ending with \"-\" nor holding \"--\"", n, maxNameLen)
	case n != fileStem:
		c.at(v, fieldName, "%q must match the file's name %q", n, fileStem)
	}
	return n
}

var toolNameRE = regexp.MustCompile(`^[a-z0-9_*?\[\]\-]{1,64}$`)

// tools reads the allow-list: tool names or path.Match globs.
func (c *checker) tools(v *yaml.Node) []string {
	items, ok := c.stringList(fieldTools, v, true)
	if !ok {
		return nil
	}
	var out []string
	for i, t := range items {
		item := yamlnode.Deref(v.Content[i])
		if !toolNameRE.MatchString(t) {
			c.restricting(item, fieldTools, "%q is not a tool name or glob (lowercase letters, digits, _ and the glob characters * ? [ ])", t)
			continue
		}
		if _, err := path.Match(t, ""); err != nil {
			c.restricting(item, fieldTools, "%q is not a valid glob", t)
			continue
		}
		out = append(out, t)
	}
	return out
}

func (c *checker) skillNames(v *yaml.Node) []string {
	items, ok := c.stringList(fieldSkills, v, false)
	if !ok {
		return nil
	}
	var out []string
	for i, s := range items {
		if !ValidName(s) {
			c.at(yamlnode.Deref(v.Content[i]), fieldSkills, "%q is not a skill name", s)
			continue
		}
		out = append(out, s)
	}
	return out
}

// stringList reads a YAML list of strings; restricting marks a bad list
// as one the agent must not load without.
func (c *checker) stringList(field string, v *yaml.Node, restricting bool) ([]string, bool) {
	report := c.at
	if restricting {
		report = c.restricting
	}
	if v.Kind != yaml.SequenceNode {
		report(v, field, "must be a list, found %s", yamlnode.KindName(v))
		return nil, false
	}
	out := make([]string, 0, len(v.Content))
	for _, it := range v.Content {
		it = yamlnode.Deref(it)
		if !yamlnode.IsString(it) {
			report(it, field, "items must be strings, found %s", yamlnode.KindName(it))
			return nil, false
		}
		out = append(out, strings.TrimSpace(it.Value))
	}
	return out, true
}

func (c *checker) policy(v *yaml.Node) map[string]string {
	if v.Kind != yaml.MappingNode {
		c.restricting(v, fieldPolicy, "must be a mapping of tool (or glob, shell:PREFIX, *) to allow, ask or deny, found %s", yamlnode.KindName(v))
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := yamlnode.Deref(v.Content[i]), yamlnode.Deref(v.Content[i+1])
		field := fieldPolicy + "." + k.Value
		if !yamlnode.IsString(k) || strings.TrimSpace(k.Value) == "" {
			c.restricting(k, fieldPolicy, "keys must be tool names, globs, shell:PREFIX or *")
			continue
		}
		if _, dup := out[k.Value]; dup {
			c.restricting(k, field, "is defined more than once")
			continue
		}
		d := strings.ToLower(strings.TrimSpace(val.Value))
		if val.Kind != yaml.ScalarNode || (d != "allow" && d != "ask" && d != "deny") {
			c.restricting(val, field, "must be allow, ask or deny")
			continue
		}
		if strings.ContainsAny(k.Value, "*?[") && k.Value != "*" && !strings.HasPrefix(k.Value, "shell:") {
			if _, err := path.Match(k.Value, ""); err != nil {
				c.restricting(k, field, "is not a valid glob")
				continue
			}
		}
		out[k.Value] = d
	}
	return out
}

func (c *checker) maxSteps(v *yaml.Node) int {
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" {
		c.at(v, fieldMaxSteps, "must be a whole number from 1 to %d, found %s", maxMaxSteps, yamlnode.KindName(v))
		return 0
	}
	n, err := strconv.Atoi(v.Value)
	if err != nil || n < 1 || n > maxMaxSteps {
		c.at(v, fieldMaxSteps, "must be from 1 to %d, found %s", maxMaxSteps, v.Value)
		return 0
	}
	return n
}

// memory reads the memory scopes: a scope, a list of scopes, or none.
func (c *checker) memory(v *yaml.Node) []string {
	var items []string
	var nodes []*yaml.Node
	switch {
	case yamlnode.IsString(v):
		items, nodes = []string{v.Value}, []*yaml.Node{v}
	case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!bool" && (v.Value == "false" || v.Value == "no"):
		return []string{}
	case v.Kind == yaml.SequenceNode:
		for _, it := range v.Content {
			it = yamlnode.Deref(it)
			items, nodes = append(items, it.Value), append(nodes, it)
		}
	default:
		c.at(v, fieldMemory, "must be a scope (%s), a list of them, or none", strings.Join(Scopes(), ", "))
		return []string{}
	}
	out := []string{}
	for i, s := range items {
		s = strings.TrimSpace(s)
		if s == "none" && len(items) == 1 {
			return []string{}
		}
		if !validScope(s) {
			c.at(nodes[i], fieldMemory, "%q is not a memory scope (%s, or none)", s, strings.Join(Scopes(), ", "))
			continue
		}
		out = append(out, s)
	}
	return out
}
