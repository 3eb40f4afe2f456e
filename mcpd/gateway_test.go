package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"lakehouse/tools"
	"lakehouse/tools/gateway"
)

// gatewayBase serves the real engines of a data directory of its own over
// HTTP with cfg (edit changes it first), /v1 included, and returns the base
// URL.
func gatewayBase(t *testing.T, edit func(*Config)) string {
	t.Helper()
	cfg := httpConfig(t)
	if edit != nil {
		edit(&cfg)
	}
	return serveAll(t, cfg)
}

// do sends a request and returns the status, the headers and the body.
func do(t *testing.T, method, url string, body io.Reader, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// doJSON sends a JSON body (nil for none) and decodes the answer, failing
// the test unless its status is want.
func doJSON(t *testing.T, method, url string, body any, want int) map[string]any {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	code, _, b := do(t, method, url, r, "Content-Type", "application/json")
	if code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, code, b, want)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %s", method, url, b)
	}
	return out
}

// TestGateway_Tools: GET /v1/tools lists every tool with its schemas, POST
// /v1/tools/{name} calls it with the body as arguments, and mistakes get
// the status of their kind with {"error": ...}.
func TestGateway_Tools(t *testing.T) {
	base := gatewayBase(t, func(c *Config) { c.Gateway.MaxJSONBytes = 1 << 10 })
	list := doJSON(t, "GET", base+"/v1/tools", nil, 200)["tools"].([]any)
	names := map[string]bool{}
	for _, x := range list {
		tool := x.(map[string]any)
		names[tool["name"].(string)] = true
		if tool["input_schema"] == nil || tool["output_schema"] == nil || tool["description"] == "" {
			t.Errorf("tool %v lacks a schema or description", tool["name"])
		}
	}
	for _, want := range []string{"query_sql", "put_object", "matrix_search", "add_trace", "record_event"} {
		if !names[want] {
			t.Errorf("GET /v1/tools lacks %s", want)
		}
	}

	res := doJSON(t, "POST", base+"/v1/tools/query_sql", map[string]any{"sql": "SELECT 40 + 2 AS answer"}, 200)
	if rows := res["rows"].([]any); len(rows) != 1 || rows[0].([]any)[0] != 42.0 {
		t.Errorf("query_sql rows = %v, want [[42]]", res["rows"])
	}
	for _, c := range []struct {
		name, path string
		body       any
		code       int
		says       string
	}{
		{"unknown tool", "/v1/tools/query_sq", map[string]any{}, 404, `the nearest are "query_sql"`},
		{"unknown tool, far", "/v1/tools/sql", map[string]any{}, 404, `"query_sql"`},
		{"bad argument", "/v1/tools/query_sql", map[string]any{"query": "SELECT 1"}, 400, "query"},
		{"refused SQL", "/v1/tools/query_sql", map[string]any{"sql": "CREATE TABLE x (i INT)"}, 400, "not allowed"},
		{"missing dataset", "/v1/tools/get_manifest", map[string]any{"name": "nope"}, 404, "nope"},
		{"body too big", "/v1/tools/query_sql", map[string]any{"sql": "SELECT '" + strings.Repeat("x", 2000) + "'"}, 413, "gateway.max_json_bytes"},
	} {
		got := doJSON(t, "POST", base+c.path, c.body, c.code)
		if msg, _ := got["error"].(string); !strings.Contains(msg, c.says) {
			t.Errorf("%s: error %q does not say %q", c.name, msg, c.says)
		}
	}
	code, _, b := do(t, "POST", base+"/v1/tools/query_sql", strings.NewReader("{not json"))
	if code != 400 || !bytes.Contains(b, []byte("not JSON")) {
		t.Errorf("a body that is not JSON: %d %s, want 400", code, b)
	}
}

