// Package server runs an embedded NATS server with JetStream, for `viber up`,
// the gateway's default mode and tests. It is a thin layer over
// github.com/nats-io/nats-server/v2 that picks Viber's defaults and turns
// start-up failures into errors that say what to do.
package server

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/jwt/v2"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/auth"
)

// Options configure an embedded server.
type Options struct {
	// Dir is where JetStream stores its files. It is created if missing.
	Dir string
	// Listen is the client listener as HOST:PORT. Port 0 picks a free port;
	// an empty Listen means 127.0.0.1 on a free port. "none" disables the
	// listener (in-process connections only).
	Listen string
	// Name is the server name (default "viber").
	Name string
	// Domain is the JetStream domain (empty for none).
	Domain string
	// LeafListen, when set, accepts leaf-node connections on HOST:PORT.
	LeafListen string
	// LeafRemote, when set, makes this server a leaf node of the hub at
	// that URL (nats-leaf://HOST:PORT); it reconnects by itself after a
	// cut. LeafCreds is the credentials file for the link.
	LeafRemote string
	LeafCreds  string
	// MaxPayload caps a message's size (default 8 MiB).
	MaxPayload int32
	// Logger, when set, receives the server's log lines.
	Logger natsserver.Logger
	// Debug enables the server's debug logging (with Logger).
	Debug bool
	// StartTimeout bounds start-up (default 30 s).
	StartTimeout time.Duration
	// Auth, when set, runs the server in operator mode: it trusts the
	// store's operator, resolves the SYS and VIBER accounts from memory,
	// and refuses clients without a credential the VIBER account signed.
	// [Server.Connect] then uses the store's gateway credential.
	Auth *auth.Store
}

// LeafPingInterval is how often an edge's embedded server pings (its leaf
// link to the hub among its connections): a silently dead link is given up
// and redialled after about three intervals.
const LeafPingInterval = 10 * time.Second

// Server is a running embedded NATS server.
type Server struct {
	ns    *natsserver.Server
	dir   string
	creds string
}

// ErrStore means the JetStream store directory cannot be used.
var ErrStore = errors.New("JetStream store unusable")

// Start starts the server and waits until it accepts connections.
func Start(o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, fmt.Errorf("embedded NATS: no store directory given (set --data)")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("store directory %s: %w", o.Dir, err)
	}
	if err := checkWritable(dir); err != nil {
		return nil, err
	}
	opts := &natsserver.Options{
		ServerName:            o.Name,
		JetStream:             true,
		JetStreamDomain:       o.Domain,
		StoreDir:              dir,
		MaxPayload:            o.MaxPayload,
		NoSigs:                true,
		DisableShortFirstPing: true,
	}
	if o.Auth != nil {
		if err := configureAuth(opts, o.Auth); err != nil {
			return nil, err
		}
	}
	if opts.ServerName == "" {
		opts.ServerName = "viber"
	}
	if opts.MaxPayload == 0 {
		opts.MaxPayload = 8 << 20
	}
	switch o.Listen {
	case "none":
		opts.DontListen = true
	case "":
		opts.Host, opts.Port = "127.0.0.1", natsserver.RANDOM_PORT
	default:
		host, port, err := splitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("--nats-listen %q: %w", o.Listen, err)
		}
		opts.Host, opts.Port = host, port
	}
	if o.LeafRemote != "" {
		u, err := url.Parse(o.LeafRemote)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("--leaf %q: want nats-leaf://HOST:PORT", o.LeafRemote)
		}
		opts.LeafNode.Remotes = []*natsserver.RemoteLeafOpts{{URLs: []*url.URL{u}, Credentials: o.LeafCreds}}
		opts.LeafNode.ReconnectInterval = time.Second
		// A link whose network went away without a word (a cable pulled,
		// a new address) is noticed by pings; the server's default (every
		// 2 minutes, two unanswered) left an edge on a dead link for
		// minutes after its network came back.
		opts.PingInterval, opts.MaxPingsOut = LeafPingInterval, 2
	}
	if o.LeafListen != "" {
		host, port, err := splitHostPort(o.LeafListen)
		if err != nil {
			return nil, fmt.Errorf("leaf listen %q: %w", o.LeafListen, err)
		}
		opts.LeafNode.Host, opts.LeafNode.Port = host, port
		opts.LeafNode.NoAdvertise = true
	}
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	if o.Logger != nil {
		ns.SetLoggerV2(o.Logger, o.Debug, false, false)
	}
	go ns.Start()
	timeout := o.StartTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	if !ns.ReadyForConnections(timeout) {
		ns.Shutdown()
		if !opts.DontListen {
			if l, err := net.Listen("tcp", net.JoinHostPort(opts.Host, strconv.Itoa(max(opts.Port, 0)))); err != nil {
				return nil, fmt.Errorf("embedded NATS could not listen on %s: %w (is another server running there? pick another --nats-listen)", o.Listen, err)
			} else {
				_ = l.Close()
			}
		}
		return nil, fmt.Errorf("embedded NATS did not start within %s (store %s)", timeout, dir)
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS started without JetStream: %w (store %s)", ErrStore, dir)
	}
	srv := &Server{ns: ns, dir: dir}
	if o.Auth != nil {
		srv.creds = o.Auth.GatewayCredsPath()
	}
	return srv, nil
}

