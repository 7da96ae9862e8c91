package command

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/doctor"
	"github.com/viberhq/viber/skills"
)

// envMetadata is the App.Metadata key of a func(string) string that
// replaces os.Getenv for init and doctor (tests run them side by side with
// their own environments).
const envMetadata = "getenv"

// envOf is the environment a command reads.
func envOf(c *cli.Context) func(string) string {
	if f, ok := c.App.Metadata[envMetadata].(func(string) string); ok {
		return f
	}
	return os.Getenv
}

// homeOf is $VIBER_HOME or ~/.viber in the command's environment.
func homeOf(getenv func(string) string) string {
	if h := strings.TrimSpace(getenv("VIBER_HOME")); h != "" {
		return h
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".viber")
}

// dataOf is `viber up`'s data directory: $VIBER_DATA or ~/.viber/data.
func dataOf(getenv func(string) string) string {
	if d := strings.TrimSpace(getenv("VIBER_DATA")); d != "" {
		return d
	}
	return filepath.Join(homeOf(getenv), "data")
}

// workspaceOf is --workspace, $VIBER_WORKSPACE or viber up's default
// workspace under the data directory.
func workspaceOf(c *cli.Context, getenv func(string) string, data string) string {
	if ws := c.String("workspace"); ws != "" {
		return ws
	}
	if ws := strings.TrimSpace(getenv("VIBER_WORKSPACE")); ws != "" {
		return ws
	}
	return filepath.Join(data, "workspace")
}

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check that this Viber works: config, model, NATS, streams, daemons, clock, skills, disk",
		Description: `doctor runs every check below and prints one line each, ok, warn, fail or
skip, with what to do when it is not ok:

   config     the config file parses strictly (unknown keys named with their line)
   model      the default model answers a one-word question (--model-timeout)
   nats       the NATS server is reachable; its version
   jetstream  JetStream is enabled; its domain
   streams    VIBER_TASKS and VIBER_WORK exist as Viber sets them up
   buckets    viber_daemons and viber_tasks exist
   gateway    the gateway's 'viber' NATS micro service answers
   daemons    which daemons are online (presence)
   clock      the skew between this machine and the NATS server
   skills     every skill in ~/.viber/skills and the workspace's .agents/skills
              validates strictly
   disk       free space of the store directory (--data)

It exits 1 when any check fails; warnings do not fail. --json prints the
report as JSON ({"ok":..., "checks":[{"name","status","message","fix"}]}).`,
		Flags: append(natsFlags(), configFlag(), jsonFlag(),
			&cli.StringFlag{Name: "data", Usage: "the JetStream store directory whose disk to check (viber up's --data; default $VIBER_DATA or ~/.viber/data)"},
			&cli.StringFlag{Name: "workspace", Usage: "also validate the skills in this workspace's .agents/skills (default $VIBER_WORKSPACE, else viber up's DATA/workspace)"},
			&cli.DurationFlag{Name: "timeout", Usage: "how long to wait for each NATS request", Value: 5 * time.Second},
			&cli.DurationFlag{Name: "model-timeout", Usage: "how long to wait for the model's answer", Value: 30 * time.Second},
			&cli.BoolFlag{Name: "no-model", Usage: "do not ask the model (no tokens spent)"},
		),
		Action: doctorRun,
	}
}

func doctorRun(c *cli.Context) error {
	getenv := envOf(c)
	home := homeOf(getenv)
	data := c.String("data")
	if data == "" {
		data = dataOf(getenv)
	}
	ws := workspaceOf(c, getenv, data)
	dirs := []string{skills.UserDir(home), skills.WorkspaceDir(ws)}
	ctx, stop := signalContext(c.Context)
	defer stop()
	report := doctor.Run(ctx, doctor.Options{
		ConfigPath: c.String("config"),
		Getenv:     getenv,
		Connect: func() (*nats.Conn, error) {
			return connect(c, "viber-doctor", nil)
		},
		SkillDirs:    dirs,
		DataDir:      data,
		Timeout:      c.Duration("timeout"),
		ModelTimeout: c.Duration("model-timeout"),
		NoModel:      c.Bool("no-model"),
	})
	if c.Bool("json") {
		if err := printJSON(c.App.Writer, report); err != nil {
			return err
		}
	} else {
		printReport(c.App.Writer, report)
	}
	if failed := report.Failed(); len(failed) > 0 {
		names := make([]string, len(failed))
		for i, f := range failed {
			names[i] = f.Name
		}
		return cli.Exit(fmt.Sprintf("viber doctor: %d of %d checks failed: %s", len(failed), len(report.Checks), strings.Join(names, ", ")), 1)
	}
	return nil
}

// printReport writes one line per check, its details and what to do.
func printReport(w io.Writer, r *doctor.Report) {
	counts := map[doctor.Status]int{}
	for _, ch := range r.Checks {
		counts[ch.Status]++
		label := string(ch.Status)
		if ch.Status == doctor.Fail {
			label = "FAIL"
		}
		fmt.Fprintf(w, "%-5s %-10s %s\n", label, ch.Name, ch.Message)
		for _, d := range ch.Details {
			fmt.Fprintf(w, "%17s%s\n", "", d)
		}
		if ch.Fix != "" && ch.Status != doctor.OK {
			fmt.Fprintf(w, "%17s→ %s\n", "", ch.Fix)
		}
	}
	fmt.Fprintf(w, "\n%d ok, %d warn, %d fail, %d skipped\n", counts[doctor.OK], counts[doctor.Warn], counts[doctor.Fail], counts[doctor.Skip])
}
