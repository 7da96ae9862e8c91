package doctor

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
)

func TestClockSkewLimits(t *testing.T) {
	t.Parallel()
	server := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		skew time.Duration
		want Status
		word string
	}{
		{0, OK, "within"},
		{-300 * time.Millisecond, OK, "within"},
		{3 * time.Second, Warn, "ahead of"},
		{-4 * time.Second, Warn, "behind"},
		{30 * time.Second, Fail, "ahead of"},
	} {
		c := checkClock(server, server.Add(tc.skew))
		if c.Status != tc.want || !strings.Contains(c.Message, tc.word) {
			t.Errorf("skew %s: %s %q, want %s with %q", tc.skew, c.Status, c.Message, tc.want, tc.word)
		}
		if c.Status != OK && c.Fix == "" {
			t.Errorf("skew %s: no fix given", tc.skew)
		}
	}
	if c := checkClock(time.Time{}, server); c.Status != Warn {
		t.Errorf("no server time: %s, want warn", c.Status)
	}
}

func writeSkill(t *testing.T, dir, folder, front string) {
	t.Helper()
	d := filepath.Join(dir, folder)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "SKILL.md"), []byte("---\n"+front+"---\nbody\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSkillsValidateStrictly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeSkill(t, dir, "good-one", "name: good-one\ndescription: does a thing\n")
	if c := checkSkills([]string{dir, filepath.Join(dir, "absent")}); c.Status != OK || !strings.Contains(c.Message, "good-one") {
		t.Fatalf("one valid skill: %s %q, want ok naming it", c.Status, c.Message)
	}
	writeSkill(t, dir, "bad-one", "name: other-name\ndescription: x\nfrobnicate: yes\n")
	c := checkSkills([]string{dir})
	if c.Status != Fail || !strings.Contains(c.Fix, "bad-one") {
		t.Fatalf("a broken skill: %s %q fix %q, want fail naming bad-one", c.Status, c.Message, c.Fix)
	}
	joined := strings.Join(c.Details, "\n")
	for _, want := range []string{"name", "frobnicate"} {
		if !strings.Contains(joined, want) {
			t.Errorf("details do not mention %q:\n%s", want, joined)
		}
	}
	if c := checkSkills([]string{filepath.Join(dir, "absent")}); c.Status != Warn {
		t.Errorf("no skills folder at all: %s, want warn", c.Status)
	}
}

func TestConfigWarnsAboutAKeyInTheFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("providers:\n  openai: {api_key: sk-inline-secret}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, cfg := checkConfig(path, func(string) string { return "" })
	if cfg == nil || c.Status != Warn || !strings.Contains(c.Fix, "api_key_env") || !strings.Contains(c.Fix, "chmod 600") {
		t.Fatalf("inline key: %s %q fix %q, want a warning pointing at api_key_env and chmod", c.Status, c.Message, c.Fix)
	}
	if strings.Contains(c.Message+c.Fix, "sk-inline-secret") {
		t.Fatalf("the check repeats the key: %q %q", c.Message, c.Fix)
	}
}

func TestDiskOfAMissingStoreIsItsParents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := checkDisk(filepath.Join(dir, "not", "yet"))
	if c.Status == Skip || !strings.Contains(c.Message, "not created yet") || !strings.Contains(c.Message, dir) {
		t.Fatalf("missing store: %s %q, want the free space of %s", c.Status, c.Message, dir)
	}
}

func TestCompleteNeverRepeatsTheKey(t *testing.T) {
	t.Parallel()
	const key = "sk-echoed-back-0815"
	model := openaitest.New(t, func(r *openaitest.Request) openaitest.Reply {
		return openaitest.Reply{Status: http.StatusUnauthorized, Error: "Incorrect API key provided: " + strings.TrimPrefix(r.Authorization, "Bearer ")}
	})
	_, err := Complete(context.Background(), agents.ModelConfig{Provider: agents.ProviderCustom, BaseURL: model.URL, Model: "m", APIKey: key}, 10*time.Second)
	if err == nil {
		t.Fatal("a 401 passed as an answer")
	}
	if strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "[key]") {
		t.Fatalf("error %q repeats the key (or was not redacted)", err)
	}
}

func TestDaemonsWithAWrongClockAreNamed(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx := bustest.Context(t, 10*time.Second)
	p, err := bus.OpenPresence(ctx, env.JS)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for id, clock := range map[string]time.Time{"right": now, "fast": now.Add(45 * time.Second)} {
		if err := p.Put(ctx, &bus.DaemonInfo{ID: id, Name: id, Status: bus.DaemonOnline, Heartbeat: bus.Duration(5 * time.Second), Capacity: 1, LastSeen: clock}); err != nil {
			t.Fatal(err)
		}
	}
	c := checkDaemons(ctx, env.JS, 5*time.Second)
	if c.Status != Warn || !strings.Contains(c.Message, "fast's clock is 45s ahead of the server") {
		t.Fatalf("daemons: %s %q, want a warning naming fast's clock 45 s ahead", c.Status, c.Message)
	}
	if strings.Contains(c.Message, "right's clock") || !strings.Contains(strings.Join(c.Details, "\n"), "right online: 0/1 tasks, clock within") {
		t.Fatalf("daemons: %q %q; the right clock should only be in the details", c.Message, c.Details)
	}
}
