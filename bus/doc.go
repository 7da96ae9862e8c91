// Package bus is the only package that knows Viber's wire: the event
// envelope and its typed payloads, the NATS subjects, stream, consumer and
// bucket names, the header names, and how events are appended to and replayed
// from the task log.
//
// Everything else in Viber (gateway, daemon, CLI, outside tools) speaks to
// NATS and HTTP through the types and functions here, so the whole wire
// surface can be read in a few files:
//
//   - wire.go: [Wire], the registry of everything below with who writes
//     and who reads it, from which docs/wire.md is generated
//     (go generate ./internal/wiredoc);
//   - subject.go: every subject, stream, consumer, bucket and header name;
//   - event.go: the CloudEvents envelope and the payload of every event type;
//   - log.go, tail.go: appending to and replaying a task's log;
//   - setup.go: the configuration of every stream, consumer and bucket, and
//     their idempotent creation;
//   - live.go: token deltas on core NATS;
//   - work.go, presence.go, summary.go, api.go: assignments, daemon presence,
//     the task-summary view and the gateway's request/reply API;
//   - http.go: the gateway's HTTP routes, SSE event names and HTTP headers.
//
// # The task log
//
// Each task is the ordered list of events stored under
// viber.task.<task_id>.<writer>.<event> in the stream VIBER_TASKS. Every event carries
// a seq, its position in the task starting at 1. Several writers (gateway,
// daemon) may append to one task; [Log.Append] keeps seq gapless and the
// order total with JetStream's expected-last-subject-sequence check on the
// task's subjects, and it retries transparently when another writer got there
// first. The event id is the Nats-Msg-Id, so a retried publish is stored once.
package bus
