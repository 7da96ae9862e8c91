package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/viberhq/viber/agents/openaitest"
)

// TestExampleWatch builds and runs examples/watch against a live system, so
// the example cannot rot.
func TestExampleWatch(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", openaitest.Echo)
	r.gateway()
	r.daemon("d1")
	task := r.submit("example goal")
	r.follow(task.ID, 20*time.Second)

	bin := filepath.Join(t.TempDir(), "watch")
	if out, err := exec.Command("go", "build", "-o", bin, "../examples/watch").CombinedOutput(); err != nil {
		t.Fatalf("build example: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--nats-url", r.env.URL, task.ID).CombinedOutput()
	if err != nil {
		t.Fatalf("run example: %v\n%s", err, out)
	}
	for _, want := range []string{"created: example goal", "started on d1", "assistant says: echo: example goal", "completed: echo: example goal"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("example output lacks %q:\n%s", want, out)
		}
	}
}
