// Package telegram is the Telegram side of a chat bridge: a small client
// of the Bot API (getUpdates long polling, sendMessage, editMessageText,
// answerCallbackQuery) and a channel.Platform over it, rendering markdown
// as Telegram's HTML.
//
// It does not use a Bot API library on purpose. The well-kept Go clients
// (github.com/go-telegram/bot among them) can be pointed at a local server,
// but their polling loops confirm an update to Telegram (by asking for the
// next offset) as soon as it is fetched and hand it to handlers running on
// their own, so an update fetched just before a crash is gone. The bridge
// confirms an update only after Viber has it, and handles a chat's
// messages in order; five JSON methods are less code than working around
// a library's loop.
package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/viberhq/viber/channel"
)

// DefaultAPIURL is the Bot API's address.
const DefaultAPIURL = "https://api.telegram.org"

// MaxMessageLen is the longest message text Telegram takes, in UTF-16
// code units.
const MaxMessageLen = 4096

// API calls the Bot API of one bot. The token is a secret: it appears in
// request URLs only, never in errors or logs.
type API struct {
	base  string // APIURL/bot<token>/
	token string
	hc    *http.Client
}

// NewAPI returns a client of the Bot API at apiURL ("" for Telegram's).
func NewAPI(apiURL, token string, hc *http.Client) (*API, error) {
	if strings.TrimSpace(token) == "" {
		return nil, errors.New("telegram: no bot token")
	}
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	u, err := url.Parse(apiURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("telegram: api_url %q is not an http(s) URL", apiURL)
	}
	if hc == nil {
		hc = &http.Client{}
	}
	return &API{base: strings.TrimRight(apiURL, "/") + "/bot" + token + "/", token: token, hc: hc}, nil
}

// Error is an answer of the Bot API with ok false.
type Error struct {
	Method      string
	Code        int
	Description string
	// RetryAfter is set with code 429: seconds to wait.
	RetryAfter int
}

func (e *Error) Error() string {
	return fmt.Sprintf("telegram %s: %d %s", e.Method, e.Code, e.Description)
}

// Unwrap makes a refusal that a retry cannot fix (400, 403, 404) match
// channel.ErrRejected.
func (e *Error) Unwrap() error {
	switch e.Code {
	case http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound:
		return channel.ErrRejected
	}
	return nil
}

type response struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	Description string          `json:"description"`
	ErrorCode   int             `json:"error_code"`
	Parameters  *struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

