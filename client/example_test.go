package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/client"
	"github.com/viberhq/viber/gateway"
	"github.com/viberhq/viber/stack"
)

// Example creates a task, cancels it before any daemon takes it and
// replays its log. The system here is an in-process Viber without daemons;
// a tool would connect to a running one instead (viber up, vibergw).
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url, stop := startViber(ctx)
	defer stop()

	nc, err := bus.Connect(bus.ConnectOptions{URL: url, Name: "example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	cl, err := client.New(nc)
	if err != nil {
		fmt.Println(err)
		return
	}

	task, err := cl.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "say hello"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("created, state", task.State)
	if _, err := cl.CancelTask(ctx, &bus.CancelTaskRequest{ID: task.ID, Reason: "changed my mind"}); err != nil {
		fmt.Println(err)
		return
	}
	// Follow the task to its end (here: at once, as nobody held it).
	for ev, err := range cl.Watch(ctx, task.ID, client.WatchOptions{Follow: bus.UntilEnd}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(ev.Seq, ev.Type.Short())
	}
	// Refusals come back as bus sentinels.
	_, err = cl.CancelTask(ctx, &bus.CancelTaskRequest{ID: task.ID})
	fmt.Println("cancel again, ended already:", errors.Is(err, bus.ErrTerminal))
	// Output:
	// created, state pending
	// 1 created
	// 2 cancel_requested
	// 3 cancelled
	// cancel again, ended already: true
}

// startViber starts NATS and a gateway in this process for the example.
func startViber(ctx context.Context) (url string, stop func()) {
	dir, err := os.MkdirTemp("", "viber-example-")
	if err != nil {
		panic(err)
	}
	st, err := stack.Start(ctx, stack.Config{Dir: dir, NATSListen: "127.0.0.1:0", Gateway: gateway.Config{HTTPListen: "none"}, NoDaemon: true})
	if err != nil {
		panic(err)
	}
	return st.URL(), func() {
		st.Stop()
		os.RemoveAll(dir)
	}
}
