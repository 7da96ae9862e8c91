package bus

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// This file is the wire on one page: [Wire] lists every subject, stream,
// consumer, bucket, header, event type, API endpoint, HTTP route and SSE
// event of Viber, built from the same names, functions and configurations
// the code uses, with who writes and who reads each. docs/wire.md is
// generated from it (go generate ./internal/wiredoc), and a test fails when
// the page is stale.

// WireKind is the kind of a [WireEntry]; [Wire] lists kinds in the order of
// [WireKinds].
type WireKind string

// The kinds of wire entries.
const (
	WireSubject   WireKind = "subject"
	WireStream    WireKind = "stream"
	WireConsumer  WireKind = "consumer"
	WireBucket    WireKind = "bucket"
	WireHeader    WireKind = "header"
	WireEvent     WireKind = "event"
	WireEndpoint  WireKind = "endpoint"
	WireErrorCode WireKind = "error code"
	WireRoute     WireKind = "route"
	WireSSE       WireKind = "sse"
)

// WireKinds lists the kinds in the order [Wire] gives them.
func WireKinds() []WireKind {
	return []WireKind{WireSubject, WireStream, WireConsumer, WireBucket, WireHeader, WireEvent, WireEndpoint, WireErrorCode, WireRoute, WireSSE}
}

// WireEntry documents one name on the wire.
type WireEntry struct {
	// Kind says what the entry is.
	Kind WireKind
	// Name is the subject (placeholders in angle brackets), the stream,
	// consumer, bucket or header name, the event type, the endpoint's
	// subject, the error code, the route or the SSE event name.
	Name string
	// Via is where it travels or is kept: the stream, consumer or bucket,
	// "core NATS", "HTTP", and the like.
	Via string
	// Writers says who writes it (publishes, appends, creates or sets).
	Writers string
	// Readers says who reads it.
	Readers string
	// Payload is the body: a Go type of package bus ("bus.Assignment") or
	// a few words.
	Payload string
	// Config lists the settings that matter ("retention: limits"), taken
	// from the configuration the code applies.
	Config []string
	// Notes is anything else a reader of the wire needs.
	Notes string
	// EventType is the event type of a [WireEvent] entry.
	EventType Type
}

// EventWriters says which writers may store an event type in a task's log.
// [Summary] enforces it: an event from anyone else is rejected.
type EventWriters int

// Who may write an event type.
const (
	// ByGateway: only a gateway (writer token "gw").
	ByGateway EventWriters = iota + 1
	// ByOwner: only the daemon that holds the task (its latest claim),
	// while the turn runs.
	ByOwner
	// ByClaimant: a daemon claiming the task for itself, while the turn
	// runs and only the daemon it is pinned to, if any.
	ByClaimant
	// ByOwnerOrGateway: the daemon that holds the task; a gateway only
	// while no daemon holds it.
	ByOwnerOrGateway
)

// String describes the writers in a few words.
func (w EventWriters) String() string {
	switch w {
	case ByGateway:
		return "gateway (`" + GatewayWriter + "`)"
	case ByOwner:
		return "the daemon holding the task (`" + DaemonWriter("<daemon>") + "`)"
	case ByClaimant:
		return "any daemon, claiming for itself (`" + DaemonWriter("<daemon>") + "`)"
	case ByOwnerOrGateway:
		return "the daemon holding the task (`" + DaemonWriter("<daemon>") + "`), or a gateway (`" + GatewayWriter + "`) while none does"
	}
	return fmt.Sprintf("EventWriters(%d)", int(w))
}

// eventRule is who may write an event type, when, and who reads it.
type eventRule struct {
	writers EventWriters
	// when adds the state the task must be in (beyond being in order).
	when string
	// readers says who acts on the event, beyond every reader of the log.
	readers string
}

