package bus

import (
	"encoding/json"
	"fmt"
	"strings"
)

// decodeEnvelope fills e from the JSON of an envelope. It is the hot path of
// every replay, so it scans the common shape (attribute strings without
// escapes) by hand and falls back to encoding/json for anything else; both
// paths accept the same documents.
func decodeEnvelope(b []byte, e *Event, h *hints) error {
	if fastDecode(b, e, h) {
		return nil
	}
	*e = Event{}
	if err := json.Unmarshal(b, e); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// hints let a decoder of many events of one task reuse the strings they
// share instead of allocating them again.
type hints struct {
	subject, source string
}

func (h *hints) intern(s []byte, prev *string) string {
	if string(s) == *prev {
		return *prev
	}
	*prev = string(s)
	return *prev
}

func fastDecode(b []byte, e *Event, h *hints) bool {
	if h == nil {
		h = &hints{}
	}
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipWS(b, i+1) == len(b)
	}
	for i < len(b) {
		keyb, j, ok := plainBytes(b, i)
		key := keyName(keyb)
		if !ok {
			return false
		}
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return false
		}
		switch key {
		case "specversion", "id", "type", "source", "subject", "datacontenttype", "time":
			if b[i] == 'n' { // null leaves the zero value, as encoding/json does
				if !strings.HasPrefix(string(b[i:min(i+4, len(b))]), "null") {
					return false
				}
				i += 4
				break
			}
			s, j, ok := plainBytes(b, i)
			if !ok {
				return false
			}
			switch key {
			case "specversion":
				if string(s) == SpecVersion {
					e.SpecVersion = SpecVersion
				} else {
					e.SpecVersion = string(s)
				}
			case "id":
				e.ID = string(s)
			case "type":
				if _, known := payloadFactories[Type(s)]; known {
					e.Type = knownTypes[string(s)]
				} else {
					e.Type = Type(s)
				}
			case "source":
				e.Source = h.intern(s, &h.source)
			case "subject":
				e.Subject = h.intern(s, &h.subject)
			case "datacontenttype":
				if string(s) == ContentType {
					e.DataContentType = ContentType
				} else {
					e.DataContentType = string(s)
				}
			case "time":
				if err := e.Time.UnmarshalJSON(b[i:j]); err != nil {
					return false
				}
			}
			i = j
		case "seq":
			j := i
			if b[i] == '0' && i+1 < len(b) && b[i+1] >= '0' && b[i+1] <= '9' {
				return false // leading zeros are not JSON
			}
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			if j == i || j-i > 19 {
				return false
			}
			var n uint64
			for _, c := range b[i:j] {
				n = n*10 + uint64(c-'0')
			}
			e.Seq, i = n, j
		case "data":
			j, ok := skipValue(b, i)
			if !ok || !json.Valid(b[i:j]) {
				return false
			}
			e.Data = json.RawMessage(b[i:j])
			i = j
		default:
			// Unknown or differently-cased keys: let encoding/json decide.
			return false
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return skipWS(b, i+1) == len(b)
		default:
			return false
		}
	}
	return false
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// plainBytes reads an ASCII string without escapes or control characters
// starting at b[i] == '"'.
func plainBytes(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, i, false
		}
	}
	return nil, i, false
}

// keyName maps an envelope key to its constant name without allocating;
// anything else becomes "" (unknown).
func keyName(b []byte) string {
	switch string(b) {
	case "specversion":
		return "specversion"
	case "id":
		return "id"
	case "type":
		return "type"
	case "source":
		return "source"
	case "subject":
		return "subject"
	case "time":
		return "time"
	case "datacontenttype":
		return "datacontenttype"
	case "seq":
		return "seq"
	case "data":
		return "data"
	}
	return ""
}

var knownTypes = func() map[string]Type {
	m := map[string]Type{}
	for t := range payloadFactories {
		m[string(t)] = t
	}
	return m
}()

// skipValue returns the end of the JSON value starting at b[i]. It checks
// structure (brackets, strings) but not every token: encoding/json validates
// the payload when it is decoded.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1, true
			}
		}
		return i, false
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := skipValue(b, j)
				if !ok {
					return i, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return i, false
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
			j++
		}
		if j == i {
			return i, false
		}
		return j, true
	}
}
