package agents_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/viberhq/viber/agents"
)

// env is a getenv over a map; VIBER_HOME points at an empty directory so
// no test reads the real ~/.viber.
func env(t *testing.T, kv ...string) func(string) string {
	t.Helper()
	m := map[string]string{"VIBER_HOME": t.TempDir(), "HOME": "/nonexistent-home"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const validConfig = `# a full config
default_model: anthropic/claude-opus-4-1
providers:
  anthropic:
    api_key_env: MY_ANTHROPIC_KEY
  local:
    kind: custom
    base_url: http://127.0.0.1:8000/v1
    model: qwen3-coder
  router:
    kind: openrouter
    api_key: sk-or-inline-secret
  box:
    kind: ollama
    base_url: http://gpu-box:11434/v1
max_steps: 40
policy:
  shell: ask
  write_file: allow
  web_fetch: deny
shell_rules:
  - prefix: git status
    policy: allow
  - {prefix: "rm ", policy: deny}
shell_timeout: 90s
allow_private_networks: true
`

func TestLoadConfigValid(t *testing.T) {
	getenv := env(t, "MY_ANTHROPIC_KEY", "sk-ant-env-secret")
	c, err := agents.LoadConfig(writeConfig(t, validConfig), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxSteps != 40 || !c.AllowPrivateNetworks || c.ShellTimeoutDuration() != 90*time.Second {
		t.Fatalf("scalars: %+v", c)
	}
	if c.Policy["shell"] != "ask" || c.Policy["web_fetch"] != "deny" || len(c.Policy) != 3 {
		t.Fatalf("policy: %v", c.Policy)
	}
	want := []agents.ShellRuleConfig{{Prefix: "git status", Policy: "allow"}, {Prefix: "rm ", Policy: "deny"}}
	if fmt.Sprint(c.ShellRules) != fmt.Sprint(want) {
		t.Fatalf("shell rules: %v", c.ShellRules)
	}
	if c.Path == "" || len(c.Providers) != 4 || c.Providers["local"].Kind != agents.ProviderCustom {
		t.Fatalf("providers: %v (path %q)", c.Providers, c.Path)
	}

	mc, err := c.Resolve("")
	if err != nil {
		t.Fatal(err)
	}
	if mc.Provider != agents.ProviderAnthropic || mc.Name != "anthropic" || mc.Model != "claude-opus-4-1" ||
		mc.APIKey != "sk-ant-env-secret" || mc.BaseURL != "https://api.anthropic.com/v1" {
		t.Fatalf("default: %v", mc)
	}
	mc, err = c.Resolve("local")
	if err != nil {
		t.Fatal(err)
	}
	if mc.Provider != agents.ProviderCustom || mc.Model != "qwen3-coder" || mc.BaseURL != "http://127.0.0.1:8000/v1" || mc.APIKey != "" {
		t.Fatalf("local: %v", mc)
	}
	mc, err = c.Resolve("router/meta-llama/llama-3.3-70b-instruct")
	if err != nil {
		t.Fatal(err)
	}
	if mc.Provider != agents.ProviderOpenRouter || mc.Name != "router" || mc.Model != "meta-llama/llama-3.3-70b-instruct" ||
		mc.APIKey != "sk-or-inline-secret" || mc.BaseURL != "https://openrouter.ai/api/v1" {
		t.Fatalf("router: %v", mc)
	}
	if mc.Ref() != "router/meta-llama/llama-3.3-70b-instruct" {
		t.Fatalf("ref: %s", mc.Ref())
	}
	mc, err = c.Resolve("box/llama3.2")
	if err != nil {
		t.Fatal(err)
	}
	if mc.Provider != agents.ProviderOllama || mc.BaseURL != "http://gpu-box:11434/v1" || mc.Model != "llama3.2" {
		t.Fatalf("box: %v", mc)
	}
}

func TestLoadConfigEmptyFile(t *testing.T) {
	c, err := agents.LoadConfig(writeConfig(t, "# nothing yet\n"), env(t, "OPENAI_API_KEY", "sk-1"))
	if err != nil {
		t.Fatal(err)
	}
	if mc, err := c.Resolve(""); err != nil || mc.Provider != agents.ProviderOpenAI || mc.Model != agents.DefaultOpenAIModel {
		t.Fatalf("%v %v", mc, err)
	}
}

func TestLoadConfigUnknownField(t *testing.T) {
	_, err := agents.LoadConfig(writeConfig(t, "max_steps: 3\nproviders:\n  openai:\n    modle: gpt-4o\nshel_timeout: 3s\n"), env(t))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`line 4: unknown field "modle" in a provider (did you mean "model"?)`, `line 5: unknown field "shel_timeout" (did you mean "shell_timeout"?)`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestLoadConfigEveryProblem(t *testing.T) {
	_, err := agents.LoadConfig(writeConfig(t, `
providers:
  mine: {kind: gemini}
  nokind: {model: x}
  local: {kind: custom}
  bad: {kind: openai, base_url: "ftp://x", api_key: sk-1, api_key_env: K}
max_steps: -1
policy: {shell: sometimes}
shell_rules:
  - {prefix: "", policy: allow}
  - {prefix: ls, policy: maybe}
shell_timeout: soon
`), env(t))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`providers.mine: unknown kind "gemini"`,
		`providers.nokind: kind is missing`,
		`providers.local: kind custom needs base_url`,
		`providers.bad: base URL "ftp://x" is not an http(s) URL`,
		`providers.bad: set api_key or api_key_env, not both`,
		`max_steps: -1 is negative`,
		`policy.shell: "sometimes" is not allow, ask or deny`,
		`shell_rules[0]: prefix is empty`,
		`shell_rules[1]: policy "maybe" is not allow, ask or deny`,
		`shell_timeout: "soon" is not a positive duration`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "sk-1") {
		t.Errorf("error shows a key: %v", err)
	}
}

func TestLoadConfigPaths(t *testing.T) {
	// A missing explicit file is an error.
	if _, err := agents.LoadConfig(filepath.Join(t.TempDir(), "nope.yaml"), env(t)); err == nil {
		t.Fatal("missing explicit file: no error")
	}
	// A missing default file is fine.
	c, err := agents.LoadConfig("", env(t))
	if err != nil || c.Path != "" {
		t.Fatalf("missing default file: %v %v", c, err)
	}
	// $VIBER_HOME/config.yaml is the default file.
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "config.yaml"), []byte("max_steps: 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = agents.LoadConfig("", env(t, "VIBER_HOME", home))
	if err != nil || c.MaxSteps != 7 || c.Path != filepath.Join(home, "config.yaml") {
		t.Fatalf("VIBER_HOME: %+v %v", c, err)
	}
	// Else ~/.viber/config.yaml.
	if got := agents.DefaultConfigPath(func(k string) string { return map[string]string{"HOME": "/h"}[k] }); got != "/h/.viber/config.yaml" {
		t.Fatalf("default path %s", got)
	}
}

func TestEnvOnly(t *testing.T) {
	getenv := env(t, "ANTHROPIC_API_KEY", "sk-ant-1", "DEEPSEEK_API_KEY", "sk-ds-1")
	c, err := agents.LoadConfig("", getenv)
	if err != nil {
		t.Fatal(err)
	}
	// No OpenAI key: the first kind with a key is the default.
	mc, err := c.Resolve("")
	if err != nil || mc.Provider != agents.ProviderAnthropic || mc.Model != agents.DefaultAnthropicModel || mc.APIKey != "sk-ant-1" {
		t.Fatalf("default: %v %v", mc, err)
	}
	mc, err = c.Resolve("deepseek/deepseek-reasoner")
	if err != nil || mc.Provider != agents.ProviderDeepSeek || mc.BaseURL != "https://api.deepseek.com/v1" || mc.APIKey != "sk-ds-1" {
		t.Fatalf("deepseek: %v %v", mc, err)
	}
	// Ollama needs no key but a model.
	mc, err = c.Resolve("ollama/llama3.2")
	if err != nil || mc.BaseURL != "http://127.0.0.1:11434/v1" || mc.APIKey != "" {
		t.Fatalf("ollama: %v %v", mc, err)
	}
	if _, err := c.Resolve("ollama"); !errors.Is(err, agents.ErrNoModel) || !strings.Contains(err.Error(), "needs a model") {
		t.Fatalf("ollama without model: %v", err)
	}
	_, err = c.Resolve("openai/gpt-4o")
	if !errors.Is(err, agents.ErrNoModel) || !strings.Contains(err.Error(), "set OPENAI_API_KEY or add providers.openai to ") {
		t.Fatalf("openai without key: %v", err)
	}
	_, err = c.Resolve("openrouter/x/y")
	if !errors.Is(err, agents.ErrNoModel) || !strings.Contains(err.Error(), "set OPENROUTER_API_KEY or add providers.openrouter to") {
		t.Fatalf("openrouter without key: %v", err)
	}
}

func TestResolve(t *testing.T) {
	path := writeConfig(t, `
default_model: gpt-4.1
providers:
  openai: {}
  work: {kind: anthropic, api_key_env: WORK_KEY, model: claude-haiku-4-5}
  vllm: {kind: custom, base_url: "http://10.0.0.5:8000/v1"}
`)
	c, err := agents.LoadConfig(path, env(t, "OPENAI_API_KEY", "sk-oa", "WORK_KEY", "sk-work", "ANTHROPIC_API_KEY", "sk-ant"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ref                    string
		name, kind, model, key string
		errContains            string
	}{
		{ref: "", name: "openai", kind: "openai", model: "gpt-4.1", key: "sk-oa"},
		{ref: "o3", name: "openai", kind: "openai", model: "o3", key: "sk-oa"},
		{ref: "openai", name: "openai", kind: "openai", model: agents.DefaultOpenAIModel, key: "sk-oa"},
		{ref: "work", name: "work", kind: "anthropic", model: "claude-haiku-4-5", key: "sk-work"},
		{ref: "work/claude-opus-4-1", name: "work", kind: "anthropic", model: "claude-opus-4-1", key: "sk-work"},
		// Implicit by kind, key from the usual variable.
		{ref: "anthropic/claude-sonnet-4-5", name: "anthropic", kind: "anthropic", model: "claude-sonnet-4-5", key: "sk-ant"},
		{ref: "vllm/qwen3", name: "vllm", kind: "custom", model: "qwen3"},
		{ref: "vllm", errContains: "provider vllm (custom) needs a model"},
		{ref: "nowhere/model", errContains: `no provider named "nowhere"`},
		{ref: "work/", errContains: "names no model"},
		{ref: "deepseek/deepseek-chat", errContains: "set DEEPSEEK_API_KEY or add providers.deepseek to " + path},
	} {
		mc, err := c.Resolve(tc.ref)
		if tc.errContains != "" {
			if !errors.Is(err, agents.ErrNoModel) || !strings.Contains(err.Error(), tc.errContains) {
				t.Errorf("%q: error %v, want %q", tc.ref, err, tc.errContains)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.ref, err)
			continue
		}
		if mc.Name != tc.name || mc.Provider != tc.kind || mc.Model != tc.model || mc.APIKey != tc.key {
			t.Errorf("%q: got %v key %v", tc.ref, mc, mc.APIKey == tc.key)
		}
	}

	// A configured provider whose api_key_env is empty says so.
	c2, err := agents.LoadConfig(path, env(t, "OPENAI_API_KEY", "sk-oa"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Resolve("work"); !errors.Is(err, agents.ErrNoModel) || !strings.Contains(err.Error(), "set WORK_KEY") {
		t.Fatalf("work without key: %v", err)
	}
}

func TestResolveSlashModelsOnOpenRouter(t *testing.T) {
	c, err := agents.LoadConfig("", env(t, "OPENROUTER_API_KEY", "sk-or"))
	if err != nil {
		t.Fatal(err)
	}
	// The default is openrouter, whose model names hold slashes.
	mc, err := c.Resolve("meta-llama/llama-3.3-70b-instruct")
	if err != nil || mc.Provider != agents.ProviderOpenRouter || mc.Model != "meta-llama/llama-3.3-70b-instruct" {
		t.Fatalf("%v %v", mc, err)
	}
	if mc, err := c.Resolve(""); err != nil || mc.Model != agents.DefaultOpenRouterModel {
		t.Fatalf("%v %v", mc, err)
	}
}

func TestViberEnvOverridesDefault(t *testing.T) {
	path := writeConfig(t, "default_model: anthropic/claude-opus-4-1\nproviders:\n  anthropic: {api_key: sk-file}\n")
	getenv := env(t, "VIBER_PROVIDER", "custom", "VIBER_BASE_URL", "http://127.0.0.1:9/v1", "VIBER_MODEL", "m1", "VIBER_API_KEY", "sk-viber")
	c, err := agents.LoadConfig(path, getenv)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := c.Resolve("")
	if err != nil || mc.Provider != agents.ProviderCustom || mc.Model != "m1" || mc.BaseURL != "http://127.0.0.1:9/v1" || mc.APIKey != "sk-viber" {
		t.Fatalf("default: %v %v", mc, err)
	}
	// Another model of the default provider keeps its base URL and key.
	mc, err = c.Resolve("custom/m2")
	if err != nil || mc.Model != "m2" || mc.BaseURL != "http://127.0.0.1:9/v1" || mc.APIKey != "sk-viber" {
		t.Fatalf("custom/m2: %v %v", mc, err)
	}
	mc, err = c.Resolve("m3")
	if err != nil || mc.Provider != agents.ProviderCustom || mc.Model != "m3" {
		t.Fatalf("m3: %v %v", mc, err)
	}
	// The configured provider keeps its own key.
	mc, err = c.Resolve("anthropic/claude-haiku-4-5")
	if err != nil || mc.APIKey != "sk-file" || mc.BaseURL != "https://api.anthropic.com/v1" {
		t.Fatalf("anthropic: %v %v", mc, err)
	}
}

func TestConfigFromEnvAsBefore(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want agents.ModelConfig
	}{
		{"custom", []string{"VIBER_PROVIDER", "custom", "VIBER_MODEL", "fake-model", "VIBER_BASE_URL", "http://127.0.0.1:1/v1", "VIBER_API_KEY", "sk-x"},
			agents.ModelConfig{Provider: "custom", Name: "custom", Model: "fake-model", BaseURL: "http://127.0.0.1:1/v1", APIKey: "sk-x"}},
		{"custom with the OpenAI variables", []string{"VIBER_PROVIDER", "custom", "VIBER_MODEL", "m", "OPENAI_BASE_URL", "http://127.0.0.1:2/v1", "OPENAI_API_KEY", "sk-o"},
			agents.ModelConfig{Provider: "custom", Name: "custom", Model: "m", BaseURL: "http://127.0.0.1:2/v1", APIKey: "sk-o"}},
		{"openai", []string{"OPENAI_API_KEY", "sk-o"},
			agents.ModelConfig{Provider: "openai", Name: "openai", Model: agents.DefaultOpenAIModel, BaseURL: "https://api.openai.com/v1", APIKey: "sk-o"}},
		{"openai elsewhere", []string{"OPENAI_API_KEY", "sk-o", "OPENAI_BASE_URL", "http://proxy:1/v1", "VIBER_MODEL", "gpt-4.1"},
			agents.ModelConfig{Provider: "openai", Name: "openai", Model: "gpt-4.1", BaseURL: "http://proxy:1/v1", APIKey: "sk-o"}},
	} {
		got := agents.ConfigFromEnv(env(t, tc.env...))
		if got.String() != tc.want.String() || got.APIKey != tc.want.APIKey {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}

	// Nothing set: openai, and the error says what to set.
	mc := agents.ConfigFromEnv(env(t))
	if mc.Provider != agents.ProviderOpenAI || mc.Model != agents.DefaultOpenAIModel {
		t.Fatalf("nothing set: %v", mc)
	}
	err := mc.Validate()
	if !errors.Is(err, agents.ErrNoModel) {
		t.Fatalf("nothing set: %v", err)
	}
	for _, want := range []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "VIBER_BASE_URL", "VIBER_MODEL", "config.yaml"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// A literal config as callers build them keeps its message.
	err = agents.ModelConfig{Provider: agents.ProviderOpenAI, Model: agents.DefaultOpenAIModel}.Validate()
	if !errors.Is(err, agents.ErrNoModel) || !strings.Contains(err.Error(), "OPENAI_API_KEY") || !strings.Contains(err.Error(), "VIBER_BASE_URL") {
		t.Fatalf("literal: %v", err)
	}
	if err := (agents.ModelConfig{Provider: "gemini"}).Validate(); !errors.Is(err, agents.ErrNoModel) || !strings.Contains(err.Error(), "unknown provider kind") {
		t.Fatalf("unknown kind: %v", err)
	}
}

func TestKeysNeverShown(t *testing.T) {
	const secret = "sk-very-secret-value"
	path := writeConfig(t, "providers:\n  router: {kind: openrouter, api_key: "+secret+"}\n  anthropic: {api_key: "+secret+"}\n")
	c, err := agents.LoadConfig(path, env(t, "OPENAI_API_KEY", secret))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := c.Resolve("router/some/model")
	if err != nil || mc.APIKey != secret {
		t.Fatalf("%v %v", mc, err)
	}
	var shown []string
	shown = append(shown, mc.String(), fmt.Sprintf("%v %+v %#v %s", mc, mc, mc, mc))
	shown = append(shown, fmt.Sprintf("%v %+v %#v", c.Providers, c.Providers, c.Providers["router"]))
	for _, ref := range []string{"nowhere/x", "deepseek/x", "anthropic/", "custom"} {
		if _, err := c.Resolve(ref); err != nil {
			shown = append(shown, err.Error())
		} else {
			t.Errorf("%q resolved", ref)
		}
	}
	for _, s := range shown {
		if strings.Contains(s, secret) {
			t.Errorf("key shown: %s", s)
		}
	}
	if !strings.Contains(mc.String(), "api_key=set") {
		t.Errorf("String: %s", mc)
	}
}

func TestLoadConfigMCPServers(t *testing.T) {
	t.Parallel()
	c, err := agents.LoadConfig(writeConfig(t, `
mcp_servers:
  files: {command: npx, args: ["-y", "@modelcontextprotocol/server-filesystem", "/srv/docs"], cwd: /tmp}
  github:
    url: https://api.example.com/mcp
    headers: {Authorization: "Bearer ${GITHUB_TOKEN}"}
    enabled_tools: ["get_*", "search_issues"]
    tool_timeout: 90s
    policy: allow
`), env(t))
	if err != nil {
		t.Fatal(err)
	}
	gh := c.MCPServers["github"]
	if gh.Transport() != "http" || c.MCPServers["files"].Transport() != "stdio" {
		t.Errorf("transports: github %s, files %s", gh.Transport(), c.MCPServers["files"].Transport())
	}
	if gh.ToolTimeoutDuration().Seconds() != 90 {
		t.Errorf("tool_timeout = %v", gh.ToolTimeoutDuration())
	}
	if s := fmt.Sprintf("%v %#v", gh, gh); strings.Contains(s, "Bearer") {
		t.Errorf("printing the config shows a header value: %s", s)
	}
	v, err := agents.ExpandMCPValue("Bearer ${GITHUB_TOKEN}", func(string) string { return "tok" })
	if err != nil || v != "Bearer tok" {
		t.Errorf("expand = %q, %v", v, err)
	}
	if _, err := agents.ExpandMCPValue("${NOPE}", func(string) string { return "" }); !errors.Is(err, agents.ErrMCPVarUnset) || !strings.Contains(err.Error(), "NOPE") {
		t.Errorf("expanding an unset variable: %v", err)
	}
}

func TestLoadConfigMCPServerProblems(t *testing.T) {
	t.Parallel()
	_, err := agents.LoadConfig(writeConfig(t, `
mcp_servers:
  none: {}
  both: {command: x, url: "http://h/mcp"}
  "bad name!": {command: x}
  web: {url: "ftp://h", args: [a], env: {X: y}}
  cmd: {command: x, headers: {A: b}, env: {"1X": y}, enabled_tools: ["[a"], tool_timeout: never, policy: sometimes}
  ref: {command: "${not a var}"}
  My-Files: {command: x}
  my_files: {command: x}
`), env(t))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`mcp_servers.none: set command (a stdio server) or url`,
		`mcp_servers.both: set command or url, not both`,
		`mcp_servers.bad name!: a server name is 1-32 letters`,
		`mcp_servers.web: args, env and cwd are for command servers`,
		`mcp_servers.web: url "ftp://h" is not an http(s) URL`,
		`mcp_servers.cmd: headers are for url servers`,
		`mcp_servers.cmd: env: "1X" is not a variable name`,
		`mcp_servers.cmd: enabled_tools[0]: "[a" is not a glob`,
		`mcp_servers.cmd: tool_timeout: "never" is not a positive duration`,
		`mcp_servers.cmd: policy: "sometimes" is not allow, ask or deny`,
		`mcp_servers.ref: ${not a var} is not a variable reference`,
		`mcp_servers.my_files: its tools would be named like My-Files's (mcp_my_files_...)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	_, err = agents.LoadConfig(writeConfig(t, "mcp_servers:\n  x: {command: y, comand: z}\n"), env(t))
	if err == nil || !strings.Contains(err.Error(), `unknown field "comand" in an MCP server`) {
		t.Errorf("misspelt field: %v", err)
	}
}

func TestChannelsConfig(t *testing.T) {
	t.Parallel()
	p := writeConfig(t, `channels:
  telegram:
    token_env: MY_BOT_TOKEN
    allow_from: [123456789, -100200300]
    api_url: http://127.0.0.1:8081
    daemon: laptop
  slack:
    allow_from: [U0123ABCD]
`)
	cfg, err := agents.LoadConfig(p, env(t, "MY_BOT_TOKEN", " 1:abc "))
	if err != nil {
		t.Fatal(err)
	}
	tg := cfg.Channels.Telegram
	if tg == nil || strings.Join(tg.AllowFrom, ",") != "123456789,-100200300" || tg.APIURL != "http://127.0.0.1:8081" || tg.Task().Daemon != "laptop" {
		t.Fatalf("telegram channel read as %+v", tg)
	}
	if got := tg.Token(env(t, "MY_BOT_TOKEN", " 1:abc ")); got != "1:abc" {
		t.Errorf("token %q, want 1:abc from MY_BOT_TOKEN", got)
	}
	if sl := cfg.Channels.Slack; sl == nil || sl.BotTokenVar() != "SLACK_BOT_TOKEN" || sl.AppTokenVar() != "SLACK_APP_TOKEN" {
		t.Errorf("slack channel read as %+v, want the default token variables", sl)
	}

	for _, c := range []struct{ yaml, want string }{
		{"channels:\n  telegram:\n    token_env: \"123:secret-token\"\n", "channels.telegram.token_env: \"123:secret-token\" is not an environment variable name"},
		{"channels:\n  telegram:\n    allow_from: [alice]\n", `channels.telegram.allow_from: "alice" is not a Telegram id`},
		{"channels:\n  telegram:\n    api_url: ftp://x\n", "channels.telegram.api_url"},
		{"channels:\n  telegram:\n    alow_from: [1]\n", `unknown field "alow_from" in channels.telegram (did you mean "allow_from"?)`},
		{"channels:\n  discord: {}\n", `unknown field "discord" in channels`},
	} {
		_, err := agents.LoadConfig(writeConfig(t, c.yaml), env(t))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config %q: error %v, want one containing %q", c.yaml, err, c.want)
		}
	}
}
