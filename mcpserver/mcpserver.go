// Package mcpserver offers Viber to other agents as a Model Context
// Protocol server: tools to submit tasks and follow, steer, approve and
// cancel them, to list daemons and skills, and resources holding a task's
// summary (viber://tasks/<id>) and its log as JSON lines
// (viber://tasks/<id>/events). It is a client of the gateway's NATS API;
// `viber mcp serve` runs it over stdio, and the gateway serves it over
// streamable HTTP at /mcp.
package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/viberhq/viber/bus"
)

// Limits of the tools.
const (
	// MaxWait caps submit_task's wait_seconds.
	MaxWait = time.Hour
	// DefaultEventPage and MaxEventPage bound one task_events answer.
	DefaultEventPage = 100
	MaxEventPage     = 1000
)

// API is the gateway's control API and task log as the server uses them;
// *client.Client implements it.
type API interface {
	CreateTask(ctx context.Context, req *bus.CreateTaskRequest) (*bus.Summary, error)
	Task(ctx context.Context, id string) (*bus.Summary, error)
	ListTasks(ctx context.Context, req *bus.ListTasksRequest) (*bus.ListTasksResponse, error)
	CancelTask(ctx context.Context, req *bus.CancelTaskRequest) (*bus.Event, error)
	SendInput(ctx context.Context, req *bus.SendInputRequest) (*bus.Event, error)
	Daemons(ctx context.Context) ([]*bus.DaemonView, error)
	Decide(ctx context.Context, req *bus.DecideRequest) (*bus.Event, error)
	Log() *bus.Log
}

// Options configures the server.
type Options struct {
	// Client reaches the gateway (a *client.Client). Required.
	Client API
	// Version is reported to MCP clients.
	Version string
	// RequestTimeout bounds each gateway request (default 10 s).
	RequestTimeout time.Duration
}

// server holds what the handlers share.
type server struct {
	cl      API
	timeout time.Duration
	srv     *sdk.Server

	mu      sync.Mutex
	watches map[string]*watch // by task id, while clients subscribe
}

// watch follows one task's log for resource subscribers.
type watch struct {
	cancel context.CancelFunc
	uris   map[string]int // subscriptions by URI
}

// New returns the MCP server with Viber's tools and resources.
func New(opts Options) (*sdk.Server, error) {
	if opts.Client == nil {
		return nil, errors.New("mcpserver: no gateway client")
	}
	if opts.Version == "" {
		opts.Version = "0.0.0-dev"
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 10 * time.Second
	}
	s := &server{cl: opts.Client, timeout: opts.RequestTimeout, watches: map[string]*watch{}}
	srv := sdk.NewServer(&sdk.Implementation{Name: "viber", Title: "Viber", Version: opts.Version}, &sdk.ServerOptions{
		SubscribeHandler:   s.subscribe,
		UnsubscribeHandler: s.unsubscribe,
		Instructions: "Viber runs tasks on AI worker daemons. submit_task gives a daemon a goal (wait_seconds to wait for the answer); " +
			"get_task and task_events follow it; decide_approval lets a tool call that waits for a person run; send_input adds a follow-up; cancel_task stops it.",
	})
	sdk.AddTool(srv, &sdk.Tool{Name: "submit_task", Title: "Submit a task",
		Description: "Give a Viber worker a goal. Returns the task's summary; with wait_seconds, waits up to that long for the task to end and returns its result (or its state so far)."}, s.submitTask)
	sdk.AddTool(srv, &sdk.Tool{Name: "get_task", Title: "Get a task", Description: "A task's summary: state, daemon, result or error, calls waiting for approval."}, s.getTask)
	sdk.AddTool(srv, &sdk.Tool{Name: "list_tasks", Title: "List tasks", Description: "Task summaries, newest first, optionally by state or daemon."}, s.listTasks)
	sdk.AddTool(srv, &sdk.Tool{Name: "task_events", Title: "Read a task's events",
		Description: "A page of a task's event log (messages, tool calls and results, approvals, the outcome) after a seq; call again with next_after_seq while more is true."}, s.taskEvents)
	sdk.AddTool(srv, &sdk.Tool{Name: "send_input", Title: "Send a follow-up", Description: "Add a follow-up to a task: queued for its next step, or steering (interrupting) the current one; reopens an ended task."}, s.sendInput)
	sdk.AddTool(srv, &sdk.Tool{Name: "cancel_task", Title: "Cancel a task", Description: "Ask a task to stop."}, s.cancelTask)
	sdk.AddTool(srv, &sdk.Tool{Name: "decide_approval", Title: "Approve or deny a tool call",
		Description: "Approve (run) or deny a tool call that waits for approval; get_task lists the waiting call ids."}, s.decide)
	sdk.AddTool(srv, &sdk.Tool{Name: "list_daemons", Title: "List daemons", Description: "The worker daemons, whether they are online, their models, skills and MCP servers."}, s.listDaemons)
	sdk.AddTool(srv, &sdk.Tool{Name: "list_skills", Title: "List skills", Description: "The skills the daemons offer (a task can ask for them with submit_task's skills)."}, s.listSkills)

	srv.AddResourceTemplate(&sdk.ResourceTemplate{
		URITemplate: "viber://tasks/{id}", Name: "task", Title: "Task summary", MIMEType: "application/json",
		Description: "A task's summary as JSON.",
	}, s.readTask)
	srv.AddResourceTemplate(&sdk.ResourceTemplate{
		URITemplate: "viber://tasks/{id}/events", Name: "task-events", Title: "Task event log", MIMEType: "application/jsonl",
		Description: "A task's event log, one JSON event a line.",
	}, s.readEvents)
	s.srv = srv
	return srv, nil
}

