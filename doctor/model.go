package doctor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tmc/langchaingo/llms"

	"github.com/viberhq/viber/agents"
)

// checkConfig loads the config file strictly (unknown keys are errors
// naming their line) and returns it, or nil when it does not load.
func checkConfig(path string, getenv func(string) string) (Check, *agents.Config) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := Check{Name: "config"}
	shown := path
	if shown == "" {
		shown = agents.DefaultConfigPath(getenv)
	}
	cfg, err := agents.LoadConfig(path, getenv)
	if err != nil {
		c.Status, c.Message = Fail, oneLine(err.Error())
		c.Fix = "edit " + shown + " (the README's Configuration section lists every key), or write a new one with `viber init --force`"
		return c, nil
	}
	if cfg.Path == "" {
		c.Status = Warn
		c.Message = "no config file at " + shown + "; models come from the environment only"
		c.Fix = "run `viber init` to write one"
		return c, cfg
	}
	c.Status, c.Message = OK, cfg.Path+" parses strictly"
	if dm := strings.TrimSpace(cfg.DefaultModel); dm != "" {
		c.Message += "; default_model " + dm
	}
	var secrets []string
	for _, name := range sortedNames(cfg.Providers) {
		if cfg.Providers[name].APIKey != "" {
			secrets = append(secrets, "providers."+name+".api_key")
		}
	}
	if len(secrets) > 0 {
		c.Status = Warn
		c.Message += "; it holds a key itself (" + strings.Join(secrets, ", ") + ")"
		c.Fix = "move the key to an environment variable and name it with api_key_env"
		if fi, err := os.Stat(cfg.Path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			c.Fix += ", and `chmod 600 " + cfg.Path + "`"
		}
	}
	return c, cfg
}

func sortedNames[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// Ping is the prompt of the test completion.
const Ping = "Reply with the single word: ok"

// Complete asks the model one tiny question through the client daemons
// use (agents.NewModel) and returns its answer, bounded by timeout.
func Complete(ctx context.Context, mc agents.ModelConfig, timeout time.Duration) (string, error) {
	m, err := agents.NewModel(mc)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := m.GenerateContent(ctx, []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, Ping)})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "", fmt.Errorf("no answer within %s", timeout)
		}
		if mc.APIKey != "" && strings.Contains(err.Error(), mc.APIKey) {
			// Never print a key, even one a server echoed back.
			return "", errors.New(strings.ReplaceAll(err.Error(), mc.APIKey, "[key]"))
		}
		return "", err
	}
	choice := agents.MergeChoices(resp)
	if choice == nil {
		return "", errors.New("the model answered with no choices")
	}
	return strings.TrimSpace(choice.Content), nil
}

// checkModel resolves the default model and asks it a tiny question.
func checkModel(ctx context.Context, cfg *agents.Config, timeout time.Duration) Check {
	c := Check{Name: "model"}
	mc, err := cfg.Resolve("")
	if err != nil {
		c.Status, c.Message = Fail, err.Error()
		c.Fix = "run `viber init`, or set what the message names"
		return c
	}
	where := mc.Ref() + " at " + mc.BaseURL
	start := time.Now()
	answer, err := Complete(ctx, mc, timeout)
	if err != nil {
		c.Status = Fail
		c.Message = where + " did not answer: " + truncate(oneLine(err.Error()), 300)
		switch {
		case mc.Provider == agents.ProviderCustom || mc.Provider == agents.ProviderOllama:
			c.Fix = "start the model server at " + mc.BaseURL + " or fix base_url and model in the config file"
		default:
			c.Fix = "check the key and the model name of provider " + mc.ProviderName() + " and that " + mc.BaseURL + " is reachable"
		}
		return c
	}
	c.Status = OK
	c.Message = fmt.Sprintf("%s answered in %s: %q", where, time.Since(start).Round(time.Millisecond), truncate(answer, 40))
	if answer == "" {
		c.Status = Warn
		c.Message = where + " answered with empty text"
		c.Fix = "check that the model is a chat model"
	}
	return c
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
