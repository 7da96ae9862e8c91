package telegram_test

import (
	"context"
	"encoding/json"
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
	"github.com/viberhq/viber/channel/telegram"
	"github.com/viberhq/viber/channel/telegram/telegramtest"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/daemon"
	"github.com/viberhq/viber/gateway"
	"github.com/viberhq/viber/stack"
)

const (
	token = "123456:test-token"
	alice = 42
	bob   = 43
)

func testLogger(t testing.TB) zerolog.Logger {
	if os.Getenv("VIBER_TEST_LOG") != "" {
		return zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
	}
	return zerolog.Nop()
}

// rig is a whole Viber in process (NATS, gateway, a daemon on the scripted
// model), a fake Bot API and a client.
type rig struct {
	t     *testing.T
	st    *stack.Stack
	tg    *telegramtest.Server
	model *openaitest.Server
	cl    *client.Client
}

func newRig(t *testing.T, reply func(*openaitest.Request) openaitest.Reply) *rig {
	t.Helper()
	r := &rig{t: t, model: openaitest.New(t, reply), tg: telegramtest.New(t, token)}
	st, err := stack.Start(context.Background(), stack.Config{
		Dir: t.TempDir(), NATSListen: "none",
		Gateway: gateway.Config{HTTPListen: "none", Logger: testLogger(t)},
		Daemon:  daemon.Config{Models: agents.Single(agents.ModelConfig{Provider: agents.ProviderCustom, Model: "fake-model", BaseURL: r.model.URL, APIKey: "sk-test"})},
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

// bridge is a running bridge that can be killed: its context cancelled and
// its connection dropped, with no goodbye.
type bridge struct {
	kill func()
	done chan error
}

func (r *rig) startBridge(ackWait time.Duration) *bridge {
	r.t.Helper()
	nc, err := r.st.Connect("test-bridge")
	if err != nil {
		r.t.Fatal(err)
	}
	cl, err := client.New(nc)
	if err != nil {
		r.t.Fatal(err)
	}
	bot, err := telegram.New(telegram.Config{Token: token, APIURL: r.tg.URL, PollTimeout: time.Second, Logger: testLogger(r.t)})
	if err != nil {
		r.t.Fatal(err)
	}
	br, err := channel.New(channel.Config{Platform: bot, Client: cl, AllowFrom: []string{fmt.Sprint(alice), fmt.Sprint(bob)}, AckWait: ackWait, Logger: testLogger(r.t)})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &bridge{done: make(chan error, 1)}
	go func() { b.done <- br.Run(ctx) }()
	var once sync.Once
	b.kill = func() {
		once.Do(func() {
			cancel()
			nc.Close()
			if err := <-b.done; err != nil {
				r.t.Errorf("bridge stopped with %v", err)
			}
		})
	}
	r.t.Cleanup(b.kill)
	return b
}

// eventually waits for cond, re-checking at every change of the fake
// server and at least every 50 ms.
func (r *rig) eventually(what string, d time.Duration, cond func() bool) {
	r.t.Helper()
	deadline := time.After(d)
	for !cond() {
		select {
		case <-deadline:
			r.t.Fatalf("timed out after %s waiting for %s; bot messages: %s", d, what, r.dump(alice))
		case <-r.tg.Changed():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *rig) dump(chat int64) string {
	var out []string
	for _, m := range r.tg.BotMessages(chat) {
		text := m.Text
		if len(text) > 60 {
			text = text[:60] + "..."
		}
		out = append(out, fmt.Sprintf("#%d %q (edits %d, buttons %v)", m.ID, text, m.Edits, m.Buttons))
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// texts are the current texts of the bot's messages in a chat.
func (r *rig) texts(chat int64) []string {
	var out []string
	for _, m := range r.tg.BotMessages(chat) {
		out = append(out, m.Text)
	}
	return out
}

func (r *rig) tasks(ctx context.Context) []*bus.Summary {
	r.t.Helper()
	l, err := r.cl.ListTasks(ctx, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	return l.Tasks
}

func TestHelloBecomesATaskAndTheEchoComesBack(t *testing.T) {
	t.Parallel()
	r := newRig(t, openaitest.Echo)
	r.startBridge(0)
	ctx := context.Background()

	r.tg.SendText(0, alice, "alice", "hello")
	r.eventually(`the reply "echo: hello"`, 20*time.Second, func() bool { return slices.Contains(r.texts(alice), "echo: hello") })
	tasks := r.tasks(ctx)
	if len(tasks) != 1 || tasks[0].Goal != "hello" {
		t.Fatalf("tasks after one message: %+v, want one with goal hello", tasks)
	}
	events, err := r.cl.Log().Events(ctx, tasks[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := bus.DecodeAs[bus.Created](events[0]); err != nil || c.Submitter != "telegram:42" {
		t.Errorf("created %s (%v), want submitter telegram:42", events[0].Data, err)
	}

	// A follow-up goes to the same task; /new starts another.
	r.tg.SendText(0, alice, "alice", "again")
	r.eventually(`the reply "echo: again"`, 20*time.Second, func() bool { return slices.Contains(r.texts(alice), "echo: again") })
	if n := len(r.tasks(ctx)); n != 1 {
		t.Errorf("a follow-up made %d tasks, want it on the first", n)
	}
	r.tg.SendText(0, alice, "alice", "/new")
	r.tg.SendText(0, alice, "alice", "fresh")
	r.eventually(`the reply "echo: fresh"`, 20*time.Second, func() bool { return slices.Contains(r.texts(alice), "echo: fresh") })
	if tasks := r.tasks(ctx); len(tasks) != 2 || tasks[0].Goal != "fresh" {
		t.Errorf("after /new: %d tasks (newest goal %q), want 2 with the newest on \"fresh\"", len(tasks), tasks[0].Goal)
	}
	got := r.texts(alice)
	want := []string{"echo: hello", "echo: again", "OK — your next message starts a new task.", "echo: fresh"}
	if !slices.Equal(got, want) {
		t.Errorf("bot messages %q, want %q", got, want)
	}
}

func TestProgressIsEditedAtMostOncePerSecond(t *testing.T) {
	t.Parallel()
	var words []string
	for i := range 40 {
		words = append(words, fmt.Sprintf("w%d ", i))
	}
	answer := strings.TrimSpace(strings.Join(words, ""))
	r := newRig(t, func(*openaitest.Request) openaitest.Reply {
		return openaitest.Reply{Text: answer, Chunks: words, ChunkDelay: 70 * time.Millisecond}
	})
	r.startBridge(0)

	r.tg.SendText(0, alice, "alice", "count")
	r.eventually("the whole answer", 30*time.Second, func() bool { return slices.Contains(r.texts(alice), answer) })
	msgs := r.tg.BotMessages(alice)
	if len(msgs) != 1 {
		t.Fatalf("bot messages %s, want the one progress message edited into the answer", r.dump(alice))
	}
	sends := r.tg.Calls("sendMessage")
	if len(sends) != 1 || !strings.HasSuffix(sends[0].Params["text"].(string), "…") {
		t.Errorf("sendMessage calls %v, want one progress message ending in …", sends)
	}
	edits := r.tg.Calls("editMessageText")
	if len(edits) < 2 {
		t.Fatalf("%d edits over ~3 s of streaming, want progress edits and the final one", len(edits))
	}
	if len(edits) >= len(words) {
		t.Errorf("%d edits for %d deltas: edits are not rate-limited", len(edits), len(words))
	}
	prev := sends[0].Time
	for i, e := range edits {
		if gap := e.Time.Sub(prev); gap < time.Second {
			t.Errorf("edit %d came %s after the previous change of the message, want at least 1s", i, gap)
		}
		prev = e.Time
	}
}

// longAnswer is an answer of about 10,000 characters in numbered lines.
func longAnswer() string {
	var lines []string
	for i := range 200 {
		lines = append(lines, fmt.Sprintf("line %03d: %s", i, strings.TrimSpace(strings.Repeat("lorem ipsum ", 4))))
	}
	return strings.Join(lines, "\n")
}

// replyDone reports whether the long answer's last line arrived and no
// progress message is left.
func replyDone(texts []string) bool {
	return len(texts) > 0 && strings.Contains(texts[len(texts)-1], "line 199:") &&
		!slices.ContainsFunc(texts, func(s string) bool { return strings.HasSuffix(s, "…") })
}

func checkSplit(t *testing.T, texts []string, answer string) {
	t.Helper()
	if len(texts) < 3 {
		t.Fatalf("the %d-character answer came in %d messages, want at least 3", len(answer), len(texts))
	}
	for i, s := range texts {
		if n := channel.Len(s); n > telegram.MaxMessageLen {
			t.Errorf("message %d is %d long, over Telegram's %d", i, n, telegram.MaxMessageLen)
		}
	}
	if got := strings.Join(texts, "\n"); got != strings.TrimSpace(answer) {
		t.Errorf("the messages joined differ from the answer:\n got %d chars %q...\nwant %d chars %q...", len(got), got[:100], len(answer), answer[:100])
	}
}

func TestLongAnswerIsSplit(t *testing.T) {
	t.Parallel()
	answer := longAnswer()
	r := newRig(t, func(*openaitest.Request) openaitest.Reply { return openaitest.Reply{Text: answer} })
	r.startBridge(0)

	r.tg.SendText(0, alice, "alice", "write a lot")
	r.eventually("the last line", 30*time.Second, func() bool {
		return replyDone(r.texts(alice))
	})
	checkSplit(t, r.texts(alice), answer)
}

func TestBridgeKilledMidReplyDeliversExactlyOnce(t *testing.T) {
	t.Parallel()
	answer := longAnswer()
	r := newRig(t, func(*openaitest.Request) openaitest.Reply { return openaitest.Reply{Text: answer} })
	// The second part of the reply hangs until the bridge is killed.
	hung := make(chan struct{})
	var once sync.Once
	r.tg.SetHook(func(ctx context.Context, method string, p map[string]any) *telegramtest.Error {
		text, _ := p["text"].(string)
		if method != "sendMessage" || strings.HasPrefix(text, "line 000") || !strings.HasPrefix(text, "line ") || strings.HasSuffix(text, "…") {
			return nil
		}
		first := false
		once.Do(func() { first = true })
		if !first {
			return nil
		}
		close(hung)
		<-ctx.Done()
		return &telegramtest.Error{Code: 502, Description: "Bad Gateway"}
	})
	b := r.startBridge(time.Second)
	r.tg.SendText(0, alice, "alice", "write a lot")
	select {
	case <-hung:
	case <-time.After(30 * time.Second):
		t.Fatalf("the reply never reached its second part; bot messages: %s", r.dump(alice))
	}
	b.kill()
	if n := len(r.tg.BotMessages(alice)); n != 1 {
		t.Fatalf("before the restart the chat has %d messages (%s), want the first part only", n, r.dump(alice))
	}

	r.startBridge(time.Second)
	r.eventually("the rest of the reply", 30*time.Second, func() bool {
		return replyDone(r.texts(alice))
	})
	checkSplit(t, r.texts(alice), answer)
	// Nothing more comes (a second delivery would add messages).
	if n := len(r.tasks(context.Background())); n != 1 {
		t.Errorf("%d tasks, want 1", n)
	}
	texts := r.texts(alice)
	for i, s := range texts {
		if c := strings.Count(strings.Join(texts, "\n"), s); c != 1 {
			t.Errorf("part %d is in the chat %d times", i, c)
		}
	}
}

func TestApprovalByButton(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(req *openaitest.Request) openaitest.Reply {
		if res := req.LastToolResult(); res != "" {
			return openaitest.Reply{Text: "ran: " + strings.TrimSpace(res)}
		}
		return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call("call_1", "shell", `{"command":"echo approved-run"}`)}}
	})
	r.startBridge(0)

	r.tg.SendText(0, alice, "alice", "run it")
	var ask telegramtest.Message
	r.eventually("Approve / Deny buttons", 30*time.Second, func() bool {
		for _, m := range r.tg.BotMessages(alice) {
			if len(m.Buttons) == 2 {
				ask = m
				return true
			}
		}
		return false
	})
	if !strings.Contains(ask.Text, "shell") || !strings.Contains(ask.Text, "echo approved-run") || ask.Buttons[0][0] != "✅ Approve" {
		t.Errorf("approval message %q with buttons %v, want the call and Approve first", ask.Text, ask.Buttons)
	}
	cb := r.tg.Press(alice, "alice", &ask, ask.Buttons[0][1])
	r.eventually("the answer after the approved call", 30*time.Second, func() bool {
		return slices.ContainsFunc(r.texts(alice), func(s string) bool { return strings.HasPrefix(s, "ran: ") && strings.Contains(s, "approved-run") })
	})
	if !r.tg.Answered(cb) {
		t.Error("the button press was not answered")
	}
	r.eventually("the approval message showing the outcome", 10*time.Second, func() bool {
		for _, m := range r.tg.BotMessages(alice) {
			if m.ID == ask.ID {
				return strings.Contains(m.Text, "Approved by telegram:@alice") && len(m.Buttons) == 0
			}
		}
		return false
	})
}

func TestStrangerIsRefusedOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, openaitest.Echo)
	b := r.startBridge(0)
	const mallory = 666
	r.tg.SendText(0, mallory, "mallory", "hi")
	r.tg.SendText(0, mallory, "mallory", "hi again")
	r.eventually("both messages handled", 20*time.Second, func() bool { return r.tg.Pending() == 0 && len(r.tg.BotMessages(mallory)) > 0 })
	b.kill()
	// The refusal is remembered across restarts.
	r.startBridge(0)
	r.tg.SendText(0, mallory, "mallory", "hello?")
	r.eventually("the third message handled", 20*time.Second, func() bool { return r.tg.Pending() == 0 })

	msgs := r.tg.BotMessages(mallory)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "allow-list") || !strings.Contains(msgs[0].Text, "666") {
		t.Errorf("the stranger got %s, want one refusal naming the allow-list and their id", r.dump(mallory))
	}
	if tasks := r.tasks(context.Background()); len(tasks) != 0 {
		t.Errorf("a stranger made %d tasks", len(tasks))
	}
}

func TestStopCancelsTheTask(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(*openaitest.Request) openaitest.Reply { return openaitest.Reply{Hang: true} })
	r.startBridge(0)
	ctx := context.Background()
	r.tg.SendText(0, alice, "alice", "think forever")
	r.eventually("the task running", 20*time.Second, func() bool {
		tasks := r.tasks(ctx)
		return len(tasks) == 1 && tasks[0].State == bus.StateRunning
	})
	r.tg.SendText(0, alice, "alice", "/stop")
	r.eventually(`the reply "Stopped."`, 20*time.Second, func() bool { return slices.Contains(r.texts(alice), "Stopped.") })
	// The daemon ends the task after the cancel request the bridge stored.
	r.eventually("the task cancelled after /stop", 20*time.Second, func() bool {
		tasks := r.tasks(ctx)
		return len(tasks) == 1 && tasks[0].State == bus.StateCancelled
	})
}

func TestAnUpdateDeliveredAgainMakesNoSecondTask(t *testing.T) {
	t.Parallel()
	r := newRig(t, openaitest.Echo)
	b := r.startBridge(0)
	r.tg.SendText(0, alice, "alice", "hello")
	r.eventually(`the reply "echo: hello"`, 20*time.Second, func() bool { return slices.Contains(r.texts(alice), "echo: hello") })
	b.kill()
	// As if the bridge had died before confirming the update.
	r.tg.Unconfirm()
	r.startBridge(0)
	r.eventually("the update read again and confirmed", 20*time.Second, func() bool { return r.tg.Pending() == 0 })
	if n := len(r.tasks(context.Background())); n != 1 {
		t.Errorf("%d tasks after the same update came twice, want 1", n)
	}
	if got := r.texts(alice); !slices.Equal(got, []string{"echo: hello"}) {
		t.Errorf("bot messages %q, want one echo", got)
	}
}

func TestRefusedRepliesDoNotBlockOthers(t *testing.T) {
	t.Parallel()
	r := newRig(t, openaitest.Echo)
	// Bob blocked the bot, and no progress message can be edited.
	r.tg.SetHook(func(_ context.Context, method string, p map[string]any) *telegramtest.Error {
		if method == "editMessageText" {
			return &telegramtest.Error{Code: 400, Description: "Bad Request: message to edit not found"}
		}
		if chat, _ := p["chat_id"].(json.Number); method == "sendMessage" && chat.String() == fmt.Sprint(bob) {
			return &telegramtest.Error{Code: 403, Description: "Forbidden: bot was blocked by the user"}
		}
		return nil
	})
	r.startBridge(0)
	r.tg.SendText(0, bob, "bob", "hi")
	r.eventually("bob's task ended", 20*time.Second, func() bool {
		tasks := r.tasks(context.Background())
		return len(tasks) == 1 && tasks[0].State == bus.StateCompleted
	})
	r.tg.SendText(0, alice, "alice", "hello")
	r.eventually(`alice's reply "echo: hello"`, 20*time.Second, func() bool { return slices.Contains(r.texts(alice), "echo: hello") })
	if n := len(r.tg.BotMessages(bob)); n != 0 {
		t.Errorf("bob, who blocked the bot, has %d messages", n)
	}
}
