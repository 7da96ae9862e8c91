package auth_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/auth"
	"github.com/viberhq/viber/bus/server"
)

func TestInitCreatesPrivateFilesOnce(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "auth")
	if auth.Exists(dir) {
		t.Fatal("Exists before Init")
	}
	if _, err := auth.Open(dir); !errors.Is(err, auth.ErrNoAuth) {
		t.Fatalf("Open before Init: %v", err)
	}
	s1, err := auth.Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v %v", st.Mode(), err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) < 7 {
		t.Fatalf("files %v %v", entries, err)
	}
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
	}
	s2, err := auth.Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s1.Account() != s2.Account() || s1.SystemAccount() != s2.SystemAccount() || s1.OperatorJWT() != s2.OperatorJWT() {
		t.Fatal("second Init made new keys")
	}
	creds, pub, err := s2.IssueDaemon("d1", "")
	if err != nil {
		t.Fatal(err)
	}
	token, err := jwt.ParseDecoratedJWT(creds)
	if err != nil {
		t.Fatal(err)
	}
	uc, err := jwt.DecodeUserClaims(token)
	if err != nil {
		t.Fatal(err)
	}
	if uc.Subject != pub || uc.IssuerAccount != s1.Account() || !uc.Permissions.Pub.Allow.Contains("$KV.viber_daemons.d1") {
		t.Fatalf("claims %+v", uc)
	}
	if _, _, err := s2.IssueDaemon("any", ""); err == nil {
		t.Fatal("daemon named any issued")
	}
	if _, _, err := s2.IssueDaemon("a.b", ""); err == nil {
		t.Fatal("daemon named a.b issued")
	}
	if !strings.Contains(s2.ServerConfig(), "resolver_preload") {
		t.Fatal(s2.ServerConfig())
	}
}

// env is an auth-on embedded server with the gateway's connection and
// Viber's streams.
type env struct {
	store *auth.Store
	srv   *server.Server
	gw    *nats.Conn
	js    jetstream.JetStream
	dir   string
}

func startEnv(t *testing.T) *env {
	t.Helper()
	return startEnvWith(t, server.Options{})
}

// startEnvWith is startEnv with more server options (the store, the
// directory and the listener are set here).
func startEnvWith(t *testing.T, o server.Options) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := auth.Init(filepath.Join(dir, "auth"))
	if err != nil {
		t.Fatal(err)
	}
	o.Dir, o.Listen, o.Auth = dir, "127.0.0.1:0", st
	srv, err := server.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	gw, err := srv.Connect("gateway")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	js, err := jetstream.New(gw)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.Setup(ctx, js, bus.SetupOptions{}); err != nil {
		t.Fatal(err)
	}
	return &env{store: st, srv: srv, gw: gw, js: js, dir: dir}
}

// violations collects the permission errors the server reports to a client.
type violations struct {
	mu   sync.Mutex
	errs []string
}

func (v *violations) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.errs = append(v.errs, err.Error())
}

// list returns the errors reported so far (none for a nil v).
func (v *violations) list() []string {
	if v == nil {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.errs...)
}

// wait waits for a violation naming subject.
func (v *violations) wait(t *testing.T, subject string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		v.mu.Lock()
		for _, e := range v.errs {
			if strings.Contains(e, "Permissions Violation") && strings.Contains(e, subject) {
				v.mu.Unlock()
				return
			}
		}
		v.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	t.Fatalf("no permissions violation for %s; got %q", subject, v.errs)
}

func (e *env) daemonConn(t *testing.T, name, inbox string) (*nats.Conn, *violations) {
	t.Helper()
	creds, _, err := e.store.IssueDaemon(name, inbox)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), name+".creds")
	if err := auth.WriteCreds(file, creds); err != nil {
		t.Fatal(err)
	}
	v := &violations{}
	opts := []nats.Option{nats.UserCredentials(file), nats.ErrorHandler(v.handler)}
	if inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(inbox))
	}
	nc, err := nats.Connect(e.srv.ClientURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, v
}

