package bus_test

import (
	"encoding/json"
	"testing"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
)

const benchText = "Here is the summary you asked for: the build passes, two tests were flaky and are now fixed."

// benchTask creates a task as a gateway and claims it as daemon "bench",
// so that the messages the benchmarks append fit it.
func benchTask(b *testing.B, env *bustest.Env) string {
	task := bus.NewID()
	if _, err := env.Log.AppendPayload(b.Context(), task, bus.GatewaySource("bench"), &bus.Created{Goal: "g"}); err != nil {
		b.Fatal(err)
	}
	if _, err := env.Log.AppendPayload(b.Context(), task, bus.DaemonSource("bench"), &bus.Assigned{Daemon: "bench", Attempt: 1}); err != nil {
		b.Fatal(err)
	}
	return task
}

func BenchmarkAppend(b *testing.B) {
	env := bustest.Start(b, "", bus.SetupOptions{})
	ctx := b.Context()
	task := benchTask(b, env)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := env.Log.AppendPayload(ctx, task, bus.DaemonSource("bench"), &bus.Message{Role: "assistant", Text: benchText}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseEvent(b *testing.B) {
	ev, _ := bus.NewEvent(bus.NewID(), "viberd/bench", &bus.Message{Role: "assistant", Text: benchText})
	ev.Seq = 12
	body, _ := json.Marshal(ev)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bus.ParseEvent(body); err != nil {
			b.Fatal(err)
		}
	}
}

// replayEvents is the length of the task BenchmarkReplay reads.
const replayEvents = 10_000

func BenchmarkReplay(b *testing.B) {
	env := bustest.Start(b, "", bus.SetupOptions{})
	ctx := b.Context()
	task := benchTask(b, env)
	for range replayEvents - 2 {
		if _, err := env.Log.AppendPayload(ctx, task, bus.DaemonSource("bench"), &bus.Message{Role: "assistant", Text: benchText}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		n := 0
		for _, err := range env.Log.Replay(ctx, task, bus.ReplayOptions{}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != replayEvents {
			b.Fatalf("replayed %d", n)
		}
	}
	b.ReportMetric(float64(b.N*replayEvents)/b.Elapsed().Seconds(), "events/s")
}
