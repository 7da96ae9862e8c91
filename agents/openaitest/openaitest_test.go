package openaitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestNewOn: a fake on a chosen address answers there, and Port names the
// port it took.
func TestNewOn(t *testing.T) {
	t.Parallel()
	s := NewOn(t, "127.0.0.1:0", Echo)
	if s.Port() == 0 || !strings.HasSuffix(s.URL, fmt.Sprintf(":%d/v1", s.Port())) {
		t.Fatalf("URL %s, port %d", s.URL, s.Port())
	}
	body := `{"model":"m","messages":[{"role":"user","content":"ping"}]}`
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/chat/completions", s.Port()), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Choices) != 1 || out.Choices[0].Message.Content != "echo: ping" {
		t.Fatalf("answer %+v, %v; want echo: ping", out, err)
	}
	if n := len(s.Requests()); n != 1 {
		t.Fatalf("%d requests recorded, want 1", n)
	}
}
