package e2e

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/viberhq/viber/agents/openaitest"
)

// TestCLIFirstTenMinutes is the README's first ten minutes with the real
// binaries: init writes a config from flags, up runs with it, doctor
// passes, a task uses the model, and doctor fails once Viber is stopped.
func TestCLIFirstTenMinutes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses POSIX signals")
	}
	t.Parallel()
	const secret = "sk-e2e-init-secret"
	fake := openaitest.New(t, openaitest.Echo)
	home, data := t.TempDir(), t.TempDir()
	natsAddr, httpAddr := freeAddr(t), freeAddr(t)
	env := []string{
		"HOME=" + home, "VIBER_HOME=", "VIBER_CONFIG=", "VIBER_DATA=" + data, "VIBER_WORKSPACE=", "VIBER_NATS_URL=nats://" + natsAddr,
		"VIBER_PROVIDER=", "VIBER_MODEL=", "VIBER_BASE_URL=", "VIBER_API_KEY=", "OPENAI_API_KEY=", "OPENAI_BASE_URL=",
		"ANTHROPIC_API_KEY=", "OPENROUTER_API_KEY=", "DEEPSEEK_API_KEY=", "MODEL_KEY=" + secret,
	}

	stdout, stderr, code := run(t, env, "viber", "init", "--provider", "custom", "--base-url", fake.URL, "--model", "fake-model", "--api-key-env", "MODEL_KEY", "--yes")
	if code != 0 {
		t.Fatalf("viber init: exit %d\n%s%s", code, stdout, stderr)
	}
	path := filepath.Join(home, ".viber", "config.yaml")
	body, err := os.ReadFile(path)
	if err != nil || strings.Contains(string(body), secret) {
		t.Fatalf("config %s: %v; holds the secret: %v\n%s", path, err, strings.Contains(string(body), secret), body)
	}

	up := start(t, env, "viber", "up", "--nats-listen", natsAddr, "--http-listen", httpAddr)
	waitHealthy(t, httpAddr, up)
	waitDaemon(t, env, "local")

	stdout, stderr, code = run(t, env, "viber", "doctor")
	if code != 0 || !strings.Contains(stdout, "0 fail") {
		t.Fatalf("viber doctor against viber up: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = run(t, env, "viber", "task", "submit", "--wait", "first", "task")
	if code != 0 || strings.TrimSpace(stdout) != "echo: first task" {
		t.Fatalf("task with the config init wrote: exit %d stdout %q stderr %q", code, stdout, stderr)
	}
	for _, r := range fake.Requests() {
		if r.Authorization != "Bearer "+secret {
			t.Fatalf("a model request carried %q, not the key of $MODEL_KEY", r.Authorization)
		}
	}
	if strings.Contains(up.out.String(), secret) {
		t.Fatal("the key leaked into viber up's logs")
	}

	up.stop(t)
	stdout, stderr, code = run(t, env, "viber", "doctor", "--no-model")
	if code != 1 || !strings.Contains(stdout, "FAIL  nats") || !strings.Contains(stderr, "nats") {
		t.Fatalf("doctor with Viber stopped: exit %d\n%s%s", code, stdout, stderr)
	}
}
