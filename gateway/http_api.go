package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"sort"
	"strconv"

	"github.com/viberhq/viber/bus"
)

// maxBodyBytes bounds a JSON request body (a goal or follow-up plus room).
const maxBodyBytes = bus.MaxGoalBytes + 16<<10

// httpBy is who the dashboard's commands are recorded as.
const httpBy = "dashboard"

// ErrorBody is the JSON body of every HTTP API error.
type ErrorBody struct {
	Error string `json:"error"`
	Code  int    `json:"code"`
}

// SkillView is one skill and the daemons offering it (GET /api/skills).
type SkillView struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Daemons are the daemons that have the skill, usable or not.
	Daemons []*SkillOffer `json:"daemons"`
}

// SkillOffer is one daemon's copy of a skill.
type SkillOffer struct {
	Daemon string `json:"daemon"`
	Online bool   `json:"online"`
	// Source is "workspace", "user" or "builtin".
	Source string `json:"source,omitempty"`
	// Missing lists unmet requirements; such a skill is not routed to.
	Missing []string `json:"missing,omitempty"`
}

// ListSkillsResponse lists the skills daemons offer.
type ListSkillsResponse struct {
	Skills []*SkillView `json:"skills"`
}

// apiRoutes serves the JSON API under /api/. Every answer is JSON, errors
// included ([ErrorBody], the status from bus.CodeFor).
func (g *Gateway) apiRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/tasks", g.apiListTasks)
	mux.HandleFunc("POST /api/tasks", g.apiCreateTask)
	mux.HandleFunc("GET /api/tasks/{id}", g.apiTask)
	mux.HandleFunc("POST /api/tasks/{id}/input", g.apiSendInput)
	mux.HandleFunc("POST /api/tasks/{id}/cancel", g.apiCancel)
	mux.HandleFunc("POST /api/tasks/{id}/decide", g.apiDecide)
	mux.HandleFunc("GET /api/tasks/{id}/events", g.apiTaskEvents)
	mux.HandleFunc("GET /api/watch/tasks", g.apiWatchTasks)
	mux.HandleFunc("GET /api/daemons", g.apiDaemons)
	mux.HandleFunc("GET /api/skills", g.apiSkills)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, "no API endpoint "+r.Method+" "+r.URL.Path)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, &ErrorBody{Error: msg, Code: code})
}

// writeErr answers a bus error with its status code.
func (g *Gateway) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	code := bus.CodeFor(err)
	if code == bus.CodeInternal {
		if r.Context().Err() != nil {
			return
		}
		g.log.Error().Err(err).Str("path", r.URL.Path).Msg("HTTP API request failed")
	}
	writeJSONError(w, code, err.Error())
}

// jsonBody refuses bodies that are not JSON. Besides being honest, this
// stops cross-site form posts: a browser sends application/json to another
// origin only after a CORS preflight, which this server never grants.
func jsonBody(w http.ResponseWriter, r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeJSONError(w, http.StatusUnsupportedMediaType, "send the body as Content-Type: application/json")
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
			writeJSONError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over %d bytes", maxBodyBytes))
			return false
		}
		writeJSONError(w, http.StatusBadRequest, "the body is not valid JSON for this endpoint: "+err.Error())
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
			writeJSONError(w, http.StatusBadRequest, "limit must be a positive number")
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
	w.Header().Set("Location", "/api/tasks/"+sum.ID)
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
	byName := map[string]*SkillView{}
	for _, d := range daemons {
		for _, s := range d.Skills {
			v := byName[s.Name]
			if v == nil {
				v = &SkillView{Name: s.Name, Description: s.Description}
				byName[s.Name] = v
			}
			v.Daemons = append(v.Daemons, &SkillOffer{Daemon: d.ID, Online: d.Online, Source: s.Source, Missing: s.Missing})
		}
	}
	out := &ListSkillsResponse{Skills: []*SkillView{}}
	for _, s := range byName {
		out.Skills = append(out.Skills, s)
	}
	sort.Slice(out.Skills, func(i, j int) bool { return out.Skills[i].Name < out.Skills[j].Name })
	writeJSON(w, http.StatusOK, out)
}
