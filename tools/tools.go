// Package tools is the surface of Lakehouse MCP: one table of tools, each with
// its name, a description written for a model, truthful annotations, typed
// input and output, and a handler that calls a backend.
//
// The same table is registered on every MCP server (stdio, streamable HTTP,
// SSE, the unix socket of a shared data directory), and `mcpd call` reaches it
// through an MCP client session, so every front door runs the same code.
package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/errs"
	"lakehouse/backends/matrix"
	"lakehouse/backends/sqlengine"
)

// Backends are the engines behind the tools, each seen through the interface
// its tools need: mcpd passes the real engines, a test may pass fakes.
type Backends struct {
	Store    ObjectStore
	Catalog  Datasets
	Ingest   Ingester
	SQL      SQL
	Vectors  Vectors
	Embed    Embedder
	Observer Operations
	Pathway  Traces
	Gate     Gate // downgrade_gate's rules; nil = the defaults

	// Views are the Parquet files behind each dataset version, as the SQL
	// engine sees them (ingest.Views), for index_dataset.
	Views sqlengine.Catalog

	// Playbook sets where record_playbook writes and how use_playbook
	// boosts; the zero value gives the defaults.
	Playbook matrix.PlaybookConfig

	// MaxObjectBytes caps an object's size through put_object and get_object,
	// and inline ingest content. Zero means DefaultMaxObjectBytes.
	MaxObjectBytes int64
}

// DefaultMaxObjectBytes is the default object size cap: 64 MiB.
const DefaultMaxObjectBytes = 64 << 20

func (b *Backends) maxObjectBytes() int64 {
	if b.MaxObjectBytes > 0 {
		return b.MaxObjectBytes
	}
	return DefaultMaxObjectBytes
}

// Tool is one entry of the table.
type Tool struct {
	Name         string
	Description  string
	Annotations  *mcp.ToolAnnotations
	InputSchema  *jsonschema.Schema
	OutputSchema *jsonschema.Schema
	Toolset      string // the one toolset it is in (see Toolsets)
	outside      bool   // its results carry data from outside the server (see fence.go)
	fence        bool   // its text results are fenced (see Fenced)
	invoke       func(ctx context.Context, args json.RawMessage) (Result, error)
}

// Result is what a tool call returns: its structured output, encoded once,
// and the text content that goes beside it.
type Result struct {
	JSON json.RawMessage // the output as JSON: structuredContent, a REST response body
	Text string          // what the output renders (a markdown table, say), or JSON
}

