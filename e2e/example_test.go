package e2e

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/viberhq/viber/agents/openaitest"
)

// buildExample builds one of examples/ into a temporary directory.
func buildExample(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-o", bin, "../examples/"+name).CombinedOutput(); err != nil {
		t.Fatalf("build examples/%s: %v\n%s", name, err, out)
	}
	return bin
}

// TestExampleWatch builds and runs examples/watch against a live system, so
// the example cannot rot.
func TestExampleWatch(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", openaitest.Echo)
	r.gateway()
	r.daemon("d1")
	task := r.submit("example goal")
	events := r.follow(task.ID, 20*time.Second)

	bin := buildExample(t, "watch")
	out, err := exec.Command(bin, "--nats-url", r.env.URL, task.ID).CombinedOutput()
	if err != nil {
		t.Fatalf("run example: %v\n%s", err, out)
	}
	for _, want := range []string{"created: example goal", "started on d1", "assistant says: echo: example goal", "completed: echo: example goal"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("example output lacks %q:\n%s", want, out)
		}
	}
	// Resuming after the next-to-last event shows the last one only.
	after := events[len(events)-2].Seq
	out, err = exec.Command(bin, "--nats-url", r.env.URL, "--after", strconv.FormatUint(after, 10), task.ID).CombinedOutput()
	if err != nil {
		t.Fatalf("run example --after %d: %v\n%s", after, err, out)
	}
	if got := strings.TrimSpace(string(out)); strings.Count(got, "\n") != 0 || !strings.Contains(got, "completed: echo: example goal") {
		t.Errorf("example --after %d printed %q, want only the completed event", after, got)
	}
}

// TestExampleSubmit builds and runs examples/submit: it creates a task
// through the client package, follows it and prints the result.
func TestExampleSubmit(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", openaitest.Echo)
	r.gateway()
	r.daemon("d1")

	bin := buildExample(t, "submit")
	cmd := exec.Command(bin, "--nats-url", r.env.URL, "--daemon", "d1", "say", "hi")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run example: %v\nstdout %q\nstderr %s", err, out, stderr.String())
	}
	if got := strings.TrimSpace(string(out)); got != "echo: say hi" {
		t.Errorf("example printed %q, want the result %q (stderr %s)", got, "echo: say hi", stderr.String())
	}
	if !strings.Contains(stderr.String(), "completed") {
		t.Errorf("example's progress lacks the completed event:\n%s", stderr.String())
	}
	// A daemon nobody started is refused with its own error.
	out2, err := exec.Command(bin, "--nats-url", r.env.URL, "--daemon", "nobody", "say", "hi").CombinedOutput()
	if err == nil || !strings.Contains(string(out2), `no daemon "nobody"`) {
		t.Errorf("unknown daemon: err %v, output %q", err, out2)
	}
}
