package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/viberhq/viber/agents/mcpclient/mcptest"
	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/schemas"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// oddVersion is stamped into the test binaries: what `make build` gives on
// a clone without tags, which is not semver (the gateway must start anyway).
const oddVersion = "c06d841-dirty"

// binaries builds viber, vibergw and viberd once per test run, with `make
// build` as a user would (plain go build where make is missing), stamped
// with oddVersion.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "viber-bin-")
		if buildErr != nil {
			return
		}
		var cmd *exec.Cmd
		if _, err := exec.LookPath("make"); err == nil {
			cmd = exec.Command("make", "--no-print-directory", "-C", "..", "build", "BIN="+binDir, "VERSION="+oddVersion, "BUILDFLAGS=")
		} else {
			cmd = exec.Command("go", "build", "-ldflags", "-X github.com/viberhq/viber/internal/command.Version="+oddVersion,
				"-o", binDir+string(filepath.Separator), "../cmd/viber", "../cmd/vibergw", "../cmd/viberd")
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	mcptest.ServeIfAsked() // the test binary is also the tests' MCP server
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a started binary whose output is kept for failure messages.
type proc struct {
	cmd *exec.Cmd
	out *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(filepath.Join(binaries(t), name), args...)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, out: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s exited with %v\n%s", p.cmd.Path, err, p.out.String())
		}
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not stop within 15s after SIGTERM", p.cmd.Path)
	}
}

// run runs a CLI command to completion and returns stdout, stderr and the
// exit code.
func run(t *testing.T, env []string, name string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binaries(t), name), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return stdout.String(), stderr.String(), code
}

func waitHealthy(t *testing.T, httpAddr string, p *proc) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("gateway not healthy on %s:\n%s", httpAddr, p.out.String())
}

func modelEnv(fake *openaitest.Server) []string {
	return []string{"VIBER_PROVIDER=custom", "VIBER_MODEL=fake-model", "VIBER_BASE_URL=" + fake.URL, "VIBER_API_KEY=sk-cli-secret", "OPENAI_API_KEY=", "OPENAI_BASE_URL="}
}

