package bus

import (
	"fmt"
	"os"
	"strings"
)

// Stream, bucket and consumer names. They are part of the wire: tools and
// operators refer to them (for example `nats stream view VIBER_TASKS`).
const (
	// TaskStream is the durable task log.
	TaskStream = "VIBER_TASKS"
	// WorkStream holds assignments with work-queue retention.
	WorkStream = "VIBER_WORK"
	// DaemonBucket is the KV bucket holding daemon presence.
	DaemonBucket = "viber_daemons"
	// TaskBucket is the KV bucket holding the task-summary view.
	TaskBucket = "viber_tasks"
	// AnyWorkConsumer is the durable consumer shared by every daemon for
	// assignments that name no daemon.
	AnyWorkConsumer = "any"
	// ProjectorConsumer is the gateway's durable consumer on the task log.
	ProjectorConsumer = "projector"
	// OutboxStream is an edge daemon's local stream (in its own JetStream
	// domain) of events waiting for the hub.
	OutboxStream = "VIBER_OUTBOX"
	// ServiceName is the name of the gateway's NATS micro service.
	ServiceName = "viber"

	// AnyDaemon is the assignment target that any daemon may take.
	AnyDaemon = "any"
)

// Header names used on the wire beyond the CloudEvents JSON body.
const (
	// HeaderMsgID is JetStream's de-duplication header; Viber sets it to the
	// event id.
	HeaderMsgID = "Nats-Msg-Id"
	// HeaderEventType repeats the envelope's type so that tools can filter
	// without decoding the body.
	HeaderEventType = "Viber-Event-Type"
	// HeaderServiceError and HeaderServiceErrorCode carry a micro service
	// error (set by nats.go/micro).
	HeaderServiceError     = "Nats-Service-Error"
	HeaderServiceErrorCode = "Nats-Service-Error-Code"
)

const (
	root        = "viber"
	taskPrefix  = root + ".task."
	workPrefix  = root + ".work."
	livePrefix  = root + ".live."
	apiPrefix   = root + ".api"
	taskAllSubj = taskPrefix + ">"
	workAllSubj = workPrefix + ">"
)

// TaskSubjects is the subject filter of the whole task log (`viber.task.>`).
func TaskSubjects() string { return taskAllSubj }

// TaskStreamSubjects is what VIBER_TASKS captures: exactly the five-token
// event subjects viber.task.<task_id>.<writer>.<event>. A publish to any
// other subject under viber.task is not stored.
func TaskStreamSubjects() string { return taskPrefix + "*.*.*" }

// The writer token of a task-event subject names who wrote the event, so
// that NATS permissions can bind a credential to what it may write and
// readers can check an event's source against it.
const (
	// GatewayWriter is the writer token of every gateway.
	GatewayWriter = "gw"
	// daemonWriterPrefix starts the writer token of a daemon: d-<daemon id>.
	daemonWriterPrefix  = "d-"
	gatewaySourcePrefix = "vibergw/"
	daemonSourcePrefix  = "viberd/"
)

// DaemonWriter is the writer token of daemon id: d-<id>.
func DaemonWriter(daemonID string) string { return daemonWriterPrefix + daemonID }

// GatewaySource is the event source of gateway id: vibergw/<id>.
func GatewaySource(gatewayID string) string { return gatewaySourcePrefix + gatewayID }

// DaemonSource is the event source of daemon id: viberd/<id>.
func DaemonSource(daemonID string) string { return daemonSourcePrefix + daemonID }

// SourceDaemon returns the daemon id of a daemon source ("viberd/<id>").
func SourceDaemon(source string) (string, bool) {
	id, ok := strings.CutPrefix(source, daemonSourcePrefix)
	return id, ok && ValidToken(id)
}

// SourceIsGateway reports whether source is a gateway's ("vibergw/<id>").
func SourceIsGateway(source string) bool {
	id, ok := strings.CutPrefix(source, gatewaySourcePrefix)
	return ok && ValidToken(id)
}

// WriterOf returns the writer token for an event source: [GatewayWriter]
// for "vibergw/<id>", d-<id> for "viberd/<id>". Other sources cannot write
// the task log.
func WriterOf(source string) (string, error) {
	if SourceIsGateway(source) {
		return GatewayWriter, nil
	}
	if id, ok := SourceDaemon(source); ok {
		return DaemonWriter(id), nil
	}
	return "", fmt.Errorf("%w: source %q can not write the task log (want vibergw/<id> or viberd/<id>)", ErrMalformed, source)
}

