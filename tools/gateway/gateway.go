// Package gateway is the REST face of the tool table, for scripts and
// services: every tool at POST /v1/tools/{name}, resource-style routes that
// decode an HTTP form (path, query, body) into the arguments of the same
// tools, streamed routes for what is too big for JSON (object bodies,
// ingest bodies, query results), and an OpenAPI document generated from the
// tools' schemas.
//
// A route has no logic of its own beyond decoding its HTTP form: the tools
// check and do everything, through tools.Tool.Invoke, as they do for MCP.
// A tool's error maps to a status by its kind (package errs): 400 invalid,
// 404 not found, 409 conflict, 413 too large, 503 busy; any other is 500.
// The body of an error is {"error": "..."}.
package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse/backends/errs"
	"lakehouse/tools"
)

// Gateway serves the tools over HTTP. Zero limits take the defaults.
type Gateway struct {
	Tools    []tools.Tool
	Backends *tools.Backends // the engines behind the streamed routes

	MaxBodyBytes   int64         // a streamed body (object, ingest); 0 means 256 MiB
	MaxJSONBytes   int64         // any other body; 0 means 96 MiB
	MaxWrites      int           // writing calls in flight at once; 0 means 16
	RequestTimeout time.Duration // one call's time limit; 0 means 10 minutes

	// Permit says whether the request may call tool t (by its token's
	// scope, say); nil lets every call through. Its error is the answer's,
	// so it should be an *Error with the status to send (403).
	Permit func(r *http.Request, t tools.Tool) error

	// Watch starts the record of one call of tool with args (tools.Watch
	// with source "rest", say); the call runs with the returned context,
	// and done is told its error. nil records nothing.
	Watch func(ctx context.Context, tool string, args json.RawMessage) (_ context.Context, done func(error))

	once   sync.Once
	byName map[string]tools.Tool
	writes chan struct{}
}

// Defaults of the limits.
const (
	DefaultMaxBodyBytes   = 256 << 20
	DefaultMaxJSONBytes   = 96 << 20
	DefaultMaxWrites      = 16
	DefaultRequestTimeout = 10 * time.Minute
)

// retryAfter is the Retry-After of a call refused because the writes are
// saturated: writes finish in seconds.
const retryAfter = "1"

func (g *Gateway) init() {
	g.once.Do(func() {
		g.byName = make(map[string]tools.Tool, len(g.Tools))
		for _, t := range g.Tools {
			g.byName[t.Name] = t
		}
		g.writes = make(chan struct{}, cmp.Or(g.MaxWrites, DefaultMaxWrites))
	})
}

// Handler returns the gateway's routes, under /v1.
func (g *Gateway) Handler() http.Handler {
	g.init()
	r := chi.NewRouter()
	r.Route("/v1", func(r chi.Router) {
		r.Get("/tools", g.listTools)
		r.Post("/tools/{name}", g.callTool)
		r.Get("/openapi.json", g.openAPI)
		for _, rt := range routes {
			r.Method(rt.method, chiPattern(rt.pattern), g.route(rt))
		}
		g.streamed(r)
		r.NotFound(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, errs.New(errs.NotFound, "no route %s %s; GET /v1/openapi.json lists every route, GET /v1/tools every tool", r.Method, r.URL.Path))
		})
		r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, &Error{Status: http.StatusMethodNotAllowed, Msg: fmt.Sprintf("%s is not served at %s; GET /v1/openapi.json lists the routes", r.Method, r.URL.Path)})
		})
	})
	return r
}

func (g *Gateway) listTools(w http.ResponseWriter, r *http.Request) {
	list := []tools.Info{}
	for _, t := range g.Tools {
		if g.Permit != nil && g.Permit(r, t) != nil {
			continue
		}
		list = append(list, t.Info())
	}
	writeJSON(w, http.StatusOK, map[string]any{"tools": list})
}

