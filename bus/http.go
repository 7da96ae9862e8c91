package bus

import "encoding/json"

// The gateway's HTTP surface: its routes (net/http.ServeMux patterns,
// method and path), the names of its Server-Sent Events, its headers and
// the bodies that exist only over HTTP. The JSON bodies of the API are the
// request and response types of the micro service (api.go); every error is
// an [APIError].
const (
	// RouteHealth answers a [Health], without a token (for probes).
	RouteHealth = "GET /healthz"
	// RouteListTasks lists task summaries, newest first, a page at a time
	// (?state=&daemon=&q=&before=&limit=, the fields of a
	// [ListTasksRequest]): [ListTasksResponse].
	RouteListTasks = "GET /api/tasks"
	// RouteCreateTask creates a task from a [CreateTaskRequest]; 201 with
	// the [Summary] and its Location.
	RouteCreateTask = "POST /api/tasks"
	// RouteTask answers a task's [Summary].
	RouteTask = "GET /api/tasks/{id}"
	// RouteSendInput adds a follow-up ([SendInputRequest] without id):
	// [EventResponse].
	RouteSendInput = "POST /api/tasks/{id}/input"
	// RouteCancelTask asks to stop a task ([CancelTaskRequest] without id,
	// the body may be empty): [EventResponse].
	RouteCancelTask = "POST /api/tasks/{id}/cancel"
	// RouteDecide approves or denies a waiting tool call ([DecideRequest]
	// without id): [EventResponse].
	RouteDecide = "POST /api/tasks/{id}/decide"
	// RouteTaskEvents streams a task's log as Server-Sent Events.
	RouteTaskEvents = "GET /api/tasks/{id}/events"
	// RouteWatchTasks streams task summaries as they change (SSE).
	RouteWatchTasks = "GET /api/watch/tasks"
	// RouteStreams carries several streams over one connection (SSE, each
	// event an [SSEMux] event holding a [MuxEvent]): the logs of the tasks
	// named by [QueryTask] and, with [QueryWatch], the task watch. The
	// dashboard's tabs share one such connection (browsers allow six per
	// host).
	RouteStreams = "GET /api/streams"
	// RouteDaemons lists daemons: [ListDaemonsResponse].
	RouteDaemons = "GET /api/daemons"
	// RouteSkills lists skills by name: [ListSkillsResponse].
	RouteSkills = "GET /api/skills"
	// RouteRemoveTask removes a task (its log, assignment and summary);
	// ?force=true removes one that has not ended: [RemoveTaskResponse].
	RouteRemoveTask = "DELETE /api/tasks/{id}"
	// QueryForce is the query parameter of [RouteRemoveTask] that removes
	// a task still pending or running.
	QueryForce = "force"
	// RouteWebhooks lists a task's webhook deliveries.
	RouteWebhooks = "GET /api/tasks/{id}/webhooks"
	// RouteListSchedules and the routes after it manage schedules.
	RouteListSchedules  = "GET /api/schedules"
	RouteAddSchedule    = "POST /api/schedules"
	RouteSchedule       = "GET /api/schedules/{name}"
	RouteRemoveSchedule = "DELETE /api/schedules/{name}"
	RoutePauseSchedule  = "POST /api/schedules/{name}/pause"
	RouteResumeSchedule = "POST /api/schedules/{name}/resume"
	RouteRunSchedule    = "POST /api/schedules/{name}/run"
	// RouteMetrics answers Prometheus metrics in the text exposition
	// format, behind the token like the API (see docs/observability.md).
	// A daemon's --metrics-listen answers the same path.
	RouteMetrics = "GET " + MetricsPath
	// APIPath prefixes every API route; a request under it that matches
	// no route is answered [CodeNoEndpoint].
	APIPath = "/api/"
	// SessionPath logs the dashboard in (POST a [SessionRequest]: sets
	// [TokenCookie]), says whether it is (GET) and logs it out (DELETE).
	// Answers [SessionResponse].
	SessionPath = "/api/session"
	// MetricsPath is the path of [RouteMetrics].
	MetricsPath = "/metrics"
)

