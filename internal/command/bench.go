package command

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/bench"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure Viber against raw JetStream on this machine",
		Description: `bench starts an embedded NATS server in a temporary directory and measures,
in one run: raw JetStream async publish vs typed appends through bus, a raw
ordered consumer vs replaying one task, and submit → started latency with an
in-process model. It prints one JSON object with --json, and exits 0 whether
or not the design's targets were met (see "pass" in the output).`,
		Flags: []cli.Flag{
			jsonFlag(),
			&cli.IntFlag{Name: "events", Usage: "events appended and replayed", Value: 100_000},
			&cli.IntFlag{Name: "tasks", Usage: "tasks the appends are spread over", Value: 1_000},
			&cli.IntFlag{Name: "dispatch", Usage: "tasks submitted for the latency figures", Value: 1_000},
			&cli.StringFlag{Name: "dir", Usage: "where the temporary stores go (default: the OS temp dir)"},
		},
		Subcommands: []*cli.Command{{
			Name:   "serve-nats",
			Usage:  "run the benchmark's NATS server (bench starts it as a child process)",
			Hidden: true,
			Flags:  []cli.Flag{&cli.StringFlag{Name: "dir", Required: true}},
			Action: func(c *cli.Context) error { return bench.ServeNATS(c.String("dir"), os.Stdin, os.Stdout) },
		}},
		Action: func(c *cli.Context) error {
			ctx, stop := signalContext(c.Context)
			defer stop()
			var progress io.Writer = os.Stderr
			r, err := bench.Run(ctx, bench.Options{
				AppendEvents: c.Int("events"), AppendTasks: c.Int("tasks"), ReplayEvents: c.Int("events"),
				DispatchTasks: c.Int("dispatch"), Dir: c.String("dir"), Progress: progress,
			})
			if err != nil {
				return userError(err)
			}
			if c.Bool("json") {
				return printJSON(os.Stdout, r)
			}
			verdict := func(ok bool) string {
				if ok {
					return "ok"
				}
				return "MISS"
			}
			fmt.Printf("append   %10.0f/s vs raw %10.0f/s  ratio %.2f (target ≥ %.1f) %s\n", r.AppendPerS, r.RawJSPubPerS, r.AppendRatio, r.Targets.AppendRatio, verdict(r.AppendRatio >= r.Targets.AppendRatio))
			fmt.Printf("replay   %10.0f/s vs raw %10.0f/s  ratio %.2f (target ≥ %.1f) %s\n", r.ReplayPerS, r.RawOrderedPerS, r.ReplayRatio, r.Targets.ReplayRatio, verdict(r.ReplayRatio >= r.Targets.ReplayRatio))
			fmt.Printf("dispatch p50 %.2f ms (target < %.0f) %s, p99 %.2f ms (target < %.0f) %s\n", r.DispatchP50Ms, r.Targets.DispatchP50Ms, verdict(r.DispatchP50Ms < r.Targets.DispatchP50Ms), r.DispatchP99Ms, r.Targets.DispatchP99Ms, verdict(r.DispatchP99Ms < r.Targets.DispatchP99Ms))
			fmt.Printf("task     p50 %.2f ms submit → completed; %.0f tasks/s with 20 submitters\n", r.TaskP50Ms, r.TasksPerS)
			fmt.Printf("cpu      %.2f ms per task in Viber's process, %.2f ms in the NATS server's\n", r.CPUMsPerTask, r.NATSCPUMsPerTask)
			fmt.Printf("machine  %d CPUs, %s/%s, %s, nats-server %s\n", r.Machine.CPUs, r.Machine.OS, r.Machine.Arch, r.Machine.Go, r.Machine.NATSServer)
			return nil
		},
	}
}
