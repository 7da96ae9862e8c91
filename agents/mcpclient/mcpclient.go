// Package mcpclient lets workers use the tools of Model Context Protocol
// servers. From the mcp_servers section of the daemon's config it starts
// stdio servers and connects to streamable HTTP ones (falling back to the
// older SSE transport), lists their tools and offers each as a tool.Tool
// named mcp_<server>_<tool>. A server that exits is restarted with
// backoff; a tools/list_changed notification refreshes its tools.
//
// Secrets (values of env and headers, and of every ${VAR} expanded into
// the settings) never appear in logs, statuses or tool results: they are
// replaced with "***".
package mcpclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/tool"
)

// Defaults for zero Options fields.
const (
	DefaultStartTimeout = 30 * time.Second
	DefaultToolTimeout  = 2 * time.Minute
	DefaultMinBackoff   = time.Second
	DefaultMaxBackoff   = time.Minute
)

// Server states reported by Manager.Status.
const (
	StatusStarting   = "starting"
	StatusConnected  = "connected"
	StatusRestarting = "restarting"
	StatusError      = "error"
	StatusStopped    = "stopped"
)

// Options configures a Manager. Zero fields take defaults.
type Options struct {
	// Servers are the configured servers by name (agents.Config.MCPServers).
	Servers map[string]agents.MCPServerConfig
	// Getenv expands ${VAR} in the settings (default os.Getenv).
	Getenv func(string) string
	// Logger receives connection and restart messages, and (at debug
	// level) what stdio servers write to stderr.
	Logger zerolog.Logger
	// MaxOutputBytes caps the text one call returns
	// (tool.DefaultMaxOutputBytes).
	MaxOutputBytes int
	// StartTimeout bounds one connection attempt, and how long Start
	// waits for the first attempt of every server (DefaultStartTimeout).
	StartTimeout time.Duration
	// ToolTimeout bounds a call when the server sets no tool_timeout
	// (DefaultToolTimeout).
	ToolTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before a server is started
	// or connected again after it failed or exited; the wait doubles from
	// the one to the other.
	MinBackoff, MaxBackoff time.Duration
	// Version is reported to servers as the client's version.
	Version string
	// OnChange, when set, is called (from any goroutine) after a server's
	// status or tools changed, e.g. to publish presence.
	OnChange func()
}

// Status describes one server.
type Status struct {
	// Name is the server's name in the config.
	Name string `json:"name"`
	// Transport is "stdio" or "http".
	Transport string `json:"transport"`
	// Status is starting, connected, restarting, error or stopped.
	Status string `json:"status"`
	// Tools are the viber names of the server's tools (mcp_<server>_<tool>).
	Tools []string `json:"tools,omitempty"`
	// Error says why the server is not connected, with secrets redacted.
	Error string `json:"error,omitempty"`
}

// Manager runs the configured MCP servers. It is safe for concurrent use.
type Manager struct {
	opts    Options
	servers []*server
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Start starts every server in opts.Servers and waits (at most
// StartTimeout, or until ctx ends) for each first connection attempt, so
// Tools lists what connected servers offer. A server that fails is kept:
// it is retried with backoff and reported by Status. ctx bounds only that
// wait; servers run until Close.
func Start(ctx context.Context, opts Options) *Manager {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.MaxOutputBytes <= 0 {
		opts.MaxOutputBytes = tool.DefaultMaxOutputBytes
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.ToolTimeout <= 0 {
		opts.ToolTimeout = DefaultToolTimeout
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	if opts.Version == "" {
		opts.Version = "0.0.0-dev"
	}
	runCtx, cancel := context.WithCancel(context.Background())
	m := &Manager{opts: opts, cancel: cancel}
	names := make([]string, 0, len(opts.Servers))
	for n := range opts.Servers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := newServer(m, n, opts.Servers[n])
		m.servers = append(m.servers, s)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			s.run(runCtx)
		}()
	}
	wait, stop := context.WithTimeout(ctx, opts.StartTimeout)
	defer stop()
	for _, s := range m.servers {
		select {
		case <-s.ready:
		case <-wait.Done():
		}
	}
	return m
}

// Tools returns the tools of every server, in server order, each server's
// in the order it lists them. Tools of a server that is restarting stay
// listed; calling them reports that the server is down. When two servers'
// tools get the same name (server "a"'s tool "b_c" and server "a_b"'s tool
// "c"), the first server's is kept.
func (m *Manager) Tools() []tool.Tool {
	if m == nil {
		return nil
	}
	var out []tool.Tool
	seen := map[string]bool{}
	for _, s := range m.servers {
		s.mu.Lock()
		for _, t := range s.tools {
			if !seen[t.name] {
				seen[t.name] = true
				out = append(out, t)
			}
		}
		s.mu.Unlock()
	}
	return out
}

// Status describes every server, in name order.
func (m *Manager) Status() []Status {
	if m == nil {
		return nil
	}
	out := make([]Status, 0, len(m.servers))
	for _, s := range m.servers {
		out = append(out, s.status())
	}
	return out
}

// Close stops every server (stdio servers get their stdin closed, then
// SIGTERM after 5 s) and waits for them.
func (m *Manager) Close() error {
	if m == nil {
		return nil
	}
	m.cancel()
	m.wg.Wait()
	return nil
}

func (m *Manager) changed() {
	if m.opts.OnChange != nil {
		m.opts.OnChange()
	}
}

// server is one configured MCP server and its current connection.
type server struct {
	m      *Manager
	name   string
	cfg    agents.MCPServerConfig
	prefix string
	log    zerolog.Logger
	ready  chan struct{}

	readyOnce sync.Once
	refreshMu sync.Mutex // one tools/list at a time

	mu      sync.Mutex
	sess    *sdk.ClientSession
	state   string
	err     string
	secrets []string
	tools   []*mcpTool // current tools, in the server's order
	byName  map[string]*mcpTool
	stderr  []string // the last lines a stdio server wrote to stderr
}

func newServer(m *Manager, name string, cfg agents.MCPServerConfig) *server {
	return &server{
		m: m, name: name, cfg: cfg, prefix: agents.MCPToolPrefix(name),
		log:    m.opts.Logger.With().Str("component", "mcp").Str("mcp_server", name).Logger(),
		ready:  make(chan struct{}),
		state:  StatusStarting,
		byName: map[string]*mcpTool{},
	}
}

func (s *server) status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Name: s.name, Transport: s.cfg.Transport(), Status: s.state, Error: s.err}
	for _, t := range s.tools {
		st.Tools = append(st.Tools, t.name)
	}
	return st
}

