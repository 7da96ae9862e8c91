package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tmc/langchaingo/llms"

	"github.com/viberhq/viber/agents/tool"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/skills"
)

// DefaultMaxSteps bounds the model calls of one turn.
const DefaultMaxSteps = 25

// ErrMaxSteps means a turn used all its model calls without a final answer.
var ErrMaxSteps = errors.New("step limit reached")

// ErrTaskLog marks a failure to read or write the task's log (NATS away,
// for example): the turn did not fail, it could not go on, and whoever runs
// it should retry rather than fail the task.
var ErrTaskLog = errors.New("task log unavailable")

// logRuntime tags the Runtime's log errors with ErrTaskLog.
type logRuntime struct{ Runtime }

func (r logRuntime) Events(ctx context.Context) ([]*bus.Event, error) {
	ev, err := r.Runtime.Events(ctx)
	return ev, tagLog(ctx, err)
}

func (r logRuntime) Append(ctx context.Context, p bus.Payload) (*bus.Event, error) {
	ev, err := r.Runtime.Append(ctx, p)
	return ev, tagLog(ctx, err)
}

func (r logRuntime) AppendAfter(ctx context.Context, p bus.Payload, prev *bus.Event) (*bus.Event, error) {
	ev, err := r.Runtime.AppendAfter(ctx, p, prev)
	if errors.Is(err, bus.ErrConflict) {
		return ev, err
	}
	return ev, tagLog(ctx, err)
}

func (r logRuntime) WaitDecision(ctx context.Context, callID string) (*bus.ApprovalDecided, error) {
	d, err := r.Runtime.WaitDecision(ctx, callID)
	return d, tagLog(ctx, err)
}

func tagLog(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	return fmt.Errorf("%w: %w", ErrTaskLog, err)
}

// Runtime is what an agent needs from whoever runs it (the daemon): the
// task's log, a way to append to it, live output, approvals and steering.
type Runtime interface {
	// Events returns the task's events so far, in order.
	Events(ctx context.Context) ([]*bus.Event, error)
	// Append stores an event of the task and returns it once acknowledged.
	Append(ctx context.Context, p bus.Payload) (*bus.Event, error)
	// AppendAfter stores an event only if prev is still the task's last
	// event, else returns an error matching bus.ErrConflict.
	AppendAfter(ctx context.Context, p bus.Payload, prev *bus.Event) (*bus.Event, error)
	// Delta publishes a piece of the model's text while it streams.
	Delta(text string)
	// WaitDecision blocks until approval_decided for callID is in the log.
	WaitDecision(ctx context.Context, callID string) (*bus.ApprovalDecided, error)
	// ModelContext wraps one model call; steered reports, after the call,
	// whether a steering follow-up interrupted it.
	ModelContext(ctx context.Context) (mctx context.Context, steered func() bool)
}

// Agent runs turns of a task: model calls, tool calls and their results,
// until the model answers without calling a tool.
type Agent struct {
	// Model answers.
	Model llms.Model
	// Kind is the provider kind ("openai", "anthropic", ...): conversations
	// are shaped around each provider's quirks.
	Kind string
	// Tools are the built-in tools (files, shell, web).
	Tools []tool.Tool
	// Skills is the catalog the system prompt lists and activate_skill
	// loads from (may be nil).
	Skills *skills.Catalog
	// Policy decides which calls run, wait for approval or are refused.
	Policy Policy
	// MaxSteps bounds model calls per turn (default 25).
	MaxSteps int
	// System is the system prompt; the skills catalog is appended to it.
	System string
	// Memory, when set, is what the agent remembers: read into the system
	// prompt at the start of each turn, changed through its tools.
	Memory Memory

	memoryText string // the memory section of the current turn
}

// Memory is an agent's memory across tasks (see the memory package).
type Memory interface {
	// Prompt returns the memory section of the system prompt, read now.
	Prompt(ctx context.Context) string
	// Tools returns the memory tools of one run; record stores an event
	// of the task (memory_updated) while the tool call is open.
	Tools(record func(context.Context, bus.Payload) error) []tool.Tool
}

