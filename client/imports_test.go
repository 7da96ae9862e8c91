package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsStayOffTheControlPlane checks that a tool importing the client
// package does not pull in the gateway, the dashboard or the daemon.
func TestImportsStayOffTheControlPlane(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to list the import graph with")
	}
	out, err := exec.Command(goBin, "list", "-deps", "github.com/viberhq/viber/client").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/viberhq/viber/gateway",
		"github.com/viberhq/viber/web",
		"github.com/viberhq/viber/daemon",
		"github.com/viberhq/viber/agents",
		"github.com/viberhq/viber/stack",
		"github.com/viberhq/viber/internal",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("the client package depends on %s; tools would pull in the control plane or the dashboard", dep)
			}
		}
	}
}
