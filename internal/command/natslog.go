package command

import "github.com/rs/zerolog"

// natsLogger sends an embedded NATS server's log lines to zerolog; its
// notices are debug-level so a normal start stays quiet.
type natsLogger struct{ l zerolog.Logger }

func (n natsLogger) Noticef(format string, v ...any) {
	n.l.Debug().Str("component", "nats").Msgf(format, v...)
}

func (n natsLogger) Warnf(format string, v ...any) {
	n.l.Warn().Str("component", "nats").Msgf(format, v...)
}

func (n natsLogger) Fatalf(format string, v ...any) {
	n.l.Error().Str("component", "nats").Msgf(format, v...)
}

func (n natsLogger) Errorf(format string, v ...any) {
	n.l.Error().Str("component", "nats").Msgf(format, v...)
}

func (n natsLogger) Debugf(format string, v ...any) {
	n.l.Trace().Str("component", "nats").Msgf(format, v...)
}

func (n natsLogger) Tracef(format string, v ...any) {
	n.l.Trace().Str("component", "nats").Msgf(format, v...)
}
