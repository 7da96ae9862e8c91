package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/client"
)

// The compose end-to-end test runs the project's docker-compose.yml with
// Docker Compose v2 against a real engine: Viber's image is built from the
// project's Dockerfile (target "prebuilt": static binaries built here, on
// a local stand-in for debian:bookworm-slim), NATS is a local stand-in for
// the official image (e2e/testdata/compose/standins.sh makes both bases
// and the compose plugin, cached between runs). The user-facing file is
// used as it is: the images come from VIBER_IMAGE and NATS_IMAGE, and the
// test's own settings (random host ports, the scripted model, a short
// work-ack wait, fixed addresses for the edge) from an override file.

const (
	composeViberImage = "viber-e2e/viber:test"
	composeToken      = "compose-e2e-token-0123456789abcdef"
	composeAckWait    = "5s"
)

// composeRig is one running compose project.
type composeRig struct {
	t       *testing.T
	dir     string // project directory: the compose file, deploy/, the override
	project string
	bin     string // the host's viber, viberd and vibergw
	env     []string
	natsURL string
	httpURL string
	edgeIP  string // the edge daemon's address, and its address after the cut
	edgeIP2 string
	log     *bus.Log
	client  *client.Client
}

// dc runs `docker compose` on the project and returns its stdout.
func (c *composeRig) dc(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"compose", "-p", c.project, "--project-directory", c.dir,
		"-f", filepath.Join(c.dir, "docker-compose.yml"), "-f", filepath.Join(c.dir, "compose.e2e.yml")}, args...)
	cmd := exec.CommandContext(ctx, "docker", full...)
	cmd.Env = c.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("docker %s: %w\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), nil
}

