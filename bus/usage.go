package bus

import (
	"fmt"
	"sort"
	"time"
)

// Token usage and cost per day: the sums of the task summaries' [Usage]
// over UTC days, answered by [APITaskUsage] and [RouteUsage].
//
// A task counts on the UTC day it was created ([Summary.CreatedAt]), with
// all of its usage so far: a conversation continued on a later day stays
// on its first day, and a day's sums grow while its tasks run. Child tasks
// count on their own (a parent's usage holds only its own turns).

const (
	// APITaskUsage sums usage and cost per UTC day ([UsageRequest] →
	// [UsageResponse]).
	APITaskUsage = "usage"
	// RouteUsage answers a [UsageResponse] (?days=, [UsageRequest]'s Days).
	RouteUsage = "GET /api/usage"
	// QueryDays is the parameter of [RouteUsage]: how many days.
	QueryDays = "days"
	// DefaultUsageDays is how many days a [UsageRequest] without Days
	// covers.
	DefaultUsageDays = 30
	// MaxUsageDays is the most days one [UsageRequest] may cover.
	MaxUsageDays = 366
	// UsageDayLayout is how a [UsageDay] names its day (UTC).
	UsageDayLayout = "2006-01-02"
)

// UsageRequest asks for token usage and cost per UTC day.
type UsageRequest struct {
	// Days is how many UTC days to cover, today included (default 30, at
	// most 366).
	Days int `json:"days,omitempty"`
}

// Check says why the request cannot be answered.
func (r *UsageRequest) Check() error {
	if r.Days < 0 || r.Days > MaxUsageDays {
		return fmt.Errorf("%w: days is %d; ask for 1 to %d days (0: %d)", ErrMalformed, r.Days, MaxUsageDays, DefaultUsageDays)
	}
	return nil
}

// ModelUsage is the usage of the tasks that ran on one model.
type ModelUsage struct {
	// Model is the provider/model of the tasks' latest started turn ("" when
	// none started); a task's whole usage counts under it.
	Model string `json:"model"`
	// Tasks counts the tasks.
	Tasks int   `json:"tasks"`
	Usage Usage `json:"usage"`
}

// UsageDay is the usage of the tasks created on one UTC day.
type UsageDay struct {
	// Day is the UTC day, as 2006-01-02.
	Day string `json:"day"`
	// Tasks counts the tasks created that day.
	Tasks int   `json:"tasks"`
	Usage Usage `json:"usage"`
	// Unpriced counts the day's tasks with tokens but no cost (their
	// daemons had no price for the model): the day's cost leaves them out.
	Unpriced int `json:"unpriced,omitempty"`
	// Models splits the day by model, most tokens first.
	Models []ModelUsage `json:"models,omitempty"`
}

// UsageResponse is token usage and cost per UTC day, for every day of the
// range (days without tasks too), oldest first.
type UsageResponse struct {
	// From and To are the first and the last day (UTC, 2006-01-02; To is
	// today).
	From string     `json:"from"`
	To   string     `json:"to"`
	Days []UsageDay `json:"days"`
	// Total sums the days (its Day is empty; its Models split the whole
	// range by model).
	Total UsageDay `json:"total"`
}

// SumUsage sums the usage of the summaries created in the days UTC days
// up to and including now's (days <= 0: [DefaultUsageDays]), per day and
// per model.
func SumUsage(summaries []*Summary, now time.Time, days int) *UsageResponse {
	if days <= 0 {
		days = DefaultUsageDays
	}
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	first := today.AddDate(0, 0, -(days - 1))
	out := &UsageResponse{From: first.Format(UsageDayLayout), To: today.Format(UsageDayLayout), Days: make([]UsageDay, days)}
	index := map[string]int{}
	for i := range out.Days {
		d := first.AddDate(0, 0, i).Format(UsageDayLayout)
		out.Days[i].Day = d
		index[d] = i
	}
	type key struct {
		day   int
		model string
	}
	models := map[key]*ModelUsage{}
	total := map[string]*ModelUsage{}
	for _, s := range summaries {
		i, ok := index[s.CreatedAt.UTC().Format(UsageDayLayout)]
		if !ok {
			continue
		}
		d := &out.Days[i]
		d.Tasks++
		d.Usage.Add(&s.Usage)
		if s.Usage.CostUSD == 0 && (s.Usage.InputTokens > 0 || s.Usage.OutputTokens > 0) {
			d.Unpriced++
		}
		if s.Usage.IsZero() {
			continue
		}
		k := key{i, s.Model}
		if models[k] == nil {
			models[k] = &ModelUsage{Model: s.Model}
		}
		models[k].Tasks++
		models[k].Usage.Add(&s.Usage)
		if total[s.Model] == nil {
			total[s.Model] = &ModelUsage{Model: s.Model}
		}
		total[s.Model].Tasks++
		total[s.Model].Usage.Add(&s.Usage)
	}
	for k, m := range models {
		out.Days[k.day].Models = append(out.Days[k.day].Models, *m)
	}
	for i := range out.Days {
		d := &out.Days[i]
		sortModels(d.Models)
		out.Total.Tasks += d.Tasks
		out.Total.Unpriced += d.Unpriced
		out.Total.Usage.Add(&d.Usage)
	}
	for _, m := range total {
		out.Total.Models = append(out.Total.Models, *m)
	}
	sortModels(out.Total.Models)
	return out
}

// sortModels orders models by tokens, most first, then by name.
func sortModels(ms []ModelUsage) {
	sort.Slice(ms, func(i, j int) bool {
		a, b := ms[i].Usage.InputTokens+ms[i].Usage.OutputTokens, ms[j].Usage.InputTokens+ms[j].Usage.OutputTokens
		if a != b {
			return a > b
		}
		return ms[i].Model < ms[j].Model
	})
}
