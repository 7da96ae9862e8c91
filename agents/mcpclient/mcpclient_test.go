package mcpclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/mcpclient"
	"github.com/viberhq/viber/agents/mcpclient/mcptest"
	"github.com/viberhq/viber/agents/tool"
)

func TestMain(m *testing.M) {
	mcptest.ServeIfAsked()
	os.Exit(m.Run())
}

// stdioConfig runs this test binary as a stdio server.
func stdioConfig() agents.MCPServerConfig {
	c, err := mcptest.StdioConfig(map[string]string{"SERVER_API_TOKEN": "${TEST_TOKEN}"})
	if err != nil {
		panic(err)
	}
	return c
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const secret = "s3cr3t-token-value-0042"

func env(extra map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := extra[k]; ok {
			return v
		}
		if k == "TEST_TOKEN" {
			return secret
		}
		return ""
	}
}

func start(t *testing.T, servers map[string]agents.MCPServerConfig, tune func(*mcpclient.Options)) (*mcpclient.Manager, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	opts := mcpclient.Options{
		Servers: servers, Getenv: env(nil), Logger: zerolog.New(logs).Level(zerolog.DebugLevel),
		StartTimeout: 20 * time.Second, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	}
	if tune != nil {
		tune(&opts)
	}
	m := mcpclient.Start(context.Background(), opts)
	t.Cleanup(func() { _ = m.Close() })
	return m, logs
}

func toolByName(t *testing.T, m *mcpclient.Manager, name string) tool.Tool {
	t.Helper()
	for _, tl := range m.Tools() {
		if tl.Name() == name {
			return tl
		}
	}
	var names []string
	for _, tl := range m.Tools() {
		names = append(names, tl.Name())
	}
	t.Fatalf("no tool %s; have %v (status %+v)", name, names, m.Status())
	return nil
}

