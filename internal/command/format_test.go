package command

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/viberhq/viber/bus"
)

func TestPrintDaemonsListsMCPServers(t *testing.T) {
	t.Parallel()
	list := []*bus.DaemonView{
		{DaemonInfo: bus.DaemonInfo{ID: "plain", Capacity: 4, LastSeen: time.Now()}, Online: true},
		{DaemonInfo: bus.DaemonInfo{ID: "tooled", Capacity: 2, LastSeen: time.Now(), MCPServers: []bus.MCPServerInfo{
			{Name: "files", Transport: "stdio", Status: "connected", Tools: []string{"mcp_files_read", "mcp_files_write"}},
			{Name: "github", Transport: "http", Status: "error", Error: "connect: Unauthorized"},
		}}, Online: true},
	}
	var b bytes.Buffer
	printDaemons(&b, list)
	out := b.String()
	for _, want := range []string{"MCP SERVER", "files", "stdio", "connected", "github", "connect: Unauthorized"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	var b2 bytes.Buffer
	printDaemons(&b2, list[:1])
	if strings.Contains(b2.String(), "MCP SERVER") {
		t.Errorf("a daemon without MCP servers got an MCP table:\n%s", b2.String())
	}
}
