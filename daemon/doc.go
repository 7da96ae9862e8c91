// Package daemon is Viber's worker host, run by cmd/viberd and by
// `viber up`.
//
// A [Daemon] makes outbound NATS connections only. It announces itself in
// the viber_daemons bucket with a heartbeat, pulls assignments from
// VIBER_WORK (its own durable consumer for tasks pinned to it, and the
// shared "any" consumer), and runs each task: it claims the task with a
// compare-and-set append of an assigned event, appends started, the
// model's messages and a terminal event, and acks the assignment only after
// the terminal event is stored. While a task runs it keeps the assignment
// alive with in-progress acks; a daemon that dies stops doing so and the
// assignment is redelivered to another daemon, which rebuilds the task from
// its log and continues it. A daemon that shuts down cleanly hands its tasks
// back at once.
package daemon