// Invoke runs the tool on raw JSON arguments: the one call path behind every
// front door (MCP, the REST gateway, and mcpd call through MCP). A caller's
// mistake comes back as an error of a kind of package errs; a panic in the
// tool as an error too, logged.
func (t Tool) Invoke(ctx context.Context, args json.RawMessage) (res Result, err error) {
	defer func() { // one broken call must not take the server, and every client of it, down
		if p := recover(); p != nil {
			slog.Error("tool panicked", "tool", t.Name, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error in %s (logged by the server): %v", t.Name, p)
		}
	}()
	res, err = t.invoke(ctx, args)
	switch k := errs.KindOf(err); {
	case err == nil || ctx.Err() != nil:
	case k == nil:
		slog.Error("tool failed", "tool", t.Name, "err", err)
	case k == errs.Unavailable:
		slog.Warn("tool failed: a service the server depends on does not answer", "tool", t.Name, "err", err)
	}
	return res, err
}

// Info is a tool as listings outside MCP show it (the REST gateway's GET
// /v1/tools, mcpd tools --json).
type Info struct {
	Name         string             `json:"name"`
	Description  string             `json:"description"`
	ReadOnly     bool               `json:"read_only"`
	InputSchema  *jsonschema.Schema `json:"input_schema"`
	OutputSchema *jsonschema.Schema `json:"output_schema"`
}

// Info describes the tool.
func (t Tool) Info() Info {
	return Info{Name: t.Name, Description: t.Description, ReadOnly: t.ReadOnly(), InputSchema: t.InputSchema, OutputSchema: t.OutputSchema}
}

// ReadOnly reports whether the tool changes nothing, as its annotations say.
func (t Tool) ReadOnly() bool { return t.Annotations != nil && t.Annotations.ReadOnlyHint }

// Texter is implemented by outputs that render themselves for the text
// content of a result (a markdown table, say). Other outputs are rendered
// from their JSON (see render).
type Texter interface{ Text() string }

// define makes a Tool from a typed handler. A handler's error is the
// call's error; errors that are not a caller's mistake (see package errs)
// are also logged as faults.
//
// Arguments are checked against the input schema, then decoded from the
// request's own bytes: go-sdk's typed handlers re-encode arguments after
// checking them, which turns big integers in free-form JSON (a trace's
// content) into floats and reorders its keys. The output is not checked
// against its schema: it is ours, and encoded once, on the wire.
func define[In, Out any](name, description string, ann *mcp.ToolAnnotations, h func(context.Context, In) (Out, error)) Tool {
	inSchema, outSchema := schemaFor[In](), schemaFor[Out]()
	resolved, err := inSchema.Resolve(nil)
	if err != nil {
		panic(fmt.Sprintf("input schema of %s: %v", name, err)) // a programming error, caught by every test
	}
	var outResolved *jsonschema.Resolved
	if checkOutputs {
		if outResolved, err = outSchema.Resolve(nil); err != nil {
			panic(fmt.Sprintf("output schema of %s: %v", name, err))
		}
	}
	return Tool{
		Name:         name,
		Description:  description,
		Annotations:  ann,
		InputSchema:  inSchema,
		OutputSchema: outSchema,
		invoke: func(ctx context.Context, raw json.RawMessage) (Result, error) {
			args, generic, err := decodeArgs[In](resolved, raw)
			keepArgs(ctx, generic)
			if err != nil {
				return Result{}, err
			}
			out, err := h(ctx, args)
			if err != nil {
				return Result{}, err
			}
			// Encoded here, once: a value JSON cannot hold (an infinite
			// score, say) becomes an error rather than no answer.
			structured, err := json.Marshal(out)
			if err != nil {
				return Result{}, fmt.Errorf("the result of %s cannot be encoded as JSON: %w", name, err)
			}
			if outResolved != nil {
				var v any
				if err := json.Unmarshal(structured, &v); err != nil {
					return Result{}, err
				}
				if err := outResolved.Validate(v); err != nil {
					return Result{}, fmt.Errorf("the result of %s does not match its output schema: %w", name, err)
				}
			}
			keepOutput(ctx, out)
			return Result{JSON: structured, Text: text(out, structured)}, nil
		},
	}
}

// checkOutputs makes every tool check its results against its output
// schema, as a strict client would; the tests turn it on.
var checkOutputs bool

// Progress reports how far a long call has come: done of total (0 when the
// total is not known), with a message.
type Progress func(done, total float64, message string)

type progressKey struct{}

// WithProgress returns ctx carrying p, which tools that take long call as
// they go (an MCP client's progress notifications, say).
func WithProgress(ctx context.Context, p Progress) context.Context {
	return context.WithValue(ctx, progressKey{}, p)
}

// progressFrom returns the Progress of ctx, or nil.
func progressFrom(ctx context.Context) Progress {
	p, _ := ctx.Value(progressKey{}).(Progress)
	return p
}

// decodeArgs checks raw arguments against the input schema and decodes
// them. It also returns them decoded as generic JSON values, which it checks.
func decodeArgs[In any](schema *jsonschema.Resolved, raw json.RawMessage) (in In, generic any, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage("{}")
	}
	if err := json.Unmarshal(raw, &generic); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && json.Valid(raw) {
			// Valid JSON that a float64 cannot hold, such as 1e400.
			return in, nil, errs.New(errs.Invalid, "arguments hold a number beyond what a double can hold (%s; about ±1.8e308): write it smaller, or as a string", te.Value)
		}
		return in, nil, errs.New(errs.Invalid, "arguments are not JSON: %w", err)
	}
	if err := checkArgs(schema.Schema(), generic); err != nil {
		return in, generic, err
	}
	if err := schema.Validate(generic); err != nil {
		return in, generic, errs.New(errs.Invalid, "validating \"arguments\": %w", err)
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return in, generic, argumentError(err)
	}
	return in, generic, nil
}

