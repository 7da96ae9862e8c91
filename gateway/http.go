package gateway

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
)

func (g *Gateway) startHTTP() error {
	ln, err := net.Listen("tcp", g.cfg.HTTPListen)
	if err != nil {
		return fmt.Errorf("HTTP listen on %s: %w (pick another --http-listen)", g.cfg.HTTPListen, err)
	}
	g.httpAddr = ln.Addr()
	g.httpSrv = &http.Server{Handler: g.routes(), ReadHeaderTimeout: 10 * time.Second}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := g.httpSrv.Serve(ln); err != nil && err != http.ErrServerClosed {
			g.log.Error().Err(err).Msg("HTTP server stopped")
		}
	}()
	return nil
}

func (g *Gateway) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", g.healthz)
	return mux
}

// Health is the body of /healthz.
type Health struct {
	Status    string `json:"status"`
	NATS      string `json:"nats"`
	JetStream bool   `json:"jetstream"`
	Gateway   string `json:"gateway"`
	Version   string `json:"version"`
}

func (g *Gateway) healthz(w http.ResponseWriter, r *http.Request) {
	h := Health{Status: "ok", NATS: g.cfg.NC.Status().String(), Gateway: g.cfg.ID, Version: g.cfg.Version}
	code := http.StatusOK
	if g.cfg.NC.Status() != nats.CONNECTED {
		h.Status, code = "degraded", http.StatusServiceUnavailable
	} else if _, err := g.js.AccountInfo(r.Context()); err != nil {
		h.Status, code = "degraded", http.StatusServiceUnavailable
	} else {
		h.JetStream = true
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(h)
}
