package schemagen

import "testing"

func TestUnescapeHTML(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`"vibergw/\u003cid\u003e"`: `"vibergw/<id>"`,
		`"a \u0026 b"`:             `"a & b"`,
		`"\\u003c"`:                `"\\u003c"`, // an escaped backslash, then text
		`"\\\u003c"`:               `"\\<"`,
		`"\u00e9\n\""`:             `"\u00e9\n\""`,
	} {
		if got := string(unescapeHTML([]byte(in))); got != want {
			t.Errorf("unescapeHTML(%s) = %s, want %s", in, got, want)
		}
	}
}