// eventRules mirror Summary.admitPayload; TestEventRules checks them
// against it.
var eventRules = map[Type]eventRule{
	TypeCreated:           {ByGateway, "first event (seq 1), once", "the dispatcher queues the first assignment"},
	TypeAssigned:          {ByClaimant, "the payload's daemon is the writer; not after the turn ended", "every writer: the claim fences the previous holder"},
	TypeStarted:           {ByOwner, "", ""},
	TypeMessage:           {ByOwner, "", ""},
	TypePlan:              {ByOwner, "", ""},
	TypeToolCall:          {ByOwner, "call id not open already", "a daemon taking the task over reports it interrupted, never re-runs it"},
	TypeToolResult:        {ByOwner, "for an open call not waiting for approval", ""},
	TypeApprovalRequested: {ByOwner, "for an open call not asked about yet", "the dashboard and CLI offer approve/deny"},
	TypeApprovalDecided:   {ByGateway, "for a call waiting for approval, while the turn runs", "the owner's decision wait"},
	TypeInput:             {ByGateway, "any time (a follow-up after the end opens a new turn)", "the owner (steer) or the dispatcher (a new turn's assignment)"},
	TypeCancelRequested:   {ByGateway, "while the turn runs", "the owner stops the turn"},
	TypeCompleted:         {ByOwner, "ends the turn", "waiters (`viber task wait`, client.Wait)"},
	TypeFailed:            {ByOwner, "ends the turn", "waiters (`viber task wait`, client.Wait)"},
	TypeCancelled:         {ByOwnerOrGateway, "ends the turn", "waiters (`viber task wait`, client.Wait)"},
	TypeChildCreated:      {ByOwner, "for an open spawn call that has no child yet", "`viber task tree`, the dashboard (the parent's children)"},
	TypeMemoryUpdated:     {ByOwner, "for an open memory_update call not waiting for approval", "`viber memory log`, replays (the write itself is in " + MemoryBucket + ")"},
}

// WritersOf says who may write events of type t (0 for an unknown type).
func WritersOf(t Type) EventWriters { return eventRules[t].writers }

// APIEndpoint describes one endpoint of the gateway's micro service.
type APIEndpoint struct {
	// Group and Name make the subject: [APISubject](Group, Name).
	Group, Name string
	// Description says what the endpoint does and what its request holds;
	// the gateway registers it as the endpoint's metadata.
	Description string
	// Request and Response are zero values of the bodies (nil: none).
	Request, Response any
}

// Subject is the endpoint's subject, e.g. viber.api.task.create.
func (e APIEndpoint) Subject() string { return APISubject(e.Group, e.Name) }

// APIEndpoints lists the endpoints of the gateway's micro service.
func APIEndpoints() []APIEndpoint {
	return []APIEndpoint{
		{APIGroupTask, APITaskCreate, "create a task: {goal, daemon?, model?, skills?}", &CreateTaskRequest{}, &Summary{}},
		{APIGroupTask, APITaskGet, "a task's summary: {id}", &TaskRequest{}, &Summary{}},
		{APIGroupTask, APITaskList, "list tasks, newest first, a page at a time: {state?, daemon?, query?, before?, limit?}", &ListTasksRequest{}, &ListTasksResponse{}},
		{APIGroupTask, APITaskCancel, "cancel a task: {id, reason?}", &CancelTaskRequest{}, &EventResponse{}},
		{APIGroupTask, APITaskSend, "send a follow-up: {id, text, mode?}", &SendInputRequest{}, &EventResponse{}},
		{APIGroupTask, APITaskDecide, "approve or deny a waiting tool call: {id, call_id, approved, reason?}", &DecideRequest{}, &EventResponse{}},
		{APIGroupTask, APITaskWebhooks, "a task's webhook deliveries: {id}", &TaskRequest{}, &WebhooksResponse{}},
		{APIGroupTask, APITaskUsage, "token usage and cost per UTC day (a task counts on the day it was created), per model too: {days?}", &UsageRequest{}, &UsageResponse{}},
		{APIGroupTask, APITaskRemove, "remove a task (log, assignment, summary): {id, force?}; refused while it runs unless force", &RemoveTaskRequest{}, &RemoveTaskResponse{}},
		{APIGroupSchedule, APIScheduleAdd, "add a schedule: {name, cron?|every?|at?, tz?, goal, daemon?, model?, skills?, overlap?, notify?}", &AddScheduleRequest{}, &ScheduleView{}},
		{APIGroupSchedule, APIScheduleList, "list schedules", nil, &ListSchedulesResponse{}},
		{APIGroupSchedule, APIScheduleGet, "a schedule with its recent runs: {name}", &ScheduleRequest{}, &ScheduleView{}},
		{APIGroupSchedule, APISchedulePause, "pause a schedule: {name}", &ScheduleRequest{}, &ScheduleView{}},
		{APIGroupSchedule, APIScheduleResume, "resume a schedule: {name}", &ScheduleRequest{}, &ScheduleView{}},
		{APIGroupSchedule, APIScheduleRemove, "remove a schedule: {name}", &ScheduleRequest{}, &ScheduleRequest{}},
		{APIGroupSchedule, APIScheduleRun, "fire a schedule now: {name}", &ScheduleRequest{}, &RunScheduleResponse{}},
		{APIGroupDaemon, APIDaemonList, "list daemons with presence", nil, &ListDaemonsResponse{}},
		{APIGroupMemory, APIMemoryList, "list memory files: {scope?}", &MemoryListRequest{}, &MemoryListResponse{}},
		{APIGroupMemory, APIMemoryGet, "a memory file: {scope, name, revision?}", &MemoryFileRequest{}, &MemoryFile{}},
		{APIGroupMemory, APIMemoryPut, "write a memory file, compare-and-set on revision: {scope, name, content, revision}", &MemoryPutRequest{}, &MemoryFile{}},
		{APIGroupMemory, APIMemoryHistory, "a memory file's revisions, newest first: {scope, name}", &MemoryFileRequest{}, &MemoryHistoryResponse{}},
		{APIGroupMemory, APIMemoryRestore, "make an earlier revision current: {scope, name, revision}", &MemoryRestoreRequest{}, &MemoryFile{}},
	}
}

