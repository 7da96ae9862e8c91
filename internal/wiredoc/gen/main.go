// Command gen writes docs/wire.md from the registry of package bus. It runs
// from `go generate ./internal/wiredoc`, in that directory.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/viberhq/viber/internal/wiredoc"
)

func main() {
	out := flag.String("out", "../../"+wiredoc.Path, "file to write the page to")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	page, err := wiredoc.Render()
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(out); err == nil && bytes.Equal(old, page) {
		return nil
	}
	if err := os.WriteFile(out, page, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}
