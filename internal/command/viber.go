package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/daemon"
	"github.com/viberhq/viber/gateway"
	"github.com/viberhq/viber/stack"
)

// Viber is the viber command: the newcomer's `viber up` and the client
// commands.
func Viber() *cli.App {
	return &cli.App{
		Name:    "viber",
		Usage:   "turn machines into hosts for AI workers",
		Version: Version,
		Description: `First time here: 'viber init' finds a model and writes ~/.viber/config.yaml;
'viber doctor' checks the whole set-up.

Start everything on this machine with 'viber up', then give it work:

   viber task submit --wait "summarise the README in the workspace"

Every command below 'up' is a NATS client: point it at your server with
--nats-url (or VIBER_NATS_URL).`,
		Commands: []*cli.Command{upCommand(), initCommand(), doctorCommand(), taskCommand(), scheduleCommand(), daemonCommand(), skillCommand(), agentCommand(), memoryCommand(), usageCommand(), mcpCommand(), channelCommand(), benchCommand()},
		ExitErrHandler: func(c *cli.Context, err error) {
			cli.HandleExitCoder(err)
		},
	}
}

func upCommand() *cli.Command {
	return &cli.Command{
		Name:  "up",
		Usage: "run NATS, the gateway and a local daemon in one process",
		Description: `up starts an embedded NATS server with JetStream (data under --data), the
gateway and one local daemon, and runs until interrupted. Models come from the
config file and the environment (see 'viberd --help'): with none configured,
tasks fail with a message saying what to set. When the config file has a
channels: section, the chat bridges run too (see 'viber channel run --help').`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "data", Usage: "directory for all state (JetStream store, default workspace)", EnvVars: []string{"VIBER_DATA"}, Value: filepath.Join(viberHome(), "data")},
			&cli.StringFlag{Name: "nats-listen", Usage: "NATS client listener HOST:PORT (beyond loopback only with --insecure: up has no NATS auth)", EnvVars: []string{"VIBER_NATS_LISTEN"}, Value: "127.0.0.1:4222"},
			&cli.BoolFlag{Name: "insecure", Usage: "accept a --nats-listen beyond loopback: an open NATS server anyone who reaches it can use (warned at every start)", EnvVars: []string{"VIBER_INSECURE"}},
			&cli.StringFlag{Name: "http-listen", Usage: "HTTP listener HOST:PORT", EnvVars: []string{"VIBER_HTTP_LISTEN"}, Value: gateway.DefaultHTTPListen},
			&cli.StringFlag{Name: "http-token", Usage: "token HTTP clients must send; required when --http-listen is not loopback", EnvVars: []string{"VIBER_HTTP_TOKEN"}},
			&cli.StringFlag{Name: "leaf-listen", Usage: "accept edge daemons' leaf-node links on HOST:PORT", EnvVars: []string{"VIBER_LEAF_LISTEN"}},
			&cli.StringFlag{Name: "name", Usage: "the local daemon's id", EnvVars: []string{"VIBER_DAEMON_NAME"}, Value: "local"},
			&cli.StringFlag{Name: "workspace", Usage: "the local daemon's workspace (default DATA/workspace)", EnvVars: []string{"VIBER_WORKSPACE"}},
			&cli.IntFlag{Name: "capacity", Usage: "tasks the local daemon runs at once", Value: 4},
			&cli.BoolFlag{Name: "no-daemon", Usage: "start no local daemon"},
			webhookSecretFlag(), webhookPrivateFlag(),
			configFlag(),
		}, logFlags()...),
		Action: func(c *cli.Context) error {
			log, err := newLogger(c, os.Stderr)
			if err != nil {
				return userError(err)
			}
			if err := checkHTTPToken(c.String("http-token")); err != nil {
				return userError(err)
			}
			ctx, stop := signalContext(c.Context)
			defer stop()
			setup, err := loadAgentSetup(c, log)
			if err != nil {
				return userError(err)
			}
			flush, err := startTracing(ctx, "viber", log)
			if err != nil {
				return userError(err)
			}
			defer flush()
			st, err := stack.Start(ctx, stack.Config{
				Dir: c.String("data"), NATSListen: c.String("nats-listen"), LeafListen: c.String("leaf-listen"), Insecure: c.Bool("insecure"),
				NoDaemon: c.Bool("no-daemon"),
				Gateway: gateway.Config{HTTPListen: c.String("http-listen"), HTTPToken: c.String("http-token"), Version: Version, Logger: log,
					WebhookSecret:       firstNonEmpty(c.String("webhook-secret"), setup.webhookSecret),
					WebhookAllowPrivate: c.Bool("webhook-allow-private") || setup.webhookAllowPrivate,
				},
				Daemon: daemon.Config{
					ID: c.String("name"), Workspace: c.String("workspace"), Capacity: c.Int("capacity"), Home: viberHome(),
					Models: setup.models, Policy: &setup.policy, Tools: setup.tools, MaxSteps: setup.maxSteps,
				},
			})
			if err != nil {
				return userError(err)
			}
			var bridges sync.WaitGroup
			if cc := setup.models.Channels; cc.Any() {
				if err := startBridges(ctx, st, cc, log, &bridges); err != nil {
					log.Warn().Err(err).Msg("chat channels not started")
				}
			}
			fmt.Fprintf(os.Stderr, "\nViber is up.\n  NATS      %s\n  HTTP      http://%s\n  data      %s\n  try       viber task submit --wait \"say hello\"\n  stop      Ctrl-C\n\n",
				st.URL(), st.Gateway.HTTPAddr(), c.String("data"))
			<-ctx.Done()
			log.Info().Msg("stopping")
			bridges.Wait()
			st.Stop()
			return userError(st.Err())
		},
	}
}

