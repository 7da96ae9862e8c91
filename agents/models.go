package agents

import (
	"fmt"
	"strings"

	"github.com/tmc/langchaingo/llms"
)

// Models gives a daemon the model that answers each task. It is the one
// way a daemon is configured for models: from the config file and the
// environment ([Config]), one fixed configuration ([Single]), or a model
// built elsewhere ([Fixed], for embedding and tests).
type Models interface {
	// Model returns the model for a task's reference ("provider/model",
	// "model", or "" for the default) and the configuration it stands for.
	// Errors wrap ErrNoModel and say what to set; they never hold a key.
	Model(ref string) (llms.Model, ModelConfig, error)
	// Default describes the default model, for presence and logs (zero
	// when none is configured).
	Default() ModelConfig
}

// Model implements [Models] for the config file and environment.
func (c *Config) Model(ref string) (llms.Model, ModelConfig, error) {
	mc, err := c.Resolve(ref)
	if err != nil {
		return nil, mc, err
	}
	m, err := NewModel(mc)
	return m, mc, err
}

// Default implements [Models].
func (c *Config) Default() ModelConfig {
	mc, _ := c.Resolve("")
	return mc
}

// Single is one model configuration as [Models]: a task may name another
// model of the same provider, not another provider.
func Single(mc ModelConfig) Models { return single{mc} }

type single struct{ mc ModelConfig }

func (s single) Default() ModelConfig { return s.mc }

func (s single) resolve(ref string) (ModelConfig, error) {
	cfg := s.mc
	if ref == "" {
		return cfg, nil
	}
	prov, name, ok := strings.Cut(ref, "/")
	if !ok {
		prov, name = cfg.Provider, ref
	}
	if prov != cfg.Provider {
		return cfg, fmt.Errorf("%w: the task asks for provider %q but this daemon is configured for %q", ErrNoModel, prov, cfg.Provider)
	}
	cfg.Model = name
	return cfg, nil
}

func (s single) Model(ref string) (llms.Model, ModelConfig, error) {
	mc, err := s.resolve(ref)
	if err != nil {
		return nil, mc, err
	}
	m, err := NewModel(mc)
	return m, mc, err
}

// Fixed answers every task with m, reported as mc (which may be zero).
func Fixed(m llms.Model, mc ModelConfig) Models { return fixed{m, mc} }

type fixed struct {
	m  llms.Model
	mc ModelConfig
}

func (f fixed) Model(string) (llms.Model, ModelConfig, error) { return f.m, f.mc, nil }

func (f fixed) Default() ModelConfig { return f.mc }
