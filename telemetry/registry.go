package telemetry

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/viberhq/viber/bus"
)

// namespace prefixes every metric name.
const namespace = "viber"

// NewRegistry returns a registry with the Go runtime and process
// collectors: one per process (never the global default registry, so
// in-process stacks and tests do not collide).
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg in the Prometheus text exposition format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, Registry: reg})
}

// WatchNATS registers viber_nats_reconnects_total and viber_nats_connected
// for a connection, labelled conn=name (so a process with several
// connections, like `viber up`, shows each).
func WatchNATS(reg prometheus.Registerer, name string, nc *nats.Conn) error {
	labels := prometheus.Labels{"conn": name}
	reconnects := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: namespace, Name: "nats_reconnects_total", ConstLabels: labels,
		Help: "Times the NATS connection reconnected.",
	}, func() float64 { return float64(nc.Stats().Reconnects) })
	connected := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "nats_connected", ConstLabels: labels,
		Help: "1 while the NATS connection is connected, else 0.",
	}, func() float64 {
		if nc.IsConnected() {
			return 1
		}
		return 0
	})
	for _, c := range []prometheus.Collector{reconnects, connected} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("metrics for NATS connection %s: %w", name, err)
		}
	}
	return nil
}

// MetricsTokenEnv is the variable viberd reads --metrics-token from.
const MetricsTokenEnv = "VIBER_METRICS_TOKEN"

// Server serves /metrics on its own listener (viberd --metrics-listen).
type Server struct {
	srv  *http.Server
	addr net.Addr
}

// Serve starts serving reg's metrics at [bus.MetricsPath] on addr. A
// listener beyond loopback needs a token, which requests then carry as
// "Authorization: Bearer <token>" (Prometheus: authorization.credentials).
func Serve(addr, token string, reg *prometheus.Registry) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen %q: %w", addr, err)
	}
	if token == "" && !loopback(host) {
		return nil, fmt.Errorf("--metrics-listen %s is reachable beyond this machine: set --metrics-token (or %s)", addr, MetricsTokenEnv)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen on %s: %w (pick another --metrics-listen)", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(bus.RouteMetrics, RequireBearer(token, Handler(reg)))
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, addr: ln.Addr()}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.addr.String() }

// Close stops the server.
func (s *Server) Close(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// RequireBearer answers 401 to requests without "Authorization: Bearer
// <token>"; an empty token lets every request through.
func RequireBearer(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get(bus.HeaderAuthorization), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="viber"`)
			http.Error(w, "a token is required: send Authorization: Bearer <token> (viberd's "+MetricsTokenEnv+")", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
