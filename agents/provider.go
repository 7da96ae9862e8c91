package agents

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/anthropic"
	"github.com/tmc/langchaingo/llms/openai"
)

// Provider kinds Viber knows. Every kind but anthropic speaks the OpenAI
// chat completions wire format.
const (
	ProviderOpenAI     = "openai"
	ProviderAnthropic  = "anthropic"
	ProviderOpenRouter = "openrouter"
	ProviderDeepSeek   = "deepseek"
	// ProviderOllama reaches Ollama through its OpenAI-compatible /v1
	// endpoint: langchaingo's native Ollama client sends no tools.
	ProviderOllama = "ollama"
	// ProviderCustom is any OpenAI-compatible server (vLLM, LM Studio,
	// llama.cpp server): it needs a base URL and a model.
	ProviderCustom = "custom"
)

// Default models, used when neither the reference nor the provider's
// configuration names one.
const (
	DefaultOpenAIModel     = "gpt-4o-mini"
	DefaultAnthropicModel  = "claude-sonnet-4-5"
	DefaultOpenRouterModel = "openai/gpt-4o-mini"
	DefaultDeepSeekModel   = "deepseek-chat"
)

// ErrNoModel means no usable model is configured; its message says what to
// set.
var ErrNoModel = errors.New("no model configured")

// kind describes one provider kind.
type kind struct {
	baseURL string // default base URL, "" when the user must give one
	keyEnv  string // the usual environment variable holding its key
	model   string // default model, "" when the user must give one
	needKey bool
}

var kinds = map[string]kind{
	ProviderOpenAI:     {baseURL: "https://api.openai.com/v1", keyEnv: "OPENAI_API_KEY", model: DefaultOpenAIModel, needKey: true},
	ProviderAnthropic:  {baseURL: "https://api.anthropic.com/v1", keyEnv: "ANTHROPIC_API_KEY", model: DefaultAnthropicModel, needKey: true},
	ProviderOpenRouter: {baseURL: "https://openrouter.ai/api/v1", keyEnv: "OPENROUTER_API_KEY", model: DefaultOpenRouterModel, needKey: true},
	ProviderDeepSeek:   {baseURL: "https://api.deepseek.com/v1", keyEnv: "DEEPSEEK_API_KEY", model: DefaultDeepSeekModel, needKey: true},
	ProviderOllama:     {baseURL: "http://127.0.0.1:11434/v1"},
	ProviderCustom:     {},
}

// Kinds lists the provider kinds, in the order implicit providers are
// preferred as the default.
func Kinds() []string {
	return []string{ProviderOpenAI, ProviderAnthropic, ProviderOpenRouter, ProviderDeepSeek, ProviderOllama, ProviderCustom}
}

// KnownKind reports whether k is a provider kind.
func KnownKind(k string) bool {
	_, ok := kinds[k]
	return ok
}

// DefaultBaseURL is the base URL a kind uses when none is configured ("" for
// custom).
func DefaultBaseURL(k string) string { return kinds[k].baseURL }

// KeyEnv is the usual environment variable holding a kind's key ("" for
// ollama and custom).
func KeyEnv(k string) string { return kinds[k].keyEnv }

// ModelConfig says which model answers and how to reach it. APIKey is a
// secret: String and GoString redact it and nothing logs it.
type ModelConfig struct {
	// Provider is the kind (openai, anthropic, openrouter, deepseek,
	// ollama, custom).
	Provider string
	// Name is the configured provider's name (often the kind itself); ""
	// is read as Provider.
	Name    string
	Model   string
	BaseURL string
	APIKey  string
	// hint says where the key should come from, for error messages.
	hint string
}

// ProviderName is Name, or Provider when no name is set.
func (c ModelConfig) ProviderName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Provider
}

// Ref is the "name/model" reference that selects this model again.
func (c ModelConfig) Ref() string { return c.ProviderName() + "/" + c.Model }

// String describes the config without its key.
func (c ModelConfig) String() string {
	key := "none"
	if c.APIKey != "" {
		key = "set"
	}
	s := fmt.Sprintf("provider=%s model=%s base_url=%s api_key=%s", c.Provider, c.Model, c.BaseURL, key)
	if c.Name != "" && c.Name != c.Provider {
		s = "name=" + c.Name + " " + s
	}
	return s
}

// GoString is String, so %#v does not print the key either.
func (c ModelConfig) GoString() string { return "agents.ModelConfig{" + c.String() + "}" }

// ConfigFromEnv reads VIBER_PROVIDER, VIBER_MODEL, VIBER_BASE_URL,
// VIBER_API_KEY, the usual OPENAI_API_KEY / OPENAI_BASE_URL and the other
// providers' usual keys (ANTHROPIC_API_KEY, OPENROUTER_API_KEY,
// DEEPSEEK_API_KEY): the default model of a configuration with no file.
// getenv is usually os.Getenv. Use LoadConfig to read the config file too.
func ConfigFromEnv(getenv func(string) string) ModelConfig {
	// Not validated: what the environment says is kept so Validate can
	// tell what is missing.
	mc, _ := EnvConfig(getenv).resolve("")
	return mc
}