// checkArgs explains, before the schema's own check, the mistakes callers
// make most, in the tool's words: arguments that are not an object, an
// unknown argument (with the ones the tool takes), a required one missing,
// and one of the wrong JSON type.
func checkArgs(s *jsonschema.Schema, generic any) error {
	args, ok := generic.(map[string]any)
	if !ok {
		return errs.New(errs.Invalid, "arguments must be a JSON object of named arguments, not %s", jsonKind(generic))
	}
	names := slices.Sorted(maps.Keys(s.Properties))
	for _, name := range slices.Sorted(maps.Keys(args)) {
		p, ok := s.Properties[name]
		if !ok {
			return errs.New(errs.Invalid, "unknown argument %q; this tool takes %s", name, strings.Join(names, ", "))
		}
		if want := p.Type; want != "" && !isKind(args[name], want) {
			return errs.New(errs.Invalid, "argument %s must be %s, not %s", name, withArticle(want), jsonKind(args[name]))
		}
	}
	for _, name := range s.Required {
		if _, ok := args[name]; !ok {
			return errs.New(errs.Invalid, "missing argument %q; this tool takes %s (required: %s)", name, strings.Join(names, ", "), strings.Join(s.Required, ", "))
		}
	}
	return nil
}

// jsonKind names the JSON type of a decoded value, with an article.
func jsonKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		if x == math.Trunc(x) {
			return "an integer"
		}
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	}
	return "an object"
}

// isKind reports whether decoded value v has JSON Schema type t.
func isKind(v any, t string) bool {
	switch x := v.(type) {
	case bool:
		return t == "boolean"
	case float64:
		return t == "number" || t == "integer" && x == math.Trunc(x)
	case string:
		return t == "string"
	case []any:
		return t == "array"
	case map[string]any:
		return t == "object"
	}
	return t == "null"
}

func withArticle(t string) string {
	if t == "integer" || t == "array" || t == "object" {
		return "an " + t
	}
	return "a " + t
}

// argumentError explains an argument that has the schema's JSON type but
// not a value its Go type can hold, naming the argument rather than Go types.
func argumentError(err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return errs.New(errs.Invalid, "decoding \"arguments\": %w", err)
	}
	want := "a " + te.Type.String()
	switch te.Type.Kind() {
	case reflect.Float32, reflect.Float64:
		want = "a number in range"
	case reflect.Int, reflect.Int32, reflect.Int64:
		want = "an integer in range"
	}
	if te.Type == reflect.TypeFor[time.Time]() {
		want = `a time in RFC 3339 form, e.g. "2026-12-02T10:00:00Z"`
	}
	return errs.New(errs.Invalid, "argument %s must be %s (got %s)", te.Field, want, te.Value)
}

func errorResult(err error) *mcp.CallToolResult {
	var res mcp.CallToolResult
	res.SetError(err)
	return &res
}

// schemaOptions describe json.RawMessage (a trace's content) as any JSON
// value, not as the byte array it is in Go.
var schemaOptions = &jsonschema.ForOptions{TypeSchemas: map[reflect.Type]*jsonschema.Schema{
	reflect.TypeFor[json.RawMessage](): {Description: "any JSON value"},
}}

// schemaFor infers the JSON schema of T (of what it points to, for a
// pointer), in the subset every client takes (see portable).
func schemaFor[T any]() *jsonschema.Schema {
	rt := reflect.TypeFor[T]()
	if rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	s, err := jsonschema.ForType(rt, schemaOptions)
	if err != nil {
		panic(fmt.Sprintf("schema of %v: %v", rt, err)) // a programming error, caught by every test
	}
	portable(s)
	return s
}

// text is the text content of a result: what out renders, or a rendering
// of its JSON.
func text(out any, structured []byte) string {
	if t, ok := out.(Texter); ok {
		return t.Text()
	}
	return render(structured)
}