// Result is a turn's outcome.
type Result struct {
	// Text is the final answer.
	Text string
	// Message is the stored assistant message carrying Text.
	Message *bus.Event
	// Usage adds up the tokens of every model call, when reported.
	Usage *bus.Usage
}

// Run runs one turn: it first settles tool calls a previous daemon left
// without a result, then alternates model calls and tool calls. It returns
// ErrMaxSteps, a model error, or the context's error when cancelled.
func (a *Agent) Run(ctx context.Context, rt Runtime) (*Result, error) {
	rt = logRuntime{rt}
	if a.Memory != nil {
		a.memoryText = a.Memory.Prompt(ctx)
	}
	reg, err := a.registry(rt)
	if err != nil {
		return nil, err
	}
	maxSteps := a.MaxSteps
	if maxSteps <= 0 {
		maxSteps = DefaultMaxSteps
	}
	stored, err := a.settle(ctx, rt, reg)
	if err != nil {
		return nil, err
	}
	if stored != nil {
		// The answer was stored before the turn could be completed (its
		// daemon stopped): complete with it rather than ask again.
		m, err := bus.DecodeAs[bus.Message](stored)
		if err != nil {
			return nil, err
		}
		return &Result{Text: m.Text, Message: stored, Usage: m.Usage}, nil
	}
	usage := &bus.Usage{}
	for step := 0; step < maxSteps; {
		events, err := rt.Events(ctx)
		if err != nil {
			return nil, err
		}
		conv, err := a.conversation(events)
		if err != nil {
			return nil, err
		}
		offered := a.offered(reg, events) // a skill's allowed-tools narrow it
		mctx, steered := rt.ModelContext(ctx)
		resp, err := a.Model.GenerateContent(mctx, conv,
			llms.WithTools(offered.LLMTools()),
			llms.WithStreamingFunc(func(_ context.Context, chunk []byte) error {
				if len(chunk) > 0 && !isToolCallChunk(chunk) {
					rt.Delta(string(chunk))
				}
				return nil
			}))
		if steered() {
			continue // the follow-up is in the log; ask again
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("model call: %w", err)
		}
		step++
		// Anthropic's answers come back as one choice per content block
		// (text, then each tool call): take them all.
		choice := MergeChoices(resp)
		if choice == nil {
			return nil, errors.New("model call: the model returned no answer")
		}
		addUsage(usage, choice.GenerationInfo)
		text := strings.TrimSpace(choice.Content)
		if len(choice.ToolCalls) == 0 {
			// Store the answer only if nothing came after what the model
			// saw: a follow-up that arrived during the call gets a fresh
			// answer instead.
			if usage.InputTokens == 0 && usage.OutputTokens == 0 {
				usage = nil
			}
			msg, again, err := a.answer(ctx, rt, events, choice.Content, usage)
			if err != nil {
				return nil, err
			}
			if again {
				if usage == nil {
					usage = &bus.Usage{}
				}
				continue
			}
			return &Result{Text: choice.Content, Message: msg, Usage: usage}, nil
		}
		if text != "" {
			if _, err := rt.Append(ctx, &bus.Message{Role: "assistant", Text: choice.Content}); err != nil {
				return nil, err
			}
		}
		for _, tc := range choice.ToolCalls {
			if err := a.call(ctx, rt, offered, tc); err != nil {
				return nil, err
			}
		}
	}
	return nil, fmt.Errorf("%w: the model made %d calls in this turn without a final answer (raise max_steps in the config, or narrow the goal)", ErrMaxSteps, maxSteps)
}

// answer appends the final message (with the turn's usage so far) right
// after saw, the events the model saw. It reports again=true when a follow-up arrived meanwhile.
func (a *Agent) answer(ctx context.Context, rt Runtime, saw []*bus.Event, text string, usage *bus.Usage) (*bus.Event, bool, error) {
	prev := saw[len(saw)-1]
	// Told apart by id, not seq: an edge's events kept while its link is
	// cut carry seqs the hub has not given them yet.
	seen := make(map[string]bool, len(saw))
	for _, ev := range saw {
		seen[ev.ID] = true
	}
	for range 16 {
		msg, err := rt.AppendAfter(ctx, &bus.Message{Role: "assistant", Text: text, Final: true, Usage: usage}, prev)
		if err == nil {
			return msg, false, nil
		}
		if !errors.Is(err, bus.ErrConflict) {
			return nil, false, err
		}
		events, err := rt.Events(ctx)
		if err != nil {
			return nil, false, err
		}
		for _, ev := range events {
			if ev.Type == bus.TypeInput && !seen[ev.ID] {
				return nil, true, nil
			}
		}
		prev = events[len(events)-1]
	}
	return nil, false, fmt.Errorf("%w: the log kept changing", ErrTaskLog)
}

