package command

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/daemon"
	"github.com/viberhq/viber/doctor"
	"github.com/viberhq/viber/gateway"
	"github.com/viberhq/viber/stack"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cliMu serialises in-process runs of the CLI: urfave/cli v2 applies its
// global help flag (a package variable) at every run, so two runs at once
// race. Tests still set up their servers in parallel.
var cliMu sync.Mutex

// runViber runs the viber CLI app in this process with env as its whole
// environment (for init and doctor) and returns what it printed.
func runViber(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	return runViberWith(t, strings.NewReader(""), env, args...)
}

// runViberWith is runViber with stdin.
func runViberWith(t *testing.T, stdin io.Reader, env map[string]string, args ...string) (string, error) {
	t.Helper()
	cliMu.Lock()
	defer cliMu.Unlock()
	app := Viber()
	out := &lockedBuffer{}
	app.Writer, app.ErrWriter = out, out
	app.Reader = stdin
	app.ExitErrHandler = func(*cli.Context, error) {}
	app.Metadata = map[string]any{envMetadata: func(k string) string { return env[k] }}
	// --config reads VIBER_CONFIG from the real environment; pass the
	// test's own file so init can never touch a real one (and doctor reads
	// the test's, when there is one).
	if home := env["HOME"]; home != "" && !slices.Contains(args, "--config") {
		path := filepath.Join(home, ".viber", "config.yaml")
		_, err := os.Stat(path)
		if args[0] == "init" || (args[0] == "doctor" && err == nil) {
			args = append([]string{args[0], "--config", path}, args[1:]...)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := app.RunContext(ctx, append([]string{"viber"}, args...))
	return out.String(), err
}

// closedURL returns an address on which nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ec, ok := err.(cli.ExitCoder); ok {
		return ec.ExitCode()
	}
	return -1
}

func TestInitWritesConfigWithKeyReferenceOnly(t *testing.T) {
	t.Parallel()
	const secret = "sk-test-very-secret-4711"
	model := openaitest.New(t, func(*openaitest.Request) openaitest.Reply { return openaitest.Reply{Text: "ok"} })
	home := t.TempDir()
	env := map[string]string{"HOME": home, "MY_MODEL_KEY": secret}
	path := filepath.Join(home, ".viber", "config.yaml")

	out, err := runViber(t, env, "init", "--provider", "custom", "--base-url", model.URL, "--model", "tiny-model", "--api-key-env", "MY_MODEL_KEY", "--yes")
	if err != nil {
		t.Fatalf("viber init: %v\n%s", err, out)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("config not written at %s: %v\n%s", path, err, out)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v, want 0600", fi.Mode().Perm())
	}
	first, _ := os.ReadFile(path)
	if strings.Contains(string(first), secret) {
		t.Fatalf("the config holds the secret:\n%s", first)
	}
	if !strings.Contains(string(first), "api_key_env: MY_MODEL_KEY") {
		t.Errorf("config names no key variable:\n%s", first)
	}
	if strings.Contains(out, secret) {
		t.Errorf("init printed the secret:\n%s", out)
	}
	// The file is what daemons read: it resolves to the model with the key
	// from the environment.
	cfg, err := agents.LoadConfig(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("written config does not load: %v", err)
	}
	mc, err := cfg.Resolve("")
	if err != nil || mc.Model != "tiny-model" || mc.BaseURL != model.URL || mc.APIKey != secret {
		t.Fatalf("written config resolves to %v (err %v); want tiny-model at %s with the key of $MY_MODEL_KEY", mc, err, model.URL)
	}
	// One real completion went through, with the key.
	reqs := model.Requests()
	if len(reqs) != 1 || reqs[0].Model != "tiny-model" || reqs[0].Authorization != "Bearer "+secret {
		t.Fatalf("model got %d requests (first: %+v); want one for tiny-model with the key", len(reqs), reqs)
	}
	if !strings.Contains(out, `answered in`) {
		t.Errorf("init did not report the answer:\n%s", out)
	}
	for _, dir := range []string{filepath.Join(home, ".viber", "skills"), filepath.Join(home, ".viber", "data", "workspace", ".agents", "skills")} {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Errorf("skills folder %s not created: %v", dir, err)
		}
	}

	// Without --force an existing config is kept.
	out, err = runViber(t, env, "init", "--provider", "custom", "--base-url", model.URL, "--model", "other-model", "--yes")
	if err == nil || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second init without --force: err %v, want 'already exists ... --force'\n%s", err, out)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, first) {
		t.Fatalf("config changed without --force:\n%s", now)
	}

	// With --force it is replaced and the old one kept beside it.
	out, err = runViber(t, env, "init", "--provider", "custom", "--base-url", model.URL, "--model", "other-model", "--yes", "--force", "--no-check")
	if err != nil {
		t.Fatalf("init --force: %v\n%s", err, out)
	}
	backups, _ := filepath.Glob(path + ".bak-*")
	if len(backups) != 1 {
		t.Fatalf("backups %v, want one config.yaml.bak-TIME\n%s", backups, out)
	}
	if old, _ := os.ReadFile(backups[0]); !bytes.Equal(old, first) {
		t.Errorf("backup %s differs from the old config:\n%s", backups[0], old)
	}
	now, _ := os.ReadFile(path)
	if !strings.Contains(string(now), `"other-model"`) {
		t.Errorf("config not replaced:\n%s", now)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("replaced config: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	if len(model.Requests()) != 1 {
		t.Errorf("--no-check asked the model anyway (%d requests)", len(model.Requests()))
	}
}

