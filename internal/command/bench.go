package command

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/bench"
	"github.com/viberhq/viber/daemon"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure Viber against raw JetStream on this machine",
		Description: `bench starts an embedded NATS server in a temporary directory and measures,
in one run: raw JetStream async publish vs typed appends through bus, a raw
ordered consumer vs replaying one task, submit → started latency with an
in-process model, trivial tasks per second with 20 submitters and the CPU
per task. It prints one JSON object with --json, and exits 0 whether or not
the targets were met ("targets", "missed" and "pass" in the output; the
figures and why some miss: docs/performance.md).

With --daemons N it measures a fleet instead: one gateway and N simulated
daemons in this process (each the real daemon code on its own NATS
connection, with presence and a work consumer, and an instant model), all
started at once; the idle fleet's cost; submit → started on the idle fleet;
then a backlog drained, every task's log checked for exactly one run:

    viber bench --daemons 1000 --backlog 10000 --json`,
		Flags: []cli.Flag{
			jsonFlag(),
			&cli.IntFlag{Name: "events", Usage: "events appended and replayed", Value: 100_000},
			&cli.IntFlag{Name: "tasks", Usage: "tasks the appends are spread over", Value: 1_000},
			&cli.IntFlag{Name: "dispatch", Usage: "tasks submitted for the latency figures", Value: 1_000},
			&cli.StringFlag{Name: "dir", Usage: "where the temporary stores go (default: the OS temp dir)"},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write this process's CPU profile to `FILE` and the NATS server's to FILE.nats (go tool pprof)"},
			&cli.IntFlag{Name: "daemons", Usage: "measure a fleet of this many simulated daemons instead"},
			&cli.IntFlag{Name: "backlog", Usage: "with --daemons: tasks submitted at once for the fleet to drain", Value: 10_000},
			&cli.IntFlag{Name: "capacity", Usage: "with --daemons: tasks each daemon runs at once", Value: 4},
			&cli.DurationFlag{Name: "heartbeat", Usage: "with --daemons: the daemons' presence interval", Value: 5 * time.Second},
			&cli.DurationFlag{Name: "pull-wait", Usage: "with --daemons: how long an idle daemon's pull waits", Value: daemon.DefaultPullWait},
			&cli.DurationFlag{Name: "idle", Usage: "with --daemons: how long the idle fleet is measured", Value: 10 * time.Second},
		},
		Subcommands: []*cli.Command{{
			Name:   "serve-nats",
			Usage:  "run the benchmark's NATS server (bench starts it as a child process)",
			Hidden: true,
			Flags:  []cli.Flag{&cli.StringFlag{Name: "dir", Required: true}, &cli.StringFlag{Name: "cpuprofile"}},
			Action: func(c *cli.Context) error {
				return bench.ServeNATS(c.String("dir"), c.String("cpuprofile"), os.Stdin, os.Stdout)
			},
		}},
		Action: func(c *cli.Context) error {
			ctx, stop := signalContext(c.Context)
			defer stop()
			var progress io.Writer = os.Stderr
			var childNATS func(context.Context, string) (*bench.NATS, error)
			if f := c.String("cpuprofile"); f != "" {
				stopProfile, err := bench.StartCPUProfile(f)
				if err != nil {
					return userError(err)
				}
				defer stopProfile()
				childNATS = bench.ProfiledChildNATS(f + ".nats")
			}
			if c.Int("daemons") > 0 {
				return benchFleet(ctx, c, progress, childNATS)
			}
			r, err := bench.Run(ctx, bench.Options{
				AppendEvents: c.Int("events"), AppendTasks: c.Int("tasks"), ReplayEvents: c.Int("events"),
				DispatchTasks: c.Int("dispatch"), Dir: c.String("dir"), Progress: progress, NATS: childNATS,
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
			fmt.Printf("append   %10.0f/s vs raw %10.0f/s  ratio %.2f (target ≥ %.1f) %s\n", r.AppendPerS, r.RawJSPubPerS, r.AppendRatio, r.Targets.AppendRatio, verdict(r.Met("append_ratio")))
			fmt.Printf("replay   %10.0f/s vs raw %10.0f/s  ratio %.2f (target ≥ %.1f) %s\n", r.ReplayPerS, r.RawOrderedPerS, r.ReplayRatio, r.Targets.ReplayRatio, verdict(r.Met("replay_ratio")))
			fmt.Printf("dispatch p50 %.2f ms (target < %.0f) %s, p99 %.2f ms (target < %.0f) %s\n", r.DispatchP50Ms, r.Targets.DispatchP50Ms, verdict(r.Met("dispatch_p50_ms")), r.DispatchP99Ms, r.Targets.DispatchP99Ms, verdict(r.Met("dispatch_p99_ms")))
			fmt.Printf("task     p50 %.2f ms submit → completed; %.0f tasks/s with 20 submitters (target ≥ %.0f) %s\n", r.TaskP50Ms, r.TasksPerS, r.Targets.TasksPerS, verdict(r.Met("tasks_per_s_c20")))
			fmt.Printf("cpu      %.2f ms per task in Viber's process (target ≤ %.0f) %s, %.2f ms in the NATS server's\n", r.CPUMsPerTask, r.Targets.CPUMsPerTask, verdict(r.Met("cpu_ms_per_task")), r.NATSCPUMsPerTask)
			fmt.Printf("machine  %d CPUs, %s/%s, %s, nats-server %s\n", r.Machine.CPUs, r.Machine.OS, r.Machine.Arch, r.Machine.Go, r.Machine.NATSServer)
			return nil
		},
	}
}