// taskOfURI reads the task id of either resource URI.
func taskOfURI(uri string) (string, bool) {
	if id, ok := taskURI(uri, "/events"); ok {
		return id, true
	}
	return taskURI(uri, "")
}

// subscribe starts following the task (once for all its subscribers):
// each new event sends resources/updated for both of its URIs, until the
// task's turn ends or nobody subscribes any more.
func (s *server) subscribe(ctx context.Context, req *sdk.SubscribeRequest) error {
	uri := req.Params.URI
	id, ok := taskOfURI(uri)
	if !ok {
		return sdk.ResourceNotFoundError(uri)
	}
	rctx, cancel := s.ctx(ctx)
	last, err := s.cl.Log().Last(rctx, id)
	cancel()
	if errors.Is(err, bus.ErrTaskNotFound) {
		return sdk.ResourceNotFoundError(uri)
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.watches[id]
	if w == nil {
		wctx, cancel := context.WithCancel(context.Background())
		w = &watch{cancel: cancel, uris: map[string]int{}}
		s.watches[id] = w
		go s.follow(wctx, id, last.StreamSeq, w)
	}
	w.uris[uri]++
	return nil
}

func (s *server) unsubscribe(_ context.Context, req *sdk.UnsubscribeRequest) error {
	id, ok := taskOfURI(req.Params.URI)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.watches[id]
	if w == nil {
		return nil
	}
	if w.uris[req.Params.URI]--; w.uris[req.Params.URI] <= 0 {
		delete(w.uris, req.Params.URI)
	}
	if len(w.uris) == 0 {
		w.cancel()
		delete(s.watches, id)
	}
	return nil
}

func (s *server) follow(ctx context.Context, id string, after uint64, w *watch) {
	defer func() {
		s.mu.Lock()
		if s.watches[id] == w {
			delete(s.watches, id)
		}
		s.mu.Unlock()
		w.cancel()
	}()
	for _, err := range s.cl.Log().Replay(ctx, id, bus.ReplayOptions{Follow: bus.UntilEnd, AfterStreamSeq: after}) {
		if err != nil {
			return
		}
		for _, uri := range []string{"viber://tasks/" + id, "viber://tasks/" + id + "/events"} {
			_ = s.srv.ResourceUpdated(ctx, &sdk.ResourceUpdatedNotificationParams{URI: uri})
		}
	}
}

func (s *server) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, s.timeout)
}

// submitter names the MCP client in the task's created event.
func submitter(req *sdk.CallToolRequest) string {
	if req != nil && req.Session != nil {
		if p := req.Session.InitializeParams(); p != nil && p.ClientInfo != nil && p.ClientInfo.Name != "" {
			return "mcp/" + p.ClientInfo.Name
		}
	}
	return "mcp"
}

