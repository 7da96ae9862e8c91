package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
)

// sseKeepalive is how often an idle event stream gets a comment line, so
// proxies and browsers keep it open (tests shorten it).
var sseKeepalive = 15 * time.Second

type sseWriter struct {
	mu sync.Mutex // streams of one connection write from their goroutines
	w  http.ResponseWriter
	rc *http.ResponseController
}

func startSSE(w http.ResponseWriter) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &sseWriter{w: w, rc: http.NewResponseController(w)}
	_, _ = fmt.Fprint(w, "retry: 2000\n\n")
	_ = s.rc.Flush()
	return s
}

// send writes one SSE event; id and name may be empty.
func (s *sseWriter) send(id, name string, data []byte) error {
	var b strings.Builder
	if id != "" {
		b.WriteString("id: " + id + "\n")
	}
	if name != "" {
		b.WriteString("event: " + name + "\n")
	}
	// JSON has no raw newlines, but stay correct for any data.
	for _, line := range strings.Split(string(data), "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write([]byte(b.String())); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *sseWriter) comment(text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := fmt.Fprintf(s.w, ": %s\n\n", text); err != nil {
		return err
	}
	return s.rc.Flush()
}

// keepalive writes a comment every sseKeepalive until the returned stop
// is called (stop waits until it no longer writes) or a write fails.
func (s *sseWriter) keepalive() (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	every := sseKeepalive
	go func() {
		defer close(exited)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if s.comment("keepalive") != nil {
					return
				}
			}
		}
	}()
	return func() { close(done); <-exited }
}

// emitFunc writes one event of a stream: its SSE id and name (both may be
// empty) and data.
type emitFunc func(id, name string, data []byte) error

// resumeSeq reads where a client wants to continue: the Last-Event-ID
// header an EventSource sends when it reconnects, or ?after=<seq>.
func resumeSeq(r *http.Request) (uint64, error) {
	v := r.Header.Get(bus.HeaderLastEventID)
	if v == "" {
		v = r.URL.Query().Get(bus.QueryAfter)
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: Last-Event-ID %q is not an event seq", bus.ErrMalformed, v)
	}
	return n, nil
}

// apiTaskEvents streams a task's log as Server-Sent Events: every stored
// event from the first (or after Last-Event-ID) with id = seq and the
// envelope as data, then live as events are appended, until the client
// goes away. Token deltas of a model that is writing arrive on the same
// stream as "delta" events.
func (g *Gateway) apiTaskEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	after, err := resumeSeq(r)
	if err != nil {
		g.writeErr(w, r, err)
		return
	}
	if _, err := g.tasks.HeadSeq(ctx, id); err != nil {
		g.writeErr(w, r, err)
		return
	}

	// Subscribe to deltas before replaying, so none is missed between the
	// end of the replay and live.
	deltas, unsub, err := g.liveDeltas(id)
	if err != nil {
		g.writeErr(w, r, err)
		return
	}
	defer unsub()
	sse := startSSE(w)
	defer sse.keepalive()()
	_ = g.streamTask(ctx, id, after, deltas, sse.send)
}

