package tool

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Defaults used by Options.withDefaults for zero (or negative) fields.
const (
	DefaultShellTimeout    = 60 * time.Second
	DefaultMaxShellTimeout = 10 * time.Minute
	DefaultMaxOutputBytes  = 64 << 10
	DefaultMaxReadBytes    = 256 << 10
	DefaultFetchTimeout    = 30 * time.Second
	DefaultMaxFetchBytes   = 2 << 20
)

// Options configures the built-in tools. The zero value is usable: every
// zero (or negative) field takes its Default value.
type Options struct {
	// ShellTimeout is how long a shell command may run when the call does
	// not ask for a timeout (DefaultShellTimeout).
	ShellTimeout time.Duration
	// MaxShellTimeout caps the per-call timeout_seconds argument
	// (DefaultMaxShellTimeout; never below ShellTimeout).
	MaxShellTimeout time.Duration
	// MaxOutputBytes caps the text a tool returns: shell output (head and
	// tail kept), web_fetch text, grep/glob/list_dir listings
	// (DefaultMaxOutputBytes).
	MaxOutputBytes int
	// MaxReadBytes caps what read_file returns from one call
	// (DefaultMaxReadBytes); larger files are read in pages with offset
	// and limit.
	MaxReadBytes int
	// FetchTimeout bounds a whole web_fetch: connect, redirects and body
	// (DefaultFetchTimeout).
	FetchTimeout time.Duration
	// MaxFetchBytes caps the body web_fetch downloads (DefaultMaxFetchBytes).
	MaxFetchBytes int64
	// AllowPrivateNetworks lets web_fetch reach loopback, private,
	// link-local and other non-public addresses. Off by default.
	AllowPrivateNetworks bool
	// DenyCommands are extra Go regular expressions; a shell command that
	// matches any of them (whole, with runs of white space folded to one
	// space, or any single simple command within it) is refused. They add
	// to the built-in deny list, which cannot be switched off.
	DenyCommands []string
	// ShellEnv, when not nil, is the whole environment of shell commands.
	// When nil, commands inherit the daemon's environment minus variables
	// whose names look like secrets (KEY, TOKEN, SECRET, PASSWORD, ...).
	ShellEnv []string
	// Schedules, when set, adds the schedule tool, which adds, lists and
	// removes schedules through the gateway.
	Schedules Scheduler
}

// withDefaults returns o with every zero or negative field set to its
// default.
func (o Options) withDefaults() Options {
	if o.ShellTimeout <= 0 {
		o.ShellTimeout = DefaultShellTimeout
	}
	if o.MaxShellTimeout <= 0 {
		o.MaxShellTimeout = DefaultMaxShellTimeout
	}
	if o.MaxShellTimeout < o.ShellTimeout {
		o.MaxShellTimeout = o.ShellTimeout
	}
	if o.MaxOutputBytes <= 0 {
		o.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if o.MaxReadBytes <= 0 {
		o.MaxReadBytes = DefaultMaxReadBytes
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if o.MaxFetchBytes <= 0 {
		o.MaxFetchBytes = DefaultMaxFetchBytes
	}
	return o
}

// Validate reports every problem with o at once (errors.Join). Builtins
// accepts invalid options too, but a shell tool built with a deny pattern
// that does not compile refuses every command (it fails closed).
func (o Options) Validate() error {
	var errs []error
	if o.ShellTimeout < 0 {
		errs = append(errs, fmt.Errorf("ShellTimeout %v is negative", o.ShellTimeout))
	}
	if o.MaxShellTimeout < 0 {
		errs = append(errs, fmt.Errorf("MaxShellTimeout %v is negative", o.MaxShellTimeout))
	}
	if o.MaxShellTimeout > 0 && o.ShellTimeout > o.MaxShellTimeout {
		errs = append(errs, fmt.Errorf("ShellTimeout %v exceeds MaxShellTimeout %v", o.ShellTimeout, o.MaxShellTimeout))
	}
	if o.MaxOutputBytes < 0 {
		errs = append(errs, errors.New("MaxOutputBytes is negative"))
	}
	if o.MaxReadBytes < 0 {
		errs = append(errs, errors.New("MaxReadBytes is negative"))
	}
	if o.FetchTimeout < 0 {
		errs = append(errs, errors.New("FetchTimeout is negative"))
	}
	if o.MaxFetchBytes < 0 {
		errs = append(errs, errors.New("MaxFetchBytes is negative"))
	}
	for _, p := range o.DenyCommands {
		if _, err := regexp.Compile(p); err != nil {
			errs = append(errs, fmt.Errorf("DenyCommands: %w", err))
		}
	}
	return errors.Join(errs...)
}
