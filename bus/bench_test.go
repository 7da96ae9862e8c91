package bus_test

import (
	"encoding/json"
	"testing"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/bus/bustest"
)

const benchText = "Here is the summary you asked for: the build passes, two tests were flaky and are now fixed."

func BenchmarkAppend(b *testing.B) {
	env := bustest.Start(b, "", bus.SetupOptions{})
	ctx := b.Context()
	task := bus.NewID()
	if _, err := env.Log.AppendPayload(ctx, task, "bench", &bus.Created{Goal: "g"}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := env.Log.AppendPayload(ctx, task, "bench", &bus.Message{Role: "assistant", Text: benchText}); err != nil {
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

func BenchmarkReplay(b *testing.B) {
	env := bustest.Start(b, "", bus.SetupOptions{})
	ctx := b.Context()
	task := bus.NewID()
	if _, err := env.Log.AppendPayload(ctx, task, "bench", &bus.Created{Goal: "g"}); err != nil {
		b.Fatal(err)
	}
	for range 999 {
		if _, err := env.Log.AppendPayload(ctx, task, "bench", &bus.Message{Role: "assistant", Text: benchText}); err != nil {
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
		if n != 1000 {
			b.Fatalf("replayed %d", n)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}