// All returns the tool table. b may be nil to list the tools without
// serving them.
func All(b *Backends) []Tool {
	var all []Tool
	all = append(all, inToolset(ToolsetStorage, objectTools(b))...)
	all = append(all, inToolset(ToolsetDatasets, datasetTools(b))...)
	all = append(all, inToolset(ToolsetDatasets, derivedTools(b))...)
	all = append(all, inToolset(ToolsetSQL, sqlTools(b))...)
	all = append(all, inToolset(ToolsetSQL, exportTools(b))...)
	all = append(all, inToolset(ToolsetVectors, vectorTools(b))...)
	all = append(all, inToolset(ToolsetMatrix, matrixTools(b))...)
	all = append(all, inToolset(ToolsetMatrix, reviewTools(b))...)
	all = append(all, inToolset(ToolsetPathway, pathwayTools(b))...)
	all = append(all, inToolset(ToolsetObserver, observerTools(b))...)
	return all
}

// What tools/list sends, and why.
//
// tools/list is read into an agent's context on every session, so it holds
// what a model needs to choose a tool and call it, and no more: it was 77 KB
// for 35 tools, and is bounded at 20 KB (TestToolsList_ContextBill).
//
//   - Output schemas were 32 of the 77 KB, and a model neither chooses nor
//     calls a tool by them: it reads a result's text and structuredContent
//     when it has one. So each tool's outputSchema on MCP is only {"type":
//     "object"}, which every result satisfies (the MCP spec allows
//     structuredContent with or without a schema, and wants it to match one
//     that is given; clients that check for an outputSchema still find one).
//     The whole output schema stays in the table, Tool.OutputSchema: GET
//     /v1/tools, mcpd tools --json and the OpenAPI document show it, and the
//     tests check every result against it (checkOutputs).
//   - Input schemas go without "additionalProperties": false: the server
//     checks arguments against the whole schema and names an unknown one
//     with the arguments the tool takes (checkArgs), and a map of any values
//     (metadata, filter) is just "object".
//   - An argument that few calls use and that takes many properties to
//     describe (briefArguments) goes as one object with a line that names
//     its keys; the server still checks it against its whole schema.
//   - Annotations go without their title, which is for people: a model
//     chooses by name and description.
//
// Descriptions and argument descriptions are written for this budget: what
// the tool is for and when to use it rather than its neighbours; required
// arguments, formats, defaults and paging; nothing the instructions (limits,
// SQL hints) or the argument names already say.

// briefArguments are, by tool, the arguments tools/list sends as one object
// with this description.
var briefArguments = map[string]map[string]string{
	"ingest_dataset": {"options": `not for sql; unset ones are detected: delimiter, header (bool), quote, null_strings [..], types {"col": "DuckDB type"}, columns {"source": "stored name"} (only these kept), date_format, timestamp_format (strptime, e.g. %d/%m/%Y)`},
	"matrix_search":  {"rerank": `{"relevance": {"focus": {"path", "content"}, "threshold"}}: keep hits relevant to a file under review, as score_relevance`},
}

// wireTool is t as tools/list sends it.
func wireTool(t Tool) *mcp.Tool {
	in := wireInput(t.InputSchema)
	for name, d := range briefArguments[t.Name] {
		if _, ok := in.Properties[name]; ok {
			in.Properties[name] = &jsonschema.Schema{Type: "object", Description: d}
		}
	}
	var ann *mcp.ToolAnnotations
	if t.Annotations != nil {
		a := *t.Annotations
		a.Title = ""
		ann = &a
	}
	return &mcp.Tool{Name: t.Name, Description: t.Description, Annotations: ann, InputSchema: in, OutputSchema: &jsonschema.Schema{Type: "object"}}
}

// wireInput returns a copy of input schema s as tools/list sends it: without
// additionalProperties false, or of any value.
func wireInput(s *jsonschema.Schema) *jsonschema.Schema {
	if s == nil {
		return nil
	}
	c := s.CloneSchemas()
	var strip func(*jsonschema.Schema)
	strip = func(s *jsonschema.Schema) {
		if s == nil {
			return
		}
		if ap := s.AdditionalProperties; ap != nil && (ap.Not != nil || anyValue(ap)) {
			s.AdditionalProperties = nil
		}
		subschemas(s, strip)
	}
	strip(c)
	return c
}

