// Package taskcheck checks a task's stored log against the invariants Viber
// promises whatever fails: nothing lost or doubled, exactly one terminal
// event per turn and nothing after it but a new turn's input, a completed
// turn's result is the final message it stored, only the daemon holding a
// task writes its run, and no tool call's side effect happens twice. The
// fault campaign (e2e/fault_test.go) runs it over every task after a
// seeded run of kills, freezes and cuts; any test can run it over a log.
//
// The checker only reads what it is given: the events of one task in
// stored order (as an ordered consumer of the task stream delivers them)
// and, when the test counts them, how many times each tool call's side
// effect happened.
package taskcheck

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/viberhq/viber/bus"
)

// Kind names the invariant a violation breaks.
type Kind string

// The kinds of violation. Each is reported once per offending event (or
// per call, for side effects).
const (
	// Unreadable is a stored message that does not decode as an event.
	Unreadable Kind = "unreadable_event"
	// BadStart is a log whose first event is not created, or an event
	// stored under another task.
	BadStart Kind = "bad_start"
	// SeqGap is a jump in seq: events were lost.
	SeqGap Kind = "seq_gap"
	// SeqOrder is a seq repeated or going back.
	SeqOrder Kind = "seq_out_of_order"
	// DuplicateID is an event id stored twice.
	DuplicateID Kind = "duplicate_event_id"
	// DuplicateCall is a tool call id stored in two tool_call events.
	DuplicateCall Kind = "duplicate_tool_call"
	// DuplicateResult is a tool_result for a call that already has one.
	DuplicateResult Kind = "duplicate_tool_result"
	// ResultWithoutCall is a tool_result for a call no earlier tool_call
	// stores.
	ResultWithoutCall Kind = "result_without_call"
	// ToolRanTwice is a tool call whose side effect happened more than once.
	ToolRanTwice Kind = "tool_ran_twice"
	// ToolRanUnstored is a side effect of a call the log never stored.
	ToolRanUnstored Kind = "tool_ran_without_stored_call"
	// UnsettledCall is a tool_call with no tool_result when its turn
	// completed: the model answered without the call's outcome. (A
	// cancelled or failed turn may leave a call open.)
	UnsettledCall Kind = "unsettled_call"
	// DoubleTerminal is a second terminal event in one turn.
	DoubleTerminal Kind = "double_terminal"
	// AfterTerminal is an event after a turn's terminal event that is not
	// the input opening a new turn.
	AfterTerminal Kind = "event_after_terminal"
	// WrongResult is a completed result that is not the turn's stored
	// final assistant message (or a turn completed without one).
	WrongResult Kind = "wrong_result"
	// UnclaimedWrite is a daemon writing a task's run (started, message,
	// plan, tool_call, tool_result, approval_requested, completed) while
	// the task's latest claim (assigned) in the turn names another daemon
	// or none.
	UnclaimedWrite Kind = "write_without_claim"
	// NeverEnded is a task whose last turn has no terminal event.
	NeverEnded Kind = "never_ended"
	// ListDisagrees is a task summary (viber task ls) that does not say
	// what the log says.
	ListDisagrees Kind = "list_disagrees"
)

// Kinds lists every kind in a stable order, for reports.
func Kinds() []Kind {
	return []Kind{Unreadable, BadStart, SeqGap, SeqOrder, DuplicateID, DuplicateCall, DuplicateResult, ResultWithoutCall, ToolRanTwice, ToolRanUnstored,
		UnsettledCall, DoubleTerminal, AfterTerminal, WrongResult, UnclaimedWrite, NeverEnded, ListDisagrees}
}

// Violation is one broken invariant in one task.
type Violation struct {
	// Task is the task id.
	Task string
	// Kind is the invariant broken.
	Kind Kind
	// Seq is the seq of the offending event, 0 when the violation is not
	// about one event.
	Seq uint64
	// Detail says what was seen, readably.
	Detail string
}

// String renders the violation on one line: task, seq, kind, detail.
func (v Violation) String() string {
	if v.Seq == 0 {
		return fmt.Sprintf("task %s: %s: %s", v.Task, v.Kind, v.Detail)
	}
	return fmt.Sprintf("task %s seq %d: %s: %s", v.Task, v.Seq, v.Kind, v.Detail)
}