// SubmitTaskInput is submit_task's arguments.
type SubmitTaskInput struct {
	Goal        string            `json:"goal" jsonschema:"what the worker should do"`
	Daemon      string            `json:"daemon,omitempty" jsonschema:"run on this daemon (list_daemons); any daemon when empty"`
	Skills      []string          `json:"skills,omitempty" jsonschema:"skills the daemon must offer (list_skills)"`
	Tools       []string          `json:"tools,omitempty" jsonschema:"tools the daemon must offer, such as an MCP server's mcp_github_get_issue (list_daemons shows them)"`
	Agent       string            `json:"agent,omitempty" jsonschema:"named agent to run the task (list_daemons shows each daemon's agents); the default agent when empty"`
	Model       string            `json:"model,omitempty" jsonschema:"model reference: provider/model, provider or model; the daemon's default when empty"`
	Policy      map[string]string `json:"policy,omitempty" jsonschema:"tool policy overrides (tool or glob → allow, ask, deny); they may only tighten the daemon's"`
	WaitSeconds int               `json:"wait_seconds,omitempty" jsonschema:"wait up to this many seconds (at most 3600) for the task to end; 0 returns at once"`
}

// TaskOutput is a task's summary and whether it has ended.
type TaskOutput struct {
	Task *bus.Summary `json:"task"`
	// Done is true when the task's turn ended (completed, failed or
	// cancelled).
	Done bool `json:"done"`
	// Note says what to do next when the task has not ended.
	Note string `json:"note,omitempty"`
}

func (s *server) submitTask(ctx context.Context, req *sdk.CallToolRequest, in SubmitTaskInput) (*sdk.CallToolResult, TaskOutput, error) {
	if strings.TrimSpace(in.Goal) == "" {
		return nil, TaskOutput{}, errors.New("goal is empty: say what the worker should do")
	}
	if in.WaitSeconds < 0 || time.Duration(in.WaitSeconds)*time.Second > MaxWait {
		return nil, TaskOutput{}, fmt.Errorf("wait_seconds %d: use 0 to %d", in.WaitSeconds, int(MaxWait.Seconds()))
	}
	rctx, cancel := s.ctx(ctx)
	sum, err := s.cl.CreateTask(rctx, &bus.CreateTaskRequest{
		Goal: in.Goal, Daemon: in.Daemon, Model: in.Model, Skills: in.Skills, Tools: in.Tools, Agent: in.Agent, Policy: in.Policy, Submitter: submitter(req),
	})
	cancel()
	if err != nil {
		return nil, TaskOutput{}, err
	}
	if in.WaitSeconds == 0 {
		return nil, s.output(sum), nil
	}
	return nil, s.wait(ctx, req, sum, time.Duration(in.WaitSeconds)*time.Second), nil
}

// wait follows a task until its turn ends or d passes, sending a progress
// notification for each event when the client asked for progress.
func (s *server) wait(ctx context.Context, req *sdk.CallToolRequest, sum *bus.Summary, d time.Duration) TaskOutput {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var token any
	if req != nil && req.Params != nil {
		token = req.Params.GetProgressToken()
	}
	var events []*bus.Event
	for ev, err := range s.cl.Log().Replay(wctx, sum.ID, bus.ReplayOptions{Follow: bus.UntilEnd}) {
		if err != nil {
			break
		}
		events = append(events, ev)
		if token != nil && req.Session != nil {
			_ = req.Session.NotifyProgress(ctx, &sdk.ProgressNotificationParams{
				ProgressToken: token, Progress: float64(ev.Seq), Message: progressMessage(ev),
			})
		}
	}
	if folded, err := bus.Fold(events); err == nil && len(events) > 0 {
		sum = folded
	} else {
		rctx, cancel := s.ctx(ctx)
		if got, err := s.cl.Task(rctx, sum.ID); err == nil {
			sum = got
		}
		cancel()
	}
	return s.output(sum)
}