// TestGateway_Storage: a raw PUT stores the body as it is, and GET gives it
// back with its type and ETag, honouring If-None-Match and Range.
func TestGateway_Storage(t *testing.T) {
	base := gatewayBase(t, nil)
	body := "hello, gateway\n"
	code, _, b := do(t, "PUT", base+"/v1/storage/put/notes/a b.txt", strings.NewReader(body), "Content-Type", "text/plain; charset=utf-8")
	if code != 200 {
		t.Fatalf("PUT: %d %s", code, b)
	}
	var info map[string]any
	json.Unmarshal(b, &info)
	if info["key"] != "notes/a b.txt" || info["size"] != float64(len(body)) {
		t.Fatalf("PUT answered %s", b)
	}
	code, h, got := do(t, "GET", base+"/v1/storage/get/notes/a%20b.txt", nil)
	etag := h.Get("ETag")
	if code != 200 || string(got) != body || h.Get("Content-Type") != "text/plain; charset=utf-8" || etag != fmt.Sprintf("%q", info["etag"]) {
		t.Fatalf("GET: %d %q type %q etag %q", code, got, h.Get("Content-Type"), etag)
	}
	if code, _, _ := do(t, "GET", base+"/v1/storage/get/notes/a%20b.txt", nil, "If-None-Match", etag); code != 304 {
		t.Errorf("GET with If-None-Match of its ETag: %d, want 304", code)
	}
	if code, _, got := do(t, "GET", base+"/v1/storage/get/notes/a%20b.txt", nil, "Range", "bytes=7-13"); code != 206 || string(got) != "gateway" {
		t.Errorf("GET bytes=7-13: %d %q, want 206 \"gateway\"", code, got)
	}
	list := doJSON(t, "GET", base+"/v1/storage/list?prefix=notes/&limit=10", nil, 200)
	if objs := list["objects"].([]any); len(objs) != 1 {
		t.Errorf("list: %v", list)
	}
	if code, _, b := do(t, "PUT", base+"/v1/storage/put/_catalog/x", strings.NewReader("x")); code != 400 || !bytes.Contains(b, []byte("system area")) {
		t.Errorf("PUT into the system area: %d %s, want 400", code, b)
	}
	doJSON(t, "DELETE", base+"/v1/storage/delete/notes/a%20b.txt", nil, 200)
	if code, _, _ := do(t, "GET", base+"/v1/storage/get/notes/a%20b.txt", nil); code != 404 {
		t.Errorf("GET after DELETE: %d, want 404", code)
	}
	if code, _, b := do(t, "GET", base+"/v1/storage/list?limit=many", nil); code != 400 || !bytes.Contains(b, []byte("integer")) {
		t.Errorf("limit=many: %d %s, want 400", code, b)
	}
}