func TestInitRefusesAKeyAsVariableName(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	out, err := runViber(t, map[string]string{"HOME": home}, "init", "--provider", "openai", "--api-key-env", "sk-abc123", "--yes")
	if err == nil || !strings.Contains(err.Error(), "name of an environment variable") {
		t.Fatalf("init with a key as --api-key-env: err %v, want a refusal\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(home, ".viber", "config.yaml")); err == nil {
		t.Fatal("a config was written")
	}
}

func TestInitFindsAServerByItsModelList(t *testing.T) {
	t.Parallel()
	model := openaitest.New(t, func(*openaitest.Request) openaitest.Reply { return openaitest.Reply{Text: "ok"} })
	model.SetModels("found-model", "second")
	home := t.TempDir()
	out, err := runViber(t, map[string]string{"HOME": home}, "init", "--detect", model.URL, "--yes")
	if err != nil {
		t.Fatalf("viber init --detect: %v\n%s", err, out)
	}
	if !strings.Contains(out, "found-model") {
		t.Errorf("init did not list the server's models:\n%s", out)
	}
	reqs := model.Requests()
	if len(reqs) == 0 || reqs[len(reqs)-1].Model != "found-model" {
		t.Fatalf("completion went to %+v; want the first listed model, found-model\n%s", reqs, out)
	}
}

// doctorReport runs `viber doctor --json` and decodes its report.
func doctorReport(t *testing.T, env map[string]string, args ...string) (*doctor.Report, string, error) {
	t.Helper()
	out, err := runViber(t, env, append([]string{"doctor", "--json"}, args...)...)
	var r doctor.Report
	if jerr := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &r); jerr != nil {
		t.Fatalf("doctor --json printed no report (%v):\n%s", jerr, out)
	}
	return &r, out, err
}

func check(t *testing.T, r *doctor.Report, name string) doctor.Check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in the report", name)
	return doctor.Check{}
}