// dial connects to NATS and returns a client of the gateway's API; the
// caller closes the connection.
func dial(c *cli.Context) (*client.Client, *nats.Conn, error) {
	nc, err := connect(c, "viber-cli", nil)
	if err != nil {
		return nil, nil, err
	}
	cl, err := client.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return cl, nc, nil
}

// request connects, makes one gateway request bounded by --timeout, and
// closes the connection; errors come back ready to print.
func request[T any](c *cli.Context, fn func(context.Context, *client.Client) (T, error)) (T, error) {
	var zero T
	cl, nc, err := dial(c)
	if err != nil {
		return zero, userError(err)
	}
	defer nc.Close()
	ctx, cancel := requestContext(c)
	defer cancel()
	v, err := fn(ctx, cl)
	if err != nil {
		return zero, userError(err)
	}
	return v, nil
}

func jsonFlag() cli.Flag { return &cli.BoolFlag{Name: "json", Usage: "print JSON"} }

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func taskCommand() *cli.Command {
	common := func(extra ...cli.Flag) []cli.Flag {
		return append(append(natsFlags(), jsonFlag(), timeoutFlag()), extra...)
	}
	return &cli.Command{
		Name:  "task",
		Usage: "submit, watch and manage tasks",
		Subcommands: []*cli.Command{
			{
				Name:      "submit",
				Usage:     "create a task; prints its id",
				ArgsUsage: "GOAL...",
				Description: `submit creates a task with the words of GOAL and prints its id. With --wait it
follows the task to its end, shows progress on stderr and prints the result on
stdout; the exit code is 0 when it completed, 1 when it failed and 2 when it
was cancelled.`,
				Flags: common(
					&cli.StringFlag{Name: "daemon", Usage: "run on this daemon only"},
					&cli.StringFlag{Name: "model", Usage: "provider/model to use (e.g. openai/gpt-4o-mini)"},
					&cli.StringSliceFlag{Name: "skill", Usage: "skill the task needs (repeatable)"},
					&cli.StringSliceFlag{Name: "tool", Usage: "tool the task needs, such as an MCP server's mcp_github_get_issue (repeatable): only a daemon offering it takes the task"},
					&cli.StringFlag{Name: "agent", Usage: "named agent to run the task (`viber agent ls` lists them); default: the daemon's default agent"},
					&cli.StringSliceFlag{Name: "policy", Usage: "TOOL=ask|deny to make the daemon's tool policy stricter for this task (repeatable; TOOL may be a glob such as mcp_github_*; shell:PREFIX=... for shell commands, *=... for every tool; allow and unknown tools are refused)"},
					&cli.BoolFlag{Name: "wait", Usage: "follow the task to its end and print the result"},
					&cli.StringFlag{Name: "notify", Usage: "POST the task's terminal event to this URL (signed with the gateway's webhook secret)"},
				),
				Action: taskSubmit,
			},
			{
				Name:      "watch",
				Usage:     "replay a task from its first event and follow it to its end",
				ArgsUsage: "ID",
				Flags:     common(&cli.BoolFlag{Name: "no-follow", Usage: "only replay what is stored; do not wait for more"}),
				Action:    taskWatch,
			},
			{
				Name:  "ls",
				Usage: "list tasks, newest first",
				Flags: common(
					&cli.StringFlag{Name: "state", Usage: "only tasks in this state (pending, assigned, running, waiting_approval, completed, failed, cancelled)"},
					&cli.StringFlag{Name: "daemon", Usage: "only tasks of this daemon"},
					&cli.StringFlag{Name: "schedule", Usage: "only tasks made by this schedule"},
					&cli.StringFlag{Name: "search", Usage: "only tasks whose goal contains this text (ignoring case)"},
					&cli.StringFlag{Name: "before", Usage: "only tasks older than this task id (the next page: the cursor the previous page printed)"},
					&cli.StringFlag{Name: "parent", Usage: "only the child tasks of this task"},
					&cli.IntFlag{Name: "limit", Usage: "at most this many", Value: bus.DefaultListLimit},
				),
				Action: taskList,
			},
			{Name: "show", Usage: "show a task's summary", ArgsUsage: "ID", Flags: common(), Action: taskShow},
			{
				Name: "tree", Usage: "show a task with its child tasks, and theirs", ArgsUsage: "ID",
				Description: "tree prints the task (or, given a child, its whole tree from the root) with each child\nunder its parent: state, agent and goal. Example:\n\n   viber task tree 01JD3...",
				Flags:       common(), Action: taskTree,
			},
			{
				Name: "cancel", Usage: "stop a task", ArgsUsage: "ID",
				Flags:  common(&cli.StringFlag{Name: "reason", Usage: "why (shown to watchers)"}),
				Action: taskCancel,
			},
			{
				Name: "rm", Usage: "remove a task: its log, assignment and summary", ArgsUsage: "ID",
				Description: `rm purges every event of an ended task from the task log, with its summary
and any assignment left. It cannot be undone. A task still pending or running is
refused unless --force (its daemon stops at its next write):

    viber task rm 01JD8Z4K6T3V2N9QW5XR7YB0CE
    viber task rm --force 01JD8Z4K6T3V2N9QW5XR7YB0CE`,
				Flags:  common(&cli.BoolFlag{Name: "force", Usage: "remove a task that has not ended"}),
				Action: taskRemove,
			},
			{
				Name: "approve", Usage: "let a tool call that waits for approval run", ArgsUsage: "ID CALL_ID",
				Flags:  common(&cli.StringFlag{Name: "reason", Usage: "note recorded with the decision"}),
				Action: func(c *cli.Context) error { return taskDecide(c, true) },
			},
			{
				Name: "deny", Usage: "refuse a tool call that waits for approval (the model is told)", ArgsUsage: "ID CALL_ID",
				Flags:  common(&cli.StringFlag{Name: "reason", Usage: "why; told to the model"}),
				Action: func(c *cli.Context) error { return taskDecide(c, false) },
			},
			{
				Name: "send", Usage: "send a follow-up to a task (a new turn if it ended)", ArgsUsage: "ID TEXT...",
				Flags:  common(&cli.BoolFlag{Name: "steer", Usage: "interrupt the current model call instead of waiting for the next step"}),
				Action: taskSend,
			},
		},
	}
}