// TestGateway_Ingest: a raw or multipart body becomes a dataset that the
// catalog and SQL routes then show.
func TestGateway_Ingest(t *testing.T) {
	base := gatewayBase(t, func(c *Config) { c.Gateway.MaxBodyBytes = 1 << 16 })
	csv := fixture(t, "sales.csv")
	code, _, b := do(t, "POST", base+"/v1/ingest?name=sales", strings.NewReader(csv), "Content-Type", "text/csv")
	if code != 200 {
		t.Fatalf("raw ingest: %d %s", code, b)
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	mw.WriteField("note", "not a file")
	fw, _ := mw.CreateFormFile("file", "more.csv")
	io.WriteString(fw, fixture(t, "sales_more.csv"))
	mw.Close()
	code, _, b = do(t, "POST", base+"/v1/ingest?name=sales&mode=append", &form, "Content-Type", mw.FormDataContentType())
	if code != 200 || !bytes.Contains(b, []byte(`"version":2`)) {
		t.Fatalf("multipart append: %d %s", code, b)
	}
	datasets := doJSON(t, "GET", base+"/v1/catalog/list", nil, 200)["datasets"].([]any)
	if len(datasets) != 1 {
		t.Errorf("catalog list: %v", datasets)
	}
	m := doJSON(t, "GET", base+"/v1/catalog/manifest/sales?sample_rows=2", nil, 200)
	if m["name"] != "sales" {
		t.Errorf("manifest: %v", m)
	}
	res := doJSON(t, "POST", base+"/v1/sql", map[string]any{"sql": "SELECT count(*) FROM sales"}, 200)
	if res["row_count"] != 1.0 {
		t.Errorf("sql: %v", res)
	}
	for _, c := range []struct {
		url, body string
		code      int
		says      string
	}{
		{"/v1/ingest", csv, 400, "name"},
		{"/v1/ingest?name=big", strings.Repeat("a,b\n", 1<<15), 413, "gateway.max_body_bytes"},
		{"/v1/ingest?name=opts&options=%7Bnope", csv, 400, "options"},
	} {
		code, _, b := do(t, "POST", base+c.url, strings.NewReader(c.body))
		if code != c.code || !bytes.Contains(b, []byte(c.says)) {
			t.Errorf("POST %s: %d %s, want %d saying %q", c.url, code, b, c.code, c.says)
		}
	}
}

// TestGateway_Routes: the resource routes of vectors, pathway, matrix and
// observer reach their tools, path and query parameters included, and the
// observer records the gateway's calls with source rest.
func TestGateway_Routes(t *testing.T) {
	base := gatewayBase(t, nil)
	doJSON(t, "POST", base+"/v1/vectors/indexes", map[string]any{"name": "notes"}, 200)
	up := doJSON(t, "POST", base+"/v1/vectors/indexes/notes/upsert", map[string]any{"items": []any{
		map[string]any{"id": "a", "text": "error E4821 when uploading the backup"},
		map[string]any{"id": "b", "text": "the weather was fine"},
	}}, 200)
	if up["upserted"] != 2.0 {
		t.Errorf("upsert: %v", up)
	}
	hits := doJSON(t, "POST", base+"/v1/vectors/indexes/notes/search", map[string]any{"query_text": "E4821", "k": 1}, 200)["hits"].([]any)
	if len(hits) != 1 || hits[0].(map[string]any)["id"] != "a" {
		t.Errorf("search: %v", hits)
	}
	m := doJSON(t, "POST", base+"/v1/matrix/search", map[string]any{"query_text": "backup upload error", "k": 1}, 200)["hits"].([]any)
	if len(m) != 1 || m[0].(map[string]any)["id"] != "a" {
		t.Errorf("matrix search: %v", m)
	}
	if c := doJSON(t, "GET", base+"/v1/matrix/corpora", nil, 200)["corpora"].([]any); len(c) != 1 {
		t.Errorf("corpora: %v", c)
	}
	tr := doJSON(t, "POST", base+"/v1/pathway/traces", map[string]any{"content": map[string]any{"tried": "rclone"}, "text": "tried rclone for the backup"}, 200)
	uid := tr["uid"].(string)
	if got := doJSON(t, "GET", base+"/v1/pathway/traces/"+uid, nil, 200); got["uid"] != uid {
		t.Errorf("get trace: %v", got)
	}
	doJSON(t, "POST", base+"/v1/pathway/traces/"+uid+"/retire", map[string]any{"reason": "done"}, 200)
	if h := doJSON(t, "GET", base+"/v1/pathway/traces/"+uid+"/history", nil, 200); len(h["traces"].([]any)) != 1 {
		t.Errorf("history: %v", h)
	}
	doJSON(t, "DELETE", base+"/v1/vectors/indexes/notes", nil, 200)
	doJSON(t, "GET", base+"/v1/vectors/indexes/notes/search", nil, 405)

	events := doJSON(t, "GET", base+"/v1/observer/events?source=rest&limit=100", nil, 200)["events"].([]any)
	seen := map[string]bool{}
	for _, e := range events {
		op := e.(map[string]any)
		if op["source"] != "rest" {
			t.Errorf("event from source %v in a source=rest listing", op["source"])
		}
		seen[op["endpoint"].(string)] = true
	}
	for _, want := range []string{"create_index", "upsert_vectors", "search_vectors", "matrix_search", "add_trace", "get_trace", "retire_trace", "drop_index"} {
		if !seen[want] {
			t.Errorf("the observer has no rest call of %s (saw %v)", want, seen)
		}
	}
}

// TestGateway_Saturated: with every write place taken, one more write gets
// 503 with Retry-After, while reads go on; the place frees when the write
// ends.
func TestGateway_Saturated(t *testing.T) {
	// The gateway of the engines, with one write place and a Watch that
	// says when an upload's call has begun, which is when it holds its
	// place.
	cfg := httpConfig(t)
	e, err := openEngines(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	holding := make(chan struct{}, 1)
	g := &gateway.Gateway{Tools: tools.All(e.backends), Backends: e.backends, MaxWrites: 1,
		Watch: func(ctx context.Context, tool string, _ json.RawMessage) (context.Context, func(error)) {
			if tool == "put_object" {
				select {
				case holding <- struct{}{}:
				default:
				}
			}
			return ctx, func(error) {}
		}}
	base := listenHTTP(t, cfg, g.Handler())

	pr, pw := io.Pipe()
	first := make(chan int)
	go func() {
		req, _ := http.NewRequest("PUT", base+"/v1/storage/put/slow.bin", pr)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	select {
	case <-holding:
	case <-time.After(30 * time.Second):
		t.Fatal("the slow PUT's call did not begin")
	}
	code, h, b := do(t, "PUT", base+"/v1/storage/put/other.bin", strings.NewReader("x"))
	if code != 503 || h.Get("Retry-After") == "" || !bytes.Contains(b, []byte("gateway.max_writes")) {
		t.Errorf("a write beyond the limit: %d %s (Retry-After %q), want 503", code, b, h.Get("Retry-After"))
	}
	if code, _, b := do(t, "POST", base+"/v1/tools/add_trace", strings.NewReader(`{"content": {}}`)); code != 503 {
		t.Errorf("a writing tool beyond the limit: %d %s, want 503", code, b)
	}
	doJSON(t, "POST", base+"/v1/tools/query_sql", map[string]any{"sql": "SELECT 1"}, 200)
	pw.Write([]byte("the bytes"))
	pw.Close()
	if code := <-first; code != 200 {
		t.Fatalf("the slow PUT: %d", code)
	}
	if code, _, b := do(t, "PUT", base+"/v1/storage/put/other.bin", strings.NewReader("x")); code != 200 {
		t.Errorf("a write after the place freed: %d %s", code, b)
	}
}

// TestGateway_OpenAPI: GET /v1/openapi.json is a valid OpenAPI 3.1
// document (checked against the specification's schema) with a path for
// every tool, and the paths it names for resource routes are served.
func TestGateway_OpenAPI(t *testing.T) {
	base := gatewayBase(t, nil)
	code, _, b := do(t, "GET", base+"/v1/openapi.json", nil)
	if code != 200 {
		t.Fatalf("GET /v1/openapi.json: %d %s", code, b)
	}
	doc, err := libopenapi.NewDocument(b)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, problems := v.ValidateDocument(); !ok {
		for _, p := range problems[:min(10, len(problems))] {
			t.Errorf("invalid OpenAPI: %s %s", p.Message, p.Reason)
			for _, se := range p.SchemaValidationErrors[:min(3, len(p.SchemaValidationErrors))] {
				t.Errorf("  at %s: %s", se.FieldPath, se.Reason)
			}
		}
	}
	var parsed struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &parsed); err != nil || parsed.OpenAPI != "3.1.0" {
		t.Fatalf("document %v: openapi %q", err, parsed.OpenAPI)
	}
	for _, tool := range tools.All(nil) {
		if _, ok := parsed.Paths["/v1/tools/"+tool.Name]["post"]; !ok {
			t.Errorf("no path for tool %s", tool.Name)
		}
	}
	for _, p := range []string{"/v1/storage/put/{key}", "/v1/sql", "/v1/vectors/indexes/{index}/search", "/v1/pathway/traces/{uid}", "/v1/observer/events"} {
		if parsed.Paths[p] == nil {
			t.Errorf("no path %s", p)
		}
	}
}

// trickle is a body that sends n chunks, one every gap: the sleep paces a
// slow client, which is what the test is about; it waits for nothing.
type trickle struct {
	n   int
	gap time.Duration
}

func (tr *trickle) Read(p []byte) (int, error) {
	if tr.n == 0 {
		return 0, io.EOF
	}
	time.Sleep(tr.gap)
	tr.n--
	return copy(p, "chunk\n"), nil
}

// TestGateway_SlowBody: a streamed upload may take longer than
// server.read_timeout_ms, which bounds JSON bodies, up to the call's own
// limit.
func TestGateway_SlowBody(t *testing.T) {
	base := gatewayBase(t, func(c *Config) { c.Server.ReadTimeoutMS = 300 })
	if code, _, b := do(t, "PUT", base+"/v1/storage/put/slow.txt", &trickle{n: 8, gap: 100 * time.Millisecond}); code != 200 {
		t.Errorf("a streamed upload over 0.8 s with a 0.3 s read timeout: %d %s, want 200", code, b)
	}
	req, _ := http.NewRequest("POST", base+"/v1/tools/query_sql", &trickle{n: 8, gap: 100 * time.Millisecond})
	if resp, err := http.DefaultClient.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("a JSON body over 0.8 s with a 0.3 s read timeout was read whole: %s", b)
		}
	}
}

