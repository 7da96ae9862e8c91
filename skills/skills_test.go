package skills_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/viberhq/viber/skills"
)

const body = "# Title\n\nDo the thing, then check it worked.\n"

// doc builds a SKILL.md from front matter lines.
func doc(lines ...string) string {
	return "---\n" + strings.Join(lines, "\n") + "\n---\n\n" + body
}

// writeSkill writes a skill folder under root, with SKILL.md holding
// skillMD (none when empty) and the given extra files, and returns its path.
func writeSkill(t *testing.T, root, folder, skillMD string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(root, folder)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if skillMD != "" {
		files = mapsWith(files, skills.FileName, skillMD)
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mapsWith(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for key, val := range m {
		out[key] = val
	}
	return out
}

func fields(problems []skills.Problem) []string {
	var out []string
	for _, p := range problems {
		out = append(out, p.Field)
	}
	return out
}

func TestValidateValid(t *testing.T) {
	t.Parallel()
	dir := writeSkill(t, t.TempDir(), "pdf-processing", doc(
		"name: pdf-processing",
		"description: Extract text and tables from PDF files. Use when handling PDFs.",
		"license: Apache-2.0",
		"compatibility: Requires poppler-utils",
		"metadata:",
		"  author: example-org",
		`  version: "1.0"`,
		"allowed-tools: Bash(pdftotext:*) Read",
	), map[string]string{"scripts/extract.sh": "#!/bin/sh\n"})
	if problems := skills.Validate(dir); problems != nil {
		t.Fatalf("valid skill: got problems %v", problems)
	}

	s, warnings, err := skills.Load(dir, skills.SourceWorkspace)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("Load: %v, warnings %v", err, warnings)
	}
	if s.Name != "pdf-processing" || s.License != "Apache-2.0" || s.Compatibility != "Requires poppler-utils" ||
		s.Metadata["version"] != "1.0" || s.Metadata["author"] != "example-org" || s.Source != skills.SourceWorkspace {
		t.Errorf("Load: got %+v", s)
	}
	if !slices.Equal(s.AllowedTools, []string{"Bash(pdftotext:*)", "Read"}) {
		t.Errorf("AllowedTools = %q", s.AllowedTools)
	}
	if s.Body() != strings.TrimSpace(body) {
		t.Errorf("Body = %q", s.Body())
	}
	if !filepath.IsAbs(s.Dir) || s.Location() != filepath.Join(dir, "SKILL.md") {
		t.Errorf("Dir %q, Location %q", s.Dir, s.Location())
	}
}

func TestValidateEachRule(t *testing.T) {
	t.Parallel()
	const desc = "description: Does things. Use when things need doing."
	tests := []struct {
		name    string
		folder  string
		content string // SKILL.md; "" means no file
		field   string
		message string // substring of the problem's message
	}{
		{"no SKILL.md", "s", "", "", "SKILL.md is missing"},
		{"no front matter", "s", "# Just markdown\n", "", "front matter"},
		{"front matter not at the start", "s", "\n" + doc("name: s", desc), "", "must start with YAML front matter"},
		{"front matter not closed", "s", "---\nname: s\n" + desc + "\n", "", "not closed"},
		{"invalid YAML", "s", doc("name: s", desc, "license: [unclosed"), "", "not valid YAML"},
		{"colon in plain value", "s", doc("name: s", "description: Use when: the user asks"), "", "not valid YAML"},
		{"empty front matter", "s", "---\n---\n" + body, "", "empty"},
		{"front matter not a mapping", "s", doc("- name: s"), "", "mapping"},
		{"name missing", "s", doc(desc), "name", "required"},
		{"name empty", "s", doc(`name: ""`, desc), "name", "empty"},
		{"name null", "s", doc("name:", desc), "name", "must be a string"},
		{"name a list", "s", doc("name: [s]", desc), "name", "must be a string"},
		{"name a number", "123", doc("name: 123", desc), "name", "quote it"},
		{"name too long", strings.Repeat("a", 65), doc("name: "+strings.Repeat("a", 65), desc), "name", "at most 64"},
		{"name uppercase", "Pdf", doc("name: Pdf", desc), "name", "lowercase"},
		{"name underscore", "pdf_tool", doc("name: pdf_tool", desc), "name", "'_'"},
		{"name space", "pdf tool", doc(`name: "pdf tool"`, desc), "name", "' '"},
		{"name full-width look-alike", "ｐｄｆ", doc("name: ｐｄｆ", desc), "name", "non-ASCII"},
		{"name accented", "café", doc("name: café", desc), "name", "non-ASCII"},
		{"name leading hyphen", "-pdf", doc("name: -pdf", desc), "name", "start or end with a hyphen"},
		{"name trailing hyphen", "pdf-", doc("name: pdf-", desc), "name", "start or end with a hyphen"},
		{"name double hyphen", "pdf--tool", doc("name: pdf--tool", desc), "name", "consecutive hyphens"},
		{"name differs from folder", "other", doc("name: pdf", desc), "name", `folder name "other"`},
		{"name defined twice", "s", doc("name: s", desc, "name: s"), "name", "more than once (line 4)"},
		{"description missing", "s", doc("name: s"), "description", "required"},
		{"description blank", "s", doc("name: s", `description: "   "`), "description", "empty"},
		{"description a mapping", "s", doc("name: s", "description:", "  what: x"), "description", "must be a string"},
		{"description too long", "s", doc("name: s", "description: "+strings.Repeat("d", 1025)), "description", "at most 1024"},
		{"compatibility empty", "s", doc("name: s", desc, `compatibility: ""`), "compatibility", "not be empty"},
		{"compatibility too long", "s", doc("name: s", desc, "compatibility: "+strings.Repeat("c", 501)), "compatibility", "at most 500"},
		{"compatibility a list", "s", doc("name: s", desc, "compatibility: [linux]"), "compatibility", "must be a string"},
		{"license a list", "s", doc("name: s", desc, "license: [MIT]"), "license", "must be a string"},
		{"metadata a string", "s", doc("name: s", desc, "metadata: author"), "metadata", "map of string keys"},
		{"metadata a list", "s", doc("name: s", desc, "metadata: [a, b]"), "metadata", "map of string keys"},
		{"metadata number value", "s", doc("name: s", desc, "metadata:", "  version: 1.0"), "metadata.version", "quote it"},
		{"metadata nested value", "s", doc("name: s", desc, "metadata:", "  deps:", "    a: b"), "metadata.deps", "must be a string"},
		{"metadata number key", "s", doc("name: s", desc, "metadata:", "  1: one"), "metadata.1", "key must be a string"},
		{"allowed-tools a list", "s", doc("name: s", desc, "allowed-tools:", "  - Read"), "allowed-tools", "space-separated string"},
		{"allowed-tools a mapping", "s", doc("name: s", desc, "allowed-tools: {Read: true}"), "allowed-tools", "must be a string"},
		{"unknown field", "s", doc("name: s", desc, "version: 1.0.0"), "version", "not a field of the Agent Skills specification"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writeSkill(t, t.TempDir(), tt.folder, tt.content, nil)
			problems := skills.Validate(dir)
			if len(problems) != 1 {
				t.Fatalf("want one problem, got %d: %v", len(problems), problems)
			}
			p := problems[0]
			if p.Field != tt.field || !strings.Contains(p.Message, tt.message) {
				t.Errorf("got field %q message %q; want field %q message containing %q", p.Field, p.Message, tt.field, tt.message)
			}
			if p.Path == "" || !strings.Contains(p.Error(), p.Message) || (p.Field != "" && !strings.Contains(p.Error(), p.Field+": ")) {
				t.Errorf("Path %q, Error() %q", p.Path, p.Error())
			}
		})
	}
}

