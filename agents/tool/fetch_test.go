package tool

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func fetchArgs(u string) obj { return obj{"url": u} }

func TestWebFetchRefusesLoopbackByDefault(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "secret intranet page")
	}))
	t.Cleanup(srv.Close)
	f := setup(t, Options{})
	u, _ := url.Parse(srv.URL)
	for _, target := range []string{
		srv.URL,
		"http://localhost:" + u.Port() + "/",
		"http://[::ffff:127.0.0.1]:" + u.Port() + "/",
		"http://0.0.0.0:" + u.Port() + "/",
	} {
		r := f.call("web_fetch", fetchArgs(target))
		if !r.IsError || !strings.Contains(r.Output, "refused") || strings.Contains(r.Output, "intranet") {
			t.Errorf("web_fetch(%s) = %+v, want refusal", target, r)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("server was reached %d times", n)
	}
	r := f.call("web_fetch", fetchArgs(srv.URL))
	if !strings.Contains(r.Output, "loopback") {
		t.Errorf("reason not given: %q", r.Output)
	}
}

func TestWebFetchAllowPrivate(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/page":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!DOCTYPE html><html><head><title>Viber &amp; Co</title>
<style>body { color: red }</style><script>var secret = "js";</script></head>
<body><!-- a comment --><h1>Hello</h1><p>First   paragraph
with <b>bold</b> and a <a href="/docs?x=1&amp;y=2">link</a>.</p>
<ul><li>one</li><li>two</li></ul><pre>  keep
    indent</pre><p>5 &lt; 6 &nbsp;ok</p></body></html>`)
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"ok":true}`)
		case "/png":
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte("\x89PNG\r\n\x1a\n\x00\x00"))
		case "/missing":
			http.NotFound(w, r)
		case "/redirect":
			http.Redirect(w, r, "/json", http.StatusFound)
		}
	}))
	t.Cleanup(srv.Close)
	f := setup(t, Options{AllowPrivateNetworks: true})

	r := f.call("web_fetch", fetchArgs(srv.URL+"/page"))
	if r.IsError {
		t.Fatal(r.Output)
	}
	for _, want := range []string{
		"Status: 200 OK", "Content-Type: text/html; charset=utf-8", "Title: Viber & Co",
		"# Hello", "First paragraph with bold and a link (" + srv.URL + "/docs?x=1&y=2).",
		"- one\n- two", "  keep\n    indent", "5 < 6 ok",
	} {
		if !strings.Contains(r.Output, want) {
			t.Errorf("page output lacks %q:\n%s", want, r.Output)
		}
	}
	for _, bad := range []string{"color: red", "secret", "comment", "<p>"} {
		if strings.Contains(r.Output, bad) {
			t.Errorf("page output contains %q:\n%s", bad, r.Output)
		}
	}

	r = f.call("web_fetch", fetchArgs(srv.URL+"/json"))
	if r.IsError || !strings.HasSuffix(r.Output, "\n\n{\"ok\":true}") {
		t.Errorf("json: %+v", r)
	}
	r = f.call("web_fetch", fetchArgs(srv.URL+"/png"))
	if r.IsError || !strings.Contains(r.Output, "binary content not shown") || strings.Contains(r.Output, "PNG") {
		t.Errorf("png: %+v", r)
	}
	r = f.call("web_fetch", fetchArgs(srv.URL+"/missing"))
	if !r.IsError || !strings.Contains(r.Output, "404") {
		t.Errorf("404: %+v", r)
	}
	r = f.call("web_fetch", fetchArgs(srv.URL+"/redirect"))
	if r.IsError || !strings.Contains(r.Output, "URL: "+srv.URL+"/json") || !strings.Contains(r.Output, `{"ok":true}`) {
		t.Errorf("redirect: %+v", r)
	}
}

func TestWebFetchRedirectToLoopbackRefused(t *testing.T) {
	t.Parallel()
	var internalHits atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		fmt.Fprint(w, "cloud metadata credentials")
	}))
	t.Cleanup(internal.Close)
	public := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			fmt.Fprint(w, "public page")
			return
		}
		http.Redirect(w, r, internal.URL+"/latest/meta-data", http.StatusFound)
	}))
	t.Cleanup(public.Close)

	// Both servers listen on loopback; pretend the "public" one is public
	// by letting the address check pass for its port only. The check is the
	// same hook the dialer runs for every connection, redirects included.
	publicPort := mustPort(t, public.URL)
	wf := newWebFetch(Options{}.withDefaults())
	wf.checkAddr = func(ap netip.AddrPort) error {
		if ap.Port() == publicPort {
			return nil
		}
		return wf.defaultCheck(ap)
	}

	r := wf.Call(context.Background(), []byte(`{"url":"`+public.URL+`/ok"}`))
	if r.IsError || !strings.Contains(r.Output, "public page") {
		t.Fatalf("allowed server: %+v", r)
	}
	r = wf.Call(context.Background(), []byte(`{"url":"`+public.URL+`/go"}`))
	if !r.IsError || !strings.Contains(r.Output, "refused") || !strings.Contains(r.Output, "redirect") || strings.Contains(r.Output, "credentials") {
		t.Fatalf("redirect to loopback: %+v", r)
	}
	if n := internalHits.Load(); n != 0 {
		t.Fatalf("internal server was reached %d times", n)
	}
}

