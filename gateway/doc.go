// Package gateway is Viber's control plane, run by cmd/vibergw and by
// `viber up`.
//
// A [Gateway] is a NATS client with four parts:
//
//   - the control API, a NATS micro service named "viber" with endpoints
//     under viber.api.> (create, get, list, cancel and send for tasks; list
//     for daemons), so `nats micro ls` and `nats micro info viber` show it;
//   - the dispatcher: a new task gets its created event and an assignment
//     in VIBER_WORK for the named daemon or for any daemon; a task nobody
//     takes stays pending until a daemon arrives and pulls it;
//   - the projector, which folds VIBER_TASKS into the viber_tasks summary
//     bucket with a durable consumer, so after a restart it continues where
//     it stopped; delete the bucket and the projector consumer and the next
//     gateway folds it again from the log;
//   - an HTTP server: /healthz, the HTTP API with SSE event streams, and
//     the embedded dashboard.
//
// Every piece of state lives in JetStream: a gateway can be killed and
// restarted at any moment without losing a task. The typed client of the
// control API, used by the viber CLI and by tools, is the separate package
// github.com/viberhq/viber/client, which does not import this one.
package gateway
