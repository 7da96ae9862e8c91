package command

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

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
--nats-listen. With --nats-external URL (or VIBER_NATS_EXTERNAL) it joins an
existing NATS server instead. VIBER_NATS_URL, the variable the CLI and daemons
use to find the server, does not switch the gateway to that mode.

Daemons (viberd) and the viber CLI connect to the same NATS server.

A --nats-listen beyond loopback (e.g. 0.0.0.0:4222) needs --auth, or
--insecure to accept an open server that anyone who reaches it can use.

With --auth (or once <data>/auth exists) the embedded server runs with NATS
decentralized auth: every client needs a credential issued by
'vibergw creds' (see docs/auth.md).`,
		Commands: []*cli.Command{credsCommand()},
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "data", Usage: "directory of the embedded NATS server's JetStream store", EnvVars: []string{"VIBER_DATA"}, Value: filepath.Join(viberHome(), "gateway")},
			&cli.StringFlag{Name: "nats-listen", Usage: "embedded NATS client listener HOST:PORT", EnvVars: []string{"VIBER_NATS_LISTEN"}, Value: "127.0.0.1:4222"},
			&cli.StringFlag{Name: "nats-external", Aliases: []string{"nats-url"}, Usage: "join this external NATS server (URL) instead of embedding one", EnvVars: []string{"VIBER_NATS_EXTERNAL"}},
			&cli.BoolFlag{Name: "insecure", Usage: "accept a --nats-listen beyond loopback without --auth (an open server; warned at every start)", EnvVars: []string{"VIBER_INSECURE"}},
			&cli.StringFlag{Name: "leaf-listen", Usage: "accept edge daemons' leaf-node links on HOST:PORT (embedded server)", EnvVars: []string{"VIBER_LEAF_LISTEN"}},
			&cli.StringFlag{Name: "js-domain", Usage: "JetStream domain of the embedded server; edge daemons reach it by this name", EnvVars: []string{"VIBER_JS_DOMAIN"}, Value: bus.DefaultHubDomain},
			&cli.StringFlag{Name: "creds", Usage: "NATS credentials file for --nats-external", EnvVars: []string{"VIBER_NATS_CREDS"}},
			&cli.StringFlag{Name: "http-listen", Usage: "HTTP listener HOST:PORT for the dashboard, the HTTP API and /healthz; 'none' to disable", EnvVars: []string{"VIBER_HTTP_LISTEN"}, Value: gateway.DefaultHTTPListen},
			&cli.StringFlag{Name: "http-token", Usage: "token HTTP clients must send (Authorization: Bearer TOKEN); required when --http-listen is not loopback", EnvVars: []string{"VIBER_HTTP_TOKEN"}},
			&cli.StringFlag{Name: "id", Usage: "gateway id used in event sources (default: host name)", EnvVars: []string{"VIBER_GATEWAY_ID"}},
			&cli.DurationFlag{Name: "work-ack-wait", Usage: "how long a silent daemon keeps a task before another daemon resumes it", EnvVars: []string{"VIBER_WORK_ACK_WAIT"}, Value: bus.DefaultWorkAckWait},
			&cli.StringFlag{Name: "retention", Usage: "how long the task log keeps events, e.g. 720h or 30d; 'forever' removes the limit; unset leaves the stream's as it is", EnvVars: []string{"VIBER_RETENTION"}},
			&cli.StringFlag{Name: "max-bytes", Usage: "size limit of the task log (oldest events go first), e.g. 10GB; 'unlimited' removes it; unset leaves the stream's as it is", EnvVars: []string{"VIBER_MAX_BYTES"}},
			&cli.IntFlag{Name: "replicas", Usage: "replicas of new streams and buckets (3 on a NATS cluster joined with --nats-external)", EnvVars: []string{"VIBER_REPLICAS"}, Value: 1},
			&cli.DurationFlag{Name: "retire-after", Usage: "remove the presence record and work consumer of a daemon silent this long (negative: never)", EnvVars: []string{"VIBER_RETIRE_AFTER"}, Value: gateway.DefaultRetireAfter},
			webhookSecretFlag(), webhookPrivateFlag(),
			&cli.IntFlag{Name: "max-child-depth", Usage: "how deep child tasks (the spawn tool) may nest", EnvVars: []string{"VIBER_MAX_CHILD_DEPTH"}, Value: gateway.DefaultMaxDepth},
			&cli.IntFlag{Name: "max-children", Usage: "how many child tasks one task may start", EnvVars: []string{"VIBER_MAX_CHILDREN"}, Value: gateway.DefaultMaxChildren},
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
	retention, err := parseRetention(c.String("retention"))
	if err != nil {
		return userError(fmt.Errorf("--retention: %w", err))
	}
	maxBytes, err := parseBytes(c.String("max-bytes"))
	if err != nil {
		return userError(fmt.Errorf("--max-bytes: %w", err))
	}
	ctx, stop := signalContext(c.Context)
	defer stop()
	var nc *nats.Conn
	if url := c.String("nats-external"); url != "" {
		if c.Bool("auth") {
			return userError(fmt.Errorf("--auth configures the embedded server; with --nats-external, make the server trust %s (see `vibergw creds server-config`) and pass --creds %s",
				authDir(c.String("data")), filepath.Join(authDir(c.String("data")), auth.GatewayCredsFile)))
		}
		if nc, err = connectURL(c, url, "vibergw", &log); err != nil {
			return userError(fmt.Errorf("external NATS server %s (--nats-external): %w", url, err))
		}
		log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("connected to NATS")
	} else {
		opts := server.Options{Dir: c.String("data"), Listen: c.String("nats-listen"), Logger: server.Zerolog(log),
			Domain: c.String("js-domain"), LeafListen: c.String("leaf-listen"), Insecure: c.Bool("insecure")}
		if dir := authDir(c.String("data")); c.Bool("auth") || auth.Exists(dir) {
			if opts.Auth, err = auth.Init(dir); err != nil {
				return userError(fmt.Errorf("auth: %w", err))
			}
			log.Info().Str("dir", dir).Str("account", opts.Auth.Account()).Msg("NATS auth on: clients need credentials from `vibergw creds`")
		}
		if u := os.Getenv("VIBER_NATS_URL"); u != "" && !pointsAt(u, opts.Listen) {
			log.Warn().Str("VIBER_NATS_URL", u).Str("nats_listen", opts.Listen).
				Msg("VIBER_NATS_URL is for clients and daemons; vibergw embeds its own server (to join another one, use --nats-external or VIBER_NATS_EXTERNAL)")
		}
		srv, err := server.StartContext(ctx, opts)
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
	flush, err := startTracing(ctx, "vibergw", log)
	if err != nil {
		return userError(err)
	}
	defer flush()
	g, err := gateway.New(ctx, gateway.Config{
		NC: nc, ID: c.String("id"), Version: Version, HTTPListen: c.String("http-listen"), HTTPToken: c.String("http-token"),
		Setup: bus.SetupOptions{WorkAckWait: c.Duration("work-ack-wait"), TaskRetention: retention, TaskMaxBytes: maxBytes, Replicas: c.Int("replicas")}, Logger: log,
		WebhookSecret: c.String("webhook-secret"), WebhookAllowPrivate: c.Bool("webhook-allow-private"),
		MaxDepth: c.Int("max-child-depth"), MaxChildren: c.Int("max-children"),
		RetireAfter: c.Duration("retire-after"),
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

// pointsAt reports whether a NATS URL (or comma-separated list) names the
// listener HOST:PORT (any loopback name matching a loopback listener).
func pointsAt(urls, listen string) bool {
	lhost, lport, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	for _, u := range strings.Split(urls, ",") {
		pu, err := url.Parse(strings.TrimSpace(u))
		if err != nil || pu.Port() != lport {
			continue
		}
		if h := pu.Hostname(); h == lhost || (server.Loopback(h) && server.Loopback(lhost)) {
			return true
		}
	}
	return false
}

func webhookSecretFlag() cli.Flag {
	return &cli.StringFlag{Name: "webhook-secret", Usage: "secret that signs webhook notifications (HMAC-SHA256 in the Viber-Signature header); tasks can ask for notifications only when it is set", EnvVars: []string{"VIBER_WEBHOOK_SECRET"}}
}

func webhookPrivateFlag() cli.Flag {
	return &cli.BoolFlag{Name: "webhook-allow-private", Usage: "let notify URLs reach loopback and private networks", EnvVars: []string{"VIBER_WEBHOOK_ALLOW_PRIVATE"}}
}

// firstNonEmpty returns the first of its arguments that is not "".
func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// parseRetention reads --retention: "" (0: leave the stream's limit),
// "forever" (-1: no limit), or a positive duration, where a "d" suffix
// counts days ("30d").
func parseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return 0, nil
	case strings.EqualFold(s, "forever"):
		return -1, nil
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n float64
		if n, err = strconv.ParseFloat(days, 64); err == nil {
			d = time.Duration(n * float64(24*time.Hour))
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration (e.g. 720h, 30d) nor 'forever'", s)
	}
	return d, nil
}

// parseBytes reads --max-bytes: "" (0: leave the stream's limit),
// "unlimited" (-1: no limit), or a positive size in bytes with an optional
// K, M, G or T suffix (powers of 1024; "KB", "MiB" and the like too).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return 0, nil
	case strings.EqualFold(s, "unlimited"):
		return -1, nil
	}
	num := strings.TrimRight(s, "KMGTiBkmgtib ")
	unit := strings.ToUpper(strings.TrimSpace(s[len(num):]))
	unit = strings.TrimSuffix(strings.TrimSuffix(unit, "B"), "I")
	mult := map[string]int64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[unit]
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive size (e.g. 10GB, 512M, 1048576) nor 'unlimited'", s)
	}
	return int64(n * float64(mult)), nil
}
