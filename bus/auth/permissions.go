package auth

import (
	"fmt"
	"strings"

	"github.com/nats-io/jwt/v2"

	"github.com/viberhq/viber/bus"
)

// jsAPI is the prefix of JetStream's API subjects (no JetStream domain).
const jsAPI = "$JS.API."

// DefaultInbox is the reply prefix nats.go uses unless told otherwise.
const DefaultInbox = "_INBOX"

// DaemonInbox is the per-daemon reply prefix that strict daemon
// credentials allow: _INBOX_viberd_<name>. A daemon connecting with
// nats.CustomInboxPrefix(DaemonInbox(name)) receives its replies (pulled
// assignments included) on subjects no other daemon may subscribe to.
func DaemonInbox(name string) string { return "_INBOX_viberd_" + name }

// kvStream is the stream behind a KV bucket.
func kvStream(bucket string) string { return "KV_" + bucket }

// kvKey is the subject of one key of a KV bucket.
func kvKey(bucket, key string) string { return "$KV." + bucket + "." + key }

// DaemonPermissions are the permissions of daemon name. inbox is the reply
// prefix its connection uses: "" or [DefaultInbox] for nats.go's default
// (then the daemon may subscribe to _INBOX.>, which lets a hostile daemon
// see replies meant for others), or a private prefix such as
// [DaemonInbox](name).
//
// A daemon may:
//   - write its own presence key and read everyone's (viber_daemons);
//   - create, read and pull from its own durable consumer daemon-<name>,
//     read and pull from the shared consumer "any" on VIBER_WORK (the
//     gateway creates it; a daemon that could create it could make it a
//     push consumer delivering to itself), and ack, nak and mark in
//     progress what they deliver;
//   - read VIBER_TASKS (stream info, direct and message gets) and create,
//     pull from and delete the ephemeral ordered consumers replays use,
//     but not the gateway's projector consumer;
//   - publish task events under its own writer token only
//     (viber.task.*.d-<name>.*: readers accept them only from the daemon
//     holding the task, so it cannot write another daemon's task nor pass
//     for a gateway) and live deltas (viber.live.*);
//   - read and write the memory bucket (viber_memory), whose files its
//     agents load and update;
//   - ask the gateway to create tasks (viber.api.task.create), for the
//     child tasks of its spawn tool.
//
// Everything else is refused: the stream API (create, update, delete,
// purge, message delete), other daemons' consumers and work subjects,
// queuing work (viber.work.>), the gateway's API beyond creating tasks, the task
// summaries, and subscribing to task or live subjects.
func DaemonPermissions(name, inbox string) (jwt.Permissions, error) {
	if !bus.ValidToken(name) || name == bus.AnyDaemon {
		return jwt.Permissions{}, fmt.Errorf("daemon name %q: use 1-64 letters, digits, '-' or '_' (not %q)", name, bus.AnyDaemon)
	}
	if err := checkInbox(inbox); err != nil {
		return jwt.Permissions{}, err
	}
	if inbox == "" {
		inbox = DefaultInbox
	}
	own := bus.DaemonWorkConsumer(name)
	var p jwt.Permissions
	p.Pub.Allow.Add(
		// JetStream account info (nats.go asks for it in some paths).
		jsAPI+"INFO",
		// Presence: its own key, read everyone's.
		jsAPI+"STREAM.INFO."+kvStream(bus.DaemonBucket),
		kvKey(bus.DaemonBucket, name),
		jsAPI+"DIRECT.GET."+kvStream(bus.DaemonBucket),
		jsAPI+"DIRECT.GET."+kvStream(bus.DaemonBucket)+".>",
		jsAPI+"STREAM.MSG.GET."+kvStream(bus.DaemonBucket),
		// Work: its own durable consumer and the shared one, exactly
		// with their filters, and their acks.
		jsAPI+"STREAM.INFO."+bus.WorkStream,
		jsAPI+"CONSUMER.CREATE."+bus.WorkStream+"."+own+"."+bus.WorkFilter(name),
		jsAPI+"CONSUMER.INFO."+bus.WorkStream+"."+own,
		jsAPI+"CONSUMER.MSG.NEXT."+bus.WorkStream+"."+own,
		"$JS.ACK."+bus.WorkStream+"."+own+".>",
		jsAPI+"CONSUMER.INFO."+bus.WorkStream+"."+bus.AnyWorkConsumer,
		jsAPI+"CONSUMER.MSG.NEXT."+bus.WorkStream+"."+bus.AnyWorkConsumer,
		"$JS.ACK."+bus.WorkStream+"."+bus.AnyWorkConsumer+".>",
		// Task log: read, replay with ordered consumers, append.
		jsAPI+"STREAM.INFO."+bus.TaskStream,
		jsAPI+"DIRECT.GET."+bus.TaskStream,
		jsAPI+"DIRECT.GET."+bus.TaskStream+".>",
		jsAPI+"STREAM.MSG.GET."+bus.TaskStream,
		jsAPI+"CONSUMER.CREATE."+bus.TaskStream+".*",
		jsAPI+"CONSUMER.CREATE."+bus.TaskStream+".*.>",
		jsAPI+"CONSUMER.INFO."+bus.TaskStream+".*",
		jsAPI+"CONSUMER.MSG.NEXT."+bus.TaskStream+".*",
		jsAPI+"CONSUMER.DELETE."+bus.TaskStream+".*",
		bus.TaskWriterFilter(bus.DaemonWriter(name)),
		bus.LiveSubject("*"),
		// Child tasks: the spawn tool asks the gateway to create them
		// (the gateway checks the parent's open spawn call).
		bus.APISubject(bus.APIGroupTask, bus.APITaskCreate),
		// Memory: the fleet's memory, read for prompts and written by
		// the memory_update tool (any key: tasks move between daemons).
		jsAPI+"STREAM.INFO."+kvStream(bus.MemoryBucket),
		kvKey(bus.MemoryBucket, ">"),
		jsAPI+"DIRECT.GET."+kvStream(bus.MemoryBucket),
		jsAPI+"DIRECT.GET."+kvStream(bus.MemoryBucket)+".>",
		jsAPI+"STREAM.MSG.GET."+kvStream(bus.MemoryBucket),
		jsAPI+"CONSUMER.CREATE."+kvStream(bus.MemoryBucket)+".*",
		jsAPI+"CONSUMER.CREATE."+kvStream(bus.MemoryBucket)+".*.>",
		jsAPI+"CONSUMER.DELETE."+kvStream(bus.MemoryBucket)+".*",
		jsAPI+"CONSUMER.INFO."+kvStream(bus.MemoryBucket)+".*",
	)
	denyProjector(&p)
	p.Sub.Allow.Add(inbox + ".>")
	return p, nil
}

