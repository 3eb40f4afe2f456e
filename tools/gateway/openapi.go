package gateway

import (
	"net/http"
	"slices"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"

	"lakehouse/tools"
)

// openAPI serves GET /v1/openapi.json: an OpenAPI 3.1 document of every
// route, generated from the tools' schemas (JSON Schema 2020-12, which
// OpenAPI 3.1 takes as it is). It lists what the request may call.
func (g *Gateway) openAPI(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, g.document(r))
}

// document is the OpenAPI document for what the request may call.
func (g *Gateway) document(r *http.Request) map[string]any {
	paths := map[string]map[string]any{}
	add := func(method, p string, op map[string]any) {
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(method)] = op
	}
	permitted := func(t tools.Tool) bool { return g.Permit == nil || g.Permit(r, t) == nil }
	list := map[string]any{"summary": "list the tools with their schemas", "operationId": "list_tools",
		"responses": map[string]any{"200": jsonResponse("the tools", map[string]any{"type": "object"})}}
	add("GET", "/v1/tools", list)
	for _, t := range g.Tools {
		if !permitted(t) {
			continue
		}
		add("POST", "/v1/tools/"+t.Name, map[string]any{
			"summary":     t.Name,
			"description": t.Description,
			"operationId": t.Name,
			"tags":        []string{"tools"},
			"requestBody": map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": t.InputSchema}}},
			"responses":   responses(t.OutputSchema),
		})
	}
	for _, rt := range slices.Concat(routes, streamedRoutes) {
		t, ok := g.byName[rt.tool]
		if !ok || !permitted(t) {
			continue
		}
		add(rt.method, "/v1"+rt.pattern, g.operation(rt, t))
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Lakehouse MCP REST gateway",
			"version":     "1",
			"description": "Every tool of the MCP server at POST /v1/tools/{name} (body: its arguments), and resource-style routes over the same tools. Errors are {\"error\": \"...\"}: 400 bad input, 401 no or bad token, 403 not allowed, 404 missing, 409 conflict, 413 too large, 503 busy (with Retry-After), 504 past gateway.request_timeout_ms.",
		},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
			"schemas":         map[string]any{"Error": errorSchema},
		},
		"security": []map[string][]string{{"bearer": {}}, {}},
	}
}

// operation describes resource route rt of tool t: its path parameters,
// its query parameters (GET and DELETE take the tool's other arguments
// there) or its JSON body, and its answers.
func (g *Gateway) operation(rt route, t tools.Tool) map[string]any {
	op := map[string]any{"summary": rt.summary, "description": "Calls " + t.Name + ": " + t.Description, "operationId": strings.ToLower(rt.method) + "_" + t.Name, "tags": []string{"resources"}}
	var params []map[string]any
	inPath := pathParams(rt.pattern)
	for _, name := range inPath {
		params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	streamed := slices.ContainsFunc(streamedRoutes, func(s route) bool { return s == rt })
	switch {
	case streamed:
		op["responses"] = streamedResponses(rt, t)
		switch rt.pattern {
		case "/storage/put/{key}":
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"*/*": map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}}}
		case "/ingest":
			for _, q := range []string{"name", "format", "mode", "options"} {
				params = append(params, map[string]any{"name": q, "in": "query", "required": q == "name", "schema": map[string]any{"type": "string"}})
			}
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"*/*":                 map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}},
				"multipart/form-data": map[string]any{"schema": map[string]any{"type": "object", "properties": map[string]any{"file": map[string]any{"type": "string", "format": "binary"}}}},
			}}
		case "/sql":
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": t.InputSchema}}}
		}
	case rt.method == "GET" || rt.method == "DELETE":
		for _, name := range sortedKeys(t.InputSchema.Properties) {
			if !slices.Contains(inPath, name) {
				params = append(params, map[string]any{"name": name, "in": "query", "required": slices.Contains(t.InputSchema.Required, name), "schema": t.InputSchema.Properties[name]})
			}
		}
		op["responses"] = responses(t.OutputSchema)
	default:
		op["requestBody"] = map[string]any{"content": map[string]any{"application/json": map[string]any{"schema": without(t.InputSchema, inPath)}}}
		op["responses"] = responses(t.OutputSchema)
	}
	if params != nil {
		op["parameters"] = params
	}
	return op
}

// streamedResponses are the answers of a streamed route.
func streamedResponses(rt route, t tools.Tool) map[string]any {
	res := responses(t.OutputSchema)
	switch rt.pattern {
	case "/storage/put/{key}":
		res["200"] = jsonResponse("the object stored", map[string]any{"type": "object"})
	case "/storage/get/{key}":
		res["200"] = map[string]any{"description": "the object's bytes, with its Content-Type and ETag", "content": map[string]any{"*/*": map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}}}
		res["206"] = map[string]any{"description": "the range asked for"}
		res["304"] = map[string]any{"description": "not modified (If-None-Match)"}
	case "/ingest":
		res["200"] = jsonResponse("the dataset version made", map[string]any{"type": "object"})
	case "/sql":
		binary := map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}
		ok := res["200"].(map[string]any)
		content := ok["content"].(map[string]any)
		for _, mt := range []string{"text/csv", "application/x-ndjson", "application/vnd.apache.arrow.stream", "application/vnd.apache.parquet"} {
			content[mt] = binary
		}
	}
	return res
}

// without is schema s without the properties names (set by the path).
func without(s *jsonschema.Schema, names []string) *jsonschema.Schema {
	if len(names) == 0 {
		return s
	}
	c := *s
	c.Properties = map[string]*jsonschema.Schema{}
	for k, v := range s.Properties {
		if !slices.Contains(names, k) {
			c.Properties[k] = v
		}
	}
	c.Required = slices.DeleteFunc(slices.Clone(s.Required), func(k string) bool { return slices.Contains(names, k) })
	return &c
}

var errorSchema = map[string]any{"type": "object", "properties": map[string]any{"error": map[string]any{"type": "string"}}, "required": []string{"error"}}

// responses are a tool call's answers: its output, or an error.
func responses(out *jsonschema.Schema) map[string]any {
	res := map[string]any{"200": jsonResponse("the tool's structured result", out)}
	for code, why := range map[string]string{
		"400": "bad input", "401": "no or bad token", "403": "not allowed for this token", "404": "not found",
		"409": "conflict", "413": "too large", "503": "busy: retry after Retry-After seconds", "504": "the call ran past gateway.request_timeout_ms",
	} {
		res[code] = jsonResponse(why, map[string]any{"$ref": "#/components/schemas/Error"})
	}
	return res
}

func jsonResponse(description string, schema any) map[string]any {
	return map[string]any{"description": description, "content": map[string]any{"application/json": map[string]any{"schema": schema}}}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
