package command

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/client"
)

func scheduleCommand() *cli.Command {
	common := func(extra ...cli.Flag) []cli.Flag {
		return append(append(natsFlags(), jsonFlag(), timeoutFlag()), extra...)
	}
	named := func(name, usage string, fn func(context.Context, *client.Client, string) (any, error), done string) *cli.Command {
		return &cli.Command{
			Name: name, Usage: usage, ArgsUsage: "NAME", Flags: common(),
			Action: func(c *cli.Context) error {
				n, err := scheduleName(c)
				if err != nil {
					return err
				}
				v, err := request(c, func(ctx context.Context, cl *client.Client) (any, error) { return fn(ctx, cl, n) })
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(os.Stdout, v)
				}
				fmt.Printf(done+"\n", n)
				return nil
			},
		}
	}
	return &cli.Command{
		Name:  "schedule",
		Usage: "run tasks on a schedule (cron, interval or once)",
		Description: `A schedule makes a task at every firing. The NATS server keeps and fires
schedules itself (message schedules, nats-server >= 2.12), so they survive
restarts of everything and fire once after downtime rather than catching up.

   viber schedule add standup --cron "0 9 * * 1-5" --tz Europe/Paris "summarise yesterday's commits"
   viber schedule add tick --every 15m "check the build"
   viber schedule add xmas --at 2026-12-24T09:00:00Z "say merry christmas"
   viber schedule ls
   viber task ls --schedule tick

See docs/schedules.md.`,
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add a schedule",
				ArgsUsage: "NAME GOAL...",
				Description: `Give exactly one of --cron, --every and --at. Cron takes five fields
(minute hour day-of-month month day-of-week) or six (seconds first), names
such as MON or JAN, and @hourly, @daily, @weekly, @monthly, @yearly.

   viber schedule add tick --every 2s "say tick"
   viber schedule add report --cron "30 8 * * MON" --tz America/New_York --notify https://example.com/hook "weekly report"`,
				Flags: common(
					&cli.StringFlag{Name: "cron", Usage: "cron expression (5 fields, or 6 with seconds first)"},
					&cli.StringFlag{Name: "tz", Usage: "IANA time zone of --cron (default UTC), e.g. Europe/Paris"},
					&cli.StringFlag{Name: "every", Usage: "interval, e.g. 30s, 15m, 2h (at least 1s)"},
					&cli.StringFlag{Name: "at", Usage: "one-shot time, RFC 3339, e.g. 2026-12-24T09:00:00Z"},
					&cli.StringFlag{Name: "daemon", Usage: "run the tasks on this daemon only"},
					&cli.StringFlag{Name: "model", Usage: "provider/model for the tasks"},
					&cli.StringSliceFlag{Name: "skill", Usage: "skill the tasks need (repeatable)"},
					&cli.StringSliceFlag{Name: "tool", Usage: "tool the tasks need, such as an MCP server's (repeatable)"},
					&cli.StringFlag{Name: "agent", Usage: "named agent that runs the tasks (`viber agent ls` lists them)"},
					&cli.StringSliceFlag{Name: "policy", Usage: "TOOL=ask|deny for the tasks (repeatable; see task submit)"},
					&cli.StringFlag{Name: "overlap", Usage: "while the previous run is unfinished: skip the firing, or queue it until the run ends", Value: bus.OverlapSkip},
					&cli.StringFlag{Name: "notify", Usage: "POST each task's terminal event to this URL (signed)"},
				),
				Action: scheduleAdd,
			},
			{
				Name: "ls", Usage: "list schedules: next run, last run, last result", Flags: common(),
				Action: scheduleList,
			},
			{
				Name: "show", Usage: "show a schedule and its recent runs", ArgsUsage: "NAME", Flags: common(),
				Action: scheduleShow,
			},
			named("pause", "stop a schedule's firings until it is resumed",
				func(ctx context.Context, cl *client.Client, n string) (any, error) { return cl.PauseSchedule(ctx, n) }, "paused %s"),
			named("resume", "let a paused schedule fire again",
				func(ctx context.Context, cl *client.Client, n string) (any, error) { return cl.ResumeSchedule(ctx, n) }, "resumed %s"),
			named("rm", "remove a schedule (its tasks stay)",
				func(ctx context.Context, cl *client.Client, n string) (any, error) {
					return &bus.ScheduleRequest{Name: n}, cl.RemoveSchedule(ctx, n)
				}, "removed %s"),
			{
				Name: "run", Usage: "fire a schedule now (with its overlap policy)", ArgsUsage: "NAME", Flags: common(),
				Action: func(c *cli.Context) error {
					n, err := scheduleName(c)
					if err != nil {
						return err
					}
					r, err := request(c, func(ctx context.Context, cl *client.Client) (*bus.RunScheduleResponse, error) {
						return cl.RunSchedule(ctx, n)
					})
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(os.Stdout, r)
					}
					fmt.Println(r.Task)
					return nil
				},
			},
		},
	}
}

