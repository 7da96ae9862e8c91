package bus

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnectOptions describe a client connection to NATS.
type ConnectOptions struct {
	// URL is one or more comma-separated server URLs.
	URL string
	// Name is the client name shown by `nats server report connections`.
	Name string
	// CredsFile is a NATS credentials file (JWT + nkey seed); optional.
	CredsFile string
	// NKeySeedFile is an nkey seed file for nkey authentication; optional.
	NKeySeedFile string
	// Token is a plain token for token authentication; optional.
	Token string
	// InboxPrefix, when set, replaces "_INBOX" as the prefix of reply
	// subjects (daemons with strict credentials use a private one).
	InboxPrefix string
	// InProcess, when set, connects without a socket (embedded servers).
	InProcess nats.InProcessConnProvider
	// OnEvent, when set, is told about disconnects, reconnects and errors.
	OnEvent func(kind string, err error)
}

// Connect opens a connection that reconnects forever with backoff and
// jitter, so a restarted or briefly unreachable server never ends a
// long-running gateway or daemon.
func Connect(o ConnectOptions) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.CustomReconnectDelay(backoff),
		nats.RetryOnFailedConnect(false),
		nats.ReconnectBufSize(64 << 20),
		nats.PingInterval(10 * time.Second),
		nats.MaxPingsOutstanding(3),
	}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.NKeySeedFile != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nkey seed %s: %w", o.NKeySeedFile, err)
		}
		opts = append(opts, opt)
	}
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	if o.InProcess != nil {
		opts = append(opts, nats.InProcessServer(o.InProcess))
	}
	if o.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(o.InboxPrefix))
	}
	if o.OnEvent != nil {
		ev := o.OnEvent
		opts = append(opts,
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { ev("disconnected", err) }),
			nats.ReconnectHandler(func(_ *nats.Conn) { ev("reconnected", nil) }),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { ev("error", err) }),
		)
	}
	url := o.URL
	if url == "" && o.InProcess == nil {
		url = nats.DefaultURL
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) ||
			o.CredsFile != "" && strings.Contains(err.Error(), o.CredsFile) || strings.Contains(strings.ToLower(err.Error()), "nkey") {
			return nil, fmt.Errorf("connect to NATS at %s: %w (check the credentials: --creds / VIBER_NATS_CREDS)", url, err)
		}
		return nil, fmt.Errorf("connect to NATS at %s: %w (is the server running? start one with `viber up` or pass --nats-url)", url, err)
	}
	return nc, nil
}

// backoff doubles the wait after each failed reconnect, up to 5 s.
func backoff(attempts int) time.Duration {
	d := 250 * time.Millisecond
	for i := 1; i < attempts && d < 5*time.Second; i++ {
		d *= 2
	}
	return min(d, 5*time.Second)
}
