package telemetry_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/telemetry"
)

// TestServeMetrics: a daemon's --metrics-listen serves /metrics, needs
// its token when it has one, and refuses a listener beyond loopback
// without a token.
func TestServeMetrics(t *testing.T) {
	t.Parallel()
	reg := telemetry.NewRegistry()
	if _, err := telemetry.NewDaemon(reg); err != nil {
		t.Fatal(err)
	}
	srv, err := telemetry.Serve("127.0.0.1:0", "tok", reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	url := "http://" + srv.Addr() + bus.MetricsPath
	get := func(token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set(bus.HeaderAuthorization, "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(""); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d, want 401", code)
	}
	if code, _ := get("wrong"); code != http.StatusUnauthorized {
		t.Errorf("with a wrong token: %d, want 401", code)
	}
	code, body := get("tok")
	if code != http.StatusOK || !strings.Contains(body, "viber_model_calls_total") && !strings.Contains(body, "viber_daemon_approvals_waiting") {
		t.Errorf("with the token: %d, body lacks the daemon's metrics:\n%.500s", code, body)
	}
	if _, err := telemetry.Serve("0.0.0.0:0", "", reg); err == nil || !strings.Contains(err.Error(), "--metrics-token") {
		t.Errorf("a listener beyond loopback without a token: %v, want a refusal naming --metrics-token", err)
	}
}
