package command

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/viberhq/viber/bus"
)

// describe renders one event as a line for people.
func describe(ev *bus.Event) string {
	p, err := ev.Decode()
	if err != nil {
		return fmt.Sprintf("(undecodable: %v)", err)
	}
	switch d := p.(type) {
	case *bus.Created:
		s := "goal: " + oneLine(d.Goal, 200)
		if d.Daemon != "" {
			s += "  daemon=" + d.Daemon
		}
		if d.Model != "" {
			s += "  model=" + d.Model
		}
		if d.Agent != "" {
			s += "  agent=" + d.Agent
		}
		return s
	case *bus.Assigned:
		return fmt.Sprintf("daemon=%s attempt=%d", d.Daemon, d.Attempt)
	case *bus.Started:
		s := "daemon=" + d.Daemon
		if d.Model != "" {
			s += " model=" + d.Provider + "/" + d.Model
		}
		if d.Resumed {
			s += " (resumed)"
		}
		return s
	case *bus.Message:
		return d.Role + ": " + oneLine(d.Text, 400)
	case *bus.Plan:
		var parts []string
		for _, it := range d.Items {
			mark := "[ ]"
			switch it.Status {
			case "done":
				mark = "[x]"
			case "in_progress":
				mark = "[~]"
			}
			parts = append(parts, mark+" "+it.Text)
		}
		return strings.Join(parts, "; ")
	case *bus.ToolCall:
		return fmt.Sprintf("%s %s  (call %s)", d.Tool, oneLine(d.Arguments, 200), d.CallID)
	case *bus.ToolResult:
		s := oneLine(d.Output, 200)
		if d.IsError {
			s = "error: " + s
		}
		return fmt.Sprintf("%s → %s", d.Tool, s)
	case *bus.ApprovalRequested:
		return fmt.Sprintf("%s %s waits for approval (call %s): %s", d.Tool, oneLine(d.Arguments, 160), d.CallID, d.Reason)
	case *bus.ApprovalDecided:
		verdict := "denied"
		if d.Approved {
			verdict = "approved"
		}
		return fmt.Sprintf("call %s %s %s", d.CallID, verdict, d.Reason)
	case *bus.Input:
		return d.Mode + ": " + oneLine(d.Text, 300)
	case *bus.CancelRequested:
		return strings.TrimSpace("by " + d.By + " " + d.Reason)
	case *bus.Completed:
		return "result: " + oneLine(d.Result, 400)
	case *bus.Failed:
		return "error: " + d.Error
	case *bus.Cancelled:
		return d.Reason
	case *bus.ChildCreated:
		s := fmt.Sprintf("child task %s (call %s): %s", d.Task, d.CallID, oneLine(d.Goal, 160))
		if d.Agent != "" {
			s += "  agent=" + d.Agent
		}
		return s
	case *bus.MemoryUpdated:
		return fmt.Sprintf("%s %s revision %d (call %s): %s", d.Scope, d.Name, d.Revision, d.CallID, oneLine(d.Content, 160))
	}
	return ""
}

func printEvent(w io.Writer, ev *bus.Event) {
	fmt.Fprintf(w, "#%-3d %s  %-18s %s\n", ev.Seq, ev.Time.Local().Format("15:04:05.000"), ev.Type.Short(), describe(ev))
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max]) + "…"
}

func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return short(time.Since(t)) + " ago"
}

func short(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

func printTasks(w io.Writer, list []*bus.Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tDAEMON\tAGE\tDURATION\tGOAL")
	now := time.Now()
	for _, s := range list {
		dur := "-"
		if s.StartedAt != nil {
			dur = short(s.Duration(now))
		}
		daemon := s.Daemon
		if daemon == "" {
			daemon = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.State, daemon, age(s.CreatedAt), dur, oneLine(s.Goal, 60))
	}
	_ = tw.Flush()
}

// printSummary prints a task's summary; waiting holds the approval
// requests of the calls that wait (by call id), to show their tool and
// arguments.
func printSummary(w io.Writer, s *bus.Summary, waiting map[string]*bus.ApprovalRequested) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("id", s.ID)
	row("state", string(s.State))
	row("goal", s.Goal)
	row("daemon", s.Daemon)
	row("pinned to", s.RequestedDaemon)
	row("model", s.Model)
	row("schedule", s.Schedule)
	row("agent", s.Agent)
	if s.Parent != nil {
		row("parent", s.Parent.Task+" (call "+s.Parent.CallID+")")
	}
	for i, c := range s.Children {
		k := "children"
		if i > 0 {
			k = ""
		}
		row(k, c.Task+" (call "+c.CallID+")")
	}
	row("created", s.CreatedAt.Local().Format(time.RFC3339))
	if s.StartedAt != nil {
		row("started", s.StartedAt.Local().Format(time.RFC3339))
		row("duration", short(s.Duration(time.Now())))
	}
	if s.Attempts > 1 {
		row("attempts", fmt.Sprint(s.Attempts))
	}
	row("tokens", usageText(s.Usage))
	if s.CancelRequested {
		row("cancel", "requested")
	}
	for i, call := range s.PendingApprovals {
		k := "waiting for approval:"
		if i > 0 {
			k = ""
		}
		v := call
		if a := waiting[call]; a != nil {
			v += "  " + a.Tool + " " + oneLine(a.Arguments, 300)
			if a.Reason != "" {
				v += "  (" + a.Reason + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\n", k, v)
	}
	if len(s.PendingApprovals) > 0 {
		row("decide with", "viber task approve|deny "+s.ID+" CALL_ID [--reason TEXT]")
	}
	row("events", fmt.Sprint(s.Events))
	row("result", s.Result)
	row("error", s.Error)
	_ = tw.Flush()
}

func printDaemons(w io.Writer, list []*bus.DaemonView) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tKIND\tHOST\tVERSION\tMODEL\tRUNNING\tLAST SEEN")
	for _, d := range list {
		status := "offline"
		if d.Online {
			status = "online"
		}
		kind := "local"
		if d.Edge {
			kind = "edge"
		}
		model := "-"
		if d.Model != "" {
			model = d.Provider + "/" + d.Model
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", d.ID, status, kind, d.Hostname, d.Version, model, len(d.Running), d.Capacity, age(d.LastSeen))
	}
	_ = tw.Flush()
	printMCPServers(w, list)
}

// printMCPServers lists the daemons' MCP servers under the daemon table.
func printMCPServers(w io.Writer, list []*bus.DaemonView) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := false
	for _, d := range list {
		for _, s := range d.MCPServers {
			if !header {
				fmt.Fprintln(tw, "\nDAEMON\tMCP SERVER\tTRANSPORT\tSTATUS\tTOOLS\tERROR")
				header = true
			}
			errText := s.Error
			if errText == "" {
				errText = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", d.ID, s.Name, s.Transport, s.Status, len(s.Tools), errText)
		}
	}
	_ = tw.Flush()
}

// usageText is a task's usage on one line ("" when none was reported).
func usageText(u bus.Usage) string {
	if u.IsZero() {
		return ""
	}
	t := fmt.Sprintf("%d in, %d out", u.InputTokens, u.OutputTokens)
	if u.CostUSD > 0 {
		t += fmt.Sprintf("  ($%.4f)", u.CostUSD)
	}
	return t
}
