package bus_test

import (
	"maps"
	"testing"

	"github.com/viberhq/viber/bus"
)

func TestStricterPolicy(t *testing.T) {
	t.Parallel()
	parent := map[string]string{"shell": "deny", "web_fetch": "ask", "*": "ask"}
	child := map[string]string{"shell": "allow", "web_fetch": "deny", "mcp_github_*": "ask"}
	got := bus.StricterPolicy(parent, child)
	want := map[string]string{"shell": "deny", "web_fetch": "deny", "*": "ask", "mcp_github_*": "ask"}
	if !maps.Equal(got, want) {
		t.Errorf("StricterPolicy = %v, want %v", got, want)
	}
	if got := bus.StricterPolicy(nil, child); !maps.Equal(got, child) {
		t.Errorf("without a parent policy: %v", got)
	}
}
