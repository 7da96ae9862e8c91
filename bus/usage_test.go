package bus

import (
	"errors"
	"testing"
	"time"
)

// TestSumUsageDays counts a task on the UTC day of its creation (whatever
// its time zone), covers every day of the range oldest first, and leaves
// out tasks before it.
func TestSumUsageDays(t *testing.T) {
	t.Parallel()
	est := time.FixedZone("EST", -5*3600)
	now := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	u := SumUsage([]*Summary{
		// 23:30 on Dec 1 in New York is Dec 2, 04:30 UTC: today.
		{CreatedAt: time.Date(2026, 12, 1, 23, 30, 0, 0, est), Model: "a/x", Usage: Usage{InputTokens: 10, OutputTokens: 1, CostUSD: 0.25}},
		{CreatedAt: time.Date(2026, 12, 1, 23, 59, 0, 0, time.UTC), Model: "a/y", Usage: Usage{InputTokens: 20, OutputTokens: 2}},
		{CreatedAt: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), Usage: Usage{InputTokens: 1}}, // the day before the range
		{CreatedAt: time.Date(2026, 12, 2, 0, 5, 0, 0, time.UTC)},                                // no usage yet
	}, now, 2)
	if u.From != "2026-12-01" || u.To != "2026-12-02" || len(u.Days) != 2 || u.Days[0].Day != "2026-12-01" || u.Days[1].Day != "2026-12-02" {
		t.Fatalf("range %s..%s days %+v; want Dec 1 and Dec 2, oldest first", u.From, u.To, u.Days)
	}
	if d := u.Days[1]; d.Tasks != 2 || d.Usage != (Usage{InputTokens: 10, OutputTokens: 1, CostUSD: 0.25}) || d.Unpriced != 0 || len(d.Models) != 1 {
		t.Errorf("Dec 2: %+v; want the New York task and the one without usage", d)
	}
	if d := u.Days[0]; d.Tasks != 1 || d.Usage.InputTokens != 20 || d.Unpriced != 1 || d.Models[0].Model != "a/y" {
		t.Errorf("Dec 1: %+v; want the a/y task, unpriced", d)
	}
	if u.Total.Tasks != 3 || u.Total.Usage.InputTokens != 30 || u.Total.Unpriced != 1 || len(u.Total.Models) != 2 || u.Total.Models[0].Model != "a/y" {
		t.Errorf("total %+v; want 3 tasks, 30 in, a/y (more tokens) first", u.Total)
	}
	if n := len(SumUsage(nil, now, 0).Days); n != DefaultUsageDays {
		t.Errorf("0 days covers %d days, want %d", n, DefaultUsageDays)
	}
	for _, days := range []int{-1, MaxUsageDays + 1} {
		if err := (&UsageRequest{Days: days}).Check(); !errors.Is(err, ErrMalformed) {
			t.Errorf("days %d: %v, want malformed", days, err)
		}
	}
}