// benchFleet runs `viber bench --daemons N`.
func benchFleet(ctx context.Context, c *cli.Context, progress io.Writer, nats func(context.Context, string) (*bench.NATS, error)) error {
	r, err := bench.RunFleet(ctx, bench.FleetOptions{
		Daemons: c.Int("daemons"), Backlog: c.Int("backlog"), Capacity: c.Int("capacity"),
		Heartbeat: c.Duration("heartbeat"), PullWait: c.Duration("pull-wait"), Idle: c.Duration("idle"),
		Dispatch: min(c.Int("dispatch"), 200), Dir: c.String("dir"), Progress: progress,
		NATS: nats,
	})
	if err != nil {
		return userError(err)
	}
	if c.Bool("json") {
		return printJSON(os.Stdout, r)
	}
	fmt.Printf("fleet    %d daemons (capacity %d, heartbeat %gs, pull wait %gs) online in %.2f s\n", r.Daemons, r.Capacity, r.HeartbeatS, r.PullWaitS, r.StartupS)
	fmt.Printf("idle     %.1f%% CPU here, %.1f%% in NATS; %.0f presence writes/s (%.0f B/s)\n", r.IdleCPUPct, r.IdleNATSCPUPct, r.IdlePresenceWritesPerS, r.IdlePresenceBytesPerS)
	fmt.Printf("dispatch p50 %.2f ms, p99 %.2f ms submit → started on the idle fleet\n", r.DispatchP50Ms, r.DispatchP99Ms)
	fmt.Printf("backlog  %d tasks drained in %.2f s (%.0f tasks/s, submitted in %.2f s); queued p50 %.0f ms, p99 %.0f ms; %.2f ms CPU/task\n", r.Backlog, r.DrainS, r.TasksPerS, r.SubmitS, r.QueueP50Ms, r.QueueP99Ms, r.CPUMsPerTask)
	fmt.Printf("check    %d completed exactly once, %d more than once, %d never; %d daemons ran tasks\n", r.Completed, r.Duplicates, r.Missing, r.DaemonsUsed)
	fmt.Printf("memory   gateway %.0f MB, total %.0f MB (peak %.0f), %.0f KB per daemon; NATS %.0f MB\n", r.GatewayRSSMB, r.TotalRSSMB, r.PeakRSSMB, r.RSSPerDaemonKB, r.NATSRSSMB)
	return nil
}
