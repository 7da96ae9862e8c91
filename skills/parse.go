package skills

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/viberhq/viber/internal/yamlnode"
)

// Limits from the Agent Skills specification, counted in characters.
const (
	maxNameLen          = 64
	maxDescriptionLen   = 1024
	maxCompatibilityLen = 500
)

// Front matter fields defined by the Agent Skills specification.
const (
	fieldName          = "name"
	fieldDescription   = "description"
	fieldLicense       = "license"
	fieldCompatibility = "compatibility"
	fieldMetadata      = "metadata"
	fieldAllowedTools  = "allowed-tools"
)

var knownFields = []string{fieldName, fieldDescription, fieldLicense, fieldCompatibility, fieldMetadata, fieldAllowedTools}

// frontMatter is what was read from a SKILL.md, leniently: every value that
// could be read is kept, even when it breaks a rule of the specification.
type frontMatter struct {
	name, description, license, compatibility string
	metadata                                  map[string]string
	allowedTools                              []string
}

// document is a SKILL.md split into its parts and checked.
type document struct {
	fm   frontMatter
	body string
	// problems lists every rule of the specification the file breaks.
	problems []Problem
	// broken is set when the file has no usable front matter at all (its
	// problems say why); fm is then empty.
	broken bool
	// repaired is set when the YAML only parsed after quoting values.
	repaired bool
}

// readSkillFile reads a SKILL.md, refusing files too large to be one.
func readSkillFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", FileName, maxFileSize)
	}
	return b, nil
}

// findSkillFile returns the path of the skill file in dir. exact is false
// when only a differently-cased name such as skill.md exists (which a
// case-insensitive file system would also open as SKILL.md).
func findSkillFile(dir string) (path string, exact bool, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", false, err
	}
	found := ""
	for _, e := range entries {
		if e.Name() == FileName {
			return filepath.Join(dir, FileName), true, nil
		}
		if found == "" && strings.EqualFold(e.Name(), FileName) {
			found = e.Name()
		}
	}
	if found != "" {
		return filepath.Join(dir, found), false, nil
	}
	return "", false, os.ErrNotExist
}

// parseDocument splits src into front matter and body and checks the front
// matter against the specification. path names the file in problems and
// folder is the name of the skill's folder. With repair, YAML that does not
// parse is retried once with suspicious values quoted.
func parseDocument(path, folder string, src []byte, repair bool) document {
	var d document
	c := checker{path: path}
	text, body, err := splitFrontMatter(string(src))
	if err != nil {
		c.add("", "%v", err)
		return document{problems: c.problems, broken: true}
	}
	d.body = body

	var root yaml.Node
	if err := yaml.Unmarshal([]byte(text), &root); err != nil {
		fixed, changed := quoteValues(text)
		if !repair || !changed || yaml.Unmarshal([]byte(fixed), &root) != nil {
			c.add("", "front matter is not valid YAML: %s", yamlnode.ErrorMessage(err, fileLine(0)))
			return document{problems: c.problems, broken: true}
		}
		d.repaired = true
		c.add("", "front matter is not valid YAML (%s); it was read after quoting values that contain \": \"", yamlnode.ErrorMessage(err, fileLine(0)))
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		c.add("", "front matter is empty")
		return document{problems: c.problems, broken: true}
	}
	m := yamlnode.Deref(root.Content[0])
	if m.Kind != yaml.MappingNode {
		c.add("", "front matter must be a YAML mapping of fields, not a %s", yamlnode.KindName(m))
		return document{problems: c.problems, broken: true}
	}
	d.fm = c.fields(m, folder)
	d.problems = c.problems
	return d
}

// splitFrontMatter returns the YAML between the opening and closing "---"
// lines at the very start of src, and the trimmed Markdown after them.
func splitFrontMatter(src string) (yamlText, body string, err error) {
	src = strings.TrimPrefix(src, "\ufeff")
	first, rest, ok := strings.Cut(src, "\n")
	if !isDelimiter(first) {
		return "", "", errors.New(FileName + " must start with YAML front matter: a line \"---\", the fields, and a closing \"---\"")
	}
	if !ok {
		return "", "", errors.New("front matter is not closed by a \"---\" line")
	}
	var b strings.Builder
	for rest != "" {
		line, after, _ := strings.Cut(rest, "\n")
		if isDelimiter(line) {
			return b.String(), strings.TrimSpace(after), nil
		}
		b.WriteString(line)
		b.WriteByte('\n')
		rest = after
	}
	return "", "", errors.New("front matter is not closed by a \"---\" line")
}

