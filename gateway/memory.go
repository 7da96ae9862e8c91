package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/viberhq/viber/bus"
)

// MemoryList lists memory files, of one scope or of all.
func (g *Gateway) MemoryList(ctx context.Context, req *bus.MemoryListRequest) (*bus.MemoryListResponse, error) {
	var scope *bus.MemoryScope
	if req.Scope != "" {
		s, err := bus.ParseMemoryScope(req.Scope)
		if err != nil {
			return nil, err
		}
		scope = &s
	}
	files, err := g.memory.List(ctx, scope)
	if err != nil {
		return nil, err
	}
	return &bus.MemoryListResponse{Files: files}, nil
}

// MemoryGet returns a memory file (at a revision when one is given).
func (g *Gateway) MemoryGet(ctx context.Context, req *bus.MemoryFileRequest) (*bus.MemoryFile, error) {
	s, err := bus.ParseMemoryScope(req.Scope)
	if err != nil {
		return nil, err
	}
	return g.memory.Get(ctx, s, req.Name, req.Revision)
}

// MemoryPut writes a memory file with compare-and-set on its revision.
func (g *Gateway) MemoryPut(ctx context.Context, req *bus.MemoryPutRequest) (*bus.MemoryFile, error) {
	s, err := bus.ParseMemoryScope(req.Scope)
	if err != nil {
		return nil, err
	}
	f, err := g.memory.Put(ctx, s, req.Name, req.Content, req.Revision)
	if errors.Is(err, bus.ErrConflict) {
		return nil, err // the caller reads the current text again
	}
	if err == nil {
		g.log.Info().Str("scope", f.Scope).Str("name", f.Name).Uint64("revision", f.Revision).Msg("memory written through the API")
	}
	return f, err
}

// MemoryHistory lists a file's revisions, newest first.
func (g *Gateway) MemoryHistory(ctx context.Context, req *bus.MemoryFileRequest) (*bus.MemoryHistoryResponse, error) {
	s, err := bus.ParseMemoryScope(req.Scope)
	if err != nil {
		return nil, err
	}
	revs, err := g.memory.History(ctx, s, req.Name)
	if err != nil {
		return nil, err
	}
	return &bus.MemoryHistoryResponse{Revisions: revs}, nil
}

// MemoryRestore makes an earlier revision of a file current.
func (g *Gateway) MemoryRestore(ctx context.Context, req *bus.MemoryRestoreRequest) (*bus.MemoryFile, error) {
	s, err := bus.ParseMemoryScope(req.Scope)
	if err != nil {
		return nil, err
	}
	return g.memory.Restore(ctx, s, req.Name, req.Revision)
}

// addMemoryEndpoints registers the memory group of the micro service
// through add.
func (g *Gateway) addMemoryEndpoints(add func(string, func(context.Context, []byte) (any, error)) error) error {
	return errors.Join(
		add(bus.APIMemoryList, func(ctx context.Context, b []byte) (any, error) {
			var r bus.MemoryListRequest
			if len(b) > 0 {
				if err := decode(b, &r); err != nil {
					return nil, err
				}
			}
			return g.MemoryList(ctx, &r)
		}),
		add(bus.APIMemoryGet, func(ctx context.Context, b []byte) (any, error) {
			var r bus.MemoryFileRequest
			if err := decode(b, &r); err != nil {
				return nil, err
			}
			return g.MemoryGet(ctx, &r)
		}),
		add(bus.APIMemoryPut, func(ctx context.Context, b []byte) (any, error) {
			var r bus.MemoryPutRequest
			if err := decode(b, &r); err != nil {
				return nil, err
			}
			return g.MemoryPut(ctx, &r)
		}),
		add(bus.APIMemoryHistory, func(ctx context.Context, b []byte) (any, error) {
			var r bus.MemoryFileRequest
			if err := decode(b, &r); err != nil {
				return nil, err
			}
			return g.MemoryHistory(ctx, &r)
		}),
		add(bus.APIMemoryRestore, func(ctx context.Context, b []byte) (any, error) {
			var r bus.MemoryRestoreRequest
			if err := decode(b, &r); err != nil {
				return nil, err
			}
			return g.MemoryRestore(ctx, &r)
		}),
	)
}

// memoryRoutes serves the memory API over HTTP.
func (g *Gateway) memoryRoutes(mux *http.ServeMux) {
	fileReq := func(w http.ResponseWriter, r *http.Request) (*bus.MemoryFileRequest, bool) {
		q := r.URL.Query()
		req := &bus.MemoryFileRequest{Scope: q.Get("scope"), Name: q.Get("name")}
		if v := q.Get("revision"); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				writeJSONError(w, http.StatusBadRequest, bus.CodeMalformed, "revision must be a positive number")
				return nil, false
			}
			req.Revision = n
		}
		return req, true
	}
	reply := func(w http.ResponseWriter, r *http.Request, v any, err error) {
		if err != nil {
			g.writeErr(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
	mux.HandleFunc(bus.RouteMemoryList, func(w http.ResponseWriter, r *http.Request) {
		resp, err := g.MemoryList(r.Context(), &bus.MemoryListRequest{Scope: r.URL.Query().Get("scope")})
		reply(w, r, resp, err)
	})
	mux.HandleFunc(bus.RouteMemoryGet, func(w http.ResponseWriter, r *http.Request) {
		if req, ok := fileReq(w, r); ok {
			f, err := g.MemoryGet(r.Context(), req)
			reply(w, r, f, err)
		}
	})
	mux.HandleFunc(bus.RouteMemoryHistory, func(w http.ResponseWriter, r *http.Request) {
		if req, ok := fileReq(w, r); ok {
			resp, err := g.MemoryHistory(r.Context(), req)
			reply(w, r, resp, err)
		}
	})
	mux.HandleFunc(bus.RouteMemoryPut, func(w http.ResponseWriter, r *http.Request) {
		var req bus.MemoryPutRequest
		if readJSON(w, r, &req) {
			f, err := g.MemoryPut(r.Context(), &req)
			reply(w, r, f, err)
		}
	})
	mux.HandleFunc(bus.RouteMemoryRestore, func(w http.ResponseWriter, r *http.Request) {
		var req bus.MemoryRestoreRequest
		if readJSON(w, r, &req) {
			f, err := g.MemoryRestore(r.Context(), &req)
			reply(w, r, f, err)
		}
	})
}
