// Command gen writes the JSON Schema files of package schemas. It runs from
// `go generate ./schemas`, in the schemas directory.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/viberhq/viber/schemas/internal/schemagen"
)

func main() {
	dir := flag.String("dir", ".", "directory to write the schema files to")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	files, err := schemagen.Generate()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path := filepath.Join(dir, name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, files[name]) {
			continue
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return err
		}
	}
	// Remove the schemas of event types that no longer exist.
	stale, err := filepath.Glob(filepath.Join(dir, "viber.*.json"))
	if err != nil {
		return err
	}
	for _, path := range stale {
		if _, ok := files[filepath.Base(path)]; !ok && strings.HasSuffix(path, ".json") {
			if err := os.Remove(path); err != nil {
				return err
			}
		}
	}
	return nil
}