// APIDescription is the description of an endpoint of [APIEndpoints], or
// "" for an unknown one.
func APIDescription(group, name string) string {
	for _, e := range APIEndpoints() {
		if e.Group == group && e.Name == name {
			return e.Description
		}
	}
	return ""
}

// httpRoute documents one HTTP route.
type httpRoute struct {
	route, what string
	request     any
	response    any
}

func httpRoutes() []httpRoute {
	return []httpRoute{
		{RouteHealth, "liveness of the gateway, NATS and JetStream; open without a token", nil, &Health{}},
		{RouteListTasks, "list tasks, newest first, a page at a time (?state=&daemon=&q=&before=&limit=)", nil, &ListTasksResponse{}},
		{RouteCreateTask, "create a task; 201 with Location", &CreateTaskRequest{}, &Summary{}},
		{RouteTask, "a task's summary", nil, &Summary{}},
		{RouteSendInput, "send a follow-up", &SendInputRequest{}, &EventResponse{}},
		{RouteCancelTask, "cancel a task (the body may be empty)", &CancelTaskRequest{}, &EventResponse{}},
		{RouteDecide, "approve or deny a waiting tool call", &DecideRequest{}, &EventResponse{}},
		{RouteTaskEvents, "the task's log as Server-Sent Events: replay from the first event (or after `" + HeaderLastEventID + "` / `?" + QueryAfter + "=`), then live, with deltas and summaries", nil, "text/event-stream"},
		{RouteWebhooks, "a task's webhook deliveries", nil, &WebhooksResponse{}},
		{RouteRemoveTask, "remove a task (log, assignment, summary); `?" + QueryForce + "=true` while it runs", nil, &RemoveTaskResponse{}},
		{RouteListSchedules, "list schedules", nil, &ListSchedulesResponse{}},
		{RouteAddSchedule, "add a schedule", &AddScheduleRequest{}, &ScheduleView{}},
		{RouteSchedule, "a schedule with its recent runs", nil, &ScheduleView{}},
		{RouteRemoveSchedule, "remove a schedule", nil, nil},
		{RoutePauseSchedule, "pause a schedule", nil, &ScheduleView{}},
		{RouteResumeSchedule, "resume a schedule", nil, &ScheduleView{}},
		{RouteRunSchedule, "fire a schedule now", nil, &RunScheduleResponse{}},
		{RouteWatchTasks, "every change of a task summary as Server-Sent Events (`" + SSEReady + "` then `" + SSESummary + "`)", nil, "text/event-stream"},
		{RouteStreams, "several streams over one connection (?" + QueryTask + "=<id>[:<seq>]&…&" + QueryWatch + "=1): each event an `" + SSEMux + "` event", nil, "text/event-stream"},
		{RouteDaemons, "daemons with presence", nil, &ListDaemonsResponse{}},
		{RouteSkills, "skills by name, with the daemons offering them", nil, &ListSkillsResponse{}},
		{RouteMetrics, "Prometheus metrics (text exposition format); see docs/observability.md", nil, "text/plain"},
		{RouteUsage, "token usage and cost per UTC day and per model (?days=, default 30)", nil, &UsageResponse{}},
		{RouteMemoryList, "memory files (?scope=)", nil, &MemoryListResponse{}},
		{RouteMemoryGet, "a memory file (?scope=&name=&revision=)", nil, &MemoryFile{}},
		{RouteMemoryPut, "write a memory file (compare-and-set on revision)", &MemoryPutRequest{}, &MemoryFile{}},
		{RouteMemoryHistory, "a memory file's revisions, newest first (?scope=&name=)", nil, &MemoryHistoryResponse{}},
		{RouteMemoryRestore, "make an earlier revision of a memory file current", &MemoryRestoreRequest{}, &MemoryFile{}},
		{"GET " + SessionPath, "whether the caller is logged in (401 if not)", nil, &SessionResponse{}},
		{"POST " + SessionPath, "log in: sets the `" + TokenCookie + "` cookie", &SessionRequest{}, &SessionResponse{}},
		{"DELETE " + SessionPath, "log out: clears the cookie; 204", nil, nil},
		{APIPath + "…", "any other API path: 404 `" + string(CodeNoEndpoint) + "`", nil, &APIError{}},
	}
}