func (s *server) setState(state, msg string) {
	s.mu.Lock()
	s.state, s.err = state, s.redactLocked(msg)
	s.mu.Unlock()
	s.m.changed()
}

// redact replaces the server's secrets in text with "***".
func (s *server) redact(text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.redactLocked(text)
}

func (s *server) redactLocked(text string) string {
	for _, v := range s.secrets {
		text = strings.ReplaceAll(text, v, "***")
	}
	return text
}

// run connects, waits for the connection to end and connects again with
// backoff, until ctx ends.
func (s *server) run(ctx context.Context) {
	defer s.readyOnce.Do(func() { close(s.ready) })
	backoff := s.m.opts.MinBackoff
	for {
		began := time.Now()
		sess, err := s.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				s.setState(StatusStopped, "")
				return
			}
			msg := s.redact(err.Error())
			s.setState(StatusError, msg)
			s.log.Error().Str("error", msg).Dur("retry_in", backoff).Msg("MCP server unavailable; check mcp_servers." + s.name + " in the config")
			s.readyOnce.Do(func() { close(s.ready) }) // Start sees the error, logged
		} else {
			s.readyOnce.Do(func() { close(s.ready) })
			done := make(chan error, 1)
			go func() { done <- sess.Wait() }()
			select {
			case <-ctx.Done():
				_ = sess.Close()
				<-done
				s.drop(sess)
				s.setState(StatusStopped, "")
				return
			case err = <-done:
				_ = sess.Close() // reaps a stdio server's process
			}
			s.drop(sess)
			msg := "the server closed the connection"
			if s.cfg.Transport() == "stdio" {
				msg = "the server exited"
			}
			if err != nil && !errors.Is(err, sdk.ErrConnectionClosed) {
				msg += ": " + err.Error()
			}
			if tail := s.stderrTail(); tail != "" {
				msg += "; its last words: " + tail
			}
			msg = s.redact(msg)
			s.setState(StatusRestarting, msg)
			s.log.Warn().Str("error", msg).Dur("retry_in", backoff).Msg("MCP server down; restarting")
			if time.Since(began) > 4*s.m.opts.MaxBackoff {
				backoff = s.m.opts.MinBackoff
			}
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			s.setState(StatusStopped, "")
			return
		case <-t.C:
		}
		backoff = min(2*backoff, s.m.opts.MaxBackoff)
	}
}

// drop forgets sess if it is the current session.
func (s *server) drop(sess *sdk.ClientSession) {
	s.mu.Lock()
	if s.sess == sess {
		s.sess = nil
	}
	s.mu.Unlock()
}