func oneArg(c *cli.Context, what string) (string, error) {
	if c.NArg() != 1 {
		return "", cli.Exit(fmt.Sprintf("viber %s: want exactly one %s (see --help)", c.Command.FullName(), what), 1)
	}
	return c.Args().First(), nil
}

func taskSubmit(c *cli.Context) error {
	goal := strings.Join(c.Args().Slice(), " ")
	if strings.TrimSpace(goal) == "" {
		return cli.Exit("viber task submit: give the goal as arguments, e.g. viber task submit \"say hello\"", 1)
	}
	cl, nc, err := dial(c)
	if err != nil {
		return userError(err)
	}
	defer nc.Close()
	ctx, cancel := requestContext(c)
	defer cancel()
	policy, err := parsePolicy(c.StringSlice("policy"))
	if err != nil {
		return cli.Exit("viber task submit: "+err.Error(), 1)
	}
	sum, err := cl.CreateTask(ctx, &bus.CreateTaskRequest{
		Goal: goal, Daemon: c.String("daemon"), Model: c.String("model"), Skills: c.StringSlice("skill"), Tools: c.StringSlice("tool"), Agent: c.String("agent"), Policy: policy, Submitter: submitter(),
		Notify: c.String("notify"),
	})
	if err != nil {
		return userError(err)
	}
	if !c.Bool("wait") {
		if c.Bool("json") {
			return printJSON(os.Stdout, sum)
		}
		fmt.Println(sum.ID)
		return nil
	}
	fmt.Fprintf(os.Stderr, "task %s\n", sum.ID)
	wctx, stop := signalContext(c.Context)
	defer stop()
	var progress io.Writer = os.Stderr
	if c.Bool("json") {
		progress = io.Discard
	}
	last, err := follow(wctx, cl, sum.ID, progress, bus.UntilEnd, false)
	if err != nil {
		return userError(err)
	}
	final, err := bus.Fold(last)
	if err != nil {
		return userError(err)
	}
	if c.Bool("json") {
		if err := printJSON(os.Stdout, final); err != nil {
			return err
		}
	}
	return outcome(final, !c.Bool("json"))
}

