package command

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/gateway"
)

func TestReorderArgs(t *testing.T) {
	t.Parallel()
	viber, gw := Viber(), Gateway()
	for _, tc := range []struct {
		app       string
		in, want  string
		separated bool
	}{
		// Flags after arguments move before them.
		{app: "viber", in: "viber task deny ID CALL --reason why", want: "viber task deny --reason why ID CALL"},
		{app: "viber", in: "viber task deny ID CALL --reason=why", want: "viber task deny --reason=why ID CALL"},
		// Global connection flags before the command move to it.
		{app: "viber", in: "viber --nats-url nats://h:4222 task submit say hi", want: "viber task submit --nats-url nats://h:4222 say hi"},
		{app: "viber", in: "viber --creds x.creds task --timeout 3s ls --json", want: "viber task ls --creds x.creds --timeout 3s --json"},
		// Bool flags take no value; value flags keep theirs even when it looks like a command.
		{app: "viber", in: "viber task submit --wait do it --daemon task", want: "viber task submit --wait --daemon task do it"},
		// Already in order: unchanged.
		{app: "viber", in: "viber task submit --wait hello", want: "viber task submit --wait hello"},
		// "--" ends flags; what follows stays arguments, after a "--".
		{app: "viber", in: "viber task send ID -- --steer is a word", want: "viber task send -- ID --steer is a word"},
		{app: "viber", in: "viber task send ID --steer -- -x", want: "viber task send --steer -- ID -x"},
		// A dash word that names no flag, once arguments have started, is an argument.
		{app: "viber", in: "viber task send ID -1 now", want: "viber task send -- ID -1 now"},
		{app: "viber", in: "viber task send ID - now", want: "viber task send ID - now"},
		// Before any argument, an unknown flag stays a flag (the command reports it).
		{app: "viber", in: "viber task submit --nope x", want: "viber task submit --nope x"},
		// Help goes to the deepest command named; version to the app.
		{app: "viber", in: "viber task submit --help", want: "viber task submit --help"},
		{app: "viber", in: "viber --help task", want: "viber task --help"},
		{app: "viber", in: "viber --version", want: "viber --version"},
		{app: "viber", in: "viber", want: "viber"},
		// A flag defined by the app and a subcommand goes to the subcommand.
		{app: "vibergw", in: "vibergw --data /d creds daemon pi --out pi.creds", want: "vibergw creds daemon --data /d --out pi.creds pi"},
		// App flags stay with the app.
		{app: "vibergw", in: "vibergw --nats-listen 127.0.0.1:4333 --auth", want: "vibergw --nats-listen 127.0.0.1:4333 --auth"},
	} {
		app := viber
		if tc.app == "vibergw" {
			app = gw
		}
		got := strings.Join(ReorderArgs(app, strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("%s\n got  %s\n want %s", tc.in, got, tc.want)
		}
	}
}

// startGateway runs a gateway (no HTTP listener) on env until the test
// ends.
func startGateway(t *testing.T, env *bustest.Env) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, gateway.Config{NC: env.Connect(t, "gateway"), HTTPListen: "none", Logger: zerolog.Nop()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := g.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); g.Stop() })
}