// Validate reports whether the config can reach a model, with a message
// naming what to set when it cannot. It never mentions the key's value.
func (c ModelConfig) Validate() error {
	k, ok := kinds[c.Provider]
	if !ok {
		return fmt.Errorf("%w: unknown provider kind %q (use %s)", ErrNoModel, c.Provider, strings.Join(Kinds(), ", "))
	}
	name := c.ProviderName()
	if k.needKey && c.APIKey == "" {
		if c.hint != "" {
			return fmt.Errorf("%w: provider %s needs an API key: %s", ErrNoModel, name, c.hint)
		}
		if c.Provider == ProviderOpenAI {
			return fmt.Errorf("%w: set OPENAI_API_KEY (or VIBER_API_KEY) for OpenAI, or VIBER_PROVIDER=custom with VIBER_BASE_URL=http://host:port/v1 and VIBER_MODEL for an OpenAI-compatible server", ErrNoModel)
		}
		return fmt.Errorf("%w: provider %s needs an API key: set %s (or VIBER_API_KEY)", ErrNoModel, name, k.keyEnv)
	}
	var missing []string
	if c.Provider == ProviderCustom && c.BaseURL == "" {
		missing = append(missing, "a base URL (VIBER_BASE_URL, e.g. http://127.0.0.1:8000/v1, or base_url in the config file)")
	}
	if c.Model == "" && k.model == "" {
		missing = append(missing, "a model (VIBER_MODEL, model in the config file, or --model "+name+"/MODEL)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: provider %s (%s) needs %s", ErrNoModel, name, c.Provider, strings.Join(missing, " and "))
	}
	if c.BaseURL != "" {
		if err := checkBaseURL(c.BaseURL); err != nil {
			return fmt.Errorf("%w: provider %s: %v", ErrNoModel, name, err)
		}
	}
	return nil
}

func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("base URL %q is not an http(s) URL", redactURL(s))
	}
	return nil
}

// redactURL drops any user info from a URL before it goes into a message.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	return s
}

// NewModel returns a langchaingo model for the config.
//
// With anthropic, langchaingo v0.1.14 reads only the first part of each
// message it sends: an AI message must carry exactly one llms.ToolCall (or
// one text part), and a tool message exactly one llms.ToolCallResponse.
// Callers must put one tool call per AI message, each followed by its tool
// message; text that came with the calls goes in an AI message of its own
// before them. Its answers come back as one choice per content block (a
// text choice, then one choice per tool_use), with usage in the
// GenerationInfo keys InputTokens and OutputTokens (OpenAI-compatible kinds
// use PromptTokens and CompletionTokens).
func NewModel(c ModelConfig) (llms.Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	k := kinds[c.Provider]
	base := c.BaseURL
	if base == "" {
		base = k.baseURL
	}
	model := c.Model
	if model == "" {
		model = k.model
	}
	if c.Provider == ProviderAnthropic {
		m, err := anthropic.New(anthropic.WithToken(c.APIKey), anthropic.WithModel(model), anthropic.WithBaseURL(base))
		if err != nil {
			return nil, fmt.Errorf("%s client: %w", c.ProviderName(), err)
		}
		return &namedModel{Model: m, name: c.ProviderName(), base: redacted(base)}, nil
	}
	key := c.APIKey
	if key == "" {
		// openai.New refuses an empty token; local servers need none.
		key = "no-key"
	}
	// The base URL is always given so OPENAI_BASE_URL in the process
	// environment never redirects another provider's calls.
	opts := []openai.Option{openai.WithToken(key), openai.WithModel(model), openai.WithBaseURL(base)}
	if c.Provider != ProviderOpenAI {
		opts = append(opts, openai.WithOrganization(""))
	}
	m, err := openai.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("%s client: %w", c.ProviderName(), err)
	}
	return &namedModel{Model: m, name: c.ProviderName(), base: redacted(base)}, nil
}

// namedModel names the provider and the base URL it tried in the errors
// of its calls ("network error: failed to reach API server" alone does not
// say which server).
type namedModel struct {
	llms.Model
	name, base string
}

// redacted hides a password in a URL.
func redacted(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}

// GenerateContent implements llms.Model.
func (m *namedModel) GenerateContent(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
	resp, err := m.Model.GenerateContent(ctx, msgs, opts...)
	if err != nil && ctx.Err() == nil {
		err = fmt.Errorf("%s at %s: %w", m.name, m.base, err)
	}
	return resp, err
}

// MergeChoices folds a response into one choice: the text of every choice
// (in order), every tool call, and the first choice's stop reason and
// generation info (usage). Anthropic answers one choice per content block,
// so text and tool calls of the same turn arrive as separate choices;
// OpenAI-compatible kinds answer one choice, returned as is. Callers that
// read only Choices[0] would miss Anthropic's tool calls after text.
func MergeChoices(resp *llms.ContentResponse) *llms.ContentChoice {
	if resp == nil || len(resp.Choices) == 0 {
		return nil
	}
	if len(resp.Choices) == 1 {
		return resp.Choices[0]
	}
	out := &llms.ContentChoice{}
	var text strings.Builder
	for _, c := range resp.Choices {
		if c == nil {
			continue
		}
		if out.GenerationInfo == nil {
			out.StopReason, out.GenerationInfo = c.StopReason, c.GenerationInfo
		}
		text.WriteString(c.Content)
		out.ToolCalls = append(out.ToolCalls, c.ToolCalls...)
		if c.FuncCall != nil && out.FuncCall == nil {
			out.FuncCall = c.FuncCall
		}
		if c.ReasoningContent != "" {
			out.ReasoningContent += c.ReasoningContent
		}
	}
	out.Content = text.String()
	return out
}
