package command

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/client"
)

func usageCommand() *cli.Command {
	return &cli.Command{
		Name:      "usage",
		Usage:     "show token usage and cost per day",
		ArgsUsage: " ",
		Description: `usage sums the tokens (in and out) and the cost of the tasks created on
each UTC day of the last --days days, today included, then per model. A task
counts on the day it was created, with all of its turns so far. Costs come
from the daemons' price tables; tasks whose model had no price count their
tokens but no cost (they are counted as unpriced).

Example:

   viber usage --days 7
   viber usage --days 90 --json`,
		Flags: append(natsFlags(), jsonFlag(), timeoutFlag(),
			&cli.IntFlag{Name: "days", Usage: fmt.Sprintf("how many UTC days, today included (1 to %d)", bus.MaxUsageDays), Value: bus.DefaultUsageDays}),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit("viber usage: takes no arguments (did you mean --days N?)", 1)
			}
			days := c.Int("days")
			if days < 1 || days > bus.MaxUsageDays {
				return cli.Exit(fmt.Sprintf("viber usage: --days is %d; give 1 to %d", days, bus.MaxUsageDays), 1)
			}
			u, err := request(c, func(ctx context.Context, cl *client.Client) (*bus.UsageResponse, error) {
				return cl.Usage(ctx, days)
			})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, u)
			}
			printUsage(c.App.Writer, u)
			return nil
		},
	}
}

// printUsage prints the days that had tasks, newest first, the total, and
// the total per model.
func printUsage(w io.Writer, u *bus.UsageResponse) {
	if u.Total.Tasks == 0 {
		fmt.Fprintf(w, "no tasks from %s to %s (UTC)\n", u.From, u.To)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DAY (UTC)\tTASKS\tTOKENS IN\tTOKENS OUT\tCOST")
	for i := len(u.Days) - 1; i >= 0; i-- {
		d := u.Days[i]
		if d.Tasks == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", d.Day, d.Tasks, d.Usage.InputTokens, d.Usage.OutputTokens, costText(d))
	}
	fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", "total", u.Total.Tasks, u.Total.Usage.InputTokens, u.Total.Usage.OutputTokens, costText(u.Total))
	_ = tw.Flush()
	if len(u.Total.Models) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "MODEL\tTASKS\tTOKENS IN\tTOKENS OUT\tCOST")
		for _, m := range u.Total.Models {
			name := m.Model
			if name == "" {
				name = "(unknown)"
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", name, m.Tasks, m.Usage.InputTokens, m.Usage.OutputTokens, dollars(m.Usage.CostUSD))
		}
		_ = tw.Flush()
	}
	fmt.Fprintf(w, "\nFrom %s to %s (UTC); a task counts on the day it was created.\n", u.From, u.To)
}

// costText is a day's cost, saying how many of its tasks had no price.
func costText(d bus.UsageDay) string {
	t := dollars(d.Usage.CostUSD)
	if d.Unpriced > 0 {
		t += fmt.Sprintf(" (%d unpriced)", d.Unpriced)
	}
	return t
}

func dollars(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("$%.4f", v)
}