// runTypes are the events only the daemon holding a task may write.
var runTypes = map[bus.Type]bool{
	bus.TypeStarted: true, bus.TypeMessage: true, bus.TypePlan: true, bus.TypeToolCall: true,
	bus.TypeToolResult: true, bus.TypeApprovalRequested: true, bus.TypeCompleted: true,
}

// daemonOf returns the daemon id of a "viberd/<id>" source, or "".
func daemonOf(source string) string {
	id, ok := strings.CutPrefix(source, "viberd/")
	if !ok {
		return ""
	}
	return id
}

// Check checks one task's events, in stored order, and the side effects
// counted per tool call id (nil when the test counts none; a call id
// absent from effects is taken as not counted, not as never run). An
// assistant message is taken as final when no tool_call follows it before
// the next message or the turn's end.
func Check(taskID string, events []*bus.Event, effects map[string]int) []Violation {
	var out []Violation
	add := func(k Kind, seq uint64, format string, args ...any) {
		out = append(out, Violation{Task: taskID, Kind: k, Seq: seq, Detail: fmt.Sprintf(format, args...)})
	}
	if len(events) == 0 {
		add(BadStart, 0, "no events")
		return out
	}
	if events[0].Type != bus.TypeCreated {
		add(BadStart, events[0].Seq, "first event is %s, not created", events[0].Type.Short())
	}
	var (
		prevSeq  uint64
		ids      = map[string]uint64{}
		calls    = map[string]uint64{} // call id -> seq of its first tool_call
		open     = map[string]uint64{} // calls of the turn without a result yet
		results  = map[string]uint64{} // call id -> seq of its first tool_result
		turn     = 1
		ended    *bus.Event // the current turn's terminal event
		holder   string     // daemon of the latest assigned in the turn
		holdSeq  uint64
		asked    uint64     // seq of the latest user turn opener or input
		lastMsg  *bus.Event // latest assistant message not yet followed by a tool_call
		final    *bus.Event // first final assistant message after asked
		finalMsg string
	)
	for i, ev := range events {
		if ev.Subject != taskID {
			add(BadStart, ev.Seq, "%s stored under task %s names task %q", ev.Type.Short(), taskID, ev.Subject)
		}
		switch {
		case i == 0 && ev.Seq != 1:
			add(SeqGap, ev.Seq, "the log starts at seq %d (%d lost)", ev.Seq, ev.Seq-1)
		case i > 0 && ev.Seq > prevSeq+1:
			add(SeqGap, ev.Seq, "seq jumps from %d to %d (%d lost)", prevSeq, ev.Seq, ev.Seq-prevSeq-1)
		case i > 0 && ev.Seq <= prevSeq:
			add(SeqOrder, ev.Seq, "%s with seq %d stored after seq %d", ev.Type.Short(), ev.Seq, prevSeq)
		}
		if ev.Seq > prevSeq {
			prevSeq = ev.Seq
		}
		if first, ok := ids[ev.ID]; ok {
			// The same event stored again: report it once, not its
			// consequences.
			add(DuplicateID, ev.Seq, "event id %s already stored at seq %d", ev.ID, first)
			continue
		}
		ids[ev.ID] = ev.Seq
		if ev.Type == bus.TypeToolCall {
			if c, err := bus.DecodeAs[bus.ToolCall](ev); err == nil {
				if first, ok := calls[c.CallID]; ok {
					add(DuplicateCall, ev.Seq, "tool call %s already stored at seq %d", c.CallID, first)
				} else {
					calls[c.CallID] = ev.Seq
				}
			}
		}
		if ev.Type == bus.TypeToolResult {
			if r, err := bus.DecodeAs[bus.ToolResult](ev); err == nil {
				_, called := calls[r.CallID]
				first, settled := results[r.CallID]
				switch {
				case !called:
					add(ResultWithoutCall, ev.Seq, "tool_result %s by %s, but no tool_call stores that call before it", r.CallID, ev.Source)
				case settled:
					add(DuplicateResult, ev.Seq, "tool_result %s by %s, but the call was settled at seq %d", r.CallID, ev.Source, first)
				default:
					results[r.CallID] = ev.Seq
				}
			}
		}
		if ended != nil {
			switch {
			case ev.Type == bus.TypeInput:
				// A follow-up opens a new turn.
				turn++
				ended, holder, holdSeq, asked, lastMsg, final = nil, "", 0, ev.Seq, nil, nil
				open = map[string]uint64{}
			case ev.Type.Terminal():
				add(DoubleTerminal, ev.Seq, "%s by %s in turn %d, which already ended with %s at seq %d", ev.Type.Short(), ev.Source, turn, ended.Type.Short(), ended.Seq)
			default:
				add(AfterTerminal, ev.Seq, "%s by %s after turn %d ended with %s at seq %d", describe(ev), ev.Source, turn, ended.Type.Short(), ended.Seq)
			}
			continue
		}
		if d := daemonOf(ev.Source); d != "" && runTypes[ev.Type] && d != holder {
			if holder == "" {
				add(UnclaimedWrite, ev.Seq, "%s by daemon %s, which has no claim in turn %d", describe(ev), d, turn)
			} else {
				add(UnclaimedWrite, ev.Seq, "%s by daemon %s while daemon %s holds the task (assigned at seq %d)", describe(ev), d, holder, holdSeq)
			}
		}
		switch ev.Type {
		case bus.TypeCreated:
			asked = ev.Seq
		case bus.TypeAssigned:
			if a, err := bus.DecodeAs[bus.Assigned](ev); err == nil {
				holder, holdSeq = a.Daemon, ev.Seq
			}
		case bus.TypeInput:
			// A follow-up inside the turn: the answer must come after it.
			asked, lastMsg, final = ev.Seq, nil, nil
		case bus.TypeMessage:
			m, err := bus.DecodeAs[bus.Message](ev)
			if err != nil || m.Role != "assistant" {
				break
			}
			if lastMsg != nil && final == nil {
				final, finalMsg = lastMsg, messageText(lastMsg)
			}
			lastMsg = ev
		case bus.TypeToolCall:
			lastMsg = nil
			if c, err := bus.DecodeAs[bus.ToolCall](ev); err == nil {
				if _, settled := results[c.CallID]; !settled {
					open[c.CallID] = ev.Seq
				}
			}
		case bus.TypeToolResult:
			if r, err := bus.DecodeAs[bus.ToolResult](ev); err == nil {
				delete(open, r.CallID)
			}
		case bus.TypeCompleted, bus.TypeFailed, bus.TypeCancelled:
			ended = ev
			if ev.Type != bus.TypeCompleted {
				break
			}
			for _, id := range slices.Sorted(maps.Keys(open)) {
				add(UnsettledCall, open[id], "tool call %s has no result when turn %d completes at seq %d", id, turn, ev.Seq)
			}
			if lastMsg != nil && final == nil {
				final, finalMsg = lastMsg, messageText(lastMsg)
			}
			c, err := bus.DecodeAs[bus.Completed](ev)
			if err != nil {
				add(WrongResult, ev.Seq, "completed does not decode: %v", err)
				break
			}
			switch {
			case final == nil:
				add(WrongResult, ev.Seq, "turn %d completed with %q but stored no final assistant message after seq %d", turn, clip(c.Result), asked)
			case c.Result != finalMsg:
				add(WrongResult, ev.Seq, "turn %d completed with %q but its final message at seq %d says %q", turn, clip(c.Result), final.Seq, clip(finalMsg))
			}
		}
	}
	if ended == nil {
		last := events[len(events)-1]
		add(NeverEnded, 0, "turn %d has no terminal event; the log ends with %s at seq %d", turn, last.Type.Short(), last.Seq)
	}
	for _, id := range slices.Sorted(maps.Keys(effects)) {
		n := effects[id]
		seq, stored := calls[id]
		switch {
		case n > 0 && !stored:
			add(ToolRanUnstored, 0, "call %s took effect %d time(s) but no tool_call stores it", id, n)
		case n > 1:
			add(ToolRanTwice, seq, "call %s took effect %d times", id, n)
		}
	}
	return out
}

