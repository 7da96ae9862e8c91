package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"path"
	"strconv"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/telemetry"
)

// maxBodyBytes bounds a JSON request body (a goal or follow-up plus room).
const maxBodyBytes = bus.MaxGoalBytes + 16<<10

// httpBy is who the dashboard's commands are recorded as.
const httpBy = "dashboard"

// apiRoutes serves the JSON API under /api/. Every answer is JSON, errors
// included ([bus.APIError]: the message, the code of the error's sentinel
// and its status).
func (g *Gateway) apiRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(bus.RouteListTasks, g.apiListTasks)
	mux.HandleFunc(bus.RouteCreateTask, g.apiCreateTask)
	mux.HandleFunc(bus.RouteTask, g.apiTask)
	mux.HandleFunc(bus.RouteSendInput, g.apiSendInput)
	mux.HandleFunc(bus.RouteCancelTask, g.apiCancel)
	mux.HandleFunc(bus.RouteDecide, g.apiDecide)
	mux.HandleFunc(bus.RouteTaskEvents, g.apiTaskEvents)
	mux.HandleFunc(bus.RouteWatchTasks, g.apiWatchTasks)
	mux.HandleFunc(bus.RouteStreams, g.apiStreams)
	mux.HandleFunc(bus.RouteDaemons, g.apiDaemons)
	mux.HandleFunc(bus.RouteSkills, g.apiSkills)
	mux.HandleFunc(bus.RouteUsage, g.apiUsage)
	mux.HandleFunc(bus.RouteWebhooks, g.apiWebhooks)
	mux.HandleFunc(bus.RouteRemoveTask, g.apiRemoveTask)
	mux.HandleFunc(bus.RouteListSchedules, g.apiListSchedules)
	mux.HandleFunc(bus.RouteAddSchedule, g.apiAddSchedule)
	mux.HandleFunc(bus.RouteSchedule, g.apiSchedule)
	mux.HandleFunc(bus.RouteRemoveSchedule, g.apiRemoveSchedule)
	mux.HandleFunc(bus.RoutePauseSchedule, g.apiScheduleAction)
	mux.HandleFunc(bus.RouteResumeSchedule, g.apiScheduleAction)
	mux.HandleFunc(bus.RouteRunSchedule, g.apiScheduleAction)
	g.memoryRoutes(mux)
	mux.HandleFunc(bus.APIPath, func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, bus.CodeNoEndpoint, "no API endpoint "+r.Method+" "+r.URL.Path)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeJSONError answers an error found by the HTTP layer itself.
func writeJSONError(w http.ResponseWriter, status int, code bus.ErrorCode, msg string) {
	writeJSON(w, status, &bus.APIError{Message: msg, Code: code, Status: status})
}

// writeErr answers a request's error with its code and status.
func (g *Gateway) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	e := bus.NewAPIError(err)
	if e.Code == bus.CodeInternal {
		if r.Context().Err() != nil {
			return
		}
		g.log.Error().Err(err).Str("path", r.URL.Path).Msg("HTTP API request failed")
	}
	writeJSON(w, e.Status, e)
}

// jsonBody refuses bodies that are not JSON. Besides being honest, this
// stops cross-site form posts: a browser sends application/json to another
// origin only after a CORS preflight, which this server never grants.
func jsonBody(w http.ResponseWriter, r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeJSONError(w, http.StatusUnsupportedMediaType, bus.CodeMalformed, "send the body as Content-Type: application/json")
		return false
	}
	return true
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if !jsonBody(w, r) {
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSONError(w, http.StatusRequestEntityTooLarge, bus.CodeTooLarge, fmt.Sprintf("the body is over %d bytes", maxBodyBytes))
			return false
		}
		writeJSONError(w, http.StatusBadRequest, bus.CodeMalformed, "the body is not valid JSON for this endpoint: "+err.Error())
		return false
	}
	return true
}

