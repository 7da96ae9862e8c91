package bus

// A fold needs few fields of the events that carry the most bytes: a
// message's role and final flag but not its text, a tool result's call id
// but not its output, nothing of an input's text. lightDecode reads those
// payloads without copying the large strings, checking every top-level
// value's JSON type as encoding/json would; anything unusual (an unknown
// or differently-cased key, a null, escapes in a short field) falls back to
// encoding/json. The envelope decoder has already checked the payload is
// valid JSON.

// lightDecode returns the payload of ev for folding, or ok=false when the
// type has no light form or the data needs encoding/json.
func lightDecode(ev *Event) (p Payload, ok bool) {
	switch ev.Type {
	case TypeMessage:
		m := &Message{}
		ok = scanObject(ev.Data, func(key string, v []byte) bool {
			switch key {
			case "role":
				return plainString(v, &m.Role)
			case "text":
				return isString(v)
			case "final":
				return boolValue(v, &m.Final)
			}
			return false
		})
		return m, ok
	case TypeToolResult:
		r := &ToolResult{}
		ok = scanObject(ev.Data, func(key string, v []byte) bool {
			switch key {
			case "call_id":
				return plainString(v, &r.CallID)
			case "tool":
				return plainString(v, &r.Tool)
			case "output":
				return isString(v)
			case "is_error":
				return boolValue(v, &r.IsError)
			case "truncated":
				return boolValue(v, &r.Truncated)
			}
			return false
		})
		return r, ok
	case TypeInput:
		in := &Input{}
		ok = scanObject(ev.Data, func(key string, v []byte) bool {
			switch key {
			case "text":
				return isString(v)
			case "mode":
				return plainString(v, &in.Mode)
			case "by":
				return isString(v)
			}
			return false
		})
		return in, ok
	}
	return nil, false
}

// scanObject calls field for each key and raw value of a JSON object (known
// to be valid JSON) and reports whether the object is one and field
// accepted every member.
func scanObject(b []byte, field func(key string, v []byte) bool) bool {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return true
	}
	for i < len(b) {
		key, j, ok := plainBytes(b, i)
		if !ok {
			return false
		}
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		end, ok := skipValue(b, i)
		if !ok || !field(string(key), b[i:end]) {
			return false
		}
		i = skipWS(b, end)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return true
		default:
			return false
		}
	}
	return false
}

func isString(v []byte) bool { return len(v) >= 2 && v[0] == '"' }

// plainString sets *dst from a string without escapes (others fall back).
func plainString(v []byte, dst *string) bool {
	s, end, ok := plainBytes(v, 0)
	if !ok || end != len(v) {
		return false
	}
	*dst = string(s)
	return true
}

func boolValue(v []byte, dst *bool) bool {
	switch string(v) {
	case "true":
		*dst = true
		return true
	case "false":
		*dst = false
		return true
	}
	return false
}
