package command

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/viberhq/viber/agents"
)

// TestComposeFileMatchesBinaries reads docker-compose.yml and .env.example
// and checks every command, flag and environment variable they use against
// our binaries, so the deployment files cannot rot unseen.
func TestComposeFileMatchesBinaries(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	problems, checked := composeProblems(t, b)
	for _, p := range problems {
		t.Error(p)
	}
	if checked < 3 {
		t.Fatalf("checked %d services; want the gateway and at least two daemons", checked)
	}
	// Every variable the example env file names must be one we read.
	known := knownEnv(map[string]*cli.App{"viber": Viber(), "vibergw": Gateway(), "viberd": Daemon()})
	f, err := os.Open(filepath.Join(root, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "#"))
		k, _, ok := strings.Cut(line, "=")
		if !ok || strings.ContainsAny(k, " \t") || k == "" || strings.ToUpper(k) != k {
			continue
		}
		if !known[k] {
			t.Errorf(".env.example: %s is read by none of our binaries", k)
		}
	}
}

func knownEnv(apps map[string]*cli.App) map[string]bool {
	known := map[string]bool{}
	var walk func(flags []cli.Flag, cmds []*cli.Command)
	walk = func(flags []cli.Flag, cmds []*cli.Command) {
		for _, f := range flags {
			if e, ok := f.(interface{ GetEnvVars() []string }); ok {
				for _, v := range e.GetEnvVars() {
					known[v] = true
				}
			}
		}
		for _, c := range cmds {
			walk(c.Flags, c.Subcommands)
		}
	}
	for _, a := range apps {
		walk(a.Flags, a.Commands)
	}
	// Read by the model configuration (agents.LoadConfig).
	for _, v := range []string{"VIBER_PROVIDER", "VIBER_MODEL", "VIBER_BASE_URL", "VIBER_API_KEY", "OPENAI_BASE_URL", "VIBER_HOME"} {
		known[v] = true
	}
	for _, k := range agents.Kinds() {
		if env := agents.KeyEnv(k); env != "" {
			known[env] = true
		}
	}
	return known
}

func flagNames(flags []cli.Flag) map[string]bool {
	out := map[string]bool{"help": true, "h": true}
	for _, f := range flags {
		for _, n := range f.Names() {
			out[n] = true
		}
	}
	return out
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.Name == name || slices.Contains(c.Aliases, name) {
			return c
		}
	}
	return nil
}

// composeProblems lists what in a compose file our binaries do not know.
func composeProblems(t *testing.T, b []byte) ([]string, int) {
	t.Helper()
	apps := map[string]*cli.App{"viber": Viber(), "vibergw": Gateway(), "viberd": Daemon()}
	var problems []string
	checked := 0
	var file struct {
		Services map[string]struct {
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Image       string            `yaml:"image"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for name, svc := range file.Services {
		if strings.HasPrefix(imageDefault(svc.Image), "nats:") {
			continue // the official NATS image
		}
		if len(svc.Command) == 0 {
			problems = append(problems, fmt.Sprintf("service %s: no command", name))
			continue
		}
		if _, ok := apps[svc.Command[0]]; !ok {
			problems = append(problems, fmt.Sprintf("service %s: command %q is not one of our binaries", name, svc.Command[0]))
			continue
		}
		problems = append(problems, commandProblems(apps, "service "+name, svc.Command)...)
		// The healthcheck runs our binaries too (a shell pipeline's first
		// command is checked).
		if hc := svc.Healthcheck.Test; len(hc) > 1 {
			cmd := hc[1:]
			if hc[0] == "CMD-SHELL" {
				first, _, _ := strings.Cut(hc[1], "|")
				cmd = strings.Fields(first)
			}
			if len(cmd) > 0 && apps[cmd[0]] != nil {
				problems = append(problems, commandProblems(apps, "service "+name+" healthcheck", cmd)...)
			}
		}
		// A service's variables must be read by its own binary or by the
		// viber CLI, which every Viber container has for `docker compose
		// exec SERVICE viber ...`.
		known := knownEnv(map[string]*cli.App{svc.Command[0]: apps[svc.Command[0]], "viber": apps["viber"]})
		for k := range svc.Environment {
			if !known[k] {
				problems = append(problems, fmt.Sprintf("service %s: environment variable %s is read by neither %s nor the viber CLI", name, k, svc.Command[0]))
			}
		}
		checked++
	}
	return problems, checked
}

// commandProblems checks one command line (binary, optional subcommand,
// flags) against our binaries.
func commandProblems(apps map[string]*cli.App, where string, command []string) []string {
	app := apps[command[0]]
	flags := flagNames(app.Flags)
	args := command[1:]
	cmds := app.Commands
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") && len(cmds) > 0 {
		sub := findCommand(cmds, args[0])
		if sub == nil {
			return []string{fmt.Sprintf("%s: %s has no command %q", where, command[0], args[0])}
		}
		flags, args, cmds = flagNames(sub.Flags), args[1:], sub.Subcommands
	}
	var problems []string
	for _, a := range args {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		f := strings.SplitN(strings.TrimPrefix(a, "--"), "=", 2)[0]
		if !flags[f] {
			problems = append(problems, fmt.Sprintf("%s: %s has no flag --%s", where, command[0], f))
		}
	}
	return problems
}

// imageDefault is the image a compose image reference names when its
// variables are unset: "${NATS_IMAGE:-nats:2.11-alpine}" is
// "nats:2.11-alpine".
func imageDefault(ref string) string {
	if inner, ok := strings.CutPrefix(ref, "${"); ok && strings.HasSuffix(inner, "}") {
		if _, def, ok := strings.Cut(strings.TrimSuffix(inner, "}"), ":-"); ok {
			return def
		}
	}
	return ref
}

func TestComposeCheckCatchesMistakes(t *testing.T) {
	t.Parallel()
	bad := []byte(`services:
  gw:
    command: ["vibergw", "--no-such-flag", "x"]
    environment: {VIBER_NOPE: "1", VIBER_LEAF: "nats-leaf://nats:7422"}
    healthcheck:
      test: ["CMD-SHELL", "viber daemon ls --no-such-health-flag | grep -q x"]
  w:
    command: ["viberd", "--name", "x"]
    healthcheck:
      test: ["CMD", "viber", "daemon", "lsx"]
  d:
    command: ["viberdd", "--name", "x"]
`)
	problems, _ := composeProblems(t, bad)
	text := strings.Join(problems, "\n")
	for _, want := range []string{"--no-such-flag", "VIBER_NOPE", "VIBER_LEAF is read by neither vibergw", "viberdd",
		"service gw healthcheck: viber has no flag --no-such-health-flag", `service w healthcheck: viber has no command "lsx"`} {
		if !strings.Contains(text, want) {
			t.Errorf("problem with %s not reported; got:\n%s", want, text)
		}
	}
}

// TestDockerfileCommand checks the image's default command against our
// binaries.
func TestDockerfileCommand(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var cmd []string
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "CMD "); ok {
			if err := json.Unmarshal([]byte(rest), &cmd); err != nil {
				t.Fatalf("CMD is not a JSON array: %v", err)
			}
		}
	}
	if len(cmd) == 0 {
		t.Fatal("Dockerfile has no CMD")
	}
	compose := fmt.Sprintf("services:\n  image:\n    command: %s\n", mustJSON(t, cmd))
	problems, checked := composeProblems(t, []byte(compose))
	if checked != 1 {
		t.Fatalf("checked %d", checked)
	}
	for _, p := range problems {
		t.Error("Dockerfile CMD: " + p)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