func TestValidateNotAFolder(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if p := skills.Validate(filepath.Join(root, "absent")); len(p) != 1 || !strings.Contains(p[0].Message, "does not exist") {
		t.Errorf("absent folder: %v", p)
	}
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if p := skills.Validate(file); len(p) != 1 || !strings.Contains(p[0].Message, "not a folder") {
		t.Errorf("file: %v", p)
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	t.Parallel()
	dir := writeSkill(t, t.TempDir(), "other", doc(
		"name: Bad--Name",
		"description: "+strings.Repeat("d", 1100),
		"compatibility: "+strings.Repeat("c", 600),
		"metadata:",
		"  version: 2",
		"tags: [a, b]",
	), nil)
	problems := skills.Validate(dir)
	got := fields(problems)
	// name: uppercase, consecutive hyphens, folder mismatch.
	want := []string{"name", "name", "name", "description", "compatibility", "metadata.version", "tags"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("fields = %q, want %q\n%v", got, want, problems)
	}
}

func TestLoadLenient(t *testing.T) {
	t.Parallel()
	root := t.TempDir()

	t.Run("name differs from folder", func(t *testing.T) {
		t.Parallel()
		dir := writeSkill(t, root, "folder-name", doc("name: skill-name", "description: Does things."), nil)
		s, warnings, err := skills.Load(dir, skills.SourceUser)
		if err != nil {
			t.Fatal(err)
		}
		if s.Name != "skill-name" || s.Source != skills.SourceUser {
			t.Errorf("got %+v", s)
		}
		if len(warnings) != 1 || !strings.Contains(warnings[0].Message, "folder-name") || !strings.Contains(warnings[0].String(), "SKILL.md") {
			t.Errorf("warnings = %v", warnings)
		}
	})

	t.Run("description too long and unknown field", func(t *testing.T) {
		t.Parallel()
		long := strings.Repeat("d", 2000)
		dir := writeSkill(t, root, "long", doc("name: long", "description: "+long, "user-invocable: true"), nil)
		s, warnings, err := skills.Load(dir, skills.SourceUser)
		if err != nil {
			t.Fatal(err)
		}
		if s.Description != long || len(warnings) != 2 {
			t.Errorf("description len %d, warnings %v", len(s.Description), warnings)
		}
	})

	t.Run("unquoted colon repaired", func(t *testing.T) {
		t.Parallel()
		dir := writeSkill(t, root, "colon", doc("name: colon", "description: Use when: the user asks about PDFs"), nil)
		s, warnings, err := skills.Load(dir, skills.SourceUser)
		if err != nil {
			t.Fatal(err)
		}
		if s.Description != "Use when: the user asks about PDFs" || len(warnings) != 1 || !strings.Contains(warnings[0].Message, "quoting") {
			t.Errorf("description %q, warnings %v", s.Description, warnings)
		}
	})

	t.Run("non-string values read as text", func(t *testing.T) {
		t.Parallel()
		dir := writeSkill(t, root, "loose", doc("name: loose", "description: Does things.",
			"metadata:", "  version: 1.0", "allowed-tools: [Read, Write]"), nil)
		s, warnings, err := skills.Load(dir, skills.SourceUser)
		if err != nil {
			t.Fatal(err)
		}
		if s.Metadata["version"] != "1.0" || !slices.Equal(s.AllowedTools, []string{"Read", "Write"}) || len(warnings) != 2 {
			t.Errorf("metadata %v, tools %v, warnings %v", s.Metadata, s.AllowedTools, warnings)
		}
	})

	for name, content := range map[string]string{
		"no SKILL.md":         "",
		"no front matter":     "# Title\n",
		"unparseable YAML":    doc("name: bad", "description: [unclosed"),
		"missing name":        doc("description: Does things."),
		"missing description": doc("name: nodesc"),
		"blank description":   doc("name: blank", `description: " "`),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := writeSkill(t, t.TempDir(), "x", content, nil)
			s, _, err := skills.Load(dir, skills.SourceUser)
			if !errors.Is(err, skills.ErrUnusable) || s != nil {
				t.Errorf("got %v, %v; want ErrUnusable", s, err)
			}
		})
	}
}