func TestDoctorPassesAgainstARunningStack(t *testing.T) {
	t.Parallel()
	model := openaitest.New(t, func(*openaitest.Request) openaitest.Reply { return openaitest.Reply{Text: "ok"} })
	home := t.TempDir()
	data := t.TempDir()
	env := map[string]string{"HOME": home}
	if out, err := runViber(t, env, "init", "--provider", "custom", "--base-url", model.URL, "--model", "m", "--yes", "--no-check"); err != nil {
		t.Fatalf("viber init: %v\n%s", err, out)
	}
	cfg, err := agents.LoadConfig(filepath.Join(home, ".viber", "config.yaml"), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	st, err := stack.Start(context.Background(), stack.Config{
		Dir: data, NATSListen: "127.0.0.1:0",
		Gateway: gateway.Config{HTTPListen: "127.0.0.1:0", Version: "0.1.0-test", Logger: zerolog.Nop()},
		Daemon:  daemon.Config{Models: cfg, Home: filepath.Join(home, ".viber")},
	})
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	t.Cleanup(st.Stop)
	waitOnline(t, st, "local")

	r, out, err := doctorReport(t, env, "--nats-url", st.URL(), "--data", data)
	if err != nil || !r.OK {
		t.Fatalf("doctor failed against a running stack: %v\n%s", err, out)
	}
	for _, name := range []string{"config", "model", "nats", "jetstream", "streams", "buckets", "schedules", "gateway", "daemons", "clock", "skills", "disk"} {
		c := check(t, r, name)
		// The disk check may warn on a nearly full test machine.
		if c.Status != doctor.OK && name != "disk" {
			t.Errorf("%s: %s %q (fix %q), want ok", name, c.Status, c.Message, c.Fix)
		}
	}
	if c := check(t, r, "jetstream"); !strings.Contains(c.Message, `domain "hub"`) {
		t.Errorf("jetstream check does not name the domain: %q", c.Message)
	}
	if c := check(t, r, "daemons"); !strings.Contains(c.Message, "local") {
		t.Errorf("daemons check does not name the local daemon: %q", c.Message)
	}
	if c := check(t, r, "nats"); !strings.Contains(c.Message, "nats-server 2.") {
		t.Errorf("nats check does not give the server version: %q", c.Message)
	}

	// And a task uses the config init wrote.
	if out, err := runViber(t, env, "task", "submit", "--nats-url", st.URL(), "--wait", "say hi"); err != nil {
		t.Fatalf("task submit --wait: %v\n%s", err, out)
	}
	used := false
	for _, req := range model.Requests() {
		used = used || (req.Model == "m" && strings.Contains(req.LastUser(), "say hi"))
	}
	if !used {
		t.Errorf("no request for model m with the task's goal reached the model (%d requests)", len(model.Requests()))
	}

	// The text report: one line a check.
	text, err := runViber(t, env, "doctor", "--nats-url", st.URL(), "--data", data, "--no-model")
	if err != nil {
		t.Fatalf("doctor (text): %v\n%s", err, text)
	}
	for _, want := range []string{"ok    nats ", "ok    streams ", "skip  model ", "0 fail"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
}

func waitOnline(t *testing.T, st *stack.Stack, id string) {
	t.Helper()
	nc, err := st.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		p, err := bus.OpenPresence(ctx, js)
		if err == nil {
			var d *bus.DaemonInfo
			if d, err = p.Get(ctx, id); err == nil && d.Online(time.Now()) {
				cancel()
				return
			}
		}
		cancel()
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("daemon %s not online within 10s: %v", id, last)
}

func TestDoctorFailsWhenNATSIsDown(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	addr := closedAddr(t)
	r, out, err := doctorReport(t, map[string]string{"HOME": home}, "--nats-url", "nats://"+addr, "--no-model", "--data", home)
	if exitCode(err) != 1 || r.OK {
		t.Fatalf("doctor with NATS down: exit %d (err %v), ok=%v; want exit 1\n%s", exitCode(err), err, r.OK, out)
	}
	if c := check(t, r, "config"); c.Status != doctor.Warn || !strings.Contains(c.Fix, "viber init") {
		t.Errorf("config check without a file: %s %q fix %q; want a warning saying to run viber init", c.Status, c.Message, c.Fix)
	}
	c := check(t, r, "nats")
	if c.Status != doctor.Fail || !strings.Contains(c.Message, addr) || !strings.Contains(c.Fix, "viber up") {
		t.Errorf("nats check: %s %q fix %q; want fail naming %s and saying to start `viber up`", c.Status, c.Message, c.Fix, addr)
	}
	for _, name := range []string{"jetstream", "streams", "daemons", "clock"} {
		if c := check(t, r, name); c.Status != doctor.Skip {
			t.Errorf("%s: %s, want skip when NATS is down", name, c.Status)
		}
	}
	if !strings.HasSuffix(err.Error(), "checks failed: nats") || !strings.Contains(err.Error(), "1 of ") {
		t.Errorf("exit message %q does not name the one failed check, nats", err)
	}
}

func TestDoctorFailsWhenTheModelIsUnreachable(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	modelAddr := closedAddr(t)
	base := "http://" + modelAddr + "/v1"
	env := map[string]string{"HOME": home}
	if out, err := runViber(t, env, "init", "--provider", "custom", "--base-url", base, "--model", "m", "--yes", "--no-check"); err != nil {
		t.Fatalf("viber init: %v\n%s", err, out)
	}
	r, out, err := doctorReport(t, env, "--nats-url", "nats://"+closedAddr(t), "--model-timeout", "5s", "--data", home)
	if exitCode(err) != 1 {
		t.Fatalf("doctor exit %d (%v), want 1\n%s", exitCode(err), err, out)
	}
	c := check(t, r, "model")
	if c.Status != doctor.Fail || !strings.Contains(c.Message, base) || !strings.Contains(c.Fix, base) {
		t.Errorf("model check: %s %q fix %q; want fail naming %s", c.Status, c.Message, c.Fix, base)
	}
	if c := check(t, r, "config"); c.Status != doctor.OK {
		t.Errorf("config check: %s %q, want ok", c.Status, c.Message)
	}
}

func TestDoctorNamesAnUnknownConfigKeyWithItsLine(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	path := filepath.Join(home, "viber.yaml")
	body := "default_model: local\nproviders:\n  local: {kind: custom, base_url: \"http://127.0.0.1:1/v1\", model: m}\nmax_stpes: 3\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	r, out, err := doctorReport(t, map[string]string{"HOME": home}, "--config", path, "--nats-url", "nats://"+closedAddr(t), "--data", home)
	if exitCode(err) != 1 {
		t.Fatalf("doctor exit %d (%v), want 1\n%s", exitCode(err), err, out)
	}
	c := check(t, r, "config")
	if c.Status != doctor.Fail || !strings.Contains(c.Message, `line 4: unknown field "max_stpes" (did you mean "max_steps"?)`) {
		t.Errorf("config check: %s %q; want fail naming max_stpes at line 4 and suggesting max_steps", c.Status, c.Message)
	}
	if c := check(t, r, "model"); c.Status != doctor.Skip {
		t.Errorf("model check: %s, want skip when the config does not load", c.Status)
	}
}
