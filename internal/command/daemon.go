package command

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/auth"
	"github.com/viberhq/viber/bus/server"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/daemon"
)

// Daemon is the viberd command.
func Daemon() *cli.App {
	return &cli.App{
		Name:    "viberd",
		Usage:   "Viber's worker host: runs the tasks assigned to it",
		Version: Version,
		Description: `viberd connects out to NATS (it listens only for --metrics-listen), announces itself, pulls
the tasks assigned to it or to any daemon, and runs them in --workspace.

Models come from the config file (--config, default ~/.viber/config.yaml) and
the environment:
  OPENAI_API_KEY, ANTHROPIC_API_KEY, OPENROUTER_API_KEY, DEEPSEEK_API_KEY
                   make those providers usable without a file
  VIBER_PROVIDER   default provider kind: openai, anthropic, openrouter,
                   deepseek, ollama or custom (any OpenAI-compatible server)
  VIBER_MODEL      default model
  VIBER_BASE_URL   base URL, e.g. http://127.0.0.1:8000/v1 (or OPENAI_BASE_URL)
  VIBER_API_KEY    API key of the default provider; never logged
A task may name its model: viber task submit --model anthropic/claude-sonnet-4-5.
Without a usable model, tasks fail with a message that says what to set;
the daemon keeps running.

Observability (docs/observability.md): --metrics-listen 127.0.0.1:9464 serves
Prometheus metrics; OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 sends
OpenTelemetry traces of each task turn.`,
		Flags:  append(append(append(natsFlags(), daemonFlags()...), metricsFlags()...), logFlags()...),
		Action: runDaemon,
	}
}

func daemonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "name", Usage: "daemon id (letters, digits, '-', '_'); tasks pinned to it survive restarts", EnvVars: []string{"VIBER_DAEMON_NAME"}, Value: bus.HostToken("daemon")},
		&cli.StringFlag{Name: "workspace", Usage: "directory tasks work in (created if missing)", EnvVars: []string{"VIBER_WORKSPACE"}, Value: filepath.Join(viberHome(), "workspace")},
		&cli.IntFlag{Name: "capacity", Usage: "tasks run at once", EnvVars: []string{"VIBER_CAPACITY"}, Value: 4},
		&cli.IntFlag{Name: "max-child-depth", Usage: "tasks at this depth are not offered the spawn tool (match the gateway's; negative: no spawn)", EnvVars: []string{"VIBER_MAX_CHILD_DEPTH"}, Value: 2},
		&cli.IntFlag{Name: "memory-file-cap", Usage: "bytes of each memory file shown in the system prompt", EnvVars: []string{"VIBER_MEMORY_FILE_CAP"}, Value: 8 << 10},
		&cli.DurationFlag{Name: "heartbeat", Usage: "presence interval (longer than 5s, also how often NATS heartbeats an idle pull for work: 15s suits a fleet of a thousand)", EnvVars: []string{"VIBER_HEARTBEAT"}, Value: 5 * time.Second},
		&cli.DurationFlag{Name: "pull-wait", Usage: "how long an idle pull for work waits on the server before it is renewed", EnvVars: []string{"VIBER_PULL_WAIT"}, Value: daemon.DefaultPullWait},
		&cli.DurationFlag{Name: "work-ack-wait", Usage: "must match the gateway's --work-ack-wait", EnvVars: []string{"VIBER_WORK_ACK_WAIT"}, Value: bus.DefaultWorkAckWait},
		&cli.StringFlag{Name: "leaf", Usage: "run as an edge daemon: an embedded NATS leaf node linked to the hub at nats-leaf://HOST:PORT (then --nats-url is not used)", EnvVars: []string{"VIBER_LEAF"}},
		&cli.StringFlag{Name: "leaf-creds", Usage: "credentials file for the leaf link to a hub with auth on (vibergw creds edge NAME)", EnvVars: []string{"VIBER_LEAF_CREDS"}},
		&cli.StringFlag{Name: "data", Usage: "with --leaf: the edge server's JetStream store", EnvVars: []string{"VIBER_DATA"}, Value: filepath.Join(viberHome(), "edge")},
		&cli.StringFlag{Name: "hub-domain", Usage: "with --leaf: the hub's JetStream domain (vibergw --js-domain)", EnvVars: []string{"VIBER_HUB_DOMAIN"}, Value: bus.DefaultHubDomain},
		&cli.BoolFlag{Name: "private-inbox", Usage: "receive replies on _INBOX_viberd_NAME (for credentials issued with `vibergw creds daemon NAME --private-inbox`)", EnvVars: []string{"VIBER_PRIVATE_INBOX"}},
		&cli.StringSliceFlag{Name: "label", Usage: "KEY=VALUE label shown in presence (repeatable)", EnvVars: []string{"VIBER_LABELS"}},
	}
}

