package command

import (
	"strings"
	"testing"

	"github.com/viberhq/viber/bus"
)

// TestUserErrorSaysWhatToDo checks that an API error's exit message ends
// with advice when the gateway's message had none, and keeps the gateway's
// own advice otherwise.
func TestUserErrorSaysWhatToDo(t *testing.T) {
	t.Parallel()
	cases := []struct {
		code bus.ErrorCode
		msg  string
		want string
	}{
		{bus.CodeTaskNotFound, "task 01X: task not found", "`viber task ls`"},
		{bus.CodeDaemonNotFound, "daemon d1: daemon not found", "`viber daemon ls`"},
		{bus.CodeCallNotFound, "call c1: call not found", "`viber task show ID`"},
		{bus.CodeTerminal, "task 01X already completed: task already ended", "`viber task send ID TEXT`"},
		{bus.CodeConflict, "the log kept changing: task log write conflict", "try again"},
		{bus.CodeUnauthorized, "unauthorized", "--creds"},
		{bus.CodeDaemonNotFound, "unknown daemon \"x\" (`viber daemon ls` lists daemons): daemon not found", "(`viber daemon ls` lists daemons): daemon not found"},
	}
	for _, c := range cases {
		err := userError(&bus.APIError{Code: c.code, Message: c.msg})
		got := err.Error()
		if !strings.HasPrefix(got, "viber: "+c.msg) || !strings.Contains(got, c.want) || strings.Count(got, "`viber") > 1 {
			t.Errorf("%s: %q, want the message and %q once", c.code, got, c.want)
		}
	}
}
