package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"lakehouse/backends/errs"
	"lakehouse/tools"
)

// A route is a resource-style path for one tool. Its arguments are the JSON
// body (POST), with the path's parameters and the query's on top, each named
// as the tool's argument it sets; query values take the JSON type the tool's
// schema gives the argument.
type route struct {
	method  string
	pattern string // chi pattern under /v1; {key} takes the rest of the path
	tool    string
	summary string
}

// routes are the resource-style routes. The streamed ones (object bodies,
// ingest bodies, query results in other formats) are in stream.go.
var routes = []route{
	{"GET", "/storage/list", "list_objects", "list objects: ?prefix=&cursor=&limit="},
	{"DELETE", "/storage/delete/{key}", "delete_object", "delete an object"},
	{"GET", "/catalog/list", "list_datasets", "list datasets: ?cursor=&limit="},
	{"GET", "/catalog/manifest/{name}", "get_manifest", "a dataset's manifest: ?version=&sample_rows="},
	{"DELETE", "/catalog/datasets/{name}", "drop_dataset", "drop a dataset"},
	{"POST", "/embed", "embed_text", "embed texts"},
	{"GET", "/vectors/indexes", "list_indexes", "list vector indexes"},
	{"POST", "/vectors/indexes", "create_index", "create a vector index"},
	{"DELETE", "/vectors/indexes/{name}", "drop_index", "drop a vector index"},
	{"POST", "/vectors/indexes/{index}/upsert", "upsert_vectors", "add or replace items"},
	{"POST", "/vectors/indexes/{index}/delete", "delete_vectors", "delete items by id"},
	{"POST", "/vectors/indexes/{index}/search", "search_vectors", "search an index"},
	{"POST", "/vectors/index_dataset", "index_dataset", "index a dataset's rows"},
	{"POST", "/pathway/traces", "add_trace", "add a trace"},
	{"GET", "/pathway/traces/{uid}", "get_trace", "a trace"},
	{"POST", "/pathway/traces/{uid}/update", "update_trace", "update a trace in place"},
	{"POST", "/pathway/traces/{uid}/revise", "revise_trace", "a new version of a trace"},
	{"POST", "/pathway/traces/{uid}/retire", "retire_trace", "retire a trace"},
	{"GET", "/pathway/traces/{uid}/history", "trace_history", "a trace's versions"},
	{"POST", "/pathway/search", "search_traces", "search traces"},
	{"GET", "/pathway/stats", "pathway_stats", "trace counts"},
	{"POST", "/matrix/search", "matrix_search", "search several corpora at once"},
	{"GET", "/matrix/corpora", "list_corpora", "list corpora"},
	{"POST", "/matrix/playbook", "record_playbook", "record which answer worked"},
	{"POST", "/matrix/relevance", "score_relevance", "score chunks against a file under review"},
	{"POST", "/matrix/gate", "downgrade_gate", "the review mode for a model"},
	{"GET", "/observer/stats", "observer_stats", "failure clusters and counts: ?since="},
	{"GET", "/observer/events", "list_events", "recent calls: ?cursor=&limit=&tool=&source=&success=&since="},
	{"POST", "/observer/events", "record_event", "report an outcome"},
}

// pathParams are the names of a chi pattern's parameters.
func pathParams(pattern string) []string {
	var names []string
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			names = append(names, strings.TrimSuffix(strings.TrimPrefix(seg, "{"), "}"))
		}
	}
	return names
}

// chiPattern is pattern as chi routes it: {key} takes the rest of the path
// (object keys hold slashes).
func chiPattern(pattern string) string {
	return strings.Replace(pattern, "{key}", "*", 1)
}

func (g *Gateway) route(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		args := map[string]json.RawMessage{}
		if r.Method == http.MethodPost {
			body, err := g.readJSON(w, r)
			if err == nil {
				err = json.Unmarshal(body, &args)
			}
			if err != nil {
				writeError(w, errs.New(errs.Invalid, "the body of %s %s must be a JSON object of %s's arguments: %v", rt.method, rt.pattern, rt.tool, err))
				return
			}
		}
		t := g.byName[rt.tool]
		for k, vs := range r.URL.Query() {
			v, err := queryValue(t, k, vs)
			if err != nil {
				writeError(w, err)
				return
			}
			args[k] = v
		}
		for _, name := range pathParams(rt.pattern) {
			v := chi.URLParam(r, name)
			if name == "key" {
				v = chi.URLParam(r, "*")
			}
			args[name], _ = json.Marshal(v)
		}
		raw, _ := json.Marshal(args)
		g.invoke(w, r, rt.tool, raw)
	}
}

// queryValue is query parameter name of tool t as the JSON value its
// argument takes: a number or a boolean parsed, a list from repeated
// parameters, a string as it is.
func queryValue(t tools.Tool, name string, vs []string) (json.RawMessage, error) {
	typ := ""
	if s := t.InputSchema; s != nil && s.Properties[name] != nil {
		p := s.Properties[name]
		typ = p.Type
		if typ == "" && len(p.Types) > 0 {
			for _, ty := range p.Types {
				if ty != "null" {
					typ = ty
				}
			}
		}
	}
	if typ == "" {
		return nil, errs.New(errs.Invalid, "%s takes no argument %q", t.Name, name)
	}
	one := func(v string) (any, error) {
		switch typ {
		case "integer":
			return strconv.ParseInt(v, 10, 64)
		case "number":
			return strconv.ParseFloat(v, 64)
		case "boolean":
			return strconv.ParseBool(v)
		}
		return v, nil
	}
	var out any
	if typ == "array" {
		out = vs
	} else {
		v, err := one(vs[len(vs)-1])
		if err != nil {
			return nil, errs.New(errs.Invalid, "query parameter %s=%q: want %s %s", name, vs[len(vs)-1], article(typ), typ)
		}
		out = v
	}
	return json.Marshal(out)
}

func article(typ string) string {
	if typ == "integer" {
		return "an"
	}
	return "a"
}
