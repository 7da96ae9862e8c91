package telegram_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/viberhq/viber/channel"
	"github.com/viberhq/viber/channel/telegram"
	"github.com/viberhq/viber/channel/telegram/telegramtest"
)

func TestAPIWaitsOutRateLimits(t *testing.T) {
	t.Parallel()
	tg := telegramtest.New(t, token)
	var n atomic.Int32
	tg.SetHook(func(_ context.Context, method string, _ map[string]any) *telegramtest.Error {
		if method == "sendMessage" && n.Add(1) == 1 {
			return &telegramtest.Error{Code: 429, Description: "Too Many Requests: retry after 1"}
		}
		return nil
	})
	api, err := telegram.NewAPI(tg.URL, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m, err := api.SendMessage(context.Background(), &telegram.SendMessageParams{ChatID: 42, Text: "hi"})
	if err != nil || m.MessageID == 0 {
		t.Fatalf("send after a 429: %+v, %v", m, err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("retried after %s, want the retry_after of 1s", waited)
	}
	if calls := tg.Calls("sendMessage"); len(calls) != 2 {
		t.Errorf("%d sendMessage calls, want the refused one and the retry", len(calls))
	}
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	tg := telegramtest.New(t, token)
	api, err := telegram.NewAPI(tg.URL, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = api.EditMessageText(ctx, &telegram.EditMessageTextParams{ChatID: 42, MessageID: 999, Text: "x"})
	var te *telegram.Error
	if !errors.As(err, &te) || te.Code != 400 || !strings.Contains(te.Description, "message to edit not found") || !errors.Is(err, channel.ErrRejected) {
		t.Errorf("editing a missing message: %v, want a 400 that matches channel.ErrRejected", err)
	}
	if _, err := api.SendMessage(ctx, &telegram.SendMessageParams{ChatID: 42, Text: "<b>open", ParseMode: "HTML"}); err == nil || !strings.Contains(err.Error(), "can't parse entities") {
		t.Errorf("unbalanced HTML: %v, want Telegram's parse error", err)
	}
	bad, err := telegram.NewAPI(tg.URL, "999:wrong", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.GetMe(ctx); !errors.As(err, &te) || te.Code != 401 {
		t.Errorf("a wrong token: %v, want 401", err)
	}
	// A network error names neither the URL's token nor hides the cause.
	down, err := telegram.NewAPI("http://127.0.0.1:1", "123:very-secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = down.GetMe(ctx)
	if err == nil || strings.Contains(err.Error(), "very-secret") {
		t.Errorf("unreachable API: %v, want an error without the token", err)
	}
}
