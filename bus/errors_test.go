package bus

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestErrorCodesRoundTrip(t *testing.T) {
	t.Parallel()
	seen := map[ErrorCode]bool{}
	for _, code := range ErrorCodes() {
		if seen[code] {
			t.Errorf("code %s listed twice", code)
		}
		seen[code] = true
		s := code.Sentinel()
		if s == nil {
			t.Errorf("code %s has no sentinel", code)
			continue
		}
		if got := CodeOf(fmt.Errorf("wrapped: %w", s)); got != code {
			t.Errorf("CodeOf(%v) = %s, want %s", s, got, code)
		}
		if st := code.Status(); st < 400 || st > 599 {
			t.Errorf("code %s: status %d", code, st)
		}
		e := NewAPIError(fmt.Errorf("context: %w", s))
		if !errors.Is(e, s) || e.Code != code || e.Status != code.Status() || e.Message != "context: "+s.Error() {
			t.Errorf("NewAPIError(%v) = %+v", s, e)
		}
	}
	if got := CodeOf(errors.New("boom")); got != CodeInternal || CodeInternal.Status() != 500 || CodeInternal.Sentinel() != nil {
		t.Errorf("an error without sentinel: code %s", got)
	}
	if CodeNoEndpoint.Status() != 404 || CodeNoEndpoint.Sentinel() != nil {
		t.Errorf("no_endpoint: status %d sentinel %v", CodeNoEndpoint.Status(), CodeNoEndpoint.Sentinel())
	}
}

func TestParseReplyError(t *testing.T) {
	t.Parallel()
	reply := func(code, desc, body string) *nats.Msg {
		m := nats.NewMsg("_INBOX.x")
		m.Header.Set(HeaderServiceErrorCode, code)
		m.Header.Set(HeaderServiceError, desc)
		m.Data = []byte(body)
		return m
	}
	cases := []struct {
		name   string
		msg    *nats.Msg
		want   error
		code   ErrorCode
		status int
		text   string
	}{
		{"named code, body keeps line breaks", reply("call_not_found", "line one line two", `{"error":"line one\nline two","code":"call_not_found","status":404}`),
			ErrCallNotFound, CodeCallNotFound, 404, "line one\nline two"},
		{"named code, no body", reply("terminal", "task t already completed", ""), ErrTerminal, CodeTerminal, 409, "task t already completed"},
		{"body disagreeing with the header", reply("conflict", "from the header", `{"error":"from the body","code":"terminal"}`), ErrConflict, CodeConflict, 409, "from the header"},
		{"numeric code (micro's own)", reply("400", "bad", ""), ErrMalformed, CodeMalformed, 400, "bad"},
		{"unknown code", reply("weird", "something new", ""), nil, "weird", 500, "something new"},
	}
	for _, c := range cases {
		err := ParseReply(c.msg, nil)
		var e *APIError
		if !errors.As(err, &e) {
			t.Errorf("%s: %v is not an APIError", c.name, err)
			continue
		}
		if e.Code != c.code || e.Status != c.status || e.Message != c.text || (c.want != nil && !errors.Is(err, c.want)) || (c.want == nil && errors.Unwrap(err) != nil) {
			t.Errorf("%s: %+v, want code %s status %d message %q sentinel %v", c.name, e, c.code, c.status, c.text, c.want)
		}
	}
}

func TestParseHTTPError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status int
		body   string
		want   error
		code   ErrorCode
		text   string
	}{
		{404, `{"error":"unknown daemon \"x\"","code":"daemon_not_found","status":404}`, ErrDaemonNotFound, CodeDaemonNotFound, `unknown daemon "x"`},
		{415, `{"error":"send JSON","code":"malformed","status":415}`, ErrMalformed, CodeMalformed, "send JSON"},
		{502, "<html>bad gateway</html>", ErrUnavailable, CodeUnavailable, "<html>bad gateway</html>"},
		{404, "", nil, CodeInternal, "HTTP 404 Not Found"},
	}
	for _, c := range cases {
		e := ParseHTTPError(c.status, []byte(c.body))
		if e.Code != c.code || e.Status != c.status || e.Message != c.text || (c.want != nil && !errors.Is(e, c.want)) || (c.want == nil && e.Unwrap() != nil) {
			t.Errorf("%d %q: %+v, want code %s message %q sentinel %v", c.status, c.body, e, c.code, c.text, c.want)
		}
	}
}
