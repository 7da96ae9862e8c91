package bus

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A batch whose answers stop coming part-way (the connection was cut after
// the server sent some of them) is asked for again from its start: the
// messages that did arrive before the timeout are not skipped. A reader
// that skipped them would hand its fold a log with a hole — a tail could
// then miss another daemon's claim and still win its compare-and-set.
func TestReaderRereadsABatchCutShort(t *testing.T) {
	t.Parallel()
	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	const task = "T1"
	// A stand-in for the server's direct get: the log of the task is
	// stream sequences 1..3; the first request's answer is cut after two
	// messages (no end-of-batch), later ones are answered in full.
	var mu sync.Mutex
	var asked []uint64
	respond := func(reply string, seq, pending uint64) {
		m := nats.NewMsg(reply)
		m.Header.Set(jetstream.SequenceHeader, strconv.FormatUint(seq, 10))
		m.Header.Set(jetstream.SubjectHeader, TaskEventSubject(task, GatewayWriter, TypeCreated))
		m.Header.Set("Nats-Num-Pending", strconv.FormatUint(pending, 10))
		m.Data = []byte(strconv.FormatUint(seq, 10))
		_ = nc.PublishMsg(m)
	}
	sub, err := nc.Subscribe(jetstream.DefaultAPIPrefix+"DIRECT.GET."+TaskStream, func(req *nats.Msg) {
		var r directGetRequest
		if err := json.Unmarshal(req.Data, &r); err != nil {
			t.Errorf("direct get request %q: %v", req.Data, err)
			return
		}
		mu.Lock()
		asked = append(asked, r.Seq)
		first := len(asked) == 1
		mu.Unlock()
		const last = 3
		for seq := r.Seq; seq <= last; seq++ {
			if first && seq == r.Seq+2 {
				return // cut: the rest of the batch never arrives
			}
			respond(req.Reply, seq, last-seq)
		}
		end := nats.NewMsg(req.Reply)
		end.Header.Set("Status", "204")
		_ = nc.PublishMsg(end)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	l := NewLog(js)
	r, err := l.openReader(task, 1, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*readTimeout)
	defer cancel()
	var got []uint64
	for len(got) < 3 {
		m, err := r.Next(ctx)
		if err != nil {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("after reading stream seqs %v: %v (requests from %v)", got, err, asked)
		}
		got = append(got, m.streamSeq)
	}
	for i, seq := range got {
		if seq != uint64(i+1) {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("the reader yielded stream seqs %v, want 1, 2, 3 (direct gets asked from %v): messages of a batch cut short were skipped", got, asked)
		}
	}
}
