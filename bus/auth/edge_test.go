package auth_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/auth"
	"github.com/viberhq/viber/bus/server"
)

// edgeEnv is an auth-on hub (JetStream domain "hub", a leaf listener) and
// an edge server linked to it with the edge credential of daemon name.
type edgeEnv struct {
	*env
	edge     *server.Server
	leafAddr string
	creds    string
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startEdgeEnv(t *testing.T, name string) *edgeEnv {
	t.Helper()
	leafAddr := freeAddr(t)
	e := &edgeEnv{env: startEnvWith(t, server.Options{Name: "hub", Domain: "hub", LeafListen: leafAddr}), leafAddr: leafAddr}
	creds, _, err := e.store.IssueEdge(name, "hub")
	if err != nil {
		t.Fatal(err)
	}
	e.creds = filepath.Join(t.TempDir(), name+".creds")
	if err := auth.WriteCreds(e.creds, creds); err != nil {
		t.Fatal(err)
	}
	e.edge, err = server.Start(server.Options{Dir: t.TempDir(), Listen: "none", Name: "edge-" + name, Domain: "edge-" + name,
		LeafRemote: "nats-leaf://" + leafAddr, LeafCreds: e.creds})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.edge.Shutdown)
	waitUntil(t, 10*time.Second, "the leaf link is up", e.edge.LeafConnected)
	return e
}

