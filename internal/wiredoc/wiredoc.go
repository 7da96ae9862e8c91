package wiredoc

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/schemas"
)

// Path is where the page lives, from the module's root.
const Path = "docs/wire.md"

// section is how one kind of entry is shown: a heading, a few words before
// the table, and the table's columns.
type section struct {
	title, intro string
	columns      []string
	row          func(e bus.WireEntry) []string
}

func sections() map[bus.WireKind]section {
	code := func(s string) string { return "`" + s + "`" }
	configOrNotes := func(e bus.WireEntry) string {
		parts := append([]string(nil), e.Config...)
		if e.Notes != "" {
			parts = append(parts, e.Notes)
		}
		return strings.Join(parts, "; ")
	}
	return map[bus.WireKind]section{
		bus.WireSubject: {
			title:   "Subjects",
			intro:   "Every subject Viber publishes on. `<placeholders>` are subject tokens: letters, digits, `-` and `_`, at most 64 bytes.",
			columns: []string{"subject", "stream / transport", "written by", "read by", "payload", "notes"},
			row: func(e bus.WireEntry) []string {
				return []string{code(e.Name), e.Via, e.Writers, e.Readers, types(e.Payload), e.Notes}
			},
		},
		bus.WireStream: {
			title:   "Streams",
			intro:   "Settings are those `bus.Setup` applies with default `bus.SetupOptions` (replicas and the duplicate window are options; an operator may tune a stream, `Setup` leaves existing ones as they are).",
			columns: []string{"stream", "where", "written by", "read by", "payload", "configuration"},
			row: func(e bus.WireEntry) []string {
				return []string{code(e.Name), e.Via, e.Writers, e.Readers, types(e.Payload), configOrNotes(e)}
			},
		},
		bus.WireConsumer: {
			title:   "Consumers",
			intro:   "Durable consumers have fixed names; ordered consumers are made per reader and deleted when it is done.",
			columns: []string{"consumer", "on", "created by", "read by", "configuration"},
			row: func(e bus.WireEntry) []string {
				return []string{code(e.Name), code(e.Via), e.Writers, e.Readers, configOrNotes(e)}
			},
		},
		bus.WireBucket: {
			title:   "KV buckets",
			intro:   "Views, never the source of truth: both can be deleted and are rebuilt (presence at the next heartbeat, summaries by the projector).",
			columns: []string{"bucket", "where", "written by", "read by", "key → value", "configuration"},
			row: func(e bus.WireEntry) []string {
				return []string{code(e.Name), e.Via, e.Writers, e.Readers, types(e.Payload), configOrNotes(e)}
			},
		},
		bus.WireHeader: {
			title:   "Headers",
			intro:   "Headers beyond the JSON bodies, on NATS and HTTP.",
			columns: []string{"header", "on", "set by", "read by", "meaning"},
			row: func(e bus.WireEntry) []string {
				return []string{code(e.Name), e.Via, e.Writers, e.Readers, e.Notes}
			},
		},
		bus.WireEvent: {
			title: "Event types",
			intro: "Each event is a CloudEvents 1.0 envelope (`bus.Event`) in structured JSON, stored in `" + bus.TaskStream + "`. " +
				"Who may write each type is enforced by every reader (`bus.Summary` rejects, counts and skips an event from anyone else) and asked by every writer first (`Summary.Admits`). " +
				"Every event must also be in order (seq = the log's last + 1) and, from a daemon, come from its own writer token.",
			columns: []string{"type", "subject", "written by", "when", "read by", "payload", "schema"},
			row: func(e bus.WireEntry) []string {
				f := schemas.FileName(e.EventType)
				return []string{code(e.Name), code(e.Via), e.Writers, e.Notes, e.Readers, types(e.Payload), "[" + f + "](../schemas/" + f + ")"}
			},
		},
		bus.WireEndpoint: {
			title: "API endpoints",
			intro: "The gateway's NATS micro service `" + bus.ServiceName + "` (`nats micro info " + bus.ServiceName + "`). Requests and replies are JSON; " +
				"an error reply carries `" + bus.HeaderServiceErrorCode + "` (an error code below) and a `bus.APIError` body.",
			columns: []string{"subject", "request → reply", "what"},
			row: func(e bus.WireEntry) []string {
				return []string{code(e.Name), types(e.Payload), e.Notes}
			},
		},
		bus.WireErrorCode: {
			title:   "Error codes",
			intro:   "The same code over NATS (`" + bus.HeaderServiceErrorCode + "`) and HTTP (the body's `code`); clients map it back to its sentinel, so `errors.Is` holds across the wire.",
			columns: []string{"code", "HTTP status", "sentinel"},
			row: func(e bus.WireEntry) []string {
				return []string{code(e.Name), strings.TrimPrefix(e.Via, "HTTP "), e.Notes}
			},
		},
		bus.WireRoute: {
			title: "HTTP routes",
			intro: "The gateway's HTTP server. Bodies are the JSON of the `bus` types named (a request body must be sent as `Content-Type: application/json`), errors a `bus.APIError`. " +
				"\"token\": with an HTTP token set, the request needs `Authorization: Bearer <token>` or the `" + bus.TokenCookie + "` cookie; without one, the gateway answers only requests to a loopback host name. " +
				"Other paths (but `" + strings.TrimPrefix(bus.RouteHealth, "GET ") + "`) serve the dashboard's files.",
			columns: []string{"route", "auth", "request → answer", "what"},
			row: func(e bus.WireEntry) []string {
				auth := strings.TrimSuffix(strings.TrimPrefix(e.Via, "HTTP ("), ")")
				return []string{code(e.Name), auth, types(e.Payload), e.Notes}
			},
		},
		bus.WireSSE: {
			title:   "Server-Sent Events",
			intro:   "Event names on the gateway's event streams. An idle stream gets `: keepalive` comments, so proxies keep it open.",
			columns: []string{"event", "on", "data", "meaning"},
			row: func(e bus.WireEntry) []string {
				return []string{code(e.Name), e.Via, types(e.Payload), e.Notes}
			},
		},
	}
}

