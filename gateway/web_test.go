package gateway

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/viberhq/viber/web"
)

func TestAcceptsGzip(t *testing.T) {
	t.Parallel()
	for header, want := range map[string]bool{
		"":                        false,
		"gzip":                    true,
		"gzip, deflate, br, zstd": true,
		"br;q=1.0, gzip;q=0.8":    true,
		"GZIP":                    true,
		"identity":                false,
		"gzip;q=0":                false,
		"*":                       true,
		"*, gzip;q=0":             false,
		"deflate, *;q=0":          false,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}

// TestDashboardGzip checks that the dashboard's bundle goes out gzip
// compressed to a client that accepts it, and as it is to one that does
// not.
func TestDashboardGzip(t *testing.T) {
	t.Parallel()
	dist, ok := web.Dist()
	if !ok {
		t.Skip("the dashboard is not built into this binary: run `make web`, then rerun the test")
	}
	var js string
	_ = fs.WalkDir(dist, "assets", func(name string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(name, ".js") {
			js = name
		}
		return nil
	})
	if js == "" {
		t.Fatal("the built dashboard has no JavaScript bundle under assets/")
	}
	raw, err := fs.ReadFile(dist, js)
	if err != nil {
		t.Fatal(err)
	}
	h := (&Gateway{}).webHandler()
	get := func(path, accept string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}

	w := get("/"+js, "gzip, deflate, br")
	if w.Code != 200 || w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("GET /%s accepting gzip: %d, Content-Encoding %q", js, w.Code, w.Header().Get("Content-Encoding"))
	}
	if ct := w.Header().Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("compressed bundle has Content-Type %q", ct)
	}
	if !strings.Contains(w.Header().Get("Vary"), "Accept-Encoding") {
		t.Errorf("compressed bundle lacks Vary: Accept-Encoding (%v)", w.Header())
	}
	compressed := w.Body.Len()
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, raw) {
		t.Fatalf("the bundle decompressed is %d bytes, the file %d", len(got), len(raw))
	}
	if w.Body.Len() != 0 {
		t.Fatalf("%d bytes after the gzip stream", w.Body.Len())
	}
	t.Logf("%s: %d bytes, %d compressed", js, len(raw), compressed)

	for _, accept := range []string{"", "identity", "gzip;q=0"} {
		w := get("/"+js, accept)
		if w.Code != 200 || w.Header().Get("Content-Encoding") != "" || !bytes.Equal(w.Body.Bytes(), raw) {
			t.Errorf("GET /%s with Accept-Encoding %q: %d, Content-Encoding %q, %d bytes (file %d)", js, accept, w.Code, w.Header().Get("Content-Encoding"), w.Body.Len(), len(raw))
		}
	}

	// The app's page, for any route, compressed too.
	w = get("/tasks/01ABC", "gzip")
	if w.Code != 200 || w.Header().Get("Content-Encoding") != "gzip" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Errorf("GET /tasks/01ABC accepting gzip: %d, %v", w.Code, w.Header())
	}
}