func TestCLIUpSubmitWatch(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses POSIX signals")
	}
	t.Parallel()
	fake := openaitest.New(t, openaitest.Echo)
	natsAddr, httpAddr := freeAddr(t), freeAddr(t)
	env := append(modelEnv(fake), "VIBER_NATS_URL=nats://"+natsAddr, "VIBER_HOME="+t.TempDir())
	up := start(t, env, "viber", "up", "--data", t.TempDir(), "--nats-listen", natsAddr, "--http-listen", httpAddr)
	waitHealthy(t, httpAddr, up)

	stdout, stderr, code := run(t, env, "viber", "task", "submit", "--wait", "hello", "from", "the", "CLI")
	if code != 0 || strings.TrimSpace(stdout) != "echo: hello from the CLI" {
		t.Fatalf("submit --wait: code %d stdout %q stderr %q", code, stdout, stderr)
	}
	id := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(stderr, "\n", 2)[0], "task "))
	if !bus.ValidToken(id) {
		t.Fatalf("no task id on stderr: %q", stderr)
	}

	// watch --json: one envelope per line, each valid against its schema.
	stdout, stderr, code = run(t, env, "viber", "task", "watch", "--json", id)
	if code != 0 {
		t.Fatalf("watch: %d %s", code, stderr)
	}
	v, err := schemas.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		if err := v.Validate(sc.Bytes()); err != nil {
			t.Errorf("invalid event line %s: %v", sc.Text(), err)
		}
		var ev bus.Event
		_ = json.Unmarshal(sc.Bytes(), &ev)
		got = append(got, string(ev.Type))
	}
	if want := "viber.task.created viber.task.assigned viber.task.started viber.task.message viber.task.completed"; strings.Join(got, " ") != want {
		t.Fatalf("watch --json types: %v", got)
	}
	if strings.Contains(stdout, "sk-cli-secret") || strings.Contains(up.out.String(), "sk-cli-secret") {
		t.Fatal("API key leaked into events or logs")
	}

	// Human-readable commands.
	stdout, _, code = run(t, env, "viber", "task", "watch", id)
	if code != 0 || !strings.Contains(stdout, "completed") || !strings.Contains(stdout, "result: echo: hello from the CLI") {
		t.Fatalf("watch: %d\n%s", code, stdout)
	}
	stdout, _, code = run(t, env, "viber", "task", "ls")
	if code != 0 || !strings.Contains(stdout, id) || !strings.Contains(stdout, "completed") {
		t.Fatalf("ls: %d\n%s", code, stdout)
	}
	// Goal search, and a cursor past the only task.
	if stdout, _, code = run(t, env, "viber", "task", "ls", "--search", "HELLO FROM"); code != 0 || !strings.Contains(stdout, id) {
		t.Fatalf("ls --search: %d\n%s", code, stdout)
	}
	if stdout, _, code = run(t, env, "viber", "task", "ls", "--search", "nothing like it"); code != 0 || strings.Contains(stdout, id) {
		t.Fatalf("ls --search for nothing: %d\n%s", code, stdout)
	}
	if stdout, _, code = run(t, env, "viber", "task", "ls", "--before", id); code != 0 || strings.Contains(stdout, id) {
		t.Fatalf("ls --before: %d\n%s", code, stdout)
	}
	stdout, _, code = run(t, env, "viber", "task", "show", "--json", id)
	var sum bus.Summary
	if code != 0 || json.Unmarshal([]byte(stdout), &sum) != nil || sum.State != bus.StateCompleted || sum.Daemon != "local" {
		t.Fatalf("show --json: %d\n%s", code, stdout)
	}
	stdout, _, code = run(t, env, "viber", "daemon", "ls", "--json")
	var daemons bus.ListDaemonsResponse
	if code != 0 || json.Unmarshal([]byte(stdout), &daemons) != nil || len(daemons.Daemons) != 1 || !daemons.Daemons[0].Online {
		t.Fatalf("daemon ls --json: %d\n%s", code, stdout)
	}

	// Errors say what to do and exit non-zero.
	_, stderr, code = run(t, env, "viber", "task", "cancel", id)
	if code == 0 || !strings.Contains(stderr, "already completed") {
		t.Fatalf("cancel finished: %d %q", code, stderr)
	}
	_, stderr, code = run(t, env, "viber", "task", "watch", "01HZZZZZZZZZZZZZZZZZZZZZZZ")
	if code == 0 || !strings.Contains(stderr, "task ls") {
		t.Fatalf("watch unknown: %d %q", code, stderr)
	}
	_, stderr, code = run(t, env, "viber", "task", "submit")
	if code == 0 || !strings.Contains(stderr, "goal") {
		t.Fatalf("submit without goal: %d %q", code, stderr)
	}

	// A follow-up is a new turn that --wait can follow through watch.
	stdout, _, code = run(t, env, "viber", "task", "send", id, "and", "again")
	if code != 0 || !strings.Contains(stdout, "sent") {
		t.Fatalf("send: %d %s", code, stdout)
	}
	up.stop(t)
}

func TestCLISeparateProcesses(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses POSIX signals")
	}
	t.Parallel()
	fake := openaitest.New(t, openaitest.Echo)
	natsAddr, httpAddr := freeAddr(t), freeAddr(t)
	base := []string{"VIBER_NATS_URL=nats://" + natsAddr, "VIBER_HOME=" + t.TempDir()}
	// VIBER_NATS_URL, exported for the CLI, does not turn the gateway into
	// a client of that (its own) address: it embeds its server.
	gw := start(t, base, "vibergw", "--data", t.TempDir(), "--nats-listen", natsAddr, "--http-listen", httpAddr)
	waitHealthy(t, httpAddr, gw)

	// A daemon with no model: tasks fail with guidance, exit code 1.
	noModel := append(base, "VIBER_PROVIDER=", "VIBER_API_KEY=", "OPENAI_API_KEY=", "VIBER_BASE_URL=", "OPENAI_BASE_URL=")
	d1 := start(t, noModel, "viberd", "--name", "bare", "--workspace", t.TempDir(), "--heartbeat", "200ms")
	waitDaemon(t, base, "bare")
	_, stderr, code := run(t, base, "viber", "task", "submit", "--wait", "--daemon", "bare", "hi")
	if code != 1 || !strings.Contains(stderr, "OPENAI_API_KEY") {
		t.Fatalf("no model: code %d stderr %q", code, stderr)
	}
	d2 := start(t, append(modelEnv(fake), base...), "viberd", "--name", "worker", "--workspace", t.TempDir(), "--heartbeat", "200ms")
	waitDaemon(t, base, "worker")
	stdout, stderr, code := run(t, base, "viber", "task", "submit", "--wait", "--daemon", "worker", "separate")
	if code != 0 || strings.TrimSpace(stdout) != "echo: separate" {
		t.Fatalf("worker: code %d stdout %q stderr %q", code, stdout, stderr)
	}
	d1.stop(t)
	d2.stop(t)
	gw.stop(t)
}