// TaskEventSubject is where an event of the given type, written by writer
// (see [WriterOf]), is stored: viber.task.<task_id>.<writer>.<name>, with
// name the short form of the type (e.g. "started").
func TaskEventSubject(taskID, writer string, t Type) string {
	return taskPrefix + taskID + "." + writer + "." + t.Short()
}

// TaskSubjectParts splits a task-event subject into its task id, writer
// token and event name; ok is false for any other subject.
func TaskSubjectParts(subject string) (taskID, writer, name string, ok bool) {
	rest, found := strings.CutPrefix(subject, taskPrefix)
	if !found {
		return "", "", "", false
	}
	taskID, rest, found = strings.Cut(rest, ".")
	if !found {
		return "", "", "", false
	}
	writer, name, found = strings.Cut(rest, ".")
	if !found || strings.Contains(name, ".") || taskID == "" || writer == "" || name == "" {
		return "", "", "", false
	}
	return taskID, writer, name, true
}

// TaskFilter matches every event of one task: viber.task.<task_id>.>.
func TaskFilter(taskID string) string { return taskPrefix + taskID + ".>" }

// TaskWriterFilter matches the events one writer may publish for any task:
// viber.task.*.<writer>.* (what a daemon credential is allowed).
func TaskWriterFilter(writer string) string { return taskPrefix + "*." + writer + ".*" }

// TaskIDFromSubject returns the task id of a task-log subject, or "" when
// the subject is not one.
func TaskIDFromSubject(subject string) string {
	rest, ok := strings.CutPrefix(subject, taskPrefix)
	if !ok {
		return ""
	}
	id, _, ok := strings.Cut(rest, ".")
	if !ok {
		return ""
	}
	return id
}

// WorkSubjects is the subject filter of the work stream (`viber.work.>`).
func WorkSubjects() string { return workAllSubj }

// WorkSubject is where the assignment of a task to a target (a daemon id or
// [AnyDaemon]) is queued: viber.work.<target>.<task_id>.
func WorkSubject(target, taskID string) string {
	return workPrefix + target + "." + taskID
}

// WorkFilter matches every assignment for one target: viber.work.<target>.*.
// A daemon also subscribes to its own as a doorbell: an assignment queued
// for it while its last free slot waits on the shared queue.
func WorkFilter(target string) string { return workPrefix + target + ".*" }

// WorkTaskFilter matches the assignment of one task for any target:
// viber.work.*.<task_id>.
func WorkTaskFilter(taskID string) string { return workPrefix + "*." + taskID }

// DaemonWorkConsumer is the name of a daemon's own durable consumer on the
// work stream.
func DaemonWorkConsumer(daemonID string) string { return "daemon-" + daemonID }

// LiveSubject carries token deltas of a task on core NATS only:
// viber.live.<task_id>. Nothing published there is stored.
func LiveSubject(taskID string) string { return livePrefix + taskID }

// APISubjectPrefix is the subject prefix of the gateway's API endpoints.
func APISubjectPrefix() string { return apiPrefix }

// APISubject is the subject of one gateway API endpoint, e.g.
// APISubject("task", "create") = viber.api.task.create.
func APISubject(group, endpoint string) string {
	return apiPrefix + "." + group + "." + endpoint
}

// OutboxSubject is where an edge keeps an event of a task until the hub
// has it: viber.outbox.<task_id>.
func OutboxSubject(taskID string) string { return root + ".outbox." + taskID }

// OutboxSubjects matches every outbox subject.
func OutboxSubjects() string { return root + ".outbox.>" }

// HostToken returns the machine's host name made into a subject token
// (other characters become '-', at most 64 bytes), or fallback when the
// name cannot be read. It is the default id of gateways and daemons.
func HostToken(fallback string) string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return fallback
	}
	b := []byte(h)
	for i, c := range b {
		if !tokenByte(c) {
			b[i] = '-'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

func tokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// ValidToken reports whether s can be used as one subject token: non-empty,
// at most 64 bytes, of letters, digits, '-' and '_' only.
func ValidToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenByte(s[i]) {
			return false
		}
	}
	return true
}
