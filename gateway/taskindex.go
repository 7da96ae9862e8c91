package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
)

// taskIndex keeps every task summary in memory, newest first, fed by a
// watch of the summaries bucket: a page of the task list then costs a scan
// of memory instead of a read of the whole bucket (which took most of a
// second per page at 10,000 tasks).
//
// A list is as fresh as the bucket: before answering, the index waits
// until it has seen the bucket's last revision, so a task listed right
// after its summary was written is there.
type taskIndex struct {
	kv jetstream.KeyValue

	mu     sync.Mutex
	cond   *sync.Cond
	byID   map[string]*bus.Summary
	sorted []*bus.Summary // newest first; nil when it must be rebuilt
	rev    uint64         // the last bucket revision seen
	live   bool           // the watch delivered what the bucket held
	err    error          // why the watch ended
}

func newTaskIndex(kv jetstream.KeyValue) *taskIndex {
	x := &taskIndex{kv: kv, byID: map[string]*bus.Summary{}}
	x.cond = sync.NewCond(&x.mu)
	return x
}

// run follows the bucket until ctx ends.
func (x *taskIndex) run(ctx context.Context) {
	err := x.watch(ctx)
	x.mu.Lock()
	x.err = err
	if x.err == nil {
		x.err = ctx.Err()
	}
	x.cond.Broadcast()
	x.mu.Unlock()
}

func (x *taskIndex) watch(ctx context.Context) error {
	w, err := x.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch task summaries: %w", err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("watch task summaries: %w", bus.ErrUnavailable)
			}
			x.apply(e)
		}
	}
}

// apply folds one entry of the watch (nil marks the end of the initial
// values).
func (x *taskIndex) apply(e jetstream.KeyValueEntry) {
	x.mu.Lock()
	defer x.mu.Unlock()
	defer x.cond.Broadcast()
	if e == nil {
		x.live = true
		return
	}
	if e.Revision() > x.rev {
		x.rev = e.Revision()
	}
	if e.Operation() != jetstream.KeyValuePut {
		delete(x.byID, e.Key())
		x.sorted = nil
		return
	}
	var s bus.Summary
	if json.Unmarshal(e.Value(), &s) != nil {
		return
	}
	// Readers may hold the old order: build a new one at the next list.
	x.sorted = nil
	x.byID[s.ID] = &s
}

// list returns every summary, newest first, once the index holds what the
// bucket held when list was called. The slice is shared: do not change it.
func (x *taskIndex) list(ctx context.Context) ([]*bus.Summary, error) {
	last, err := x.lastRevision(ctx)
	if err != nil {
		return nil, err
	}
	// Wake the wait below when ctx ends or after a while.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		x.mu.Lock()
		x.cond.Broadcast()
		x.mu.Unlock()
	})
	defer stop()
	x.mu.Lock()
	defer x.mu.Unlock()
	for !x.live || x.rev < last {
		if x.err != nil {
			return nil, x.err
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("list tasks: the index did not catch up with the bucket: %w", bus.ErrUnavailable)
		}
		x.cond.Wait()
	}
	if x.sorted == nil {
		x.sorted = make([]*bus.Summary, 0, len(x.byID))
		for _, s := range x.byID {
			x.sorted = append(x.sorted, s)
		}
		sort.Slice(x.sorted, func(i, j int) bool { return x.sorted[i].ID > x.sorted[j].ID })
	}
	return x.sorted, nil
}

// lastRevision asks the bucket for the revision of its latest write.
func (x *taskIndex) lastRevision(ctx context.Context) (uint64, error) {
	st, err := x.kv.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("list tasks: %w: %v", bus.ErrUnavailable, err)
	}
	if b, ok := st.(interface{ StreamInfo() *jetstream.StreamInfo }); ok && b.StreamInfo() != nil {
		return b.StreamInfo().State.LastSeq, nil
	}
	return 0, nil
}

// listSummaries returns every task summary, newest first: from the index
// once the gateway started it, else read from the bucket.
func (g *Gateway) listSummaries(ctx context.Context) ([]*bus.Summary, error) {
	if g.index != nil {
		return g.index.list(ctx)
	}
	return g.summaries.List(ctx)
}

// startIndex starts the task index; it runs until ctx ends or the gateway
// stops.
func (g *Gateway) startIndex(ctx context.Context) error {
	kv, err := g.js.KeyValue(ctx, bus.TaskBucket)
	if err != nil {
		return fmt.Errorf("gateway: task index: %w", err)
	}
	x := newTaskIndex(kv)
	ictx, cancel := context.WithCancel(ctx)
	g.wg.Add(2)
	go func() {
		defer g.wg.Done()
		select {
		case <-g.stop:
		case <-ictx.Done():
		}
		cancel()
	}()
	go func() {
		defer g.wg.Done()
		x.run(ictx)
	}()
	g.index = x
	return nil
}
