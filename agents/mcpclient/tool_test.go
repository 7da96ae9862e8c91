package mcpclient

import (
	"regexp"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestToolNames(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("very-long-tool-name-", 5)
	names := toolNames("mcp_gh_", []string{"get-issue", "get_issue", "Get.Issue", long, long + "2", "ok"})
	valid := regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	seen := map[string]string{}
	for remote, n := range names {
		if !valid.MatchString(n) {
			t.Errorf("%q → %q is not a valid tool name", remote, n)
		}
		if other, dup := seen[n]; dup {
			t.Errorf("%q and %q both named %q", remote, other, n)
		}
		seen[n] = remote
	}
	if names["get-issue"] != "mcp_gh_get_issue" || names["ok"] != "mcp_gh_ok" {
		t.Errorf("plain names = %q, %q", names["get-issue"], names["ok"])
	}
	if names["get_issue"] == "mcp_gh_get_issue" {
		t.Errorf("the second get_issue took the first one's name")
	}
	// Stable: the same list gives the same names.
	again := toolNames("mcp_gh_", []string{"get-issue", "get_issue", "Get.Issue", long, long + "2", "ok"})
	for r, n := range names {
		if again[r] != n {
			t.Errorf("%q named %q, then %q", r, n, again[r])
		}
	}
	if g := ToolGlob("My-Server"); g != "mcp_my_server_*" {
		t.Errorf("ToolGlob = %q", g)
	}
}

func TestResultText(t *testing.T) {
	t.Parallel()
	res := &sdk.CallToolResult{
		Content: []sdk.Content{
			&sdk.TextContent{Text: `{"n": 1}`},
			&sdk.AudioContent{MIMEType: "audio/wav", Data: make([]byte, 10)},
			&sdk.EmbeddedResource{Resource: &sdk.ResourceContents{URI: "file:///a.txt", Text: "inside"}},
			&sdk.EmbeddedResource{Resource: &sdk.ResourceContents{URI: "file:///b.bin", MIMEType: "application/octet-stream", Blob: make([]byte, 7)}},
			&sdk.ResourceLink{URI: "file:///c", Name: "c"},
		},
		StructuredContent: map[string]any{"n": 1},
	}
	want := "{\"n\": 1}\n[audio audio/wav, 10 bytes, not shown]\n[resource file:///a.txt]\ninside\n[resource file:///b.bin application/octet-stream, 7 bytes, not shown]\n[resource file:///c c]"
	if got := resultText(res); got != want {
		t.Errorf("resultText =\n%s\nwant\n%s", got, want)
	}
	res.Content = nil
	if got := resultText(res); got != `structured content: {"n":1}` {
		t.Errorf("structured only = %q", got)
	}
}
