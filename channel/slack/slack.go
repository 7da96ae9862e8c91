// Package slack is the Slack side of a chat bridge: a channel.Platform
// over github.com/slack-go/slack, receiving through Socket Mode
// (apps.connections.open, then the websocket's envelopes, each acked once
// the bridge handled it) and answering with the Web API (chat.postMessage,
// chat.update, chat.postEphemeral), rendering markdown as mrkdwn in a
// section block with Approve / Deny buttons as block actions.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/rs/zerolog"
	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/viberhq/viber/channel"
)

// Name is the platform's name in keys, consumers and submitters.
const Name = "slack"

// DefaultAPIURL is the Web API's address.
const DefaultAPIURL = "https://slack.com/api/"

// MaxMessageLen is the longest text the bridge puts in one message: the
// limit of a section block's text.
const MaxMessageLen = 3000

// Config configures an [App].
type Config struct {
	// BotToken (xoxb-...) calls the Web API; AppToken (xapp-..., with
	// connections:write) opens Socket Mode. Both are secrets.
	BotToken string
	AppToken string
	// APIURL is the Web API's address (default DefaultAPIURL); tests set
	// it.
	APIURL string
	// Logger receives the app's logs.
	Logger zerolog.Logger
}

// App is a channel.Platform over a Slack app in Socket Mode.
type App struct {
	api *slackapi.Client
	log zerolog.Logger
}

var _ channel.Platform = (*App)(nil)

// New returns an app; it makes no request until used.
func New(cfg Config) (*App, error) {
	if strings.TrimSpace(cfg.BotToken) == "" || strings.TrimSpace(cfg.AppToken) == "" {
		return nil, errors.New("slack: a bot token (xoxb-) and an app-level token (xapp-) are both needed")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/"
	}
	l := cfg.Logger.With().Str("component", "slack").Logger()
	api := slackapi.New(cfg.BotToken, slackapi.OptionAppLevelToken(cfg.AppToken), slackapi.OptionAPIURL(cfg.APIURL),
		slackapi.OptionLog(log.New(debugWriter{l}, "", 0)))
	return &App{api: api, log: l}, nil
}

