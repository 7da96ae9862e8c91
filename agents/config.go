package agents

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is Viber's agent configuration: ~/.viber/config.yaml (or
// $VIBER_HOME/config.yaml, or --config) plus the usual environment
// variables. Read it with LoadConfig; pick a model with Resolve.
//
//	default_model: anthropic/claude-sonnet-4-5
//	providers:
//	  anthropic: {api_key_env: ANTHROPIC_API_KEY}
//	  local: {kind: custom, base_url: "http://127.0.0.1:8000/v1", model: qwen3}
//	max_steps: 25
//	policy: {shell: ask, web_fetch: allow}
//	shell_rules:
//	  - {prefix: "git status", policy: allow}
//	shell_timeout: 60s
//	allow_private_networks: false
//	mcp_servers:
//	  files: {command: npx, args: ["-y", "@modelcontextprotocol/server-filesystem", "/srv/docs"]}
//	  github: {url: "https://api.example.com/mcp", headers: {Authorization: "Bearer ${GITHUB_TOKEN}"}}
//	webhook_secret: change-me
//	prices:
//	  anthropic/claude-sonnet-4-5: {input_per_mtok: 3, output_per_mtok: 15}
type Config struct {
	// DefaultModel is "name/model", "name" (that provider's default model)
	// or "model" (for the default provider). VIBER_PROVIDER and
	// VIBER_MODEL override it.
	DefaultModel string `yaml:"default_model"`
	// Providers by name. A provider named like a kind (openai,
	// anthropic, ...) needs no kind.
	Providers map[string]ProviderConfig `yaml:"providers"`
	// MaxSteps bounds the model calls of a turn (0: the default).
	MaxSteps int `yaml:"max_steps"`
	// Policy maps a tool name to allow, ask or deny.
	Policy map[string]string `yaml:"policy"`
	// ShellRules decide shell commands by prefix.
	ShellRules []ShellRuleConfig `yaml:"shell_rules"`
	// ShellTimeout is a duration ("60s", "2m"); "" means the default.
	// ShellTimeoutDuration parses it.
	ShellTimeout string `yaml:"shell_timeout"`
	// AllowPrivateNetworks lets web_fetch reach private and loopback
	// addresses.
	AllowPrivateNetworks bool `yaml:"allow_private_networks"`
	// MCPServers are Model Context Protocol servers whose tools the
	// daemon's workers may call, by server name (see docs/mcp.md).
	MCPServers map[string]MCPServerConfig `yaml:"mcp_servers"`
	// Channels are the chat bridges (see ChannelsConfig).
	Channels ChannelsConfig `yaml:"channels"`
	// WebhookSecret signs the webhook notifications of `viber up`'s
	// gateway (vibergw takes --webhook-secret); VIBER_WEBHOOK_SECRET
	// overrides it.
	WebhookSecret string `yaml:"webhook_secret"`
	// WebhookAllowPrivateNetworks lets notify URLs reach private and
	// loopback addresses.
	WebhookAllowPrivateNetworks bool `yaml:"webhook_allow_private_networks"`
	// Prices is the price table by "provider/model" (the provider's name
	// in this file): completed turns record what their tokens cost.
	Prices map[string]Price `yaml:"prices"`

	// Path is the file the config was read from ("" when none was).
	Path string `yaml:"-"`

	getenv func(string) string
	where  string // the file to name in messages
}

// ProviderConfig is one named provider. APIKey is a secret: String and
// GoString redact it; prefer APIKeyEnv, the name of the variable holding
// the key. With neither, the kind's usual variable (ANTHROPIC_API_KEY...)
// is read.
type ProviderConfig struct {
	// Kind is openai, anthropic, openrouter, deepseek, ollama or custom;
	// "" means the provider's name.
	Kind string `yaml:"kind"`
	// BaseURL overrides the kind's base URL (required for custom).
	BaseURL   string `yaml:"base_url"`
	APIKey    string `yaml:"api_key"`
	APIKeyEnv string `yaml:"api_key_env"`
	// Model is the provider's default model.
	Model string `yaml:"model"`
}

// String describes the provider without its key.
func (p ProviderConfig) String() string {
	key := "none"
	switch {
	case p.APIKey != "":
		key = "set"
	case p.APIKeyEnv != "":
		key = "$" + p.APIKeyEnv
	}
	return fmt.Sprintf("kind=%s base_url=%s model=%s api_key=%s", p.Kind, redactURL(p.BaseURL), p.Model, key)
}

// GoString is String, so %#v does not print the key either.
func (p ProviderConfig) GoString() string { return "agents.ProviderConfig{" + p.String() + "}" }

