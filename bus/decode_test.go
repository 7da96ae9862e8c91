package bus

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// FuzzDecodeEnvelope checks that the hand-written fast path decodes exactly
// what encoding/json decodes, for any input it accepts.
func FuzzDecodeEnvelope(f *testing.F) {
	ev, _ := NewEvent("01HZZZZZZZZZZZZZZZZZZZZZZZ", "viberd/x", &Message{Role: "assistant", Text: "hi \"there\"\n{]"})
	ev.Seq = 7
	b, _ := json.Marshal(ev)
	f.Add(b)
	f.Add([]byte(`{"id":"a\u0041","seq":1,"data":{"x":[1,{"y":"}"}]},"extra":[true,null]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"time":null,"seq":12,"data":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast Event
		if !fastDecode(b, &fast, nil) {
			return
		}
		var slow Event
		if err := json.Unmarshal(b, &slow); err != nil {
			t.Fatalf("fast path accepted what encoding/json rejects: %q: %v", b, err)
		}
		fast.Time, slow.Time = fast.Time.UTC(), slow.Time.UTC()
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("decoders differ on %q:\nfast %+v\nslow %+v", b, fast, slow)
		}
	})
}

func TestDecodeEnvelopeRoundTrip(t *testing.T) {
	t.Parallel()
	ev, err := NewEvent("01HZZZZZZZZZZZZZZZZZZZZZZZ", "viberd/x", &Completed{Result: "a \"quoted\" result"})
	if err != nil {
		t.Fatal(err)
	}
	ev.Seq = 42
	b, _ := json.Marshal(ev)
	got, err := ParseEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != ev.ID || got.Seq != 42 || !got.Time.Equal(ev.Time) || string(got.Data) != string(ev.Data) || got.Type != TypeCompleted {
		t.Fatalf("round trip: %+v vs %+v", got, ev)
	}
	if _, err := ParseEvent([]byte(`{"specversion":"1.0","id":`)); err == nil {
		t.Fatal("truncated envelope accepted")
	}
	_ = time.Now
}