// Wire lists every name on Viber's wire, in the order of [WireKinds], with
// the settings the code applies under default [SetupOptions].
func Wire() []WireEntry {
	o := SetupOptions{}.withDefaults()
	var out []WireEntry
	add := func(e WireEntry) { out = append(out, e) }
	const (
		task   = "<task>"
		daemon = "<daemon>"
		event  = "<event>"
	)
	anyEvent := Type(typePrefix + event)
	logReaders := "the projector; each running task's `bus.Tail` in its daemon; replays (`bus.Log.Replay`: the gateway's event streams and decisions, the CLI, client.Watch)"

	// Subjects.
	add(WireEntry{Kind: WireSubject, Name: TaskEventSubject(task, GatewayWriter, anyEvent), Via: TaskStream,
		Writers: "gateways (`bus.Log`): " + typesBy(ByGateway, ByOwnerOrGateway),
		Readers: logReaders, Payload: typeName(Event{}),
		Notes: "`" + event + "` is the type's short name (`" + TypeCreated.Short() + "`); appends are compare-and-set on `" + TaskFilter(task) + "` (`" + jetstream.ExpectedLastSubjSeqHeader + "`)"})
	add(WireEntry{Kind: WireSubject, Name: TaskEventSubject(task, DaemonWriter(daemon), anyEvent), Via: TaskStream,
		Writers: "daemon `" + daemon + "`, fenced by its `bus.Tail`: " + typesBy(ByClaimant, ByOwner, ByOwnerOrGateway),
		Readers: logReaders, Payload: typeName(Event{}),
		Notes: "a daemon's credential may publish only `" + TaskWriterFilter(DaemonWriter(daemon)) + "`; the event's source must be `" + DaemonSource(daemon) + "`"})
	add(WireEntry{Kind: WireSubject, Name: WorkSubject(daemon+"|"+AnyDaemon, task), Via: WorkStream,
		Writers: "gateways: the dispatcher at create and at a follow-up (`bus.Assign`), the sweeper for a task that lost its assignment (`bus.RequeueAt`, keyed by the task's head so two gateways store one)",
		Readers: "daemons, through consumer `" + AnyWorkConsumer + "` or `" + DaemonWorkConsumer(daemon) + "` (`bus.PullWork`); daemon `" + daemon + "` also subscribes to `" + WorkFilter(daemon) + "` as a doorbell for its own queue",
		Payload: typeName(Assignment{}),
		Notes:   "`" + AnyDaemon + "` when the task names no daemon; one message per turn (`" + HeaderMsgID + "` work-<task>-<turn seq>)"})
	add(WireEntry{Kind: WireSubject, Name: LiveSubject(task), Via: "core NATS (never stored)",
		Writers: "the daemon running the task, while its model streams (`bus.PublishDelta`)",
		Readers: "the gateway's event streams (SSE `" + SSEDelta + "`), client.Live (`viber task watch`), through `bus.SubscribeDeltas`",
		Payload: typeName(Delta{}),
		Notes:   "a delta nobody listens to is lost; the log keeps the whole message once done"})
	add(WireEntry{Kind: WireSubject, Name: APISubject("<group>", "<endpoint>"), Via: "core NATS request/reply (micro service `" + ServiceName + "`)",
		Writers: "clients: the `client` package, the CLI, tools", Readers: "every gateway (queue group: one answers)",
		Payload: "see endpoints", Notes: "also `$SRV.PING|INFO|STATS." + ServiceName + "` for discovery (nats micro)"})
	add(WireEntry{Kind: WireSubject, Name: OutboxSubject(task), Via: OutboxStream + " (domain `" + EdgeDomain(daemon) + "`)",
		Writers: "an edge daemon, for an event it could not hand to the hub", Readers: "the same edge daemon, forwarding once the hub answers (then it deletes it)",
		Payload: typeName(Event{})})
	add(WireEntry{Kind: WireSubject, Name: kvSubject(DaemonBucket, daemon), Via: DaemonBucket,
		Writers: "daemon `" + daemon + "` (only its own key)", Readers: "gateways, users (watch, get)", Payload: typeName(DaemonInfo{})})
	add(WireEntry{Kind: WireSubject, Name: kvSubject(TaskBucket, task), Via: TaskBucket,
		Writers: "the projector", Readers: "gateways, users (watch, get)", Payload: typeName(Summary{})})

	// Streams.
	hub := "the hub (JetStream domain `" + DefaultHubDomain + "` by default)"
	add(WireEntry{Kind: WireStream, Name: TaskStream, Via: hub,
		Writers: "gateways and daemons (the task-event subjects)", Readers: "the projector, tails, replays",
		Payload: typeName(Event{}), Config: streamConfig(TaskStreamConfig(o)),
		Notes: "the task log: a task is its events, in order, seq 1, 2, …; created by `bus.Setup`"})
	add(WireEntry{Kind: WireStream, Name: WorkStream, Via: hub,
		Writers: "gateways", Readers: "daemons (work consumers)",
		Payload: typeName(Assignment{}), Config: streamConfig(WorkStreamConfig(o)),
		Notes: "one message per task waiting for or held by a daemon; acked once the turn's terminal event is stored; created by `bus.Setup`"})
	add(WireEntry{Kind: WireStream, Name: OutboxStream, Via: "an edge daemon's embedded leaf node (JetStream domain `" + EdgeDomain(daemon) + "`)",
		Writers: "the edge daemon", Readers: "the edge daemon",
		Payload: typeName(Event{}), Config: streamConfig(OutboxStreamConfig()),
		Notes: "events waiting for the hub while the leaf link is cut; created by the edge daemon"})

	// Consumers.
	add(WireEntry{Kind: WireConsumer, Name: AnyWorkConsumer, Via: WorkStream,
		Writers: "`bus.Setup`", Readers: "every daemon (shared: each assignment goes to one)",
		Config: consumerConfig(WorkConsumerConfig(AnyDaemon, o))})
	add(WireEntry{Kind: WireConsumer, Name: DaemonWorkConsumer(daemon), Via: WorkStream,
		Writers: "daemon `" + daemon + "` at start", Readers: "daemon `" + daemon + "` (tasks pinned to it)",
		Config: consumerConfig(WorkConsumerConfig(daemon, o))})
	add(WireEntry{Kind: WireConsumer, Name: ProjectorConsumer, Via: TaskStream,
		Writers: "every gateway at start", Readers: "the gateways' projector (shared), folding into " + TaskBucket,
		Config: consumerConfig(ProjectorConsumerConfig()),
		Notes:  "users and daemons are denied it"})
	add(WireEntry{Kind: WireConsumer, Name: "none: direct gets, one task", Via: TaskStream,
		Writers: "-", Readers: "a daemon's `bus.Tail` (one per running task), `bus.Log.Replay`, client.Watch",
		Notes: "batched direct gets (`$JS.API.DIRECT.GET." + TaskStream + "`, next_by_subj " + TaskFilter(task) + ", from the task's first event), woken by a core subscription to " + taskPrefix + task + ".*.*; no consumer is created, so readers need no consumer rights"})
	add(WireEntry{Kind: WireConsumer, Name: "ordered, all tasks", Via: TaskStream,
		Writers: "its reader", Readers: "client.WatchAll (audit tools, bridges)",
		Config: orderedConfig(AllTasksReaderConfig()),
		Notes:  "ephemeral; events stored from now on"})

	// Buckets.
	add(WireEntry{Kind: WireBucket, Name: DaemonBucket, Via: hub,
		Writers: "each daemon, its own key at every heartbeat", Readers: "gateways (routing, daemon lists), users",
		Payload: "key `" + daemon + "` → " + typeName(DaemonInfo{}), Config: bucketConfig(DaemonBucketConfig(o)),
		Notes: "readers take the server's store time as last_seen, not the daemon's clock"})
	add(WireEntry{Kind: WireBucket, Name: TaskBucket, Via: hub,
		Writers: "the projector (compare-and-set on the revision)", Readers: "gateways (get, list, " + RouteWatchTasks + "), users",
		Payload: "key `" + task + "` → " + typeName(Summary{}), Config: bucketConfig(TaskBucketConfig(o)),
		Notes: "a view: rebuilt from " + TaskStream + " by the projector"})
	add(WireEntry{Kind: WireBucket, Name: MemoryBucket, Via: hub,
		Writers: "daemons (the memory_update tool, compare-and-set on the revision), gateways (the memory API)",
		Readers: "daemons (each turn's system prompt, memory_read), gateways (the memory API)",
		Payload: "key `global.<file>`, `agent.<name>.<file>` or `user.<submitter>.<file>` (other bytes than letters, digits, - and _ as =XX) → the file's text",
		Config:  bucketConfig(MemoryBucketConfig(o)),
		Notes:   "history kept; each agent write is also a `" + TypeMemoryUpdated.Short() + "` event of its task; created by `bus.Setup`"})

	// Headers.
	add(WireEntry{Kind: WireHeader, Name: HeaderMsgID, Via: "NATS (JetStream publish)",
		Writers: "every append and assignment", Readers: "JetStream (de-duplication within the duplicate window)",
		Notes: "task events and outbox: the event id; work: work-<task>-<turn seq>, or work-<task>-requeue-<id>"})
	add(WireEntry{Kind: WireHeader, Name: HeaderEventType, Via: "NATS (task events)",
		Writers: "every append", Readers: "tools filtering without decoding", Notes: "the envelope's type, repeated"})
	add(WireEntry{Kind: WireHeader, Name: jetstream.ExpectedLastSubjSeqHeader, Via: "NATS (task events)",
		Writers: "every append", Readers: "JetStream",
		Notes: "with `" + jetstream.ExpectedLastSubjSeqSubjHeader + ": " + TaskFilter(task) + "`: the compare-and-set that keeps a task's seq gapless and fences stale writers"})
	add(WireEntry{Kind: WireHeader, Name: HeaderTraceparent, Via: "NATS (task events, work, API requests)",
		Writers: "gateways (created and follow-up events, assignments) and daemons (their events), when tracing is on; clients may send it on API requests",
		Readers: "the daemon taking an assignment (its turn's spans join the trace); the gateway's API (the submit span's parent); tools",
		Notes:   "W3C Trace Context; with `" + HeaderTracestate + "`; see docs/observability.md"})
	add(WireEntry{Kind: WireHeader, Name: HeaderServiceError, Via: "NATS (API replies)",
		Writers: "the gateway's micro service", Readers: "`bus.ParseReply`", Notes: "the error message"})
	add(WireEntry{Kind: WireHeader, Name: HeaderServiceErrorCode, Via: "NATS (API replies)",
		Writers: "the gateway's micro service", Readers: "`bus.ParseReply`", Notes: "the error code (see error codes); the body is the " + typeName(APIError{})})
	add(WireEntry{Kind: WireHeader, Name: HeaderAuthorization, Via: "HTTP",
		Writers: "HTTP clients", Readers: "the gateway", Notes: "`Bearer <token>` when the gateway has an HTTP token"})
	add(WireEntry{Kind: WireHeader, Name: TokenCookie, Via: "HTTP (cookie)",
		Writers: "the gateway (POST " + SessionPath + ")", Readers: "the gateway", Notes: "HttpOnly, SameSite=Strict, path " + APIPath})
	add(WireEntry{Kind: WireHeader, Name: HeaderLastEventID, Via: "HTTP",
		Writers: "an EventSource reconnecting", Readers: "the gateway (" + RouteTaskEvents + ")", Notes: "resume after that seq; or `?" + QueryAfter + "=<seq>`"})

	// Event types.
	for _, p := range AllTypes() {
		t := p.EventType()
		r := eventRules[t]
		readers := "every reader of the log"
		if r.readers != "" {
			readers += "; " + r.readers
		}
		add(WireEntry{Kind: WireEvent, Name: string(t), Via: TaskEventSubject(task, writerToken(r.writers), t),
			Writers: r.writers.String(), Readers: readers, Payload: typeName(p), Notes: r.when, EventType: t})
	}

	// Micro service endpoints.
	for _, e := range APIEndpoints() {
		add(WireEntry{Kind: WireEndpoint, Name: e.Subject(), Via: "micro service `" + ServiceName + "`",
			Writers: "clients", Readers: "gateways", Payload: typeName(e.Request) + " → " + typeName(e.Response), Notes: e.Description})
	}

	// Error codes.
	for _, c := range ErrorCodes() {
		add(WireEntry{Kind: WireErrorCode, Name: string(c), Via: fmt.Sprintf("HTTP %d", c.Status()),
			Writers: "gateways", Readers: "`bus.ParseReply`, `bus.ParseHTTPError`", Payload: typeName(APIError{}),
			Notes: "errors.Is(err, bus." + sentinelName(c.Sentinel()) + ")"})
	}
	for _, c := range []ErrorCode{CodeNoEndpoint, CodeInternal} {
		add(WireEntry{Kind: WireErrorCode, Name: string(c), Via: fmt.Sprintf("HTTP %d", c.Status()),
			Writers: "gateways", Readers: "`bus.ParseReply`, `bus.ParseHTTPError`", Payload: typeName(APIError{}), Notes: "no sentinel"})
	}

	// HTTP routes.
	for _, r := range httpRoutes() {
		auth := "token"
		if r.route == RouteHealth || strings.HasSuffix(r.route, SessionPath) {
			auth = "open"
		}
		add(WireEntry{Kind: WireRoute, Name: r.route, Via: "HTTP (" + auth + ")", Writers: "the dashboard, HTTP clients", Readers: "gateways",
			Payload: typeName(r.request) + " → " + typeName(r.response), Notes: r.what})
	}

	// SSE events.
	add(WireEntry{Kind: WireSSE, Name: SSEMessage, Via: RouteTaskEvents, Writers: "gateways", Readers: "the dashboard",
		Payload: typeName(Event{}), Notes: "the default event (sent without an `event:` line): a stored event; SSE id = its seq"})
	add(WireEntry{Kind: WireSSE, Name: SSEDelta, Via: RouteTaskEvents, Writers: "gateways, from " + LiveSubject(task), Readers: "the dashboard",
		Payload: typeName(Delta{}), Notes: "no id, never replayed; a slow client loses deltas, never events"})
	add(WireEntry{Kind: WireSSE, Name: SSEReady, Via: RouteTaskEvents + ", " + RouteWatchTasks, Writers: "gateways", Readers: "the dashboard",
		Payload: "`{}`", Notes: "the replay reached the end of the log as it was when the stream opened (task events); the watch is in place (task list)"})
	add(WireEntry{Kind: WireSSE, Name: SSESummary, Via: RouteTaskEvents + ", " + RouteWatchTasks, Writers: "gateways", Readers: "the dashboard",
		Payload: typeName(Summary{}), Notes: "the server's fold: once caught up and after each live event; on the watch, each change of " + TaskBucket})
	add(WireEntry{Kind: WireSSE, Name: SSEError, Via: RouteTaskEvents, Writers: "gateways", Readers: "the dashboard",
		Payload: typeName(APIError{}), Notes: "the error that ended the stream"})
	add(WireEntry{Kind: WireSSE, Name: SSEMux, Via: RouteStreams, Writers: "gateways", Readers: "the dashboard's shared worker",
		Payload: typeName(MuxEvent{}), Notes: "one event of one stream (`" + MuxStreamWatch + "` or `task:<id>`), named and with the data it would have on its own"})
	return out
}

