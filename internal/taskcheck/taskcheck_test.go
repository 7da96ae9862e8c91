package taskcheck_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/internal/taskcheck"
)

const task = "01TASKAAAAAAAAAAAAAAAAAAAA"

// logOf builds a task log from payloads written by sources: each item is a
// source ("gw", "a", "b" for daemons) and a payload; seqs are 1..n.
type logOf struct {
	t      *testing.T
	events []*bus.Event
}

func newLog(t *testing.T) *logOf {
	l := &logOf{t: t}
	return l.gw(&bus.Created{Goal: "do it"})
}

func (l *logOf) add(source string, p bus.Payload) *logOf {
	l.t.Helper()
	ev, err := bus.NewEvent(task, source, p)
	if err != nil {
		l.t.Fatal(err)
	}
	ev.Seq = uint64(len(l.events) + 1)
	l.events = append(l.events, ev)
	return l
}

func (l *logOf) gw(p bus.Payload) *logOf { return l.add("vibergw/gw", p) }

func (l *logOf) by(daemon string, p bus.Payload) *logOf { return l.add("viberd/"+daemon, p) }

// run appends a whole clean run by a daemon: claim, start, one shell call,
// the answer and completed.
func (l *logOf) run(daemon, call, answer string) *logOf {
	return l.by(daemon, &bus.Assigned{Daemon: daemon, Attempt: 1}).
		by(daemon, &bus.Started{Daemon: daemon}).
		by(daemon, &bus.ToolCall{CallID: call, Tool: "shell", Arguments: `{"command":"echo x"}`}).
		by(daemon, &bus.ToolResult{CallID: call, Tool: "shell", Output: "ok"}).
		by(daemon, &bus.Message{Role: "assistant", Text: answer}).
		by(daemon, &bus.Completed{Result: answer})
}

func kinds(vs []taskcheck.Violation) string {
	var out []string
	for _, v := range vs {
		out = append(out, fmt.Sprintf("%s@%d", v.Kind, v.Seq))
	}
	return strings.Join(out, " ")
}

func expect(t *testing.T, vs []taskcheck.Violation, want string) {
	t.Helper()
	if got := kinds(vs); got != want {
		t.Errorf("violations %q, want %q\n%s", got, want, taskcheck.Report(vs, 0))
	}
	for _, v := range vs {
		if v.Task != task || v.Detail == "" || strings.Contains(v.String(), "0x") {
			t.Errorf("violation not readable: %s", v)
		}
	}
}

func TestCleanLogs(t *testing.T) {
	t.Parallel()
	cases := map[string]*logOf{
		"one turn": newLog(t).run("a", "c1", "done"),
		"follow-up turn": newLog(t).run("a", "c1", "first").
			gw(&bus.Input{Text: "more", Mode: bus.InputQueue}).run("b", "c2", "second"),
		"resumed by another daemon, the open call reported interrupted": newLog(t).
			by("a", &bus.Assigned{Daemon: "a", Attempt: 1}).by("a", &bus.Started{Daemon: "a"}).
			by("a", &bus.ToolCall{CallID: "c1", Tool: "shell"}).
			by("b", &bus.Assigned{Daemon: "b", Attempt: 2}).by("b", &bus.Started{Daemon: "b", Resumed: true}).
			by("b", &bus.ToolResult{CallID: "c1", Tool: "shell", Output: "interrupted", IsError: true}).
			by("b", &bus.Message{Role: "assistant", Text: "ok"}).by("b", &bus.Completed{Result: "ok"}),
		"a stored final message completed by the next daemon": newLog(t).
			by("a", &bus.Assigned{Daemon: "a", Attempt: 1}).by("a", &bus.Started{Daemon: "a"}).
			by("a", &bus.Message{Role: "assistant", Text: "the answer"}).
			by("b", &bus.Assigned{Daemon: "b", Attempt: 2}).by("b", &bus.Completed{Result: "the answer"}),
		"text alongside a tool call is not final": newLog(t).
			by("a", &bus.Assigned{Daemon: "a", Attempt: 1}).by("a", &bus.Started{Daemon: "a"}).
			by("a", &bus.Message{Role: "assistant", Text: "let me look"}).
			by("a", &bus.ToolCall{CallID: "c1", Tool: "shell"}).by("a", &bus.ToolResult{CallID: "c1", Tool: "shell"}).
			by("a", &bus.Message{Role: "assistant", Text: "found it"}).by("a", &bus.Completed{Result: "found it"}),
		"a follow-up during the turn gets a fresh answer": newLog(t).
			by("a", &bus.Assigned{Daemon: "a", Attempt: 1}).by("a", &bus.Started{Daemon: "a"}).
			by("a", &bus.Message{Role: "assistant", Text: "old"}).
			gw(&bus.Input{Text: "actually", Mode: bus.InputQueue}).
			by("a", &bus.Message{Role: "assistant", Text: "new"}).by("a", &bus.Completed{Result: "new"}),
		"cancelled before any claim, by the gateway and by a daemon": newLog(t).
			gw(&bus.CancelRequested{}).gw(&bus.Cancelled{}).
			gw(&bus.Input{Text: "again", Mode: bus.InputQueue}).gw(&bus.CancelRequested{}).
			by("c", &bus.Cancelled{Reason: "cancel requested before the task resumed"}),
		"failed without a claim": newLog(t).by("a", &bus.Failed{Error: "no model", Code: bus.FailNoModel}),
	}
	for name, l := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// Every stored call took effect once.
			effects := map[string]int{}
			for _, ev := range l.events {
				if c, err := bus.DecodeAs[bus.ToolCall](ev); err == nil {
					effects[c.CallID]++
				}
			}
			expect(t, taskcheck.Check(task, l.events, effects), "")
		})
	}
}