// UserPermissions are the permissions of a CLI user (the viber command,
// the dashboard's users through the gateway, tools): call the gateway's
// API, replay and read the task log, watch live deltas, read presence and
// task summaries. A user cannot write the log directly, queue work, or use
// the stream API beyond reading.
func UserPermissions() jwt.Permissions {
	var p jwt.Permissions
	p.Pub.Allow.Add(
		jsAPI+"INFO",
		bus.APISubjectPrefix()+".>",
		"$SRV.>",
		jsAPI+"STREAM.INFO."+bus.TaskStream,
		jsAPI+"DIRECT.GET."+bus.TaskStream,
		jsAPI+"DIRECT.GET."+bus.TaskStream+".>",
		jsAPI+"STREAM.MSG.GET."+bus.TaskStream,
		jsAPI+"CONSUMER.CREATE."+bus.TaskStream+".*",
		jsAPI+"CONSUMER.CREATE."+bus.TaskStream+".*.>",
		jsAPI+"CONSUMER.INFO."+bus.TaskStream+".*",
		jsAPI+"CONSUMER.MSG.NEXT."+bus.TaskStream+".*",
		jsAPI+"CONSUMER.DELETE."+bus.TaskStream+".*",
	)
	for _, bucket := range []string{bus.DaemonBucket, bus.TaskBucket} {
		s := kvStream(bucket)
		p.Pub.Allow.Add(
			jsAPI+"STREAM.INFO."+s,
			jsAPI+"DIRECT.GET."+s,
			jsAPI+"DIRECT.GET."+s+".>",
			jsAPI+"STREAM.MSG.GET."+s,
			// KV watches are ordered push consumers.
			jsAPI+"CONSUMER.CREATE."+s+".*",
			jsAPI+"CONSUMER.CREATE."+s+".*.>",
			jsAPI+"CONSUMER.DELETE."+s+".*",
			jsAPI+"CONSUMER.INFO."+s+".*",
		)
	}
	denyProjector(&p)
	p.Sub.Allow.Add(DefaultInbox+".>", bus.LiveSubject("*"))
	return p
}

// denyProjector keeps the gateway's durable consumer on the task log out
// of reach of the wildcard consumer permissions replays need.
func denyProjector(p *jwt.Permissions) {
	pc := bus.ProjectorConsumer
	p.Pub.Deny.Add(
		jsAPI+"CONSUMER.CREATE."+bus.TaskStream+"."+pc,
		jsAPI+"CONSUMER.CREATE."+bus.TaskStream+"."+pc+".>",
		jsAPI+"CONSUMER.DELETE."+bus.TaskStream+"."+pc,
		jsAPI+"CONSUMER.MSG.NEXT."+bus.TaskStream+"."+pc,
	)
}

func checkInbox(inbox string) error {
	if inbox == "" {
		return nil
	}
	if strings.ContainsAny(inbox, "*> \t") || strings.HasPrefix(inbox, ".") || strings.HasSuffix(inbox, ".") || strings.Contains(inbox, "..") {
		return fmt.Errorf("inbox prefix %q: use a subject without wildcards or empty tokens", inbox)
	}
	return nil
}
