package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Replays and tails read a task's log without a JetStream consumer:
// batched direct gets (server 2.11 or later) read what is stored, in stream
// order, and a core subscription to the task's subjects rings a doorbell
// when something may have been stored since. A credential that may read the
// log therefore needs no right to create consumers, which would let it
// create push consumers delivering the log to any subject in the account
// (nats-server checks no permission on a deliver subject). What the
// doorbell carries is never used: a publish it sees may have been refused
// by the stream; only what a direct get returns was stored.

// Tuning of a task reader.
const (
	// readBatch is how many messages one direct get returns at most.
	readBatch = 1024
	// readTimeout bounds one direct get (across a leaf link, too).
	readTimeout = 5 * time.Second
	// readPoll is how often a caught-up reader looks for new messages
	// without a ring (a ring can be lost while a link is cut or before
	// the subscription reached the server).
	readPoll = 2 * time.Second
	// readRetries is how many times a reader looks again, shortly (1 ms,
	// then twice as long each time), after a ring that found nothing new:
	// the ring can come before the stream stored the message.
	readRetries = 6
)

// errNoBatch means the server answered a batched direct get without its
// batch headers: it predates nats-server 2.11. Retrying does not help.
var errNoBatch = errors.New("direct get answer without Nats-Num-Pending: batched direct gets need nats-server 2.11 or later")

// storedMsg is one message of a task's log as stored.
type storedMsg struct {
	subject   string
	data      []byte
	streamSeq uint64
	// pending is how many messages of the task are stored after this one.
	pending uint64
}

// directGetRequest is the body of a batched direct get.
type directGetRequest struct {
	Seq        uint64 `json:"seq"`
	NextBySubj string `json:"next_by_subj"`
	Batch      int    `json:"batch"`
}

// replyChans are the reply channels of closed readers, for new ones: a
// channel holds a batch and the one asked ahead (16 KB of pointers), and a
// daemon opens a reader per task.
var replyChans = sync.Pool{New: func() any { return make(chan *nats.Msg, 2*readBatch+16) }}

// taskReader reads one task's messages in order from a stream sequence on.
type taskReader struct {
	nc      *nats.Conn
	subject string // the direct-get API subject of VIBER_TASKS
	filter  string
	next    uint64 // the next stream sequence to read from
	inbox   string
	replies chan *nats.Msg
	// subs are the subscriptions to the reply subjects of the batches
	// asked for and not read to their end (at most the current one and
	// the one asked for ahead). Each batch has its own literal reply
	// subject, so that a late answer to an abandoned batch is told apart,
	// and its subscription ends with it: literal subscriptions cost the
	// server little, where one wildcard subscription per reader made it
	// walk its subject cache at every subscribe and unsubscribe.
	subs    map[string]*nats.Subscription
	bell    chan struct{}
	bellSub *nats.Subscription
	n       int
	ahead   string // the reply subject of a batch asked for in advance
	buf     []storedMsg
	rang    bool
	misses  int
	// caughtUp: the last batch ended with the task's last stored message.
	// A following reader then waits for its doorbell instead of asking
	// again at once: the doorbell was subscribed before that batch was
	// asked for, so whatever is stored after it rings.
	caughtUp bool
}

// openReader opens a reader of task taskID from stream sequence from (1 for
// the whole log). With follow, it subscribes to the task's subjects as a
// doorbell, to notice new messages at once; ignore (optional) silences the
// bell for messages whose Nats-Msg-Id it knows (a writer's own appends,
// which it has already).
func (l *Log) openReader(taskID string, from uint64, follow bool, ignore func(msgID string) bool) (*taskReader, error) {
	nc := l.js.Conn()
	r := &taskReader{
		nc: nc, subject: jsAPIPrefix(l.js) + "DIRECT.GET." + TaskStream, filter: TaskFilter(taskID), next: max(from, 1),
		inbox: nc.NewInbox(), replies: replyChans.Get().(chan *nats.Msg),
	}
	r.subs = map[string]*nats.Subscription{}
	if follow {
		var err error
		r.bell = make(chan struct{}, 1)
		r.bellSub, err = nc.Subscribe(taskPrefix+taskID+".*.*", func(m *nats.Msg) {
			if ignore != nil && ignore(m.Header.Get(HeaderMsgID)) {
				return
			}
			select {
			case r.bell <- struct{}{}:
			default:
			}
		})
		if err != nil {
			return nil, fmt.Errorf("follow task %s: %w", taskID, err)
		}
	}
	return r, nil
}

// jsAPIPrefix is the JetStream API prefix js sends its requests to: that of
// its domain ($JS.<domain>.API.), its custom prefix, or $JS.API.
func jsAPIPrefix(js jetstream.JetStream) string {
	o := js.Options()
	switch {
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	case o.APIPrefix != "":
		return strings.TrimSuffix(o.APIPrefix, ".") + "."
	default:
		return jetstream.DefaultAPIPrefix
	}
}