func call(t *testing.T, m *mcpclient.Manager, name, args string) tool.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return toolByName(t, m, name).Call(ctx, json.RawMessage(args))
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStdioServerTools(t *testing.T) {
	t.Parallel()
	filtered := stdioConfig()
	filtered.EnabledTools = []string{"e*", "add"}
	m, logs := start(t, map[string]agents.MCPServerConfig{"test": stdioConfig(), "Fil-tered": filtered}, func(o *mcpclient.Options) {
		o.MaxOutputBytes = 1000
	})
	st := m.Status()
	if len(st) != 2 || st[0].Name != "Fil-tered" || st[1].Name != "test" {
		t.Fatalf("status = %+v, want Fil-tered and test", st)
	}
	for _, s := range st {
		if s.Status != mcpclient.StatusConnected || s.Transport != "stdio" {
			t.Fatalf("server %s: status %s transport %s (error %q), want connected over stdio", s.Name, s.Status, s.Transport, s.Error)
		}
	}
	if want := []string{"mcp_fil_tered_echo", "mcp_fil_tered_add", "mcp_fil_tered_env"}; !sameSet(st[0].Tools, want) {
		t.Errorf("filtered tools = %v, want %v", st[0].Tools, want)
	}
	if len(st[1].Tools) != 10 {
		t.Errorf("test tools = %v, want 10", st[1].Tools)
	}

	if r := call(t, m, "mcp_test_echo", `{"text":"hi"}`); r.IsError || r.Output != "echo: hi" {
		t.Errorf("echo = %+v, want output %q", r, "echo: hi")
	}
	if p := toolByName(t, m, "mcp_test_echo").Parameters(); p["type"] != "object" || p["properties"].(map[string]any)["text"] == nil {
		t.Errorf("echo parameters = %v, want the server's object schema with text", p)
	}
	if d := toolByName(t, m, "mcp_test_echo").Description(); !strings.Contains(d, "Echo text.") || !strings.Contains(d, "MCP server test") {
		t.Errorf("echo description = %q", d)
	}
	if r := call(t, m, "mcp_test_add", `{"a":2,"b":40}`); r.IsError || !strings.Contains(r.Output, `{"sum":42}`) {
		t.Errorf("add = %+v, want the structured sum 42", r)
	}
	r := call(t, m, "mcp_test_picture", `{}`)
	if r.IsError || !strings.Contains(r.Output, "here it is") || !strings.Contains(r.Output, "[image image/png, 5000 bytes, not shown]") || len(r.Output) > 200 {
		t.Errorf("picture = %q, want the text and a note instead of the image", r.Output)
	}
	if r := call(t, m, "mcp_test_fail", ``); !r.IsError || !strings.Contains(r.Output, "disk on fire") {
		t.Errorf("fail = %+v, want an error with the server's message", r)
	}
	if r := call(t, m, "mcp_test_big", `{}`); !r.Truncated || len(r.Output) > 1100 {
		t.Errorf("big: truncated=%v len=%d, want cut near 1000 bytes", r.Truncated, len(r.Output))
	}
	if r := call(t, m, "mcp_test_echo", `[1]`); !r.IsError || !strings.Contains(r.Output, "JSON object") {
		t.Errorf("echo with an array = %+v, want an argument error", r)
	}
	// The configured env reaches the server; its value never comes back.
	if r := call(t, m, "mcp_test_env", `{"name":"SERVER_API_TOKEN"}`); r.Output != "SERVER_API_TOKEN=***" {
		t.Errorf("env = %q, want the secret redacted", r.Output)
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("the logs hold the secret:\n%s", logs)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestListChanged(t *testing.T) {
	t.Parallel()
	var changes atomic.Int32
	m, _ := start(t, map[string]agents.MCPServerConfig{"t": stdioConfig()}, func(o *mcpclient.Options) {
		o.OnChange = func() { changes.Add(1) }
	})
	before := changes.Load()
	if r := call(t, m, "mcp_t_grow", `{}`); r.IsError {
		t.Fatalf("grow = %+v", r)
	}
	waitFor(t, "the late tool to appear", func() bool { return slices.Contains(m.Status()[0].Tools, "mcp_t_late") })
	if r := call(t, m, "mcp_t_late", `{}`); r.Output != "late but here" {
		t.Errorf("late = %+v", r)
	}
	if changes.Load() <= before {
		t.Errorf("OnChange was not called for the new tool")
	}
}

func TestCrashedServerRestarts(t *testing.T) {
	t.Parallel()
	m, logs := start(t, map[string]agents.MCPServerConfig{"c": stdioConfig()}, nil)
	r := call(t, m, "mcp_c_crash", `{}`)
	if !r.IsError || !strings.Contains(r.Output, "went away during the call") {
		t.Errorf("crash = %+v, want an error saying the server went away", r)
	}
	// The restart is logged with the server's last words on stderr.
	waitFor(t, "the server to be back", func() bool {
		return m.Status()[0].Status == mcpclient.StatusConnected && strings.Count(logs.String(), "MCP server connected") == 2
	})
	if l := logs.String(); !strings.Contains(l, "MCP server down; restarting") || !strings.Contains(l, "dying now, as asked") {
		t.Errorf("the restart was not logged with the server's last words:\n%s", l)
	}
	if r := call(t, m, "mcp_c_echo", `{"text":"again"}`); r.Output != "echo: again" {
		t.Errorf("echo after the restart = %+v", r)
	}
}

func TestToolTimeout(t *testing.T) {
	t.Parallel()
	cfg := stdioConfig()
	cfg.ToolTimeout = "200ms"
	m, _ := start(t, map[string]agents.MCPServerConfig{"s": cfg}, nil)
	began := time.Now()
	r := call(t, m, "mcp_s_slow", `{"seconds":30}`)
	if !r.IsError || !strings.Contains(r.Output, "did not answer within 200ms") {
		t.Errorf("slow = %+v, want a timeout error", r)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("the timed-out call took %v", d)
	}
	if r := call(t, m, "mcp_s_echo", `{"text":"still here"}`); r.Output != "echo: still here" {
		t.Errorf("echo after a timeout = %+v", r)
	}
}

func TestBrokenServerIsReported(t *testing.T) {
	t.Parallel()
	m, logs := start(t, map[string]agents.MCPServerConfig{
		"missing": {Command: "/nonexistent/viber-mcp-server"},
		"unset":   {Command: "true", Env: map[string]string{"X": "${NOT_SET_ANYWHERE}"}},
	}, nil)
	for _, s := range m.Status() {
		if s.Status != mcpclient.StatusError || s.Error == "" {
			t.Errorf("server %s: %+v, want status error with a reason", s.Name, s)
		}
	}
	if e := m.Status()[1].Error; !strings.Contains(e, "env.X") || !strings.Contains(e, "NOT_SET_ANYWHERE") {
		t.Errorf("unset error = %q, want the setting and the variable named", e)
	}
	if !strings.Contains(logs.String(), "mcp_servers.missing") {
		t.Errorf("the log does not say what to fix:\n%s", logs)
	}
	if len(m.Tools()) != 0 {
		t.Errorf("tools of broken servers: %d", len(m.Tools()))
	}
}

func TestStreamableHTTPServer(t *testing.T) {
	t.Parallel()
	srv := mcptest.NewServer()
	handler := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, nil)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+secret {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	m, logs := start(t, map[string]agents.MCPServerConfig{
		"web":   {URL: hs.URL, Headers: map[string]string{"Authorization": "Bearer ${TEST_TOKEN}"}},
		"wrong": {URL: hs.URL, Headers: map[string]string{"Authorization": "Bearer ${OTHER}"}},
	}, func(o *mcpclient.Options) { o.Getenv = env(map[string]string{"OTHER": "wrong-" + secret}) })
	st := m.Status()
	if st[0].Status != mcpclient.StatusConnected || st[0].Transport != "http" {
		t.Fatalf("web: %+v, want connected over http", st[0])
	}
	if r := call(t, m, "mcp_web_echo", `{"text":"over http"}`); r.Output != "echo: over http" {
		t.Errorf("echo over http = %+v", r)
	}
	if st[1].Status != mcpclient.StatusError {
		t.Errorf("wrong token: %+v, want an error", st[1])
	}
	if strings.Contains(st[1].Error, secret) || strings.Contains(logs.String(), secret) {
		t.Errorf("a secret leaked: status %q, logs:\n%s", st[1].Error, logs)
	}
}

// TestHTTPSessionLostReconnects restarts the HTTP server's side (all its
// sessions forgotten, as after a restart) and expects the client to open
// a new session.
func TestHTTPSessionLostReconnects(t *testing.T) {
	t.Parallel()
	var current atomic.Pointer[sdk.StreamableHTTPHandler]
	fresh := func() {
		srv := mcptest.NewServer()
		current.Store(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, nil))
	}
	fresh()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { current.Load().ServeHTTP(w, r) }))
	t.Cleanup(hs.Close)
	m, logs := start(t, map[string]agents.MCPServerConfig{"web": {URL: hs.URL}}, nil)
	if r := call(t, m, "mcp_web_echo", `{"text":"one"}`); r.Output != "echo: one" {
		t.Fatalf("echo = %+v", r)
	}
	fresh()
	hs.CloseClientConnections()
	// The first call after the loss may fail (it is never re-sent); the
	// server must be reconnected soon after.
	waitFor(t, "a call to work again on a new session", func() bool {
		return call(t, m, "mcp_web_echo", `{"text":"two"}`).Output == "echo: two"
	})
	if n := strings.Count(logs.String(), "MCP server connected"); n < 2 {
		t.Errorf("connected %d times, want a new session after the loss:\n%s", n, logs)
	}
}

// TestSSEOnlyServer: a server that speaks only the older HTTP+SSE
// transport is reached with it.
func TestSSEOnlyServer(t *testing.T) {
	t.Parallel()
	srv := mcptest.NewServer()
	hs := httptest.NewServer(sdk.NewSSEHandler(func(*http.Request) *sdk.Server { return srv }, nil))
	t.Cleanup(hs.Close)
	m, _ := start(t, map[string]agents.MCPServerConfig{"old": {URL: hs.URL}}, nil)
	if st := m.Status()[0]; st.Status != mcpclient.StatusConnected {
		t.Fatalf("status %+v, want connected over SSE", st)
	}
	if r := call(t, m, "mcp_old_echo", `{"text":"sse"}`); r.Output != "echo: sse" {
		t.Errorf("echo over SSE = %+v", r)
	}
}