func isDelimiter(line string) bool {
	return strings.TrimRight(line, " \t\r") == "---"
}

// plainValue matches a top-level "key: value" line whose value is written
// plain (not quoted, not a block, flow or anchor) and contains ": ", which
// YAML reads as a nested mapping and rejects. Skills written for lenient
// parsers often have such descriptions.
var plainValue = regexp.MustCompile(`^([A-Za-z0-9_-]+):[ \t]+([^"'|>\[{&*!#\s].*: .*?)[ \t]*\r?$`)

// quoteValues rewrites the lines plainValue matches with their values
// double-quoted, reporting whether it changed anything.
func quoteValues(text string) (string, bool) {
	lines := strings.Split(text, "\n")
	changed := false
	for i, l := range lines {
		if m := plainValue.FindStringSubmatch(l); m != nil {
			lines[i] = m[1] + ": " + strconv.Quote(m[2])
			changed = true
		}
	}
	return strings.Join(lines, "\n"), changed
}

// fileLine turns a line number of the front matter into one of SKILL.md,
// whose first line is the opening "---".
func fileLine(n int) int { return n + 1 }

// checker collects problems for one file.
type checker struct {
	path     string
	problems []Problem
}

func (c *checker) add(field, format string, args ...any) {
	c.problems = append(c.problems, Problem{Path: c.path, Field: field, Message: fmt.Sprintf(format, args...)})
}

// fields reads every field of the front matter mapping m, leniently, and
// records a problem for each rule a field breaks.
func (c *checker) fields(m *yaml.Node, folder string) frontMatter {
	var fm frontMatter
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := yamlnode.Deref(m.Content[i]), yamlnode.Deref(m.Content[i+1])
		if !yamlnode.IsString(k) {
			c.add("", "front matter field names must be strings, found %s %q on line %d", yamlnode.KindName(k), k.Value, fileLine(k.Line))
			continue
		}
		key := k.Value
		if seen[key] {
			c.add(key, "is defined more than once (line %d); the first definition is used", fileLine(k.Line))
			continue
		}
		seen[key] = true
		switch key {
		case fieldName:
			fm.name = c.name(v, folder)
		case fieldDescription:
			fm.description = c.description(v)
		case fieldLicense:
			fm.license = c.str(key, v)
		case fieldCompatibility:
			fm.compatibility = c.compatibility(v)
		case fieldMetadata:
			fm.metadata = c.metadata(v)
		case fieldAllowedTools:
			fm.allowedTools = c.allowedTools(v)
		default:
			c.add(key, "is not a field of the Agent Skills specification (allowed: %s); put custom values under metadata",
				strings.Join(knownFields, ", "))
		}
	}
	if !seen[fieldName] {
		c.add(fieldName, "is required")
	}
	if !seen[fieldDescription] {
		c.add(fieldDescription, "is required")
	}
	return fm
}

// str returns the text of a scalar field, recording a problem unless it is
// a YAML string. Other scalars (numbers, booleans) still yield their text.
func (c *checker) str(field string, v *yaml.Node) string {
	if yamlnode.IsString(v) {
		return v.Value
	}
	if v.Kind == yaml.ScalarNode && v.ShortTag() != "!!null" {
		c.add(field, "must be a string, found %s %s (quote it)", yamlnode.KindName(v), v.Value)
		return v.Value
	}
	c.add(field, "must be a string, found %s", yamlnode.KindName(v))
	return ""
}