// outcome prints the result and maps the final state to the exit code.
func outcome(s *bus.Summary, print bool) error {
	switch s.State {
	case bus.StateCompleted:
		if print {
			fmt.Println(s.Result)
		}
		return nil
	case bus.StateFailed:
		return cli.Exit("task failed: "+s.Error, ExitFailed)
	case bus.StateCancelled:
		return cli.Exit("task cancelled", ExitCancelled)
	}
	return cli.Exit("task ended in state "+string(s.State), ExitFailed)
}

func submitter() string {
	u := os.Getenv("USER")
	if u == "" {
		u = "cli"
	}
	return "viber/" + u
}

// follow replays a task to w (people, with the model's live text between
// stored events, or one JSON envelope per line) and returns its events.
func follow(ctx context.Context, cl *client.Client, id string, w io.Writer, mode bus.Follow, jsonLines bool) ([]*bus.Event, error) {
	var mu sync.Mutex
	streaming := false
	if !jsonLines && w != io.Discard {
		stop, err := cl.Live(ctx, id, func(d bus.Delta) {
			mu.Lock()
			defer mu.Unlock()
			if !streaming {
				fmt.Fprint(w, "     … ")
				streaming = true
			}
			fmt.Fprint(w, d.Text)
		})
		if err == nil {
			defer stop()
		}
	}
	var events []*bus.Event
	for ev, err := range cl.Watch(ctx, id, client.WatchOptions{Follow: mode}) {
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return events, fmt.Errorf("stopped watching task %s (it goes on; `viber task watch %s` to follow again)", id, id)
			}
			return events, err
		}
		events = append(events, ev)
		if jsonLines {
			b, _ := json.Marshal(ev)
			fmt.Fprintln(w, string(b))
			continue
		}
		mu.Lock()
		if streaming {
			fmt.Fprintln(w)
			streaming = false
		}
		printEvent(w, ev)
		mu.Unlock()
	}
	return events, nil
}

func taskWatch(c *cli.Context) error {
	id, err := oneArg(c, "task id")
	if err != nil {
		return err
	}
	cl, nc, err := dial(c)
	if err != nil {
		return userError(err)
	}
	defer nc.Close()
	ctx, stop := signalContext(c.Context)
	defer stop()
	mode := bus.UntilEnd
	if c.Bool("no-follow") {
		mode = bus.UntilCaughtUp
	}
	_, err = follow(ctx, cl, id, os.Stdout, mode, c.Bool("json"))
	if errors.Is(err, bus.ErrTaskNotFound) {
		return cli.Exit(fmt.Sprintf("viber: no task %q (`viber task ls` lists tasks)", id), 1)
	}
	return userError(err)
}