// call records a tool call, applies the policy and records the result.
func (a *Agent) call(ctx context.Context, rt Runtime, reg *tool.Registry, tc llms.ToolCall) error {
	name, args := "", ""
	if tc.FunctionCall != nil {
		name, args = tc.FunctionCall.Name, tc.FunctionCall.Arguments
	}
	id := tc.ID
	if id == "" {
		id = "call_" + bus.NewID()
	}
	if _, err := rt.Append(ctx, &bus.ToolCall{CallID: id, Tool: name, Arguments: args}); err != nil {
		return err
	}
	if args != "" && !json.Valid([]byte(args)) {
		return a.result(ctx, rt, id, name, tool.Errorf("the arguments are not valid JSON: %s", clip(args, 200)))
	}
	decision, reason := a.Policy.Decide(name, json.RawMessage(args))
	switch decision {
	case Deny:
		return a.result(ctx, rt, id, name, tool.Errorf("refused: %s. Do not retry this call; find another way or tell the user.", reason))
	case Ask:
		if _, err := rt.Append(ctx, &bus.ApprovalRequested{CallID: id, Tool: name, Arguments: args, Reason: reason}); err != nil {
			return err
		}
		return a.afterApproval(ctx, rt, reg, id, name, args)
	}
	return a.result(ctx, rt, id, name, reg.Call(tool.WithCallID(ctx, id), name, json.RawMessage(args)))
}

// afterApproval waits for a decision and runs or refuses the call.
func (a *Agent) afterApproval(ctx context.Context, rt Runtime, reg *tool.Registry, id, name, args string) error {
	d, err := rt.WaitDecision(ctx, id)
	if err != nil {
		return err
	}
	if !d.Approved {
		msg := "a person denied this call"
		if d.By != "" {
			msg = d.By + " denied this call"
		}
		if d.Reason != "" {
			msg += ": " + d.Reason
		}
		return a.result(ctx, rt, id, name, tool.Errorf("%s. Do not retry it; adjust the plan or ask the user.", msg))
	}
	return a.result(ctx, rt, id, name, reg.Call(tool.WithCallID(ctx, id), name, json.RawMessage(args)))
}

func (a *Agent) result(ctx context.Context, rt Runtime, id, name string, r tool.Result) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	_, err := rt.Append(ctx, &bus.ToolResult{CallID: id, Tool: name, Output: r.Output, IsError: r.IsError, Truncated: r.Truncated})
	return err
}

// settle finishes what a previous run left open, as the task's fold sees
// it: calls waiting for approval keep waiting (and run only if approved);
// calls that may have been running when their daemon died are reported as
// interrupted and not run again; calls whose approval expired with an
// ended turn are reported as not run. It returns the turn's stored answer
// when there is one: the turn then completes with it, without asking the
// model again.
func (a *Agent) settle(ctx context.Context, rt Runtime, reg *tool.Registry) (*bus.Event, error) {
	events, err := rt.Events(ctx)
	if err != nil {
		return nil, err
	}
	sum, _ := bus.Fold(events) // events that do not fit were never read
	for _, c := range sum.OpenCalls {
		var err error
		switch c.Approval {
		case bus.ApprovalWaiting:
			err = a.afterApproval(ctx, rt, reg, c.CallID, c.Tool, c.Arguments)
		case bus.ApprovalExpired:
			err = a.result(ctx, rt, c.CallID, c.Tool, tool.Errorf(
				"not run: the turn ended before anyone decided on this call. Ask again if it is still needed."))
		case "", bus.ApprovalApproved:
			if resumable(reg, c.Tool) {
				// Running it again does its work once (spawn finds its
				// child): finish it rather than report it interrupted.
				err = a.result(ctx, rt, c.CallID, c.Tool, reg.Call(tool.WithCallID(ctx, c.CallID), c.Tool, json.RawMessage(orEmptyObject(c.Arguments))))
				break
			}
			fallthrough
		default:
			err = a.result(ctx, rt, c.CallID, c.Tool, tool.Errorf(
				"interrupted: the daemon running this call stopped before it reported a result, so it may or may not have taken effect; it was not run again. Check its effect before retrying."))
		}
		if err != nil {
			return nil, err
		}
	}
	if sum.AnswerSeq == 0 || len(sum.OpenCalls) > 0 {
		return nil, nil
	}
	for _, ev := range events {
		if ev.Seq == sum.AnswerSeq {
			return ev, nil
		}
	}
	return nil, nil
}