// anyValue reports whether s is the schema portable makes of one that takes
// any JSON value: as the values of a map, it says no more than "object".
func anyValue(s *jsonschema.Schema) bool {
	if s.Type != "" || len(s.AnyOf) != 6 {
		return false
	}
	for _, t := range s.AnyOf {
		if t.Type == "" {
			return false
		}
	}
	return true
}

// Register adds tools to s. A call's error becomes a tool error (isError)
// whose text is the error's message, a progress token in the call turns
// the tool's progress into notifications, and the text of a fenced tool
// (see Fenced) comes between fence markers.
func Register(s *mcp.Server, tools []Tool) {
	for _, t := range tools {
		mt := wireTool(t)
		s.AddTool(mt, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if token := req.Params.GetProgressToken(); token != nil && req.Session != nil {
				ctx = WithProgress(ctx, func(done, total float64, message string) {
					_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: done, Total: total, Message: message})
				})
			}
			res, err := t.Invoke(ctx, req.Params.Arguments)
			if err != nil {
				return errorResult(err), nil
			}
			if t.fence {
				res.Text = fence(res.Text)
			}
			content := append([]mcp.Content{&mcp.TextContent{Text: res.Text}}, links(t.Name, res.JSON)...)
			return &mcp.CallToolResult{Content: content, StructuredContent: res.JSON}, nil
		})
	}
}

// Annotations, named for what a tool does to the data.
func readOnly(title string) *mcp.ToolAnnotations {
	return &mcp.ToolAnnotations{Title: title, ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: ptr(false)}
}

func additive(title string, idempotent bool) *mcp.ToolAnnotations {
	return &mcp.ToolAnnotations{Title: title, DestructiveHint: ptr(false), IdempotentHint: idempotent, OpenWorldHint: ptr(false)}
}

func destructive(title string) *mcp.ToolAnnotations {
	return &mcp.ToolAnnotations{Title: title, DestructiveHint: ptr(true), IdempotentHint: true, OpenWorldHint: ptr(false)}
}

func ptr[T any](v T) *T { return &v }

// Instructions is what the server tells an agent at initialisation.
const Instructions = `Lakehouse MCP: files, datasets, read-only SQL (DuckDB), vector search and a memory across sessions, all stored durably by this server.

- Files: put_object / get_object / list_objects / delete_object by key ("notes/run1.md"); keys starting with "_" are system areas (read-only).
- Datasets: ingest_dataset loads CSV, TSV, JSON, NDJSON (gzip/zstd too), Parquet or Arrow from inline content, an object_key or an allowed path into a versioned table (mode create|append|replace; identical data is a no-op), or saves a query's result with source {sql}; refresh_dataset re-runs it. list_datasets, get_manifest, drop_dataset.
- SQL: query_sql runs ONE read-only statement; each dataset is a table, a past version "name@vN" in double quotes. Rows are capped (max_rows, default 100; cells at 200 characters): aggregate or filter, or export_query for a whole result as an object. DuckDB: DESCRIBE t; SUMMARIZE t; FROM t LIMIT 5; GROUP BY ALL; 'strings', "identifiers".
- Vectors: index_dataset embeds a dataset's rows into an index; create_index + upsert_vectors for your own items; search_vectors (text or vector, metadata filters). matrix_search asks many indexes at once; record_playbook (or record_event with query_text, answer_id, answer_corpus) says what answered, and use_playbook: true ranks such answers higher next time. score_relevance and downgrade_gate serve code review.
- Memory: add_trace what you tried or learned (content any JSON, text to search by, tags), search_traces to recall, revise_trace / retire_trace to correct; trace_history shows a chain.
- Observer: every call is recorded; observer_stats clusters failures, list_events lists calls, record_event adds outcomes the server cannot see. A failure repeated 3 times escalates: a logging notification (warning) for clients that set a log level (2025 revisions), and an update of the resource lakehouse://observer/escalations for clients that subscribe (every revision, 2026-07-28 included).

Prompts (explore_dataset, answer_from_data, semantic_lookup, remember_outcome, review_failures) give recipes with live data. Resources: lakehouse://datasets, lakehouse://datasets/{name}, lakehouse://objects/{key}, lakehouse://indexes/{name}, lakehouse://traces/{uid}, lakehouse://observer/escalations. Lists page with cursor; results say when they are cut and how to get more.`
