package agents

import (
	"fmt"
	"strings"
)

// ChannelsConfig is the config file's channels: section, the chat bridges
// `viber channel run` (and `viber up`) runs:
//
//	channels:
//	  telegram:
//	    token_env: TELEGRAM_BOT_TOKEN
//	    allow_from: [123456789]
//	  slack:
//	    bot_token_env: SLACK_BOT_TOKEN
//	    app_token_env: SLACK_APP_TOKEN
//	    allow_from: [U0123ABCD]
//
// Tokens are secrets: the file names the environment variables holding
// them, never the tokens.
type ChannelsConfig struct {
	// Telegram is a Telegram bot (Bot API long polling).
	Telegram *TelegramChannel `yaml:"telegram"`
	// Slack is a Slack app (Socket Mode).
	Slack *SlackChannel `yaml:"slack"`
}

// Any reports whether a channel is configured.
func (c ChannelsConfig) Any() bool { return c.Telegram != nil || c.Slack != nil }

// ChannelTask is what every channel gives the tasks it creates.
type ChannelTask struct {
	// Daemon pins the tasks to a daemon id.
	Daemon string
	// Model asks for a provider/model.
	Model string
	// Skills the tasks need.
	Skills []string
	// Agent is the named agent that runs them.
	Agent string
}

// TelegramChannel configures the Telegram bridge.
type TelegramChannel struct {
	// TokenEnv names the variable holding the bot token (default
	// TELEGRAM_BOT_TOKEN).
	TokenEnv string `yaml:"token_env"`
	// AllowFrom lists the Telegram user ids (or group chat ids) the bot
	// works for; empty admits nobody.
	AllowFrom []string `yaml:"allow_from"`
	// APIURL is the Bot API's address (default https://api.telegram.org;
	// a local Bot API server or a test server).
	APIURL string `yaml:"api_url"`
	// Daemon, Model, Skills and Agent are given to the tasks it creates.
	Daemon string   `yaml:"daemon"`
	Model  string   `yaml:"model"`
	Skills []string `yaml:"skills"`
	Agent  string   `yaml:"agent"`
}

// SlackChannel configures the Slack bridge.
type SlackChannel struct {
	// BotTokenEnv names the variable holding the bot token, xoxb-...
	// (default SLACK_BOT_TOKEN).
	BotTokenEnv string `yaml:"bot_token_env"`
	// AppTokenEnv names the variable holding the app-level token with
	// connections:write, xapp-... (default SLACK_APP_TOKEN).
	AppTokenEnv string `yaml:"app_token_env"`
	// AllowFrom lists the Slack user ids (or channel ids) the app works
	// for; empty admits nobody.
	AllowFrom []string `yaml:"allow_from"`
	// APIURL is the Web API's address (default https://slack.com/api/).
	APIURL string `yaml:"api_url"`
	// Daemon, Model, Skills and Agent are given to the tasks it creates.
	Daemon string   `yaml:"daemon"`
	Model  string   `yaml:"model"`
	Skills []string `yaml:"skills"`
	Agent  string   `yaml:"agent"`
}

// Default token variables.
const (
	DefaultTelegramTokenEnv = "TELEGRAM_BOT_TOKEN"
	DefaultSlackBotTokenEnv = "SLACK_BOT_TOKEN"
	DefaultSlackAppTokenEnv = "SLACK_APP_TOKEN"
)

// Token reads the bot token from the environment (empty when unset).
func (t *TelegramChannel) Token(getenv func(string) string) string {
	return strings.TrimSpace(getenv(orDefault(t.TokenEnv, DefaultTelegramTokenEnv)))
}

// TokenVar is the variable the token is read from.
func (t *TelegramChannel) TokenVar() string { return orDefault(t.TokenEnv, DefaultTelegramTokenEnv) }

// Task is what the tasks it creates ask for.
func (t *TelegramChannel) Task() ChannelTask {
	return ChannelTask{Daemon: t.Daemon, Model: t.Model, Skills: t.Skills, Agent: t.Agent}
}

// BotTokenVar and AppTokenVar are the variables the tokens are read from.
func (s *SlackChannel) BotTokenVar() string { return orDefault(s.BotTokenEnv, DefaultSlackBotTokenEnv) }

// AppTokenVar is the variable the app-level token is read from.
func (s *SlackChannel) AppTokenVar() string { return orDefault(s.AppTokenEnv, DefaultSlackAppTokenEnv) }

// Task is what the tasks it creates ask for.
func (s *SlackChannel) Task() ChannelTask {
	return ChannelTask{Daemon: s.Daemon, Model: s.Model, Skills: s.Skills, Agent: s.Agent}
}

func orDefault(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return strings.TrimSpace(v)
}

// validate reports the section's problems through bad.
func (c ChannelsConfig) validate(bad func(string, ...any)) {
	checkEnv := func(at, v string) {
		if v != "" && !envName.MatchString(v) {
			bad("%s: %q is not an environment variable name (the file names the variable, never the token itself)", at, v)
		}
	}
	checkAllow := func(at string, ids []string) {
		for i, id := range ids {
			if strings.TrimSpace(id) == "" {
				bad("%s[%d]: empty id", at, i)
			}
		}
	}
	checkURL := func(at, v string) {
		if v != "" {
			if err := checkBaseURL(v); err != nil {
				bad("%s: %v", at, err)
			}
		}
	}
	if t := c.Telegram; t != nil {
		checkEnv("channels.telegram.token_env", t.TokenEnv)
		checkAllow("channels.telegram.allow_from", t.AllowFrom)
		checkURL("channels.telegram.api_url", t.APIURL)
		for _, id := range t.AllowFrom {
			if _, err := fmt.Sscanf(strings.TrimSpace(id), "%d", new(int64)); err != nil {
				bad("channels.telegram.allow_from: %q is not a Telegram id (a number; ask @userinfobot)", id)
			}
		}
	}
	if s := c.Slack; s != nil {
		checkEnv("channels.slack.bot_token_env", s.BotTokenEnv)
		checkEnv("channels.slack.app_token_env", s.AppTokenEnv)
		checkAllow("channels.slack.allow_from", s.AllowFrom)
		checkURL("channels.slack.api_url", s.APIURL)
	}
}
