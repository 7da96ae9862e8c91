package command

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
)

// TestCLIUsage runs `viber usage` against a real gateway holding a task
// that used tokens, as a table and as JSON, and refuses a bad --days.
func TestCLIUsage(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	startGateway(t, env)

	// One task that ran a turn on custom/m: 1234 tokens in, 56 out, $0.25.
	actx := bustest.Context(t, 10*time.Second)
	id := bus.NewID()
	if _, err := env.Log.AppendPayload(actx, id, bus.GatewaySource("gw-test"), &bus.Created{Goal: "spend"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []bus.Payload{
		&bus.Assigned{Daemon: "d1", Attempt: 1},
		&bus.Started{Daemon: "d1", Provider: "custom", Model: "m"},
		&bus.Message{Role: "assistant", Text: "done"},
		&bus.Completed{Result: "done", Usage: &bus.Usage{InputTokens: 1234, OutputTokens: 56, CostUSD: 0.25}},
	} {
		if _, err := env.Log.AppendPayload(actx, id, bus.DaemonSource("d1"), p); err != nil {
			t.Fatal(err)
		}
	}

	run := func(args ...string) (string, error) {
		cliMu.Lock() // see cliMu: urfave/cli's global help flag
		defer cliMu.Unlock()
		app := Viber()
		var out bytes.Buffer
		app.Writer = &out
		app.ExitErrHandler = func(*cli.Context, error) {} // return errors instead of exiting
		err := Run(t.Context(), app, append([]string{"viber", "--nats-url", env.URL}, args...))
		return out.String(), err
	}
	today := time.Now().UTC().Format(bus.UsageDayLayout)
	// The summary is the projector's: wait until the usage counts it.
	var u bus.UsageResponse
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, err := run("usage", "--days", "7", "--json")
		if err != nil {
			t.Fatalf("usage --json: %v", err)
		}
		if err := json.Unmarshal([]byte(out), &u); err != nil {
			t.Fatalf("usage --json printed %q: %v", out, err)
		}
		if u.Total.Usage.InputTokens == 1234 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage --json never counted the task:\n%s", out)
		}
	}
	if len(u.Days) != 7 || u.To != today || u.Days[6].Usage.CostUSD != 0.25 || len(u.Total.Models) != 1 || u.Total.Models[0].Model != "custom/m" {
		t.Errorf("usage --json: %+v; want 7 days to %s, today $0.25 on custom/m", u, today)
	}
	out, err := run("usage", "--days", "7")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DAY (UTC)", today, "1234", "56", "$0.2500", "total", "custom/m", "created"} {
		if !strings.Contains(out, want) {
			t.Errorf("viber usage lacks %q:\n%s", want, out)
		}
	}
	if _, err := run("usage", "--days", "0"); err == nil || !strings.Contains(err.Error(), "give 1 to 366") {
		t.Errorf("--days 0: %v; want a refusal saying 1 to 366", err)
	}
}
