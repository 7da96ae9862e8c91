package schemas

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/schemas/internal/schemagen"
)

// BaseURL prefixes the $id of every schema: the $id of the schema of type T
// is BaseURL + T + ".json".
const BaseURL = schemagen.BaseURL

// AnyEventFile is the name of the schema matching an event of any task
// event type.
const AnyEventFile = schemagen.AnyEventFile

//go:embed *.json
var files embed.FS

// FS holds the generated schema files, by file name, at its root.
var FS fs.FS = files

// FileName returns the name of the schema file of events of type t, such as
// "viber.task.started.json".
func FileName(t bus.Type) string { return schemagen.FileName(t) }

// URL returns the $id of the schema of events of type t.
func URL(t bus.Type) string { return BaseURL + FileName(t) }

// File returns the schema of events of type t. An unknown type gives an
// error matching [bus.ErrUnknownType].
func File(t bus.Type) ([]byte, error) {
	if !t.Known() {
		return nil, fmt.Errorf("schemas: %w %q", bus.ErrUnknownType, t)
	}
	b, err := fs.ReadFile(FS, FileName(t))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("schemas: no schema for %s: run `go generate ./schemas`: %w", t, err)
	}
	return b, err
}

// Generate builds every schema file from the bus types and returns them by
// file name; the bytes are what `go generate ./schemas` writes. It reads the
// doc comments of package bus from its source, so it needs the module's
// source tree (it is meant for the generator and for tests).
func Generate() (map[string][]byte, error) { return schemagen.Generate() }