func taskList(c *cli.Context) error {
	resp, err := request(c, func(ctx context.Context, cl *client.Client) (*bus.ListTasksResponse, error) {
		return cl.ListTasks(ctx, &bus.ListTasksRequest{State: bus.State(c.String("state")), Daemon: c.String("daemon"), Schedule: c.String("schedule"),
			Parent: c.String("parent"), Query: c.String("search"), Before: c.String("before"), Limit: c.Int("limit")})
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(os.Stdout, resp)
	}
	if len(resp.Tasks) == 0 {
		fmt.Fprintln(os.Stderr, "no tasks")
		return nil
	}
	printTasks(os.Stdout, resp.Tasks)
	if resp.Next != "" {
		fmt.Fprintf(os.Stderr, "(%d of %d shown; the next page: --before %s)\n", len(resp.Tasks), resp.Total, resp.Next)
	}
	return nil
}

func taskShow(c *cli.Context) error {
	id, err := oneArg(c, "task id")
	if err != nil {
		return err
	}
	type shown struct {
		*bus.Summary
		Webhooks []*bus.WebhookDelivery `json:"webhooks,omitempty"`
	}
	var waiting map[string]*bus.ApprovalRequested
	var kidsWaiting []*bus.Summary
	v, err := request(c, func(ctx context.Context, cl *client.Client) (*shown, error) {
		s, err := cl.Task(ctx, id)
		if err != nil {
			return nil, err
		}
		out := &shown{Summary: s}
		if s.Notify != "" {
			if out.Webhooks, err = cl.Webhooks(ctx, id); err != nil {
				return nil, err
			}
		}
		if !c.Bool("json") {
			if len(s.PendingApprovals) > 0 {
				if waiting, err = waitingCalls(ctx, cl, id); err != nil {
					return nil, err
				}
			}
			kidsWaiting = childrenWaiting(ctx, cl, s)
		}
		return out, nil
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(os.Stdout, v)
	}
	printSummary(os.Stdout, v.Summary, waiting)
	printWebhooks(os.Stdout, v.Summary, v.Webhooks)
	for _, k := range kidsWaiting {
		for _, call := range k.PendingApprovals {
			fmt.Printf("child %s waits for approval of call %s: `viber task approve %s %s` or `viber task deny %s %s`\n", k.ID, call, k.ID, call, k.ID, call)
		}
	}
	return nil
}

// childrenWaiting returns the children of a task (and theirs) that wait
// for an approval, so a parent's page shows what holds it up.
func childrenWaiting(ctx context.Context, cl *client.Client, s *bus.Summary) []*bus.Summary {
	var out []*bus.Summary
	for _, ch := range s.Children {
		k, err := cl.Task(ctx, ch.Task)
		if err != nil {
			continue
		}
		if len(k.PendingApprovals) > 0 {
			out = append(out, k)
		}
		out = append(out, childrenWaiting(ctx, cl, k)...)
	}
	return out
}

// waitingCalls reads a task's log for its approval requests, by call id,
// so `task show` can say which tool waits and with what.
func waitingCalls(ctx context.Context, cl *client.Client, id string) (map[string]*bus.ApprovalRequested, error) {
	out := map[string]*bus.ApprovalRequested{}
	for ev, err := range cl.Log().Replay(ctx, id, bus.ReplayOptions{Follow: bus.UntilCaughtUp}) {
		if err != nil {
			return nil, fmt.Errorf("read the calls waiting for approval: %w", err)
		}
		if ev.Type != bus.TypeApprovalRequested {
			continue
		}
		p, err := ev.Decode()
		if err != nil {
			return nil, err
		}
		if a, ok := p.(*bus.ApprovalRequested); ok {
			out[a.CallID] = a
		}
	}
	return out, nil
}

func taskCancel(c *cli.Context) error {
	id, err := oneArg(c, "task id")
	if err != nil {
		return err
	}
	ev, err := request(c, func(ctx context.Context, cl *client.Client) (*bus.Event, error) {
		return cl.CancelTask(ctx, &bus.CancelTaskRequest{ID: id, Reason: c.String("reason"), By: submitter()})
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(os.Stdout, ev)
	}
	fmt.Printf("cancel requested for %s\n", id)
	return nil
}

func taskRemove(c *cli.Context) error {
	id, err := oneArg(c, "task id")
	if err != nil {
		return err
	}
	r, err := request(c, func(ctx context.Context, cl *client.Client) (*bus.RemoveTaskResponse, error) {
		return cl.RemoveTask(ctx, &bus.RemoveTaskRequest{ID: id, Force: c.Bool("force")})
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(os.Stdout, r)
	}
	fmt.Printf("removed %s (%s, %d events)\n", r.ID, r.State, r.Events)
	return nil
}

// parsePolicy reads --policy TOOL=DECISION flags. A task may only make the
// daemon's policy stricter, so "allow" is refused (it could only loosen or
// change nothing), and so is a tool no daemon knows (a typo would
// otherwise leave the tool as loose as before, unnoticed).
func parsePolicy(list []string) (map[string]string, error) {
	if len(list) == 0 {
		return nil, nil
	}
	tools := agents.ToolNames()
	out := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--policy %q: want TOOL=ask|deny", kv)
		}
		d, err := agents.ParseDecision(v)
		if err != nil {
			return nil, fmt.Errorf("--policy %q: %v", kv, err)
		}
		if d == agents.Allow {
			return nil, fmt.Errorf("--policy %q: a task may only make the daemon's tool policy stricter (ask or deny); allow belongs in the daemon's config file", kv)
		}
		switch prefix, isShell := strings.CutPrefix(k, "shell:"); {
		case k == "*":
		case isShell:
			if strings.TrimSpace(prefix) == "" {
				return nil, fmt.Errorf("--policy %q: want shell:PREFIX=ask|deny, e.g. 'shell:rm=deny'", kv)
			}
		case !slices.Contains(tools, k):
			return nil, fmt.Errorf("--policy %q: there is no tool %q; tools are %s, shell:PREFIX for shell commands and * for every tool", kv, k, strings.Join(tools, ", "))
		}
		out[k] = v
	}
	return out, nil
}

func taskDecide(c *cli.Context, approved bool) error {
	if c.NArg() != 2 {
		return cli.Exit(fmt.Sprintf("viber %s: want ID and CALL_ID (`viber task show ID` lists calls waiting for approval)", c.Command.FullName()), 1)
	}
	ev, err := request(c, func(ctx context.Context, cl *client.Client) (*bus.Event, error) {
		return cl.Decide(ctx, &bus.DecideRequest{ID: c.Args().Get(0), CallID: c.Args().Get(1), Approved: approved, Reason: c.String("reason"), By: submitter()})
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(os.Stdout, ev)
	}
	verb := "denied"
	if approved {
		verb = "approved"
	}
	fmt.Printf("%s call %s of %s\n", verb, c.Args().Get(1), c.Args().Get(0))
	return nil
}

func taskSend(c *cli.Context) error {
	if c.NArg() < 2 {
		return cli.Exit("viber task send: want ID and TEXT (see --help)", 1)
	}
	id, text := c.Args().First(), strings.Join(c.Args().Tail(), " ")
	mode := bus.InputQueue
	if c.Bool("steer") {
		mode = bus.InputSteer
	}
	ev, err := request(c, func(ctx context.Context, cl *client.Client) (*bus.Event, error) {
		return cl.SendInput(ctx, &bus.SendInputRequest{ID: id, Text: text, Mode: mode, By: submitter()})
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(os.Stdout, ev)
	}
	fmt.Printf("sent to %s (event #%d)\n", id, ev.Seq)
	return nil
}

func daemonCommand() *cli.Command {
	return &cli.Command{
		Name:  "daemon",
		Usage: "see the daemons",
		Subcommands: []*cli.Command{{
			Name:  "ls",
			Usage: "list daemons, online and offline",
			Flags: append(natsFlags(), jsonFlag(), timeoutFlag()),
			Action: func(c *cli.Context) error {
				list, err := request(c, func(ctx context.Context, cl *client.Client) ([]*bus.DaemonView, error) {
					return cl.Daemons(ctx)
				})
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(os.Stdout, &bus.ListDaemonsResponse{Daemons: list})
				}
				if len(list) == 0 {
					fmt.Fprintln(os.Stderr, "no daemons have registered yet (start one with `viberd` or `viber up`)")
					return nil
				}
				printDaemons(os.Stdout, list)
				return nil
			},
		}},
	}
}
