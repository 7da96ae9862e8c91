// Package web holds the dashboard: a Svelte + TypeScript + Vite app whose
// built files (web/dist, made by `make web`) are embedded into the gateway.
//
// web/dist is not committed. So that a fresh clone still builds, the embed
// pattern "dist*" also matches the committed dist-missing.html, which the
// gateway serves when the app was not built.
package web

import (
	"embed"
	"io/fs"
)

//go:embed dist*
var files embed.FS

// MissingPage is the page served when the dashboard was not built.
const MissingPage = "dist-missing.html"

// Dist returns the built dashboard (index.html at its root) and whether it
// exists in this binary.
func Dist() (fs.FS, bool) {
	sub, err := fs.Sub(files, "dist")
	if err != nil {
		return nil, false
	}
	if _, err := fs.Stat(sub, "index.html"); err != nil {
		return nil, false
	}
	return sub, true
}

// Missing returns the page that says how to build the dashboard.
func Missing() []byte {
	b, _ := files.ReadFile(MissingPage)
	return b
}