// zeros is an endless body of one repeated line, made as it is read.
type zeros struct{ left int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	const line = "1234567,abcdefghij\n"
	n := 0
	for n+len(line) <= len(p) && z.left >= int64(len(line)) {
		n += copy(p[n:], line)
		z.left -= int64(len(line))
	}
	if n == 0 {
		n = copy(p, line[:min(int64(len(p)), z.left)])
		z.left -= int64(n)
	}
	return n, nil
}

// TestGateway_BigBodies: a 300 MB PUT and a 300 MB ingest body, with the
// caps raised, go through while the process's Go heap grows by far less
// than the body.
func TestGateway_BigBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 600 MB")
	}
	const size = 19 * (300 << 20 / 19) // whole lines
	base := gatewayBase(t, func(c *Config) { c.Gateway.MaxBodyBytes = 400 << 20 })
	for _, c := range []struct{ method, path string }{
		{"PUT", "/v1/storage/put/big.csv"},
		{"POST", "/v1/ingest?name=big&format=csv&options=%7B%22header%22%3Afalse%7D"},
	} {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		stop := heapPeak()
		code, _, b := do(t, c.method, base+c.path, &zeros{left: size}, "Content-Type", "text/csv")
		grew := int64(stop()) - int64(before.HeapInuse)
		if code != 200 {
			t.Fatalf("%s %s of %d bytes: %d %s", c.method, c.path, size, code, b)
		}
		t.Logf("%s %s of %d MB: the Go heap peaked %d MB above where it was", c.method, c.path, size>>20, grew>>20)
		if grew > 64<<20 {
			t.Errorf("%s %s: the heap grew by %d MB for a %d MB body", c.method, c.path, grew>>20, size>>20)
		}
	}
	res := doJSON(t, "POST", base+"/v1/sql", map[string]any{"sql": "SELECT count(*) AS n FROM big"}, 200)
	if got := res["rows"].([]any)[0].([]any)[0]; got != float64(size/19) {
		t.Errorf("rows ingested: %v, want %d", got, size/19)
	}
}

