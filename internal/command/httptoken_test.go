package command

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// TestPlaceholderTokenRefused: vibergw and viber up refuse the token
// .env.example ships, before they start anything.
func TestPlaceholderTokenRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		app  *cli.App
		args []string
	}{
		{Gateway(), []string{"vibergw", "--http-listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"}},
		{Viber(), []string{"viber", "up", "--http-listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--no-daemon"}},
	} {
		app := tc.app
		app.ExitErrHandler = func(*cli.Context, error) {}
		app.Writer, app.ErrWriter = &strings.Builder{}, &strings.Builder{}
		args := append(tc.args, "--data", t.TempDir(), "--http-token", placeholderHTTPToken)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cliMu.Lock() // see cliMu: urfave/cli's global help flag
		err := app.RunContext(ctx, args)
		cliMu.Unlock()
		cancel()
		if err == nil || !strings.Contains(err.Error(), "placeholder") {
			t.Errorf("%s with the placeholder token: got %v, want a refusal naming the placeholder", tc.args[0], err)
		}
	}
	if err := checkHTTPToken("  " + strings.ToUpper(placeholderHTTPToken) + "\n"); !errors.Is(err, errPlaceholderToken) {
		t.Errorf("placeholder with spaces and capitals: got %v", err)
	}
	if err := checkHTTPToken("0123456789abcdef0123456789abcdef"); err != nil {
		t.Errorf("a random token: %v", err)
	}
}

// TestEnvExamplePlaceholder keeps .env.example's token the one refused.
func TestEnvExamplePlaceholder(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join("..", "..", ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VIBER_HTTP_TOKEN="); ok {
			if v != placeholderHTTPToken {
				t.Fatalf(".env.example gives VIBER_HTTP_TOKEN=%q; the gateway refuses %q: keep them equal", v, placeholderHTTPToken)
			}
			return
		}
	}
	t.Fatal(".env.example sets no VIBER_HTTP_TOKEN")
}