// ShellRuleConfig is a shell rule as written in the config file: commands
// starting with Prefix get Policy (allow, ask or deny).
type ShellRuleConfig struct {
	Prefix string `yaml:"prefix"`
	Policy string `yaml:"policy"`
}

// DefaultConfigPath is $VIBER_HOME/config.yaml, or ~/.viber/config.yaml.
func DefaultConfigPath(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	if h := strings.TrimSpace(getenv("VIBER_HOME")); h != "" {
		return filepath.Join(h, "config.yaml")
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".viber", "config.yaml")
}

// EnvConfig is the configuration of the environment alone, as if there
// were no config file.
func EnvConfig(getenv func(string) string) *Config {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := &Config{getenv: getenv}
	c.where = shortPath(DefaultConfigPath(getenv), getenv)
	return c
}

// LoadConfig reads the config file at path and the environment (getenv is
// usually os.Getenv). path "" means DefaultConfigPath, which need not
// exist; an explicit path must. Unknown fields are errors naming the field
// and line; Validate's problems are returned all at once.
func LoadConfig(path string, getenv func(string) string) (*Config, error) {
	c := EnvConfig(getenv)
	explicit := path != ""
	if !explicit {
		path = DefaultConfigPath(c.getenv)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return c, nil
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config %s: %s", path, yamlError(err))
	}
	c.Path = path
	c.where = shortPath(path, c.getenv)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

var unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type agents\.(\w+)$`)

// yamlError rewrites yaml.v3's errors for people: one problem a line,
// unknown fields named with where they may appear.
func yamlError(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return strings.TrimPrefix(err.Error(), "yaml: ")
	}
	where := map[string]string{"Config": "", "ProviderConfig": " in a provider", "ShellRuleConfig": " in a shell rule", "MCPServerConfig": " in an MCP server",
		"ChannelsConfig": " in channels", "TelegramChannel": " in channels.telegram", "SlackChannel": " in channels.slack"}
	fields := map[string][]string{"Config": yamlFields(Config{}), "ProviderConfig": yamlFields(ProviderConfig{}), "ShellRuleConfig": yamlFields(ShellRuleConfig{}), "MCPServerConfig": yamlFields(MCPServerConfig{}),
		"ChannelsConfig": yamlFields(ChannelsConfig{}), "TelegramChannel": yamlFields(TelegramChannel{}), "SlackChannel": yamlFields(SlackChannel{})}
	var out []string
	for _, e := range te.Errors {
		if m := unknownField.FindStringSubmatch(e); m != nil {
			e = fmt.Sprintf("line %s: unknown field %q%s", m[1], m[2], where[m[3]])
			if near := nearest(m[2], fields[m[3]]); near != "" {
				e += fmt.Sprintf(" (did you mean %q?)", near)
			}
		}
		out = append(out, e)
	}
	return strings.Join(out, "; ")
}

// yamlFields lists the YAML keys of a config struct.
func yamlFields(v any) []string {
	t := reflect.TypeOf(v)
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// nearest is the known key closest to a misspelt one, when it is at most
// two edits away (or "").
func nearest(key string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Damerau-Levenshtein distance (adjacent swaps count
// as one edit) between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// shortPath writes the default file as ~/.viber/config.yaml in messages.
func shortPath(p string, getenv func(string) string) string {
	if home := getenv("HOME"); home != "" {
		if rel, err := filepath.Rel(home, p); err == nil && !strings.HasPrefix(rel, "..") {
			return "~/" + filepath.ToSlash(rel)
		}
	}
	return p
}

func validPolicy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "allow", "ask", "deny":
		return true
	}
	return false
}

// Validate reports every problem of the config, joined.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, name := range sortedKeys(c.Providers) {
		p := c.Providers[name]
		at := "providers." + name
		if strings.TrimSpace(name) == "" || strings.ContainsAny(name, "/ \t") {
			bad("%s: a provider name may not be empty or hold '/' or spaces", at)
		}
		k := p.Kind
		if k == "" {
			k = name
		}
		if !KnownKind(k) {
			if p.Kind == "" {
				bad("%s: kind is missing (use %s)", at, strings.Join(Kinds(), ", "))
			} else {
				bad("%s: unknown kind %q (use %s)", at, p.Kind, strings.Join(Kinds(), ", "))
			}
		}
		if k == ProviderCustom && p.BaseURL == "" {
			bad("%s: kind custom needs base_url (e.g. http://127.0.0.1:8000/v1)", at)
		}
		if p.BaseURL != "" {
			if err := checkBaseURL(p.BaseURL); err != nil {
				bad("%s: %v", at, err)
			}
		}
		if p.APIKey != "" && p.APIKeyEnv != "" {
			bad("%s: set api_key or api_key_env, not both", at)
		}
	}
	if c.MaxSteps < 0 {
		bad("max_steps: %d is negative", c.MaxSteps)
	}
	for _, tool := range sortedKeys(c.Policy) {
		if strings.TrimSpace(tool) == "" {
			bad("policy: empty tool name")
		}
		if !validPolicy(c.Policy[tool]) {
			bad("policy.%s: %q is not allow, ask or deny", tool, c.Policy[tool])
		}
	}
	for i, r := range c.ShellRules {
		if strings.TrimSpace(r.Prefix) == "" {
			bad("shell_rules[%d]: prefix is empty", i)
		}
		if !validPolicy(r.Policy) {
			bad("shell_rules[%d]: policy %q is not allow, ask or deny", i, r.Policy)
		}
	}
	if c.ShellTimeout != "" {
		if d, err := time.ParseDuration(c.ShellTimeout); err != nil || d <= 0 {
			bad("shell_timeout: %q is not a positive duration (e.g. 60s, 2m)", c.ShellTimeout)
		}
	}
	prefixes := map[string]string{}
	for _, name := range sortedKeys(c.MCPServers) {
		errs = append(errs, c.MCPServers[name].validate(name)...)
		p := MCPToolPrefix(name)
		if other, dup := prefixes[p]; dup {
			bad("mcp_servers.%s: its tools would be named like %s's (%s...); rename one", name, other, p)
		}
		prefixes[p] = name
	}
	c.Channels.validate(bad)
	for _, ref := range sortedKeys(c.Prices) {
		errs = append(errs, c.Prices[ref].validate(ref)...)
	}
	return errors.Join(errs...)
}

// ShellTimeoutDuration is ShellTimeout parsed; 0 when unset or invalid
// (callers apply their default).
func (c *Config) ShellTimeoutDuration() time.Duration {
	d, err := time.ParseDuration(c.ShellTimeout)
	if err != nil || d < 0 {
		return 0
	}
	return d
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Getenv returns the environment the config was loaded with (os.Getenv
// when none was given), for expanding ${VAR} in MCP server settings.
func (c *Config) Getenv() func(string) string {
	if c.getenv == nil {
		return os.Getenv
	}
	return c.getenv
}

func (c *Config) env(name string) string {
	if c.getenv == nil {
		return ""
	}
	return strings.TrimSpace(c.getenv(name))
}

func (c *Config) file() string {
	if c.where != "" {
		return c.where
	}
	return "~/.viber/config.yaml"
}

// hasProvider reports whether name is a configured provider or a kind
// (an implicit provider).
func (c *Config) hasProvider(name string) bool {
	if _, ok := c.Providers[name]; ok {
		return true
	}
	return KnownKind(name)
}

// kindOf is the kind of a provider name ("" when unknown).
func (c *Config) kindOf(name string) string {
	if p, ok := c.Providers[name]; ok && p.Kind != "" {
		return p.Kind
	}
	if c.hasProvider(name) {
		return name
	}
	return ""
}

// slashModels are kinds whose model names commonly hold a '/', so a
// reference with an unknown prefix is read as a whole model name.
func slashModels(kind string) bool {
	return kind == ProviderOpenRouter || kind == ProviderOllama || kind == ProviderCustom
}

// defaultProvider picks the default provider's name and the model the
// defaults ask for ("" for the provider's own default).
func (c *Config) defaultProvider() (name, model string) {
	if p := strings.ToLower(c.env("VIBER_PROVIDER")); p != "" {
		name = p
	} else if dm := strings.TrimSpace(c.DefaultModel); dm != "" {
		prefix, rest, slash := strings.Cut(dm, "/")
		switch {
		case slash && c.hasProvider(prefix):
			name, model = prefix, rest
		case !slash && c.hasProvider(dm):
			name = dm
		default:
			model = dm
		}
	}
	if name == "" {
		name = c.autoProvider()
	}
	if m := c.env("VIBER_MODEL"); m != "" {
		model = m
	}
	return name, model
}

// autoProvider is the provider used when nothing names one: a configured
// provider (by kind order, then name), else the first kind whose usual key
// variable is set, else openai.
func (c *Config) autoProvider() string {
	names := sortedKeys(c.Providers)
	order := Kinds()
	slices.SortStableFunc(names, func(a, b string) int {
		return slices.Index(order, c.kindOf(a)) - slices.Index(order, c.kindOf(b))
	})
	if len(names) > 0 {
		return names[0]
	}
	for _, k := range order {
		if env := KeyEnv(k); env != "" && c.env(env) != "" {
			return k
		}
	}
	return ProviderOpenAI
}

// Resolve picks a model: ref "" is the default, "name/model" the provider
// named name (configured, or implicit by kind) with that model, "name" that
// provider's default model, and "model" the default provider with that
// model. A reference whose prefix is no provider is read as a whole model
// name when the default provider is openrouter, ollama or custom (their
// model names hold slashes). Errors wrap ErrNoModel and say what to set;
// they never hold a key.
func (c *Config) Resolve(ref string) (ModelConfig, error) {
	mc, err := c.resolve(ref)
	if err != nil {
		return ModelConfig{}, err
	}
	if err := mc.Validate(); err != nil {
		return ModelConfig{}, err
	}
	return mc, nil
}

func (c *Config) resolve(ref string) (ModelConfig, error) {
	ref = strings.TrimSpace(ref)
	defName, defModel := c.defaultProvider()
	if ref == "" {
		return c.build(defName, defModel, true)
	}
	prefix, rest, slash := strings.Cut(ref, "/")
	switch {
	case slash && c.hasProvider(prefix):
		if rest == "" {
			return ModelConfig{}, fmt.Errorf("%w: model reference %q names no model (write %s/MODEL)", ErrNoModel, ref, prefix)
		}
		return c.build(prefix, rest, prefix == defName)
	case slash && !slashModels(c.kindOf(defName)):
		return ModelConfig{}, fmt.Errorf("%w: model reference %q: no provider named %q (known: %s; add providers.%s to %s)",
			ErrNoModel, ref, prefix, strings.Join(c.known(), ", "), prefix, c.file())
	case !slash && c.hasProvider(ref):
		return c.build(ref, "", ref == defName)
	}
	return c.build(defName, ref, true)
}

// known lists the configured providers and the kinds.
func (c *Config) known() []string {
	out := sortedKeys(c.Providers)
	for _, k := range Kinds() {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// build makes the ModelConfig of provider name with model ("" for the
// provider's default); isDefault applies the VIBER_* overrides. The result
// is not validated.
func (c *Config) build(name, model string, isDefault bool) (ModelConfig, error) {
	p, configured := c.Providers[name]
	kind := p.Kind
	if kind == "" {
		kind = name
	}
	mc := ModelConfig{Provider: kind, Name: name, Model: model, BaseURL: p.BaseURL}
	if !KnownKind(kind) {
		return mc, fmt.Errorf("%w: unknown provider %q (use one of %s, or add providers.%s to %s)",
			ErrNoModel, name, strings.Join(c.known(), ", "), name, c.file())
	}
	if mc.Model == "" && isDefault {
		mc.Model = c.env("VIBER_MODEL")
	}
	if mc.Model == "" {
		mc.Model = p.Model
	}
	if mc.Model == "" {
		mc.Model = kinds[kind].model
	}

	keyEnv := KeyEnv(kind)
	switch {
	case p.APIKey != "":
		mc.APIKey = p.APIKey
	case p.APIKeyEnv != "":
		mc.APIKey = c.env(p.APIKeyEnv)
	case keyEnv != "":
		mc.APIKey = c.env(keyEnv)
	}
	if isDefault {
		if k := c.env("VIBER_API_KEY"); k != "" {
			mc.APIKey = k
		}
		if mc.APIKey == "" && kind == ProviderCustom && !configured {
			mc.APIKey = c.env("OPENAI_API_KEY")
		}
		if u := c.env("VIBER_BASE_URL"); u != "" {
			mc.BaseURL = u
		}
	}
	if mc.BaseURL == "" && (kind == ProviderOpenAI || (kind == ProviderCustom && isDefault && !configured)) {
		mc.BaseURL = c.env("OPENAI_BASE_URL")
	}
	if mc.BaseURL == "" {
		mc.BaseURL = DefaultBaseURL(kind)
	}

	switch {
	case !kinds[kind].needKey:
	case p.APIKeyEnv != "":
		mc.hint = fmt.Sprintf("set %s (providers.%s.api_key_env in %s)", p.APIKeyEnv, name, c.file())
	case configured:
		mc.hint = fmt.Sprintf("set %s or api_key_env in providers.%s of %s", keyEnv, name, c.file())
	case kind == ProviderOpenAI && isDefault && len(c.Providers) == 0:
		mc.hint = fmt.Sprintf("set OPENAI_API_KEY (or VIBER_API_KEY) for OpenAI, or ANTHROPIC_API_KEY, OPENROUTER_API_KEY or DEEPSEEK_API_KEY, or VIBER_PROVIDER=custom with VIBER_BASE_URL=http://host:port/v1 and VIBER_MODEL for an OpenAI-compatible server, or add providers to %s", c.file())
	default:
		mc.hint = fmt.Sprintf("set %s or add providers.%s to %s", keyEnv, name, c.file())
	}
	return mc, nil
}
