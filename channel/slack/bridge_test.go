package slack_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/channel"
	"github.com/viberhq/viber/channel/slack"
	"github.com/viberhq/viber/channel/slack/slacktest"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/daemon"
	"github.com/viberhq/viber/gateway"
	"github.com/viberhq/viber/stack"
)

const (
	botToken = "xoxb-test-bot-token"
	appToken = "xapp-test-app-token"
	alice    = "UALICE01"
)

var aliceDM = slacktest.DM(alice)

func testLogger(t testing.TB) zerolog.Logger {
	if os.Getenv("VIBER_TEST_LOG") != "" {
		return zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
	}
	return zerolog.Nop()
}

// rig is a whole Viber in process, a fake Slack and a client.
type rig struct {
	t  *testing.T
	st *stack.Stack
	sl *slacktest.Server
	cl *client.Client
}

func newRig(t *testing.T, reply func(*openaitest.Request) openaitest.Reply) *rig {
	t.Helper()
	model := openaitest.New(t, reply)
	r := &rig{t: t, sl: slacktest.New(t, botToken, appToken)}
	st, err := stack.Start(context.Background(), stack.Config{
		Dir: t.TempDir(), NATSListen: "none",
		Gateway: gateway.Config{HTTPListen: "none", Logger: testLogger(t)},
		Daemon:  daemon.Config{Models: agents.Single(agents.ModelConfig{Provider: agents.ProviderCustom, Model: "fake-model", BaseURL: model.URL, APIKey: "sk-test"})},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)
	r.st = st
	nc, err := st.Connect("test-client")
	if err != nil {
		t.Fatal(err)
	}
	if r.cl, err = client.New(nc); err != nil {
		t.Fatal(err)
	}
	return r
}

// startBridge starts a bridge and waits for its Socket Mode connection;
// the returned function kills it.
func (r *rig) startBridge() func() {
	r.t.Helper()
	nc, err := r.st.Connect("test-bridge")
	if err != nil {
		r.t.Fatal(err)
	}
	cl, err := client.New(nc)
	if err != nil {
		r.t.Fatal(err)
	}
	app, err := slack.New(slack.Config{BotToken: botToken, AppToken: appToken, APIURL: r.sl.URL, Logger: testLogger(r.t)})
	if err != nil {
		r.t.Fatal(err)
	}
	br, err := channel.New(channel.Config{Platform: app, Client: cl, AllowFrom: []string{alice}, Logger: testLogger(r.t)})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- br.Run(ctx) }()
	var once sync.Once
	kill := func() {
		once.Do(func() {
			cancel()
			nc.Close()
			if err := <-done; err != nil {
				r.t.Errorf("bridge stopped with %v", err)
			}
		})
	}
	r.t.Cleanup(kill)
	r.eventually("a Socket Mode connection", 10*time.Second, r.sl.Connected)
	return kill
}

