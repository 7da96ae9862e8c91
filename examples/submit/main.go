// Command submit is an example of a tool built on Viber's client package:
// it creates a task with the words given as its goal, shows the model's
// text as it streams and each stored event, and prints the result. The
// exit code is 0 when the task completed and 1 otherwise.
//
//	go run ./examples/submit --nats-url nats://127.0.0.1:4222 say hello
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/client"
)

func main() {
	url := flag.String("nats-url", "nats://127.0.0.1:4222", "NATS server URL")
	daemon := flag.String("daemon", "", "run on this daemon only")
	flag.Parse()
	if err := run(*url, *daemon, strings.Join(flag.Args(), " ")); err != nil {
		fmt.Fprintln(os.Stderr, "submit:", err)
		os.Exit(1)
	}
}

func run(url, daemon, goal string) error {
	if strings.TrimSpace(goal) == "" {
		return errors.New("give the goal as arguments")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	nc, err := bus.Connect(bus.ConnectOptions{URL: url, Name: "example-submit"})
	if err != nil {
		return err
	}
	defer nc.Close()
	cl, err := client.New(nc)
	if err != nil {
		return err
	}
	task, err := cl.CreateTask(ctx, &bus.CreateTaskRequest{Goal: goal, Daemon: daemon, Submitter: "example-submit"})
	switch {
	case errors.Is(err, bus.ErrDaemonNotFound):
		return fmt.Errorf("no daemon %q has registered: %w", daemon, err)
	case err != nil:
		return err
	}
	fmt.Fprintln(os.Stderr, "task", task.ID)
	// The model's words as it writes them (never stored) ...
	stopLive, err := cl.Live(ctx, task.ID, func(d bus.Delta) { fmt.Fprint(os.Stderr, d.Text) })
	if err != nil {
		return err
	}
	defer stopLive()
	// ... and every stored event until the task ends.
	var last uint64
	for ev, err := range cl.Watch(ctx, task.ID, client.WatchOptions{Follow: bus.UntilEnd}) {
		if err != nil {
			return fmt.Errorf("watching stopped after event %d (resume with WatchOptions.AfterSeq): %w", last, err)
		}
		last = ev.Seq
		fmt.Fprintf(os.Stderr, "\n#%d %s", ev.Seq, ev.Type.Short())
	}
	fmt.Fprintln(os.Stderr)
	sum, err := cl.Task(ctx, task.ID)
	if err != nil {
		return err
	}
	if sum.State != bus.StateCompleted {
		return fmt.Errorf("task %s: %s %s", sum.ID, sum.State, sum.Error)
	}
	fmt.Println(sum.Result)
	return nil
}
