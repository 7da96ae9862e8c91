package command

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/skills"
)

func skillCommand() *cli.Command {
	return &cli.Command{
		Name:  "skill",
		Usage: "check and list Agent Skills",
		Subcommands: []*cli.Command{
			{
				Name:      "validate",
				Usage:     "check skill folders strictly against the Agent Skills specification",
				ArgsUsage: "PATH...",
				Description: `validate checks each PATH (a skill folder, its SKILL.md, or a folder of skill
folders) and lists every problem it finds. It exits 1 if any skill has a problem.`,
				Action: skillValidate,
			},
			{
				Name:  "ls",
				Usage: "list the skills the daemons offer (or, with --local, the ones found on this machine)",
				Flags: append(natsFlags(), jsonFlag(), timeoutFlag(),
					&cli.BoolFlag{Name: "local", Usage: "discover skills here instead of asking the daemons"},
					&cli.StringFlag{Name: "workspace", Usage: "with --local: the workspace whose .agents/skills to include", Value: "."},
				),
				Action: skillList,
			},
		},
	}
}

func skillValidate(c *cli.Context) error {
	if c.NArg() == 0 {
		return cli.Exit("viber skill validate: give one or more skill folders", 1)
	}
	dirs, err := skillDirs(c.Args().Slice())
	if err != nil {
		return cli.Exit("viber skill validate: "+err.Error(), 1)
	}
	bad := 0
	for _, d := range dirs {
		problems := skills.Validate(d)
		if len(problems) == 0 {
			fmt.Printf("ok    %s\n", d)
			continue
		}
		bad++
		fmt.Printf("FAIL  %s\n", d)
		for _, p := range problems {
			fmt.Printf("      %s\n", p.Error())
		}
	}
	if bad > 0 {
		return cli.Exit(fmt.Sprintf("%d of %d skills have problems", bad, len(dirs)), 1)
	}
	return nil
}

// skillDirs turns validate's arguments into skill folders: a SKILL.md
// stands for its folder, a folder of skill folders for each of them, and a
// folder with neither is kept so its missing SKILL.md is reported.
func skillDirs(args []string) ([]string, error) {
	var dirs []string
	for _, p := range args {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			if filepath.Base(p) != skills.FileName {
				return nil, fmt.Errorf("%s is a file: give a skill folder or its %s", p, skills.FileName)
			}
			dirs = append(dirs, filepath.Dir(p))
			continue
		}
		if _, err := os.Stat(filepath.Join(p, skills.FileName)); err == nil {
			dirs = append(dirs, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		found := false
		for _, e := range entries {
			if e.IsDir() {
				if _, err := os.Stat(filepath.Join(p, e.Name(), skills.FileName)); err == nil {
					dirs, found = append(dirs, filepath.Join(p, e.Name())), true
				}
			}
		}
		if !found {
			dirs = append(dirs, p) // report the missing SKILL.md
		}
	}
	return dirs, nil
}

func skillList(c *cli.Context) error {
	type row struct {
		Daemon      string   `json:"daemon,omitempty"`
		Name        string   `json:"name"`
		Description string   `json:"description"`
		Source      string   `json:"source"`
		Missing     []string `json:"missing,omitempty"`
	}
	var rows []row
	if c.Bool("local") {
		roots, _ := skills.Roots(c.String("workspace"), viberHome(), true)
		cat, warnings := skills.Discover(roots...)
		for _, w := range warnings {
			fmt.Fprintln(os.Stderr, "warning:", w.String())
		}
		for _, s := range cat.List() {
			rows = append(rows, row{Name: s.Name, Description: s.Description, Source: string(s.Source), Missing: s.Missing(nil, os.Getenv)})
		}
	} else {
		ds, err := request(c, func(ctx context.Context, cl *client.Client) ([]*bus.DaemonView, error) {
			return cl.Daemons(ctx)
		})
		if err != nil {
			return err
		}
		for _, d := range ds {
			for _, s := range d.Skills {
				rows = append(rows, row{Daemon: d.ID, Name: s.Name, Description: s.Description, Source: s.Source, Missing: s.Missing})
			}
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	if c.Bool("json") {
		if rows == nil {
			rows = []row{}
		}
		return printJSON(os.Stdout, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(os.Stderr, "no skills found")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDAEMON\tSOURCE\tMISSING\tDESCRIPTION")
	for _, r := range rows {
		missing := "-"
		if len(r.Missing) > 0 {
			missing = strings.Join(r.Missing, ", ")
		}
		daemon := r.Daemon
		if daemon == "" {
			daemon = "(here)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, daemon, r.Source, missing, oneLine(r.Description, 70))
	}
	return tw.Flush()
}
