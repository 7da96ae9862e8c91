package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"

	"github.com/viberhq/viber/bus"
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
	mux.HandleFunc(bus.RouteDaemons, g.apiDaemons)
	mux.HandleFunc(bus.RouteSkills, g.apiSkills)
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
	req := &bus.ListTasksRequest{State: bus.State(q.Get("state")), Daemon: q.Get("daemon")}
	if l := q.Get("limit"); l != "" {
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
	sum, err := g.CreateTask(r.Context(), &req)
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
	ev, err := g.SendInput(r.Context(), &req)
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
