package e2e

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/auth"
	"github.com/viberhq/viber/bus/server"
)

// TestAuthEdgeDaemon runs the production edge set-up from the real
// binaries: a hub with auth on, an edge daemon whose leaf link uses a
// credential from `vibergw creds edge`, a task through a link that is cut
// mid-task and heals (the hub's log has every event once, in order), and
// the same credential refused writing as another daemon and deleting
// streams.
func TestAuthEdgeDaemon(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses POSIX signals")
	}
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
	data, creds := t.TempDir(), t.TempDir()
	edgeCreds, userCreds := filepath.Join(creds, "pi.creds"), filepath.Join(creds, "cli.creds")
	noEnv := []string{"VIBER_NATS_URL=", "VIBER_NATS_CREDS=", "VIBER_LEAF_CREDS=", "VIBER_DATA="}
	if _, stderr, code := run(t, noEnv, "vibergw", "creds", "edge", "pi", "--data", data, "--out", edgeCreds); code != 0 {
		t.Fatalf("creds edge: %d %s", code, stderr)
	}
	if _, stderr, code := run(t, noEnv, "vibergw", "creds", "user", "cli", "--data", data, "--out", userCreds); code != 0 {
		t.Fatalf("creds user: %d %s", code, stderr)
	}
	// A daemon credential on a leaf link is refused at start with what to do.
	wrong := filepath.Join(creds, "daemon.creds")
	if _, stderr, code := run(t, noEnv, "vibergw", "creds", "daemon", "pi", "--data", data, "--out", wrong); code != 0 {
		t.Fatalf("creds daemon: %d %s", code, stderr)
	}
	if _, stderr, code := run(t, append(noEnv, "VIBER_HOME="+t.TempDir()), "viberd", "--leaf", proxy.URL(), "--leaf-creds", wrong, "--data", t.TempDir(),
		"--name", "pi", "--workspace", t.TempDir()); code == 0 || !strings.Contains(stderr, "vibergw creds edge pi") {
		t.Fatalf("viberd --leaf with a daemon credential: code %d stderr %q", code, stderr)
	}
	gw := start(t, noEnv, "vibergw", "--auth", "--data", data, "--nats-listen", natsAddr, "--http-listen", httpAddr,
		"--leaf-listen", leafAddr, "--work-ack-wait", "2s")
	waitHealthy(t, httpAddr, gw)
	cli := []string{"VIBER_NATS_URL=nats://" + natsAddr, "VIBER_NATS_CREDS=" + userCreds, "VIBER_HOME=" + t.TempDir()}
	edge := start(t, append(append(modelEnv(fake), noEnv...), "VIBER_HOME="+t.TempDir()), "viberd", "--leaf", proxy.URL(), "--leaf-creds", edgeCreds,
		"--data", t.TempDir(), "--name", "pi", "--workspace", t.TempDir(), "--heartbeat", "200ms", "--work-ack-wait", "2s")
	waitDaemon(t, cli, "pi")
	stdout, stderr, code := run(t, cli, "viber", "task", "submit", "--wait", "--daemon", "pi", "from", "the", "edge")
	if code != 0 || strings.TrimSpace(stdout) != "echo: from the edge" {
		t.Fatalf("edge task with auth: %d %q %q\n%s", code, stdout, stderr, edge.out.String())
	}

	// Cut the link while a task waits for its model; the model answers
	// during the cut; heal; the hub's log has every event once, in order.
	stdout, _, code = run(t, cli, "viber", "task", "submit", "--daemon", "pi", "work", "through", "a", "cut")
	id := strings.TrimSpace(stdout)
	if code != 0 || id == "" {
		t.Fatalf("submit: %d %q", code, stdout)
	}
	for arrived := false; !arrived; {
		select {
		case r := <-fake.Arrived():
			arrived = strings.Contains(r.LastUser(), "through a cut")
		case <-time.After(20 * time.Second):
			t.Fatalf("the edge never called the model\n%s", edge.out.String())
		}
	}
	proxy.Cut()
	close(release)
	time.Sleep(3 * time.Second)
	proxy.Heal()
	if got := watchTypes(t, cli, id); got != "created assigned started message completed" {
		t.Fatalf("hub log after the cut: %s\n%s", got, edge.out.String())
	}

	// The same credential on another leaf node, used by hand: what a daemon
	// must not do does not reach the hub, and the link stays up.
	probe, err := server.Start(server.Options{Dir: t.TempDir(), Listen: "none", Name: "edge-probe", Domain: "edge-probe",
		LeafRemote: "nats-leaf://" + leafAddr, LeafCreds: edgeCreds})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Shutdown()
	pnc, err := probe.ConnectInbox("probe", auth.DaemonInbox("pi"))
	if err != nil {
		t.Fatal(err)
	}
	defer pnc.Close()
	pjs, err := jetstream.NewWithDomain(pnc, "hub")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := pjs.Stream(c, bus.TaskStream)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the probe never reached the hub's JetStream: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, time.Second) }
	for _, writer := range []string{bus.DaemonWriter("other"), bus.GatewayWriter} {
		c, cancel := short()
		if _, err := pjs.Publish(c, bus.TaskEventSubject(id, writer, bus.TypeFailed), []byte(`{"forged":true}`)); err == nil {
			t.Errorf("the edge credential wrote a task event as %s", writer)
		}
		cancel()
	}
	for _, s := range []string{bus.TaskStream, bus.WorkStream} {
		c, cancel := short()
		if err := pjs.DeleteStream(c, s); err == nil {
			t.Errorf("the edge credential deleted %s", s)
		}
		cancel()
	}
	if !probe.LeafConnected() {
		t.Error("the probe's leaf link dropped")
	}
	admin, err := bus.Connect(bus.ConnectOptions{URL: "nats://" + natsAddr, CredsFile: filepath.Join(data, "auth", auth.GatewayCredsFile)})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ajs := mustJS(t, admin)
	for _, s := range []string{bus.TaskStream, bus.WorkStream} {
		if _, err := ajs.Stream(ctx, s); err != nil {
			t.Errorf("%s after the refusals: %v", s, err)
		}
	}
	tasks, err := ajs.Stream(ctx, bus.TaskStream)
	if err != nil {
		t.Fatal(err)
	}
	for _, writer := range []string{bus.DaemonWriter("other"), bus.GatewayWriter} {
		subj := bus.TaskEventSubject(id, writer, bus.TypeFailed)
		if _, err := tasks.GetLastMsgForSubject(ctx, subj); !errors.Is(err, jetstream.ErrMsgNotFound) {
			t.Errorf("%s on the hub: %v", subj, err)
		}
	}

	edge.stop(t)
	gw.stop(t)
	for name, p := range map[string]*proc{"viberd": edge, "vibergw": gw} {
		if out := strings.ToLower(p.out.String()); strings.Contains(out, "permissions violation") {
			t.Errorf("%s logged a permissions violation:\n%s", name, p.out.String())
		}
	}
}