func TestLostAndDoubledEvents(t *testing.T) {
	t.Parallel()
	l := newLog(t).run("a", "c1", "done")
	evs := l.events
	// seq 3 lost, seq 5 stored twice under the same id.
	got := append(append(append([]*bus.Event{}, evs[:2]...), evs[3:5]...), evs[4:]...)
	expect(t, taskcheck.Check(task, got, nil), "seq_gap@4 seq_out_of_order@5 duplicate_event_id@5")

	// A log that does not begin with created, starting late (without
	// the claim, too).
	expect(t, taskcheck.Check(task, evs[2:], nil), "bad_start@3 seq_gap@3 write_without_claim@3 write_without_claim@4 write_without_claim@5 write_without_claim@6 write_without_claim@7")
	expect(t, taskcheck.Check(task, nil, nil), "bad_start@0")

	// An event stored under the wrong task.
	stray := *evs[2]
	stray.Subject = "01OTHERAAAAAAAAAAAAAAAAAAA"
	got = append(append(append([]*bus.Event{}, evs[:2]...), &stray), evs[3:]...)
	expect(t, taskcheck.Check(task, got, nil), "bad_start@3")
}

func TestToolSideEffects(t *testing.T) {
	t.Parallel()
	l := newLog(t).run("a", "c1", "done")
	expect(t, taskcheck.Check(task, l.events, map[string]int{"c1": 2}), "tool_ran_twice@4")
	expect(t, taskcheck.Check(task, l.events, map[string]int{"c1": 1, "ghost": 1}), "tool_ran_without_stored_call@0")
	expect(t, taskcheck.Check(task, l.events, map[string]int{"c1": 0}), "")
}

// The first failure: a stale daemon's tool_call stored after
// another daemon's claim, both daemons running the command.
func TestStaleDaemonRunsTheToolAgain(t *testing.T) {
	t.Parallel()
	l := newLog(t).
		by("a", &bus.Assigned{Daemon: "a", Attempt: 1}).by("a", &bus.Started{Daemon: "a"}).
		by("b", &bus.Assigned{Daemon: "b", Attempt: 2}).by("b", &bus.Started{Daemon: "b", Resumed: true}).
		by("a", &bus.ToolCall{CallID: "c1", Tool: "shell"}).
		by("b", &bus.ToolResult{CallID: "c1", Tool: "shell", Output: "ran"}).
		by("a", &bus.ToolResult{CallID: "c1", Tool: "shell", Output: "ran"}).
		by("b", &bus.Message{Role: "assistant", Text: "done"}).by("b", &bus.Completed{Result: "done"})
	expect(t, taskcheck.Check(task, l.events, map[string]int{"c1": 2}), "write_without_claim@6 duplicate_tool_result@8 write_without_claim@8 tool_ran_twice@6")
}

// The second failure: a stale started after completed reopens the
// task, and the turn runs again.
func TestStaleStartAfterTheEnd(t *testing.T) {
	t.Parallel()
	l := newLog(t).run("b", "c1", "first").
		by("a", &bus.Started{Daemon: "a"}).
		by("c", &bus.Assigned{Daemon: "c", Attempt: 3}).by("c", &bus.Started{Daemon: "c"}).
		by("c", &bus.Message{Role: "assistant", Text: "second"}).by("c", &bus.Completed{Result: "second"})
	expect(t, taskcheck.Check(task, l.events, nil), "event_after_terminal@8 event_after_terminal@9 event_after_terminal@10 event_after_terminal@11 double_terminal@12")
}