func TestDiscover(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeSkill(t, root, "alpha", doc("name: alpha", "description: First skill."), nil)
	writeSkill(t, root, "beta", doc("name: beta", "description: Second skill."), nil)
	writeSkill(t, root, "broken", "no front matter here\n", nil)
	writeSkill(t, root, "mismatch", doc("name: gamma", "description: Third skill."), nil)
	writeSkill(t, root, ".hidden", doc("name: hidden", "description: Hidden."), nil)
	if err := os.WriteFile(filepath.Join(root, "README.md"), []byte("not a skill"), 0o644); err != nil {
		t.Fatal(err)
	}

	c, warnings := skills.Discover(
		skills.Root{Dir: filepath.Join(root, "does-not-exist"), Source: skills.SourceWorkspace},
		skills.Root{Dir: root, Source: skills.SourceUser},
		skills.Root{},
	)
	if got := c.Names(); !slices.Equal(got, []string{"alpha", "beta", "gamma"}) {
		t.Errorf("Names = %q", got)
	}
	if c.Len() != 3 || len(c.List()) != 3 || c.List()[0].Name != "alpha" {
		t.Errorf("Len %d, List %v", c.Len(), c.List())
	}
	if s, ok := c.Get("gamma"); !ok || s.Dir != filepath.Join(root, "mismatch") || s.Source != skills.SourceUser {
		t.Errorf("Get(gamma) = %+v, %v", s, ok)
	}
	if _, ok := c.Get("broken"); ok {
		t.Error("broken skill was loaded")
	}
	var skipped, mismatch bool
	for _, w := range warnings {
		skipped = skipped || strings.Contains(w.Path, "broken") && strings.Contains(w.Message, "skipped")
		mismatch = mismatch || strings.Contains(w.Message, `"mismatch"`)
	}
	if !skipped || !mismatch || len(warnings) != 2 {
		t.Errorf("warnings = %v", warnings)
	}
}

