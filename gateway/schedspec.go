package gateway

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/viberhq/viber/bus"
)

// cronParser reads the cron syntax the NATS server accepts: five or six
// fields (seconds optional here; the server wants them, so five-field
// expressions get "0" seconds), names of months and days, ranges, steps,
// "?" and the descriptors @yearly, @annually, @monthly, @weekly, @daily,
// @midnight and @hourly. Both implementations descend from robfig/cron.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// serverDescriptors are the descriptors the server understands.
var serverDescriptors = map[string]bool{
	"@yearly": true, "@annually": true, "@monthly": true, "@weekly": true,
	"@daily": true, "@midnight": true, "@hourly": true,
}

// scheduleSpec is a validated schedule: the pattern the NATS server gets
// and what previews its next firings.
type scheduleSpec struct {
	// pattern is the Nats-Schedule header.
	pattern string
	// tz is the Nats-Schedule-Time-Zone header ("" for none).
	tz    string
	loc   *time.Location
	cron  cron.Schedule
	every time.Duration
	at    time.Time
}

// parseSpec validates the when of a schedule: exactly one of cronExpr,
// every and at, and tz only with cron.
func parseSpec(cronExpr, tz, every, at string) (*scheduleSpec, error) {
	n := 0
	for _, s := range []string{cronExpr, every, at} {
		if strings.TrimSpace(s) != "" {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("%w: give exactly one of --cron, --every and --at", bus.ErrMalformed)
	}
	if tz != "" && cronExpr == "" {
		return nil, fmt.Errorf("%w: --tz goes with --cron only (--every and --at are absolute)", bus.ErrMalformed)
	}
	sp := &scheduleSpec{}
	switch {
	case every != "":
		d, err := time.ParseDuration(strings.TrimSpace(every))
		if err != nil {
			return nil, fmt.Errorf("%w: --every %q: want a duration such as 30s, 15m or 2h", bus.ErrMalformed, every)
		}
		if d < time.Second || d%time.Second != 0 {
			return nil, fmt.Errorf("%w: --every %s: the interval must be whole seconds, at least 1s", bus.ErrMalformed, every)
		}
		sp.every, sp.pattern = d, "@every "+d.String()
	case at != "":
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(at))
		if err != nil {
			return nil, fmt.Errorf("%w: --at %q: want an RFC 3339 time such as 2026-12-24T09:00:00Z", bus.ErrMalformed, at)
		}
		sp.at = t.UTC()
		sp.pattern = "@at " + sp.at.Format(time.RFC3339)
	default:
		expr := strings.Join(strings.Fields(cronExpr), " ")
		loc := time.UTC
		if tz != "" {
			l, err := time.LoadLocation(tz)
			if err != nil || tz == "Local" {
				return nil, fmt.Errorf("%w: --tz %q is not an IANA time zone (e.g. Europe/Paris)", bus.ErrMalformed, tz)
			}
			loc, sp.tz = l, tz
		}
		if strings.HasPrefix(expr, "@") {
			if !serverDescriptors[expr] {
				return nil, fmt.Errorf("%w: --cron %q: the descriptors are @yearly, @monthly, @weekly, @daily and @hourly (use --every for intervals)", bus.ErrMalformed, expr)
			}
		} else if strings.Contains(expr, "TZ=") {
			return nil, fmt.Errorf("%w: --cron %q: give the time zone with --tz", bus.ErrMalformed, expr)
		}
		s, err := cronParser.Parse(expr)
		if err != nil {
			return nil, fmt.Errorf("%w: --cron %q: %v", bus.ErrMalformed, expr, err)
		}
		if f := len(strings.Fields(expr)); f == 5 {
			expr = "0 " + expr
		}
		sp.cron, sp.loc, sp.pattern = s, loc, expr
	}
	return sp, nil
}

// next returns up to n firing times after now. armed is when the schedule
// message was stored and nextFire the time the server announced with the
// latest firing (zero when none), which anchor an interval.
func (sp *scheduleSpec) next(now, armed, nextFire time.Time, n int) []time.Time {
	var out []time.Time
	switch {
	case sp.every > 0:
		t := nextFire
		if t.IsZero() {
			t = armed.Round(time.Second).Add(sp.every)
		}
		if t.Before(now) {
			// The server fires once, an interval after "now", when it
			// finds a schedule behind (after a restart).
			k := now.Sub(t)/sp.every + 1
			t = t.Add(k * sp.every)
		}
		for range n {
			out = append(out, t)
			t = t.Add(sp.every)
		}
	case !sp.at.IsZero():
		if !sp.at.Before(now.Add(-time.Minute)) {
			out = append(out, sp.at)
		}
	case sp.cron != nil:
		t := now.In(sp.loc)
		for range n {
			t = sp.cron.Next(t)
			if t.IsZero() {
				break
			}
			out = append(out, t.UTC())
		}
	}
	return out
}

// specOf rebuilds the spec of a stored schedule.
func specOf(sc *bus.Schedule) (*scheduleSpec, error) {
	var cronExpr, every, at string
	switch {
	case sc.Cron != "":
		cronExpr = sc.Cron
	case sc.Every > 0:
		every = time.Duration(sc.Every).String()
	case sc.At != nil:
		at = sc.At.Format(time.RFC3339)
	}
	return parseSpec(cronExpr, sc.TZ, every, at)
}
