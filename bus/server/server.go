// Package server runs an embedded NATS server with JetStream, for `viber up`,
// the gateway's default mode and tests. It is a thin layer over
// github.com/nats-io/nats-server/v2 that picks Viber's defaults and turns
// start-up failures into errors that say what to do.
package server

import (
	"context"
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
	// Insecure accepts a client listener reachable beyond this machine
	// without Auth: an open server anyone who reaches it can read and
	// write. Without it such a listener is refused ([ErrOpenListener]);
	// with it a warning goes to Logger at every start.
	Insecure bool
	// Auth, when set, runs the server in operator mode: it trusts the
	// store's operator, resolves the SYS and VIBER accounts from memory,
	// and refuses clients without a credential the VIBER account signed.
	// [Server.Connect] then uses the store's gateway credential.
	Auth *auth.Store
	// ClusterName, ClusterListen and Routes make the server one node of a
	// NATS cluster (clustered JetStream, for streams and buckets with
	// replicas): the cluster's name, this node's route listener HOST:PORT
	// and the other nodes' route URLs (nats-route://HOST:PORT). Every node
	// needs its own Name and Dir. Not combined with Auth.
	ClusterName   string
	ClusterListen string
	Routes        []string
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
	lock  *os.File
}

var (
	// ErrStore means the JetStream store directory cannot be used.
	ErrStore = errors.New("JetStream store unusable")
	// ErrStoreLocked means another process (or another server in this
	// one) has the store directory open.
	ErrStoreLocked = errors.New("data directory in use")
	// ErrOpenListener means the client listener would be reachable beyond
	// this machine without auth and Insecure was not given.
	ErrOpenListener = errors.New("NATS listener open to the network without auth")
	// ErrListen means a listener's address cannot be used (taken, or not
	// an address of this machine).
	ErrListen = errors.New("cannot listen")
)

// LockFile is the file in the store directory a running server holds
// locked, with its process id inside.
const LockFile = "viber.lock"

// Start starts the server and waits until it accepts connections.
func Start(o Options) (*Server, error) {
	return StartContext(context.Background(), o)
}

// StartContext starts the server and waits until it accepts connections,
// or until ctx ends (then it shuts the server down and returns ctx's
// error). The store directory is locked for the server's life: a second
// server on the same directory fails at once with [ErrStoreLocked]. A
// listener address that is taken fails at once with [ErrListen].
func StartContext(ctx context.Context, o Options) (srv *Server, err error) {
	if o.Dir == "" {
		return nil, fmt.Errorf("embedded NATS: no store directory given (set --data)")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("store directory %s: %w", o.Dir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("%w: create %s: %v", ErrStore, dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			unlockDir(lock)
		}
	}()
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
	if o.ClusterListen != "" {
		if o.Auth != nil {
			return nil, errors.New("embedded NATS: a cluster with auth is not supported; run nats-server for that and use --nats-external")
		}
		host, port, err := splitHostPort(o.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("cluster listen %q: %w", o.ClusterListen, err)
		}
		opts.Cluster.Name, opts.Cluster.Host, opts.Cluster.Port = o.ClusterName, host, port
		for _, r := range o.Routes {
			u, err := url.Parse(r)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("route %q: want nats-route://HOST:PORT", r)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	if o.LeafListen != "" {
		host, port, err := splitHostPort(o.LeafListen)
		if err != nil {
			return nil, fmt.Errorf("leaf listen %q: %w", o.LeafListen, err)
		}
		opts.LeafNode.Host, opts.LeafNode.Port = host, port
		opts.LeafNode.NoAdvertise = true
	}
	if !opts.DontListen && o.Auth == nil && !Loopback(opts.Host) {
		if !o.Insecure {
			return nil, fmt.Errorf("%w: --nats-listen %s is reachable beyond this machine, and without auth anyone who reaches it can read and write every task; "+
				"turn auth on (vibergw --auth, see docs/auth.md), listen on 127.0.0.1, or accept an open server with --insecure", ErrOpenListener, o.Listen)
		}
		if o.Logger != nil {
			o.Logger.Warnf("INSECURE: the NATS listener %s is open to the network without auth (--insecure): anyone who reaches it can read and write every task", o.Listen)
		}
	}
	if o.LeafListen != "" && o.Auth == nil && !Loopback(opts.LeafNode.Host) && o.Logger != nil {
		o.Logger.Warnf("the leaf listener %s accepts leaf links from the network without auth: anyone who reaches it can read and write every task", o.LeafListen)
	}
	// A taken port would only show as a server that never gets ready (the
	// listener's error goes to the log): try the addresses first.
	if !opts.DontListen {
		if err := checkListen(opts.Host, opts.Port, "--nats-listen", o.Listen); err != nil {
			return nil, err
		}
	}
	if o.LeafListen != "" {
		if err := checkListen(opts.LeafNode.Host, opts.LeafNode.Port, "--leaf-listen", o.LeafListen); err != nil {
			return nil, err
		}
	}
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	if o.Logger != nil {
		ns.SetLoggerV2(o.Logger, o.Debug, false, false)
	}
	started := make(chan struct{})
	go func() {
		defer close(started)
		ns.Start()
	}()
	// stop shuts the server down once Start has returned: a Shutdown
	// before that would be undone by the rest of Start, leaving a server
	// running on the store after its lock is released.
	stop := func() {
		<-started
		ns.Shutdown()
		ns.WaitForShutdown()
	}
	timeout := o.StartTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		if ctx.Err() != nil {
			stop()
			return nil, fmt.Errorf("embedded NATS start interrupted: %w", context.Cause(ctx))
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("embedded NATS did not start within %s (store %s; listener %s)", timeout, dir, o.Listen)
		}
		if ns.ReadyForConnections(100 * time.Millisecond) {
			break
		}
	}
	if !ns.JetStreamEnabled() {
		stop()
		return nil, fmt.Errorf("embedded NATS started without JetStream: %w (store %s)", ErrStore, dir)
	}
	srv = &Server{ns: ns, dir: dir, lock: lock}
	if o.Auth != nil {
		srv.creds = o.Auth.GatewayCredsPath()
	}
	return srv, nil
}

// checkListen makes sure HOST:PORT can be listened on now (a random port
// always can).
func checkListen(host string, port int, flag, given string) error {
	if port <= 0 {
		return nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("%w: %s %s: %v (is another server running there? pick another %s)", ErrListen, flag, given, err, flag)
	}
	return l.Close()
}

// Loopback reports whether host only accepts connections from this
// machine ("" means every interface, so it does not).
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkWritable makes sure dir exists and a file can be written in it, so a
// read-only or full disk gives a clear error instead of a server that
// starts without JetStream.
func checkWritable(dir string) error {
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

// ConnectInbox is [Server.Connect] with replies under inbox instead of
// _INBOX (an edge daemon's private prefix, which its leaf credential
// requires).
func (s *Server) ConnectInbox(name, inbox string) (*nats.Conn, error) {
	return bus.Connect(bus.ConnectOptions{Name: name, InProcess: s.ns, CredsFile: s.creds, InboxPrefix: inbox})
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
	unlockDir(s.lock)
	s.lock = nil
}

// LeafConnected reports whether this server has a live leaf-node link.
func (s *Server) LeafConnected() bool { return s.ns.NumLeafNodes() > 0 }
