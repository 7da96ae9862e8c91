package gateway

import (
	"slices"
	"testing"

	"github.com/viberhq/viber/bus"
)

// TestServiceMatchesWire checks that the micro service registers exactly
// the endpoints bus.APIEndpoints lists (the wire page is generated from
// it), each with its description.
func TestServiceMatchesWire(t *testing.T) {
	t.Parallel()
	r := newHTTPRig(t)
	desc := map[string]string{}
	var want, got []string
	for _, e := range bus.APIEndpoints() {
		desc[e.Subject()] = e.Description
		want = append(want, e.Subject())
	}
	for _, e := range r.g.svc.Info().Endpoints {
		got = append(got, e.Subject)
		if d, ok := desc[e.Subject]; ok && e.Metadata["description"] != d {
			t.Errorf("%s: description %q, want %q", e.Subject, e.Metadata["description"], d)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the service registers %v, bus.APIEndpoints lists %v", got, want)
	}
}
