package gateway

import (
	"errors"
	"testing"
	"time"

	"github.com/viberhq/viber/bus"
)

func TestParseSpec(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cron, tz, every, at string
		pattern, tzHeader   string
	}{
		{cron: "0 9 * * 1-5", pattern: "0 0 9 * * 1-5"},
		{cron: "  30   8 * * MON ", tz: "America/New_York", pattern: "0 30 8 * * MON", tzHeader: "America/New_York"},
		{cron: "*/10 * * * * *", pattern: "*/10 * * * * *"},
		{cron: "@daily", tz: "Europe/Paris", pattern: "@daily", tzHeader: "Europe/Paris"},
		{every: "15m", pattern: "@every 15m0s"},
		{every: "1s", pattern: "@every 1s"},
		{at: "2030-01-02T03:04:05+02:00", pattern: "@at 2030-01-02T01:04:05Z"},
	} {
		sp, err := parseSpec(tc.cron, tc.tz, tc.every, tc.at)
		if err != nil {
			t.Errorf("%+v: %v", tc, err)
			continue
		}
		if sp.pattern != tc.pattern || sp.tz != tc.tzHeader {
			t.Errorf("%+v: pattern %q tz %q", tc, sp.pattern, sp.tz)
		}
	}
	for _, tc := range []struct{ cron, tz, every, at string }{
		{},
		{cron: "* * * *"},
		{cron: "0 9 * * 8"},
		{cron: "@every 5m"},
		{cron: "@reboot"},
		{cron: "CRON_TZ=Europe/Paris 0 9 * * *"},
		{cron: "0 9 * * *", tz: "Local"},
		{every: "1500ms"},
		{every: "0s"},
		{every: "soon"},
		{at: "tomorrow"},
		{at: "2030-01-02T03:04:05Z", tz: "UTC"},
		{every: "1m", at: "2030-01-02T03:04:05Z"},
	} {
		if _, err := parseSpec(tc.cron, tc.tz, tc.every, tc.at); !errors.Is(err, bus.ErrMalformed) {
			t.Errorf("%+v: %v, want malformed", tc, err)
		}
	}
}

func TestSpecNext(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC) // a Saturday, the eve of Paris's DST change
	paris, _ := time.LoadLocation("Europe/Paris")

	sp, _ := parseSpec("0 9 * * *", "Europe/Paris", "", "")
	got := sp.next(now, time.Time{}, time.Time{}, 3)
	want := []time.Time{
		time.Date(2026, 3, 29, 9, 0, 0, 0, paris),
		time.Date(2026, 3, 30, 9, 0, 0, 0, paris),
		time.Date(2026, 3, 31, 9, 0, 0, 0, paris),
	}
	for i := range want {
		if i >= len(got) || !got[i].Equal(want[i]) {
			t.Fatalf("cron in Paris: %v, want %v", got, want)
		}
	}
	if got[0].Sub(now) != 20*time.Hour-time.Hour { // 09:00 CEST on the 29th is 07:00 UTC
		t.Errorf("first run %s is %s after %s", got[0], got[0].Sub(now), now)
	}

	sp, _ = parseSpec("", "", "2m", "")
	armed := now.Add(-5*time.Minute - 10*time.Second)
	got = sp.next(now, armed, time.Time{}, 2)
	if len(got) != 2 || !got[0].Equal(now.Add(50*time.Second)) || got[1].Sub(got[0]) != 2*time.Minute {
		t.Errorf("every 2m armed 5m10s ago: %v", got)
	}
	announced := now.Add(30 * time.Second)
	if got = sp.next(now, armed, announced, 1); len(got) != 1 || !got[0].Equal(announced) {
		t.Errorf("every 2m with the server's next time: %v, want %s", got, announced)
	}

	sp, _ = parseSpec("", "", "", "2026-03-28T13:00:00Z")
	if got = sp.next(now, now, time.Time{}, 3); len(got) != 1 || !got[0].Equal(now.Add(time.Hour)) {
		t.Errorf("at: %v", got)
	}
	if got = sp.next(now.Add(2*time.Hour), now, time.Time{}, 3); len(got) != 0 {
		t.Errorf("at, past: %v", got)
	}
}
