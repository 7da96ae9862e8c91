package command

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/doctor"
	"github.com/viberhq/viber/skills"
)

// localServers are the OpenAI-compatible servers init looks for on this
// machine: Ollama, then the usual ports of vLLM, llama.cpp server and LM
// Studio.
var localServers = []struct{ kind, url, what string }{
	{agents.ProviderOllama, "http://127.0.0.1:11434/v1", "Ollama"},
	{agents.ProviderCustom, "http://127.0.0.1:8000/v1", "OpenAI-compatible server (vLLM?)"},
	{agents.ProviderCustom, "http://127.0.0.1:8080/v1", "OpenAI-compatible server (llama.cpp?)"},
	{agents.ProviderCustom, "http://127.0.0.1:1234/v1", "OpenAI-compatible server (LM Studio?)"},
}

func initCommand() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "write ~/.viber/config.yaml for a model found here, and check that it answers",
		Description: `init finds the models this machine can use — provider keys in the environment
(OPENAI_API_KEY, ANTHROPIC_API_KEY, OPENROUTER_API_KEY, DEEPSEEK_API_KEY) and
local servers (Ollama on 127.0.0.1:11434, OpenAI-compatible servers on ports
8000, 8080 and 1234, asked GET /v1/models) — writes the config file (mode
0600), creates the skills folders (~/.viber/skills and the default workspace's
.agents/skills), and ends with one real completion through the chosen model.

Keys are never written: the file names the variable that holds the key
(api_key_env), and daemons read it from their environment.

On a terminal it asks; with --yes, or when stdin is not a terminal, it takes
the flags and the first model found. It never replaces an existing config
without --force, and then keeps the old one as config.yaml.bak-TIME.

   viber init                                   # pick from what is found
   viber init --provider anthropic --yes        # key in ANTHROPIC_API_KEY
   viber init --provider custom --base-url http://127.0.0.1:8000/v1 --model qwen3 --yes`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "provider", Usage: "openai, anthropic, openrouter, deepseek, ollama or custom (default: the first found)"},
			&cli.StringFlag{Name: "model", Usage: "the model (default: the provider's, or the first the server lists)"},
			&cli.StringFlag{Name: "base-url", Usage: "the provider's base URL, e.g. http://127.0.0.1:8000/v1 (required for custom unless found)"},
			&cli.StringFlag{Name: "api-key-env", Usage: "the NAME of the environment variable holding the key (default: the provider's usual one, e.g. OPENAI_API_KEY)"},
			&cli.StringSliceFlag{Name: "detect", Usage: "also look for an OpenAI-compatible server at this base URL (repeatable)"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "ask nothing: take the flags and the first model found"},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing config file (the old one is kept as config.yaml.bak-TIME)"},
			&cli.BoolFlag{Name: "no-check", Usage: "do not ask the model a test question"},
			&cli.DurationFlag{Name: "timeout", Usage: "how long to wait for the test completion", Value: 60 * time.Second},
			&cli.StringFlag{Name: "workspace", Usage: "the workspace whose .agents/skills folder to create (default $VIBER_WORKSPACE, else viber up's: $VIBER_DATA/workspace or ~/.viber/data/workspace)"},
			configFlag(),
		},
		Action: initRun,
	}
}

// found is a model init can offer.
type found struct {
	kind    string
	baseURL string // "" for the kind's default
	keyEnv  string
	models  []string // what a local server lists
	what    string
}

func (f found) String() string {
	switch {
	case f.keyEnv != "":
		return fmt.Sprintf("%s (key in $%s)", f.kind, f.keyEnv)
	case len(f.models) > 0:
		return fmt.Sprintf("%s at %s (%s; models: %s)", f.kind, f.baseURL, f.what, strings.Join(head(f.models, 5), ", "))
	}
	return fmt.Sprintf("%s at %s (%s)", f.kind, f.baseURL, f.what)
}

func head(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(append([]string(nil), s[:n]...), "…")
}