// registry is the built-in tools plus the ones bound to this run.
func (a *Agent) registry(rt Runtime) (*tool.Registry, error) {
	reg, err := tool.NewRegistry(a.Tools...)
	if err != nil {
		return nil, err
	}
	if err := reg.Add(&planTool{rt: rt}); err != nil {
		return nil, err
	}
	if a.Skills != nil && a.Skills.Len() > 0 {
		if err := reg.Add(&skillTool{catalog: a.Skills}); err != nil {
			return nil, err
		}
	}
	if a.Memory != nil {
		record := func(ctx context.Context, p bus.Payload) error {
			_, err := rt.Append(ctx, p)
			return err
		}
		if err := reg.Add(a.Memory.Tools(record)...); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// SystemPrompt is the system prompt with the skills catalog.
func (a *Agent) SystemPrompt() string {
	s := a.System
	if a.Skills != nil {
		if p := a.Skills.Prompt(); p != "" {
			s += "\n\n" + p
		}
	}
	if a.memoryText != "" {
		s += "\n\n" + a.memoryText
	}
	return s
}

// conversation rebuilds the model's messages from the log. Each tool call
// is its own assistant message followed by its tool message: langchaingo's
// Anthropic client sends only the first part of a message, and OpenAI's
// tool role takes exactly one part.
func (a *Agent) conversation(events []*bus.Event) ([]llms.MessageContent, error) {
	msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeSystem, a.SystemPrompt())}
	for i, ev := range events {
		p, err := ev.Decode()
		if err != nil {
			return nil, err
		}
		switch d := p.(type) {
		case *bus.Created:
			msgs = append(msgs, llms.TextParts(llms.ChatMessageTypeHuman, d.Goal))
		case *bus.Input:
			msgs = append(msgs, llms.TextParts(llms.ChatMessageTypeHuman, d.Text))
		case *bus.Message:
			if d.Role == "user" {
				msgs = append(msgs, llms.TextParts(llms.ChatMessageTypeHuman, d.Text))
				continue
			}
			if a.Kind == "anthropic" && i+1 < len(events) && events[i+1].Type == bus.TypeToolCall {
				// Anthropic wants alternating roles and langchaingo sends
				// one part per message: the words before a tool call stay
				// in the log but not in the conversation.
				continue
			}
			if strings.TrimSpace(d.Text) == "" {
				continue
			}
			msgs = append(msgs, llms.TextParts(llms.ChatMessageTypeAI, d.Text))
		case *bus.ToolCall:
			msgs = append(msgs, llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{llms.ToolCall{
				ID: d.CallID, Type: "function", FunctionCall: &llms.FunctionCall{Name: d.Tool, Arguments: orEmptyObject(d.Arguments)},
			}}})
		case *bus.ToolResult:
			out := d.Output
			if d.IsError {
				out = "ERROR: " + out
			}
			msgs = append(msgs, llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{llms.ToolCallResponse{
				ToolCallID: d.CallID, Name: d.Tool, Content: out,
			}}})
		}
	}
	return msgs, nil
}

func orEmptyObject(s string) string {
	if strings.TrimSpace(s) == "" || !json.Valid([]byte(s)) {
		return "{}"
	}
	return s
}