// heapPeak samples the Go heap in use until stop, which returns the peak.
func heapPeak() (stop func() uint64) {
	var peak uint64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak }
}

// TestGateway_Limits: an upload over gateway.max_body_bytes gets 413,
// whether it says its length or not, and gateway.enabled = false leaves
// /v1 unserved while /mcp goes on.
func TestGateway_Limits(t *testing.T) {
	base := gatewayBase(t, func(c *Config) { c.Gateway.MaxBodyBytes = 1000 })
	if code, _, b := do(t, "PUT", base+"/v1/storage/put/big.bin", strings.NewReader(strings.Repeat("x", 1001))); code != 413 || !bytes.Contains(b, []byte("gateway.max_body_bytes")) {
		t.Errorf("a 1001-byte PUT with Content-Length: %d %s, want 413", code, b)
	}
	if code, _, b := do(t, "PUT", base+"/v1/storage/put/big.bin", &zeros{left: 5000}); code != 413 {
		t.Errorf("a 5000-byte chunked PUT: %d %s, want 413", code, b)
	}
	if code, _, _ := do(t, "GET", base+"/v1/storage/get/big.bin", nil); code != 404 {
		t.Errorf("the refused upload left an object: GET %d", code)
	}
	off := gatewayBase(t, func(c *Config) { c.Gateway.Enabled = false })
	if code, _, _ := do(t, "GET", off+"/v1/tools", nil); code != 404 {
		t.Errorf("GET /v1/tools with the gateway off: %d, want 404", code)
	}
}