func TestDiscoverPrecedence(t *testing.T) {
	t.Parallel()
	workspace, user, builtin := t.TempDir(), t.TempDir(), t.TempDir()
	writeSkill(t, workspace, "shared", doc("name: shared", "description: Workspace version."), nil)
	writeSkill(t, user, "shared", doc("name: shared", "description: User version."), nil)
	writeSkill(t, user, "mine", doc("name: mine", "description: User only."), nil)
	writeSkill(t, builtin, "mine", doc("name: mine", "description: Built-in version."), nil)

	c, warnings := skills.Discover(
		skills.Root{Dir: workspace, Source: skills.SourceWorkspace},
		skills.Root{Dir: user, Source: skills.SourceUser},
		skills.Root{Dir: builtin, Source: skills.SourceBuiltin},
	)
	if s, _ := c.Get("shared"); s.Description != "Workspace version." || s.Source != skills.SourceWorkspace {
		t.Errorf("shared = %+v", s)
	}
	if s, _ := c.Get("mine"); s.Description != "User only." || s.Source != skills.SourceUser {
		t.Errorf("mine = %+v", s)
	}
	if len(warnings) != 2 {
		t.Fatalf("warnings = %v", warnings)
	}
	for _, w := range warnings {
		if !strings.Contains(w.String(), "shadowed") {
			t.Errorf("warning %v", w)
		}
	}
	w := warnings[0].String()
	if !strings.Contains(w, filepath.Join(workspace, "shared", "SKILL.md")) || !strings.Contains(w, filepath.Join(user, "shared", "SKILL.md")) {
		t.Errorf("clash warning does not name both locations: %s", w)
	}
}

