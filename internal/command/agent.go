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
	"github.com/viberhq/viber/roster"
	"github.com/viberhq/viber/skills"
)

func agentCommand() *cli.Command {
	return &cli.Command{
		Name:  "agent",
		Usage: "check and list named agents",
		Subcommands: []*cli.Command{
			{
				Name:      "validate",
				Usage:     "check agent files strictly (every problem, with its line)",
				ArgsUsage: "PATH...",
				Description: `validate checks each PATH (an agent file <name>.md or <name>.yaml, or a folder
of them such as .agents/agents) and lists every problem with its line. It exits
1 if any file has a problem. Example:

   viber agent validate ~/.viber/agents/reviewer.yaml .agents/agents`,
				Action: agentValidate,
			},
			{
				Name:  "ls",
				Usage: "list the agents the daemons offer (or, with --local, the ones found on this machine)",
				Description: `ls lists each daemon's named agents, the built-in default included. Example:

   viber agent ls
   viber agent ls --local --workspace ./myproject`,
				Flags: append(natsFlags(), jsonFlag(), timeoutFlag(),
					&cli.BoolFlag{Name: "local", Usage: "read the agent folders here instead of asking the daemons"},
					&cli.StringFlag{Name: "workspace", Usage: "with --local: the workspace whose .agents/agents to include", Value: "."},
				),
				Action: agentList,
			},
		},
	}
}

func agentValidate(c *cli.Context) error {
	if c.NArg() == 0 {
		return cli.Exit("viber agent validate: give one or more agent files or folders", 1)
	}
	var files []string
	for _, p := range c.Args().Slice() {
		fi, err := os.Stat(p)
		if err != nil {
			return cli.Exit("viber agent validate: "+err.Error(), 1)
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return cli.Exit("viber agent validate: "+err.Error(), 1)
		}
		found := false
		for _, e := range entries {
			if !e.IsDir() && roster.IsFile(e.Name()) {
				files, found = append(files, filepath.Join(p, e.Name())), true
			}
		}
		if !found {
			return cli.Exit(fmt.Sprintf("viber agent validate: %s holds no agent files (<name>.md, <name>.yaml)", p), 1)
		}
	}
	bad := 0
	for _, f := range files {
		problems := roster.Validate(f)
		if len(problems) == 0 {
			fmt.Printf("ok    %s\n", f)
			continue
		}
		bad++
		fmt.Printf("FAIL  %s\n", f)
		for _, p := range problems {
			fmt.Printf("      %s\n", p.Error())
		}
	}
	if bad > 0 {
		return cli.Exit(fmt.Sprintf("%d of %d agents have problems", bad, len(files)), 1)
	}
	return nil
}

func agentList(c *cli.Context) error {
	type row struct {
		Daemon      string   `json:"daemon,omitempty"`
		Name        string   `json:"name"`
		Description string   `json:"description"`
		Source      string   `json:"source"`
		Model       string   `json:"model,omitempty"`
		Tools       []string `json:"tools,omitempty"`
		Skills      []string `json:"skills,omitempty"`
	}
	var rows []row
	if c.Bool("local") {
		r, warnings := roster.Discover(skills.AgentRoots(c.String("workspace"), viberHome())...)
		for _, w := range warnings {
			fmt.Fprintln(os.Stderr, "warning:", w.String())
		}
		for _, a := range r.List() {
			rows = append(rows, row{Name: a.Name, Description: a.Description, Source: string(a.Source), Model: a.Model, Tools: a.Tools, Skills: a.Skills})
		}
	} else {
		ds, err := request(c, func(ctx context.Context, cl *client.Client) ([]*bus.DaemonView, error) {
			return cl.Daemons(ctx)
		})
		if err != nil {
			return err
		}
		for _, d := range ds {
			if !d.Online {
				continue
			}
			for _, a := range d.Agents {
				rows = append(rows, row{Daemon: d.ID, Name: a.Name, Description: a.Description, Source: a.Source, Model: a.Model, Tools: a.Tools, Skills: a.Skills})
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
		fmt.Fprintln(os.Stderr, "no agents found (no daemon online?)")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDAEMON\tSOURCE\tMODEL\tTOOLS\tDESCRIPTION")
	for _, r := range rows {
		daemon := r.Daemon
		if daemon == "" {
			daemon = "(here)"
		}
		tools := "all"
		if r.Tools != nil {
			tools = strings.Join(r.Tools, ",")
			if tools == "" {
				tools = "none"
			}
		}
		model := r.Model
		if model == "" {
			model = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, daemon, r.Source, model, oneLine(tools, 40), oneLine(r.Description, 60))
	}
	return tw.Flush()
}