// The third failure: an orphan tool_call after completed, which
// also leaves the task looking unfinished.
func TestOrphanCallAfterCompleted(t *testing.T) {
	t.Parallel()
	l := newLog(t).run("b", "c1", "done").by("a", &bus.ToolCall{CallID: "c9", Tool: "shell"})
	expect(t, taskcheck.Check(task, l.events, map[string]int{"c1": 1, "c9": 1}), "event_after_terminal@8")
	// Only a new turn's input may follow; the input's turn must end.
	l = newLog(t).run("b", "c1", "done").gw(&bus.Input{Text: "more", Mode: bus.InputQueue})
	expect(t, taskcheck.Check(task, l.events, nil), "never_ended@0")
}

// The fourth failure: the final message is stored, the daemon dies
// before completed, and the next daemon asks the model again.
func TestDifferentAnswerAfterResume(t *testing.T) {
	t.Parallel()
	l := newLog(t).
		by("a", &bus.Assigned{Daemon: "a", Attempt: 1}).by("a", &bus.Started{Daemon: "a"}).
		by("a", &bus.Message{Role: "assistant", Text: "answer one"}).
		by("b", &bus.Assigned{Daemon: "b", Attempt: 2}).by("b", &bus.Started{Daemon: "b", Resumed: true}).
		by("b", &bus.Message{Role: "assistant", Text: "answer two"}).by("b", &bus.Completed{Result: "answer two"})
	vs := taskcheck.Check(task, l.events, nil)
	expect(t, vs, "wrong_result@8")
	if !strings.Contains(vs[0].Detail, `"answer one"`) || !strings.Contains(vs[0].Detail, "seq 4") {
		t.Errorf("detail does not name the stored answer: %s", vs[0])
	}
	l = newLog(t).by("a", &bus.Assigned{Daemon: "a", Attempt: 1}).by("a", &bus.Completed{Result: "from nowhere"})
	expect(t, taskcheck.Check(task, l.events, nil), "wrong_result@3")
	l = newLog(t).by("a", &bus.Assigned{Daemon: "a", Attempt: 1}).
		by("a", &bus.Message{Role: "assistant", Text: "stored"}).by("a", &bus.Completed{Result: "other"})
	expect(t, taskcheck.Check(task, l.events, nil), "wrong_result@4")
}

func TestDoubleTerminalAndDuplicateCall(t *testing.T) {
	t.Parallel()
	l := newLog(t).run("a", "c1", "done").by("a", &bus.Failed{Error: "late"})
	expect(t, taskcheck.Check(task, l.events, nil), "double_terminal@8")
	l = newLog(t).by("a", &bus.Assigned{Daemon: "a", Attempt: 1}).
		by("a", &bus.ToolCall{CallID: "c1", Tool: "shell"}).by("a", &bus.ToolCall{CallID: "c1", Tool: "shell"}).
		by("a", &bus.Cancelled{})
	expect(t, taskcheck.Check(task, l.events, nil), "duplicate_tool_call@4")
}

func TestUnsettledCall(t *testing.T) {
	t.Parallel()
	// A stale daemon's call stored under another's claim, never answered.
	l := newLog(t).by("a", &bus.Assigned{Daemon: "a", Attempt: 1}).by("b", &bus.Assigned{Daemon: "b", Attempt: 2}).
		by("a", &bus.ToolCall{CallID: "c1", Tool: "shell"}).
		by("b", &bus.Message{Role: "assistant", Text: "done"}).by("b", &bus.Completed{Result: "done"})
	expect(t, taskcheck.Check(task, l.events, nil), "write_without_claim@4 unsettled_call@4")
	// A cancelled turn may leave its call open.
	l = newLog(t).by("a", &bus.Assigned{Daemon: "a", Attempt: 1}).
		by("a", &bus.ToolCall{CallID: "c1", Tool: "shell"}).gw(&bus.CancelRequested{}).by("a", &bus.Cancelled{})
	expect(t, taskcheck.Check(task, l.events, nil), "")
}

