package command

import (
	"fmt"
	"os"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/tool"
)

func configFlag() cli.Flag {
	return &cli.StringFlag{Name: "config", Usage: "config file with providers, default model, tool policy (default $VIBER_HOME/config.yaml or ~/.viber/config.yaml, if present)", EnvVars: []string{"VIBER_CONFIG"}}
}

// agentSetup is what the config file and environment say about models,
// tools and policy.
type agentSetup struct {
	models   *agents.Config
	policy   agents.Policy
	tools    tool.Options
	maxSteps int
	// webhookSecret and webhookAllowPrivate configure `viber up`'s
	// gateway.
	webhookSecret       string
	webhookAllowPrivate bool
}

// loadAgentSetup reads --config (or the default file) and the environment,
// and warns when no model is usable yet.
func loadAgentSetup(c *cli.Context, log zerolog.Logger) (*agentSetup, error) {
	cfg, err := agents.LoadConfig(c.String("config"), os.Getenv)
	if err != nil {
		return nil, err
	}
	overrides := map[string]string{}
	for k, v := range cfg.Policy {
		overrides[k] = v
	}
	for _, r := range cfg.ShellRules {
		overrides["shell:"+r.Prefix] = r.Policy
	}
	policy, err := agents.DefaultPolicy().With(overrides)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", cfg.Path, err)
	}
	if mc, err := cfg.Resolve(""); err != nil {
		log.Warn().Msg(err.Error() + " — tasks will fail until this is set")
	} else if err := mc.Validate(); err != nil {
		log.Warn().Msg(err.Error() + " — tasks will fail until this is set")
	} else {
		log.Info().Str("model", mc.Ref()).Msg("default model")
	}
	return &agentSetup{
		models: cfg, policy: policy, maxSteps: cfg.MaxSteps,
		webhookSecret: cfg.WebhookSecret, webhookAllowPrivate: cfg.WebhookAllowPrivateNetworks,
		tools: tool.Options{ShellTimeout: cfg.ShellTimeoutDuration(), AllowPrivateNetworks: cfg.AllowPrivateNetworks},
	}, nil
}
