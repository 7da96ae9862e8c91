package bus

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Limits the gateway API enforces.
const (
	// MaxGoalBytes is the largest goal a task may have.
	MaxGoalBytes = 64 << 10
	// MaxInputBytes is the largest follow-up text.
	MaxInputBytes = 64 << 10
	// DefaultListLimit is how many tasks a list returns by default.
	DefaultListLimit = 100
)

// API groups and endpoints of the gateway's micro service. Each endpoint's
// subject is [APISubject](group, endpoint), e.g. viber.api.task.create.
const (
	APIGroupTask     = "task"
	APIGroupDaemon   = "daemon"
	APIGroupSchedule = "schedule"

	APITaskCreate = "create"
	APITaskGet    = "get"
	APITaskList   = "list"
	APITaskCancel = "cancel"
	APITaskSend   = "send"
	APITaskDecide = "decide"
	APIDaemonList = "list"
	// APITaskWebhooks lists the webhook deliveries of a task.
	APITaskWebhooks = "webhooks"
	// APITaskRemove purges a task's events, assignment and summary.
	APITaskRemove = "rm"

	APIScheduleAdd    = "add"
	APIScheduleList   = "list"
	APIScheduleGet    = "get"
	APISchedulePause  = "pause"
	APIScheduleResume = "resume"
	APIScheduleRemove = "rm"
	APIScheduleRun    = "run"
)

// CreateTaskRequest asks the gateway to create and queue a task.
type CreateTaskRequest struct {
	Goal   string   `json:"goal"`
	Daemon string   `json:"daemon,omitempty"`
	Model  string   `json:"model,omitempty"`
	Skills []string `json:"skills,omitempty"`
	// Tools the task needs (e.g. an MCP server's mcp_github_get_issue):
	// only daemons offering them take it.
	Tools []string `json:"tools,omitempty"`
	// Agent names the named agent to run the task; only daemons offering
	// it take it.
	Agent string `json:"agent,omitempty"`
	// Parent makes the task a child of a running task's spawn call (a
	// daemon's spawn tool sets it); the task's id is then derived from
	// the parent and call, so asking again returns the same task.
	Parent    *ParentRef        `json:"parent,omitempty"`
	Policy    map[string]string `json:"policy,omitempty"`
	Submitter string            `json:"submitter,omitempty"`
	// Notify is a URL the gateway POSTs each terminal event of the task
	// to, signed with its webhook secret.
	Notify string `json:"notify,omitempty"`
}

// TaskRequest names one task (get).
type TaskRequest struct {
	ID string `json:"id"`
}

// ListTasksRequest filters a task list and says which page of it to
// answer. Tasks are listed newest first (task ids are ULIDs, which sort by
// creation time); a page starts after the cursor Before.
type ListTasksRequest struct {
	// State keeps only tasks in that state.
	State State `json:"state,omitempty"`
	// Daemon keeps only tasks run (or pinned) on that daemon.
	Daemon string `json:"daemon,omitempty"`
	// Schedule keeps only tasks made by that schedule.
	Schedule string `json:"schedule,omitempty"`
	// Query keeps only tasks whose goal contains it (case-insensitive).
	Query string `json:"query,omitempty"`
	// Before is the cursor of the page: only tasks older than this task id
	// (the Next of the previous page). Empty starts at the newest.
	Before string `json:"before,omitempty"`
	// Parent keeps only the child tasks of that task.
	Parent string `json:"parent,omitempty"`
	// Limit caps the count (default 100, newest first).
	Limit int `json:"limit,omitempty"`
}

// ListTasksResponse is a page of task summaries, newest first.
type ListTasksResponse struct {
	Tasks []*Summary `json:"tasks"`
	// Total is how many tasks matched the filters (on every page, not
	// only this one and those after it).
	Total int `json:"total"`
	// Next is the cursor of the next (older) page: pass it as Before.
	// Empty on the last page.
	Next string `json:"next,omitempty"`
}

// Matches reports whether a summary passes the request's filters (state,
// daemon, goal query); the cursor and the limit are not filters.
func (r *ListTasksRequest) Matches(s *Summary) bool {
	if r.State != "" && s.State != r.State {
		return false
	}
	if r.Daemon != "" && s.Daemon != r.Daemon && s.RequestedDaemon != r.Daemon {
		return false
	}
	if r.Schedule != "" && s.Schedule != r.Schedule {
		return false
	}
	if r.Parent != "" && (s.Parent == nil || s.Parent.Task != r.Parent) {
		return false
	}
	if r.Query != "" && !strings.Contains(strings.ToLower(s.Goal), strings.ToLower(r.Query)) {
		return false
	}
	return true
}