// TaskSubjectLayout is the layout of a task-event subject, with
// placeholders: viber.task.<task>.<writer>.<event> (see [TaskEventSubject]).
func TaskSubjectLayout() string {
	return TaskEventSubject("<task>", "<writer>", Type(typePrefix+"<event>"))
}

// typesBy lists the short names of the event types any of ws may write.
func typesBy(ws ...EventWriters) string {
	var names []string
	for _, p := range AllTypes() {
		for _, w := range ws {
			if eventRules[p.EventType()].writers == w {
				names = append(names, p.EventType().Short())
				break
			}
		}
	}
	return strings.Join(names, ", ")
}

// writerToken is the writer token an event type is written under.
func writerToken(w EventWriters) string {
	switch w {
	case ByGateway:
		return GatewayWriter
	case ByOwnerOrGateway:
		return DaemonWriter("<daemon>") + "|" + GatewayWriter
	}
	return DaemonWriter("<daemon>")
}

// typeName names a body's Go type ("bus.Summary"), or says what it is.
func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "(none)"
	case string:
		return v
	}
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.String()
}

// sentinelName is the name of a sentinel error variable of this package.
func sentinelName(err error) string {
	for name, e := range map[string]error{
		"ErrTaskNotFound": ErrTaskNotFound, "ErrDaemonNotFound": ErrDaemonNotFound, "ErrCallNotFound": ErrCallNotFound,
		"ErrMalformed": ErrMalformed, "ErrUnknownType": ErrUnknownType, "ErrTooLarge": ErrTooLarge, "ErrTerminal": ErrTerminal,
		"ErrConflict": ErrConflict, "ErrUnauthorized": ErrUnauthorized, "ErrUnavailable": ErrUnavailable,
		"ErrNotWaiting": ErrNotWaiting, "ErrSkillUnavailable": ErrSkillUnavailable, "ErrScheduleNotFound": ErrScheduleNotFound,
		"ErrUnsupported": ErrUnsupported, "ErrActive": ErrActive,
	} {
		if e == err {
			return name
		}
	}
	return fmt.Sprintf("%q", err.Error())
}

