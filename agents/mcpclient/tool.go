package mcpclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"path"
	"strings"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/tool"
)

// maxToolName is the longest tool name providers accept.
const maxToolName = 64

// mcpTool is one tool of one server, as the model sees it. Its name stays
// while the server offers the tool; its description and schema follow the
// server's latest list.
type mcpTool struct {
	srv     *server
	remote  string
	name    string
	timeout time.Duration

	// desc and schema are guarded by srv.mu.
	desc   string
	schema map[string]any
}

// Name implements tool.Tool.
func (t *mcpTool) Name() string { return t.name }

// Description implements tool.Tool.
func (t *mcpTool) Description() string {
	t.srv.mu.Lock()
	defer t.srv.mu.Unlock()
	return t.desc
}

// Parameters implements tool.Tool.
func (t *mcpTool) Parameters() map[string]any {
	t.srv.mu.Lock()
	defer t.srv.mu.Unlock()
	return t.schema
}

// Call implements tool.Tool: it calls the tool on the server once (never
// again after a failure, since the call may have had effects) within the
// tool timeout.
func (t *mcpTool) Call(ctx context.Context, args json.RawMessage) tool.Result {
	s := t.srv
	if !s.offers(t) {
		return tool.Errorf("MCP server %s no longer offers tool %s; use the tools listed now", s.name, t.remote)
	}
	sess, why := s.current()
	if sess == nil {
		return tool.Errorf("MCP server %s is not connected (%s); try again later or do without this tool", s.name, why)
	}
	trimmed := bytes.TrimSpace(args)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		trimmed = []byte("{}")
	}
	if trimmed[0] != '{' || !json.Valid(trimmed) {
		return tool.Errorf("arguments must be a JSON object, got %s", clipText(string(trimmed), 200))
	}
	cctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	res, err := sess.CallTool(cctx, &sdk.CallToolParams{Name: t.remote, Arguments: json.RawMessage(trimmed)})
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return tool.Errorf("the call to %s was cancelled: %v", t.name, ctx.Err())
	case errors.Is(cctx.Err(), context.DeadlineExceeded):
		return tool.Errorf("MCP tool %s of server %s did not answer within %s (tool_timeout); it was not retried", t.remote, s.name, t.timeout)
	case errors.Is(err, sdk.ErrConnectionClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return tool.Errorf("MCP server %s went away during the call to %s; the call was not retried and may or may not have taken effect", s.name, t.remote)
	default:
		return tool.Errorf("MCP server %s: the call to %s failed: %s", s.name, t.remote, s.redact(err.Error()))
	}
	out := s.redact(resultText(res))
	r := tool.Result{Output: out, IsError: res.IsError}
	if max := s.m.opts.MaxOutputBytes; len(r.Output) > max {
		r.Output = clipText(r.Output, max) + fmt.Sprintf("\n[output cut at %d bytes]", max)
		r.Truncated = true
	}
	if r.Output == "" && r.IsError {
		r.Output = "the tool reported an error without a message"
	}
	return r
}

// resultText renders a result for the model: text as is, structured
// content as JSON (unless a text part already holds the same JSON), and
// binary content as a note, never as base64.
func resultText(res *sdk.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		switch c := c.(type) {
		case *sdk.TextContent:
			parts = append(parts, c.Text)
		case *sdk.ImageContent:
			parts = append(parts, fmt.Sprintf("[image %s, %d bytes, not shown]", c.MIMEType, len(c.Data)))
		case *sdk.AudioContent:
			parts = append(parts, fmt.Sprintf("[audio %s, %d bytes, not shown]", c.MIMEType, len(c.Data)))
		case *sdk.ResourceLink:
			parts = append(parts, fmt.Sprintf("[resource %s %s]", c.URI, c.Name))
		case *sdk.EmbeddedResource:
			if r := c.Resource; r != nil {
				if r.Text != "" {
					parts = append(parts, fmt.Sprintf("[resource %s]\n%s", r.URI, r.Text))
				} else {
					parts = append(parts, fmt.Sprintf("[resource %s %s, %d bytes, not shown]", r.URI, r.MIMEType, len(r.Blob)))
				}
			}
		default:
			if b, err := json.Marshal(c); err == nil {
				parts = append(parts, string(b))
			}
		}
	}
	if res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil && !holdsJSON(parts, b) {
			parts = append(parts, "structured content: "+string(b))
		}
	}
	return strings.Join(parts, "\n")
}

// holdsJSON reports whether one of parts is JSON equal to b.
func holdsJSON(parts []string, b []byte) bool {
	var want any
	if json.Unmarshal(b, &want) != nil {
		return false
	}
	wb, _ := json.Marshal(want)
	for _, p := range parts {
		var got any
		if json.Unmarshal([]byte(p), &got) == nil {
			if gb, _ := json.Marshal(got); bytes.Equal(gb, wb) {
				return true
			}
		}
	}
	return false
}

// inputSchema makes the server's schema usable as tool parameters: an
// object schema with properties.
func inputSchema(v any) map[string]any {
	var m map[string]any
	switch v := v.(type) {
	case map[string]any:
		m = v
	case nil:
	default:
		if b, err := json.Marshal(v); err == nil {
			_ = json.Unmarshal(b, &m)
		}
	}
	if m == nil {
		m = map[string]any{}
	}
	if _, ok := m["type"]; !ok {
		m["type"] = "object"
	}
	if _, ok := m["properties"]; !ok {
		m["properties"] = map[string]any{}
	}
	return m
}

// sanitize lowercases s and turns every character that is not a letter or
// digit into '_' (tool names are snake_case).
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// ToolGlob is the policy glob matching every tool of a server:
// mcp_<server>_*.
func ToolGlob(serverName string) string { return agents.MCPToolPrefix(serverName) + "*" }

// toolNames names a server's tools. Names stay unique: a tool whose
// sanitised name another tool already took gets a hash of its own name.
func toolNames(prefix string, remotes []string) map[string]string {
	out := map[string]string{}
	taken := map[string]bool{}
	for _, r := range remotes {
		n := prefix + sanitize(r)
		if len(n) > maxToolName || taken[n] {
			n = withHash(n, r)
		}
		for i := 2; taken[n]; i++ {
			n = withHash(n, fmt.Sprintf("%s#%d", r, i))
		}
		taken[n] = true
		out[r] = n
	}
	return out
}

func withHash(n, remote string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(remote))
	suffix := fmt.Sprintf("_%08x", h.Sum32())
	if len(n)+len(suffix) > maxToolName {
		n = n[:maxToolName-len(suffix)]
	}
	return n + suffix
}

func pathMatch(glob, name string) (bool, error) { return path.Match(glob, name) }