// debugWriter sends the library's own log lines to zerolog at debug.
type debugWriter struct{ l zerolog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.l.Debug().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// Name implements channel.Platform.
func (a *App) Name() string { return Name }

// Receive implements channel.Platform with Socket Mode. An envelope is
// acked only once handle returned nil for it; otherwise Slack delivers it
// again (and the bridge skips an event it already handled by its id).
func (a *App) Receive(ctx context.Context, handle func(context.Context, *channel.Incoming) error) error {
	sm := socketmode.New(a.api, socketmode.OptionLog(log.New(debugWriter{a.log}, "", 0)))
	runErr := make(chan error, 1)
	go func() {
		pause := time.Duration(0)
		for ctx.Err() == nil {
			err := sm.RunContext(ctx)
			if ctx.Err() != nil {
				break
			}
			var se slackapi.SlackErrorResponse
			if errors.As(err, &se) && (se.Err == "invalid_auth" || se.Err == "not_authed" || se.Err == "not_allowed_token_type") {
				runErr <- fmt.Errorf("Slack refused the app-level token (%s); check channels.slack.app_token_env", se.Err)
				return
			}
			pause = min(2*pause+500*time.Millisecond, 30*time.Second)
			a.log.Warn().Err(err).Dur("retry_in", pause).Msg("Socket Mode connection lost; reconnecting")
			if !sleep(ctx, pause) {
				break
			}
		}
		runErr <- nil
	}()
	for {
		var evt socketmode.Event
		select {
		case <-ctx.Done():
			return nil
		case err := <-runErr:
			return err
		case evt = <-sm.Events:
		}
		switch evt.Type {
		case socketmode.EventTypeConnected:
			a.log.Info().Msg("connected in Socket Mode")
			continue
		case socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError, socketmode.EventTypeErrorBadMessage:
			a.log.Warn().Str("detail", fmt.Sprintf("%+v", evt.Data)).Str("type", string(evt.Type)).Msg("Socket Mode trouble")
			continue
		case socketmode.EventTypeInvalidAuth:
			return errors.New("Slack refused the app-level token; check channels.slack.app_token_env")
		}
		if evt.Request == nil || evt.Request.EnvelopeID == "" {
			continue
		}
		if in := incoming(evt); in != nil {
			if err := handle(ctx, in); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				// Not acked: Slack delivers it again.
				a.log.Warn().Err(err).Str("envelope", evt.Request.EnvelopeID).Msg("could not hand an event to Viber; Slack will retry it")
				continue
			}
		}
		if err := sm.AckCtx(ctx, evt.Request.EnvelopeID, nil); err != nil && ctx.Err() == nil {
			a.log.Warn().Err(err).Str("envelope", evt.Request.EnvelopeID).Msg("ack failed")
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// incoming turns a Socket Mode event into what the bridge handles: a
// direct message or a mention of the app, or a button press (nil for the
// rest, including the app's own messages).
func incoming(evt socketmode.Event) *channel.Incoming {
	switch data := evt.Data.(type) {
	case slackevents.EventsAPIEvent:
		id := ""
		if cb, ok := data.Data.(*slackevents.EventsAPICallbackEvent); ok {
			id = cb.EventID
		}
		switch ev := data.InnerEvent.Data.(type) {
		case *slackevents.MessageEvent:
			if ev.BotID != "" || ev.SubType != "" || ev.User == "" || ev.ChannelType != "im" {
				return nil
			}
			return &channel.Incoming{ID: id, Chat: ev.Channel, Sender: ev.User, SenderName: "<@" + ev.User + ">", Text: ev.Text}
		case *slackevents.AppMentionEvent:
			if ev.BotID != "" || ev.User == "" {
				return nil
			}
			return &channel.Incoming{ID: id, Chat: ev.Channel, Sender: ev.User, SenderName: "<@" + ev.User + ">", Text: stripMention(ev.Text)}
		}
	case slackapi.InteractionCallback:
		if data.Type != slackapi.InteractionTypeBlockActions || len(data.ActionCallback.BlockActions) == 0 {
			return nil
		}
		act := data.ActionCallback.BlockActions[0]
		name := data.User.Name
		if name == "" {
			name = "<@" + data.User.ID + ">"
		}
		return &channel.Incoming{
			Chat: data.Channel.ID, Sender: data.User.ID, SenderName: name,
			CallbackID: data.Channel.ID + "|" + data.User.ID, Data: act.Value,
		}
	}
	return nil
}

// stripMention drops the leading <@APP> of a mention.
func stripMention(text string) string {
	t := strings.TrimSpace(text)
	if strings.HasPrefix(t, "<@") {
		if i := strings.Index(t, ">"); i > 0 {
			t = strings.TrimSpace(t[i+1:])
		}
	}
	return t
}

// Render implements channel.Platform: markdown as mrkdwn, split at
// MaxMessageLen.
func (a *App) Render(markdown string) []string {
	return channel.Split(markdown, MaxMessageLen, Mrkdwn)
}

// blocks is the message's section (and its buttons).
func blocks(text string, buttons []channel.Button) slackapi.MsgOption {
	bs := []slackapi.Block{slackapi.NewSectionBlock(slackapi.NewTextBlockObject(slackapi.MarkdownType, text, false, false), nil, nil)}
	if len(buttons) > 0 {
		var els []slackapi.BlockElement
		for i, b := range buttons {
			el := slackapi.NewButtonBlockElement(fmt.Sprintf("viber_%d", i), b.Data, slackapi.NewTextBlockObject(slackapi.PlainTextType, b.Text, true, false))
			if i == 0 {
				el = el.WithStyle(slackapi.StylePrimary)
			} else if i == len(buttons)-1 {
				el = el.WithStyle(slackapi.StyleDanger)
			}
			els = append(els, el)
		}
		bs = append(bs, slackapi.NewActionBlock("viber_actions", els...))
	}
	return slackapi.MsgOptionBlocks(bs...)
}

// fallback is the notification text of a message (mrkdwn shown as is).
func fallback(text string) slackapi.MsgOption { return slackapi.MsgOptionText(text, false) }

// Send implements channel.Platform.
func (a *App) Send(ctx context.Context, chat, text string, buttons []channel.Button) (string, error) {
	var ts string
	err := retry(ctx, "chat.postMessage", func() error {
		var err error
		_, ts, err = a.api.PostMessageContext(ctx, chat, fallback(text), blocks(text, buttons))
		return err
	})
	return ts, err
}

// Edit implements channel.Platform.
func (a *App) Edit(ctx context.Context, chat, messageID, text string, buttons []channel.Button) error {
	return retry(ctx, "chat.update", func() error {
		_, _, _, err := a.api.UpdateMessageContext(ctx, chat, messageID, fallback(text), blocks(text, buttons))
		return err
	})
}

// Answer implements channel.Platform: an ephemeral message to the person
// who pressed.
func (a *App) Answer(ctx context.Context, callbackID, text string) error {
	ch, user, ok := strings.Cut(callbackID, "|")
	if !ok {
		return fmt.Errorf("slack: callback id %q: %w", callbackID, channel.ErrRejected)
	}
	return retry(ctx, "chat.postEphemeral", func() error {
		_, err := a.api.PostEphemeralContext(ctx, ch, user, slackapi.MsgOptionText(text, false))
		return err
	})
}

// permanent are Web API errors a retry cannot fix.
var permanent = map[string]bool{
	"channel_not_found": true, "not_in_channel": true, "is_archived": true, "msg_too_long": true, "no_text": true,
	"invalid_blocks": true, "cant_update_message": true, "message_not_found": true, "edit_window_closed": true,
	"user_not_in_channel": true, "restricted_action": true, "invalid_arguments": true, "too_many_attachments": true,
}

// retry runs a Web API call, waiting out rate limits while ctx allows;
// errors a retry cannot fix match channel.ErrRejected.
func retry(ctx context.Context, method string, call func() error) error {
	for {
		err := call()
		var rl *slackapi.RateLimitedError
		if errors.As(err, &rl) {
			if !sleep(ctx, max(rl.RetryAfter, time.Second)) {
				return fmt.Errorf("slack %s: %w (gave up waiting: %w)", method, err, ctx.Err())
			}
			continue
		}
		var se slackapi.SlackErrorResponse
		if errors.As(err, &se) && permanent[se.Err] {
			return fmt.Errorf("slack %s: %w: %w", method, err, channel.ErrRejected)
		}
		if err != nil {
			return fmt.Errorf("slack %s: %w", method, err)
		}
		return nil
	}
}
