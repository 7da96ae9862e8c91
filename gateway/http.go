package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/nats-io/nats.go"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/mcpserver"
)

func (g *Gateway) startHTTP() error {
	// Config.Validate refused a listener beyond loopback without a token.
	token := g.HTTPToken()
	ln, err := net.Listen("tcp", g.cfg.HTTPListen)
	if err != nil {
		return fmt.Errorf("HTTP listen on %s: %w (pick another --http-listen)", g.cfg.HTTPListen, err)
	}
	g.httpAddr = ln.Addr()
	// Event streams never end by themselves: end them when shutdown
	// begins, so Stop does not wait for browsers to go away.
	base, cancel := context.WithCancel(context.Background())
	g.httpSrv = &http.Server{
		Handler:           g.routes(token),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	g.httpSrv.RegisterOnShutdown(cancel)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := g.httpSrv.Serve(ln); err != nil && err != http.ErrServerClosed {
			g.log.Error().Err(err).Msg("HTTP server stopped")
		}
	}()
	return nil
}

// routes is the whole HTTP surface: /healthz (open, for probes),
// /metrics (Prometheus), the JSON and SSE API under /api/, the MCP
// endpoint at /mcp and the dashboard at / (the API, /mcp and /metrics
// behind the token when one is set).
func (g *Gateway) routes(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(bus.RouteHealth, g.healthz)
	mux.Handle(bus.RouteMetrics, g.metricsHandler())
	api := g.apiRoutes()
	mux.Handle(bus.APIPath, api)
	if h, err := g.mcpHandler(); err != nil {
		g.log.Error().Err(err).Msg("the MCP endpoint /mcp is off")
	} else {
		mux.Handle("/mcp", h)
	}
	mux.Handle("/", g.webHandler())
	return securityHeaders(RequireToken(token, mux))
}

// mcpHandler serves Viber's MCP server (see package mcpserver) over
// streamable HTTP. It reaches the control API through NATS like any
// client, so it behaves exactly as `viber mcp serve`.
func (g *Gateway) mcpHandler() (http.Handler, error) {
	cl, err := client.New(g.cfg.NC)
	if err != nil {
		return nil, err
	}
	srv, err := mcpserver.New(mcpserver.Options{Client: cl, Version: g.cfg.Version})
	if err != nil {
		return nil, err
	}
	return sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, nil), nil
}

func (g *Gateway) healthz(w http.ResponseWriter, r *http.Request) {
	h := bus.Health{Status: "ok", NATS: g.cfg.NC.Status().String(), Gateway: g.cfg.ID, Version: g.cfg.Version}
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
