package gateway

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
)

// muxNext returns the next event of a /api/streams connection, unwrapped.
func muxNext(t *testing.T, s *sseStream) bus.MuxEvent {
	t.Helper()
	e := s.next(t)
	var m bus.MuxEvent
	if e.Name != bus.SSEMux || e.ID != "" || json.Unmarshal([]byte(e.Data), &m) != nil {
		t.Fatalf("want a %q event without an id, got %+v", bus.SSEMux, e)
	}
	return m
}

// muxWait returns the first event of stream with the given name, from
// those seen before or the next ones, keeping the others (which interleave
// freely) in seen.
func muxWait(t *testing.T, s *sseStream, stream, event string, seen *[]bus.MuxEvent) bus.MuxEvent {
	t.Helper()
	for i, m := range *seen {
		if m.Stream == stream && m.Event == event {
			*seen = append((*seen)[:i:i], (*seen)[i+1:]...)
			return m
		}
	}
	for range 100 {
		m := muxNext(t, s)
		if m.Stream == stream && m.Event == event {
			return m
		}
		*seen = append(*seen, m)
	}
	t.Fatalf("no %s event on stream %s in 100 events", event, stream)
	return bus.MuxEvent{}
}

// TestHTTPStreams carries two task logs and the watch over one
// connection: each event names its stream, stored events keep their seq,
// deltas and summaries ride along, a task can start after a seq, and a
// task that does not exist gets an error on its own stream only.
func TestHTTPStreams(t *testing.T) {
	t.Parallel()
	r := newHTTPRig(t)
	ctx := bustest.Context(t, 30*time.Second)
	create := func(goal string) string {
		var sum bus.Summary
		if code := r.do("POST", "/api/tasks", &bus.CreateTaskRequest{Goal: goal}, &sum); code != 201 {
			t.Fatalf("create: %d", code)
		}
		return sum.ID
	}
	a, b := create("first"), create("second")
	if _, err := r.env.Log.AppendPayload(ctx, b, bus.DaemonSource("d1"), &bus.Assigned{Daemon: "d1", Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	missing := bus.NewID()

	s := openSSE(t, r.base+"/api/streams?task="+a+"&task="+b+":1&task="+missing+"&watch=1", "")
	var seen []bus.MuxEvent
	// a from its first event, b after seq 1.
	if m := muxWait(t, s, bus.MuxTaskStream(a), bus.SSEMessage, &seen); m.ID != "1" {
		t.Fatalf("first event of %s has id %q, want 1", a, m.ID)
	}
	if m := muxWait(t, s, bus.MuxTaskStream(b), bus.SSEMessage, &seen); m.ID != "2" {
		t.Fatalf("first event of %s after seq 1 has id %q, want 2", b, m.ID)
	}
	muxWait(t, s, bus.MuxTaskStream(a), bus.SSEReady, &seen)
	muxWait(t, s, bus.MuxTaskStream(b), bus.SSEReady, &seen)
	muxWait(t, s, bus.MuxStreamWatch, bus.SSEReady, &seen)
	var apiErr bus.APIError
	if m := muxWait(t, s, bus.MuxTaskStream(missing), bus.SSEError, &seen); json.Unmarshal(m.Data, &apiErr) != nil || apiErr.Code != bus.CodeTaskNotFound {
		t.Fatalf("the missing task's stream says %s", m.Data)
	}
	for _, m := range seen {
		if m.Stream == bus.MuxTaskStream(b) && m.Event == bus.SSEMessage && m.ID == "1" {
			t.Fatalf("%s's event 1 was sent though the stream starts after it", b)
		}
	}

	// Live: an event of b, a delta of a, a new task on the watch.
	if _, err := r.env.Log.AppendPayload(ctx, b, bus.DaemonSource("d1"), &bus.Started{Daemon: "d1"}); err != nil {
		t.Fatal(err)
	}
	m := muxWait(t, s, bus.MuxTaskStream(b), bus.SSEMessage, &seen)
	if ev, err := bus.ParseEvent(m.Data); err != nil || ev.Type != bus.TypeStarted || m.ID != "3" {
		t.Fatalf("live event of %s: %s (id %s)", b, m.Data, m.ID)
	}
	var sum bus.Summary
	for sum.State != bus.StateRunning {
		// The summaries before (at ready) come first.
		if m := muxWait(t, s, bus.MuxTaskStream(b), bus.SSESummary, &seen); json.Unmarshal(m.Data, &sum) != nil || sum.ID != b || sum.LastSeq > 3 {
			t.Fatalf("summary of %s: %s", b, m.Data)
		}
	}
	if err := bus.PublishDelta(r.env.NC, bus.Delta{TaskID: a, Text: "Hi", Index: 0}); err != nil {
		t.Fatal(err)
	}
	var d bus.Delta
	if m := muxWait(t, s, bus.MuxTaskStream(a), bus.SSEDelta, &seen); json.Unmarshal(m.Data, &d) != nil || d.Text != "Hi" {
		t.Fatalf("delta of %s: %s", a, m.Data)
	}
	c := create("third")
	for {
		m := muxWait(t, s, bus.MuxStreamWatch, bus.SSESummary, &seen)
		if json.Unmarshal(m.Data, &sum) == nil && sum.ID == c {
			break
		}
	}

	// Bad requests.
	for _, q := range []string{"", "?task=not%20an%20id", "?task=" + a + ":x"} {
		resp, err := http.Get(r.base + "/api/streams" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("GET /api/streams%s: %d, want 400", q, resp.StatusCode)
		}
	}
}