// initRun is `viber init`.
func initRun(c *cli.Context) error {
	getenv := envOf(c)
	out := c.App.Writer
	path := c.String("config")
	if path == "" {
		path = agents.DefaultConfigPath(getenv)
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return cli.Exit("viber init: "+err.Error(), 1)
	}
	exists := false
	if _, err := os.Stat(path); err == nil {
		exists = true
		if !c.Bool("force") {
			return cli.Exit(fmt.Sprintf("viber init: %s already exists; keep it (`viber doctor` checks it) or pass --force to replace it (the old one is kept as a backup)", path), 1)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return cli.Exit("viber init: "+err.Error(), 1)
	}
	p := &prompter{in: bufio.NewReader(c.App.Reader), out: out}
	p.on = !c.Bool("yes") && isTerminal(c.App.Reader)

	ctx, stop := signalContext(c.Context)
	defer stop()
	choice, err := chooseModel(ctx, c, getenv, p)
	if err != nil {
		return cli.Exit("viber init: "+err.Error(), 1)
	}
	for _, v := range []string{"VIBER_PROVIDER", "VIBER_MODEL", "VIBER_BASE_URL", "VIBER_API_KEY"} {
		if getenv(v) != "" {
			fmt.Fprintf(out, "note: %s is set in this environment and overrides the file's default model\n", v)
		}
	}
	body := configText(choice, time.Now())
	if p.on {
		fmt.Fprintf(out, "\nThis goes to %s:\n\n%s\n", path, indent(body))
		if !p.confirm("Write it?") {
			return cli.Exit("viber init: nothing written", 1)
		}
	}
	backup, err := writeConfig(path, []byte(body), exists, getenv)
	if err != nil {
		return cli.Exit("viber init: "+err.Error(), 1)
	}
	if backup != "" {
		fmt.Fprintf(out, "kept the old config as %s\n", backup)
	}
	fmt.Fprintf(out, "wrote %s (mode 0600): default model %s/%s", path, choice.kind, choice.model)
	if choice.keyEnv != "" {
		fmt.Fprintf(out, ", key read from $%s", choice.keyEnv)
	}
	fmt.Fprintln(out)
	if choice.keyEnv != "" && getenv(choice.keyEnv) == "" {
		fmt.Fprintf(out, "note: $%s is not set here; export it where Viber runs\n", choice.keyEnv)
	}

	ws := workspaceOf(c, getenv, dataOf(getenv))
	for _, dir := range []string{skills.UserDir(homeOf(getenv)), skills.WorkspaceDir(ws)} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return cli.Exit("viber init: skills folder: "+err.Error(), 1)
		}
		fmt.Fprintf(out, "skills folder %s\n", dir)
	}

	if !c.Bool("no-check") {
		cfg, err := agents.LoadConfig(path, getenv)
		if err != nil {
			return cli.Exit("viber init: the written config does not load: "+err.Error(), 1)
		}
		mc, err := cfg.Resolve("")
		if err != nil {
			return cli.Exit(fmt.Sprintf("viber init: config written, but no model is usable yet: %v", err), 1)
		}
		fmt.Fprintf(out, "asking %s at %s: %q\n", mc.Ref(), mc.BaseURL, doctor.Ping)
		start := time.Now()
		answer, err := doctor.Complete(ctx, mc, c.Duration("timeout"))
		if err != nil {
			return cli.Exit(fmt.Sprintf("viber init: config written, but %s at %s did not answer: %v (fix it, then `viber doctor`)", mc.Ref(), mc.BaseURL, err), 1)
		}
		fmt.Fprintf(out, "%s answered in %s: %q\n", mc.Ref(), time.Since(start).Round(time.Millisecond), answer)
	}
	fmt.Fprintf(out, "\nNext: `viber up` starts Viber here; `viber doctor` checks everything; `viber task submit --wait \"say hello\"` runs a task.\n")
	return nil
}