func (g *Gateway) callTool(w http.ResponseWriter, r *http.Request) {
	body, err := g.readJSON(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	g.invoke(w, r, chi.URLParam(r, "name"), body)
}

// tool finds the tool name, if the request may call it, and takes a place
// among the writes when it writes; release gives the place back.
func (g *Gateway) tool(r *http.Request, name string) (t tools.Tool, release func(), err error) {
	t, ok := g.byName[name]
	if !ok {
		return t, nil, errs.New(errs.NotFound, "no tool %q%s; GET /v1/tools lists them", name, nearest(name, g.Tools))
	}
	if g.Permit != nil {
		if err := g.Permit(r, t); err != nil {
			return t, nil, err
		}
	}
	if t.ReadOnly() {
		return t, func() {}, nil
	}
	wait := time.NewTimer(writeWait)
	defer wait.Stop()
	select {
	case g.writes <- struct{}{}:
		return t, func() { <-g.writes }, nil
	case <-wait.C:
	case <-r.Context().Done():
	}
	return t, nil, &Error{Status: http.StatusServiceUnavailable, Msg: fmt.Sprintf("%d writing calls were in flight, the limit (gateway.max_writes), for %v: retry in a moment", cap(g.writes), writeWait)}
}

// writeWait is how long a write waits for a place before it is refused:
// long enough to ride out a burst of short writes, short enough that a
// saturated server says so.
const writeWait = time.Second

// invoke calls tool name with args and writes its structured result.
func (g *Gateway) invoke(w http.ResponseWriter, r *http.Request, name string, args json.RawMessage) {
	t, release, err := g.tool(r, name)
	if err != nil {
		writeError(w, err)
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), cmp.Or(g.RequestTimeout, DefaultRequestTimeout))
	defer cancel()
	ctx, done := g.watch(ctx, name, args)
	res, err := t.Invoke(ctx, args)
	err = g.overtime(ctx, r, err)
	done(err)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(res.JSON)
}

// overtime says, of err, that the call ran out of the gateway's time, when
// it did (and not its caller, who went away, or a limit of its own).
func (g *Gateway) overtime(ctx context.Context, r *http.Request, err error) error {
	if err == nil || !errors.Is(ctx.Err(), context.DeadlineExceeded) || r.Context().Err() != nil {
		return err
	}
	return &Error{Status: http.StatusGatewayTimeout, Msg: fmt.Sprintf("the call ran past its %v (gateway.request_timeout_ms): %v", cmp.Or(g.RequestTimeout, DefaultRequestTimeout), err)}
}

// watch starts the record of a call, when the gateway records calls.
func (g *Gateway) watch(ctx context.Context, tool string, args json.RawMessage) (context.Context, func(error)) {
	if g.Watch == nil {
		return ctx, func(error) {}
	}
	return g.Watch(ctx, tool, args)
}

// readJSON reads a request's JSON body, at most MaxJSONBytes of it; an
// empty body is no arguments.
func (g *Gateway) readJSON(w http.ResponseWriter, r *http.Request) (json.RawMessage, error) {
	max := cmp.Or(g.MaxJSONBytes, DefaultMaxJSONBytes)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, errs.New(errs.TooLarge, "the request body is over %d bytes (gateway.max_json_bytes); stream big objects with PUT /v1/storage/put/{key} and big data with POST /v1/ingest", max)
	case err != nil:
		return nil, errs.New(errs.Invalid, "read the request body: %v", err)
	case len(body) == 0:
		return json.RawMessage("{}"), nil
	}
	return body, nil
}

// Error is an answer with a status of its own (403, 405, 503), for what is
// not a tool's error.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// status maps err to an HTTP status.
func status(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	switch errs.KindOf(err) {
	case errs.Invalid:
		return http.StatusBadRequest
	case errs.NotFound:
		return http.StatusNotFound
	case errs.Conflict:
		return http.StatusConflict
	case errs.TooLarge:
		return http.StatusRequestEntityTooLarge
	case errs.Busy, errs.Unavailable:
		return http.StatusServiceUnavailable
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// writeError writes err as {"error": "..."} with its status.
func writeError(w http.ResponseWriter, err error) {
	code := status(err)
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// nearest names the three tools whose names are nearest to name: those
// that hold it or that it holds first, then by edit distance.
func nearest(name string, all []tools.Tool) string {
	type near struct {
		name string
		d    int
	}
	var ns []near
	for _, t := range all {
		d := distance(name, t.Name)
		if strings.Contains(t.Name, name) || strings.Contains(name, t.Name) {
			d = 0
		}
		ns = append(ns, near{t.Name, d})
	}
	slices.SortStableFunc(ns, func(a, b near) int { return cmp.Compare(a.d, b.d) })
	var names []string
	for _, n := range ns[:min(3, len(ns))] {
		names = append(names, strconv.Quote(n.name))
	}
	if len(names) == 0 {
		return ""
	}
	return "; the nearest are " + strings.Join(names, ", ")
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
