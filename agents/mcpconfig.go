package agents

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"
)

// MCPServerConfig is one MCP server in the config file's mcp_servers
// section: a command speaking MCP over stdio, or the URL of a streamable
// HTTP endpoint. Values may hold ${VAR}, expanded from the environment
// when the server is started (see ExpandMCPValue). Env and Headers values
// are secrets: String and GoString print their names only.
//
//	mcp_servers:
//	  files:  {command: npx, args: ["-y", "@modelcontextprotocol/server-filesystem", "/srv/docs"]}
//	  github: {url: "https://api.example.com/mcp", headers: {Authorization: "Bearer ${GITHUB_TOKEN}"}}
//	  big:    {command: big-server, enabled_tools: ["search_*", "get_issue"], tool_timeout: 60s, policy: allow}
type MCPServerConfig struct {
	// Command runs a stdio server (with Args, Env and Cwd).
	Command string            `yaml:"command"`
	Args    []string          `yaml:"args"`
	Env     map[string]string `yaml:"env"`
	Cwd     string            `yaml:"cwd"`
	// URL is a streamable HTTP endpoint (with Headers).
	URL     string            `yaml:"url"`
	Headers map[string]string `yaml:"headers"`
	// EnabledTools, when set, keeps only the server's tools whose names
	// match one of these globs (path.Match syntax: *, ?, [a-z]).
	EnabledTools []string `yaml:"enabled_tools"`
	// ToolTimeout bounds one tool call ("60s", "2m"); "" means the default.
	ToolTimeout string `yaml:"tool_timeout"`
	// Policy (allow, ask or deny) applies to all the server's tools unless
	// the policy section names them; "" leaves them at the default, ask.
	Policy string `yaml:"policy"`
}

// MCPServerName is what an MCP server may be called: 1-32 letters, digits,
// '_' or '-', starting with a letter or digit.
var MCPServerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$`)

// MCPToolPrefix is how the names of a server's tools begin:
// mcp_<server>_, the server's name lowercased with '-' turned into '_'.
func MCPToolPrefix(server string) string {
	return "mcp_" + strings.ReplaceAll(strings.ToLower(server), "-", "_") + "_"
}

// mcpVar is a ${VAR} reference.
var mcpVar = regexp.MustCompile(`\$\{([^}]*)\}`)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ErrMCPVarUnset is returned by ExpandMCPValue for a ${VAR} whose variable
// is unset or empty.
var ErrMCPVarUnset = errors.New("environment variable not set")

// ExpandMCPValue replaces every ${VAR} in s with getenv(VAR). A reference
// to an unset or empty variable is an error wrapping ErrMCPVarUnset that
// names the variable (never a value).
func ExpandMCPValue(s string, getenv func(string) string) (string, error) {
	var missing []string
	out := mcpVar.ReplaceAllStringFunc(s, func(ref string) string {
		name := ref[2 : len(ref)-1]
		v := getenv(name)
		if v == "" {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("%w: %s", ErrMCPVarUnset, strings.Join(missing, ", "))
	}
	return out, nil
}

// Transport is "stdio" or "http".
func (m MCPServerConfig) Transport() string {
	if m.URL != "" {
		return "http"
	}
	return "stdio"
}

// ToolTimeoutDuration is ToolTimeout parsed; 0 when unset or invalid
// (callers apply their default).
func (m MCPServerConfig) ToolTimeoutDuration() time.Duration {
	d, err := time.ParseDuration(m.ToolTimeout)
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// String describes the server without the values of its env and headers.
func (m MCPServerConfig) String() string {
	names := func(v map[string]string) string {
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return "[" + strings.Join(keys, " ") + "]"
	}
	if m.URL != "" {
		return fmt.Sprintf("url=%s headers=%s", redactURL(m.URL), names(m.Headers))
	}
	return fmt.Sprintf("command=%s args=%d env=%s cwd=%s", m.Command, len(m.Args), names(m.Env), m.Cwd)
}

// GoString is String, so %#v does not print secrets either.
func (m MCPServerConfig) GoString() string { return "agents.MCPServerConfig{" + m.String() + "}" }

// validate reports every problem of server name's settings.
func (m MCPServerConfig) validate(name string) []error {
	var errs []error
	at := "mcp_servers." + name
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(at+": "+format, args...))
	}
	if !MCPServerName.MatchString(name) {
		bad("a server name is 1-32 letters, digits, '_' or '-'")
	}
	switch {
	case m.Command == "" && m.URL == "":
		bad("set command (a stdio server) or url (a streamable HTTP server)")
	case m.Command != "" && m.URL != "":
		bad("set command or url, not both")
	case m.URL != "":
		if len(m.Args) > 0 || len(m.Env) > 0 || m.Cwd != "" {
			bad("args, env and cwd are for command servers, not url ones")
		}
		if !mcpVar.MatchString(m.URL) {
			if u, err := url.Parse(m.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("url %q is not an http(s) URL", redactURL(m.URL))
			}
		}
	default:
		if len(m.Headers) > 0 {
			bad("headers are for url servers, not command ones")
		}
	}
	for _, k := range sortedKeys(m.Env) {
		if !envName.MatchString(k) {
			bad("env: %q is not a variable name", k)
		}
	}
	for _, k := range sortedKeys(m.Headers) {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			bad("headers: %q is not a header name", k)
		}
	}
	for _, v := range m.values() {
		for _, ref := range mcpVar.FindAllStringSubmatch(v, -1) {
			if !envName.MatchString(ref[1]) {
				bad("${%s} is not a variable reference (write ${NAME})", ref[1])
			}
		}
	}
	for i, g := range m.EnabledTools {
		if _, err := path.Match(g, ""); err != nil || strings.TrimSpace(g) == "" {
			bad("enabled_tools[%d]: %q is not a glob (use *, ?, [a-z])", i, g)
		}
	}
	if m.ToolTimeout != "" {
		if d, err := time.ParseDuration(m.ToolTimeout); err != nil || d <= 0 {
			bad("tool_timeout: %q is not a positive duration (e.g. 60s, 2m)", m.ToolTimeout)
		}
	}
	if m.Policy != "" && !validPolicy(m.Policy) {
		bad("policy: %q is not allow, ask or deny", m.Policy)
	}
	return errs
}

// values lists every setting that may hold ${VAR}.
func (m MCPServerConfig) values() []string {
	out := []string{m.Command, m.Cwd, m.URL}
	out = append(out, m.Args...)
	for _, k := range sortedKeys(m.Env) {
		out = append(out, m.Env[k])
	}
	for _, k := range sortedKeys(m.Headers) {
		out = append(out, m.Headers[k])
	}
	return out
}
