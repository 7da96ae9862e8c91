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
//   - read and pull from its own durable consumer daemon-<name> and the
//     shared consumer "any" on VIBER_WORK, and ack, nak and mark in
//     progress what they deliver. It creates neither: the gateway makes
//     "any" and, when it sees the daemon's presence, daemon-<name> (a
//     credential that may create a consumer may make it a push consumer
//     delivering anywhere);
//   - read VIBER_TASKS (stream info, direct and message gets, batched
//     direct gets are how replays and tails read) and subscribe to its
//     subjects (the doorbell of a follow; it reveals nothing a direct get
//     does not), but create no consumer on it: a consumer's creator picks
//     its deliver subject, which nats-server checks against no permission,
//     so a push consumer could deliver the log to any subject;
//   - subscribe to its own work subjects (viber.work.<name>.*): the
//     doorbell that tells it an assignment was queued for it while its
//     last free slot waits on the shared queue (an old credential without
//     it still works: the daemon then looks every 5 s);
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
// purge, message delete), consumers on VIBER_TASKS, other daemons'
// consumers and work subjects, queuing work (viber.work.>), the gateway's
// API beyond creating tasks (a spawn call's child), the task summaries, and
// subscribing to live deltas or anything but the task subjects, its own
// work subjects and its inbox.
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
	p := workerPermissions(name, jsAPI, "", bus.TaskWriterFilter(bus.DaemonWriter(name)))
	p.Sub.Allow.Add(inbox+".>", bus.TaskSubjects(), bus.WorkFilter(name))
	return p, nil
}

// EdgePermissions are the permissions of the leaf-node link of edge daemon
// name (viberd --leaf --leaf-creds): a daemon's permissions (see
// [DaemonPermissions]) as the hub sees them across a leaf link, where the
// edge reaches the hub's JetStream through its domain: the API subjects
// are $JS.<hubDomain>.API.… (the hub maps them to $JS.API.… after the
// permission check, which applies to the subject as the leaf sent it), and
// key-value puts are $JS.<hubDomain>.API.$KV.<bucket>.<key>.
//
// On the hub the leaf link's publish permissions bound what the edge may
// send in, and its subscribe permissions what interest it may register,
// that is what the hub sends out to it. The hub also hands these
// permissions to the edge server in the link's INFO, and the edge server
// does not forward what they refuse. Replies are allowed only under the
// edge daemon's private prefix [DaemonInbox](name), which viberd --leaf
// always uses, so an edge cannot see replies meant for others.
func EdgePermissions(name, hubDomain string) (jwt.Permissions, error) {
	if !bus.ValidToken(name) || name == bus.AnyDaemon {
		return jwt.Permissions{}, fmt.Errorf("daemon name %q: use 1-64 letters, digits, '-' or '_' (not %q)", name, bus.AnyDaemon)
	}
	if !bus.ValidToken(hubDomain) {
		return jwt.Permissions{}, fmt.Errorf("hub JetStream domain %q: use letters, digits, '-' or '_' (vibergw --js-domain)", hubDomain)
	}
	api := DomainAPI(hubDomain)
	p := workerPermissions(name, api, api, edgeTaskSubjects(name)...)
	p.Sub.Allow.Add(DaemonInbox(name)+".>", bus.TaskSubjects(), bus.WorkFilter(name))
	return p, nil
}

// DomainAPI is the prefix of JetStream's API subjects in JetStream domain
// domain, as clients elsewhere (across a leaf link) address it:
// $JS.<domain>.API.
func DomainAPI(domain string) string { return "$JS." + domain + ".API." }

// edgeTaskSubjects are the task-event subjects edge daemon name may
// publish: viber.task.*.d-<name>.<event> for every event type, which is
// what bus.TaskWriterFilter allows a daemon, spelled out. Across a leaf
// link the hub tells the edge about its stream's interest
// (viber.task.*.*.*) only when a publish permission lies under it, and
// nats-server 2.15.2 does not see viber.task.*.d-<name>.* as lying under
// viber.task.*.*.* (its reverse match stops at the literal writer token),
// so the edge would never forward its events; literal last tokens are
// matched.
func edgeTaskSubjects(name string) []string {
	var out []string
	for _, p := range bus.AllTypes() {
		out = append(out, bus.TaskEventSubject("*", bus.DaemonWriter(name), p.EventType()))
	}
	return out
}