// Page cuts a list of summaries, newest first, to the request's page: the
// summaries that match, older than Before, at most limit of them (the
// request's Limit, or [DefaultListLimit]), with the total that matched
// and the cursor of the next page.
func (r *ListTasksRequest) Page(all []*Summary) *ListTasksResponse {
	limit := r.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	resp := &ListTasksResponse{Tasks: []*Summary{}}
	for _, s := range all {
		if !r.Matches(s) {
			continue
		}
		resp.Total++
		if r.Before != "" && s.ID >= r.Before {
			continue
		}
		if len(resp.Tasks) < limit {
			resp.Tasks = append(resp.Tasks, s)
		} else if resp.Next == "" {
			resp.Next = resp.Tasks[len(resp.Tasks)-1].ID
		}
	}
	return resp
}

// RemoveTaskRequest asks the gateway to remove a task: its events from
// VIBER_TASKS, its assignment from VIBER_WORK and its summary. A task that
// has not ended is refused ([ErrActive]) unless Force is set; the daemon
// running a forced one stops at its next write.
type RemoveTaskRequest struct {
	ID    string `json:"id"`
	Force bool   `json:"force,omitempty"`
}

// RemoveTaskResponse says what was removed.
type RemoveTaskResponse struct {
	// ID is the task removed.
	ID string `json:"id"`
	// State is the state it had.
	State State `json:"state"`
	// Events is how many events its log held.
	Events uint64 `json:"events"`
}

// CancelTaskRequest asks to stop a task.
type CancelTaskRequest struct {
	ID     string `json:"id"`
	Reason string `json:"reason,omitempty"`
	By     string `json:"by,omitempty"`
}

// SendInputRequest adds a follow-up to a task.
type SendInputRequest struct {
	ID   string `json:"id"`
	Text string `json:"text"`
	// Mode is "queue" (default) or "steer".
	Mode string `json:"mode,omitempty"`
	By   string `json:"by,omitempty"`
}

// DecideRequest approves or denies a tool call waiting for approval.
type DecideRequest struct {
	ID     string `json:"id"`
	CallID string `json:"call_id"`
	// Approved runs the tool; false refuses it and tells the model why.
	Approved bool   `json:"approved"`
	Reason   string `json:"reason,omitempty"`
	By       string `json:"by,omitempty"`
}

// AddScheduleRequest defines a schedule. Exactly one of Cron, Every and
// At is given.
type AddScheduleRequest struct {
	Name string `json:"name"`
	// Cron is a cron expression, five fields (minute first) or six
	// (seconds first), or a descriptor such as "@daily"; TZ is its IANA
	// time zone (default UTC).
	Cron string `json:"cron,omitempty"`
	TZ   string `json:"tz,omitempty"`
	// Every is an interval such as "15m" (at least 1s).
	Every string `json:"every,omitempty"`
	// At is an RFC 3339 time for a one-shot schedule.
	At string `json:"at,omitempty"`
	// What each firing creates (see CreateTaskRequest).
	Goal   string            `json:"goal"`
	Daemon string            `json:"daemon,omitempty"`
	Model  string            `json:"model,omitempty"`
	Skills []string          `json:"skills,omitempty"`
	Tools  []string          `json:"tools,omitempty"`
	Agent  string            `json:"agent,omitempty"`
	Policy map[string]string `json:"policy,omitempty"`
	Notify string            `json:"notify,omitempty"`
	// Overlap is "skip" (default) or "queue".
	Overlap string `json:"overlap,omitempty"`
	By      string `json:"by,omitempty"`
}

// ScheduleRequest names one schedule (get, pause, resume, rm, run).
type ScheduleRequest struct {
	Name string `json:"name"`
}

// ScheduleView is a schedule as the API shows it: its definition and
// state, when it fires next and how its latest task did.
type ScheduleView struct {
	Schedule
	// NextRuns are the next firing times (none while paused or done).
	NextRuns []time.Time `json:"next_runs,omitempty"`
	// LastState and LastResult are the latest task's state and its
	// result or error.
	LastState  State  `json:"last_state,omitempty"`
	LastResult string `json:"last_result,omitempty"`
}

// ListSchedulesResponse lists schedules by name.
type ListSchedulesResponse struct {
	Schedules []*ScheduleView `json:"schedules"`
}

// RunScheduleResponse answers `schedule run`: the firing is stored and
// the gateway makes its task as it does for every firing.
type RunScheduleResponse struct {
	Schedule string    `json:"schedule"`
	Fired    time.Time `json:"fired"`
	// Task is the id the firing's task has (or will have).
	Task string `json:"task"`
}

// WebhooksResponse lists a task's webhook deliveries.
type WebhooksResponse struct {
	Deliveries []*WebhookDelivery `json:"deliveries"`
}

// EventResponse returns the event a command appended.
type EventResponse struct {
	Event *Event `json:"event"`
}

// ListDaemonsResponse lists daemons with their presence.
type ListDaemonsResponse struct {
	Daemons []*DaemonView `json:"daemons"`
}

// DaemonView is a daemon's presence plus whether it is online now, as the
// gateway judged it.
type DaemonView struct {
	DaemonInfo
	Online bool `json:"online"`
}

// SkillView is one skill and the daemons offering it (GET /api/skills,
// [GroupSkills]).
type SkillView struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Daemons are the daemons that have the skill, usable or not.
	Daemons []*SkillOffer `json:"daemons"`
}