func mustPort(t *testing.T, raw string) uint16 {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	ap, err := netip.ParseAddrPort(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	return ap.Port()
}

func TestWebFetchSchemes(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{AllowPrivateNetworks: true})
	for _, u := range []string{"ftp://example.com/file", "file:///etc/passwd", "gopher://x", "javascript:alert(1)", "/relative", "example.com", "", "http://"} {
		r := f.call("web_fetch", fetchArgs(u))
		if !r.IsError || strings.Contains(r.Output, "root:") {
			t.Errorf("web_fetch(%q) = %+v, want error", u, r)
		}
	}
	r := f.call("web_fetch", fetchArgs("file:///etc/passwd"))
	if !strings.Contains(r.Output, "only fetches http and https") {
		t.Errorf("file:// message: %q", r.Output)
	}

	// A redirect to another scheme is refused too.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	r = f.call("web_fetch", fetchArgs(srv.URL))
	if !r.IsError || strings.Contains(r.Output, "root:") {
		t.Errorf("redirect to file://: %+v", r)
	}
}

func TestWebFetchSizeCap(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "BEGIN")
		fmt.Fprint(w, strings.Repeat("x", 1<<20))
	}))
	t.Cleanup(srv.Close)
	f := setup(t, Options{AllowPrivateNetworks: true, MaxFetchBytes: 1000})
	r := f.call("web_fetch", fetchArgs(srv.URL))
	if r.IsError || !r.Truncated || !strings.Contains(r.Output, "BEGIN") || !strings.Contains(r.Output, "[body cut at 1000 bytes]") || len(r.Output) > 1200 {
		t.Fatalf("cap: truncated=%v len=%d %q", r.Truncated, len(r.Output), r.Output[:min(200, len(r.Output))])
	}
	f2 := setup(t, Options{AllowPrivateNetworks: true, MaxOutputBytes: 500})
	r = f2.call("web_fetch", fetchArgs(srv.URL))
	if !r.Truncated || len(r.Output) > 700 {
		t.Fatalf("output cap: truncated=%v len=%d", r.Truncated, len(r.Output))
	}
}

func TestWebFetchTimeoutAndCancel(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })

	f := setup(t, Options{AllowPrivateNetworks: true, FetchTimeout: 300 * time.Millisecond})
	start := time.Now()
	r := f.call("web_fetch", fetchArgs(srv.URL))
	if !r.IsError || !strings.Contains(r.Output, "timed out") || time.Since(start) > 3*time.Second {
		t.Fatalf("timeout: %+v after %v", r, time.Since(start))
	}

	f2 := setup(t, Options{AllowPrivateNetworks: true})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start = time.Now()
	r = f2.callCtx(ctx, "web_fetch", fetchArgs(srv.URL))
	if !r.IsError || !strings.Contains(r.Output, "cancelled") || time.Since(start) > 3*time.Second {
		t.Fatalf("cancel: %+v after %v", r, time.Since(start))
	}
}

func TestNonPublic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true}, {"127.1.2.3", true}, {"::1", true}, {"10.0.0.1", true},
		{"172.16.5.4", true}, {"192.168.1.1", true}, {"169.254.169.254", true},
		{"fe80::1", true}, {"fc00::1", true}, {"0.0.0.0", true}, {"::", true},
		{"224.0.0.1", true}, {"ff02::1", true}, {"100.64.0.1", true},
		{"255.255.255.255", true}, {"::ffff:127.0.0.1", true}, {"::ffff:10.0.0.1", true},
		{"64:ff9b::7f00:1", true}, {"0.1.2.3", true},
		{"8.8.8.8", false}, {"1.1.1.1", false}, {"2606:4700:4700::1111", false},
		{"64:ff9b::808:808", false}, {"93.184.216.34", false},
	} {
		got := nonPublic(netip.MustParseAddr(tc.addr)) != ""
		if got != tc.want {
			t.Errorf("nonPublic(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	wf := newWebFetch(Options{}.withDefaults())
	if err := wf.defaultCheck(netip.MustParseAddrPort("127.0.0.1:80")); !errors.Is(err, ErrBlockedAddress) {
		t.Errorf("defaultCheck = %v", err)
	}
}