// connect starts or reaches the server, initializes the session and lists
// its tools.
func (s *server) connect(ctx context.Context) (*sdk.ClientSession, error) {
	s.mu.Lock()
	s.stderr = nil
	s.mu.Unlock()
	client := sdk.NewClient(&sdk.Implementation{Name: "viber", Version: s.m.opts.Version}, &sdk.ClientOptions{
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) {
			// Not in the handler: it runs on the session's read loop,
			// which must keep going to read the list's answer.
			go s.refreshAfterChange(ctx)
		},
	})
	cctx, cancel := context.WithTimeout(ctx, s.m.opts.StartTimeout)
	defer cancel()
	var sess *sdk.ClientSession
	switch s.cfg.Transport() {
	case "http":
		hc, endpoint, err := s.httpClient()
		if err != nil {
			return nil, err
		}
		sess, err = client.Connect(cctx, &sdk.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc}, nil)
		if err != nil && ctx.Err() == nil {
			// Older servers speak only the HTTP+SSE transport. Its stream
			// lives as long as ctx, so ctx (not cctx) opens it.
			sse, err2 := client.Connect(ctx, &sdk.SSEClientTransport{Endpoint: endpoint, HTTPClient: hc}, nil)
			if err2 != nil {
				return nil, fmt.Errorf("connect to %s: %w (the SSE transport failed too: %v)", endpoint, err, err2)
			}
			sess = sse
		} else if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", endpoint, err)
		}
	default:
		cmd, err := s.command()
		if err != nil {
			return nil, err
		}
		sess, err = client.Connect(cctx, &sdk.CommandTransport{Command: cmd}, nil)
		if err != nil {
			if tail := s.stderrTail(); tail != "" {
				err = fmt.Errorf("%w; its last words: %s", err, tail)
			}
			return nil, fmt.Errorf("start %s: %w", s.cfg.Command, err)
		}
	}
	if err := s.refresh(cctx, sess); err != nil {
		_ = sess.Close()
		return nil, err
	}
	s.mu.Lock()
	s.sess = sess
	s.state, s.err = StatusConnected, ""
	n := len(s.tools)
	s.mu.Unlock()
	info := sess.InitializeResult()
	ev := s.log.Info().Str("transport", s.cfg.Transport()).Int("tools", n)
	if info != nil && info.ServerInfo != nil {
		ev = ev.Str("server", info.ServerInfo.Name).Str("server_version", info.ServerInfo.Version)
	}
	ev.Msg("MCP server connected")
	s.m.changed()
	return sess, nil
}

// expand expands ${VAR} in v and remembers the result's secret parts.
func (s *server) expand(what, v string, secret bool) (string, error) {
	out, err := agents.ExpandMCPValue(v, s.m.opts.Getenv)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if secret {
		s.addSecretLocked(out)
	}
	for _, ref := range varRef.FindAllStringSubmatch(v, -1) {
		s.addSecretLocked(s.m.opts.Getenv(ref[1]))
	}
	return out, nil
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

func (s *server) addSecretLocked(v string) {
	// Short values would redact ordinary words; they are no real secrets.
	if len(v) < 4 || slices.Contains(s.secrets, v) {
		return
	}
	s.secrets = append(s.secrets, v)
	// Longest first, so a secret holding another is replaced whole.
	sort.Slice(s.secrets, func(i, j int) bool { return len(s.secrets[i]) > len(s.secrets[j]) })
}

// command builds a stdio server's process: the daemon's environment less
// variables that look like secrets, plus the configured env.
func (s *server) command() (*exec.Cmd, error) {
	name, err := s.expand("command", s.cfg.Command, false)
	if err != nil {
		return nil, err
	}
	args := make([]string, len(s.cfg.Args))
	for i, a := range s.cfg.Args {
		if args[i], err = s.expand(fmt.Sprintf("args[%d]", i), a, false); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(name, args...)
	env := filterEnv(os.Environ())
	keys := make([]string, 0, len(s.cfg.Env))
	for k := range s.cfg.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := s.expand("env."+k, s.cfg.Env[k], true)
		if err != nil {
			return nil, err
		}
		env = append(env, k+"="+v)
	}
	cmd.Env = env
	if s.cfg.Cwd != "" {
		if cmd.Dir, err = s.expand("cwd", s.cfg.Cwd, false); err != nil {
			return nil, err
		}
	}
	cmd.Stderr = &stderrLog{s: s}
	return cmd, nil
}

// httpClient builds the client of an HTTP server, sending its headers.
func (s *server) httpClient() (*http.Client, string, error) {
	endpoint, err := s.expand("url", s.cfg.URL, false)
	if err != nil {
		return nil, "", err
	}
	h := http.Header{}
	for k, v := range s.cfg.Headers {
		ev, err := s.expand("headers."+k, v, true)
		if err != nil {
			return nil, "", err
		}
		h.Set(k, ev)
	}
	return &http.Client{Transport: &headerTransport{base: http.DefaultTransport, headers: h}}, endpoint, nil
}

// headerTransport adds fixed headers to every request.
type headerTransport struct {
	base    http.RoundTripper
	headers http.Header
}

func (t *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.headers {
		r.Header[k] = v
	}
	return t.base.RoundTrip(r)
}

// stderrLog logs what a stdio server writes to stderr (at debug level,
// redacted) and keeps its last lines for error messages.
type stderrLog struct {
	s       *server
	partial []byte
}

func (w *stderrLog) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	if len(w.partial) > 4096 {
		w.line(string(w.partial))
		w.partial = nil
	}
	return len(p), nil
}

