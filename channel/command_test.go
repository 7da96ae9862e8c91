package channel

import "testing"

func TestCommand(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, cmd, arg string }{
		{"hello", "", "hello"},
		{"/new", "/new", ""},
		{"/new@viber_bot write a poem", "/new", "write a poem"},
		{"!steer go left", "/steer", "go left"},
		{"/STOP", "/stop", ""},
		{"/steer\nline two", "/steer", "line two"},
		{"/unknown thing", "", "/unknown thing"},
		{"!!!", "", "!!!"},
	} {
		cmd, arg := command(c.in)
		if cmd != c.cmd || arg != c.arg {
			t.Errorf("command(%q) = %q, %q; want %q, %q", c.in, cmd, arg, c.cmd, c.arg)
		}
	}
}
