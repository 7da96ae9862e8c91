package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
)

// muxTask is one task stream asked of [bus.RouteStreams].
type muxTask struct {
	id    string
	after uint64
}

// parseMux reads the streams a request asks for: tasks ("<id>" or
// "<id>:<seq>", each once) and whether the watch is wanted.
func parseMux(r *http.Request) ([]muxTask, bool, error) {
	q := r.URL.Query()
	watch := q.Get(bus.QueryWatch) == "1"
	var tasks []muxTask
	seen := map[string]bool{}
	for _, v := range q[bus.QueryTask] {
		id, seq, hasSeq := strings.Cut(v, ":")
		if !bus.ValidToken(id) {
			return nil, false, fmt.Errorf("%w: %s=%q is not a task id", bus.ErrMalformed, bus.QueryTask, v)
		}
		t := muxTask{id: id}
		if hasSeq {
			n, err := strconv.ParseUint(seq, 10, 64)
			if err != nil {
				return nil, false, fmt.Errorf("%w: %s=%q: the part after ':' is not an event seq", bus.ErrMalformed, bus.QueryTask, v)
			}
			t.after = n
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		tasks = append(tasks, t)
	}
	n := len(tasks)
	if watch {
		n++
	}
	switch {
	case n == 0:
		return nil, false, fmt.Errorf("%w: name a stream: ?%s=<task id> (repeated) or ?%s=1", bus.ErrMalformed, bus.QueryTask, bus.QueryWatch)
	case n > bus.MaxMuxStreams:
		return nil, false, fmt.Errorf("%w: %d streams asked, at most %d on one connection", bus.ErrMalformed, n, bus.MaxMuxStreams)
	}
	return tasks, watch, nil
}

// apiStreams carries several streams over one connection: the logs of
// the tasks asked (each as [Gateway.apiTaskEvents] would send it) and the
// task watch (as [Gateway.apiWatchTasks] would), every event wrapped in a
// [bus.MuxEvent] naming its stream. A task that cannot be streamed (it
// does not exist) gets an "error" event on its stream; the others go on.
// The dashboard's tabs share one such connection through a shared worker,
// so a browser needs one connection per gateway however many tabs are open.
func (g *Gateway) apiStreams(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tasks, watch, err := parseMux(r)
	if err != nil {
		g.writeErr(w, r, err)
		return
	}
	var watcher jetstream.KeyWatcher
	if watch {
		kv, err := g.js.KeyValue(ctx, bus.TaskBucket)
		if err != nil {
			g.writeErr(w, r, fmt.Errorf("%w: %v", bus.ErrUnavailable, err))
			return
		}
		if watcher, err = kv.WatchAll(ctx, jetstream.UpdatesOnly(), jetstream.IgnoreDeletes()); err != nil {
			g.writeErr(w, r, fmt.Errorf("%w: %v", bus.ErrUnavailable, err))
			return
		}
		defer func() { _ = watcher.Stop() }()
	}
	sse := startSSE(w)
	defer sse.keepalive()()
	emitter := func(stream string) emitFunc {
		return func(id, name string, data []byte) error {
			if name == "" {
				name = bus.SSEMessage
			}
			b, err := json.Marshal(&bus.MuxEvent{Stream: stream, Event: name, ID: id, Data: json.RawMessage(data)})
			if err != nil {
				return err
			}
			return sse.send("", bus.SSEMux, b)
		}
	}
	var wg sync.WaitGroup
	for _, t := range tasks {
		wg.Go(func() { g.muxTask(ctx, t, emitter(bus.MuxTaskStream(t.id))) })
	}
	if watcher != nil {
		wg.Go(func() { _ = streamWatch(ctx, watcher, emitter(bus.MuxStreamWatch)) })
	}
	wg.Wait()
}

// muxTask streams one task of [Gateway.apiStreams].
func (g *Gateway) muxTask(ctx context.Context, t muxTask, emit emitFunc) {
	fail := func(err error) {
		b, _ := json.Marshal(bus.NewAPIError(err))
		_ = emit("", bus.SSEError, b)
	}
	if _, err := g.tasks.HeadSeq(ctx, t.id); err != nil {
		if ctx.Err() == nil {
			fail(err)
		}
		return
	}
	deltas, unsub, err := g.liveDeltas(t.id)
	if err != nil {
		fail(err)
		return
	}
	defer unsub()
	_ = g.streamTask(ctx, t.id, t.after, deltas, emit)
}
