package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/channel"
	"github.com/viberhq/viber/channel/slack"
	"github.com/viberhq/viber/channel/telegram"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/stack"
)

func channelCommand() *cli.Command {
	return &cli.Command{
		Name:  "channel",
		Usage: "bridge chat platforms (Telegram, Slack) to Viber",
		Subcommands: []*cli.Command{{
			Name:      "run",
			Usage:     "run the chat bridges of the config file's channels: section",
			ArgsUsage: " ",
			Description: `run connects to NATS and to each configured chat platform — outward only —
and bridges them until interrupted: a message from an allowed sender becomes a
task (or a follow-up on the chat's task), replies come back when each turn
ends, and tool calls waiting for approval get Approve / Deny buttons.

   # ~/.viber/config.yaml
   channels:
     telegram:
       token_env: TELEGRAM_BOT_TOKEN
       allow_from: [123456789]

   TELEGRAM_BOT_TOKEN=123:abc viber channel run

Slack (Socket Mode: an app with an app-level token, no public URL needed):

   channels:
     slack:
       bot_token_env: SLACK_BOT_TOKEN   # xoxb-...
       app_token_env: SLACK_APP_TOKEN   # xapp-... with connections:write
       allow_from: [U0123ABCD]

In a chat: /new starts a fresh task, /stop cancels, /steer TEXT interrupts.
'viber up' runs the same bridges when the section is there. Only one bridge
may poll a bot at a time. See docs/channels.md.`,
			Flags: append(append([]cli.Flag{configFlag()}, natsFlags()...), logFlags()...),
			Action: func(c *cli.Context) error {
				log, err := newLogger(c, os.Stderr)
				if err != nil {
					return userError(err)
				}
				cfg, err := agents.LoadConfig(c.String("config"), os.Getenv)
				if err != nil {
					return userError(err)
				}
				if !cfg.Channels.Any() {
					return userError(fmt.Errorf("no channels in %s: add a channels: section (see `viber channel run --help`)", configName(cfg)))
				}
				ctx, stop := signalContext(c.Context)
				defer stop()
				nc, err := connect(c, "viber-channel", &log)
				if err != nil {
					return userError(err)
				}
				defer nc.Close()
				bridges, err := newBridges(cfg.Channels, nc, os.Getenv, log)
				if err != nil {
					return userError(err)
				}
				return userError(runBridges(ctx, bridges))
			},
		}},
	}
}

func configName(cfg *agents.Config) string {
	if cfg.Path != "" {
		return cfg.Path
	}
	return agents.DefaultConfigPath(os.Getenv)
}

// newBridges builds a bridge for each configured channel. A channel whose
// token is missing is an error naming the variable to set.
func newBridges(cc agents.ChannelsConfig, nc *nats.Conn, getenv func(string) string, log zerolog.Logger) ([]*channel.Bridge, error) {
	cl, err := client.New(nc)
	if err != nil {
		return nil, err
	}
	var out []*channel.Bridge
	var errs []error
	if t := cc.Telegram; t != nil {
		token := t.Token(getenv)
		if token == "" {
			errs = append(errs, fmt.Errorf("channels.telegram: $%s is empty; set it to the bot token from @BotFather", t.TokenVar()))
		} else {
			bot, err := telegram.New(telegram.Config{Token: token, APIURL: t.APIURL, Logger: log})
			if err != nil {
				errs = append(errs, fmt.Errorf("channels.telegram: %w", err))
			} else {
				task := t.Task()
				b, err := channel.New(channel.Config{Platform: bot, Client: cl, AllowFrom: t.AllowFrom, Daemon: task.Daemon, Model: task.Model, Skills: task.Skills, Agent: task.Agent, Logger: log})
				if err != nil {
					errs = append(errs, err)
				} else {
					out = append(out, b)
				}
			}
		}
	}
	if s := cc.Slack; s != nil {
		botToken, appToken := strings.TrimSpace(getenv(s.BotTokenVar())), strings.TrimSpace(getenv(s.AppTokenVar()))
		switch {
		case botToken == "":
			errs = append(errs, fmt.Errorf("channels.slack: $%s is empty; set it to the app's bot token (xoxb-...)", s.BotTokenVar()))
		case appToken == "":
			errs = append(errs, fmt.Errorf("channels.slack: $%s is empty; set it to an app-level token with connections:write (xapp-...)", s.AppTokenVar()))
		default:
			app, err := slack.New(slack.Config{BotToken: botToken, AppToken: appToken, APIURL: s.APIURL, Logger: log})
			if err != nil {
				errs = append(errs, fmt.Errorf("channels.slack: %w", err))
				break
			}
			task := s.Task()
			b, err := channel.New(channel.Config{Platform: app, Client: cl, AllowFrom: s.AllowFrom, Daemon: task.Daemon, Model: task.Model, Skills: task.Skills, Agent: task.Agent, Logger: log})
			if err != nil {
				errs = append(errs, err)
				break
			}
			out = append(out, b)
		}
	}
	return out, errors.Join(errs...)
}

// runBridges runs bridges until ctx ends or one fails (which stops the
// others).
func runBridges(ctx context.Context, bridges []*channel.Bridge) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(bridges))
	for i, b := range bridges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = b.Run(ctx); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startBridges runs the configured chat bridges inside `viber up`, on their
// own connection to the stack; wg is done when they stopped (ctx ended).
func startBridges(ctx context.Context, st *stack.Stack, cc agents.ChannelsConfig, log zerolog.Logger, wg *sync.WaitGroup) error {
	nc, err := st.Connect("viber-channel")
	if err != nil {
		return err
	}
	bridges, err := newBridges(cc, nc, os.Getenv, log)
	if len(bridges) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := runBridges(ctx, bridges); err != nil {
				log.Error().Err(err).Msg("chat channels stopped")
			}
		}()
	}
	return err
}