// checkWritable makes sure dir exists and a file can be written in it, so a
// read-only or full disk gives a clear error instead of a server that
// starts without JetStream.
func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("%w: create %s: %v", ErrStore, dir, err)
	}
	f, err := os.CreateTemp(dir, ".viber-write-check-*")
	if err != nil {
		return fmt.Errorf("%w: %s is not writable: %v", ErrStore, dir, err)
	}
	name := f.Name()
	_, werr := f.Write(make([]byte, 64<<10))
	cerr := f.Close()
	_ = os.Remove(name)
	if werr != nil || cerr != nil {
		return fmt.Errorf("%w: cannot write to %s: %v", ErrStore, dir, errors.Join(werr, cerr))
	}
	return nil
}

func splitHostPort(hp string) (string, int, error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if port == 0 {
		port = natsserver.RANDOM_PORT
	}
	return host, port, nil
}

// ClientURL is the URL clients dial (empty without a listener).
func (s *Server) ClientURL() string {
	if s.ns.ClientURL() == "" {
		return ""
	}
	return s.ns.ClientURL()
}

// Dir is the JetStream store directory.
func (s *Server) Dir() string { return s.dir }

// NATS returns the underlying server.
func (s *Server) NATS() *natsserver.Server { return s.ns }

// Connect opens an in-process client connection (no socket) with Viber's
// reconnect defaults.
func (s *Server) Connect(name string) (*nats.Conn, error) {
	return bus.Connect(bus.ConnectOptions{Name: name, InProcess: s.ns, CredsFile: s.creds})
}

// Auth reports whether the server runs in operator mode with credentials.
func (s *Server) Auth() bool { return s.creds != "" }

// configureAuth puts the server in operator mode with a memory resolver
// preloaded with the store's accounts.
func configureAuth(opts *natsserver.Options, st *auth.Store) error {
	oc, err := st.OperatorClaims()
	if err != nil {
		return fmt.Errorf("embedded NATS: operator: %w", err)
	}
	res := &natsserver.MemAccResolver{}
	for pub, token := range st.AccountJWTs() {
		if err := res.Store(pub, token); err != nil {
			return fmt.Errorf("embedded NATS: account %s: %w", pub, err)
		}
	}
	opts.TrustedOperators = []*jwt.OperatorClaims{oc}
	opts.AccountResolver = res
	opts.SystemAccount = st.SystemAccount()
	return nil
}

// Shutdown stops the server and waits for it to finish.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// LeafConnected reports whether this server has a live leaf-node link.
func (s *Server) LeafConnected() bool { return s.ns.NumLeafNodes() > 0 }