// liveDeltas subscribes to a task's token deltas, each as JSON on the
// channel (a slow reader loses deltas, never stored events).
func (g *Gateway) liveDeltas(id string) (<-chan []byte, func(), error) {
	deltas := make(chan []byte, 256)
	sub, err := bus.SubscribeDeltas(g.cfg.NC, id, func(d bus.Delta) {
		b, err := json.Marshal(d)
		if err != nil {
			return
		}
		select {
		case deltas <- b:
		default: // a slow browser loses deltas, never stored events
		}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: subscribe to live deltas: %v", bus.ErrUnavailable, err)
	}
	return deltas, func() { _ = sub.Unsubscribe() }, nil
}

// streamTask emits a task's log after seq after, then live, with its
// deltas and the server's fold ("summary" events), until ctx ends, emit
// fails or the log cannot be read (emitted as an "error" event). It
// returns why it stopped.
func (g *Gateway) streamTask(ctx context.Context, id string, after uint64, deltas <-chan []byte, emit emitFunc) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type item struct {
		ev       *bus.Event
		err      error
		caughtUp bool
		summary  []byte // the task's fold after ev (or at caughtUp)
	}
	events := make(chan item, 64)
	go func() {
		defer close(events)
		// The replay folds the task as it reads it; once caught up, that
		// fold goes to the page with every event, so the dashboard never
		// folds a task itself.
		var sum bus.Summary
		live := false
		opt := bus.ReplayOptions{Follow: bus.Forever, AfterSeq: after, Summary: &sum,
			CaughtUp: func() {
				live = true
				b, _ := json.Marshal(&sum)
				select {
				case events <- item{caughtUp: true, summary: b}:
				case <-rctx.Done():
				}
			},
			OnReject: func(err error) {
				g.log.Warn().Err(err).Str("task", id).Msg("skipped a message of the task log that does not fit the task")
			},
		}
		for ev, err := range g.tasks.Replay(rctx, id, opt) {
			var b []byte
			if live && err == nil {
				b, _ = json.Marshal(&sum)
			}
			select {
			case events <- item{ev: ev, err: err, summary: b}:
			case <-rctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()

	ready := false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case it, ok := <-events:
			if !ok {
				return ctx.Err()
			}
			if it.summary != nil && it.caughtUp {
				if err := emit("", bus.SSESummary, it.summary); err != nil {
					return err
				}
			}
			if it.caughtUp {
				if !ready {
					ready = true
					if err := emit("", bus.SSEReady, []byte(`{}`)); err != nil {
						return err
					}
				}
				continue
			}
			if it.err != nil {
				if ctx.Err() == nil && !errors.Is(it.err, context.Canceled) {
					g.log.Warn().Err(it.err).Str("task", id).Msg("event stream ended")
					b, _ := json.Marshal(bus.NewAPIError(it.err))
					_ = emit("", bus.SSEError, b)
				}
				return it.err
			}
			b, err := json.Marshal(it.ev)
			if err != nil {
				return err
			}
			if err := emit(strconv.FormatUint(it.ev.Seq, 10), "", b); err != nil {
				return err
			}
			if it.summary != nil {
				if err := emit("", bus.SSESummary, it.summary); err != nil {
					return err
				}
			}
		case d := <-deltas:
			if err := emit("", bus.SSEDelta, d); err != nil {
				return err
			}
		}
	}
}

// apiWatchTasks streams task summaries as they change ("summary" events),
// so the task list updates without reloading. It sends only changes: the
// client lists tasks with GET /api/tasks after the "ready" event and
// merges (the newer last_seq wins).
func (g *Gateway) apiWatchTasks(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	kv, err := g.js.KeyValue(ctx, bus.TaskBucket)
	if err != nil {
		g.writeErr(w, r, fmt.Errorf("%w: %v", bus.ErrUnavailable, err))
		return
	}
	watcher, err := kv.WatchAll(ctx, jetstream.UpdatesOnly(), jetstream.IgnoreDeletes())
	if err != nil {
		g.writeErr(w, r, fmt.Errorf("%w: %v", bus.ErrUnavailable, err))
		return
	}
	defer func() { _ = watcher.Stop() }()
	sse := startSSE(w)
	defer sse.keepalive()()
	_ = streamWatch(ctx, watcher, sse.send)
}

// streamWatch emits "ready", then a "summary" for each change the watcher
// sees, until ctx ends, the watcher stops or emit fails.
func streamWatch(ctx context.Context, watcher jetstream.KeyWatcher, emit emitFunc) error {
	if err := emit("", bus.SSEReady, []byte(`{}`)); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-watcher.Updates():
			if !ok {
				return nil
			}
			if e == nil {
				continue
			}
			if err := emit("", bus.SSESummary, e.Value()); err != nil {
				return err
			}
		}
	}
}
