// Package command builds the command-line interfaces of viber, vibergw and
// viberd with urfave/cli. The mains in cmd/ only call these.
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/auth"
)

// Version is the build version, set with -ldflags "-X ...command.Version=..".
var Version = "0.1.0-dev"

// Exit codes beyond 0 (success) and 1 (error or failed task).
const (
	ExitFailed    = 1
	ExitCancelled = 2
)

func natsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "nats-url", Usage: "NATS server URL(s), comma-separated", EnvVars: []string{"VIBER_NATS_URL", "NATS_URL"}, Value: nats.DefaultURL},
		&cli.StringFlag{Name: "creds", Usage: "NATS credentials file (JWT + nkey seed)", EnvVars: []string{"VIBER_NATS_CREDS"}},
	}
}

func logFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-level", Usage: "trace, debug, info, warn or error", EnvVars: []string{"VIBER_LOG_LEVEL"}, Value: "info"},
		&cli.StringFlag{Name: "log-format", Usage: "auto (readable on a terminal, JSON otherwise), console or json", EnvVars: []string{"VIBER_LOG_FORMAT"}, Value: "auto"},
	}
}

// newLogger builds the zerolog logger from the log flags: a console writer
// on a terminal, JSON lines otherwise.
func newLogger(c *cli.Context, w io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(strings.ToLower(c.String("log-level")))
	if err != nil || level == zerolog.NoLevel {
		return zerolog.Nop(), fmt.Errorf("--log-level %q: use trace, debug, info, warn or error", c.String("log-level"))
	}
	format := c.String("log-format")
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			format = "console"
		}
	}
	switch format {
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	case "json":
	default:
		return zerolog.Nop(), fmt.Errorf("--log-format %q: use auto, console or json", format)
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}

// connect opens a NATS connection from the common flags.
func connect(c *cli.Context, name string, log *zerolog.Logger) (*nats.Conn, error) {
	return connectURL(c, c.String("nats-url"), name, log)
}

// connectURL opens a NATS connection to url with the --creds flag.
func connectURL(c *cli.Context, url, name string, log *zerolog.Logger) (*nats.Conn, error) {
	o := bus.ConnectOptions{URL: url, Name: name, CredsFile: c.String("creds")}
	if c.IsSet("private-inbox") && c.Bool("private-inbox") {
		o.InboxPrefix = auth.DaemonInbox(c.String("name"))
	}
	if log != nil {
		l := *log
		o.OnEvent = func(kind string, err error) {
			switch kind {
			case "disconnected":
				l.Warn().Err(err).Msg("NATS disconnected; reconnecting")
			case "reconnected":
				l.Info().Msg("NATS reconnected")
			default:
				l.Warn().Err(err).Msg("NATS error")
			}
		}
	}
	return bus.Connect(o)
}

// signalContext ends on SIGINT or SIGTERM.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

// requestContext bounds one CLI request.
func requestContext(c *cli.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Context, c.Duration("timeout"))
}

func timeoutFlag() cli.Flag {
	return &cli.DurationFlag{Name: "timeout", Usage: "how long to wait for the gateway", Value: 10 * time.Second}
}

// viberHome is ~/.viber (or $VIBER_HOME).
func viberHome() string {
	if h := os.Getenv("VIBER_HOME"); h != "" {
		return h
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".viber"
	}
	return filepath.Join(home, ".viber")
}

// userError turns known errors into a one-line message.
func userError(err error) error {
	if err == nil {
		return nil
	}
	var exit cli.ExitCoder
	if errors.As(err, &exit) {
		return err
	}
	msg := err.Error()
	if hint := hintFor(err); hint != "" && !strings.Contains(msg, "`") {
		msg += " (" + hint + ")"
	}
	return cli.Exit("viber: "+msg, 1)
}

// hintFor says what to do about an error the API answered, by its
// sentinel. Errors whose message already names a command (in backticks)
// keep their own advice.
func hintFor(err error) string {
	switch {
	case errors.Is(err, bus.ErrTaskNotFound):
		return "`viber task ls` lists tasks"
	case errors.Is(err, bus.ErrDaemonNotFound):
		return "`viber daemon ls` lists daemons"
	case errors.Is(err, bus.ErrCallNotFound):
		return "`viber task show ID` lists the calls waiting for approval"
	case errors.Is(err, bus.ErrTerminal):
		return "`viber task send ID TEXT` starts a new turn"
	case errors.Is(err, bus.ErrConflict):
		return "the task changed meanwhile; `viber task show ID` and try again"
	case errors.Is(err, bus.ErrUnauthorized):
		return "check the credentials given with --creds or VIBER_NATS_CREDS"
	case errors.Is(err, bus.ErrUnavailable):
		return "is a gateway running? `viber up` or `vibergw` starts one"
	}
	return ""
}
