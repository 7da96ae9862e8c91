// Package doctor checks a Viber installation the way `viber doctor` reports
// it: the config file, the default model, the NATS server and its
// JetStream, Viber's streams and buckets, the gateway, the daemons, the
// clock, the skills and the store's disk. Every check ends ok, warn, fail
// or skip, with one line saying what was found and, unless ok, one line
// saying what to do.
package doctor

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Status is the outcome of one check.
type Status string

// Check outcomes. Only Fail makes a report fail.
const (
	// OK means the check passed.
	OK Status = "ok"
	// Warn means something is off but Viber can work.
	Warn Status = "warn"
	// Fail means Viber cannot work until it is fixed.
	Fail Status = "fail"
	// Skip means the check did not run: an earlier one failed, or it was
	// turned off (--no-model).
	Skip Status = "skip"
)

// Check is the result of one check.
type Check struct {
	// Name is the check's short name: config, model, nats, jetstream,
	// streams, buckets, gateway, daemons, clock, skills, disk.
	Name string `json:"name"`
	// Status is ok, warn, fail or skip.
	Status Status `json:"status"`
	// Message says what was found, on one line.
	Message string `json:"message"`
	// Fix says what to do, on one line; empty when Status is ok.
	Fix string `json:"fix,omitempty"`
	// Details are extra lines (one per unknown config key, per skill
	// problem, per daemon...).
	Details []string `json:"details,omitempty"`
}

// Report is every check's result, in the order they are listed.
type Report struct {
	// OK is true when no check failed.
	OK bool `json:"ok"`
	// Checks are the results.
	Checks []Check `json:"checks"`
}

// Failed returns the checks that failed.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Status == Fail {
			out = append(out, c)
		}
	}
	return out
}

// Options say what to check.
type Options struct {
	// ConfigPath is the config file; "" is the default
	// ($VIBER_HOME/config.yaml or ~/.viber/config.yaml), which may be
	// absent. An explicit path must exist.
	ConfigPath string
	// Getenv reads the environment (os.Getenv when nil).
	Getenv func(string) string
	// Connect opens a connection to the NATS server; nil skips every
	// NATS check.
	Connect func() (*nats.Conn, error)
	// SkillDirs are folders of skill folders to validate strictly
	// (~/.viber/skills, a workspace's .agents/skills); missing ones are
	// noted, not failed.
	SkillDirs []string
	// DataDir is the local JetStream store directory (viber up's --data)
	// whose disk's free space is checked; "" skips the check.
	DataDir string
	// ModelTimeout bounds the test completion (default 30 s).
	ModelTimeout time.Duration
	// Timeout bounds each NATS request (default 5 s).
	Timeout time.Duration
	// NoModel skips the test completion.
	NoModel bool
}

func (o Options) withDefaults() Options {
	if o.ModelTimeout <= 0 {
		o.ModelTimeout = 30 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	return o
}

// Run runs every check and returns the report. The model is asked while
// the NATS checks run.
func Run(ctx context.Context, o Options) *Report {
	o = o.withDefaults()
	cfgCheck, cfg := checkConfig(o.ConfigPath, o.Getenv)
	var (
		wg         sync.WaitGroup
		modelCheck Check
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		switch {
		case o.NoModel:
			modelCheck = Check{Name: "model", Status: Skip, Message: "not asked (--no-model)"}
		case cfg == nil:
			modelCheck = Check{Name: "model", Status: Skip, Message: "not asked: the config file does not load", Fix: "fix the config file first"}
		default:
			modelCheck = checkModel(ctx, cfg, o.ModelTimeout)
		}
	}()
	natsChecks := checkNATS(ctx, o)
	skillCheck := checkSkills(o.SkillDirs)
	var diskCheck []Check
	if o.DataDir != "" {
		diskCheck = append(diskCheck, checkDisk(o.DataDir))
	}
	wg.Wait()

	r := &Report{OK: true}
	r.Checks = append(r.Checks, cfgCheck, modelCheck)
	r.Checks = append(r.Checks, natsChecks...)
	r.Checks = append(r.Checks, skillCheck)
	r.Checks = append(r.Checks, diskCheck...)
	for _, c := range r.Checks {
		if c.Status == Fail {
			r.OK = false
		}
	}
	return r
}
