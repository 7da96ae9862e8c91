package bus_test

import (
	"fmt"
	"testing"

	"github.com/viberhq/viber/bus"
)

// TestListTasksPage walks a list page by page with the cursor: every task
// that matches once, newest first, with the same total on every page.
func TestListTasksPage(t *testing.T) {
	t.Parallel()
	var all []*bus.Summary // newest first, as Summaries.List gives them
	for i := 99; i >= 0; i-- {
		st := bus.StateCompleted
		if i%3 == 0 {
			st = bus.StateFailed
		}
		all = append(all, &bus.Summary{ID: fmt.Sprintf("T%03d", i), Goal: fmt.Sprintf("Goal %d: tidy the LOGS", i), State: st, Daemon: fmt.Sprintf("d%d", i%2)})
	}
	for _, tc := range []struct {
		name  string
		req   bus.ListTasksRequest
		total int
	}{
		{"all", bus.ListTasksRequest{Limit: 7}, 100},
		{"state", bus.ListTasksRequest{State: bus.StateFailed, Limit: 5}, 34},
		{"daemon and query", bus.ListTasksRequest{Daemon: "d1", Query: "logs", Limit: 10}, 50},
		{"query", bus.ListTasksRequest{Query: "goal 4", Limit: 3}, 11},
		{"one page", bus.ListTasksRequest{Query: "goal 42:"}, 1},
		{"none", bus.ListTasksRequest{Query: "nothing"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := tc.req
			var got []string
			for pages := 0; ; pages++ {
				page := req.Page(all)
				if page.Total != tc.total {
					t.Fatalf("page %d: total %d, want %d", pages, page.Total, tc.total)
				}
				limit := req.Limit
				if limit == 0 {
					limit = bus.DefaultListLimit
				}
				if len(page.Tasks) > limit || (page.Next != "" && len(page.Tasks) != limit) {
					t.Fatalf("page %d: %d tasks with limit %d and next %q", pages, len(page.Tasks), limit, page.Next)
				}
				for _, s := range page.Tasks {
					if !req.Matches(s) {
						t.Fatalf("page %d holds %s, which does not match", pages, s.ID)
					}
					if len(got) > 0 && s.ID >= got[len(got)-1] {
						t.Fatalf("page %d: %s after %s, want newest first, each once", pages, s.ID, got[len(got)-1])
					}
					got = append(got, s.ID)
				}
				if page.Next == "" {
					break
				}
				if page.Next != page.Tasks[len(page.Tasks)-1].ID {
					t.Fatalf("next is %q, want the last task of the page", page.Next)
				}
				req.Before = page.Next
			}
			if len(got) != tc.total {
				t.Fatalf("the pages hold %d tasks, want %d", len(got), tc.total)
			}
		})
	}
}
