package bustest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/server"
)

// Cluster is a test's NATS cluster: embedded servers routed to each other
// on loopback, each with its own JetStream store. Nothing is set up in it:
// the first gateway (or [bus.Setup]) creates the streams with the replica
// count it is given.
type Cluster struct {
	// Servers are the nodes, named n0, n1, ...; a killed one stays in the
	// slice, shut down.
	Servers []*server.Server
	// URLs are the nodes' client URLs, joined with commas: what clients
	// are given so that they fail over to the surviving nodes.
	URLs string

	mu     sync.Mutex
	killed map[string]bool
}

// StartCluster starts n clustered servers (named n0 ... n<n-1>) and stops
// them when the test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	ports := make([]int, n)
	routes := make([]string, n)
	for i := range n {
		ports[i] = freePort(t)
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[i])
	}
	c := &Cluster{Servers: make([]*server.Server, n), killed: map[string]bool{}}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c.Servers[i], errs[i] = server.Start(server.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0", Name: fmt.Sprintf("n%d", i),
				ClusterName: "viber-test", ClusterListen: fmt.Sprintf("127.0.0.1:%d", ports[i]), Routes: routes})
		})
	}
	wg.Wait()
	urls := make([]string, 0, n)
	for i, srv := range c.Servers {
		if errs[i] != nil {
			t.Fatalf("start NATS node n%d: %v", i, errs[i])
		}
		t.Cleanup(srv.Shutdown)
		urls = append(urls, srv.ClientURL())
	}
	c.URLs = strings.Join(urls, ",")
	return c
}

// freePort returns a loopback port nobody listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Connect opens a client connection that knows every node (and fails over
// between them), closed at test end.
func (c *Cluster) Connect(t testing.TB, name string) *nats.Conn {
	t.Helper()
	nc, err := bus.Connect(bus.ConnectOptions{URL: c.URLs, Name: name})
	if err != nil {
		t.Fatalf("connect to the cluster: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Kill shuts node name down at once, as a crash would for its clients: their
// connections drop and what it held (leaderships, pulls, requests in flight)
// is lost.
func (c *Cluster) Kill(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, srv := range c.Servers {
		if srv.NATS().Name() == name && !c.killed[name] {
			c.killed[name] = true
			srv.Shutdown()
		}
	}
}

// Alive reports whether node name runs.
func (c *Cluster) Alive(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.killed[name]
}