// modelChoice is what init writes.
type modelChoice struct {
	kind, baseURL, model, keyEnv string
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// chooseModel decides the provider, base URL, model and key variable from
// the flags, what is found here and, on a terminal, the answers.
func chooseModel(ctx context.Context, c *cli.Context, getenv func(string) string, p *prompter) (modelChoice, error) {
	out := c.App.Writer
	var ch modelChoice
	ch.kind = strings.ToLower(strings.TrimSpace(c.String("provider")))
	ch.baseURL = strings.TrimRight(strings.TrimSpace(c.String("base-url")), "/")
	ch.model = strings.TrimSpace(c.String("model"))
	ch.keyEnv = strings.TrimSpace(c.String("api-key-env"))
	if ch.kind != "" && !agents.KnownKind(ch.kind) {
		return ch, fmt.Errorf("--provider %q: use one of %s", ch.kind, strings.Join(agents.Kinds(), ", "))
	}
	if ch.keyEnv != "" && !envName.MatchString(ch.keyEnv) {
		return ch, fmt.Errorf("--api-key-env wants the name of an environment variable (like OPENAI_API_KEY), not a key; the key itself is never written")
	}

	var list []found
	if ch.kind == "" {
		for _, k := range agents.Kinds() {
			if env := agents.KeyEnv(k); env != "" && strings.TrimSpace(getenv(env)) != "" {
				list = append(list, found{kind: k, keyEnv: env})
			}
		}
	}
	// Servers asked for with --detect come first, then keys, then the
	// usual ports.
	var probes []found
	for _, u := range c.StringSlice("detect") {
		probes = append(probes, found{kind: agents.ProviderCustom, baseURL: strings.TrimRight(u, "/"), what: "--detect"})
	}
	if ch.kind == "" {
		for _, s := range localServers {
			probes = append(probes, found{kind: s.kind, baseURL: s.url, what: s.what})
		}
	}
	if (ch.kind == agents.ProviderCustom || ch.kind == agents.ProviderOllama) && ch.baseURL != "" && ch.model == "" {
		probes = append(probes, found{kind: ch.kind, baseURL: ch.baseURL, what: "--base-url"})
	}
	var asked, usual []found
	for _, f := range probeServers(ctx, probes) {
		if f.what == "--detect" {
			asked = append(asked, f)
		} else {
			usual = append(usual, f)
		}
	}
	list = append(append(asked, list...), usual...)
	if len(list) > 0 {
		fmt.Fprintln(out, "found:")
		for i, f := range list {
			fmt.Fprintf(out, "  %d. %s\n", i+1, f)
		}
	} else if ch.kind == "" {
		fmt.Fprintln(out, "found no provider key in the environment and no model server on this machine")
	}

	if ch.kind == "" {
		if len(list) == 0 {
			if !p.on {
				return ch, errors.New("no model found: set a key (OPENAI_API_KEY, ANTHROPIC_API_KEY, OPENROUTER_API_KEY or DEEPSEEK_API_KEY), start Ollama, or pass --provider custom --base-url URL --model MODEL")
			}
			ch.kind = p.ask("provider ("+strings.Join(agents.Kinds(), ", ")+")", agents.ProviderCustom)
			if !agents.KnownKind(ch.kind) {
				return ch, fmt.Errorf("provider %q: use one of %s", ch.kind, strings.Join(agents.Kinds(), ", "))
			}
		} else {
			i := 0
			if p.on && len(list) > 1 {
				n, err := strconv.Atoi(p.ask(fmt.Sprintf("use which (1-%d)", len(list)), "1"))
				if err != nil || n < 1 || n > len(list) {
					return ch, fmt.Errorf("no such choice; run `viber init` again")
				}
				i = n - 1
			}
			f := list[i]
			ch.kind, ch.baseURL = f.kind, f.baseURL
			if ch.model == "" && len(f.models) > 0 && agents.KeyEnv(f.kind) == "" {
				ch.model = f.models[0]
			}
		}
	} else if ch.model == "" {
		for _, f := range list {
			if f.kind == ch.kind && f.baseURL == ch.baseURL && len(f.models) > 0 {
				ch.model = f.models[0]
			}
		}
	}

	if ch.baseURL == "" && ch.kind == agents.ProviderCustom {
		if !p.on {
			return ch, errors.New("--provider custom needs --base-url (e.g. http://127.0.0.1:8000/v1)")
		}
		ch.baseURL = strings.TrimRight(p.ask("base URL", "http://127.0.0.1:8000/v1"), "/")
	}
	def := ch.model
	if def == "" {
		def = map[string]string{
			agents.ProviderOpenAI: agents.DefaultOpenAIModel, agents.ProviderAnthropic: agents.DefaultAnthropicModel,
			agents.ProviderOpenRouter: agents.DefaultOpenRouterModel, agents.ProviderDeepSeek: agents.DefaultDeepSeekModel,
		}[ch.kind]
	}
	if p.on {
		def = p.ask("model", def)
	}
	ch.model = def
	if ch.model == "" {
		return ch, fmt.Errorf("provider %s needs a model: pass --model", ch.kind)
	}
	if ch.keyEnv == "" {
		ch.keyEnv = agents.KeyEnv(ch.kind)
	}
	if ch.baseURL != "" && ch.baseURL == agents.DefaultBaseURL(ch.kind) {
		ch.baseURL = ""
	}
	return ch, nil
}

// probeServers asks each candidate's GET /models at once, with a short
// timeout, and returns the ones that answered like an OpenAI-compatible
// server, in the given order.
func probeServers(ctx context.Context, list []found) []found {
	ok := make([]bool, len(list))
	var wg sync.WaitGroup
	for i := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			models, err := listModels(ctx, list[i].baseURL, 800*time.Millisecond)
			if err == nil {
				list[i].models, ok[i] = models, true
			}
		}()
	}
	wg.Wait()
	var out []found
	for i, f := range list {
		if ok[i] {
			out = append(out, f)
		}
	}
	return out
}