// Expected is what a task's summary must say once its log has settled.
type Expected struct {
	// Ended is true when the last turn has a terminal event.
	Ended bool
	// State is the state of the last terminal event (when Ended).
	State bus.State
	// Result is the completed result (when State is completed).
	Result string
	// LastSeq is the seq of the last stored event.
	LastSeq uint64
}

// Expect derives what a summary must say from a task's events: the last
// terminal event decides, a later input reopens the task.
func Expect(events []*bus.Event) Expected {
	var e Expected
	for _, ev := range events {
		e.LastSeq = max(e.LastSeq, ev.Seq)
		switch ev.Type {
		case bus.TypeInput:
			if e.Ended {
				e = Expected{LastSeq: e.LastSeq}
			}
		case bus.TypeCompleted:
			e.Ended, e.State, e.Result = true, bus.StateCompleted, ""
			if c, err := bus.DecodeAs[bus.Completed](ev); err == nil {
				e.Result = c.Result
			}
		case bus.TypeFailed:
			e.Ended, e.State, e.Result = true, bus.StateFailed, ""
		case bus.TypeCancelled:
			e.Ended, e.State, e.Result = true, bus.StateCancelled, ""
		}
	}
	return e
}

// CheckSummary compares a task's summary (as `viber task ls` lists it;
// nil when the list lacks the task) with what its events say.
func CheckSummary(taskID string, events []*bus.Event, s *bus.Summary) []Violation {
	if len(events) == 0 {
		return nil
	}
	want := Expect(events)
	var problems []string
	switch {
	case s == nil:
		problems = append(problems, "missing from the list")
	case want.Ended && s.State != want.State:
		problems = append(problems, fmt.Sprintf("state %s, the log says %s", s.State, want.State))
	case !want.Ended && s.State.Terminal():
		problems = append(problems, fmt.Sprintf("state %s, but the log's last turn has not ended", s.State))
	}
	if s != nil {
		if want.State == bus.StateCompleted && s.State == bus.StateCompleted && s.Result != want.Result {
			problems = append(problems, fmt.Sprintf("result %q, the log says %q", clip(s.Result), clip(want.Result)))
		}
		if s.LastSeq != want.LastSeq {
			problems = append(problems, fmt.Sprintf("last seq %d, the log's is %d", s.LastSeq, want.LastSeq))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return []Violation{{Task: taskID, Kind: ListDisagrees, Detail: strings.Join(problems, "; ")}}
}

// Count tallies violations per kind.
func Count(vs []Violation) map[Kind]int {
	out := map[Kind]int{}
	for _, v := range vs {
		out[v.Kind]++
	}
	return out
}

// Tasks counts the distinct tasks with a violation of each kind.
func Tasks(vs []Violation) map[Kind]int {
	seen := map[Kind]map[string]bool{}
	for _, v := range vs {
		if seen[v.Kind] == nil {
			seen[v.Kind] = map[string]bool{}
		}
		seen[v.Kind][v.Task] = true
	}
	out := map[Kind]int{}
	for k, m := range seen {
		out[k] = len(m)
	}
	return out
}

// Report renders violations for a failure message: a count per kind, then
// up to limit lines (every line when limit <= 0), sorted by kind, task and
// seq.
func Report(vs []Violation, limit int) string {
	if len(vs) == 0 {
		return "no violations"
	}
	sorted := slices.Clone(vs)
	order := map[Kind]int{}
	for i, k := range Kinds() {
		order[k] = i
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.Kind != b.Kind {
			return order[a.Kind] < order[b.Kind]
		}
		if a.Task != b.Task {
			return a.Task < b.Task
		}
		return a.Seq < b.Seq
	})
	var b strings.Builder
	counts, tasks := Count(vs), Tasks(vs)
	fmt.Fprintf(&b, "%d violation(s):", len(vs))
	for _, k := range Kinds() {
		if counts[k] > 0 {
			fmt.Fprintf(&b, " %s=%d (%d task(s))", k, counts[k], tasks[k])
		}
	}
	for i, v := range sorted {
		if limit > 0 && i == limit {
			fmt.Fprintf(&b, "\n  ... and %d more", len(sorted)-limit)
			break
		}
		b.WriteString("\n  ")
		b.WriteString(v.String())
	}
	return b.String()
}

// describe names an event with what identifies it: the call of a tool
// event.
func describe(ev *bus.Event) string {
	switch ev.Type {
	case bus.TypeToolCall:
		if c, err := bus.DecodeAs[bus.ToolCall](ev); err == nil {
			return "tool_call " + c.CallID
		}
	case bus.TypeToolResult:
		if r, err := bus.DecodeAs[bus.ToolResult](ev); err == nil {
			return "tool_result " + r.CallID
		}
	}
	return ev.Type.Short()
}

func messageText(ev *bus.Event) string {
	m, err := bus.DecodeAs[bus.Message](ev)
	if err != nil {
		return ""
	}
	return m.Text
}

func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
