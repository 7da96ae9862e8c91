package command

import (
	"os"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/urfave/cli/v2"

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
		}},
	}
}

func mcpServe(c *cli.Context) error {
	log, err := newLogger(c, os.Stderr)
	if err != nil {
		return userError(err)
	}
	cl, nc, err := client(c)
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