// Close releases the reader's subscriptions.
func (r *taskReader) Close() {
	for reply, sub := range r.subs {
		_ = sub.Unsubscribe()
		delete(r.subs, reply)
	}
	if r.bellSub != nil {
		_ = r.bellSub.Unsubscribe()
		r.bellSub = nil
	}
	if r.replies == nil {
		return // closed before
	}
	// Nothing is delivered to the channel once its subscriptions are
	// gone: empty, it serves the next reader.
	for {
		select {
		case <-r.replies:
			continue
		default:
		}
		break
	}
	replyChans.Put(r.replies)
	r.replies = nil
}

// Next returns the next stored message, waiting for one when the reader is
// caught up. It retries what fails to reach the server (a cut link, a
// timeout) until ctx ends, and returns ctx's error then; a server too old
// for batched direct gets is an error at once.
func (r *taskReader) Next(ctx context.Context) (storedMsg, error) {
	for len(r.buf) == 0 {
		if r.caughtUp && r.bell != nil {
			r.caughtUp = false
			if err := r.wait(ctx); err != nil {
				return storedMsg{}, err
			}
		}
		batch, err := r.fetch(ctx)
		switch {
		case ctx.Err() != nil:
			return storedMsg{}, ctx.Err()
		case errors.Is(err, errNoBatch):
			return storedMsg{}, err
		case err != nil:
			if err := sleepUntil(ctx, readPoll/4); err != nil {
				return storedMsg{}, err
			}
		case len(batch) > 0:
			r.buf, r.rang, r.misses = batch, false, 0
		default:
			if err := r.wait(ctx); err != nil {
				return storedMsg{}, err
			}
		}
	}
	m := r.buf[0]
	r.buf = r.buf[1:]
	return m, nil
}

// wait blocks until new messages may be stored: shortly after a ring that
// found nothing yet, else until the next ring or poll.
func (r *taskReader) wait(ctx context.Context) error {
	if r.rang && r.misses < readRetries {
		r.misses++
		return sleepUntil(ctx, time.Duration(1<<(r.misses-1))*time.Millisecond)
	}
	r.rang, r.misses = false, 0
	t := time.NewTimer(readPoll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-r.bell:
		r.rang = true
	case <-t.C:
	}
	return nil
}

// request asks for the next batch, from r.next on, and returns the reply
// subject its answers come to.
func (r *taskReader) request() (string, error) {
	r.n++
	reply := r.inbox + "." + strconv.Itoa(r.n)
	body, err := json.Marshal(directGetRequest{Seq: r.next, NextBySubj: r.filter, Batch: readBatch})
	if err != nil {
		return "", err
	}
	sub, err := r.nc.ChanSubscribe(reply, r.replies)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", r.filter, err)
	}
	if err := r.nc.PublishRequest(r.subject, reply, body); err != nil {
		_ = sub.Unsubscribe()
		return "", fmt.Errorf("read %s: %w", r.filter, err)
	}
	r.subs[reply] = sub
	return reply, nil
}

// fetch reads the next batch of stored messages; none when caught up. When
// more are stored after the batch, it asks for the next one before
// returning, so that it is under way while the caller works.
func (r *taskReader) fetch(ctx context.Context) (_ []storedMsg, err error) {
	// A batch that does not end (a cut link, a timeout, an error status)
	// is asked for again from its start: what arrived of it is dropped,
	// never skipped.
	start := r.next
	defer func() {
		if err != nil {
			r.next = start
		}
	}()
	reply := r.ahead
	r.ahead = ""
	if reply == "" {
		var err error
		if reply, err = r.request(); err != nil {
			return nil, err
		}
	}
	defer func() {
		// This batch is over (read to its end or abandoned).
		if sub := r.subs[reply]; sub != nil {
			_ = sub.Unsubscribe()
			delete(r.subs, reply)
		}
	}()
	t := time.NewTimer(readTimeout)
	defer t.Stop()
	var out []storedMsg
	for {
		var m *nats.Msg
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
			return nil, fmt.Errorf("read %s: %w", r.filter, nats.ErrTimeout)
		case m = <-r.replies:
		}
		if m.Subject != reply {
			continue // a late answer to an earlier request
		}
		switch status := m.Header.Get("Status"); status {
		case "":
			sm, err := parseStored(m)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", r.filter, err)
			}
			if sm.streamSeq < r.next {
				continue // never go back (a duplicate answer)
			}
			out = append(out, sm)
			r.next = sm.streamSeq + 1
		case "204": // end of batch
			if n := len(out); n > 0 && out[n-1].pending > 0 {
				r.ahead, _ = r.request() // on failure, the next fetch asks again
			} else if n > 0 {
				r.caughtUp = true
			}
			return out, nil
		case "404": // nothing stored from r.next on
			return out, nil
		case "503":
			return nil, fmt.Errorf("read %s: %w", r.filter, nats.ErrNoResponders)
		default:
			return nil, fmt.Errorf("read %s: status %s %s", r.filter, status, m.Header.Get("Description"))
		}
	}
}

// parseStored takes a direct get's answer apart.
func parseStored(m *nats.Msg) (storedMsg, error) {
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return storedMsg{}, errors.New("direct get answer without a sequence")
	}
	pending, err := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
	if err != nil {
		return storedMsg{}, errNoBatch
	}
	return storedMsg{subject: m.Header.Get(jetstream.SubjectHeader), data: m.Data, streamSeq: seq, pending: pending}, nil
}

// sleepUntil waits d or until ctx ends.
func sleepUntil(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
