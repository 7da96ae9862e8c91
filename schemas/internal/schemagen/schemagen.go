// Package schemagen builds the JSON Schema files of package schemas from the
// Go event types of package bus. It lives apart from package schemas so that
// the generator builds even when the generated files are missing (package
// schemas embeds them).
package schemagen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/viberhq/viber/bus"
)

// BaseURL prefixes the $id of every schema file.
const BaseURL = "https://viber.dev/schemas/"

// AnyEventFile is the schema matching an event of any task event type.
const AnyEventFile = "viber.task.event.json"

// subjectPattern mirrors bus.ValidToken: a task id is a NATS subject token.
const subjectPattern = "^[A-Za-z0-9_-]{1,64}$"

// FileName is the schema file of events of type t.
func FileName(t bus.Type) string { return string(t) + ".json" }

// Generate returns every schema file, by file name. The output is
// deterministic: 2-space indented JSON with a trailing newline.
//
// Descriptions come from the doc comments of package bus, read from its
// source next to this package's; Generate fails when that source is not on
// disk (a binary built elsewhere or with -trimpath).
func Generate() (map[string][]byte, error) {
	comments, err := busComments()
	if err != nil {
		return nil, err
	}
	g := generator{comments: comments}

	files := make(map[string][]byte)
	anyEvent := &jsonschema.Schema{
		Version: jsonschema.Version,
		ID:      jsonschema.ID(BaseURL + AnyEventFile),
		Title:   "viber task event",
		Description: "Any viber task event: a CloudEvents 1.0 envelope whose type " +
			"selects the schema of the whole event (one of the viber.task.*.json schemas, " +
			"inlined under $defs).",
		Type:        "object",
		Properties:  jsonschema.NewProperties(),
		Required:    []string{"type"},
		Definitions: jsonschema.Definitions{},
	}
	var types []any
	for _, p := range bus.AllTypes() {
		t := p.EventType()
		env, err := g.envelope(p)
		if err != nil {
			return nil, err
		}
		b, err := encode(env)
		if err != nil {
			return nil, fmt.Errorf("encode %s schema: %w", t, err)
		}
		files[FileName(t)] = b

		// The same schema, minus its identity, is one case of the
		// any-event schema. Dropping $id keeps the bundle free of
		// resources that clash with the per-type files.
		def := *env
		def.Version, def.ID = "", ""
		anyEvent.Definitions[string(t)] = &def
		anyEvent.AllOf = append(anyEvent.AllOf, &jsonschema.Schema{
			If:   typeIs(t),
			Then: &jsonschema.Schema{Ref: "#/$defs/" + string(t)},
		})
		types = append(types, string(t))
	}
	anyEvent.Properties.Set("type", &jsonschema.Schema{
		Type:        "string",
		Enum:        types,
		Description: "Type names the payload; it selects the schema in $defs.",
	})
	b, err := encode(anyEvent)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", AnyEventFile, err)
	}
	files[AnyEventFile] = b
	return files, nil
}

type generator struct {
	comments map[string]string
}

func (g generator) reflector(allowAdditional bool) *jsonschema.Reflector {
	return &jsonschema.Reflector{
		Anonymous:                 true,
		DoNotReference:            true,
		AllowAdditionalProperties: allowAdditional,
		CommentMap:                g.comments,
	}
}

