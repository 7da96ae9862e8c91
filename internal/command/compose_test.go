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
			EnvFile     []string          `yaml:"env_file"`
			Image       string            `yaml:"image"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for name, svc := range file.Services {
		if svc.Image != "" && strings.HasPrefix(svc.Image, "nats:") {
			continue // the official NATS image
		}
		if len(svc.Command) == 0 {
			problems = append(problems, fmt.Sprintf("service %s: no command", name))
			continue
		}
		app, ok := apps[svc.Command[0]]
		if !ok {
			problems = append(problems, fmt.Sprintf("service %s: command %q is not one of our binaries", name, svc.Command[0]))
			continue
		}
		flags := flagNames(app.Flags)
		args := svc.Command[1:]
		if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			sub := findCommand(app.Commands, args[0])
			if sub == nil {
				problems = append(problems, fmt.Sprintf("service %s: %s has no command %q", name, svc.Command[0], args[0]))
				continue
			}
			flags, args = flagNames(sub.Flags), args[1:]
		}
		for _, a := range args {
			if !strings.HasPrefix(a, "--") {
				continue
			}
			f := strings.SplitN(strings.TrimPrefix(a, "--"), "=", 2)[0]
			if !flags[f] {
				problems = append(problems, fmt.Sprintf("service %s: %s has no flag --%s", name, svc.Command[0], f))
			}
		}
		// A service's variables must be read by its own binary (vibergw
		// does not take VIBER_NATS_URL as its server: --nats-external).
		known := knownEnv(map[string]*cli.App{svc.Command[0]: app})
		for k := range svc.Environment {
			if !known[k] {
				problems = append(problems, fmt.Sprintf("service %s: environment variable %s is not read by %s", name, k, svc.Command[0]))
			}
		}
		checked++
	}
	return problems, checked
}

func TestComposeCheckCatchesMistakes(t *testing.T) {
	t.Parallel()
	bad := []byte(`services:
  gw:
    command: ["vibergw", "--no-such-flag", "x"]
    environment: {VIBER_NOPE: "1", VIBER_NATS_URL: "nats://nats:4222"}
  d:
    command: ["viberdd", "--name", "x"]
`)
	problems, _ := composeProblems(t, bad)
	text := strings.Join(problems, "\n")
	for _, want := range []string{"--no-such-flag", "VIBER_NOPE", "VIBER_NATS_URL is not read by vibergw", "viberdd"} {
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
