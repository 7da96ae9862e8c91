package mcpserver

import "testing"

func TestTaskURI(t *testing.T) {
	t.Parallel()
	for uri, want := range map[string]string{
		"viber://tasks/01ABC":          "01ABC",
		"viber://tasks/01ABC/events":   "01ABC",
		"viber://tasks/":               "",
		"viber://tasks/a.b":            "",
		"viber://tasks/01ABC/other":    "",
		"http://tasks/01ABC":           "",
		"viber://tasks/01ABC/events/x": "",
	} {
		got, ok := taskOfURI(uri)
		if ok != (want != "") || got != want {
			t.Errorf("taskOfURI(%q) = %q, %v; want %q", uri, got, ok, want)
		}
	}
	if _, ok := taskURI("viber://tasks/01ABC/events", ""); ok {
		t.Errorf("the events URI read as a summary URI")
	}
}

func TestNewNeedsAClient(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{}); err == nil {
		t.Error("New without a client succeeded")
	}
}