// Render returns the page: deterministic Markdown ending in a newline.
func Render() ([]byte, error) {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# The wire\n\n")
	p("<!-- Code generated by `go generate ./internal/wiredoc` from bus.Wire (bus/wire.go); DO NOT EDIT. -->\n\n")
	p("Everything Viber puts on NATS and HTTP, on one page: every subject, stream, consumer, KV bucket, header, ")
	p("event type, API endpoint, error code, HTTP route and Server-Sent Event, with who writes and who reads it. ")
	p("It is generated from the names, functions and configurations package `bus` defines and the code uses ")
	p("(`bus.Wire` in [bus/wire.go](../bus/wire.go)); a test fails when it is stale.\n\n")

	p("## Task subjects and writers\n\n")
	p("A task is its log: the events stored in `%s` under `%s`, one subject per event:\n\n", bus.TaskStream, bus.TaskStreamSubjects())
	p("```\n%s\n```\n\n", bus.TaskSubjectLayout())
	p("- `<task>` is the task id (also the envelope's `subject`); `%s` matches all of one task's events, and appends are a compare-and-set on it.\n", bus.TaskFilter("<task>"))
	p("- `<writer>` names who wrote the event: `%s` for every gateway (event source `%s`), `%s` for daemon `<daemon>` (source `%s`). ",
		bus.GatewayWriter, bus.GatewaySource("<id>"), bus.DaemonWriter("<daemon>"), bus.DaemonSource("<daemon>"))
	p("Readers reject an event whose writer token does not match its source, and a daemon's credential may publish only `%s`.\n", bus.TaskWriterFilter(bus.DaemonWriter("<daemon>")))
	p("- `<event>` is the short name of the event's type (`%s` for `%s`).\n", bus.TypeStarted.Short(), bus.TypeStarted)
	p("- Anything else published under `%s` is not stored.\n\n", bus.TaskSubjects())
	p("Who may write an event type:\n\n")
	for _, w := range []struct {
		w    bus.EventWriters
		what string
	}{
		{bus.ByGateway, "only a gateway"},
		{bus.ByOwner, "only the daemon holding the task (the one its latest `assigned` names), while the turn runs"},
		{bus.ByClaimant, "a daemon claiming the task for itself, while the turn runs (only the pinned daemon, if the task names one); its claim fences the previous holder"},
		{bus.ByOwnerOrGateway, "the daemon holding the task; a gateway only while no daemon holds it"},
	} {
		p("- %s: %s.\n", w.w, w.what)
	}
	p("\n")

	secs := sections()
	byKind := map[bus.WireKind][]bus.WireEntry{}
	for _, e := range bus.Wire() {
		byKind[e.Kind] = append(byKind[e.Kind], e)
	}
	for _, kind := range bus.WireKinds() {
		s, ok := secs[kind]
		if !ok {
			return nil, fmt.Errorf("wiredoc: no section for %s entries", kind)
		}
		entries := byKind[kind]
		if len(entries) == 0 {
			continue
		}
		p("## %s\n\n%s\n\n", s.title, s.intro)
		p("| %s |\n", strings.Join(s.columns, " | "))
		p("|%s\n", strings.Repeat(" --- |", len(s.columns)))
		for _, e := range entries {
			cells := s.row(e)
			for i, c := range cells {
				cells[i] = cell(c)
			}
			p("| %s |\n", strings.Join(cells, " | "))
		}
		p("\n")
	}
	return append(bytes.TrimRight(b.Bytes(), "\n"), '\n'), nil
}

// types puts the Go types in a body's description ("bus.A → bus.B") in
// code spans.
func types(s string) string {
	parts := strings.Split(s, " → ")
	for i, part := range parts {
		if strings.HasPrefix(part, "bus.") || strings.HasPrefix(part, "text/") {
			parts[i] = "`" + part + "`"
		}
	}
	return strings.Join(parts, " → ")
}

// cell makes text safe in a Markdown table cell: pipes escaped, and angle
// brackets outside code spans written as entities (else they read as HTML).
func cell(s string) string {
	if s == "" || s == "``" {
		return ""
	}
	parts := strings.Split(s, "`")
	for i, part := range parts {
		part = strings.ReplaceAll(part, "|", `\|`)
		if i%2 == 0 { // outside a code span
			part = strings.ReplaceAll(part, "<", "&lt;")
			part = strings.ReplaceAll(part, ">", "&gt;")
		}
		parts[i] = part
	}
	return strings.ReplaceAll(strings.Join(parts, "`"), "\n", " ")
}