func progressMessage(ev *bus.Event) string {
	switch ev.Type {
	case bus.TypeToolCall:
		var tc bus.ToolCall
		if json.Unmarshal(ev.Data, &tc) == nil {
			return "calling " + tc.Tool
		}
	case bus.TypeApprovalRequested:
		var ar bus.ApprovalRequested
		if json.Unmarshal(ev.Data, &ar) == nil {
			return fmt.Sprintf("waiting for approval of %s (call %s): use decide_approval", ar.Tool, ar.CallID)
		}
	}
	return ev.Type.Short()
}

func (s *server) output(sum *bus.Summary) TaskOutput {
	out := TaskOutput{Task: sum, Done: sum.State.Terminal()}
	switch {
	case out.Done:
	case sum.State == bus.StateWaitingApproval:
		out.Note = fmt.Sprintf("waiting for approval of call(s) %s: use decide_approval", strings.Join(sum.PendingApprovals, ", "))
	default:
		out.Note = "not finished yet: follow it with get_task or task_events"
	}
	return out
}

// TaskInput names a task.
type TaskInput struct {
	ID string `json:"id" jsonschema:"the task's id"`
}

func (s *server) getTask(ctx context.Context, _ *sdk.CallToolRequest, in TaskInput) (*sdk.CallToolResult, TaskOutput, error) {
	rctx, cancel := s.ctx(ctx)
	defer cancel()
	sum, err := s.cl.Task(rctx, in.ID)
	if err != nil {
		return nil, TaskOutput{}, err
	}
	return nil, s.output(sum), nil
}

// ListTasksInput filters list_tasks.
type ListTasksInput struct {
	State  string `json:"state,omitempty" jsonschema:"only tasks in this state: pending, assigned, running, waiting_approval, completed, failed or cancelled"`
	Daemon string `json:"daemon,omitempty" jsonschema:"only tasks of this daemon"`
	Limit  int    `json:"limit,omitempty" jsonschema:"at most this many (default 100)"`
}

// ListTasksOutput is a page of tasks, newest first.
type ListTasksOutput struct {
	Tasks []*bus.Summary `json:"tasks"`
	Total int            `json:"total"`
}

func (s *server) listTasks(ctx context.Context, _ *sdk.CallToolRequest, in ListTasksInput) (*sdk.CallToolResult, ListTasksOutput, error) {
	rctx, cancel := s.ctx(ctx)
	defer cancel()
	r, err := s.cl.ListTasks(rctx, &bus.ListTasksRequest{State: bus.State(in.State), Daemon: in.Daemon, Limit: in.Limit})
	if err != nil {
		return nil, ListTasksOutput{}, err
	}
	if r.Tasks == nil {
		r.Tasks = []*bus.Summary{}
	}
	return nil, ListTasksOutput{Tasks: r.Tasks, Total: r.Total}, nil
}

// TaskEventsInput pages through a task's log.
type TaskEventsInput struct {
	ID       string `json:"id" jsonschema:"the task's id"`
	AfterSeq uint64 `json:"after_seq,omitempty" jsonschema:"only events after this seq (0: from the first)"`
	Limit    int    `json:"limit,omitempty" jsonschema:"at most this many events (default 100, at most 1000)"`
}

// Event is one event of a task's log.
type Event struct {
	Seq    uint64    `json:"seq"`
	ID     string    `json:"id"`
	Type   string    `json:"type"`
	Source string    `json:"source"`
	Time   time.Time `json:"time"`
	// Data is the event's payload (see the project's schemas/).
	Data any `json:"data"`
}

// TaskEventsOutput is a page of events.
type TaskEventsOutput struct {
	Events []Event `json:"events"`
	// NextAfterSeq is the after_seq of the next page.
	NextAfterSeq uint64 `json:"next_after_seq"`
	// More is true when events after this page were stored already.
	More bool `json:"more"`
}

func (s *server) taskEvents(ctx context.Context, _ *sdk.CallToolRequest, in TaskEventsInput) (*sdk.CallToolResult, TaskEventsOutput, error) {
	limit := in.Limit
	if limit <= 0 {
		limit = DefaultEventPage
	}
	limit = min(limit, MaxEventPage)
	rctx, cancel := s.ctx(ctx)
	defer cancel()
	out := TaskEventsOutput{Events: []Event{}, NextAfterSeq: in.AfterSeq}
	for ev, err := range s.cl.Log().Replay(rctx, in.ID, bus.ReplayOptions{AfterSeq: in.AfterSeq}) {
		if err != nil {
			return nil, TaskEventsOutput{}, err
		}
		if len(out.Events) == limit {
			out.More = true
			break
		}
		out.Events = append(out.Events, eventOf(ev))
		out.NextAfterSeq = ev.Seq
	}
	return nil, out, nil
}

