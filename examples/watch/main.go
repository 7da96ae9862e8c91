// Command watch is an example of a tool built on Viber's bus package: it
// connects to NATS, replays one task from its first event (or follows every
// task from now on) and prints each event with its typed payload.
//
//	go run ./examples/watch --nats-url nats://127.0.0.1:4222 TASK_ID
//	go run ./examples/watch --all
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
)

func main() {
	url := flag.String("nats-url", "nats://127.0.0.1:4222", "NATS server URL")
	all := flag.Bool("all", false, "follow every task's new events instead of replaying one task")
	flag.Parse()
	if err := run(*url, *all, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "watch:", err)
		os.Exit(1)
	}
}

func run(url string, all bool, args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	nc, err := bus.Connect(bus.ConnectOptions{URL: url, Name: "example-watch"})
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if all {
		return followAll(ctx, js)
	}
	if len(args) != 1 {
		return fmt.Errorf("give one task id, or --all")
	}
	log := bus.NewLog(js)
	for ev, err := range log.Replay(ctx, args[0], bus.ReplayOptions{Follow: bus.UntilEnd}) {
		if err != nil {
			return err
		}
		if err := print(ev); err != nil {
			return err
		}
	}
	return nil
}

// followAll reads new events of every task from the log with an ordered
// consumer, the way a dashboard backend or an audit tool would.
func followAll(ctx context.Context, js jetstream.JetStream) error {
	cons, err := js.OrderedConsumer(ctx, bus.TaskStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{bus.TaskSubjects()},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return nil
		}
		ev, err := bus.ParseEvent(m.Data())
		if err != nil {
			fmt.Fprintln(os.Stderr, "skipping:", err)
			continue
		}
		if err := print(ev); err != nil {
			return err
		}
	}
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