// must runs `docker compose` and fails the test on an error.
func (c *composeRig) must(within time.Duration, args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	out, err := c.dc(ctx, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

func docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func mustDocker(t *testing.T, within time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	out, err := docker(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// composeEngine skips the test, saying why, where no Docker engine runs,
// and returns the stand-in images' names otherwise.
func composeEngine(t *testing.T) (base, nats string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the compose test builds images and runs containers")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the compose test runs on Linux (it uses host-gateway and a local Debian base)")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker client on PATH: .ci/run installs docker.io and starts dockerd (as root)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := docker(ctx, "info", "--format", "{{.ServerVersion}}"); err != nil {
		t.Skipf("no Docker engine answers (%v): .ci/run starts `dockerd --storage-driver=vfs` as root where it can", strings.TrimSpace(firstLine(out)))
	}
	cmd := exec.Command("bash", filepath.Join("testdata", "compose", "standins.sh"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	began := time.Now()
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 3 {
			t.Skipf("cannot make the stand-in images: %s", strings.TrimSpace(errb.String()))
		}
		t.Fatalf("testdata/compose/standins.sh: %v\n%s", err, errb.String())
	}
	t.Logf("stand-ins ready in %s", time.Since(began).Round(time.Second))
	for _, line := range strings.Split(out.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "BASE_IMAGE="); ok {
			base = v
		}
		if v, ok := strings.CutPrefix(line, "NATS_IMAGE="); ok {
			nats = v
		}
	}
	if base == "" || nats == "" {
		t.Fatalf("standins.sh named no images:\n%s", out.String())
	}
	return base, nats
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// buildViberImage builds static binaries here (returning their folder,
// whose viber the test also uses as the host's CLI) and packs them with the
// project's Dockerfile (target prebuilt) on the stand-in base. The web and
// Go stages are skipped: they would need Node and Go images and rebuild
// everything without this machine's build cache at every change.
func buildViberImage(t *testing.T, base string) (bin string) {
	t.Helper()
	ctxDir := t.TempDir()
	began := time.Now()
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X github.com/viberhq/viber/internal/command.Version=0.0.0-compose-e2e",
		"-o", ctxDir+string(filepath.Separator), "../cmd/viber", "../cmd/vibergw", "../cmd/viberd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static go build: %v\n%s", err, out)
	}
	old, _ := docker(context.Background(), "image", "inspect", "--format", "{{.Id}}", composeViberImage)
	dockerfile, err := filepath.Abs(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	// The classic builder: it needs no buildx plugin and builds the stages
	// up to the target only (the runtime stage comes first in the file).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "build", "-q", "--target", "prebuilt", "-f", dockerfile,
		"--build-arg", "RUNTIME_IMAGE="+base, "-t", composeViberImage, ctxDir)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build --target prebuilt: %v\n%s", err, out)
	}
	if old = strings.TrimSpace(old); old != "" {
		if now, _ := docker(context.Background(), "image", "inspect", "--format", "{{.Id}}", composeViberImage); strings.TrimSpace(now) != old {
			_, _ = docker(context.Background(), "image", "rm", old) // the last run's image; its base layers stay cached
		}
	}
	t.Logf("viber image built in %s", time.Since(began).Round(time.Second))
	return ctxDir
}

// randomOctet is a random number in [0, n).
func randomOctet(t *testing.T, n int64) int64 {
	t.Helper()
	v, err := rand.Int(rand.Reader, big.NewInt(n))
	if err != nil {
		t.Fatal(err)
	}
	return v.Int64()
}

func newComposeRig(t *testing.T, base, natsImage string, modelPort int) *composeRig {
	t.Helper()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	c := &composeRig{t: t, dir: t.TempDir(), project: "vibere2e" + hex.EncodeToString(suffix)}
	// The user-facing files, unchanged.
	for _, f := range []string{"docker-compose.yml", filepath.Join("deploy", "nats.conf")} {
		b, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(c.dir, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(c.dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Two networks of our own addresses (outside Docker's default pools):
	// the project's network, where the edge daemon has a fixed address and
	// comes back from the cut with another one (so its leaf link really
	// breaks and must be redialled), and a second one that reaches the
	// scripted model on the host while the first is cut.
	n := randomOctet(t, 250)
	subnet, modelSubnet := fmt.Sprintf("10.207.%d.0/24", n), fmt.Sprintf("10.208.%d.0/24", n)
	c.edgeIP, c.edgeIP2 = fmt.Sprintf("10.207.%d.200", n), fmt.Sprintf("10.207.%d.201", n)
	modelHost := fmt.Sprintf("10.208.%d.1", n)
	override := fmt.Sprintf(`# The compose e2e test's settings (e2e/compose_test.go).
services:
  nats:
    ports: !override ["127.0.0.1::4222"]
  vibergw:
    ports: !override ["127.0.0.1::6009"]
    environment:
      VIBER_WORK_ACK_WAIT: %[1]s
  viberd-1:
    environment: &model
      VIBER_WORK_ACK_WAIT: %[1]s
      VIBER_PROVIDER: custom
      VIBER_MODEL: fake-model
      VIBER_API_KEY: sk-compose-secret
      VIBER_BASE_URL: http://host.docker.internal:%[2]d/v1
  viberd-2:
    environment: *model
  viberd-edge:
    environment:
      <<: *model
      VIBER_BASE_URL: http://%[3]s:%[2]d/v1
    networks:
      default: {ipv4_address: %[4]s}
      model: {}
networks:
  default:
    ipam: {config: [{subnet: "%[5]s"}]}
  model:
    ipam: {config: [{subnet: "%[6]s", gateway: "%[3]s"}]}
`, composeAckWait, modelPort, modelHost, c.edgeIP, subnet, modelSubnet)
	if err := os.WriteFile(filepath.Join(c.dir, "compose.e2e.yml"), []byte(override), 0o644); err != nil {
		t.Fatal(err)
	}
	// Only what the compose file interpolates, plus what docker needs.
	c.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"VIBER_IMAGE=" + composeViberImage, "NATS_IMAGE=" + natsImage, "VIBER_HTTP_TOKEN=" + composeToken}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		c.env = append(c.env, "DOCKER_HOST="+h)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if t.Failed() {
			logs, _ := c.dc(ctx, "logs", "--no-color", "--tail", "60")
			ps, _ := c.dc(ctx, "ps", "-a")
			t.Logf("compose ps:\n%s\ncompose logs:\n%s", ps, logs)
		}
		if _, err := c.dc(ctx, "down", "-v", "--remove-orphans", "-t", "2"); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	return c
}

// up starts services and waits until compose reports them healthy.
func (c *composeRig) up(services ...string) {
	c.t.Helper()
	began := time.Now()
	c.must(5*time.Minute, append([]string{"up", "-d", "--no-build", "--pull", "never", "--wait", "--wait-timeout", "180"}, services...)...)
	c.t.Logf("up %v healthy in %s", services, time.Since(began).Round(time.Second))
}

// port is the host address a service's container port is published on.
func (c *composeRig) port(service string, port int) string {
	c.t.Helper()
	out := strings.TrimSpace(c.must(30*time.Second, "port", service, fmt.Sprint(port)))
	if out == "" {
		c.t.Fatalf("%s:%d is not published", service, port)
	}
	return out
}

// connect opens the test's own NATS connection through the published port.
func (c *composeRig) connect() {
	c.t.Helper()
	c.natsURL = "nats://" + c.port("nats", 4222)
	c.httpURL = "http://" + c.port("vibergw", 6009)
	nc, err := bus.Connect(bus.ConnectOptions{URL: c.natsURL, Name: "compose-e2e"})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatal(err)
	}
	c.log = bus.NewLog(js)
	if c.client, err = client.New(nc); err != nil {
		c.t.Fatal(err)
	}
}

// viber runs the host's viber CLI against the stack.
func (c *composeRig) viber(args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "viber"), args...)
	cmd.Env = append(os.Environ(), "VIBER_NATS_URL="+c.natsURL, "NATS_URL=", "VIBER_HOME="+c.t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("viber %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// events replays a task's stored events without waiting for more.
func (c *composeRig) events(id string) []*bus.Event {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*bus.Event
	for ev, err := range c.log.Replay(ctx, id, bus.ReplayOptions{}) {
		if err != nil {
			c.t.Fatalf("replay %s: %v", id, err)
		}
		out = append(out, ev)
	}
	return out
}

// waitAssigned waits for the task's first assignment and returns its daemon.
func (c *composeRig) waitAssigned(id string, within time.Duration) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for ev, err := range c.log.Replay(ctx, id, bus.ReplayOptions{Follow: bus.Forever}) {
		if err != nil {
			c.t.Fatalf("waiting for %s's assignment: %v", id, err)
		}
		if ev.Type == bus.TypeAssigned {
			return payload[bus.Assigned](c.t, ev).Daemon
		}
	}
	return ""
}

// checkOnceInOrder fails unless every event has the next seq and a
// distinct id.
func checkOnceInOrder(t *testing.T, events []*bus.Event) {
	t.Helper()
	checkOrdered(t, events)
	seen := map[string]bool{}
	for _, ev := range events {
		if seen[ev.ID] {
			t.Fatalf("event %s (%s) stored twice: %s", ev.ID, ev.Type, types(events))
		}
		seen[ev.ID] = true
	}
}

// arrival waits for the scripted model to receive a request about goal.
func arrival(t *testing.T, fake *openaitest.Server, goal string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case r := <-fake.Arrived():
			if strings.Contains(r.LastUser(), goal) {
				return
			}
		case <-deadline:
			t.Fatalf("the model never got a request for %q", goal)
		}
	}
}

// TestCompose runs docker-compose.yml for real: health, the CLI from the
// host, docker compose exec, a daemon container killed mid-task, the edge
// daemon's network cut mid-task, and docker compose down -v.
func TestCompose(t *testing.T) {
	t.Parallel()
	base, natsImage := composeEngine(t)
	began := time.Now()
	bin := buildViberImage(t, base)

	// The scripted model, on all of the host's addresses so containers
	// reach it (host.docker.internal is the host's docker0 address).
	stop := make(chan struct{})
	release := make(chan struct{})
	var killCalls atomic.Int32
	fake := openaitest.NewOn(t, "0.0.0.0:0", func(r *openaitest.Request) openaitest.Reply {
		goal := r.LastUser()
		switch {
		case strings.Contains(goal, "survive a kill"):
			if killCalls.Add(1) == 1 {
				<-stop // the killed daemon's call never gets an answer
				return openaitest.Reply{Status: http.StatusServiceUnavailable, Error: "test over"}
			}
		case strings.Contains(goal, "through a cut"):
			if r.LastToolResult() != "" {
				return openaitest.Reply{Text: "wrote it through the cut"}
			}
			select {
			case <-release:
			case <-stop:
			}
			return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call("c1", "write_file", `{"path":"during-cut.txt","content":"offline"}`)}}
		}
		return openaitest.Echo(r)
	})
	t.Cleanup(func() { close(stop) }) // before the fake closes: cleanups run last-in first-out
	c := newComposeRig(t, base, natsImage, fake.Port())
	c.bin = bin

	// The hub and two daemons, healthy by their healthchecks.
	c.up("nats", "vibergw", "viberd-1", "viberd-2")
	c.connect()

	// The gateway's HTTP: health is open, the API wants the token.
	resp, err := http.Get(c.httpURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var health struct {
		Status    string `json:"status"`
		JetStream bool   `json:"jetstream"`
	}
	err = json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || health.Status != "ok" || !health.JetStream {
		t.Fatalf("/healthz: %d %+v %v", resp.StatusCode, health, err)
	}
	for _, tc := range []struct {
		token string
		want  int
	}{{"", http.StatusUnauthorized}, {composeToken, http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodGet, c.httpURL+"/api/daemons", nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("GET /api/daemons with token %q: %d, want %d", tc.token, resp.StatusCode, tc.want)
		}
	}

	// The gateway refuses the token .env.example ships.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	out, err := c.dc(ctx, "run", "--rm", "--no-deps", "-T", "-e", "VIBER_HTTP_TOKEN=change-me-to-a-long-random-string", "vibergw")
	cancel()
	if err == nil || !strings.Contains(err.Error(), "placeholder") {
		t.Fatalf("vibergw with the placeholder token: want a refusal naming the placeholder; got %v\n%s", err, out)
	}

	// The viber CLI inside the gateway's container finds NATS.
	ls := c.must(time.Minute, "exec", "-T", "vibergw", "viber", "daemon", "ls")
	for _, d := range []string{"worker-1", "worker-2"} {
		if !strings.Contains(ls, d) {
			t.Fatalf("docker compose exec vibergw viber daemon ls does not list %s:\n%s", d, ls)
		}
	}

	// A task with the CLI from the host, through host.docker.internal to
	// the model.
	if out := c.viber("task", "submit", "--wait", "hello from the host"); !strings.Contains(out, "echo: hello from the host") {
		t.Fatalf("viber task submit --wait: %q", out)
	}

	// A daemon container killed mid-task: the other daemon finishes it.
	id := strings.TrimSpace(c.viber("task", "submit", "survive a kill"))
	arrival(t, fake, "survive a kill", time.Minute)
	first := c.waitAssigned(id, 30*time.Second)
	pair, ok := map[string][2]string{"worker-1": {"viberd-1", "worker-2"}, "worker-2": {"viberd-2", "worker-1"}}[first]
	victim, other := pair[0], pair[1]
	if !ok {
		t.Fatalf("task assigned to %q, want worker-1 or worker-2", first)
	}
	killed := time.Now()
	c.must(time.Minute, "kill", victim)
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Minute)
	events := followLog(t, ctx, c.log, id)
	cancel()
	checkOnceInOrder(t, events)
	var assigned []string
	for _, ev := range events {
		if ev.Type == bus.TypeAssigned {
			assigned = append(assigned, payload[bus.Assigned](t, ev).Daemon)
		}
	}
	last := events[len(events)-1]
	if last.Type != bus.TypeCompleted || len(assigned) < 2 || assigned[len(assigned)-1] != other {
		t.Fatalf("after killing %s (%s): events %s, assignments %v; want it completed on %s", victim, first, types(events), assigned, other)
	}
	if r := payload[bus.Completed](t, last).Result; r != "echo: survive a kill" {
		t.Fatalf("result after the kill: %q", r)
	}
	t.Logf("killed %s mid-task; completed on %s %s later: %s", victim, other, time.Since(killed).Round(time.Second), types(events))

	// The edge daemon: its volume belongs to the image's user.
	c.up("viberd-edge")
	if owner := strings.TrimSpace(c.must(time.Minute, "exec", "-T", "viberd-edge", "stat", "-c", "%U", "/home/viber/.viber", "/home/viber/.viber/edge")); owner != "viber\nviber" {
		t.Fatalf("edge volume owned by %q, want viber", owner)
	}
	edge := strings.TrimSpace(c.must(30*time.Second, "ps", "-q", "viberd-edge"))
	network := c.project + "_default"

	// Its network cut mid-task, and back with another address: the task
	// goes on at the edge, the edge gives up the dead leaf link and dials
	// the hub again, and every event reaches the hub once and in order.
	id = strings.TrimSpace(c.viber("task", "submit", "--daemon", "edge-1", "work through a cut"))
	arrival(t, fake, "through a cut", time.Minute)
	mustDocker(t, time.Minute, "network", "disconnect", network, edge)
	cut := time.Now()
	close(release)
	deadline := time.Now().Add(time.Minute)
	for !hasToolResultFor(fake, "through a cut") {
		if time.Now().After(deadline) {
			t.Fatal("the edge task did not go on while its network was cut")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := c.must(30*time.Second, "exec", "-T", "viberd-edge", "cat", "/workspace/during-cut.txt"); got != "offline" {
		t.Fatalf("file written during the cut: %q", got)
	}
	time.Sleep(2 * time.Second) // the edge stores its last events while cut off
	if evs := c.events(id); len(evs) > 0 && evs[len(evs)-1].Type == bus.TypeCompleted {
		t.Fatalf("the hub saw the task complete while the edge was cut off (%s): the cut did not cut", types(evs))
	}
	mustDocker(t, time.Minute, "network", "connect", "--ip", c.edgeIP2, network, edge)
	healed := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Minute)
	events = followLog(t, ctx, c.log, id)
	cancel()
	checkOnceInOrder(t, events)
	if got, want := types(events), "created assigned started tool_call tool_result message completed"; got != want {
		t.Fatalf("hub log after the cut: %s, want %s", got, want)
	}
	if r := payload[bus.Completed](t, events[len(events)-1]).Result; r != "wrote it through the cut" {
		t.Fatalf("edge result %q", r)
	}
	t.Logf("edge cut for %s; hub complete %s after the heal", healed.Sub(cut).Round(time.Second), time.Since(healed).Round(time.Second))
	// The hub saw the link break and the edge dial it again.
	logs := c.must(time.Minute, "logs", "--no-color", "nats")
	if n := strings.Count(logs, "Leafnode connection created"); n < 2 {
		t.Errorf("the hub logged %d leaf connections, want the first and the one after the cut:\n%s", n, logs)
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(strings.ToLower(line), "leafnode") {
			t.Logf("leaf link: %s", line)
		}
	}

	// docker compose down -v leaves nothing of the project behind.
	c.must(3*time.Minute, "down", "-v", "-t", "5")
	label := "label=com.docker.compose.project=" + c.project
	if left := strings.TrimSpace(mustDocker(t, time.Minute, "ps", "-aq", "--filter", label) + mustDocker(t, time.Minute, "volume", "ls", "-q", "--filter", label) +
		mustDocker(t, time.Minute, "network", "ls", "-q", "--filter", label)); left != "" {
		t.Fatalf("after down -v, left behind: %s", left)
	}
	t.Logf("compose test took %s after the stand-ins", time.Since(began).Round(time.Second))
}

// hasToolResultFor reports whether the model got a request about goal that
// carries a tool result.
func hasToolResultFor(fake *openaitest.Server, goal string) bool {
	for _, r := range fake.Requests() {
		if r.LastToolResult() != "" && strings.Contains(r.LastUser(), goal) {
			return true
		}
	}
	return false
}