// workerPermissions are the publish permissions daemon name needs, with api
// as the JetStream API prefix, kvPut the prefix of its key-value puts (""
// on the hub, api across a leaf link) and tasks as the task-event subjects
// it may write.
func workerPermissions(name, api, kvPut string, tasks ...string) jwt.Permissions {
	own := bus.DaemonWorkConsumer(name)
	var p jwt.Permissions
	p.Pub.Allow.Add(
		// JetStream account info (nats.go asks for it in some paths).
		api+"INFO",
		// Presence: its own key, read everyone's.
		api+"STREAM.INFO."+kvStream(bus.DaemonBucket),
		kvPut+kvKey(bus.DaemonBucket, name),
		api+"DIRECT.GET."+kvStream(bus.DaemonBucket),
		api+"DIRECT.GET."+kvStream(bus.DaemonBucket)+".>",
		api+"STREAM.MSG.GET."+kvStream(bus.DaemonBucket),
		// Work: its own durable consumer and the shared one, exactly
		// with their filters, and their acks.
		api+"STREAM.INFO."+bus.WorkStream,
		api+"CONSUMER.INFO."+bus.WorkStream+"."+own,
		api+"CONSUMER.MSG.NEXT."+bus.WorkStream+"."+own,
		"$JS.ACK."+bus.WorkStream+"."+own+".>",
		api+"CONSUMER.INFO."+bus.WorkStream+"."+bus.AnyWorkConsumer,
		api+"CONSUMER.MSG.NEXT."+bus.WorkStream+"."+bus.AnyWorkConsumer,
		"$JS.ACK."+bus.WorkStream+"."+bus.AnyWorkConsumer+".>",
		// Task log: read and replay with (batched) direct gets, append
		// (tasks). No consumer on it: a consumer's creator chooses its
		// deliver subject, which the server does not check against any
		// permission.
		api+"STREAM.INFO."+bus.TaskStream,
		api+"DIRECT.GET."+bus.TaskStream,
		api+"DIRECT.GET."+bus.TaskStream+".>",
		api+"STREAM.MSG.GET."+bus.TaskStream,
		bus.LiveSubject("*"),
		// Child tasks: the spawn tool asks the gateway to create them
		// (the gateway checks the parent's open spawn call).
		bus.APISubject(bus.APIGroupTask, bus.APITaskCreate),
		// Memory: the fleet's memory, read for prompts and written by
		// the memory_update tool (any key: tasks move between daemons).
		api+"STREAM.INFO."+kvStream(bus.MemoryBucket),
		kvPut+kvKey(bus.MemoryBucket, ">"),
		api+"DIRECT.GET."+kvStream(bus.MemoryBucket),
		api+"DIRECT.GET."+kvStream(bus.MemoryBucket)+".>",
		api+"STREAM.MSG.GET."+kvStream(bus.MemoryBucket),
		api+"CONSUMER.CREATE."+kvStream(bus.MemoryBucket)+".*",
		api+"CONSUMER.CREATE."+kvStream(bus.MemoryBucket)+".*.>",
		api+"CONSUMER.DELETE."+kvStream(bus.MemoryBucket)+".*",
		api+"CONSUMER.INFO."+kvStream(bus.MemoryBucket)+".*",
	)
	p.Pub.Allow.Add(tasks...)
	return p
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
	denyProjector(&p, jsAPI)
	p.Sub.Allow.Add(DefaultInbox+".>", bus.LiveSubject("*"), bus.TaskSubjects())
	return p
}

// denyProjector keeps the gateway's durable consumer on the task log out
// of reach of the wildcard consumer permissions replays need.
// The same holds for the webhook consumer, whose messages are deliveries
// still to make.
func denyProjector(p *jwt.Permissions, api string) {
	for _, pc := range []string{bus.ProjectorConsumer, bus.WebhookConsumer} {
		p.Pub.Deny.Add(
			api+"CONSUMER.CREATE."+bus.TaskStream+"."+pc,
			api+"CONSUMER.CREATE."+bus.TaskStream+"."+pc+".>",
			api+"CONSUMER.DELETE."+bus.TaskStream+"."+pc,
			api+"CONSUMER.MSG.NEXT."+bus.TaskStream+"."+pc,
		)
	}
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
