package telegram

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/viberhq/viber/channel"
)

// Name is the platform's name in keys, consumers and submitters.
const Name = "telegram"

// Config configures a [Bot].
type Config struct {
	// Token is the bot's token from @BotFather (a secret).
	Token string
	// APIURL is the Bot API's address (default DefaultAPIURL); tests and
	// a local Bot API server set it.
	APIURL string
	// PollTimeout is how long one getUpdates waits for updates (default
	// 25 s; Telegram allows up to 50).
	PollTimeout time.Duration
	// Logger receives the bot's logs.
	Logger zerolog.Logger
}

// Bot is a channel.Platform over the Bot API.
type Bot struct {
	api  *API
	poll time.Duration
	log  zerolog.Logger
}

var _ channel.Platform = (*Bot)(nil)

// New returns a bot; it makes no request until used.
func New(cfg Config) (*Bot, error) {
	if cfg.PollTimeout <= 0 {
		cfg.PollTimeout = 25 * time.Second
	}
	// The HTTP timeout outlasts a long poll.
	api, err := NewAPI(cfg.APIURL, cfg.Token, &http.Client{Timeout: cfg.PollTimeout + 15*time.Second})
	if err != nil {
		return nil, err
	}
	return &Bot{api: api, poll: cfg.PollTimeout, log: cfg.Logger.With().Str("component", "telegram").Logger()}, nil
}

// API is the bot's Bot API client.
func (b *Bot) API() *API { return b.api }

// Name implements channel.Platform.
func (b *Bot) Name() string { return Name }

// Receive implements channel.Platform with getUpdates long polling. An
// update is confirmed (by asking for the offset after it) only once handle
// returned nil for it.
func (b *Bot) Receive(ctx context.Context, handle func(context.Context, *channel.Incoming) error) error {
	if me, err := b.api.GetMe(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		var te *Error
		if errors.As(err, &te) && te.Code == http.StatusUnauthorized {
			return fmt.Errorf("the bot token was refused (%w); check the variable named by channels.telegram.token_env", err)
		}
		b.log.Warn().Err(err).Msg("getMe failed; polling anyway")
	} else {
		b.log.Info().Str("bot", "@"+me.Username).Msg("polling for updates")
	}
	var offset int64
	pause := time.Duration(0)
	for ctx.Err() == nil {
		if pause > 0 && !sleep(ctx, pause) {
			break
		}
		ups, err := b.api.GetUpdates(ctx, offset, int(b.poll/time.Second))
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			pause = nextPause(pause)
			var te *Error
			if errors.As(err, &te) && te.Code == http.StatusConflict {
				b.log.Error().Err(err).Msg("another process polls this bot (or a webhook is set); only one bridge may run per bot")
			} else {
				b.log.Warn().Err(err).Dur("retry_in", pause).Msg("getUpdates failed")
			}
			continue
		}
		pause = 0
		for _, u := range ups {
			if in := incoming(&u); in != nil {
				in.ID = strconv.FormatInt(u.UpdateID, 10)
				for {
					err := handle(ctx, in)
					if err == nil {
						break
					}
					if ctx.Err() != nil {
						return nil
					}
					pause = nextPause(pause)
					b.log.Warn().Err(err).Int64("update", u.UpdateID).Dur("retry_in", pause).Msg("could not hand an update to Viber")
					if !sleep(ctx, pause) {
						return nil
					}
				}
				pause = 0
			}
			offset = u.UpdateID + 1
		}
	}
	return nil
}

func nextPause(p time.Duration) time.Duration {
	if p == 0 {
		return 200 * time.Millisecond
	}
	return min(2*p, 10*time.Second)
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

// incoming turns an update into what the bridge handles (nil for updates
// it ignores: edits, joins, messages from bots).
func incoming(u *Update) *channel.Incoming {
	switch {
	case u.Message != nil && u.Message.From != nil && !u.Message.From.IsBot:
		m := u.Message
		return &channel.Incoming{
			Chat: strconv.FormatInt(m.Chat.ID, 10), Sender: strconv.FormatInt(m.From.ID, 10),
			SenderName: displayName(m.From), Text: m.Text,
		}
	case u.CallbackQuery != nil && u.CallbackQuery.Message != nil:
		q := u.CallbackQuery
		return &channel.Incoming{
			Chat: strconv.FormatInt(q.Message.Chat.ID, 10), Sender: strconv.FormatInt(q.From.ID, 10),
			SenderName: displayName(&q.From), CallbackID: q.ID, Data: q.Data,
		}
	}
	return nil
}

func displayName(u *User) string {
	if u.Username != "" {
		return "@" + u.Username
	}
	if u.FirstName != "" {
		return u.FirstName
	}
	return strconv.FormatInt(u.ID, 10)
}

// Render implements channel.Platform: markdown as Telegram HTML, split at
// MaxMessageLen.
func (b *Bot) Render(markdown string) []string {
	return channel.Split(markdown, MaxMessageLen, HTML)
}

func chatID(chat string) (int64, error) {
	id, err := strconv.ParseInt(chat, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("telegram: chat id %q is not a number: %w", chat, channel.ErrRejected)
	}
	return id, nil
}

func keyboard(buttons []channel.Button) *InlineKeyboardMarkup {
	if len(buttons) == 0 {
		return nil
	}
	row := make([]InlineKeyboardButton, len(buttons))
	for i, bt := range buttons {
		row[i] = InlineKeyboardButton{Text: bt.Text, CallbackData: bt.Data}
	}
	return &InlineKeyboardMarkup{InlineKeyboard: [][]InlineKeyboardButton{row}}
}

var noPreview = &LinkPreviewOptions{IsDisabled: true}

// Send implements channel.Platform.
func (b *Bot) Send(ctx context.Context, chat, text string, buttons []channel.Button) (string, error) {
	id, err := chatID(chat)
	if err != nil {
		return "", err
	}
	m, err := b.api.SendMessage(ctx, &SendMessageParams{ChatID: id, Text: text, ParseMode: "HTML", ReplyMarkup: keyboard(buttons), LinkPreviewOptions: noPreview})
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(m.MessageID, 10), nil
}

// Edit implements channel.Platform; "message is not modified" counts as
// done.
func (b *Bot) Edit(ctx context.Context, chat, messageID, text string, buttons []channel.Button) error {
	id, err := chatID(chat)
	if err != nil {
		return err
	}
	mid, err := strconv.ParseInt(messageID, 10, 64)
	if err != nil {
		return fmt.Errorf("telegram: message id %q is not a number: %w", messageID, channel.ErrRejected)
	}
	err = b.api.EditMessageText(ctx, &EditMessageTextParams{ChatID: id, MessageID: mid, Text: text, ParseMode: "HTML", ReplyMarkup: keyboard(buttons), LinkPreviewOptions: noPreview})
	var te *Error
	if errors.As(err, &te) && te.Code == http.StatusBadRequest && strings.Contains(te.Description, "message is not modified") {
		return nil
	}
	return err
}

// Answer implements channel.Platform.
func (b *Bot) Answer(ctx context.Context, callbackID, text string) error {
	return b.api.AnswerCallbackQuery(ctx, callbackID, text)
}