func (w *stderrLog) line(l string) {
	l = strings.TrimSpace(strings.ToValidUTF8(l, "\uFFFD"))
	if l == "" {
		return
	}
	l = w.s.redact(l)
	w.s.log.Debug().Str("stderr", l).Msg("MCP server says")
	w.s.mu.Lock()
	w.s.stderr = append(w.s.stderr, clipText(l, 300))
	if len(w.s.stderr) > 3 {
		w.s.stderr = w.s.stderr[len(w.s.stderr)-3:]
	}
	w.s.mu.Unlock()
}

func (s *server) stderrTail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.stderr, " | ")
}

// secretEnv matches names of variables not passed on to stdio servers
// unless the config's env names them.
var secretEnv = regexp.MustCompile(`(?i)(KEY|TOKEN|SECRET|PASSW|CREDENTIAL|CREDS|COOKIE|SESSION|PRIVATE)`)

func filterEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !secretEnv.MatchString(name) {
			out = append(out, kv)
		}
	}
	return out
}

// refreshAfterChange lists the tools again after list_changed.
func (s *server) refreshAfterChange(ctx context.Context) {
	s.mu.Lock()
	sess := s.sess
	s.mu.Unlock()
	if sess == nil {
		return // a connection being set up lists its tools anyway
	}
	cctx, cancel := context.WithTimeout(ctx, s.m.opts.StartTimeout)
	defer cancel()
	if err := s.refresh(cctx, sess); err != nil {
		if ctx.Err() == nil {
			s.log.Warn().Str("error", s.redact(err.Error())).Msg("could not list the MCP server's tools after it said they changed")
		}
		return
	}
	s.log.Info().Int("tools", len(s.status().Tools)).Msg("MCP server's tools changed")
	s.m.changed()
}

// refresh lists sess's tools and updates the server's, keeping the
// identity of tools that stay.
func (s *server) refresh(ctx context.Context, sess *sdk.ClientSession) error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	var listed []*sdk.Tool
	for t, err := range sess.Tools(ctx, nil) {
		if err != nil {
			return fmt.Errorf("list tools: %w", err)
		}
		if t != nil && s.enabled(t.Name) {
			listed = append(listed, t)
		}
	}
	remotes := make([]string, len(listed))
	for i, t := range listed {
		remotes[i] = t.Name
	}
	names := toolNames(s.prefix, remotes)
	timeout := s.cfg.ToolTimeoutDuration()
	if timeout <= 0 {
		timeout = s.m.opts.ToolTimeout
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tools := make([]*mcpTool, 0, len(listed))
	byName := map[string]*mcpTool{}
	for _, t := range listed {
		mt := s.byName[t.Name]
		if mt == nil {
			mt = &mcpTool{srv: s, remote: t.Name, name: names[t.Name], timeout: timeout}
		}
		mt.desc = description(s.name, t)
		mt.schema = inputSchema(t.InputSchema)
		tools = append(tools, mt)
		byName[t.Name] = mt
	}
	s.tools, s.byName = tools, byName
	return nil
}

// enabled applies enabled_tools.
func (s *server) enabled(remote string) bool {
	if len(s.cfg.EnabledTools) == 0 {
		return true
	}
	for _, g := range s.cfg.EnabledTools {
		if ok, _ := pathMatch(g, remote); ok {
			return true
		}
	}
	return false
}

func description(server string, t *sdk.Tool) string {
	d := strings.TrimSpace(t.Description)
	if d == "" && t.Title != "" {
		d = t.Title
	}
	if d == "" {
		d = "Tool " + t.Name + "."
	}
	return fmt.Sprintf("[MCP server %s, tool %s] %s", server, t.Name, d)
}

// current returns the live session, or why there is none.
func (s *server) current() (*sdk.ClientSession, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess != nil {
		return s.sess, ""
	}
	why := s.state
	if s.err != "" {
		why += ": " + s.err
	}
	return nil, why
}

func (s *server) offers(t *mcpTool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byName[t.remote] == t
}

// clipText cuts s to at most n bytes on a rune boundary.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

var _ io.Writer = (*stderrLog)(nil)
