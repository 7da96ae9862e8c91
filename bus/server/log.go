package server

import (
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// Zerolog adapts a zerolog logger for the embedded server. The server's
// notices are debug-level, so a normal start stays quiet; its warnings and
// errors keep their level.
func Zerolog(l zerolog.Logger) natsserver.Logger {
	return zlog{l.With().Str("component", "nats").Logger()}
}

type zlog struct{ l zerolog.Logger }

func (z zlog) Noticef(format string, v ...any) { z.l.Debug().Msgf(format, v...) }
func (z zlog) Warnf(format string, v ...any)   { z.l.Warn().Msgf(format, v...) }
func (z zlog) Fatalf(format string, v ...any)  { z.l.Error().Msgf(format, v...) }
func (z zlog) Errorf(format string, v ...any)  { z.l.Error().Msgf(format, v...) }
func (z zlog) Debugf(format string, v ...any)  { z.l.Trace().Msgf(format, v...) }
func (z zlog) Tracef(format string, v ...any)  { z.l.Trace().Msgf(format, v...) }
