package bus

import (
	"encoding/json"
	"testing"
)

// The light decoder agrees with encoding/json on every field a fold reads,
// and gives up (falls back) on anything it does not handle itself.
func TestLightDecodeAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		typ      Type
		data     string
		fallback bool
	}{
		{TypeMessage, `{"role":"assistant","text":"hi \"there\"\n","final":true}`, false},
		{TypeMessage, `{"role":"user","text":""}`, false},
		{TypeMessage, ` { "text" : "x" , "role" : "assistant" } `, false},
		{TypeMessage, `{"role":"assistant","text":5}`, true},
		{TypeMessage, `{"role":"assistant","text":"x","final":"yes"}`, true},
		{TypeMessage, `{"Role":"assistant","text":"x"}`, true},
		{TypeMessage, `{"role":null,"text":"x"}`, true},
		{TypeMessage, `{"role":"assistant","text":"x","extra":{"a":[1,2]}}`, true},
		{TypeToolResult, `{"call_id":"c1","tool":"shell","output":"a\u0000b","is_error":true,"truncated":false}`, false},
		{TypeToolResult, `{"call_id":"c\u00e91","tool":"shell","output":"x"}`, true},
		{TypeInput, `{"text":"more","mode":"steer","by":"ann"}`, false},
		{TypeInput, `[]`, true},
		{TypePlan, `{"items":[]}`, true},
	}
	for _, c := range cases {
		ev := &Event{Type: c.typ, Data: json.RawMessage(c.data)}
		light, ok := lightDecode(ev)
		if ok == c.fallback {
			t.Errorf("%s %s: light decode ok=%v, want %v", c.typ, c.data, ok, !c.fallback)
			continue
		}
		if !ok {
			continue
		}
		full, err := ev.Decode()
		if err != nil {
			t.Errorf("%s %s: light decode accepted what encoding/json refuses: %v", c.typ, c.data, err)
			continue
		}
		switch l := light.(type) {
		case *Message:
			f := full.(*Message)
			if l.Role != f.Role || l.Final != f.Final {
				t.Errorf("%s: light %+v, full %+v", c.data, l, f)
			}
		case *ToolResult:
			f := full.(*ToolResult)
			if l.CallID != f.CallID || l.Tool != f.Tool || l.IsError != f.IsError || l.Truncated != f.Truncated {
				t.Errorf("%s: light %+v, full %+v", c.data, l, f)
			}
		case *Input:
			if f := full.(*Input); l.Mode != f.Mode {
				t.Errorf("%s: light %+v, full %+v", c.data, l, f)
			}
		}
	}
}