// isToolCallChunk recognises the JSON that langchaingo's OpenAI client
// passes to the streaming callback for tool-call deltas, so it is never
// shown as the model's words.
func isToolCallChunk(chunk []byte) bool {
	if len(chunk) < 2 || (chunk[0] != '[' && chunk[0] != '{') || !json.Valid(chunk) {
		return false
	}
	var calls []map[string]json.RawMessage
	if json.Unmarshal(chunk, &calls) == nil {
		for _, c := range calls {
			if _, ok := c["function"]; ok {
				return true
			}
		}
		return false
	}
	var fc map[string]json.RawMessage
	if json.Unmarshal(chunk, &fc) == nil {
		_, args := fc["arguments"]
		_, name := fc["name"]
		return args && name
	}
	return false
}

func addUsage(u *bus.Usage, info map[string]any) {
	if in, ok := intInfo(info, "PromptTokens"); ok {
		u.InputTokens += in
	} else if in, ok := intInfo(info, "InputTokens"); ok {
		u.InputTokens += in
	}
	if out, ok := intInfo(info, "CompletionTokens"); ok {
		u.OutputTokens += out
	} else if out, ok := intInfo(info, "OutputTokens"); ok {
		u.OutputTokens += out
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// planTool records the agent's checklist as a plan event.
type planTool struct{ rt Runtime }

func (*planTool) Name() string { return "update_plan" }

func (*planTool) Description() string {
	return "Keep a short checklist of the steps for this task. Call it with the whole list each time a step starts or finishes; people watching the task see it."
}

func (*planTool) Parameters() map[string]any {
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"items": map[string]any{
				"type": "array",
				"items": map[string]any{
					"type": "object",
					"properties": map[string]any{
						"text":   map[string]any{"type": "string", "description": "the step"},
						"status": map[string]any{"type": "string", "enum": []string{"pending", "in_progress", "done"}},
					},
					"required": []string{"text", "status"},
				},
			},
		},
		"required": []string{"items"},
	}
}

func (p *planTool) Call(ctx context.Context, args json.RawMessage) tool.Result {
	var a bus.Plan
	if err := json.Unmarshal(args, &a); err != nil {
		return tool.Errorf("arguments: %v; want {\"items\": [{\"text\": \"...\", \"status\": \"pending|in_progress|done\"}]}", err)
	}
	if a.Items == nil {
		a.Items = []bus.PlanItem{}
	}
	for i, it := range a.Items {
		switch it.Status {
		case "pending", "in_progress", "done":
		default:
			return tool.Errorf("item %d: status %q must be pending, in_progress or done", i+1, it.Status)
		}
		if strings.TrimSpace(it.Text) == "" {
			return tool.Errorf("item %d has no text", i+1)
		}
	}
	if _, err := p.rt.Append(ctx, &a); err != nil {
		return tool.Errorf("could not record the plan: %v", err)
	}
	done := 0
	for _, it := range a.Items {
		if it.Status == "done" {
			done++
		}
	}
	return tool.Result{Output: fmt.Sprintf("plan recorded: %d of %d steps done", done, len(a.Items))}
}

// skillTool loads a skill's instructions into the conversation.
type skillTool struct{ catalog *skills.Catalog }

func (*skillTool) Name() string { return "activate_skill" }

func (s *skillTool) Description() string {
	return "Load the full instructions of one of the available skills (listed in the system prompt) before doing a task it covers."
}

func (s *skillTool) Parameters() map[string]any {
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"name": map[string]any{"type": "string", "enum": s.catalog.Names(), "description": "the skill's name"},
		},
		"required": []string{"name"},
	}
}

func (s *skillTool) Call(_ context.Context, args json.RawMessage) tool.Result {
	var a struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(args, &a); err != nil || a.Name == "" {
		return tool.Errorf("want {\"name\": \"<skill>\"}; available: %s", strings.Join(s.catalog.Names(), ", "))
	}
	body, err := s.catalog.Activate(a.Name)
	if err != nil {
		return tool.Errorf("%v; available: %s", err, strings.Join(s.catalog.Names(), ", "))
	}
	return tool.Result{Output: body}
}

// resumable reports whether the registry's tool of that name may run an
// unfinished call again (see tool.Resumable).
func resumable(reg *tool.Registry, name string) bool {
	t, ok := reg.Get(name)
	if !ok {
		return false
	}
	r, ok := t.(tool.Resumable)
	return ok && r.Resumable()
}
