package e2e

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
)

// authViolations collects the errors the server reports to a client.
type authViolations struct {
	mu   sync.Mutex
	errs []string
}

func (v *authViolations) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.errs = append(v.errs, err.Error())
}

func (v *authViolations) wait(t *testing.T, subject string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		v.mu.Lock()
		for _, e := range v.errs {
			if strings.Contains(e, "Permissions Violation") && strings.Contains(e, subject) {
				v.mu.Unlock()
				return
			}
		}
		v.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	t.Errorf("no permissions violation for %s; got %q", subject, v.errs)
}

// TestAuthDaemonCredentials runs the whole system with auth on, from the
// real binaries: a daemon with an issued credential runs a task, and the
// same credential is refused what a daemon must not do.
func TestAuthDaemonCredentials(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses POSIX signals")
	}
	t.Parallel()
	fake := openaitest.New(t, openaitest.Echo)
	natsAddr, httpAddr := freeAddr(t), freeAddr(t)
	data, creds := t.TempDir(), t.TempDir()
	daemonCreds, userCreds := filepath.Join(creds, "worker.creds"), filepath.Join(creds, "cli.creds")
	url := "nats://" + natsAddr
	noEnv := []string{"VIBER_NATS_URL=", "VIBER_NATS_CREDS="}

	// Credentials can be issued before the gateway ever ran: the first
	// issue creates <data>/auth, which turns auth on.
	if _, stderr, code := run(t, noEnv, "vibergw", "creds", "daemon", "worker", "--data", data, "--out", daemonCreds); code != 0 {
		t.Fatalf("creds daemon: %d %s", code, stderr)
	}
	gw := start(t, noEnv, "vibergw", "--data", data, "--nats-listen", natsAddr, "--http-listen", httpAddr)
	waitHealthy(t, httpAddr, gw)
	// ...and after it started, without a restart.
	if _, stderr, code := run(t, noEnv, "vibergw", "--data", data, "creds", "user", "cli", "--out", userCreds); code != 0 {
		t.Fatalf("creds user: %d %s", code, stderr)
	}
	for _, f := range []string{daemonCreds, userCreds, filepath.Join(data, "auth", "account-signing.nk"), filepath.Join(data, "auth", "gateway.creds")} {
		st, err := os.Stat(f)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v %v", f, st.Mode(), err)
		}
	}

	cli := []string{"VIBER_NATS_URL=" + url, "VIBER_NATS_CREDS=" + userCreds, "VIBER_HOME=" + t.TempDir()}
	anon := []string{"VIBER_NATS_URL=" + url, "VIBER_NATS_CREDS=", "VIBER_HOME=" + t.TempDir()}

	// No credential, a missing one, a garbage one: refused with a clear error.
	if _, stderr, code := run(t, anon, "viber", "daemon", "ls"); code == 0 || !strings.Contains(strings.ToLower(stderr), "authorization violation") {
		t.Fatalf("anonymous CLI: code %d stderr %q", code, stderr)
	}
	missing := filepath.Join(creds, "missing.creds")
	if _, stderr, code := run(t, anon, "viberd", "--nats-url", url, "--name", "worker", "--creds", missing, "--workspace", t.TempDir()); code == 0 || !strings.Contains(stderr, "missing.creds") {
		t.Fatalf("missing creds: code %d stderr %q", code, stderr)
	}
	garbage := filepath.Join(creds, "garbage.creds")
	if err := os.WriteFile(garbage, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := run(t, anon, "viberd", "--nats-url", url, "--name", "worker", "--creds", garbage, "--workspace", t.TempDir()); code == 0 || stderr == "" {
		t.Fatalf("garbage creds: code %d stderr %q", code, stderr)
	}

	// The daemon with its credential runs a task end to end.
	d := start(t, append(modelEnv(fake), anon...), "viberd", "--nats-url", url, "--creds", daemonCreds,
		"--name", "worker", "--workspace", t.TempDir(), "--heartbeat", "200ms")
	waitDaemon(t, cli, "worker")
	stdout, stderr, code := run(t, cli, "viber", "task", "submit", "--wait", "--daemon", "worker", "with", "auth")
	if code != 0 || strings.TrimSpace(stdout) != "echo: with auth" {
		t.Fatalf("task with auth: code %d stdout %q stderr %q\ndaemon:\n%s", code, stdout, stderr, d.out.String())
	}
	stdout, stderr, code = run(t, cli, "viber", "task", "submit", "--wait", "unpinned")
	if code != 0 || strings.TrimSpace(stdout) != "echo: unpinned" {
		t.Fatalf("unpinned task: code %d stdout %q stderr %q", code, stdout, stderr)
	}

	// A daemon with a private-inbox credential (it may only subscribe to
	// its own reply subjects) works too, with viberd --private-inbox.
	privCreds := filepath.Join(creds, "private.creds")
	if _, stderr, code := run(t, noEnv, "vibergw", "creds", "daemon", "private", "--data", data, "--private-inbox", "--out", privCreds); code != 0 {
		t.Fatalf("creds daemon --private-inbox: %d %s", code, stderr)
	}
	pd := start(t, append(modelEnv(fake), anon...), "viberd", "--nats-url", url, "--creds", privCreds, "--private-inbox",
		"--name", "private", "--workspace", t.TempDir(), "--heartbeat", "200ms")
	waitDaemon(t, cli, "private")
	stdout, stderr, code = run(t, cli, "viber", "task", "submit", "--wait", "--daemon", "private", "private", "inbox")
	if code != 0 || strings.TrimSpace(stdout) != "echo: private inbox" {
		t.Fatalf("private-inbox daemon: code %d stdout %q stderr %q\ndaemon:\n%s", code, stdout, stderr, pd.out.String())
	}
	if strings.Contains(strings.ToLower(pd.out.String()), "permissions violation") {
		t.Fatalf("private-inbox daemon hit a permissions violation:\n%s", pd.out.String())
	}
	// Both daemons reach the memory bucket with their credentials.
	for _, out := range []string{d.out.String(), pd.out.String()} {
		if strings.Contains(out, "memory unavailable") || strings.Contains(out, "memory watch ended") {
			t.Fatalf("a daemon could not use the memory bucket with its credential:\n%s", out)
		}
	}

	// Another daemon's durable consumer with work waiting in it.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	admin, err := bus.Connect(bus.ConnectOptions{URL: url, CredsFile: filepath.Join(data, "auth", "gateway.creds")})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ajs, _ := jetstream.New(admin)
	if _, err := ajs.CreateOrUpdateConsumer(ctx, bus.WorkStream, bus.WorkConsumerConfig("other", bus.SetupOptions{})); err != nil {
		t.Fatal(err)
	}
	if err := bus.Assign(ctx, ajs, "secret-task", "other", 1, 0); err != nil {
		t.Fatal(err)
	}

	// The worker's credential, used by hand: every forbidden call refused.
	v := &authViolations{}
	nc, err := nats.Connect(url, nats.UserCredentials(daemonCreds), nats.ErrorHandler(v.handler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 500*time.Millisecond) }
	c1, cancel1 := short()
	defer cancel1()
	if err := js.DeleteStream(c1, bus.TaskStream); err == nil {
		t.Error("daemon credential deleted VIBER_TASKS")
	}
	v.wait(t, "$JS.API.STREAM.DELETE.VIBER_TASKS")
	if _, err := nc.Request("$JS.API.CONSUMER.MSG.NEXT.VIBER_WORK.daemon-other", []byte(`{"batch":1,"expires":200000000}`), 500*time.Millisecond); err == nil {
		t.Error("daemon credential pulled from daemon-other")
	}
	v.wait(t, "$JS.API.CONSUMER.MSG.NEXT.VIBER_WORK.daemon-other")
	// A daemon may create tasks (its spawn tool's children), nothing else
	// of the gateway's API.
	if _, err := nc.Request(bus.APISubject("task", "cancel"), []byte(`{"id":"sneaky"}`), 500*time.Millisecond); err == nil {
		t.Error("daemon credential called viber.api.task.cancel")
	}
	v.wait(t, "viber.api.task.cancel")
	c2, cancel2 := short()
	defer cancel2()
	if _, err := js.CreateStream(c2, jetstream.StreamConfig{Name: "EVIL", Subjects: []string{"evil.>"}}); err == nil {
		t.Error("daemon credential created a stream")
	}
	v.wait(t, "$JS.API.STREAM.CREATE.EVIL")
	// It creates no consumer on the task log: a push consumer would
	// deliver the log to a subject of its choosing.
	c3, cancel3 := short()
	defer cancel3()
	if _, err := js.CreateOrUpdateConsumer(c3, bus.TaskStream, jetstream.ConsumerConfig{Name: "evil", DeliverSubject: bus.APISubject("task", "create")}); err == nil {
		t.Error("daemon credential created a push consumer on VIBER_TASKS")
	}
	v.wait(t, "$JS.API.CONSUMER.CREATE.VIBER_TASKS.evil")
	// It may write task events only under its own writer token: not as
	// another daemon, not as a gateway.
	for _, writer := range []string{bus.DaemonWriter("other"), bus.GatewayWriter} {
		subj := bus.TaskEventSubject("secret-task", writer, bus.TypeCompleted)
		_ = nc.Publish(subj, []byte(`{}`))
		v.wait(t, subj)
	}

	// Nothing was harmed.
	other, err := ajs.Consumer(ctx, bus.WorkStream, bus.DaemonWorkConsumer("other"))
	if err != nil {
		t.Fatal(err)
	}
	if ci := other.CachedInfo(); ci.NumPending != 1 || ci.NumAckPending != 0 {
		t.Errorf("daemon-other's work was touched: pending %d ack pending %d", ci.NumPending, ci.NumAckPending)
	}
	if _, err := ajs.Stream(ctx, "EVIL"); err == nil {
		t.Error("stream EVIL exists")
	}
	if _, err := ajs.Stream(ctx, bus.TaskStream); err != nil {
		t.Errorf("VIBER_TASKS: %v", err)
	}

	// A CLI user may not write the log directly.
	uv := &authViolations{}
	unc, err := nats.Connect(url, nats.UserCredentials(userCreds), nats.ErrorHandler(uv.handler))
	if err != nil {
		t.Fatal(err)
	}
	defer unc.Close()
	_ = unc.Publish(bus.TaskEventSubject("t1", bus.GatewayWriter, bus.TypeCompleted), []byte(`{}`))
	uv.wait(t, "viber.task.t1.gw.completed")

	d.stop(t)
	gw.stop(t)
	// The daemon never hit a permission it lacks while working.
	if out := d.out.String(); strings.Contains(out, "Permissions Violation") || strings.Contains(out, "permissions violation") {
		t.Errorf("daemon was refused something it needs:\n%s", out)
	}
	if out := gw.out.String(); strings.Contains(out, "Permissions Violation for") && strings.Contains(out, "vibergw") {
		t.Errorf("gateway was refused something:\n%s", out)
	}
}
