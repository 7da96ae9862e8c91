package command

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go"
	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/auth"
	"github.com/viberhq/viber/bus/server"
	"github.com/viberhq/viber/gateway"
)

// Gateway is the vibergw command.
func Gateway() *cli.App {
	return &cli.App{
		Name:    "vibergw",
		Usage:   "Viber's control plane: task API, dispatcher, projector and HTTP",
		Version: Version,
		Description: `vibergw runs the gateway. By default it embeds a NATS server with
JetStream, storing everything under --data, and listens for NATS clients on
--nats-listen. With --nats-url it joins an existing NATS server instead.

Daemons (viberd) and the viber CLI connect to the same NATS server.

With --auth (or once <data>/auth exists) the embedded server runs with NATS
decentralized auth: every client needs a credential issued by
'vibergw creds' (see docs/auth.md).`,
		Commands: []*cli.Command{credsCommand()},
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "data", Usage: "directory of the embedded NATS server's JetStream store", EnvVars: []string{"VIBER_DATA"}, Value: filepath.Join(viberHome(), "gateway")},
			&cli.StringFlag{Name: "nats-listen", Usage: "embedded NATS client listener HOST:PORT", EnvVars: []string{"VIBER_NATS_LISTEN"}, Value: "127.0.0.1:4222"},
			&cli.StringFlag{Name: "nats-url", Usage: "use this external NATS server instead of the embedded one", EnvVars: []string{"VIBER_NATS_URL"}},
			&cli.StringFlag{Name: "leaf-listen", Usage: "accept edge daemons' leaf-node links on HOST:PORT (embedded server)", EnvVars: []string{"VIBER_LEAF_LISTEN"}},
			&cli.StringFlag{Name: "js-domain", Usage: "JetStream domain of the embedded server; edge daemons reach it by this name", EnvVars: []string{"VIBER_JS_DOMAIN"}, Value: "hub"},
			&cli.StringFlag{Name: "creds", Usage: "NATS credentials file for --nats-url", EnvVars: []string{"VIBER_NATS_CREDS"}},
			&cli.StringFlag{Name: "http-listen", Usage: "HTTP listener HOST:PORT for the dashboard, the HTTP API and /healthz; 'none' to disable", EnvVars: []string{"VIBER_HTTP_LISTEN"}, Value: gateway.DefaultHTTPListen},
			&cli.StringFlag{Name: "http-token", Usage: "token HTTP clients must send (Authorization: Bearer TOKEN); required when --http-listen is not loopback", EnvVars: []string{"VIBER_HTTP_TOKEN"}},
			&cli.StringFlag{Name: "id", Usage: "gateway id used in event sources (default: host name)", EnvVars: []string{"VIBER_GATEWAY_ID"}},
			&cli.DurationFlag{Name: "work-ack-wait", Usage: "how long a silent daemon keeps a task before another daemon resumes it", EnvVars: []string{"VIBER_WORK_ACK_WAIT"}, Value: bus.DefaultWorkAckWait},
			&cli.BoolFlag{Name: "auth", Usage: "require NATS credentials on the embedded server (keys under <data>/auth; on by itself once that exists)", EnvVars: []string{"VIBER_AUTH"}},
		}, logFlags()...),
		Action: runGateway,
	}
}

func runGateway(c *cli.Context) error {
	log, err := newLogger(c, os.Stderr)
	if err != nil {
		return userError(err)
	}
	if err := checkHTTPToken(c.String("http-token")); err != nil {
		return userError(err)
	}
	ctx, stop := signalContext(c.Context)
	defer stop()
	var nc *nats.Conn
	if url := c.String("nats-url"); url != "" {
		if c.Bool("auth") {
			return userError(fmt.Errorf("--auth configures the embedded server; with --nats-url, make the server trust %s (see `vibergw creds server-config`) and pass --creds %s",
				authDir(c.String("data")), filepath.Join(authDir(c.String("data")), auth.GatewayCredsFile)))
		}
		if nc, err = connect(c, "vibergw", &log); err != nil {
			return userError(err)
		}
		log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("connected to NATS")
	} else {
		opts := server.Options{Dir: c.String("data"), Listen: c.String("nats-listen"), Logger: server.Zerolog(log),
			Domain: c.String("js-domain"), LeafListen: c.String("leaf-listen")}
		if dir := authDir(c.String("data")); c.Bool("auth") || auth.Exists(dir) {
			if opts.Auth, err = auth.Init(dir); err != nil {
				return userError(fmt.Errorf("auth: %w", err))
			}
			log.Info().Str("dir", dir).Str("account", opts.Auth.Account()).Msg("NATS auth on: clients need credentials from `vibergw creds`")
		}
		srv, err := server.Start(opts)
		if err != nil {
			return userError(err)
		}
		defer srv.Shutdown()
		if nc, err = srv.Connect("vibergw"); err != nil {
			return userError(err)
		}
		log.Info().Str("url", srv.ClientURL()).Str("data", srv.Dir()).Msg("embedded NATS with JetStream started")
	}
	defer nc.Close()
	g, err := gateway.New(ctx, gateway.Config{
		NC: nc, ID: c.String("id"), Version: Version, HTTPListen: c.String("http-listen"), HTTPToken: c.String("http-token"),
		Setup: bus.SetupOptions{WorkAckWait: c.Duration("work-ack-wait")}, Logger: log,
	})
	if err != nil {
		return userError(err)
	}
	if err := g.Run(ctx); err != nil {
		return userError(fmt.Errorf("gateway: %w", err))
	}
	log.Info().Msg("gateway stopped")
	return nil
}
