// Command watch is an example of a tool built on Viber's client package: it
// connects to NATS, replays one task from its first event and follows it to
// its end (or follows every task from now on), and prints each event with
// its typed payload. --after resumes a watch after the event with that seq.
//
//	go run ./examples/watch --nats-url nats://127.0.0.1:4222 TASK_ID
//	go run ./examples/watch --after 5 TASK_ID
//	go run ./examples/watch --all
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/client"
)

func main() {
	url := flag.String("nats-url", "nats://127.0.0.1:4222", "NATS server URL")
	all := flag.Bool("all", false, "follow every task's new events instead of replaying one task")
	after := flag.Uint64("after", 0, "resume: show only events after this seq")
	flag.Parse()
	if err := run(*url, *all, *after, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "watch:", err)
		os.Exit(1)
	}
}

func run(url string, all bool, after uint64, args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	nc, err := bus.Connect(bus.ConnectOptions{URL: url, Name: "example-watch"})
	if err != nil {
		return err
	}
	defer nc.Close()
	cl, err := client.New(nc)
	if err != nil {
		return err
	}
	events := cl.WatchAll(ctx)
	if !all {
		if len(args) != 1 {
			return fmt.Errorf("give one task id, or --all")
		}
		events = cl.Watch(ctx, args[0], client.WatchOptions{Follow: bus.UntilEnd, AfterSeq: after})
	}
	for ev, err := range events {
		if err != nil {
			if all && (errors.Is(err, bus.ErrMalformed) || errors.Is(err, bus.ErrUnknownType)) {
				fmt.Fprintln(os.Stderr, "skipping:", err)
				continue
			}
			return err
		}
		if err := print(ev); err != nil {
			return err
		}
	}
	return nil
}

func print(ev *bus.Event) error {
	p, err := ev.Decode()
	if err != nil {
		return err
	}
	switch d := p.(type) {
	case *bus.Created:
		fmt.Printf("%s #%d created: %s\n", ev.Subject, ev.Seq, d.Goal)
	case *bus.Started:
		fmt.Printf("%s #%d started on %s\n", ev.Subject, ev.Seq, d.Daemon)
	case *bus.Message:
		fmt.Printf("%s #%d %s says: %s\n", ev.Subject, ev.Seq, d.Role, d.Text)
	case *bus.Completed:
		fmt.Printf("%s #%d completed: %s\n", ev.Subject, ev.Seq, d.Result)
	case *bus.Failed:
		fmt.Printf("%s #%d failed: %s\n", ev.Subject, ev.Seq, d.Error)
	default:
		fmt.Printf("%s #%d %s\n", ev.Subject, ev.Seq, ev.Type.Short())
	}
	return nil
}
