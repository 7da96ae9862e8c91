package agents

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/openai"
)

// Providers Viber knows.
const (
	ProviderOpenAI = "openai"
	ProviderCustom = "custom"
)

// DefaultOpenAIModel is used with provider openai when no model is set.
const DefaultOpenAIModel = "gpt-4o-mini"

// ErrNoModel means no usable model is configured; its message says what to
// set.
var ErrNoModel = errors.New("no model configured")

// ModelConfig says which model answers and how to reach it. APIKey is a
// secret: String redacts it and nothing logs it.
type ModelConfig struct {
	Provider string
	Model    string
	BaseURL  string
	APIKey   string
}

// String describes the config without its key.
func (c ModelConfig) String() string {
	key := "none"
	if c.APIKey != "" {
		key = "set"
	}
	return fmt.Sprintf("provider=%s model=%s base_url=%s api_key=%s", c.Provider, c.Model, c.BaseURL, key)
}

// ConfigFromEnv reads VIBER_PROVIDER, VIBER_MODEL, VIBER_BASE_URL,
// VIBER_API_KEY and the usual OPENAI_API_KEY / OPENAI_BASE_URL. getenv is
// usually os.Getenv.
func ConfigFromEnv(getenv func(string) string) ModelConfig {
	first := func(names ...string) string {
		for _, n := range names {
			if v := strings.TrimSpace(getenv(n)); v != "" {
				return v
			}
		}
		return ""
	}
	c := ModelConfig{
		Provider: strings.ToLower(first("VIBER_PROVIDER")),
		Model:    first("VIBER_MODEL"),
		BaseURL:  first("VIBER_BASE_URL", "OPENAI_BASE_URL"),
		APIKey:   first("VIBER_API_KEY", "OPENAI_API_KEY"),
	}
	if c.Provider == "" {
		c.Provider = ProviderOpenAI
	}
	if c.Provider == ProviderOpenAI && c.Model == "" {
		c.Model = DefaultOpenAIModel
	}
	return c
}

// Validate reports whether the config can reach a model, with a message
// naming what to set when it cannot.
func (c ModelConfig) Validate() error {
	switch c.Provider {
	case ProviderOpenAI:
		if c.APIKey == "" {
			return fmt.Errorf("%w: set OPENAI_API_KEY (or VIBER_API_KEY) for OpenAI, or VIBER_PROVIDER=custom with VIBER_BASE_URL=http://host:port/v1 and VIBER_MODEL for an OpenAI-compatible server", ErrNoModel)
		}
	case ProviderCustom:
		var missing []string
		if c.BaseURL == "" {
			missing = append(missing, "VIBER_BASE_URL (e.g. http://127.0.0.1:8000/v1)")
		}
		if c.Model == "" {
			missing = append(missing, "VIBER_MODEL")
		}
		if len(missing) > 0 {
			return fmt.Errorf("%w: provider custom needs %s", ErrNoModel, strings.Join(missing, " and "))
		}
	default:
		return fmt.Errorf("%w: unknown VIBER_PROVIDER %q (use openai or custom)", ErrNoModel, c.Provider)
	}
	return nil
}

// NewModel returns a langchaingo model for the config.
func NewModel(c ModelConfig) (llms.Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	key := c.APIKey
	if key == "" {
		// openai.New refuses an empty token; local servers need none.
		key = "no-key"
	}
	opts := []openai.Option{openai.WithToken(key), openai.WithModel(c.Model)}
	if c.BaseURL != "" {
		opts = append(opts, openai.WithBaseURL(c.BaseURL))
	}
	m, err := openai.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("%s client: %w", c.Provider, err)
	}
	return m, nil
}