// kvSubject is the subject of a key of a bucket: $KV.<bucket>.<key>.
func kvSubject(bucket, key string) string { return "$KV." + bucket + "." + key }

func streamConfig(c jetstream.StreamConfig) []string {
	out := []string{
		"subjects: `" + strings.Join(c.Subjects, "`, `") + "`",
		"storage: " + c.Storage.String(),
		"retention: " + c.Retention.String(),
	}
	if c.Retention == jetstream.LimitsPolicy {
		out = append(out, "discard: "+c.Discard.String())
	}
	if c.Duplicates > 0 {
		out = append(out, "duplicate window: "+c.Duplicates.String())
	}
	if c.MaxMsgSize > 0 {
		out = append(out, fmt.Sprintf("max message: %d bytes", c.MaxMsgSize))
	}
	if c.Replicas > 0 {
		out = append(out, fmt.Sprintf("replicas: %d", c.Replicas))
	}
	if c.AllowDirect {
		out = append(out, "direct get")
	}
	return out
}

func consumerConfig(c jetstream.ConsumerConfig) []string {
	out := []string{"durable", "ack: " + c.AckPolicy.String(), "ack wait: " + c.AckWait.String(), "deliver: " + c.DeliverPolicy.String()}
	if c.FilterSubject != "" {
		out = append(out, "filter: `"+c.FilterSubject+"`")
	}
	if c.MaxDeliver < 0 {
		out = append(out, "max deliver: unlimited")
	}
	if c.MaxAckPending > 0 {
		out = append(out, fmt.Sprintf("max ack pending: %d", c.MaxAckPending))
	}
	if c.Replicas > 0 {
		out = append(out, fmt.Sprintf("replicas: %d", c.Replicas))
	} else {
		out = append(out, "replicas: its stream's")
	}
	return out
}

func orderedConfig(c jetstream.OrderedConsumerConfig) []string {
	out := []string{"ordered (ephemeral, flow-controlled, recreated on a gap)", "filter: `" + strings.Join(c.FilterSubjects, "`, `") + "`", "deliver: " + c.DeliverPolicy.String()}
	if c.InactiveThreshold > 0 {
		out = append(out, "inactive threshold: "+c.InactiveThreshold.String())
	}
	return out
}

func bucketConfig(c jetstream.KeyValueConfig) []string {
	out := []string{fmt.Sprintf("history: %d", c.History), "storage: " + c.Storage.String()}
	if c.TTL > 0 {
		out = append(out, "ttl: "+c.TTL.String())
	}
	if c.Replicas > 0 {
		out = append(out, fmt.Sprintf("replicas: %d", c.Replicas))
	}
	return out
}
