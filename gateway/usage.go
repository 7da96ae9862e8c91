package gateway

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/viberhq/viber/bus"
)

// Usage sums the token usage and cost of the stored task summaries per
// UTC day (a task counts on the day it was created) and per model.
func (g *Gateway) Usage(ctx context.Context, req *bus.UsageRequest) (*bus.UsageResponse, error) {
	if err := req.Check(); err != nil {
		return nil, err
	}
	all, err := g.listSummaries(ctx)
	if err != nil {
		return nil, err
	}
	return bus.SumUsage(all, time.Now(), req.Days), nil
}

func (g *Gateway) apiUsage(w http.ResponseWriter, r *http.Request) {
	req := &bus.UsageRequest{}
	if d := r.URL.Query().Get(bus.QueryDays); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, bus.CodeMalformed, "days must be a number of days, 1 to "+strconv.Itoa(bus.MaxUsageDays))
			return
		}
		req.Days = n
	}
	resp, err := g.Usage(r.Context(), req)
	if err != nil {
		g.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