func parseLabels(list []string) (map[string]string, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--label %q: want KEY=VALUE", kv)
		}
		out[k] = v
	}
	return out, nil
}

func runDaemon(c *cli.Context) error {
	log, err := newLogger(c, os.Stderr)
	if err != nil {
		return userError(err)
	}
	labels, err := parseLabels(c.StringSlice("label"))
	if err != nil {
		return userError(err)
	}
	ctx, stop := signalContext(c.Context)
	defer stop()
	var (
		nc      *nats.Conn
		hubJS   jetstream.JetStream
		localJS jetstream.JetStream
		edge    bool
	)
	if leaf := c.String("leaf"); leaf != "" {
		name := c.String("name")
		if f := c.String("leaf-creds"); f != "" {
			if err := auth.CheckIssued(f, auth.KindEdge, name); err != nil {
				return userError(err)
			}
		}
		srv, err := server.StartContext(ctx, server.Options{
			Dir: c.String("data"), Listen: "none", Name: bus.EdgeDomain(name), Domain: bus.EdgeDomain(name),
			LeafRemote: leaf, LeafCreds: c.String("leaf-creds"), Logger: server.Zerolog(log),
		})
		if err != nil {
			return userError(err)
		}
		defer srv.Shutdown()
		// Replies under the daemon's private prefix: the only ones an
		// edge credential (vibergw creds edge) lets cross the link.
		if nc, err = srv.ConnectInbox("viberd-"+name, auth.DaemonInbox(name)); err != nil {
			return userError(err)
		}
		if hubJS, err = jetstream.NewWithDomain(nc, c.String("hub-domain")); err != nil {
			return userError(err)
		}
		if localJS, err = jetstream.New(nc); err != nil {
			return userError(err)
		}
		edge = true
		log.Info().Str("hub", leaf).Str("data", srv.Dir()).Msg("edge: embedded leaf node started")
	} else {
		if f := c.String("creds"); f != "" {
			if err := auth.CheckIssued(f, auth.KindDaemon, c.String("name")); err != nil {
				return userError(err)
			}
		}
		if nc, err = connect(c, "viberd-"+c.String("name"), &log); err != nil {
			return userError(err)
		}
	}
	defer nc.Close()
	setup, err := loadAgentSetup(c, log)
	if err != nil {
		return userError(err)
	}
	// The agent's schedule tool calls the gateway's API like the CLI (a
	// strict daemon credential may not: the tool then says so).
	if setup.tools.Schedules, err = client.New(nc); err != nil {
		return userError(err)
	}
	flush, err := startTracing(ctx, "viberd", log)
	if err != nil {
		return userError(err)
	}
	defer flush()
	metrics, stopMetrics, err := startDaemonMetrics(c, c.String("name"), nc, log)
	if err != nil {
		return userError(err)
	}
	defer stopMetrics()
	d, err := daemon.New(daemon.Config{
		NC: nc, ID: c.String("name"), Workspace: c.String("workspace"), Capacity: c.Int("capacity"),
		MaxDepth: c.Int("max-child-depth"), MemoryFileCap: c.Int("memory-file-cap"),
		Heartbeat: c.Duration("heartbeat"), PullWait: c.Duration("pull-wait"), Setup: bus.SetupOptions{WorkAckWait: c.Duration("work-ack-wait")},
		Models: setup.models, Policy: &setup.policy, Tools: setup.tools, MaxSteps: setup.maxSteps,
		Version: Version, Labels: labels, Logger: log, Home: viberHome(), Edge: edge, JS: hubJS, LocalJS: localJS,
		Metrics: metrics, StrictCredentials: c.String("creds") != "" || c.String("leaf-creds") != "",
	})
	if err != nil {
		return userError(err)
	}
	return userError(d.Run(ctx))
}