func eventOf(ev *bus.Event) Event {
	var data any
	_ = json.Unmarshal(ev.Data, &data)
	return Event{Seq: ev.Seq, ID: ev.ID, Type: string(ev.Type), Source: ev.Source, Time: ev.Time, Data: data}
}

// SendInputInput is a follow-up.
type SendInputInput struct {
	ID    string `json:"id" jsonschema:"the task's id"`
	Text  string `json:"text" jsonschema:"the follow-up"`
	Steer bool   `json:"steer,omitempty" jsonschema:"interrupt the current model call instead of waiting for the next step"`
}

// EventOutput is the event a command appended.
type EventOutput struct {
	Event Event `json:"event"`
}

func (s *server) sendInput(ctx context.Context, req *sdk.CallToolRequest, in SendInputInput) (*sdk.CallToolResult, EventOutput, error) {
	mode := "queue"
	if in.Steer {
		mode = "steer"
	}
	rctx, cancel := s.ctx(ctx)
	defer cancel()
	ev, err := s.cl.SendInput(rctx, &bus.SendInputRequest{ID: in.ID, Text: in.Text, Mode: mode, By: submitter(req)})
	return eventResult(ev, err)
}

// CancelTaskInput names the task to stop.
type CancelTaskInput struct {
	ID     string `json:"id" jsonschema:"the task's id"`
	Reason string `json:"reason,omitempty" jsonschema:"why, for the log"`
}

func (s *server) cancelTask(ctx context.Context, req *sdk.CallToolRequest, in CancelTaskInput) (*sdk.CallToolResult, EventOutput, error) {
	rctx, cancel := s.ctx(ctx)
	defer cancel()
	ev, err := s.cl.CancelTask(rctx, &bus.CancelTaskRequest{ID: in.ID, Reason: in.Reason, By: submitter(req)})
	return eventResult(ev, err)
}

// DecideInput approves or denies a waiting tool call.
type DecideInput struct {
	ID       string `json:"id" jsonschema:"the task's id"`
	CallID   string `json:"call_id" jsonschema:"the waiting call's id (get_task's pending_approvals)"`
	Approved bool   `json:"approved" jsonschema:"true runs the tool; false refuses it and tells the worker"`
	Reason   string `json:"reason,omitempty" jsonschema:"why, told to the worker when denied"`
}

func (s *server) decide(ctx context.Context, req *sdk.CallToolRequest, in DecideInput) (*sdk.CallToolResult, EventOutput, error) {
	rctx, cancel := s.ctx(ctx)
	defer cancel()
	ev, err := s.cl.Decide(rctx, &bus.DecideRequest{ID: in.ID, CallID: in.CallID, Approved: in.Approved, Reason: in.Reason, By: submitter(req)})
	return eventResult(ev, err)
}

func eventResult(ev *bus.Event, err error) (*sdk.CallToolResult, EventOutput, error) {
	if err != nil {
		return nil, EventOutput{}, err
	}
	if ev == nil {
		return nil, EventOutput{}, errors.New("the gateway answered without an event")
	}
	return nil, EventOutput{Event: eventOf(ev)}, nil
}

// Daemon is a daemon as list_daemons shows it.
type Daemon struct {
	ID       string   `json:"id"`
	Online   bool     `json:"online"`
	Status   string   `json:"status"`
	Edge     bool     `json:"edge,omitempty"`
	Hostname string   `json:"hostname,omitempty"`
	Version  string   `json:"version,omitempty"`
	Model    string   `json:"model,omitempty"`
	Skills   []string `json:"skills"`
	// Agents are the named agents the daemon offers (submit_task's agent).
	Agents   []string `json:"agents"`
	Running  int      `json:"running"`
	Capacity int      `json:"capacity"`
	// MCPServers are the MCP servers whose tools the daemon's workers use.
	MCPServers []bus.MCPServerInfo `json:"mcp_servers"`
	LastSeen   time.Time           `json:"last_seen"`
}