// Call posts params as JSON to a method and decodes the result into out.
// A 429 is waited out (as long as ctx allows) and tried again.
func (a *API) Call(ctx context.Context, method string, params, out any) error {
	body, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("telegram %s: %w", method, err)
	}
	for {
		err := a.call(ctx, method, body, out)
		var te *Error
		if !errors.As(err, &te) || te.Code != http.StatusTooManyRequests {
			return err
		}
		wait := time.Duration(max(te.RetryAfter, 1)) * time.Second
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up waiting: %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

func (a *API) call(ctx context.Context, method string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+method, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("telegram %s: %w", method, a.redact(err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("telegram %s: %w", method, a.redact(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("telegram %s: %w", method, a.redact(err))
	}
	var r response
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("telegram %s: HTTP %d with a body that is not the Bot API's JSON", method, resp.StatusCode)
	}
	if !r.OK {
		e := &Error{Method: method, Code: r.ErrorCode, Description: r.Description}
		if e.Code == 0 {
			e.Code = resp.StatusCode
		}
		if r.Parameters != nil {
			e.RetryAfter = r.Parameters.RetryAfter
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(r.Result, out); err != nil {
			return fmt.Errorf("telegram %s: result: %w", method, err)
		}
	}
	return nil
}

// redact keeps the token out of errors (url.Error repeats the URL).
func (a *API) redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	if strings.Contains(err.Error(), a.token) {
		return errors.New(strings.ReplaceAll(err.Error(), a.token, "<token>"))
	}
	return err
}

// User is a Telegram user or bot.
type User struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
	Username  string `json:"username,omitempty"`
}

// Chat is a private chat, group or channel.
type Chat struct {
	ID   int64  `json:"id"`
	Type string `json:"type"`
}

// Message is a chat message.
type Message struct {
	MessageID   int64                 `json:"message_id"`
	From        *User                 `json:"from,omitempty"`
	Chat        Chat                  `json:"chat"`
	Date        int64                 `json:"date"`
	Text        string                `json:"text,omitempty"`
	ReplyMarkup *InlineKeyboardMarkup `json:"reply_markup,omitempty"`
}

// CallbackQuery is the press of an inline button.
type CallbackQuery struct {
	ID      string   `json:"id"`
	From    User     `json:"from"`
	Message *Message `json:"message,omitempty"`
	Data    string   `json:"data,omitempty"`
}

// Update is one item of getUpdates.
type Update struct {
	UpdateID      int64          `json:"update_id"`
	Message       *Message       `json:"message,omitempty"`
	CallbackQuery *CallbackQuery `json:"callback_query,omitempty"`
}

// InlineKeyboardMarkup is the buttons under a message.
type InlineKeyboardMarkup struct {
	InlineKeyboard [][]InlineKeyboardButton `json:"inline_keyboard"`
}

// InlineKeyboardButton is one button; CallbackData is at most 64 bytes.
type InlineKeyboardButton struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data,omitempty"`
}

// GetMe returns the bot itself (a cheap check of the token).
func (a *API) GetMe(ctx context.Context) (*User, error) {
	var u User
	return &u, a.Call(ctx, "getMe", struct{}{}, &u)
}

// GetUpdates long-polls for updates from offset on, waiting up to timeout
// seconds when there are none. Asking for an offset confirms every update
// before it.
func (a *API) GetUpdates(ctx context.Context, offset int64, timeout int) ([]Update, error) {
	var ups []Update
	err := a.Call(ctx, "getUpdates", map[string]any{
		"offset": offset, "timeout": timeout, "allowed_updates": []string{"message", "callback_query"},
	}, &ups)
	return ups, err
}

// SendMessageParams are sendMessage's parameters the bridge uses.
type SendMessageParams struct {
	ChatID      int64                 `json:"chat_id"`
	Text        string                `json:"text"`
	ParseMode   string                `json:"parse_mode,omitempty"`
	ReplyMarkup *InlineKeyboardMarkup `json:"reply_markup,omitempty"`
	// LinkPreviewOptions turns link previews off.
	LinkPreviewOptions *LinkPreviewOptions `json:"link_preview_options,omitempty"`
}

// LinkPreviewOptions tune the preview of the first link of a message.
type LinkPreviewOptions struct {
	IsDisabled bool `json:"is_disabled"`
}

// SendMessage posts a message.
func (a *API) SendMessage(ctx context.Context, p *SendMessageParams) (*Message, error) {
	var m Message
	return &m, a.Call(ctx, "sendMessage", p, &m)
}

// EditMessageTextParams are editMessageText's parameters the bridge uses.
type EditMessageTextParams struct {
	ChatID             int64                 `json:"chat_id"`
	MessageID          int64                 `json:"message_id"`
	Text               string                `json:"text"`
	ParseMode          string                `json:"parse_mode,omitempty"`
	ReplyMarkup        *InlineKeyboardMarkup `json:"reply_markup,omitempty"`
	LinkPreviewOptions *LinkPreviewOptions   `json:"link_preview_options,omitempty"`
}

// EditMessageText replaces a message's text (and, without ReplyMarkup,
// removes its inline keyboard).
func (a *API) EditMessageText(ctx context.Context, p *EditMessageTextParams) error {
	// The result is the message, or true for inline messages.
	return a.Call(ctx, "editMessageText", p, nil)
}

// AnswerCallbackQuery acknowledges a button press with a notice.
func (a *API) AnswerCallbackQuery(ctx context.Context, id, text string) error {
	return a.Call(ctx, "answerCallbackQuery", map[string]any{"callback_query_id": id, "text": text}, nil)
}
