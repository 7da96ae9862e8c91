// Package client is the Go client of a Viber system, for tools that create,
// watch, steer and decide tasks. It speaks only NATS: requests go to the
// gateway's micro service on viber.api.> and task events are read straight
// from the task log in JetStream. It imports neither the gateway (the
// control plane) nor the dashboard, so a tool that only submits tasks stays
// small; a test checks the import graph.
//
// A typical tool connects, creates a task and follows it to its end:
//
//	nc, err := bus.Connect(bus.ConnectOptions{URL: "nats://127.0.0.1:4222", Name: "my-tool"})
//	if err != nil { ... }
//	defer nc.Close()
//	cl, err := client.New(nc)
//	if err != nil { ... }
//	task, err := cl.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "say hello"})
//	if err != nil { ... }
//	for ev, err := range cl.Watch(ctx, task.ID, client.WatchOptions{Follow: bus.UntilEnd}) {
//		if err != nil { ... }
//		fmt.Println(ev.Seq, ev.Type.Short())
//	}
//
// A watch that stopped (an error, a restart) resumes with
// WatchOptions.AfterSeq set to the seq of the last event it saw. Follow-ups
// go through [Client.SendInput] (queue or steer), cancellation through
// [Client.CancelTask], approvals through [Client.Approve], [Client.Deny] or
// [Client.Decide]. [Client.Daemons] and [Client.Skills] show who can run
// what (each daemon's named agents are in its presence). The fleet's
// memory is read and written with [Client.MemoryList], [Client.MemoryGet],
// [Client.MemoryPut] (compare-and-set on the revision),
// [Client.MemoryHistory] and [Client.MemoryRestore].
//
// # Errors
//
// An error the gateway answers is a *bus.APIError: its message says what
// went wrong and what to do, and errors.Is matches it against the bus
// sentinel of its code — bus.ErrTaskNotFound, bus.ErrDaemonNotFound,
// bus.ErrCallNotFound, bus.ErrConflict, bus.ErrTerminal, bus.ErrMalformed,
// bus.ErrTooLarge, bus.ErrUnauthorized. A gateway that does not answer gives
// bus.ErrUnavailable.
package client