// listModels asks an OpenAI-compatible server which models it serves.
func listModels(ctx context.Context, baseURL string, timeout time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/models", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/models: %s", baseURL, resp.Status)
	}
	var body struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&body); err != nil {
		return nil, fmt.Errorf("GET %s/models: %w", baseURL, err)
	}
	if body.Data == nil {
		return nil, fmt.Errorf("GET %s/models: no model list", baseURL)
	}
	models := make([]string, 0, len(body.Data))
	for _, m := range body.Data {
		if m.ID != "" {
			models = append(models, m.ID)
		}
	}
	return models, nil
}

// configText is the config file init writes: keys only as variable names.
func configText(ch modelChoice, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Viber configuration, written by `viber init` on %s.\n", now.UTC().Format(time.RFC3339))
	b.WriteString("# Keys are never stored here: api_key_env names the environment variable\n")
	b.WriteString("# that holds one. Every key is described in the README (Configuration).\n")
	fmt.Fprintf(&b, "default_model: %s\n", ch.kind)
	b.WriteString("providers:\n")
	fmt.Fprintf(&b, "  %s:\n", ch.kind)
	fmt.Fprintf(&b, "    kind: %s\n", ch.kind)
	if ch.baseURL != "" {
		fmt.Fprintf(&b, "    base_url: %s\n", strconv.Quote(ch.baseURL))
	}
	fmt.Fprintf(&b, "    model: %s\n", strconv.Quote(ch.model))
	if ch.keyEnv != "" {
		fmt.Fprintf(&b, "    api_key_env: %s\n", ch.keyEnv)
	}
	return b.String()
}

// writeConfig writes data to path with mode 0600 after checking that it
// loads; an existing file is renamed to path.bak-TIME first and that name
// returned.
func writeConfig(path string, data []byte, exists bool, getenv func(string) string) (string, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".config-*.yaml")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if _, err := agents.LoadConfig(tmp.Name(), getenv); err != nil {
		return "", fmt.Errorf("the config to write does not load (a bug; nothing written): %w", err)
	}
	backup := ""
	if exists {
		backup = path + ".bak-" + time.Now().UTC().Format("20060102T150405Z")
		for i := 1; ; i++ {
			if _, err := os.Lstat(backup); errors.Is(err, fs.ErrNotExist) {
				break
			}
			backup = fmt.Sprintf("%s.bak-%s-%d", path, time.Now().UTC().Format("20060102T150405Z"), i)
		}
		if err := os.Rename(path, backup); err != nil {
			return "", fmt.Errorf("keep the old config: %w", err)
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return backup, err
	}
	return backup, nil
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// prompter asks questions on a terminal; when off, every answer is the
// default.
type prompter struct {
	on  bool
	in  *bufio.Reader
	out io.Writer
}

func (p *prompter) ask(question, def string) string {
	if !p.on {
		return def
	}
	if def != "" {
		fmt.Fprintf(p.out, "%s [%s]: ", question, def)
	} else {
		fmt.Fprintf(p.out, "%s: ", question)
	}
	line, _ := p.in.ReadString('\n')
	if s := strings.TrimSpace(line); s != "" {
		return s
	}
	return def
}

func (p *prompter) confirm(question string) bool {
	if !p.on {
		return true
	}
	fmt.Fprintf(p.out, "%s [Y/n]: ", question)
	line, _ := p.in.ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "" || a == "y" || a == "yes"
}
