package gateway

import (
	"crypto/subtle"
	"encoding/json"
	"net"
	"net/http"
	"strings"

	"github.com/viberhq/viber/bus"
)

// HTTPTokenEnv is the environment variable the commands read the HTTP
// token from (Config.HTTPToken); error messages name it.
const HTTPTokenEnv = "VIBER_HTTP_TOKEN"

// loopbackHost reports whether a request's Host names the loopback
// interface. Without a token the API answers only such requests, so a web
// page cannot reach it through DNS rebinding.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RequireToken guards the API with a token. With an empty token (allowed
// only on a loopback listener) it answers only requests addressed to a
// loopback host name. With a token, /api/ requests need either
// "Authorization: Bearer <token>" or the cookie set by POST /api/session
// {"token": ...}; so do /mcp requests (MCP clients send the header) and
// /metrics (Prometheus sends it: authorization.credentials). /healthz and the dashboard's static files stay open: they
// hold no data, and the dashboard asks for the token when the API says 401.
func RequireToken(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" {
			if !loopbackHost(r.Host) {
				writeJSONError(w, http.StatusMisdirectedRequest, bus.CodeUnauthorized, "this gateway has no HTTP token and answers only on localhost; set "+HTTPTokenEnv+" to reach it by another name")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		path := r.URL.Path
		if !strings.HasPrefix(path, bus.APIPath) && path != "/mcp" && !strings.HasPrefix(path, "/mcp/") && path != bus.MetricsPath {
			next.ServeHTTP(w, r)
			return
		}
		if path == bus.SessionPath {
			session(token, w, r)
			return
		}
		if tokenOK(token, r) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="viber"`)
		writeJSONError(w, http.StatusUnauthorized, bus.CodeUnauthorized, "a token is required: send Authorization: Bearer <token> (the gateway's "+HTTPTokenEnv+")")
	})
}

func tokenOK(token string, r *http.Request) bool {
	got := ""
	if h := r.Header.Get(bus.HeaderAuthorization); strings.HasPrefix(h, "Bearer ") {
		got = strings.TrimPrefix(h, "Bearer ")
	} else if c, err := r.Cookie(bus.TokenCookie); err == nil {
		got = c.Value
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// session logs the dashboard in (POST, sets the cookie), tells whether it
// is logged in (GET) or logs it out (DELETE).
func session(token string, w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		if !tokenOK(token, r) {
			writeJSONError(w, http.StatusUnauthorized, bus.CodeUnauthorized, "not logged in")
			return
		}
		writeJSON(w, http.StatusOK, &bus.SessionResponse{Auth: true})
	case http.MethodPost:
		if !jsonBody(w, r) {
			return
		}
		var req bus.SessionRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
			writeJSONError(w, http.StatusBadRequest, bus.CodeMalformed, "send {\"token\": \"...\"}")
			return
		}
		if subtle.ConstantTimeCompare([]byte(req.Token), []byte(token)) != 1 {
			writeJSONError(w, http.StatusUnauthorized, bus.CodeUnauthorized, "wrong token")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: bus.TokenCookie, Value: token, Path: bus.APIPath, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		writeJSON(w, http.StatusOK, &bus.SessionResponse{Auth: true})
	case http.MethodDelete:
		http.SetCookie(w, &http.Cookie{Name: bus.TokenCookie, Value: "", Path: bus.APIPath, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSONError(w, http.StatusMethodNotAllowed, bus.CodeNoEndpoint, "use GET, POST or DELETE")
	}
}

// securityHeaders sets headers for every answer. There are deliberately no
// CORS headers: the dashboard is served from the same origin.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		next.ServeHTTP(w, r)
	})
}
