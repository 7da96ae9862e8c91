package bench

import (
	"context"
	"sync"
	"testing"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/server"
	"github.com/viberhq/viber/client"
)

// BenchmarkMessagesPerTask runs trivial tasks with 20 concurrent
// submitters against an embedded server (the gateway and daemon of
// `viber bench`) and reports the messages the server received and sent
// per task, in all and for the gateway's and the daemon's connections:
// what a task costs the server, counted rather than timed.
//
//	go test ./bench -run x -bench MessagesPerTask -benchtime 2000x
func BenchmarkMessagesPerTask(b *testing.B) {
	srv, err := server.Start(server.Options{Dir: b.TempDir(), Listen: "127.0.0.1:0", Domain: "hub"})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	ctx := context.Background()
	stop, err := startViber(ctx, srv.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	nc, err := bus.Connect(bus.ConnectOptions{URL: srv.ClientURL(), Name: "viber-bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	cl, err := client.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	ended := map[string]chan struct{}{}
	endOf := func(id string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		ch := ended[id]
		if ch == nil {
			ch = make(chan struct{})
			ended[id] = ch
		}
		return ch
	}
	sub, err := nc.Subscribe(bus.TaskEventSubject("*", "*", bus.TypeCompleted), func(m *nats.Msg) {
		close(endOf(bus.TaskIDFromSubject(m.Subject)))
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	run := func(n int) {
		next := make(chan struct{}, n)
		for range n {
			next <- struct{}{}
		}
		close(next)
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				for range next {
					s, err := cl.CreateTask(ctx, &bus.CreateTaskRequest{Goal: "benchmark"})
					if err != nil {
						b.Error(err)
						return
					}
					<-endOf(s.ID)
				}
			})
		}
		wg.Wait()
	}
	run(100) // warm up
	counts := func() (in, out int64, conns map[string]int64) {
		vz, _ := srv.NATS().Varz(nil)
		cz, _ := srv.NATS().Connz(&natsserver.ConnzOptions{})
		conns = map[string]int64{}
		for _, c := range cz.Conns {
			conns[c.Name] += c.InMsgs
		}
		return vz.InMsgs, vz.OutMsgs, conns
	}
	in0, out0, c0 := counts()
	b.ResetTimer()
	run(b.N)
	b.StopTimer()
	in1, out1, c1 := counts()
	per := func(d int64) float64 { return float64(d) / float64(b.N) }
	b.ReportMetric(per(in1-in0), "in_msgs/task")
	b.ReportMetric(per(out1-out0), "out_msgs/task")
	b.ReportMetric(per(c1["vibergw"]-c0["vibergw"]), "gateway_msgs/task")
	b.ReportMetric(per(c1["viberd-bench"]-c0["viberd-bench"]), "daemon_msgs/task")
}
