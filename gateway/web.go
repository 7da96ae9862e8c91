package gateway

import (
	"bytes"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/web"
)

// webHandler serves the embedded dashboard: files as they are, any other
// path the app's index.html (the app routes on the client), and, when the
// dashboard was not built into this binary, a page saying how to build it.
func (g *Gateway) webHandler() http.Handler {
	dist, ok := web.Dist()
	if !ok {
		page := web.Missing()
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				writeJSONError(w, http.StatusMethodNotAllowed, bus.CodeNoEndpoint, "use GET")
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(page)
		})
	}
	index, _ := fs.ReadFile(dist, "index.html")
	files := http.FileServerFS(dist)
	start := time.Now()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeJSONError(w, http.StatusMethodNotAllowed, bus.CodeNoEndpoint, "use GET")
			return
		}
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name != "" && name != "index.html" {
			if st, err := fs.Stat(dist, name); err == nil && !st.IsDir() {
				if strings.HasPrefix(name, "assets/") {
					// Vite puts a content hash in these names.
					w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
				}
				files.ServeHTTP(w, r)
				return
			}
			if strings.HasPrefix(name, "assets/") || path.Ext(name) != "" {
				http.NotFound(w, r)
				return
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "index.html", start, bytes.NewReader(index))
	})
}