// waitDaemon polls `viber daemon ls --json` until the daemon is online.
func waitDaemon(t *testing.T, env []string, name string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		stdout, _, code := run(t, env, "viber", "daemon", "ls", "--json")
		var r bus.ListDaemonsResponse
		if code == 0 && json.Unmarshal([]byte(stdout), &r) == nil {
			for _, d := range r.Daemons {
				if d.ID == name && d.Online {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("daemon %s never came online", name)
}

func TestCLISkillValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good-skill")
	bad := filepath.Join(dir, "Bad--Skill")
	for _, d := range []string{good, bad} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(good, "SKILL.md"), []byte("---\nname: good-skill\ndescription: Does a good thing.\n---\nBody.\n"), 0o644)
	os.WriteFile(filepath.Join(bad, "SKILL.md"), []byte("---\nname: Bad--Skill\ndescription: \"\"\nextra: 1\n---\n"), 0o644)
	stdout, _, code := run(t, nil, "viber", "skill", "validate", good)
	if code != 0 || !strings.Contains(stdout, "ok") {
		t.Fatalf("good: %d %s", code, stdout)
	}
	// The SKILL.md itself stands for its folder.
	stdout, stderr, code := run(t, nil, "viber", "skill", "validate", filepath.Join(good, "SKILL.md"))
	if code != 0 || !strings.Contains(stdout, "ok    "+good) {
		t.Fatalf("good/SKILL.md: %d %s %s", code, stdout, stderr)
	}
	stdout, stderr, code = run(t, nil, "viber", "skill", "validate", dir)
	if code != 1 || !strings.Contains(stdout, "FAIL") || !strings.Contains(stderr, "1 of 2") {
		t.Fatalf("bad: %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"name", "description", "extra"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("no problem reported about %s:\n%s", want, stdout)
		}
	}
}

func TestCLIApproveDeny(t *testing.T) {
	t.Parallel()
	fake := openaitest.New(t, func(r *openaitest.Request) openaitest.Reply {
		if tr := r.LastToolResult(); tr != "" {
			return openaitest.Reply{Text: "tool said: " + tr}
		}
		return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call("call-1", "shell", `{"command":"echo from-shell"}`)}}
	})
	natsAddr, httpAddr := freeAddr(t), freeAddr(t)
	env := append(modelEnv(fake), "VIBER_NATS_URL=nats://"+natsAddr, "VIBER_HOME="+t.TempDir())
	up := start(t, env, "viber", "up", "--data", t.TempDir(), "--nats-listen", natsAddr, "--http-listen", httpAddr)
	waitHealthy(t, httpAddr, up)
	for _, approve := range []bool{true, false} {
		stdout, _, code := run(t, env, "viber", "task", "submit", "run the shell")
		id := strings.TrimSpace(stdout)
		if code != 0 || id == "" {
			t.Fatalf("submit: %d %q", code, stdout)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			out, _, _ := run(t, env, "viber", "task", "show", id)
			// The waiting call with its tool and arguments.
			if strings.Contains(out, "waiting for approval") && strings.Contains(out, `call-1  shell {"command":"echo from-shell"}`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("never waited for approval:\n%s", out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// A call that is not waiting is refused, saying where to look.
		if _, stderr, code := run(t, env, "viber", "task", "approve", id, "call-9"); code != 1 || !strings.Contains(stderr, "call not found") || !strings.Contains(stderr, "viber task show") {
			t.Fatalf("approve an unknown call: %d %q", code, stderr)
		}
		verb := "deny"
		if approve {
			verb = "approve"
		}
		// A call that does not wait is refused as such (the task has not ended).
		if _, stderr, code := run(t, env, "viber", "task", verb, id, "call-nope"); code == 0 || !strings.Contains(stderr, `no call "call-nope" waiting for approval (waiting: call-1)`) || strings.Contains(stderr, "ended") {
			t.Fatalf("%s of an unknown call: exit %d, stderr %q; want a refusal naming the waiting call", verb, code, stderr)
		}
		// The README's form: the reason after the arguments.
		if out, stderr, code := run(t, env, "viber", "task", verb, id, "call-1", "--reason", "test says so"); code != 0 {
			t.Fatalf("%s: %d %s %s", verb, code, out, stderr)
		}
		stdout, _, code = run(t, env, "viber", "task", "watch", id)
		if code != 0 {
			t.Fatalf("watch: %d", code)
		}
		if approve && !strings.Contains(stdout, "tool said: from-shell") {
			t.Fatalf("approved run:\n%s", stdout)
		}
		if !approve && !strings.Contains(stdout, "test says so") {
			t.Fatalf("denied run:\n%s", stdout)
		}
	}
	// An unknown task and an unknown daemon are told apart.
	if _, stderr, code := run(t, env, "viber", "task", "show", "01HZZZZZZZZZZZZZZZZZZZZZZZ"); code != 1 || !strings.Contains(stderr, "task not found") || !strings.Contains(stderr, "viber task ls") {
		t.Fatalf("show an unknown task: %d %q", code, stderr)
	}
	if _, stderr, code := run(t, env, "viber", "task", "submit", "--daemon", "nobody", "hi"); code != 1 || !strings.Contains(stderr, "daemon not found") || !strings.Contains(stderr, "viber daemon ls") {
		t.Fatalf("submit to an unknown daemon: %d %q", code, stderr)
	}
	up.stop(t)
}

func TestCLIEdgeDaemon(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	fake := openaitest.New(t, func(r *openaitest.Request) openaitest.Reply {
		if strings.Contains(r.LastUser(), "through a cut") {
			<-release
		}
		return openaitest.Echo(r)
	})
	natsAddr, httpAddr, leafAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	proxy := newLinkProxy(t, leafAddr)
	base := []string{"VIBER_NATS_URL=nats://" + natsAddr, "VIBER_HOME=" + t.TempDir()}
	gw := start(t, []string{"VIBER_NATS_URL="}, "vibergw", "--data", t.TempDir(), "--nats-listen", natsAddr, "--http-listen", httpAddr,
		"--leaf-listen", leafAddr, "--work-ack-wait", "2s")
	waitHealthy(t, httpAddr, gw)
	edge := start(t, append(modelEnv(fake), base...), "viberd", "--leaf", proxy.URL(), "--data", t.TempDir(),
		"--name", "pi", "--workspace", t.TempDir(), "--heartbeat", "200ms", "--work-ack-wait", "2s")
	waitDaemon(t, base, "pi")
	stdout, stderr, code := run(t, base, "viber", "task", "submit", "--wait", "--daemon", "pi", "from", "the", "edge")
	if code != 0 || strings.TrimSpace(stdout) != "echo: from the edge" {
		t.Fatalf("edge task: %d %q %q\n%s", code, stdout, stderr, edge.out.String())
	}
	stdout, _, _ = run(t, base, "viber", "daemon", "ls")
	if !strings.Contains(stdout, "edge") {
		t.Fatalf("daemon ls does not mark the edge daemon:\n%s", stdout)
	}

	// Cut the link while a task waits for its model; the model answers
	// during the cut; heal; the hub's log has every event once, in order.
	stdout, _, code = run(t, base, "viber", "task", "submit", "--daemon", "pi", "work", "through", "a", "cut")
	id := strings.TrimSpace(stdout)
	if code != 0 || id == "" {
		t.Fatalf("submit: %d %q", code, stdout)
	}
	for arrived := false; !arrived; {
		select {
		case r := <-fake.Arrived():
			arrived = strings.Contains(r.LastUser(), "through a cut")
		case <-time.After(20 * time.Second):
			t.Fatal("the edge never called the model")
		}
	}
	proxy.Cut()
	close(release)
	time.Sleep(3 * time.Second)
	proxy.Heal()
	if got := watchTypes(t, base, id); got != "created assigned started message completed" {
		t.Fatalf("hub log after the cut: %s\n%s", got, edge.out.String())
	}
	edge.stop(t)
	gw.stop(t)
}

// watchTypes runs `viber task watch --json id` with env, checks that the
// events come with seq 1, 2, … and no event twice, and returns their types
// joined by spaces.
func watchTypes(t *testing.T, env []string, id string) string {
	t.Helper()
	stdout, stderr, code := run(t, env, "viber", "task", "watch", "--json", id)
	if code != 0 {
		t.Fatalf("watch: %d %s", code, stderr)
	}
	var types []string
	seen := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var ev bus.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Seq != uint64(i+1) || seen[ev.ID] {
			t.Fatalf("event %d: seq %d, seen before %v:\n%s", i, ev.Seq, seen[ev.ID], stdout)
		}
		seen[ev.ID] = true
		types = append(types, ev.Type.Short())
	}
	return strings.Join(types, " ")
}
