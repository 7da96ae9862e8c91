package channel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
)

// Texts the bridge sends on its own.
const (
	helpText = "Send me a goal and I will get a Viber worker on it; later messages are follow-ups on the same task.\n\n" +
		"/steer TEXT — interrupt the worker with new directions\n/stop — stop the task\n/new — start a fresh task with your next message"
	refusalText = "Sorry, I only work for people on my allow-list, and you are not on it. " +
		"If you should be, ask my owner to add your id %s to channels.%s.allow_from."
	newText     = "OK — your next message starts a new task."
	nothingText = "Nothing is running here."
)

// Button data prefixes of approval messages: ok:<event id>, no:<event id>.
const (
	approveData = "ok:"
	denyData    = "no:"
)

// handle acts on one incoming message or button press. An error means
// Viber could not be reached: the platform retries the update.
func (b *Bridge) handle(ctx context.Context, in *Incoming) error {
	b.log.Debug().Str("chat", in.Chat).Str("sender", in.Sender).Str("id", in.ID).Bool("button", in.CallbackID != "").Msg("incoming")
	if in.ID == "" {
		return b.act(ctx, in)
	}
	key := seenKey(b.p.Name(), in.ID)
	if _, err := b.deliveries.Get(ctx, key); err == nil {
		b.log.Info().Str("id", in.ID).Msg("skipped an update handled before")
		return nil
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if err := b.act(ctx, in); err != nil {
		return err
	}
	if _, err := b.deliveries.Put(ctx, key, nil); err != nil {
		// Handled all the same: retrying would do it twice.
		b.log.Warn().Err(err).Str("id", in.ID).Msg("could not record a handled update; a redelivery of it would be handled again")
	}
	return nil
}

// act does what an incoming message or press asks.
func (b *Bridge) act(ctx context.Context, in *Incoming) error {
	if !b.allowed(in) {
		return b.refuse(ctx, in)
	}
	if in.CallbackID != "" {
		return b.press(ctx, in)
	}
	text := strings.TrimSpace(in.Text)
	if text == "" {
		return nil
	}
	cmd, arg := command(text)
	switch cmd {
	case "/start", "/help":
		return b.say(ctx, in.Chat, helpText)
	case "/new":
		if err := b.state.Delete(ctx, chatKey(b.p.Name(), in.Chat)); err != nil {
			return fmt.Errorf("forget the task of chat %s: %w", in.Chat, err)
		}
		if arg == "" {
			return b.say(ctx, in.Chat, newText)
		}
		return b.create(ctx, in, arg)
	case "/stop":
		return b.stop(ctx, in)
	case "/steer":
		if arg == "" {
			return b.say(ctx, in.Chat, "Usage: /steer TEXT")
		}
		return b.follow(ctx, in, arg, bus.InputSteer)
	}
	return b.follow(ctx, in, text, bus.InputQueue)
}

// command splits "/cmd@bot rest" into "/cmd" and "rest"; text that is not
// a known command comes back as ("", text). "!cmd" is the same as "/cmd":
// Slack keeps a leading "/" for its own slash commands.
func command(text string) (string, string) {
	if !strings.HasPrefix(text, "/") && !strings.HasPrefix(text, "!") {
		return "", text
	}
	head, rest, _ := strings.Cut("/"+text[1:], " ")
	if i := strings.IndexAny(head, "\n"); i >= 0 {
		head, rest = head[:i], strings.TrimSpace(head[i:]+" "+rest)
	}
	head, _, _ = strings.Cut(head, "@")
	switch head = strings.ToLower(head); head {
	case "/start", "/help", "/new", "/stop", "/steer":
		return head, strings.TrimSpace(rest)
	}
	return "", text
}

// refuse answers a stranger once, ever; later messages get no answer.
func (b *Bridge) refuse(ctx context.Context, in *Incoming) error {
	if in.CallbackID != "" {
		return b.p.Answer(ctx, in.CallbackID, "You are not allowed to decide this.")
	}
	key := refusedKey(b.p.Name(), in.Sender)
	var when time.Time
	found, err := getJSON(ctx, b.state, key, &when)
	if err != nil {
		return err
	}
	b.log.Info().Str("sender", in.Sender).Str("chat", in.Chat).Bool("again", found).Msg("refused a sender outside the allow-list")
	if found {
		return nil
	}
	if err := b.say(ctx, in.Chat, fmt.Sprintf(refusalText, in.Sender, b.p.Name())); err != nil {
		return err
	}
	return putJSON(ctx, b.state, key, time.Now().UTC())
}

// say sends a short notice of the bridge's own.
func (b *Bridge) say(ctx context.Context, chat, markdown string) error {
	for _, part := range b.p.Render(markdown) {
		if _, err := b.p.Send(ctx, chat, part, nil); err != nil {
			if errors.Is(err, ErrRejected) {
				b.log.Warn().Err(err).Str("chat", chat).Msg("could not answer")
				return nil
			}
			return err
		}
	}
	return nil
}

// currentTask is the task a chat talks to ("" when none).
func (b *Bridge) currentTask(ctx context.Context, chat string) (string, error) {
	var rec chatRecord
	if _, err := getJSON(ctx, b.state, chatKey(b.p.Name(), chat), &rec); err != nil {
		return "", err
	}
	return rec.Task, nil
}

// follow sends text to the chat's task, or makes it the goal of a new
// task when the chat has none (or its task is gone).
func (b *Bridge) follow(ctx context.Context, in *Incoming, text, mode string) error {
	task, err := b.currentTask(ctx, in.Chat)
	if err != nil {
		return err
	}
	if task == "" {
		return b.create(ctx, in, text)
	}
	b.watch(ctx, in.Chat, task)
	_, err = b.cl.SendInput(ctx, &bus.SendInputRequest{ID: task, Text: text, Mode: mode, By: b.by(in)})
	if errors.Is(err, bus.ErrTaskNotFound) {
		b.unwatch(task)
		return b.create(ctx, in, text)
	}
	return b.apiError(ctx, in.Chat, err)
}

// create starts a task for the chat and makes it the chat's task.
func (b *Bridge) create(ctx context.Context, in *Incoming, goal string) error {
	s, err := b.cl.CreateTask(ctx, &bus.CreateTaskRequest{
		Goal: goal, Daemon: b.cfg.Daemon, Model: b.cfg.Model, Skills: b.cfg.Skills, Agent: b.cfg.Agent, Submitter: b.submitter(in.Chat),
	})
	if err != nil {
		return b.apiError(ctx, in.Chat, err)
	}
	b.log.Info().Str("task", s.ID).Str("chat", in.Chat).Msg("created a task")
	if err := putJSON(ctx, b.state, chatKey(b.p.Name(), in.Chat), chatRecord{Task: s.ID}); err != nil {
		return err
	}
	if err := putJSON(ctx, b.state, taskKey(s.ID), taskRecord{Platform: b.p.Name(), Chat: in.Chat}); err != nil {
		return err
	}
	b.watch(ctx, in.Chat, s.ID)
	return nil
}

// stop cancels the chat's task; the cancelled event brings the reply.
func (b *Bridge) stop(ctx context.Context, in *Incoming) error {
	task, err := b.currentTask(ctx, in.Chat)
	if err != nil {
		return err
	}
	if task == "" {
		return b.say(ctx, in.Chat, nothingText)
	}
	_, err = b.cl.CancelTask(ctx, &bus.CancelTaskRequest{ID: task, Reason: "stopped from " + b.p.Name(), By: b.by(in)})
	if errors.Is(err, bus.ErrTerminal) || errors.Is(err, bus.ErrTaskNotFound) {
		return b.say(ctx, in.Chat, nothingText)
	}
	return b.apiError(ctx, in.Chat, err)
}

// press decides an approval from a button.
func (b *Bridge) press(ctx context.Context, in *Incoming) error {
	approved := strings.HasPrefix(in.Data, approveData)
	evID, ok := strings.CutPrefix(in.Data, approveData)
	if !ok {
		evID, ok = strings.CutPrefix(in.Data, denyData)
	}
	var rec approvalRecord
	found := false
	if ok && bus.ValidToken(evID) {
		var err error
		if found, err = getJSON(ctx, b.deliveries, approvalKey(evID), &rec); err != nil {
			return err
		}
	}
	if !found || rec.Chat != in.Chat {
		return b.answer(ctx, in.CallbackID, "This button no longer does anything.")
	}
	req := &bus.DecideRequest{ID: rec.Task, CallID: rec.Call, Approved: approved, By: b.by(in)}
	if !approved {
		req.Reason = "denied from " + b.p.Name()
	}
	_, err := b.cl.Decide(ctx, req)
	switch {
	case errors.Is(err, bus.ErrCallNotFound), errors.Is(err, bus.ErrTerminal), errors.Is(err, bus.ErrTaskNotFound):
		return b.answer(ctx, in.CallbackID, "Already decided.")
	case errors.Is(err, bus.ErrUnavailable):
		return err
	case err != nil:
		return b.answer(ctx, in.CallbackID, "Could not decide: "+err.Error())
	}
	b.log.Info().Str("task", rec.Task).Str("call", rec.Call).Bool("approved", approved).Str("by", req.By).Msg("decided an approval")
	if approved {
		return b.answer(ctx, in.CallbackID, "Approved")
	}
	return b.answer(ctx, in.CallbackID, "Denied")
}

func (b *Bridge) answer(ctx context.Context, callbackID, text string) error {
	err := b.p.Answer(ctx, callbackID, text)
	if errors.Is(err, ErrRejected) {
		// A press older than the platform keeps (Telegram: 15 min).
		b.log.Warn().Err(err).Msg("could not answer a button press")
		return nil
	}
	return err
}

// apiError turns a gateway error into a notice for the chat, except when
// Viber is unreachable: that error goes back to be retried.
func (b *Bridge) apiError(ctx context.Context, chat string, err error) error {
	if err == nil || errors.Is(err, bus.ErrUnavailable) || ctx.Err() != nil {
		return err
	}
	var apiErr *bus.APIError
	if !errors.As(err, &apiErr) {
		return err
	}
	return b.say(ctx, chat, "Viber said no: "+apiErr.Message)
}