// Seen in a campaign: a stale tool_call stored after completed, then the
// next turn settles it twice.
func TestResultsOfSettledCalls(t *testing.T) {
	t.Parallel()
	l := newLog(t).run("b", "c1", "done").by("a", &bus.ToolCall{CallID: "c1", Tool: "shell"}).
		gw(&bus.Input{Text: "more", Mode: bus.InputQueue}).
		by("a", &bus.Assigned{Daemon: "a", Attempt: 1}).by("a", &bus.Started{Daemon: "a"}).
		by("a", &bus.ToolResult{CallID: "c1", Tool: "shell", IsError: true}).
		by("a", &bus.ToolResult{CallID: "c1", Tool: "shell", IsError: true}).
		by("a", &bus.ToolResult{CallID: "c7", Tool: "shell"}).
		by("a", &bus.Message{Role: "assistant", Text: "two"}).by("a", &bus.Completed{Result: "two"})
	expect(t, taskcheck.Check(task, l.events, nil), "duplicate_tool_call@8 event_after_terminal@8 duplicate_tool_result@12 duplicate_tool_result@13 result_without_call@14")
}

func TestUnclaimedWrites(t *testing.T) {
	t.Parallel()
	// A daemon running a new turn on the previous turn's claim.
	l := newLog(t).run("a", "c1", "one").gw(&bus.Input{Text: "more", Mode: bus.InputQueue}).
		by("a", &bus.Started{Daemon: "a"}).by("a", &bus.Message{Role: "assistant", Text: "two"}).by("a", &bus.Completed{Result: "two"})
	expect(t, taskcheck.Check(task, l.events, nil), "write_without_claim@9 write_without_claim@10 write_without_claim@11")
}

func TestNeverEnded(t *testing.T) {
	t.Parallel()
	l := newLog(t).by("a", &bus.Assigned{Daemon: "a", Attempt: 1}).by("a", &bus.Started{Daemon: "a"})
	vs := taskcheck.Check(task, l.events, nil)
	expect(t, vs, "never_ended@0")
	if !strings.Contains(vs[0].Detail, "started at seq 3") {
		t.Errorf("detail: %s", vs[0])
	}
}

func TestCheckSummary(t *testing.T) {
	t.Parallel()
	l := newLog(t).run("a", "c1", "done")
	good := &bus.Summary{ID: task, State: bus.StateCompleted, Result: "done", LastSeq: 7}
	expect(t, taskcheck.CheckSummary(task, l.events, good), "")
	for name, s := range map[string]*bus.Summary{
		"missing":     nil,
		"state":       {ID: task, State: bus.StateRunning, Result: "done", LastSeq: 7},
		"result":      {ID: task, State: bus.StateCompleted, Result: "other", LastSeq: 7},
		"behind":      {ID: task, State: bus.StateCompleted, Result: "done", LastSeq: 6},
		"wrong ended": {ID: task, State: bus.StateFailed, LastSeq: 7},
	} {
		vs := taskcheck.CheckSummary(task, l.events, s)
		if kinds(vs) != "list_disagrees@0" {
			t.Errorf("%s: %q", name, kinds(vs))
		}
	}
	// A reopened task must not be listed as ended.
	l.gw(&bus.Input{Text: "more", Mode: bus.InputQueue})
	vs := taskcheck.CheckSummary(task, l.events, &bus.Summary{ID: task, State: bus.StateCompleted, Result: "done", LastSeq: 8})
	if kinds(vs) != "list_disagrees@0" || !strings.Contains(vs[0].Detail, "not ended") {
		t.Errorf("reopened: %v", vs)
	}
	// The last terminal event decides.
	l.by("b", &bus.Assigned{Daemon: "b", Attempt: 1}).by("b", &bus.Cancelled{})
	if e := taskcheck.Expect(l.events); !e.Ended || e.State != bus.StateCancelled || e.LastSeq != 10 {
		t.Errorf("expect: %+v", e)
	}
}

func TestReport(t *testing.T) {
	t.Parallel()
	vs := []taskcheck.Violation{
		{Task: "t2", Kind: taskcheck.ToolRanTwice, Seq: 5, Detail: "call x took effect 2 times"},
		{Task: "t1", Kind: taskcheck.SeqGap, Seq: 3, Detail: "seq jumps"},
		{Task: "t1", Kind: taskcheck.ToolRanTwice, Seq: 9, Detail: "call y took effect 3 times"},
	}
	r := taskcheck.Report(vs, 2)
	want := "3 violation(s): seq_gap=1 (1 task(s)) tool_ran_twice=2 (2 task(s))\n" +
		"  task t1 seq 3: seq_gap: seq jumps\n" +
		"  task t1 seq 9: tool_ran_twice: call y took effect 3 times\n" +
		"  ... and 1 more"
	if r != want {
		t.Errorf("report:\n%s\nwant:\n%s", r, want)
	}
	if taskcheck.Report(nil, 0) != "no violations" {
		t.Error("empty report")
	}
}