// DaemonsOutput lists daemons.
type DaemonsOutput struct {
	Daemons []Daemon `json:"daemons"`
}

func (s *server) daemons(ctx context.Context) ([]*bus.DaemonView, error) {
	rctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.cl.Daemons(rctx)
}

func (s *server) listDaemons(ctx context.Context, _ *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, DaemonsOutput, error) {
	ds, err := s.daemons(ctx)
	if err != nil {
		return nil, DaemonsOutput{}, err
	}
	out := DaemonsOutput{Daemons: []Daemon{}}
	for _, d := range ds {
		v := Daemon{
			ID: d.ID, Online: d.Online, Status: d.Status, Edge: d.Edge, Hostname: d.Hostname, Version: d.Version,
			Skills: []string{}, Agents: []string{}, Running: len(d.Running), Capacity: d.Capacity, MCPServers: d.MCPServers, LastSeen: d.LastSeen,
		}
		if v.MCPServers == nil {
			v.MCPServers = []bus.MCPServerInfo{}
		}
		if d.Model != "" {
			v.Model = d.Provider + "/" + d.Model
		}
		for _, sk := range d.Skills {
			v.Skills = append(v.Skills, sk.Name)
		}
		for _, a := range d.Agents {
			v.Agents = append(v.Agents, a.Name)
		}
		out.Daemons = append(out.Daemons, v)
	}
	return nil, out, nil
}

// Skill is a skill a daemon offers.
type Skill struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Daemon      string   `json:"daemon"`
	Source      string   `json:"source"`
	Missing     []string `json:"missing,omitempty"`
}

// SkillsOutput lists skills.
type SkillsOutput struct {
	Skills []Skill `json:"skills"`
}

func (s *server) listSkills(ctx context.Context, _ *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, SkillsOutput, error) {
	ds, err := s.daemons(ctx)
	if err != nil {
		return nil, SkillsOutput{}, err
	}
	out := SkillsOutput{Skills: []Skill{}}
	for _, d := range ds {
		for _, sk := range d.Skills {
			out.Skills = append(out.Skills, Skill{Name: sk.Name, Description: sk.Description, Daemon: d.ID, Source: sk.Source, Missing: sk.Missing})
		}
	}
	sort.SliceStable(out.Skills, func(i, j int) bool { return out.Skills[i].Name < out.Skills[j].Name })
	return nil, out, nil
}

// taskURI reads the task id of viber://tasks/<id>[/events].
func taskURI(uri, suffix string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, "viber://tasks/")
	if !ok {
		return "", false
	}
	if suffix != "" {
		if rest, ok = strings.CutSuffix(rest, suffix); !ok {
			return "", false
		}
	}
	if !bus.ValidToken(rest) {
		return "", false
	}
	return rest, true
}

func (s *server) readTask(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
	id, ok := taskURI(req.Params.URI, "")
	if !ok {
		return nil, sdk.ResourceNotFoundError(req.Params.URI)
	}
	rctx, cancel := s.ctx(ctx)
	defer cancel()
	sum, err := s.cl.Task(rctx, id)
	if errors.Is(err, bus.ErrTaskNotFound) {
		return nil, sdk.ResourceNotFoundError(req.Params.URI)
	}
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return nil, err
	}
	return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: req.Params.URI, MIMEType: "application/json", Text: string(b)}}}, nil
}

func (s *server) readEvents(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
	id, ok := taskURI(req.Params.URI, "/events")
	if !ok {
		return nil, sdk.ResourceNotFoundError(req.Params.URI)
	}
	rctx, cancel := s.ctx(ctx)
	defer cancel()
	var b strings.Builder
	for ev, err := range s.cl.Log().Replay(rctx, id, bus.ReplayOptions{}) {
		if errors.Is(err, bus.ErrTaskNotFound) {
			return nil, sdk.ResourceNotFoundError(req.Params.URI)
		}
		if err != nil {
			return nil, err
		}
		line, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: req.Params.URI, MIMEType: "application/jsonl", Text: b.String()}}}, nil
}