func TestActivate(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := writeSkill(t, root, "tooling", doc("name: tooling", "description: Has resources."), map[string]string{
		"scripts/run.sh":          "#!/bin/sh\necho hi\n",
		"scripts/lib/helper.sh":   "#!/bin/sh\n",
		"references/REFERENCE.md": "# Ref\n",
		"assets/template.txt":     "tpl",
		"assets/.DS_Store":        "junk",
		"other/ignored.txt":       "not a resource",
		"LICENSE.txt":             "license",
	})
	c, _ := skills.Discover(skills.Root{Dir: root, Source: skills.SourceUser})

	out, err := c.Activate("tooling")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<skill_content name="tooling">`,
		strings.TrimSpace(body),
		"Skill directory: " + dir,
		"<file>scripts/run.sh</file>",
		"<file>scripts/lib/helper.sh</file>",
		"<file>references/REFERENCE.md</file>",
		"<file>assets/template.txt</file>",
		"</skill_content>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Activate output lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"ignored.txt", "LICENSE.txt", ".DS_Store", "echo hi", "name: tooling"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("Activate output contains %q:\n%s", unwanted, out)
		}
	}

	s, _ := c.Get("tooling")
	files, truncated, err := s.Resources()
	want := []string{"assets/template.txt", "references/REFERENCE.md", "scripts/lib/helper.sh", "scripts/run.sh"}
	if err != nil || truncated || !slices.Equal(files, want) {
		t.Errorf("Resources = %q, %v, %v", files, truncated, err)
	}
}

func TestActivateUnknown(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeSkill(t, root, "known", doc("name: known", "description: Known."), nil)
	c, _ := skills.Discover(skills.Root{Dir: root, Source: skills.SourceUser})
	_, err := c.Activate("unknown")
	if !errors.Is(err, skills.ErrUnknownSkill) || !strings.Contains(err.Error(), "known") {
		t.Errorf("err = %v", err)
	}
	var empty *skills.Catalog
	if _, err := empty.Activate("x"); !errors.Is(err, skills.ErrUnknownSkill) {
		t.Errorf("nil catalog: err = %v", err)
	}
}

func TestMissing(t *testing.T) {
	t.Parallel()
	dir := writeSkill(t, t.TempDir(), "needy", doc("name: needy", "description: Needs things.",
		"metadata:", "  requires-bins: git, jq  docker", "  requires-env: GITHUB_TOKEN,HOME"), nil)
	s, _, err := skills.Load(dir, skills.SourceUser)
	if err != nil {
		t.Fatal(err)
	}
	bins, env := s.Requires()
	if !slices.Equal(bins, []string{"git", "jq", "docker"}) || !slices.Equal(env, []string{"GITHUB_TOKEN", "HOME"}) {
		t.Errorf("Requires = %q, %q", bins, env)
	}
	lookPath := func(name string) (string, error) {
		if name == "git" {
			return "/usr/bin/git", nil
		}
		return "", errors.New("not found")
	}
	getenv := func(name string) string {
		if name == "HOME" {
			return "/home/u"
		}
		return ""
	}
	got := s.Missing(lookPath, getenv)
	if want := []string{"binary jq", "binary docker", "env GITHUB_TOKEN"}; !slices.Equal(got, want) {
		t.Errorf("Missing = %q, want %q", got, want)
	}
	everything := func(string) (string, error) { return "/bin/x", nil }
	if got := s.Missing(everything, func(string) string { return "set" }); got != nil {
		t.Errorf("Missing with everything present = %q", got)
	}
	plain := &skills.Skill{Name: "plain"}
	if got := plain.Missing(nil, nil); got != nil {
		t.Errorf("no requirements: Missing = %q", got)
	}
}

func TestPrompt(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeSkill(t, root, "alpha", doc("name: alpha", "description: Use for <alpha> & friends."), nil)
	writeSkill(t, root, "beta", doc("name: beta", "description: Second skill."), nil)
	c, _ := skills.Discover(skills.Root{Dir: root, Source: skills.SourceUser})

	p := c.Prompt()
	for _, want := range []string{
		"activate_skill",
		"<available_skills>",
		"<name>alpha</name>",
		"<description>Use for &lt;alpha&gt; &amp; friends.</description>",
		"<location>" + filepath.Join(root, "alpha", "SKILL.md") + "</location>",
		"<name>beta</name>",
		"<description>Second skill.</description>",
	} {
		if !strings.Contains(p, want) {
			t.Errorf("Prompt lacks %q:\n%s", want, p)
		}
	}
	if strings.Index(p, "alpha") > strings.Index(p, "beta") {
		t.Error("Prompt is not sorted by name")
	}

	empty, warnings := skills.Discover(skills.Root{Dir: t.TempDir(), Source: skills.SourceUser})
	if empty.Prompt() != "" || len(warnings) != 0 {
		t.Errorf("empty catalog: Prompt %q, warnings %v", empty.Prompt(), warnings)
	}
	var none *skills.Catalog
	if none.Prompt() != "" || none.List() != nil || none.Len() != 0 {
		t.Error("nil catalog is not empty")
	}
}
