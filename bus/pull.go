package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// pullNextSubject is where a pull request for the next messages of durable
// consumer consumer on stream is sent, with api from jsAPIPrefix
// (JetStream's own API subject; daemons pull their work there).
func pullNextSubject(api, stream, consumer string) string {
	return api + "CONSUMER.MSG.NEXT." + stream + "." + consumer
}

// WorkMsg is an assignment pulled by [PullWork], with the acknowledgements
// a daemon sends for it.
type WorkMsg struct {
	nc  *nats.Conn
	msg *nats.Msg
}

// Data is the assignment's body (see [ParseAssignment]).
func (m *WorkMsg) Data() []byte { return m.msg.Data }

// Subject is the work subject it was queued on.
func (m *WorkMsg) Subject() string { return m.msg.Subject }

// Headers are its headers (the submit's trace).
func (m *WorkMsg) Headers() nats.Header { return m.msg.Header }

// Delivered is how many times it has been delivered, this time included
// (1 when unknown).
func (m *WorkMsg) Delivered() int {
	if md, err := m.msg.Metadata(); err == nil && md.NumDelivered > 0 {
		return int(md.NumDelivered)
	}
	return 1
}

// Pending is how many more messages the consumer had for delivery when
// this one was delivered.
func (m *WorkMsg) Pending() uint64 {
	if md, err := m.msg.Metadata(); err == nil {
		return md.NumPending
	}
	return 0
}

// InProgress resets its ack wait: the task still runs.
func (m *WorkMsg) InProgress() error { return m.nc.Publish(m.msg.Reply, []byte("+WPI")) }

// Nak gives it back for delivery at once.
func (m *WorkMsg) Nak() error { return m.nc.Publish(m.msg.Reply, []byte("-NAK")) }

// NakWithDelay gives it back for delivery after delay.
func (m *WorkMsg) NakWithDelay(delay time.Duration) error {
	return m.nc.Publish(m.msg.Reply, []byte(`-NAK {"delay":`+strconv.FormatInt(delay.Nanoseconds(), 10)+`}`))
}

// Term drops it for good (a malformed assignment).
func (m *WorkMsg) Term() error { return m.nc.Publish(m.msg.Reply, []byte("+TERM")) }

// Ack acknowledges it without waiting for the server.
func (m *WorkMsg) Ack() error { return m.nc.Publish(m.msg.Reply, []byte("+ACK")) }

// DefaultPullHeartbeat is the longest interval at which the server
// heartbeats a waiting pull unless [PullWork] is given another. A pull
// held by a NATS node that dies (the consumer's leader, or the node the
// daemon was connected to) gets no answer and no error: two missed
// heartbeats are how the daemon notices and pulls again from the
// consumer's new leader.
const DefaultPullHeartbeat = 5 * time.Second

// errPullLost means a long pull's heartbeats stopped (a server restart, a
// cut link): the caller pulls again.
var errPullLost = errors.New("pull lost: no heartbeat from the server")