// SSE event names. An event without a name (the default, "message")
// carries a stored task event: its JSON envelope as data and its seq as
// the SSE id, so a reconnecting EventSource resumes with Last-Event-ID.
const (
	// SSEMessage is the default event name, which the gateway never
	// writes: an event without a name is a stored task event.
	SSEMessage = "message"
	// SSEDelta carries a live token delta (JSON [Delta]); it has no id
	// and is never replayed.
	SSEDelta = "delta"
	// SSEReady says the replay reached the end of the log as it was when
	// the stream opened; what follows is live.
	SSEReady = "ready"
	// SSESummary carries a task [Summary]: on [RouteWatchTasks] for each
	// change, and on a task's event stream once caught up and after each
	// live event (the server's fold, so clients need not fold).
	SSESummary = "summary"
	// SSEError carries an error that ended the stream (JSON [APIError]).
	SSEError = "error"
	// SSEMux carries one event of one of the streams of [RouteStreams]
	// (JSON [MuxEvent]).
	SSEMux = "mux"
)

// MuxStreamWatch names the task watch among the streams of
// [RouteStreams]; a task's log is named [MuxTaskStream](id).
const MuxStreamWatch = "watch"

// MaxMuxStreams caps the streams of one [RouteStreams] connection.
const MaxMuxStreams = 64

// MuxTaskStream names a task's log among the streams of [RouteStreams].
func MuxTaskStream(taskID string) string { return "task:" + taskID }

// MuxEvent is one event of one stream of [RouteStreams]: what
// [RouteTaskEvents] or [RouteWatchTasks] would have sent on its own
// connection.
type MuxEvent struct {
	// Stream is [MuxStreamWatch] or [MuxTaskStream](id).
	Stream string `json:"stream"`
	// Event is the SSE event name the stream alone would carry
	// ([SSEMessage], [SSEDelta], [SSEReady], [SSESummary], [SSEError]).
	Event string `json:"event"`
	// ID is the SSE id the stream alone would carry (a stored event's seq).
	ID string `json:"id,omitempty"`
	// Data is the event's data.
	Data json.RawMessage `json:"data"`
}

// HTTP header, query and cookie names of the API.
const (
	// HeaderLastEventID is where an EventSource sends the id (seq) of the
	// last event it got when it reconnects to [RouteTaskEvents].
	HeaderLastEventID = "Last-Event-ID"
	// QueryAfter is the query parameter that does what [HeaderLastEventID]
	// does, for clients that open a stream themselves (?after=<seq>).
	QueryAfter = "after"
	// QueryTask names a task for [RouteStreams], repeated, each as
	// "<id>" or "<id>:<seq>" to start after that seq.
	QueryTask = "task"
	// QueryWatch=1 adds the task watch to [RouteStreams].
	QueryWatch = "watch"
	// QueryState, QueryDaemon, QuerySearch, QueryBefore and QueryLimit
	// are the parameters of [RouteListTasks]: [ListTasksRequest]'s State,
	// Daemon, Query, Before and Limit.
	QueryState  = "state"
	QueryDaemon = "daemon"
	// QuerySchedule keeps the tasks one schedule made.
	QuerySchedule = "schedule"
	QuerySearch   = "q"
	QueryBefore   = "before"
	QueryLimit    = "limit"
	// HeaderAuthorization carries "Bearer <token>" to a gateway with an
	// HTTP token.
	HeaderAuthorization = "Authorization"
	// TokenCookie carries the token for the dashboard once it logged in
	// through [SessionPath] (an EventSource cannot send a header).
	TokenCookie = "viber_token"
)

// Health is the body of [RouteHealth].
type Health struct {
	// Status is "ok", or "degraded" (503) when NATS or JetStream does not
	// answer.
	Status string `json:"status"`
	// NATS is the state of the gateway's NATS connection.
	NATS string `json:"nats"`
	// JetStream says whether JetStream answered.
	JetStream bool `json:"jetstream"`
	// Gateway is the gateway's id.
	Gateway string `json:"gateway"`
	// Version is the gateway's build version.
	Version string `json:"version"`
}

// SessionRequest logs the dashboard in (POST [SessionPath]).
type SessionRequest struct {
	// Token is the gateway's HTTP token.
	Token string `json:"token"`
}

// SessionResponse says the caller is logged in ([SessionPath]).
type SessionResponse struct {
	// Auth is true: the caller is logged in (else the answer is a 401
	// [APIError]).
	Auth bool `json:"auth"`
}