func TestDaemonCredentialAllowsItsWork(t *testing.T) {
	t.Parallel()
	for _, inbox := range []string{"", auth.DaemonInbox("d1")} {
		t.Run("inbox="+inbox, func(t *testing.T) {
			e := startEnv(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			nc, v := e.daemonConn(t, "d1", inbox)
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			doDaemonWork(t, ctx, e, nc, js, "d1", v)
			time.Sleep(100 * time.Millisecond)
			v.mu.Lock()
			defer v.mu.Unlock()
			if len(v.errs) != 0 {
				t.Fatalf("violations on allowed operations: %q", v.errs)
			}
		})
	}
}

// doDaemonWork does with js (and nc) what daemon name does: its own and the
// shared work consumer (fetch, in progress, ack), presence, reading,
// claiming, appending and replaying a task, a live delta. Any refusal
// fails the test; v (optional) holds the client's reported errors.
func doDaemonWork(t *testing.T, ctx context.Context, e *env, nc *nats.Conn, js jetstream.JetStream, name string, v *violations) {
	t.Helper()
	// What daemon.waitForWork does: the gateway makes the daemon's work
	// consumer (a daemon may not create consumers); the daemon finds it.
	if _, err := e.js.CreateOrUpdateConsumer(ctx, bus.WorkStream, bus.WorkConsumerConfig(name, bus.SetupOptions{})); err != nil {
		t.Fatal(err)
	}
	own, err := js.Consumer(ctx, bus.WorkStream, bus.DaemonWorkConsumer(name))
	if err != nil {
		t.Fatalf("own consumer: %v (%q)", err, v.list())
	}
	anyc, err := js.Consumer(ctx, bus.WorkStream, bus.AnyWorkConsumer)
	if err != nil {
		t.Fatalf("any consumer: %v", err)
	}
	// Presence: own key, read others.
	pres, err := bus.OpenPresence(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	if err := pres.Put(ctx, &bus.DaemonInfo{ID: name, Status: bus.DaemonOnline, LastSeen: time.Now()}); err != nil {
		t.Fatal(err)
	}
	gwPres, _ := bus.OpenPresence(ctx, e.js)
	if err := gwPres.Put(ctx, &bus.DaemonInfo{ID: "d2", Status: bus.DaemonOnline}); err != nil {
		t.Fatal(err)
	}
	if got, err := pres.Get(ctx, "d2"); err != nil || got.ID != "d2" {
		t.Fatalf("read d2: %v %v", got, err)
	}
	// A task created by the gateway, assigned to d1 and to any.
	gwLog := bus.NewLog(e.js)
	created, err := gwLog.AppendPayload(ctx, "t1", "vibergw/test", &bus.Created{Goal: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Assign(ctx, e.js, "t1", name, 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := bus.Assign(ctx, e.js, "t2", bus.AnyDaemon, 1, 0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []jetstream.Consumer{own, anyc} {
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			if err := m.InProgress(); err != nil {
				t.Fatal(err)
			}
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatalf("ack: %v", err)
			}
		}
		if n != 1 || batch.Error() != nil {
			t.Fatalf("fetched %d, %v (%q)", n, batch.Error(), v.list())
		}
	}
	// The task log: read, claim, append, replay.
	log := bus.NewLog(js)
	last, err := log.Last(ctx, "t1")
	if err != nil || last.ID != created.ID {
		t.Fatalf("last: %v %v", last, err)
	}
	claim, _ := bus.NewEvent("t1", "viberd/"+name, &bus.Assigned{Daemon: name, Attempt: 1})
	if _, err := log.AppendAfter(ctx, claim, last); err != nil {
		t.Fatal(err)
	}
	if _, err := log.AppendPayload(ctx, "t1", "viberd/"+name, &bus.Started{}); err != nil {
		t.Fatal(err)
	}
	evs, err := log.Events(ctx, "t1")
	if err != nil || len(evs) != 3 {
		t.Fatalf("replay: %d %v", len(evs), err)
	}
	if _, err := log.At(ctx, evs[0].StreamSeq); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(bus.LiveSubject("t1"), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// Memory: open, write, read back and watch (what the daemon's memory
	// cache and the memory tools do).
	mem, err := bus.OpenMemory(ctx, js)
	if err != nil {
		t.Fatalf("open memory: %v (%q)", err, v.list())
	}
	global := bus.MemoryScope{Kind: bus.MemoryGlobal}
	if _, err := mem.Put(ctx, global, "MEMORY.md", "from "+name, 0); err != nil {
		t.Fatalf("write memory: %v (%q)", err, v.list())
	}
	if f, err := mem.Get(ctx, global, "MEMORY.md", 0); err != nil || f.Content != "from "+name {
		t.Fatalf("read memory: %+v %v", f, err)
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	caught := make(chan struct{})
	go func() {
		_ = mem.Watch(wctx, func(f *bus.MemoryFile) {
			if f == nil {
				close(caught)
			}
		})
	}()
	select {
	case <-caught:
	case <-ctx.Done():
		t.Fatalf("watching memory never caught up (%q)", v.list())
	}
}

func TestDaemonCredentialRefusals(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	ctx := context.Background()
	if _, err := e.js.CreateOrUpdateConsumer(ctx, bus.WorkStream, bus.WorkConsumerConfig("other", bus.SetupOptions{})); err != nil {
		t.Fatal(err)
	}
	if err := bus.Assign(ctx, e.js, "secret", "other", 1, 0); err != nil {
		t.Fatal(err)
	}
	nc, v := e.daemonConn(t, "d1", auth.DaemonInbox("d1"))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 500*time.Millisecond) }

	t.Run("delete stream", func(t *testing.T) {
		c, cancel := short()
		defer cancel()
		if err := js.DeleteStream(c, bus.TaskStream); err == nil {
			t.Fatal("deleted VIBER_TASKS")
		}
		v.wait(t, "$JS.API.STREAM.DELETE.VIBER_TASKS")
	})
	t.Run("purge stream", func(t *testing.T) {
		if _, err := nc.Request("$JS.API.STREAM.PURGE.VIBER_WORK", nil, 300*time.Millisecond); err == nil {
			t.Fatal("purged VIBER_WORK")
		}
		v.wait(t, "$JS.API.STREAM.PURGE.VIBER_WORK")
	})
	t.Run("create stream", func(t *testing.T) {
		c, cancel := short()
		defer cancel()
		if _, err := js.CreateStream(c, jetstream.StreamConfig{Name: "EVIL", Subjects: []string{"evil.>"}}); err == nil {
			t.Fatal("created a stream")
		}
		v.wait(t, "$JS.API.STREAM.CREATE.EVIL")
	})
	t.Run("other daemon's work", func(t *testing.T) {
		c, cancel := short()
		defer cancel()
		if _, err := js.Consumer(c, bus.WorkStream, bus.DaemonWorkConsumer("other")); err == nil {
			t.Fatal("read daemon-other's info")
		}
		if _, err := nc.Request("$JS.API.CONSUMER.MSG.NEXT.VIBER_WORK.daemon-other", []byte(`{"batch":1,"expires":200000000}`), 500*time.Millisecond); err == nil {
			t.Fatal("pulled from daemon-other")
		}
		v.wait(t, "$JS.API.CONSUMER.MSG.NEXT.VIBER_WORK.daemon-other")
		c2, cancel2 := short()
		defer cancel2()
		if _, err := js.CreateOrUpdateConsumer(c2, bus.WorkStream, bus.WorkConsumerConfig("other", bus.SetupOptions{})); err == nil {
			t.Fatal("changed daemon-other")
		}
		info, err := e.js.Consumer(ctx, bus.WorkStream, bus.DaemonWorkConsumer("other"))
		if err != nil {
			t.Fatal(err)
		}
		if ci := info.CachedInfo(); ci.NumPending != 1 || ci.NumAckPending != 0 {
			t.Fatalf("daemon-other's work was touched: %+v", ci)
		}
		// Nor can it snoop on replies to others.
		if _, err := nc.SubscribeSync("_INBOX.>"); err != nil {
			t.Fatal(err)
		}
		v.wait(t, `"_INBOX.>"`)
	})
	t.Run("create the shared consumer", func(t *testing.T) {
		c, cancel := short()
		defer cancel()
		if _, err := js.CreateOrUpdateConsumer(c, bus.WorkStream, bus.WorkConsumerConfig(bus.AnyDaemon, bus.SetupOptions{})); err == nil {
			t.Fatal("created or updated the any consumer")
		}
		v.wait(t, "$JS.API.CONSUMER.CREATE.VIBER_WORK.any")
	})
	t.Run("gateway API", func(t *testing.T) {
		// Creating tasks is allowed (the spawn tool's child tasks); the
		// rest of the API is not.
		_, err := nc.Request(bus.APISubject("task", "cancel"), []byte(`{"id":"x"}`), 300*time.Millisecond)
		if err == nil {
			t.Fatal("called viber.api.task.cancel")
		}
		v.wait(t, "viber.api.task.cancel")
	})
	t.Run("queue work", func(t *testing.T) {
		_ = nc.Publish(bus.WorkSubject("d1", "forged"), []byte(`{}`))
		v.wait(t, "viber.work.d1.forged")
	})
	t.Run("others' presence", func(t *testing.T) {
		_ = nc.Publish("$KV.viber_daemons.other", []byte(`{}`))
		v.wait(t, "$KV.viber_daemons.other")
	})
	t.Run("projector", func(t *testing.T) {
		_, _ = nc.Request("$JS.API.CONSUMER.DELETE.VIBER_TASKS.projector", nil, 300*time.Millisecond)
		v.wait(t, "$JS.API.CONSUMER.DELETE.VIBER_TASKS.projector")
	})
}

func TestConnectWithoutOrWithBadCredsRefused(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	if nc, err := nats.Connect(e.srv.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("connected without credentials")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		t.Fatalf("want an authorization violation, got %v", err)
	}
	missing := filepath.Join(t.TempDir(), "nope.creds")
	if _, err := bus.Connect(bus.ConnectOptions{URL: e.srv.ClientURL(), CredsFile: missing}); err == nil || !strings.Contains(err.Error(), "nope.creds") {
		t.Fatalf("missing creds: %v", err)
	}
	garbage := filepath.Join(t.TempDir(), "bad.creds")
	if err := os.WriteFile(garbage, []byte("not a creds file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Connect(bus.ConnectOptions{URL: e.srv.ClientURL(), CredsFile: garbage}); err == nil {
		t.Fatal("connected with a garbage creds file")
	}
	// A credential of another operator is refused.
	other, err := auth.Init(filepath.Join(t.TempDir(), "auth"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Connect(bus.ConnectOptions{URL: e.srv.ClientURL(), CredsFile: other.GatewayCredsPath()}); err == nil {
		t.Fatal("connected with a foreign credential")
	}
}

func TestRevokedCredentialRefusedAfterRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := auth.Init(filepath.Join(dir, "auth"))
	if err != nil {
		t.Fatal(err)
	}
	creds, _, err := st.IssueDaemon("d1", "")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "d1.creds")
	if err := auth.WriteCreds(file, creds); err != nil {
		t.Fatal(err)
	}
	connect := func(st *auth.Store) error {
		srv, err := server.Start(server.Options{Dir: dir, Listen: "127.0.0.1:0", Auth: st})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Shutdown()
		nc, err := nats.Connect(srv.ClientURL(), nats.UserCredentials(file))
		if err == nil {
			nc.Close()
		}
		return err
	}
	if err := connect(st); err != nil {
		t.Fatalf("before revoke: %v", err)
	}
	if n, err := st.Revoke(auth.KindDaemon, "d1"); err != nil || n != 1 {
		t.Fatalf("revoke: %d %v", n, err)
	}
	st2, err := auth.Open(filepath.Join(dir, "auth"))
	if err != nil {
		t.Fatal(err)
	}
	if err := connect(st2); err == nil {
		t.Fatal("revoked credential connected")
	}
}

// The config fragment lets a stand-alone nats-server trust the store.
func TestServerConfigForExternalServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := auth.Init(filepath.Join(dir, "auth"))
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "nats.conf")
	body := "listen: 127.0.0.1:-1\njetstream { store_dir: " + strconvQuote(filepath.Join(dir, "js")) + " }\ninclude ./auth/" + auth.ServerConfigFile + "\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := natsserver.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	opts.NoSigs, opts.NoLog = true, true
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	gw, err := bus.Connect(bus.ConnectOptions{URL: ns.ClientURL(), CredsFile: st.GatewayCredsPath()})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	js, _ := jetstream.New(gw)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.Setup(ctx, js, bus.SetupOptions{}); err != nil {
		t.Fatalf("setup on the external server: %v", err)
	}
	if nc, err := nats.Connect(ns.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("anonymous client accepted")
	}
}

func strconvQuote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

func TestRotateSigningKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := auth.Init(filepath.Join(dir, "auth"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string) string {
		creds, _, err := st.IssueDaemon(name, "")
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), name+".creds")
		if err := auth.WriteCreds(file, creds); err != nil {
			t.Fatal(err)
		}
		return file
	}
	old := write("d1")
	if _, err := st.RotateSigningKey(); err != nil {
		t.Fatal(err)
	}
	fresh := write("d1")
	st2, err := auth.Open(filepath.Join(dir, "auth"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.Start(server.Options{Dir: dir, Listen: "127.0.0.1:0", Auth: st2})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	if nc, err := nats.Connect(srv.ClientURL(), nats.UserCredentials(old)); err == nil {
		nc.Close()
		t.Fatal("credential signed by the old key connected")
	}
	nc, err := nats.Connect(srv.ClientURL(), nats.UserCredentials(fresh))
	if err != nil {
		t.Fatalf("fresh credential: %v", err)
	}
	nc.Close()
	gw, err := srv.Connect("gateway")
	if err != nil {
		t.Fatalf("gateway after rotation: %v", err)
	}
	gw.Close()
	list, _ := st2.Issued()
	if len(list) != 2 || !list[0].Revoked || list[1].Revoked {
		t.Fatalf("issued after rotation: %+v", list)
	}
}

// A daemon credential creates no consumer on the task log: a push consumer
// would deliver the log to any subject (the create request's subject says
// nothing of the deliver subject, and nats-server checks none), so replays
// and tails read with direct gets instead.
func TestDaemonCredentialCreatesNoPushConsumer(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	push := jetstream.ConsumerConfig{Name: "evil", DeliverSubject: bus.APISubject("task", "create"), FilterSubject: bus.TaskFilter("t1"), AckPolicy: jetstream.AckNonePolicy}
	// The premise: a create subject that names stream, consumer and filter
	// is accepted with a deliver subject in its body.
	if _, err := e.js.CreateOrUpdateConsumer(ctx, bus.TaskStream, push); err != nil {
		t.Fatalf("the gateway's push consumer: %v", err)
	}
	if err := e.js.DeleteConsumer(ctx, bus.TaskStream, "evil"); err != nil {
		t.Fatal(err)
	}
	nc, v := e.daemonConn(t, "d1", auth.DaemonInbox("d1"))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c, cancelc := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancelc()
	if _, err := js.CreateOrUpdateConsumer(c, bus.TaskStream, push); err == nil {
		t.Fatal("a daemon created a push consumer on VIBER_TASKS delivering to viber.api.task.create")
	}
	v.wait(t, "$JS.API.CONSUMER.CREATE.VIBER_TASKS.evil")
	for _, subj := range []string{
		"$JS.API.CONSUMER.CREATE.VIBER_TASKS",              // legacy ephemeral
		"$JS.API.CONSUMER.CREATE.VIBER_TASKS.evil",         // named, no filter
		"$JS.API.CONSUMER.DURABLE.CREATE.VIBER_TASKS.evil", // legacy durable
	} {
		_, _ = nc.Request(subj, []byte(`{"stream_name":"VIBER_TASKS","config":{"deliver_subject":"viber.api.task.create"}}`), 300*time.Millisecond)
		v.wait(t, `"`+subj+`"`)
	}
	c2, cancel2 := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel2()
	if _, err := js.OrderedConsumer(c2, bus.TaskStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{bus.TaskFilter("t1")}}); err == nil {
		t.Fatal("a daemon created an ordered consumer on VIBER_TASKS")
	}
	s, err := e.js.Stream(ctx, bus.TaskStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Consumers; n != 0 {
		t.Fatalf("VIBER_TASKS has %d consumers after the refusals", n)
	}
	// Nor on the work stream: not even its own work consumer (the gateway
	// makes that one), which it could make a push consumer.
	own := bus.WorkConsumerConfig("d1", bus.SetupOptions{})
	own.DeliverSubject = bus.APISubject("task", "create")
	c3, cancel3 := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel3()
	if _, err := js.CreateOrUpdateConsumer(c3, bus.WorkStream, own); err == nil {
		t.Fatal("a daemon created its work consumer as a push consumer delivering to viber.api.task.create")
	}
	v.wait(t, "$JS.API.CONSUMER.CREATE.VIBER_WORK.daemon-d1")
}