// PullWork waits up to wait for up to batch assignments of durable work
// consumer consumer (see [DaemonWorkConsumer], [AnyWorkConsumer]) through
// js (its domain's API for an edge daemon), and calls deliver with each as
// it arrives (in PullWork's goroutine; deliver must not block). It returns
// how many it delivered when the wait ends or batch were delivered. A pull
// of 10 s or more is heartbeated by the server every third of it, or every
// heartbeat if that is shorter (0: [DefaultPullHeartbeat]), and one whose
// heartbeats stop ends with an error.
//
// Unlike a fetch given up early, a pull that stop (or ctx) ends loses
// nothing: PullWork withdraws the request's interest, waits until the
// server has seen that, and delivers what arrived meanwhile. The caller,
// which reserved room for batch assignments before pulling, runs them
// (or, stopping, gives them back). So a daemon never holds an assignment
// it has no slot for, and never leaves one to its ack wait.
func PullWork(ctx context.Context, js jetstream.JetStream, consumer string, batch int, wait, heartbeat time.Duration, stop <-chan struct{}, deliver func(*WorkMsg)) (int, error) {
	nc := js.Conn()
	req := struct {
		Batch     int           `json:"batch"`
		Expires   time.Duration `json:"expires"`
		Heartbeat time.Duration `json:"idle_heartbeat,omitempty"`
	}{Batch: batch, Expires: wait}
	if wait >= 10*time.Second {
		if heartbeat <= 0 {
			heartbeat = DefaultPullHeartbeat
		}
		req.Heartbeat = min(wait/3, heartbeat)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	ch := make(chan *nats.Msg, batch+64)
	inbox := nc.NewInbox()
	sub, err := nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return 0, fmt.Errorf("pull work from %s: %w", consumer, err)
	}
	closed := sub.StatusChanged(nats.SubscriptionClosed)
	if err := nc.PublishRequest(pullNextSubject(jsAPIPrefix(js), WorkStream, consumer), inbox, body); err != nil {
		_ = sub.Unsubscribe()
		return 0, fmt.Errorf("pull work from %s: %w", consumer, err)
	}
	// The server ends the request itself at its expiry (408); this guard
	// only covers a lost request without heartbeats.
	guard := time.NewTimer(wait + 2*time.Second)
	defer guard.Stop()
	var hb <-chan time.Time
	var hbTimer *time.Timer
	if req.Heartbeat > 0 {
		hbTimer = time.NewTimer(2 * req.Heartbeat)
		defer hbTimer.Stop()
		hb = hbTimer.C
	}
	n := 0
	for {
		select {
		case m := <-ch:
			if hbTimer != nil {
				hbTimer.Reset(2 * req.Heartbeat)
			}
			w, done, err := workReply(nc, m)
			if w != nil {
				n++
				deliver(w)
				done = n == batch
			}
			if done || err != nil {
				_ = sub.Unsubscribe() // the request is over: nothing more comes
				return n, err
			}
		case <-stop:
			return n + drainPull(nc, sub, ch, closed, deliver), nil
		case <-ctx.Done():
			return n + drainPull(nc, sub, ch, closed, deliver), nil
		case <-guard.C:
			return n + drainPull(nc, sub, ch, closed, deliver), nil
		case <-hb:
			return n + drainPull(nc, sub, ch, closed, deliver), errPullLost
		}
	}
}

// workReply reads one reply to a pull request: an assignment, the end of
// the request (done), or a heartbeat (neither).
func workReply(nc *nats.Conn, m *nats.Msg) (w *WorkMsg, done bool, err error) {
	switch m.Header.Get("Status") {
	case "":
		if !strings.HasPrefix(m.Reply, "$JS.ACK.") {
			return nil, false, nil
		}
		return &WorkMsg{nc: nc, msg: m}, false, nil
	case "100": // idle heartbeat
		return nil, false, nil
	case "404", "408": // no messages, request expired
		return nil, true, nil
	default:
		return nil, true, fmt.Errorf("pull work: %s %s", m.Header.Get("Status"), m.Header.Get("Description"))
	}
}

// drainPull withdraws a pull request's interest, waits until the server has
// processed that (so nothing more can be delivered to it) and delivers what
// arrived before; it returns how many.
func drainPull(nc *nats.Conn, sub *nats.Subscription, ch chan *nats.Msg, closed <-chan nats.SubStatus, deliver func(*WorkMsg)) int {
	if err := sub.Drain(); err == nil {
		t := time.NewTimer(10 * time.Second)
		select {
		case <-closed:
		case <-t.C:
		}
		t.Stop()
	} else {
		_ = sub.Unsubscribe()
	}
	n := 0
	for {
		select {
		case m := <-ch:
			if w, _, _ := workReply(nc, m); w != nil {
				n++
				deliver(w)
			}
		default:
			return n
		}
	}
}
