package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/viberhq/viber/internal/netguard"
)

// ErrBlockedAddress is wrapped by the dial error web_fetch gets when a
// host resolves to an address it may not reach (loopback, private,
// link-local, multicast, unspecified or otherwise non-public).
var ErrBlockedAddress = netguard.ErrBlockedAddress

const maxRedirects = 10

type webFetch struct {
	o      Options
	client *http.Client
	// checkAddr decides whether a connection to addr may be made; it runs
	// in the dialer's Control hook, after name resolution, for every
	// connection including those of redirects. Tests replace it.
	checkAddr func(addr netip.AddrPort) error
}

func newWebFetch(o Options) *webFetch {
	t := &webFetch{o: o}
	t.checkAddr = t.defaultCheck
	dialer := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: cannot parse %q: %v", ErrBlockedAddress, address, err)
			}
			return t.checkAddr(ap)
		},
	}
	tr := &http.Transport{
		// No proxy: a proxy would resolve the name itself and defeat the
		// address check.
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        16,
		IdleConnTimeout:     30 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		// The whole fetch is bounded by FetchTimeout through the context.
	}
	t.client = &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to %s refused: only http and https are allowed", req.URL.Redacted())
			}
			return nil
		},
	}
	return t
}

func (t *webFetch) defaultCheck(ap netip.AddrPort) error {
	if t.o.AllowPrivateNetworks {
		return nil
	}
	if why := nonPublic(ap.Addr()); why != "" {
		return fmt.Errorf("%w: %s is a %s address", ErrBlockedAddress, ap.Addr(), why)
	}
	return nil
}

// nonPublic names the kind of a non-public address, or returns "".
func nonPublic(a netip.Addr) string { return netguard.NonPublic(a) }

type webFetchArgs struct {
	URL string `json:"url"`
}

func (*webFetch) Name() string { return "web_fetch" }

func (t *webFetch) Description() string {
	return fmt.Sprintf("Fetch a web page or file with an HTTP GET and return its status, content type and "+
		"body as text (HTML is reduced to readable text with link targets in parentheses). Only http and "+
		"https URLs on the public internet are allowed; at most %d bytes are downloaded and the call gives up "+
		"after %s. Binary content is not shown.", t.o.MaxFetchBytes, t.o.FetchTimeout)
}

func (*webFetch) Parameters() map[string]any {
	return schema(map[string]any{
		"url": map[string]any{"type": "string", "format": "uri", "description": "Absolute http or https URL."},
	}, "url")
}

func (t *webFetch) Call(ctx context.Context, raw json.RawMessage) Result {
	var a webFetchArgs
	if r, ok := decodeArgs(raw, &a); !ok {
		return r
	}
	if strings.TrimSpace(a.URL) == "" {
		return Errorf("url is required")
	}
	u, err := url.Parse(strings.TrimSpace(a.URL))
	if err != nil {
		return Errorf("invalid url: %v", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	case "":
		return Errorf("invalid url %q: give an absolute http:// or https:// URL", a.URL)
	default:
		return Errorf("refused: scheme %q is not allowed; web_fetch only fetches http and https URLs", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return Errorf("invalid url %q: no host", a.URL)
	}

	ctx, cancel := context.WithTimeout(ctx, t.o.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Errorf("invalid url: %v", err)
	}
	req.Header.Set("User-Agent", "Viber-web_fetch/1.0")
	req.Header.Set("Accept", "text/html, text/plain;q=0.9, application/json;q=0.9, */*;q=0.5")
	resp, err := t.client.Do(req)
	if err != nil {
		return t.fetchError(ctx, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, t.o.MaxFetchBytes+1))
	if err != nil && len(body) == 0 {
		return t.fetchError(ctx, u, err)
	}
	cutBody := int64(len(body)) > t.o.MaxFetchBytes
	if cutBody {
		body = body[:t.o.MaxFetchBytes]
	}

	var head strings.Builder
	if final := resp.Request.URL.String(); final != u.String() {
		fmt.Fprintf(&head, "URL: %s\n", resp.Request.URL.Redacted())
	}
	fmt.Fprintf(&head, "Status: %s\n", resp.Status)
	ct := resp.Header.Get("Content-Type")
	if ct == "" && len(body) > 0 {
		ct = http.DetectContentType(body)
	}
	fmt.Fprintf(&head, "Content-Type: %s\n", ct)

	mt, params, _ := mime.ParseMediaType(ct)
	var content string
	switch {
	case len(body) == 0:
		content = "[empty body]"
	case mt == "text/html" || mt == "application/xhtml+xml":
		title, txt := htmlToText(decodeCharset(body, params["charset"]), resp.Request.URL)
		if title != "" {
			fmt.Fprintf(&head, "Title: %s\n", title)
		}
		content = txt
	case isTextual(mt) || mt == "" && utf8.Valid(body):
		content = decodeCharset(body, params["charset"])
	default:
		content = fmt.Sprintf("[binary content not shown: %s, %d bytes]", mt, len(body))
	}

	res := Result{IsError: resp.StatusCode >= 400}
	out := head.String() + "\n" + content
	if len(out) > t.o.MaxOutputBytes {
		out = clip(out, t.o.MaxOutputBytes)
		res.Truncated = true
	}
	if cutBody {
		res.Truncated = true
		out += fmt.Sprintf("\n[body cut at %d bytes]", t.o.MaxFetchBytes)
	} else if res.Truncated {
		out += fmt.Sprintf("\n[text cut at %d bytes]", t.o.MaxOutputBytes)
	}
	if err != nil {
		out += fmt.Sprintf("\n[reading the body failed part way: %v]", err)
		res.IsError = true
	}
	res.Output = out
	return res
}

func (t *webFetch) fetchError(ctx context.Context, u *url.URL, err error) Result {
	where := u.Redacted()
	var ue *url.Error
	if errors.As(err, &ue) && ue.URL != u.String() {
		where = ue.URL + " (after a redirect from " + u.Redacted() + ")"
	}
	switch {
	case errors.Is(err, ErrBlockedAddress):
		var why error = err
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			why = oe.Err
		}
		return Errorf("refused: %s: %v. web_fetch only reaches public internet addresses.", where, why)
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return Errorf("fetching %s timed out after %s", where, t.o.FetchTimeout)
	case ctx.Err() != nil:
		return Errorf("fetching %s was cancelled: %v", where, ctx.Err())
	}
	if ue != nil {
		err = ue.Err
	}
	return Errorf("fetching %s failed: %v", where, err)
}

func isTextual(mt string) bool {
	if strings.HasPrefix(mt, "text/") || strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml") {
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/javascript", "application/x-javascript",
		"application/ecmascript", "application/yaml", "application/x-yaml", "application/toml",
		"application/x-sh", "application/sql", "application/graphql", "application/x-ndjson":
		return true
	}
	return false
}

// decodeCharset returns body as UTF-8 text. Latin-1 style charsets are
// converted byte by byte; anything else is taken as UTF-8 with invalid
// bytes replaced.
func decodeCharset(body []byte, charset string) string {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "latin1", "latin-1", "windows-1252", "cp1252", "us-ascii", "ascii":
		if utf8.Valid(body) {
			return string(body)
		}
		rs := make([]rune, len(body))
		for i, b := range body {
			rs[i] = rune(b)
		}
		return string(rs)
	}
	return text(body)
}
