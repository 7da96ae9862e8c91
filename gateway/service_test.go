package gateway

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
)

// TestSemver maps every version string a build can carry to one micro
// accepts, keeping real semver as it is.
func TestSemver(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"1.2.3":                "1.2.3",
		"v1.2.3":               "1.2.3",
		"v1.2.3-4-gabc123":     "1.2.3-4-gabc123",
		"0.1.0-dev":            "0.1.0-dev",
		"":                     "0.0.0-dev",
		"dev":                  "0.0.0-dev",
		"c06d841":              "0.0.0-c06d841",
		"c06d841-dirty":        "0.0.0-c06d841-dirty",
		"0123456":              "0.0.0-g0123456",
		"1234567":              "0.0.0-1234567",
		"v1.2":                 "0.0.0-v1-2",
		"build 7 (2026/12/02)": "0.0.0-build-7--2026-12-02-",
		"vé":                   "0.0.0-v-",
	} {
		got := semver(in)
		if got != want {
			t.Errorf("semver(%q) = %q, want %q", in, got, want)
		}
		if !semverPattern.MatchString(got) {
			t.Errorf("semver(%q) = %q is not semver", in, got)
		}
	}
}

// TestGatewayStartsWithAnyVersion starts a gateway stamped with a commit
// hash (what `make build` gives on a clone without tags) and finds its
// service, with the mapped version, through micro's discovery.
func TestGatewayStartsWithAnyVersion(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	for _, v := range []string{"c06d841", "0123abc-dirty", "weird/version 2"} {
		ctx, cancel := context.WithCancel(context.Background())
		g, err := New(ctx, Config{NC: env.Connect(t, "gateway"), Version: v, HTTPListen: "none", Logger: zerolog.Nop()})
		if err != nil {
			cancel()
			t.Fatalf("version %q: new: %v", v, err)
		}
		if err := g.Start(ctx); err != nil {
			cancel()
			t.Fatalf("version %q: start: %v", v, err)
		}
		info := g.svc.Info()
		if info.Version != semver(v) || info.Name != bus.ServiceName {
			t.Errorf("version %q: service %s %s, want %s %s", v, info.Name, info.Version, bus.ServiceName, semver(v))
		}
		cancel()
		g.Stop()
	}
}

// TestRefusalMessages: refusals say what is wrong, without a misleading
// sentinel: a skill nobody offers is not "malformed", and a decision about
// a call that does not wait does not claim the task ended.
func TestRefusalMessages(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t, "", bus.SetupOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := New(ctx, Config{NC: env.Connect(t, "gateway"), HTTPListen: "none", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "x", Skills: []string{"no-such-skill"}})
	if !errors.Is(err, bus.ErrSkillUnavailable) || strings.HasPrefix(err.Error(), "malformed") || !strings.Contains(err.Error(), "no daemon offers skill(s) no-such-skill") {
		t.Errorf("unknown skill: %v; want ErrSkillUnavailable saying no daemon offers it, without a malformed: prefix", err)
	}
	if code := bus.CodeOf(err); code != bus.CodeSkillMissing || code.Status() != 400 {
		t.Errorf("unknown skill: code %s (%d), want %s (400)", code, code.Status(), bus.CodeSkillMissing)
	}
	sum, err := g.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "wait"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Decide(ctx, &bus.DecideRequest{ID: sum.ID, CallID: "call_x", Approved: true})
	if !errors.Is(err, bus.ErrCallNotFound) || errors.Is(err, bus.ErrTerminal) || strings.Contains(err.Error(), "ended") ||
		!strings.Contains(err.Error(), `no call "call_x" waiting for approval (none is waiting)`) {
		t.Errorf("unknown call: %v; want ErrCallNotFound naming call_x, not a claim that the task ended", err)
	}
}