func (g *Gateway) apiListTasks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := &bus.ListTasksRequest{
		State:    bus.State(q.Get(bus.QueryState)),
		Daemon:   q.Get(bus.QueryDaemon),
		Schedule: q.Get(bus.QuerySchedule),
		Query:    q.Get(bus.QuerySearch),
		Before:   q.Get(bus.QueryBefore),
	}
	if req.Before != "" && !bus.ValidToken(req.Before) {
		writeJSONError(w, http.StatusBadRequest, bus.CodeMalformed, "before must be a task id (the next of the previous page)")
		return
	}
	if l := q.Get(bus.QueryLimit); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			writeJSONError(w, http.StatusBadRequest, bus.CodeMalformed, "limit must be a positive number")
			return
		}
		req.Limit = n
	}
	resp, err := g.ListTasks(r.Context(), req)
	if err != nil {
		g.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (g *Gateway) apiCreateTask(w http.ResponseWriter, r *http.Request) {
	var req bus.CreateTaskRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.Submitter == "" {
		req.Submitter = httpBy
	}
	sum, err := g.CreateTask(telemetry.FromHTTP(r), &req)
	if err != nil {
		g.writeErr(w, r, err)
		return
	}
	w.Header().Set("Location", bus.APIPath+"tasks/"+sum.ID)
	writeJSON(w, http.StatusCreated, sum)
}

func (g *Gateway) apiTask(w http.ResponseWriter, r *http.Request) {
	sum, err := g.Task(r.Context(), r.PathValue("id"))
	if err != nil {
		g.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

func (g *Gateway) apiSendInput(w http.ResponseWriter, r *http.Request) {
	var req bus.SendInputRequest
	if !readJSON(w, r, &req) {
		return
	}
	req.ID = r.PathValue("id")
	if req.By == "" {
		req.By = httpBy
	}
	ev, err := g.SendInput(telemetry.FromHTTP(r), &req)
	if err != nil {
		g.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, &bus.EventResponse{Event: ev})
}

func (g *Gateway) apiCancel(w http.ResponseWriter, r *http.Request) {
	var req bus.CancelTaskRequest
	if r.ContentLength != 0 {
		if !readJSON(w, r, &req) {
			return
		}
	} else if !jsonBody(w, r) {
		return
	}
	req.ID = r.PathValue("id")
	if req.By == "" {
		req.By = httpBy
	}
	ev, err := g.CancelTask(r.Context(), &req)
	if err != nil {
		g.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, &bus.EventResponse{Event: ev})
}

func (g *Gateway) apiDecide(w http.ResponseWriter, r *http.Request) {
	var req bus.DecideRequest
	if !readJSON(w, r, &req) {
		return
	}
	req.ID = r.PathValue("id")
	if req.By == "" {
		req.By = httpBy
	}
	ev, err := g.Decide(r.Context(), &req)
	if err != nil {
		g.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, &bus.EventResponse{Event: ev})
}

func (g *Gateway) apiDaemons(w http.ResponseWriter, r *http.Request) {
	list, err := g.Daemons(r.Context())
	if err != nil {
		g.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, &bus.ListDaemonsResponse{Daemons: list})
}

// apiSkills lists the skills daemons announce in presence, by name, with
// the daemons offering each.
func (g *Gateway) apiSkills(w http.ResponseWriter, r *http.Request) {
	daemons, err := g.Daemons(r.Context())
	if err != nil {
		g.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, bus.GroupSkills(daemons))
}

func (g *Gateway) apiWebhooks(w http.ResponseWriter, r *http.Request) {
	resp, err := g.Webhooks(r.Context(), r.PathValue("id"))
	if err != nil {
		g.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (g *Gateway) apiListSchedules(w http.ResponseWriter, r *http.Request) {
	resp, err := g.ListSchedules(r.Context())
	if err != nil {
		g.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (g *Gateway) apiAddSchedule(w http.ResponseWriter, r *http.Request) {
	var req bus.AddScheduleRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.By == "" {
		req.By = httpBy
	}
	v, err := g.AddSchedule(r.Context(), &req)
	if err != nil {
		g.writeErr(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/schedules/"+v.Name)
	writeJSON(w, http.StatusCreated, v)
}

func (g *Gateway) apiSchedule(w http.ResponseWriter, r *http.Request) {
	v, err := g.Schedule(r.Context(), r.PathValue("name"))
	if err != nil {
		g.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (g *Gateway) apiRemoveSchedule(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := g.RemoveSchedule(r.Context(), name); err != nil {
		g.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, &bus.ScheduleRequest{Name: name})
}

// apiScheduleAction serves pause, resume and run. Like every command it
// wants a JSON content type (an empty body is fine), which keeps
// cross-site form posts out.
func (g *Gateway) apiScheduleAction(w http.ResponseWriter, r *http.Request) {
	if !jsonBody(w, r) {
		return
	}
	name := r.PathValue("name")
	var (
		v   any
		err error
	)
	switch path.Base(r.URL.Path) {
	case "pause":
		v, err = g.PauseSchedule(r.Context(), name)
	case "resume":
		v, err = g.ResumeSchedule(r.Context(), name)
	default:
		v, err = g.RunSchedule(r.Context(), name)
	}
	if err != nil {
		g.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