// TestGateway_SQLStream: POST /v1/sql with Accept set to CSV, NDJSON, Arrow
// IPC or Parquet streams the whole result (past query_sql's row cap) in that
// format with its row count in the trailer; read back (Arrow with arrow-go,
// the others with DuckDB) it holds what the JSON answer holds.
func TestGateway_SQLStream(t *testing.T) {
	base := gatewayBase(t, nil)
	const q = "SELECT i, i / 2 AS half, 'r' || i AS name, CASE WHEN i % 7 = 0 THEN NULL ELSE i END AS maybe FROM range(25000) t(i)"
	want := doJSON(t, "POST", base+"/v1/sql", map[string]any{"sql": "SELECT count(*), sum(i), sum(half), count(maybe), max(name) FROM (" + q + ")"}, 200)["rows"].([]any)[0].([]any)
	capped := doJSON(t, "POST", base+"/v1/sql", map[string]any{"sql": q}, 200)
	if capped["truncated"] != true {
		t.Fatalf("the JSON answer of 25000 rows is not capped: %v", capped["row_count"])
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct{ accept, read string }{
		{"text/csv", "read_csv('%s')"},
		{"application/x-ndjson", "read_json('%s', format = 'newline_delimited')"},
		{"application/vnd.apache.parquet", "read_parquet('%s')"},
		{"application/vnd.apache.arrow.stream", ""},
	} {
		req, _ := http.NewRequest("POST", base+"/v1/sql", strings.NewReader(fmt.Sprintf(`{"sql": %q}`, q)))
		req.Header.Set("Accept", c.accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != c.accept {
			t.Fatalf("%s: %d %v, type %q: %.200s", c.accept, resp.StatusCode, err, resp.Header.Get("Content-Type"), body)
		}
		if n := resp.Trailer.Get("Lakehouse-Rows"); n != "25000" {
			t.Errorf("%s: trailer Lakehouse-Rows = %q, want 25000", c.accept, n)
		}
		var got []any
		if c.read == "" {
			got = arrowSums(t, body)
		} else {
			path := filepath.Join(t.TempDir(), "result")
			os.WriteFile(path, body, 0o644)
			row := db.QueryRow(fmt.Sprintf("SELECT count(*), sum(i), sum(half), count(maybe), max(name) FROM "+c.read, path))
			var n, sumI, count int64
			var half float64
			var name string
			if err := row.Scan(&n, &sumI, &half, &count, &name); err != nil {
				t.Fatalf("%s: read back: %v", c.accept, err)
			}
			got = []any{float64(n), float64(sumI), half, float64(count), name}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: read back %v, want %v", c.accept, got, want)
		}
	}
	code, h, b := do(t, "POST", base+"/v1/sql", strings.NewReader(`{"sql": "CREATE TABLE x (i INT)"}`), "Accept", "text/csv")
	if code != 400 || h.Get("Content-Type") != "application/json" || !bytes.Contains(b, []byte("not allowed")) {
		t.Errorf("a refused statement, streamed: %d %q %s, want a 400 JSON error", code, h.Get("Content-Type"), b)
	}
}

// arrowSums reads an Arrow IPC stream of the columns i, half, name and
// maybe, and returns what TestGateway_SQLStream's JSON query computes.
func arrowSums(t *testing.T, stream []byte) []any {
	t.Helper()
	rd, err := ipc.NewReader(bytes.NewReader(stream))
	if err != nil {
		t.Fatalf("arrow: %v", err)
	}
	defer rd.Release()
	var n, sumI, count int64
	var half float64
	name := ""
	for rd.Next() {
		rec := rd.RecordBatch()
		cols := map[string]arrow.Array{}
		for i, f := range rec.Schema().Fields() {
			cols[f.Name] = rec.Column(i)
		}
		is, hs, ns, ms := cols["i"].(*array.Int64), cols["half"], cols["name"].(*array.String), cols["maybe"].(*array.Int64)
		for r := 0; r < int(rec.NumRows()); r++ {
			n++
			sumI += is.Value(r)
			switch h := hs.(type) {
			case *array.Float64:
				half += h.Value(r)
			case *array.Decimal128:
				half += h.Value(r).ToFloat64(h.DataType().(*arrow.Decimal128Type).Scale)
			default:
				t.Fatalf("arrow: half is %T", hs)
			}
			if !ms.IsNull(r) {
				count++
			}
			name = max(name, ns.Value(r))
		}
	}
	if err := rd.Err(); err != nil {
		t.Fatalf("arrow: %v", err)
	}
	return []any{float64(n), float64(sumI), half, float64(count), name}
}

// TestGateway_Timeout: a call that outlasts gateway.request_timeout_ms is
// stopped and answered as a timeout.
func TestGateway_Timeout(t *testing.T) {
	base := gatewayBase(t, func(c *Config) { c.Gateway.RequestTimeoutMS = 200 })
	start := time.Now()
	code, _, b := do(t, "POST", base+"/v1/tools/query_sql", strings.NewReader(`{"sql": "SELECT count(*) FROM range(100000000000)"}`))
	if took := time.Since(start); code == 200 || took > 20*time.Second {
		t.Fatalf("a query past the call's limit: %d %s after %v", code, b, took)
	}
	if code != 504 || !bytes.Contains(b, []byte("gateway.request_timeout_ms")) {
		t.Errorf("a query past the call's limit: %d %s, want 504 naming gateway.request_timeout_ms", code, b)
	}
}
