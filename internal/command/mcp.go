package command

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/mcpclient"
	"github.com/viberhq/viber/mcpserver"
)

func mcpCommand() *cli.Command {
	return &cli.Command{
		Name:  "mcp",
		Usage: "Viber for other agents: a Model Context Protocol server",
		Subcommands: []*cli.Command{{
			Name:  "serve",
			Usage: "serve MCP on stdin and stdout (for desktop agents and IDEs that launch a command)",
			Description: `serve speaks the Model Context Protocol on stdin and stdout, so an MCP client
(a desktop agent, an IDE) can submit tasks to Viber's workers, follow them,
approve their tool calls and read their logs. It is a NATS client of the
gateway like the other viber commands (--nats-url, --creds). Logs go to
stderr. See docs/mcp.md for a client configuration.

Tools: submit_task, get_task, list_tasks, task_events, send_input,
cancel_task, decide_approval, list_daemons, list_skills.
Resources: viber://tasks/{id} (summary), viber://tasks/{id}/events (JSON lines).`,
			Flags:  append(append(natsFlags(), timeoutFlag()), logFlags()...),
			Action: mcpServe,
		}, {
			Name:  "check",
			Usage: "start the config file's MCP servers as a daemon would, list their status and tools, and stop them",
			Description: `check reads mcp_servers from the config file (--config, default
~/.viber/config.yaml), starts or connects to each server like viberd does,
and prints each one's status and tools, or what went wrong. It exits 1 when
a server is not connected. Secrets in env, headers and ${VAR} are never
printed.`,
			Flags: []cli.Flag{
				configFlag(), jsonFlag(),
				&cli.DurationFlag{Name: "wait", Usage: "how long to wait for each server", Value: mcpclient.DefaultStartTimeout},
			},
			Action: mcpCheck,
		}},
	}
}

func mcpCheck(c *cli.Context) error {
	cfg, err := agents.LoadConfig(c.String("config"), os.Getenv)
	if err != nil {
		return userError(err)
	}
	if len(cfg.MCPServers) == 0 {
		where := cfg.Path
		if where == "" {
			where = agents.DefaultConfigPath(os.Getenv) + " (not found)"
		}
		return cli.Exit("viber mcp check: no mcp_servers in "+where+"; see docs/mcp.md", 1)
	}
	m := mcpclient.Start(c.Context, mcpclient.Options{
		Servers: cfg.MCPServers, Getenv: cfg.Getenv(), Logger: zerolog.Nop(),
		StartTimeout: c.Duration("wait"), Version: Version,
	})
	defer func() { _ = m.Close() }()
	st := m.Status()
	if c.Bool("json") {
		if err := printJSON(os.Stdout, st); err != nil {
			return err
		}
	} else {
		printMCPCheck(os.Stdout, st)
	}
	for _, s := range st {
		if s.Status != mcpclient.StatusConnected {
			return cli.Exit("", 1)
		}
	}
	return nil
}

// printMCPCheck shows each server's status and tools.
func printMCPCheck(w io.Writer, list []mcpclient.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tTRANSPORT\tSTATUS\tTOOLS")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", s.Name, s.Transport, s.Status, len(s.Tools))
	}
	_ = tw.Flush()
	for _, s := range list {
		switch {
		case s.Error != "":
			fmt.Fprintf(w, "\n%s: %s\n  fix mcp_servers.%s in the config file\n", s.Name, s.Error, s.Name)
		case len(s.Tools) > 0:
			fmt.Fprintf(w, "\n%s: %s\n", s.Name, strings.Join(s.Tools, ", "))
		}
	}
}

func mcpServe(c *cli.Context) error {
	log, err := newLogger(c, os.Stderr)
	if err != nil {
		return userError(err)
	}
	cl, nc, err := dial(c)
	if err != nil {
		return userError(err)
	}
	defer nc.Close()
	srv, err := mcpserver.New(mcpserver.Options{Client: cl, Version: Version, RequestTimeout: c.Duration("timeout")})
	if err != nil {
		return userError(err)
	}
	ctx, stop := signalContext(c.Context)
	defer stop()
	log.Info().Str("nats", nc.ConnectedUrlRedacted()).Msg("viber MCP server on stdio")
	if err := srv.Run(ctx, &sdk.StdioTransport{}); err != nil && ctx.Err() == nil {
		return userError(err)
	}
	return nil
}
