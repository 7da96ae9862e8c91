package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/channel/telegram/telegramtest"
)

const botToken = "4242:e2e-secret-bot-token"

// channelConfig writes a config file with a Telegram channel on the fake
// Bot API that admits user 42.
func channelConfig(t *testing.T, tg *telegramtest.Server) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	cfg := fmt.Sprintf("channels:\n  telegram:\n    token_env: E2E_BOT_TOKEN\n    allow_from: [42]\n    api_url: %s\n", tg.URL)
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitReply waits for the bot to say text in chat 42.
func waitReply(t *testing.T, tg *telegramtest.Server, text string, procs ...*proc) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		for _, m := range tg.BotMessages(42) {
			if m.Text == text {
				return
			}
		}
		select {
		case <-deadline:
			for _, p := range procs {
				t.Logf("output:\n%s", p.out.String())
			}
			t.Fatalf("no reply %q from the bot; it sent %+v", text, tg.BotMessages(42))
		case <-tg.Changed():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestCLIChannelRun(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses POSIX signals")
	}
	t.Parallel()
	fake := openaitest.New(t, openaitest.Echo)
	tg := telegramtest.New(t, botToken)
	natsAddr, httpAddr := freeAddr(t), freeAddr(t)
	env := append(modelEnv(fake), "VIBER_NATS_URL=nats://"+natsAddr, "VIBER_HOME="+t.TempDir(), "E2E_BOT_TOKEN="+botToken)
	up := start(t, env, "viber", "up", "--data", t.TempDir(), "--nats-listen", natsAddr, "--http-listen", httpAddr)
	waitHealthy(t, httpAddr, up)

	// Without the token the bridge says which variable to set.
	_, stderr, code := run(t, append(slices.Clone(env), "E2E_BOT_TOKEN="), "viber", "channel", "run", "--config", channelConfig(t, tg))
	if code == 0 || !strings.Contains(stderr, "$E2E_BOT_TOKEN is empty") {
		t.Fatalf("channel run without a token: code %d, stderr %q", code, stderr)
	}

	bridge := start(t, env, "viber", "channel", "run", "--config", channelConfig(t, tg))
	tg.SendText(0, 42, "alice", "hello")
	waitReply(t, tg, "echo: hello", up, bridge)
	bridge.stop(t)
	up.stop(t)
	if strings.Contains(bridge.out.String(), "e2e-secret-bot-token") {
		t.Error("the bot token leaked into the bridge's logs")
	}
}

func TestCLIUpRunsChannels(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses POSIX signals")
	}
	t.Parallel()
	fake := openaitest.New(t, openaitest.Echo)
	tg := telegramtest.New(t, botToken)
	natsAddr, httpAddr := freeAddr(t), freeAddr(t)
	env := append(modelEnv(fake), "VIBER_NATS_URL=nats://"+natsAddr, "VIBER_HOME="+t.TempDir(), "E2E_BOT_TOKEN="+botToken)
	up := start(t, env, "viber", "up", "--data", t.TempDir(), "--nats-listen", natsAddr, "--http-listen", httpAddr, "--config", channelConfig(t, tg))
	waitHealthy(t, httpAddr, up)
	tg.SendText(0, 42, "alice", "hello")
	waitReply(t, tg, "echo: hello", up)
	up.stop(t)
}