// edgeConn connects to the edge server the way viberd --leaf does (its
// private inbox) and returns the connection and its JetStream API on the
// hub.
func (e *edgeEnv) edgeConn(t *testing.T, name string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := e.edge.ConnectInbox("viberd-"+name, auth.DaemonInbox(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.NewWithDomain(nc, "hub")
	if err != nil {
		t.Fatal(err)
	}
	// Interest crosses the link asynchronously: wait until the hub's
	// JetStream answers.
	waitUntil(t, 10*time.Second, "the hub's JetStream answers across the link", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := js.Stream(ctx, bus.TaskStream)
		return err == nil
	})
	return nc, js
}

func waitUntil(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An edge daemon does all its work across the leaf link with the edge
// credential: the hub's JetStream under the domain prefix.
func TestEdgeCredentialAllowsItsWork(t *testing.T) {
	t.Parallel()
	e := startEdgeEnv(t, "e1")
	nc, js := e.edgeConn(t, "e1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	doDaemonWork(t, ctx, e.env, nc, js, "e1", nil)
	// The live delta crossed the link (the hub's gateway subscribes).
	if !e.edge.LeafConnected() {
		t.Fatal("the leaf link dropped during allowed work")
	}
}

// The edge credential refuses what a daemon must not do, on the hub side:
// the edge server does not even forward it, and the link stays up.
func TestEdgeCredentialRefusals(t *testing.T) {
	t.Parallel()
	e := startEdgeEnv(t, "e1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	gwLog := bus.NewLog(e.js)
	if _, err := gwLog.AppendPayload(ctx, "t1", "vibergw/test", &bus.Created{Goal: "hi"}); err != nil {
		t.Fatal(err)
	}
	nc, js := e.edgeConn(t, "e1")
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, time.Second) }

	// Another daemon's or the gateway's task events: never stored.
	for _, writer := range []string{bus.DaemonWriter("other"), bus.GatewayWriter} {
		c, cancel := short()
		_, err := js.Publish(c, bus.TaskEventSubject("t1", writer, bus.TypeCompleted), []byte(`{"forged":true}`))
		cancel()
		if err == nil {
			t.Errorf("the hub stored an event written as %s", writer)
		}
	}
	// Its own: stored (the link works and the refusals above were the
	// permissions).
	c, cancelOwn := short()
	if _, err := js.Publish(c, bus.TaskEventSubject("t1", bus.DaemonWriter("e1"), bus.TypeStarted), []byte(`{}`)); err != nil {
		t.Fatalf("own writer token refused: %v", err)
	}
	cancelOwn()
	// The stream API.
	c, cancelDel := short()
	if err := js.DeleteStream(c, bus.TaskStream); err == nil {
		t.Error("deleted VIBER_TASKS across the link")
	}
	cancelDel()
	c, cancelPurge := short()
	if err := js.DeleteStream(c, bus.WorkStream); err == nil {
		t.Error("deleted VIBER_WORK across the link")
	}
	cancelPurge()
	c, cancelCreate := short()
	if _, err := js.CreateStream(c, jetstream.StreamConfig{Name: "EVIL", Subjects: []string{"evil.>"}}); err == nil {
		t.Error("created a stream across the link")
	}
	cancelCreate()
	// A push consumer on the task log (any consumer there).
	c, cancelPush := short()
	if _, err := js.CreateOrUpdateConsumer(c, bus.TaskStream, jetstream.ConsumerConfig{Name: "evil", DeliverSubject: bus.APISubject("task", "create")}); err == nil {
		t.Error("created a push consumer on VIBER_TASKS across the link")
	}
	cancelPush()
	// Another daemon's consumer, the gateway's API, forged work.
	if _, err := nc.Request(auth.DomainAPI("hub")+"CONSUMER.MSG.NEXT.VIBER_WORK.daemon-other", []byte(`{"batch":1}`), 500*time.Millisecond); err == nil {
		t.Error("pulled from daemon-other")
	}
	if _, err := nc.Request(bus.APISubject("task", "create"), []byte(`{"goal":"x"}`), 500*time.Millisecond); err == nil {
		t.Error("called the gateway API across the link")
	}
	// The API without the domain is the edge server's own JetStream.
	if m, err := nc.Request("$JS.API.STREAM.DELETE.VIBER_TASKS", nil, 500*time.Millisecond); err == nil && !strings.Contains(string(m.Data), "stream not found") {
		t.Errorf("$JS.API.STREAM.DELETE.VIBER_TASKS from the edge: %s", m.Data)
	}

	// Nothing was harmed, and the link stayed up.
	if !e.edge.LeafConnected() {
		t.Error("the leaf link dropped")
	}
	for _, s := range []string{bus.TaskStream, bus.WorkStream} {
		if _, err := e.js.Stream(ctx, s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := e.js.Stream(ctx, "EVIL"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("stream EVIL: %v", err)
	}
	st, err := e.js.Stream(ctx, bus.TaskStream)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= st.CachedInfo().State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		if strings.Contains(string(m.Data), "forged") {
			t.Errorf("forged event stored on %s", m.Subject)
		}
	}
	if n := st.CachedInfo().State.Msgs; n != 2 {
		t.Errorf("VIBER_TASKS holds %d messages, want the gateway's created and the edge's own started", n)
	}
}

// The edge credential is for leaf links only: a client connection with it
// is refused.
func TestEdgeCredentialOnlyForLeafLinks(t *testing.T) {
	t.Parallel()
	e := startEdgeEnv(t, "e1")
	nc, err := nats.Connect(e.srv.ClientURL(), nats.UserCredentials(e.creds))
	if err == nil {
		nc.Close()
		t.Fatal("a client connected with an edge credential")
	}
	if !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		t.Fatalf("want an authorization violation, got %v", err)
	}
}

// hostileLeaf is a leaf-node link spoken by hand, as a modified edge
// server could: it forwards whatever it likes, ignoring the permissions the
// hub sends it. The hub must refuse on its own.
type hostileLeaf struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialHostileLeaf(t *testing.T, addr, credsFile string) *hostileLeaf {
	t.Helper()
	b, err := os.ReadFile(credsFile)
	if err != nil {
		t.Fatal(err)
	}
	token, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := jwt.ParseDecoratedUserNKey(b)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	h := &hostileLeaf{conn: conn, r: bufio.NewReader(conn)}
	line := h.line(t)
	var info struct {
		Nonce string `json:"nonce"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "INFO ")), &info); err != nil || info.Nonce == "" {
		t.Fatalf("hub INFO %q: %v", line, err)
	}
	sig, err := kp.Sign([]byte(info.Nonce))
	if err != nil {
		t.Fatal(err)
	}
	connect, _ := json.Marshal(map[string]any{"jwt": token, "sig": base64.RawURLEncoding.EncodeToString(sig), "name": "hostile", "headers": true})
	h.send(t, "CONNECT "+string(connect)+"\r\nPING\r\n")
	for {
		l := h.line(t)
		if l == "PONG" {
			return h
		}
		if strings.HasPrefix(l, "-ERR") {
			t.Fatalf("hub refused the link: %s", l)
		}
	}
}

func (h *hostileLeaf) send(t *testing.T, s string) {
	t.Helper()
	if _, err := h.conn.Write([]byte(s)); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

func (h *hostileLeaf) line(t *testing.T) string {
	t.Helper()
	l, err := h.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read from the hub: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

// publish forwards a message into the hub and returns the hub's -ERR, or ""
// when the hub took it (it answers the PING that follows).
func (h *hostileLeaf) publish(t *testing.T, subject, payload string) string {
	t.Helper()
	h.send(t, "LMSG "+subject+" "+strconv.Itoa(len(payload))+"\r\n"+payload+"\r\nPING\r\n")
	for {
		l, err := h.r.ReadString('\n')
		if err != nil {
			return "connection closed: " + err.Error()
		}
		l = strings.TrimRight(l, "\r\n")
		switch {
		case l == "PONG":
			return ""
		case strings.HasPrefix(l, "-ERR"):
			return l
		}
	}
}

// The hub itself enforces the edge credential: a hostile edge that forwards
// what its permissions refuse is cut off, and nothing reaches the log.
func TestEdgeCredentialEnforcedByTheHub(t *testing.T) {
	t.Parallel()
	e := startEdgeEnv(t, "e1")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := bus.NewLog(e.js).AppendPayload(ctx, "t1", "vibergw/test", &bus.Created{Goal: "hi"}); err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{
		bus.TaskEventSubject("t1", bus.DaemonWriter("other"), bus.TypeCompleted),
		bus.TaskEventSubject("t1", bus.GatewayWriter, bus.TypeCompleted),
		auth.DomainAPI("hub") + "STREAM.DELETE." + bus.TaskStream,
		auth.DomainAPI("hub") + "CONSUMER.CREATE." + bus.TaskStream + ".evil",
		"$JS.API.STREAM.DELETE." + bus.TaskStream,
		// Creating tasks is allowed (a spawn call's child); cancelling is not.
		bus.APISubject("task", "cancel"),
		bus.WorkSubject("e1", "forged"),
	} {
		h := dialHostileLeaf(t, e.leafAddr, e.creds)
		got := h.publish(t, subj, `{"forged":true}`)
		// The hub names a domain-prefixed API subject as it maps it.
		mapped := strings.Replace(subj, auth.DomainAPI("hub"), "$JS.API.", 1)
		if !strings.Contains(got, "Permissions Violation") || !strings.Contains(got, mapped) {
			t.Errorf("forwarding %s: the hub answered %q, want a permissions violation", subj, got)
		}
	}
	// Allowed subjects pass the same way (the harness is not what refuses).
	h := dialHostileLeaf(t, e.leafAddr, e.creds)
	if got := h.publish(t, bus.LiveSubject("t1"), `{}`); got != "" {
		t.Errorf("a live delta was refused: %s", got)
	}
	st, err := e.js.Stream(ctx, bus.TaskStream)
	if err != nil {
		t.Fatalf("VIBER_TASKS: %v", err)
	}
	if n := st.CachedInfo().State.Msgs; n != 1 {
		t.Errorf("VIBER_TASKS holds %d messages, want only the gateway's created", n)
	}
}

// viberd checks the kind and the name of an issued credential before it
// connects, so a mix-up says what to do instead of ending in no responders.
func TestCheckIssued(t *testing.T) {
	t.Parallel()
	st, err := auth.Init(filepath.Join(t.TempDir(), "auth"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, issue func() ([]byte, string, error)) string {
		t.Helper()
		creds, _, err := issue()
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, name)
		if err := auth.WriteCreds(f, creds); err != nil {
			t.Fatal(err)
		}
		return f
	}
	edge := write("edge.creds", func() ([]byte, string, error) { return st.IssueEdge("pi", "hub") })
	daemon := write("daemon.creds", func() ([]byte, string, error) { return st.IssueDaemon("pi", "") })
	user := write("user.creds", func() ([]byte, string, error) { return st.IssueUser("alice") })
	for _, c := range []struct {
		file string
		kind auth.Kind
		name string
		ok   bool
	}{
		{edge, auth.KindEdge, "pi", true},
		{edge, auth.KindEdge, "other", false},
		{edge, auth.KindDaemon, "pi", false},
		{daemon, auth.KindDaemon, "pi", true},
		{daemon, auth.KindDaemon, "other", false},
		{daemon, auth.KindEdge, "pi", false},
		{user, auth.KindDaemon, "pi", false},
		{st.GatewayCredsPath(), auth.KindEdge, "pi", true},
		{filepath.Join(dir, "missing.creds"), auth.KindDaemon, "pi", true}, // the connection reports it
	} {
		err := auth.CheckIssued(c.file, c.kind, c.name)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, auth.ErrWrongCredential)) {
			t.Errorf("%s as %s %s: %v, want ok=%v", filepath.Base(c.file), c.kind, c.name, err, c.ok)
		}
	}
}