// envelope is the schema of a whole event carrying payload p.
func (g generator) envelope(p bus.Payload) (*jsonschema.Schema, error) {
	t := p.EventType()
	// Payloads stay open (forward compatibility, see doc.go); the
	// envelope is closed.
	data := g.reflector(true).Reflect(p)
	data.Version = ""
	env := g.reflector(false).Reflect(&bus.Event{})

	set := func(name string, f func(*jsonschema.Schema)) error {
		s, ok := env.Properties.Get(name)
		if !ok {
			return fmt.Errorf("bus.Event has no %q attribute; update schemagen", name)
		}
		f(s)
		return nil
	}
	one := uint64(1)
	edits := []struct {
		name string
		f    func(*jsonschema.Schema)
	}{
		{"specversion", func(s *jsonschema.Schema) { s.Const = bus.SpecVersion }},
		{"id", func(s *jsonschema.Schema) { s.MinLength = &one }},
		{"type", func(s *jsonschema.Schema) { s.Const = string(t) }},
		{"source", func(s *jsonschema.Schema) { s.MinLength = &one }},
		{"subject", func(s *jsonschema.Schema) { s.Pattern = subjectPattern }},
		{"time", func(s *jsonschema.Schema) {
			if s.Format != "date-time" {
				s.Type, s.Format = "string", "date-time"
			}
		}},
		{"datacontenttype", func(s *jsonschema.Schema) { s.Const = bus.ContentType }},
		{"seq", func(s *jsonschema.Schema) { s.Type, s.Minimum = "integer", "1" }},
		{"data", func(s *jsonschema.Schema) { *s = *data }},
	}
	for _, e := range edits {
		if err := set(e.name, e.f); err != nil {
			return nil, err
		}
	}
	if n := env.Properties.Len(); n != len(edits) {
		return nil, fmt.Errorf("bus.Event has %d attributes, schemagen knows %d; update schemagen", n, len(edits))
	}

	env.Version = jsonschema.Version
	env.ID = jsonschema.ID(BaseURL + FileName(t))
	env.Title = string(t)
	env.Description = fmt.Sprintf("A %s event: a CloudEvents 1.0 envelope in structured JSON mode. Its data: %s",
		t, data.Description)
	return env, nil
}

// typeIs matches an event whose type is t.
func typeIs(t bus.Type) *jsonschema.Schema {
	s := &jsonschema.Schema{Properties: jsonschema.NewProperties()}
	s.Properties.Set("type", &jsonschema.Schema{Const: string(t)})
	return s
}

// encode writes s as 2-space indented JSON with a trailing newline, without
// escaping <, > and & (descriptions quote things like "vibergw/<id>").
func encode(s *jsonschema.Schema) ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(unescapeHTML(b), '\n'), nil
}

// unescapeHTML undoes encoding/json's \u003c, \u003e and \u0026 escapes.
// Every backslash in JSON text starts an escape, so escapes are walked pair
// by pair and an escaped backslash is never mistaken for the start of one.
func unescapeHTML(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			out = append(out, b[i])
			continue
		}
		if b[i+1] == 'u' && i+6 <= len(b) {
			switch string(b[i+2 : i+6]) {
			case "003c":
				out = append(out, '<')
				i += 5
				continue
			case "003e":
				out = append(out, '>')
				i += 5
				continue
			case "0026":
				out = append(out, '&')
				i += 5
				continue
			}
		}
		out = append(out, b[i], b[i+1])
		i++
	}
	return out
}

// busComments reads the doc comments of package bus's exported types and
// their fields, keyed the way jsonschema.Reflector.CommentMap wants them:
// "<import path>.<Type>" and "<import path>.<Type>.<Field>". Types get their
// whole comment, as plain text with one line per paragraph.
func busComments() (map[string]string, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return nil, fmt.Errorf("schemagen: cannot locate its own source")
	}
	dir := filepath.Join(filepath.Dir(self), "..", "..", "..", "bus")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("schemagen: the bus package source is needed for descriptions: %w", err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("schemagen: %w", err)
		}
		files = append(files, f)
	}
	pkgPath := reflect.TypeFor[bus.Event]().PkgPath()
	pkg, err := doc.NewFromFiles(fset, files, pkgPath)
	if err != nil {
		return nil, fmt.Errorf("schemagen: %w", err)
	}

	m := make(map[string]string)
	for _, t := range pkg.Types {
		if txt := plain(pkg, t.Doc); txt != "" {
			m[pkgPath+"."+t.Name] = txt
		}
		for _, spec := range t.Decl.Specs {
			ts, ok := spec.(*ast.TypeSpec)
			if !ok || ts.Name.Name != t.Name {
				continue
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			for _, f := range st.Fields.List {
				txt := f.Doc.Text()
				if txt == "" {
					txt = f.Comment.Text()
				}
				txt = plain(pkg, txt)
				if txt == "" {
					continue
				}
				for _, n := range f.Names {
					if n.IsExported() {
						m[pkgPath+"."+t.Name+"."+n.Name] = txt
					}
				}
			}
		}
	}
	return m, nil
}

// plain renders a doc comment as text: doc links lose their brackets and
// each paragraph is one line.
func plain(pkg *doc.Package, text string) string {
	if strings.TrimSpace(text) == "" {
		return ""
	}
	p := pkg.Printer()
	p.TextWidth = -1
	return string(bytes.TrimSpace(p.Text(pkg.Parser().Parse(text))))
}