// SkillOffer is one daemon's copy of a skill.
type SkillOffer struct {
	Daemon string `json:"daemon"`
	Online bool   `json:"online"`
	// Source is "workspace", "user" or "builtin".
	Source string `json:"source,omitempty"`
	// Missing lists unmet requirements; such a skill is not routed to.
	Missing []string `json:"missing,omitempty"`
}

// ListSkillsResponse lists the skills daemons offer, by name.
type ListSkillsResponse struct {
	Skills []*SkillView `json:"skills"`
}

// GroupSkills turns the skills daemons announce in their presence into one
// view per skill name, sorted by name, each with the daemons offering it.
func GroupSkills(daemons []*DaemonView) *ListSkillsResponse {
	byName := map[string]*SkillView{}
	for _, d := range daemons {
		for _, s := range d.Skills {
			v := byName[s.Name]
			if v == nil {
				v = &SkillView{Name: s.Name, Description: s.Description}
				byName[s.Name] = v
			}
			v.Daemons = append(v.Daemons, &SkillOffer{Daemon: d.ID, Online: d.Online, Source: s.Source, Missing: s.Missing})
		}
	}
	out := &ListSkillsResponse{Skills: make([]*SkillView, 0, len(byName))}
	for _, s := range byName {
		out.Skills = append(out.Skills, s)
	}
	sort.Slice(out.Skills, func(i, j int) bool { return out.Skills[i].Name < out.Skills[j].Name })
	return out
}

// APIError is an error answered by the gateway, over NATS or HTTP. Its JSON
// form is the body of every HTTP API error and the data of every error
// reply of the micro service, whose Nats-Service-Error-Code header carries
// the Code. errors.Is matches it against the sentinel of its code, e.g.
// errors.Is(err, ErrTaskNotFound).
type APIError struct {
	// Message says what went wrong and, where it can, what to do.
	Message string `json:"error"`
	// Code is the stable name of the error.
	Code ErrorCode `json:"code"`
	// Status is the HTTP status that goes with the code (an HTTP answer
	// may use a more precise one, e.g. 415).
	Status int `json:"status"`
}

// Error implements error.
func (e *APIError) Error() string { return e.Message }

// Unwrap maps the code to its bus sentinel, so errors.Is works across the
// wire.
func (e *APIError) Unwrap() error { return e.Code.Sentinel() }

// NewAPIError is the answer for an error a request ended with: its
// message, the code of the sentinel it wraps and that code's status.
func NewAPIError(err error) *APIError {
	code := CodeOf(err)
	msg := err.Error()
	if msg == "" {
		msg = string(code)
	}
	return &APIError{Message: msg, Code: code, Status: code.Status()}
}

// ParseReply decodes a gateway reply into out, or returns the *APIError
// it carries.
func ParseReply(msg *nats.Msg, out any) error {
	if code := msg.Header.Get(HeaderServiceErrorCode); code != "" {
		return replyError(code, msg.Header.Get(HeaderServiceError), msg.Data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(msg.Data, out); err != nil {
		return fmt.Errorf("gateway reply: %w: %v", ErrMalformed, err)
	}
	return nil
}

// replyError rebuilds an error reply. The header's code is authoritative;
// the body, when it is an APIError, keeps the message whole (a header
// cannot hold line breaks). A numeric code (micro's own errors, or a gateway
// from before codes had names) is read as an HTTP status.
func replyError(code, desc string, data []byte) *APIError {
	e := &APIError{Code: ErrorCode(code), Message: desc}
	if n, err := strconv.Atoi(code); err == nil {
		e.Code = codeForStatus(n)
		e.Status = n
	} else {
		e.Status = e.Code.Status()
	}
	var body APIError
	if len(data) > 0 && json.Unmarshal(data, &body) == nil && body.Message != "" && body.Code == e.Code {
		e.Message = body.Message
	}
	if e.Message == "" {
		e.Message = string(e.Code)
	}
	return e
}

// ParseHTTPError rebuilds the error of an HTTP API answer from its status
// and body. A body that is not an [APIError] (say, from a proxy) gives the
// code its status stands for, if only one.
func ParseHTTPError(status int, body []byte) *APIError {
	var e APIError
	if json.Unmarshal(body, &e) != nil || e.Code == "" {
		e = APIError{Code: codeForStatus(status), Message: strings.TrimSpace(string(body))}
	}
	e.Status = status
	if e.Message == "" {
		e.Message = fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	}
	return &e
}

// StricterPolicy merges two task policies (tool, glob, shell:PREFIX or *
// → allow, ask or deny), keeping for each rule the stricter decision
// (allow < ask < deny): what a child task runs under, so that it never
// loosens its parent's.
func StricterPolicy(a, b map[string]string) map[string]string {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	rank := map[string]int{"allow": 0, "ask": 1, "deny": 2}
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if cur, ok := out[k]; !ok || rank[strings.ToLower(v)] > rank[strings.ToLower(cur)] {
			out[k] = v
		}
	}
	return out
}