func (r *rig) eventually(what string, d time.Duration, cond func() bool) {
	r.t.Helper()
	deadline := time.After(d)
	for !cond() {
		select {
		case <-deadline:
			r.t.Fatalf("timed out after %s waiting for %s; bot messages: %s", d, what, r.dump(aliceDM))
		case <-r.sl.Changed():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *rig) dump(ch string) string {
	var out []string
	for _, m := range r.sl.BotMessages(ch) {
		text := m.Text
		if len(text) > 60 {
			text = text[:60] + "..."
		}
		out = append(out, fmt.Sprintf("%s %q (edits %d, buttons %v)", m.TS, text, m.Edits, m.Buttons))
	}
	return "[" + strings.Join(out, ", ") + "]"
}

func (r *rig) texts(ch string) []string {
	var out []string
	for _, m := range r.sl.BotMessages(ch) {
		out = append(out, m.Text)
	}
	return out
}

func (r *rig) tasks() []*bus.Summary {
	r.t.Helper()
	l, err := r.cl.ListTasks(context.Background(), nil)
	if err != nil {
		r.t.Fatal(err)
	}
	return l.Tasks
}

func TestSlackHelloBecomesATask(t *testing.T) {
	t.Parallel()
	r := newRig(t, openaitest.Echo)
	r.startBridge()
	env := r.sl.SendText(alice, "hello")
	r.eventually(`the reply "echo: hello"`, 20*time.Second, func() bool { return slices.Contains(r.texts(aliceDM), "echo: hello") })
	if !r.sl.Acked(env) {
		t.Error("the message's envelope was not acked")
	}
	if got := r.texts(aliceDM); len(got) != 1 {
		t.Errorf("bot messages %q, want the one reply", got)
	}
	// Slack delivering the same event again makes no second task.
	r.sl.Redeliver(env)
	r.sl.SendText(alice, "again")
	r.eventually(`the reply "echo: again"`, 20*time.Second, func() bool { return slices.Contains(r.texts(aliceDM), "echo: again") })
	if tasks := r.tasks(); len(tasks) != 1 || tasks[0].Turns != 2 {
		t.Errorf("tasks %+v, want one with two turns", tasks)
	}
}

func TestSlackLongAnswerIsSplit(t *testing.T) {
	t.Parallel()
	var lines []string
	for i := range 120 {
		lines = append(lines, fmt.Sprintf("line %03d: %s", i, strings.TrimSpace(strings.Repeat("lorem ipsum ", 4))))
	}
	answer := strings.Join(lines, "\n")
	r := newRig(t, func(*openaitest.Request) openaitest.Reply { return openaitest.Reply{Text: answer} })
	r.startBridge()
	r.sl.SendText(alice, "write a lot")
	r.eventually("the last line", 30*time.Second, func() bool {
		texts := r.texts(aliceDM)
		return len(texts) > 0 && strings.Contains(texts[len(texts)-1], "line 119:") &&
			!slices.ContainsFunc(texts, func(s string) bool { return strings.HasSuffix(s, "…") })
	})
	texts := r.texts(aliceDM)
	if len(texts) < 3 {
		t.Fatalf("a %d-character answer came in %d messages, want at least 3", len(answer), len(texts))
	}
	for i, s := range texts {
		if n := len([]rune(s)); n > slack.MaxMessageLen {
			t.Errorf("message %d is %d long, over %d", i, n, slack.MaxMessageLen)
		}
	}
	if got := strings.Join(texts, "\n"); got != answer {
		t.Errorf("the messages joined differ from the answer (%d chars, want %d)", len(got), len(answer))
	}
}

func TestSlackApprovalByButton(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(req *openaitest.Request) openaitest.Reply {
		if res := req.LastToolResult(); res != "" {
			return openaitest.Reply{Text: "ran: " + strings.TrimSpace(res)}
		}
		return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call("call_1", "shell", `{"command":"echo approved-run"}`)}}
	})
	r.startBridge()
	r.sl.SendText(alice, "run it")
	var ask slacktest.Message
	r.eventually("Approve / Deny buttons", 30*time.Second, func() bool {
		for _, m := range r.sl.BotMessages(aliceDM) {
			if len(m.Buttons) == 2 {
				ask = m
				return true
			}
		}
		return false
	})
	if !strings.Contains(ask.Text, "*shell*") || !strings.Contains(ask.Text, "echo approved-run") {
		t.Errorf("approval message %q, want the call", ask.Text)
	}
	env := r.sl.Press(alice, "alice", &ask, ask.Buttons[0][1])
	r.eventually("the answer after the approved call", 30*time.Second, func() bool {
		return slices.ContainsFunc(r.texts(aliceDM), func(s string) bool { return strings.HasPrefix(s, "ran: ") })
	})
	r.eventually("the approval message showing the outcome", 10*time.Second, func() bool {
		for _, m := range r.sl.BotMessages(aliceDM) {
			if m.TS == ask.TS {
				return strings.Contains(m.Text, "Approved by slack:alice") && len(m.Buttons) == 0
			}
		}
		return false
	})
	if !r.sl.Acked(env) || !slices.Contains(r.sl.Ephemerals(aliceDM), "Approved") {
		t.Errorf("press acked %v, ephemerals %q; want acked and \"Approved\"", r.sl.Acked(env), r.sl.Ephemerals(aliceDM))
	}
}

func TestSlackStrangerIsRefusedOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, openaitest.Echo)
	r.startBridge()
	const mallory = "UMALLORY"
	a := r.sl.SendText(mallory, "hi")
	b := r.sl.SendText(mallory, "hi again")
	r.eventually("both messages acked", 20*time.Second, func() bool { return r.sl.Acked(a) && r.sl.Acked(b) })
	msgs := r.sl.BotMessages(slacktest.DM(mallory))
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "allow-list") || !strings.Contains(msgs[0].Text, mallory) {
		t.Errorf("the stranger got %+v, want one refusal naming the allow-list and their id", msgs)
	}
	if n := len(r.tasks()); n != 0 {
		t.Errorf("a stranger made %d tasks", n)
	}
}
