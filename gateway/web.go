package gateway

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/web"
)

// webHandler serves the embedded dashboard: files as they are (gzip
// compressed when the client accepts it), any other path the app's
// index.html (the app routes on the client), and, when the dashboard was
// not built into this binary, a page saying how to build it.
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
	gz := compressDist(dist)
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
				if serveGzip(w, r, gz, name, start) {
					return
				}
				files.ServeHTTP(w, r)
				return
			}
			if strings.HasPrefix(name, "assets/") || path.Ext(name) != "" {
				http.NotFound(w, r)
				return
			}
		}
		w.Header().Set("Cache-Control", "no-cache")
		if serveGzip(w, r, gz, "index.html", start) {
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		http.ServeContent(w, r, "index.html", start, bytes.NewReader(index))
	})
}

// compressible are the kinds of files worth compressing (images and fonts
// are compressed already).
var compressible = map[string]bool{".html": true, ".js": true, ".mjs": true, ".css": true, ".svg": true, ".json": true, ".txt": true, ".map": true, ".webmanifest": true}

// compressDist gzips the dashboard's text files once, when the gateway
// starts (a few milliseconds for the whole bundle), and keeps them by
// name: the embedded files never change while the process runs.
func compressDist(dist fs.FS) map[string][]byte {
	out := map[string][]byte{}
	_ = fs.WalkDir(dist, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !compressible[path.Ext(name)] {
			return nil
		}
		raw, err := fs.ReadFile(dist, name)
		if err != nil {
			return nil
		}
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		if _, err := zw.Write(raw); err != nil || zw.Close() != nil {
			return nil
		}
		if b.Len() < len(raw) {
			out[name] = b.Bytes()
		}
		return nil
	})
	return out
}

// serveGzip answers with the compressed copy of name when there is one
// and the client accepts gzip; it reports whether it answered.
func serveGzip(w http.ResponseWriter, r *http.Request, gz map[string][]byte, name string, modtime time.Time) bool {
	w.Header().Add("Vary", "Accept-Encoding")
	body, ok := gz[name]
	if !ok || !acceptsGzip(r.Header.Get("Accept-Encoding")) {
		return false
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Encoding", "gzip")
	// Ranges would be of the compressed bytes; answer whole files only.
	r.Header.Del("Range")
	http.ServeContent(w, r, name, modtime, bytes.NewReader(body))
	return true
}

// acceptsGzip reads an Accept-Encoding header: gzip listed without q=0,
// or, when gzip is not listed, * without q=0.
func acceptsGzip(header string) bool {
	gzipQ, anyQ := -1.0, -1.0
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		if coding == "gzip" {
			gzipQ = q
		} else {
			anyQ = q
		}
	}
	return gzipQ > 0 || (gzipQ < 0 && anyQ > 0)
}