// interspersed reads flags given after the first argument (`schedule add
// NAME --every 2s GOAL`): urfave/cli stops parsing flags at the first
// argument, so they arrive as arguments. Known flags are set on the
// context; the rest are returned as the arguments.
func interspersed(c *cli.Context) ([]string, error) {
	kinds := map[string]bool{} // name → takes a value
	for _, f := range c.Command.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			kinds[n] = !isBool
		}
	}
	var args []string
	raw := c.Args().Slice()
	for i := 0; i < len(raw); i++ {
		a := raw[i]
		if a == "--" {
			args = append(args, raw[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			args = append(args, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takes, known := kinds[name]
		if !known {
			return nil, fmt.Errorf("unknown flag %s (see --help)", a)
		}
		switch {
		case !takes && !hasVal:
			val = "true"
		case takes && !hasVal:
			if i+1 >= len(raw) {
				return nil, fmt.Errorf("flag %s needs a value", a)
			}
			i++
			val = raw[i]
		}
		if err := c.Set(name, val); err != nil {
			return nil, fmt.Errorf("flag %s: %v", a, err)
		}
	}
	return args, nil
}

// scheduleName is the one NAME argument of a schedule command, with flags
// allowed after it (`viber schedule show tick --json`).
func scheduleName(c *cli.Context) (string, error) {
	args, err := interspersed(c)
	if err != nil {
		return "", cli.Exit(fmt.Sprintf("viber %s: %v", c.Command.FullName(), err), 1)
	}
	if len(args) != 1 {
		return "", cli.Exit(fmt.Sprintf("viber %s: want exactly one schedule name (see --help)", c.Command.FullName()), 1)
	}
	return args[0], nil
}

func scheduleAdd(c *cli.Context) error {
	args, err := interspersed(c)
	if err != nil {
		return cli.Exit("viber schedule add: "+err.Error(), 1)
	}
	if len(args) < 2 {
		return cli.Exit("viber schedule add: want NAME and GOAL, e.g. viber schedule add tick --every 15m \"check the build\"", 1)
	}
	policy, err := parsePolicy(c.StringSlice("policy"))
	if err != nil {
		return cli.Exit("viber schedule add: "+err.Error(), 1)
	}
	req := &bus.AddScheduleRequest{
		Name: args[0], Goal: strings.Join(args[1:], " "),
		Cron: c.String("cron"), TZ: c.String("tz"), Every: c.String("every"), At: c.String("at"),
		Daemon: c.String("daemon"), Model: c.String("model"), Skills: c.StringSlice("skill"), Tools: c.StringSlice("tool"), Agent: c.String("agent"), Policy: policy,
		Overlap: c.String("overlap"), Notify: c.String("notify"), By: submitter(),
	}
	v, err := request(c, func(ctx context.Context, cl *client.Client) (*bus.ScheduleView, error) {
		return cl.AddSchedule(ctx, req)
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(os.Stdout, v)
	}
	fmt.Printf("added %s (%s)\n", v.Name, when(&v.Schedule))
	for _, t := range v.NextRuns {
		fmt.Printf("  next  %s\n", t.Local().Format(time.RFC3339))
	}
	return nil
}

func scheduleList(c *cli.Context) error {
	list, err := request(c, func(ctx context.Context, cl *client.Client) ([]*bus.ScheduleView, error) {
		return cl.Schedules(ctx)
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(os.Stdout, &bus.ListSchedulesResponse{Schedules: list})
	}
	if len(list) == 0 {
		fmt.Fprintln(os.Stderr, "no schedules (`viber schedule add` makes one)")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tWHEN\tNEXT RUN\tLAST RUN\tLAST RESULT\tGOAL")
	for _, v := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, when(&v.Schedule), nextRun(v), lastRun(v.LastRun), lastResult(v), oneLine(v.Goal, 40))
	}
	return tw.Flush()
}

func scheduleShow(c *cli.Context) error {
	n, err := scheduleName(c)
	if err != nil {
		return err
	}
	v, err := request(c, func(ctx context.Context, cl *client.Client) (*bus.ScheduleView, error) {
		return cl.Schedule(ctx, n)
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(os.Stdout, v)
	}
	printSchedule(os.Stdout, v)
	return nil
}

func printSchedule(w io.Writer, v *bus.ScheduleView) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, val string) {
		if val != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, val)
		}
	}
	row("name", v.Name)
	row("when", when(&v.Schedule))
	row("server pattern", v.Pattern)
	row("goal", v.Goal)
	row("daemon", v.Daemon)
	row("model", v.Model)
	row("skills", strings.Join(v.Skills, ", "))
	row("overlap", v.Overlap)
	row("notify", v.Notify)
	row("next run", nextRun(v))
	row("created", v.CreatedAt.Local().Format(time.RFC3339))
	_ = tw.Flush()
	if len(v.Runs) == 0 {
		fmt.Fprintln(w, "\nno runs yet")
		return
	}
	fmt.Fprintln(w, "\nrecent runs:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  TIME\tTASK\tSTATE\tRESULT")
	for i := len(v.Runs) - 1; i >= 0; i-- {
		r := v.Runs[i]
		task, state, result := r.Task, string(r.State), oneLine(r.Result, 50)
		if r.Task == "" {
			task, state, result = "-", "skipped", r.Skipped
		}
		if r.Manual {
			state += " (manual)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", r.Time.Local().Format(time.RFC3339), task, state, result)
	}
	_ = tw.Flush()
}

// when describes a schedule's timing.
func when(s *bus.Schedule) string {
	var out string
	switch {
	case s.Cron != "":
		out = "cron " + s.Cron
		if s.TZ != "" {
			out += " " + s.TZ
		}
	case s.Every > 0:
		out = "every " + time.Duration(s.Every).String()
	case s.At != nil:
		out = "at " + s.At.Local().Format(time.RFC3339)
	}
	if s.Overlap == bus.OverlapQueue {
		out += ", queue"
	}
	return out
}

func nextRun(v *bus.ScheduleView) string {
	switch {
	case v.Paused:
		return "paused"
	case v.Done:
		return "done"
	case len(v.NextRuns) == 0:
		return "-"
	}
	d := time.Until(v.NextRuns[0])
	if d < 0 {
		return "now"
	}
	return v.NextRuns[0].Local().Format("2006-01-02 15:04:05") + " (in " + short(d) + ")"
}

func lastRun(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return age(*t)
}

func lastResult(v *bus.ScheduleView) string {
	if v.LastState == "" {
		return "-"
	}
	if v.LastResult == "" {
		return string(v.LastState)
	}
	return string(v.LastState) + ": " + oneLine(v.LastResult, 30)
}

// printWebhooks says what happened to a task's notifications.
func printWebhooks(w io.Writer, s *bus.Summary, list []*bus.WebhookDelivery) {
	if s.Notify == "" {
		return
	}
	if len(list) == 0 {
		fmt.Fprintf(w, "webhook:  %s: nothing sent yet (sent when a turn ends)\n", s.Notify)
		return
	}
	for _, d := range list {
		line := fmt.Sprintf("webhook:  %s %s to %s after %d attempt(s)", d.Type.Short(), d.State, d.URL, d.Attempts)
		if d.LastStatus != 0 {
			line += fmt.Sprintf(", last HTTP %d", d.LastStatus)
		}
		if d.State != bus.WebhookDelivered && d.LastError != "" {
			line += ": " + d.LastError
		}
		if d.State == bus.WebhookPending && d.NextAttempt != nil {
			line += ", next try in " + short(time.Until(*d.NextAttempt))
		}
		fmt.Fprintln(w, line)
	}
}