func (c *checker) name(v *yaml.Node, folder string) string {
	if !yamlnode.IsString(v) {
		return c.str(fieldName, v)
	}
	name := v.Value
	if name == "" {
		c.add(fieldName, "must not be empty")
		return ""
	}
	if n := utf8.RuneCountInString(name); n > maxNameLen {
		c.add(fieldName, "must be at most %d characters, has %d", maxNameLen, n)
	}
	var bad []string
	upper, nonASCII := false, false
	for _, r := range name {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			continue
		}
		upper = upper || r >= 'A' && r <= 'Z'
		nonASCII = nonASCII || r >= utf8.RuneSelf
		if q := strconv.QuoteRune(r); !slices.Contains(bad, q) {
			bad = append(bad, q)
		}
	}
	if len(bad) > 0 {
		msg := "may only contain lowercase letters a-z, digits 0-9 and hyphens, found " + strings.Join(bad, ", ")
		if upper {
			msg += " (names are lowercase)"
		}
		if nonASCII {
			msg += " (non-ASCII characters are refused, not normalised: look-alikes such as full-width letters would make two different names appear equal)"
		}
		c.add(fieldName, "%s", msg)
	}
	if strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") {
		c.add(fieldName, "must not start or end with a hyphen")
	}
	if strings.Contains(name, "--") {
		c.add(fieldName, "must not contain consecutive hyphens")
	}
	if folder != "" && name != folder {
		c.add(fieldName, "%q must match the skill's folder name %q", name, folder)
	}
	return name
}

func (c *checker) description(v *yaml.Node) string {
	d := c.str(fieldDescription, v)
	if !yamlnode.IsString(v) {
		return d
	}
	if strings.TrimSpace(d) == "" {
		c.add(fieldDescription, "must not be empty")
		return ""
	}
	if n := utf8.RuneCountInString(d); n > maxDescriptionLen {
		c.add(fieldDescription, "must be at most %d characters, has %d", maxDescriptionLen, n)
	}
	return d
}

func (c *checker) compatibility(v *yaml.Node) string {
	s := c.str(fieldCompatibility, v)
	if !yamlnode.IsString(v) {
		return s
	}
	if strings.TrimSpace(s) == "" {
		c.add(fieldCompatibility, "must not be empty when present (1-%d characters)", maxCompatibilityLen)
	}
	if n := utf8.RuneCountInString(s); n > maxCompatibilityLen {
		c.add(fieldCompatibility, "must be at most %d characters, has %d", maxCompatibilityLen, n)
	}
	return s
}

func (c *checker) metadata(v *yaml.Node) map[string]string {
	if v.Kind != yaml.MappingNode {
		c.add(fieldMetadata, "must be a map of string keys to string values, found %s", yamlnode.KindName(v))
		return nil
	}
	md := make(map[string]string, len(v.Content)/2)
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := yamlnode.Deref(v.Content[i]), yamlnode.Deref(v.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			c.add(fieldMetadata, "keys must be strings, found %s on line %d", yamlnode.KindName(k), fileLine(k.Line))
			continue
		}
		field := fieldMetadata + "." + k.Value
		if !yamlnode.IsString(k) {
			c.add(field, "key must be a string, found %s %s (quote it)", yamlnode.KindName(k), k.Value)
		}
		if _, dup := md[k.Value]; dup {
			c.add(field, "is defined more than once (line %d); the first definition is used", fileLine(k.Line))
			continue
		}
		switch {
		case yamlnode.IsString(val):
			md[k.Value] = val.Value
		case val.Kind == yaml.ScalarNode && val.ShortTag() != "!!null":
			c.add(field, "must be a string, found %s %s (quote it, e.g. %q)", yamlnode.KindName(val), val.Value, val.Value)
			md[k.Value] = val.Value
		default:
			c.add(field, "must be a string, found %s", yamlnode.KindName(val))
		}
	}
	return md
}

func (c *checker) allowedTools(v *yaml.Node) []string {
	if yamlnode.IsString(v) {
		return strings.Fields(v.Value)
	}
	if v.Kind == yaml.SequenceNode {
		c.add(fieldAllowedTools, "must be a space-separated string, not a list")
		var tools []string
		for _, item := range v.Content {
			if item = yamlnode.Deref(item); item.Kind == yaml.ScalarNode {
				tools = append(tools, strings.Fields(item.Value)...)
			}
		}
		return tools
	}
	return strings.Fields(c.str(fieldAllowedTools, v))
}