// TestCLIFlagsAnywhere runs the real viber command, flags after arguments
// and connection flags before the command, against a real gateway, and
// checks what reached the task log.
func TestCLIFlagsAnywhere(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	startGateway(t, env)
	cl, err := client.New(env.Connect(t, "test"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) error {
		cliMu.Lock() // see cliMu: urfave/cli's global help flag
		defer cliMu.Unlock()
		app := Viber()
		app.ExitErrHandler = func(*cli.Context, error) {} // return errors instead of exiting
		return Run(t.Context(), app, append([]string{"viber"}, args...))
	}

	// Connection flags before the command; a flag after the goal.
	if err := run("--nats-url", env.URL, "task", "submit", "flags", "anywhere", "--model", "openai/test-model"); err != nil {
		t.Fatalf("submit: %v", err)
	}
	// The list is the projector's view: wait until it has the task.
	var list *bus.ListTasksResponse
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		list, err = cl.ListTasks(bustest.Context(t, 5*time.Second), &bus.ListTasksRequest{})
		if err == nil && len(list.Tasks) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks after submit: %+v, %v; want the one task submitted", list, err)
		}
	}
	task := list.Tasks[0]
	if task.Goal != "flags anywhere" || task.Model != "openai/test-model" {
		t.Fatalf("task goal %q model %q; want \"flags anywhere\" and openai/test-model", task.Goal, task.Model)
	}

	// A follow-up that begins with a dash, flags after the arguments.
	if err := run("task", "send", task.ID, "-1", "is", "the", "answer", "--nats-url", env.URL); err != nil {
		t.Fatalf("send: %v", err)
	}
	// The README's deny example, its reason after the call id: the flag is
	// read, and the refusal is about the call (none waits).
	err = run("task", "deny", task.ID, "call_x", "--reason", "not on this machine", "--nats-url", env.URL)
	if err == nil || !strings.Contains(err.Error(), `no call "call_x" waiting for approval`) || strings.Contains(err.Error(), "already ended") {
		t.Fatalf("deny of an unknown call: %v; want a refusal naming call_x that does not say the task ended", err)
	}
	if err := run("task", "cancel", task.ID, "--reason", "changed my mind", "--nats-url", env.URL); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	var got []string
	for ev, err := range env.Log.Replay(bustest.Context(t, 5*time.Second), task.ID, bus.ReplayOptions{Follow: bus.UntilCaughtUp}) {
		if err != nil {
			t.Fatal(err)
		}
		p, err := ev.Decode()
		if err != nil {
			t.Fatal(err)
		}
		switch p := p.(type) {
		case *bus.Input:
			got = append(got, "input:"+p.Text)
		case *bus.CancelRequested:
			got = append(got, "cancel:"+p.Reason)
		}
	}
	if want := []string{"input:-1 is the answer", "cancel:changed my mind"}; !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	// The ended task removed, flags after the id.
	if err := run("task", "rm", task.ID, "--nats-url", env.URL); err != nil {
		t.Fatalf("rm: %v", err)
	}
	if _, err := cl.Task(bustest.Context(t, 5*time.Second), task.ID); !errors.Is(err, bus.ErrTaskNotFound) {
		t.Fatalf("task after rm: %v, want task not found", err)
	}
}

func TestPointsAt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		urls, listen string
		want         bool
	}{
		{"nats://127.0.0.1:4222", "127.0.0.1:4222", true},
		{"nats://nats:4222, nats://127.0.0.1:4333", "127.0.0.1:4333", true},
		{"nats://nats:4222", "127.0.0.1:4222", false},
		{"nats://localhost:4222", "127.0.0.1:4222", true},
		{"nats://127.0.0.1:4223", "127.0.0.1:4222", false},
	} {
		if got := pointsAt(tc.urls, tc.listen); got != tc.want {
			t.Errorf("pointsAt(%q, %q) = %v, want %v", tc.urls, tc.listen, got, tc.want)
		}
	}
}

func TestParseRetentionAndBytes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"": 0, "forever": -1, "720h": 720 * time.Hour, "30d": 30 * 24 * time.Hour, "1.5d": 36 * time.Hour} {
		if got, err := parseRetention(in); err != nil || got != want {
			t.Errorf("parseRetention(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"0", "-1h", "soon", "30x"} {
		if _, err := parseRetention(bad); err == nil {
			t.Errorf("parseRetention(%q) accepted", bad)
		}
	}
	for in, want := range map[string]int64{"": 0, "unlimited": -1, "1048576": 1 << 20, "10GB": 10 << 30, "512M": 512 << 20, "2 GiB": 2 << 30, "1k": 1 << 10} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"0", "-5", "10X", "GB"} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q) accepted", bad)
		}
	}
}
