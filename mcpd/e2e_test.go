package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/catalog"
)

// testConfig is the default configuration on a fresh data directory.
func testConfig(t *testing.T, dataDir string) Config {
	t.Helper()
	cfg := defaultConfig()
	cfg.DataDir = dataDir
	return cfg
}

// session opens the engines of cfg, serves them on an in-memory transport and
// returns a connected client session; both close when the test ends (or when
// the returned close is called, to test a restart).
func session(t *testing.T, cfg Config, opts *mcp.ClientOptions) (*mcp.ClientSession, func()) {
	t.Helper()
	ctx := context.Background()
	e, err := openEngines(ctx, cfg)
	if err != nil {
		t.Fatalf("open engines: %v", err)
	}
	st, ct := mcp.NewInMemoryTransports()
	ss, err := newServer(e.backends, false).Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test"}, opts).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	closeAll := func() {
		once.Do(func() {
			cs.Close()
			ss.Wait()
			if err := e.Close(); err != nil {
				t.Errorf("close engines: %v", err)
			}
		})
	}
	t.Cleanup(closeAll)
	return cs, closeAll
}

// call runs a tool that must succeed and decodes its structured result.
func call(t *testing.T, cs *mcp.ClientSession, tool string, args any) map[string]any {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: transport error: %v", tool, err)
	}
	if res.IsError {
		t.Fatalf("%s(%v): tool error: %s", tool, args, contentText(res))
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: structured content %s: %v", tool, b, err)
	}
	return out
}

// callErr runs a tool that must fail with a tool error and returns its text.
func callErr(t *testing.T, cs *mcp.ClientSession, tool string, args any) string {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: transport error instead of a tool error: %v", tool, err)
	}
	if !res.IsError {
		t.Fatalf("%s(%v) succeeded, want a tool error; got %s", tool, args, contentText(res))
	}
	return contentText(res)
}

func query(t *testing.T, cs *mcp.ClientSession, sql string) [][]any {
	t.Helper()
	out := call(t, cs, "query_sql", map[string]any{"sql": sql})
	var rows [][]any
	for _, r := range out["rows"].([]any) {
		rows = append(rows, r.([]any))
	}
	return rows
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestDatasetLifecycle(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cs, closeSession := session(t, cfg, nil)

	// Ingest CSV inline and NDJSON from an object.
	got := call(t, cs, "ingest_dataset", map[string]any{"name": "sales", "source": map[string]any{"content": fixture(t, "sales.csv")}})
	if got["rows"] != 8.0 || got["version"] != 1.0 || got["unchanged"] != false || got["format"] != "csv" {
		t.Fatalf("ingest sales = %v", got)
	}
	if want := `[{"name":"id","type":"BIGINT"},{"name":"region","type":"VARCHAR"},{"name":"product","type":"VARCHAR"},{"name":"units","type":"BIGINT"},{"name":"price","type":"DOUBLE"},{"name":"sold_on","type":"DATE"}]`; jsonText(got["columns"]) != want {
		t.Errorf("columns = %s, want %s", jsonText(got["columns"]), want)
	}
	call(t, cs, "put_object", map[string]any{"key": "raw/events.ndjson", "content": fixture(t, "events.ndjson")})
	got = call(t, cs, "ingest_dataset", map[string]any{"name": "events", "source": map[string]any{"object_key": "raw/events.ndjson"}})
	if got["rows"] != 5.0 || got["format"] != "ndjson" {
		t.Fatalf("ingest events = %v", got)
	}

	list := call(t, cs, "list_datasets", map[string]any{})
	var summary []string
	for _, d := range list["datasets"].([]any) {
		d := d.(map[string]any)
		summary = append(summary, fmt.Sprintf("%v:%v rows,%v cols,v%v", d["name"], d["rows"], d["column_count"], d["current_version"]))
	}
	if got := strings.Join(summary, " "); got != "events:5 rows,4 cols,v1 sales:8 rows,6 cols,v1" {
		t.Errorf("list_datasets = %s", got)
	}

	man := call(t, cs, "get_manifest", map[string]any{"name": "sales", "sample_rows": 2})
	if man["id"] != catalog.ID("sales") || man["rows"] != 8.0 || len(man["versions"].([]any)) != 1 || man["fingerprint"] == "" {
		t.Errorf("get_manifest = %v", man)
	}
	if sample := man["sample"].(map[string]any); sample["row_count"] != 2.0 {
		t.Errorf("sample = %v", sample)
	}

	// Aggregates with exact values.
	rows := query(t, cs, "SELECT region, round(sum(units * price), 2) AS revenue, count(*) AS n FROM sales GROUP BY region ORDER BY region")
	if want := `[["east",75,2],["north",127.49,3],["south",20,2],["west",199.98,1]]`; jsonText(rows) != want {
		t.Errorf("revenue by region = %s, want %s", jsonText(rows), want)
	}
	rows = query(t, cs, "SELECT user, sum(ms) FROM events GROUP BY ALL ORDER BY 1")
	if want := `[["ana",460],["bo",95],["cy",2010]]`; jsonText(rows) != want {
		t.Errorf("ms by user = %s, want %s", jsonText(rows), want)
	}

	// The same bytes again change nothing.
	got = call(t, cs, "ingest_dataset", map[string]any{"name": "sales", "source": map[string]any{"content": fixture(t, "sales.csv")}, "mode": "append"})
	if got["unchanged"] != true || got["version"] != 1.0 || got["rows"] != 8.0 {
		t.Errorf("re-ingest = %v, want unchanged version 1", got)
	}

	// Append, then replace; every version stays queryable.
	got = call(t, cs, "ingest_dataset", map[string]any{"name": "sales", "source": map[string]any{"content": fixture(t, "sales_more.csv")}, "mode": "append"})
	if got["version"] != 2.0 || got["rows"] != 10.0 || got["added_rows"] != 2.0 {
		t.Fatalf("append = %v", got)
	}
	got = call(t, cs, "ingest_dataset", map[string]any{"name": "sales", "source": map[string]any{"content": fixture(t, "sales_more.csv")}, "mode": "replace"})
	if got["version"] != 3.0 || got["rows"] != 2.0 {
		t.Fatalf("replace = %v", got)
	}
	counts := `SELECT (SELECT count(*) FROM "sales@v1"), (SELECT count(*) FROM "sales@v2"), (SELECT count(*) FROM sales), (SELECT sum(units) FROM "sales@v2")`
	if got := jsonText(query(t, cs, counts)); got != `[[8,10,2,35]]` {
		t.Errorf("version counts = %s", got)
	}
	man = call(t, cs, "get_manifest", map[string]any{"name": "sales", "version": 2})
	if man["version"] != 2.0 || man["current_version"] != 3.0 || man["rows"] != 10.0 || man["table"] != `"sales@v2"` {
		t.Errorf("get_manifest v2 = %v", man)
	}

	call(t, cs, "drop_dataset", map[string]any{"name": "events"})
	if msg := callErr(t, cs, "query_sql", map[string]any{"sql": "SELECT * FROM events"}); !strings.Contains(msg, "sales") {
		t.Errorf("query of a dropped dataset: %q should list the datasets that exist", msg)
	}

	// Restart on the same directory: everything is still there.
	closeSession()
	cs, _ = session(t, cfg, nil)
	if got := jsonText(query(t, cs, counts)); got != `[[8,10,2,35]]` {
		t.Errorf("after restart, version counts = %s", got)
	}
	list = call(t, cs, "list_datasets", map[string]any{})
	if n := len(list["datasets"].([]any)); n != 1 {
		t.Errorf("after restart, %d datasets, want 1 (events was dropped)", n)
	}
	obj := call(t, cs, "get_object", map[string]any{"key": "raw/events.ndjson"})
	if obj["content"] != fixture(t, "events.ndjson") {
		t.Errorf("after restart, object content = %q", obj["content"])
	}
}

func TestBadInputKeepsServing(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Objects.MaxBytes = 4096
	cs, _ := session(t, cfg, nil)
	call(t, cs, "ingest_dataset", map[string]any{"name": "sales", "source": map[string]any{"content": fixture(t, "sales.csv")}})
	call(t, cs, "put_object", map[string]any{"key": "bad.csv", "content": base64.StdEncoding.EncodeToString([]byte("a,b\n1,\xff\xfe\n")), "encoding": "base64"})

	ingest := func(name, content string, extra map[string]any) map[string]any {
		args := map[string]any{"name": name, "source": map[string]any{"content": content}}
		for k, v := range extra {
			args[k] = v
		}
		return args
	}
	big := strings.Repeat("x,y\n", 2000)
	cases := []struct {
		name, tool string
		args       any
		want       string
	}{
		{"no source", "ingest_dataset", map[string]any{"name": "rag", "source": map[string]any{}}, "exactly one source"},
		{"ragged csv", "ingest_dataset", ingest("rag", "a,b,c\n1,2,3\n4,5,6\n7,8\n10,11,12\n", nil), "line 4: Expected Number of Columns: 3 Found: 2"},
		{"empty content", "ingest_dataset", ingest("empty", "  \n", nil), "content is empty"},
		{"unknown format", "ingest_dataset", ingest("x", "a\n1\n", map[string]any{"format": "xlsx"}), `unknown format "xlsx"`},
		{"unknown mode", "ingest_dataset", ingest("x", "a\n1\n", map[string]any{"mode": "upsert"}), `unknown mode "upsert"`},
		{"bad name", "ingest_dataset", ingest("Sales-2024", "a\n1\n", nil), "lowercase letters, digits and _"},
		{"keyword name", "ingest_dataset", ingest("select", "a\n1\n", nil), "reserved SQL keyword"},
		{"exists", "ingest_dataset", ingest("sales", "a\n1\n", nil), "already exists"},
		{"append schema", "ingest_dataset", ingest("sales", "id,region\n1,x\n", map[string]any{"mode": "append"}), "column product (VARCHAR) is missing"},
		{"append missing", "ingest_dataset", ingest("nosuch", "a\n1\n", map[string]any{"mode": "append"}), "use mode create"},
		{"path off", "ingest_dataset", map[string]any{"name": "p", "source": map[string]any{"path": "/etc/passwd"}}, "ingest.allowed_paths"},
		{"invalid utf8", "ingest_dataset", map[string]any{"name": "bad", "source": map[string]any{"object_key": "bad.csv"}}, "cannot read the csv source (object:bad.csv)"},
		{"object over cap", "put_object", map[string]any{"key": "big.txt", "content": strings.Repeat("x", 5000)}, "over the 4096-byte cap"},
		{"content over cap", "ingest_dataset", ingest("big", big, nil), "over the 4096-byte cap"},
		{"dotdot key", "put_object", map[string]any{"key": "a/../b", "content": "x"}, `".."`},
		{"system key", "put_object", map[string]any{"key": "_catalog/sales.json", "content": "{}"}, "system area"},
		{"delete system key", "delete_object", map[string]any{"key": "_catalog/sales.json"}, "system area"},
		{"missing object", "get_object", map[string]any{"key": "nope.txt"}, "nope.txt"},
		{"syntax error", "query_sql", map[string]any{"sql": "SELEC 1"}, "LINE 1"},
		{"missing table", "query_sql", map[string]any{"sql": "SELECT * FROM nope"}, "sales"},
		{"write", "query_sql", map[string]any{"sql": "CREATE TABLE t AS SELECT 1"}, "read"},
		{"sandbox", "query_sql", map[string]any{"sql": "SELECT * FROM read_text('/etc/passwd')"}, "/etc/passwd"},
		{"copy out", "query_sql", map[string]any{"sql": "COPY sales TO '/tmp/out.csv'"}, "Cannot access file"},
		{"two statements", "query_sql", map[string]any{"sql": "SELECT 1; SELECT 2"}, "one statement"},
		{"timeout", "query_sql", map[string]any{"sql": "SELECT count(*) FROM range(100000000) a, range(1000000) b", "timeout_ms": 100}, "timeout"},
		{"max rows", "query_sql", map[string]any{"sql": "SELECT 1", "max_rows": 20000}, "max_rows"},
		{"missing manifest", "get_manifest", map[string]any{"name": "nope"}, `dataset "nope" not found; list_datasets shows 1 dataset: sales`},
		{"missing version", "get_manifest", map[string]any{"name": "sales", "version": 9}, "versions are 1 to 1"},
		{"drop missing", "drop_dataset", map[string]any{"name": "nope"}, "not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if msg := callErr(t, cs, c.tool, c.args); !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not contain %q", msg, c.want)
			}
		})
	}
	// After all that, the server still serves and the data is intact.
	if got := jsonText(query(t, cs, "SELECT count(*), sum(units) FROM sales")); got != `[[8,28]]` {
		t.Errorf("sales after bad input = %s", got)
	}
	if list := call(t, cs, "list_datasets", nil); len(list["datasets"].([]any)) != 1 {
		t.Errorf("datasets after bad input = %v", list)
	}
}

func TestIngestProgressAndCancel(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "in")
	os.Mkdir(src, 0o755)
	big := filepath.Join(src, "big.csv")
	var sb strings.Builder
	sb.WriteString("id,name,value\n")
	for i := range 3_000_000 {
		sb.WriteString(strconv.Itoa(i))
		sb.WriteString(",name-of-row,")
		sb.WriteString(strconv.Itoa(i * 7))
		sb.WriteString("\n")
	}
	if err := os.WriteFile(big, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, filepath.Join(dir, "data"))
	cfg.Ingest.AllowedPaths = []string{src}

	notes := make(chan *mcp.ProgressNotificationParams, 100)
	cs, _ := session(t, cfg, &mcp.ClientOptions{ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
		notes <- r.Params
	}})

	// With a progress token, the client hears how the ingest goes.
	params := &mcp.CallToolParams{Name: "ingest_dataset", Arguments: map[string]any{"name": "small", "source": map[string]any{"content": fixture(t, "sales.csv")}}}
	params.SetProgressToken("tok-1")
	if res, err := cs.CallTool(context.Background(), params); err != nil || res.IsError {
		t.Fatalf("ingest: %v %v", err, res)
	}
	select {
	case n := <-notes:
		if n.ProgressToken != "tok-1" || !strings.Contains(n.Message, "source ready") {
			t.Errorf("progress = %+v", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no progress notification")
	}

	// Cancelling a long ingest stops it: nothing is created, and the dataset
	// lock is free for the next ingest at once.
	ctx, cancel := context.WithCancel(context.Background())
	params = &mcp.CallToolParams{Name: "ingest_dataset", Arguments: map[string]any{"name": "big", "source": map[string]any{"path": big}}}
	params.SetProgressToken("tok-2")
	errc := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, params)
		errc <- err
	}()
	for n := range notes {
		if n.ProgressToken == "tok-2" {
			break
		}
	}
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("cancelled call returned no error")
	}
	got := call(t, cs, "ingest_dataset", map[string]any{"name": "big", "source": map[string]any{"content": "id\n1\n"}})
	if got["version"] != 1.0 || got["rows"] != 1.0 {
		t.Errorf("ingest after a cancelled one = %v, want a fresh version 1", got)
	}
	entries, _ := os.ReadDir(filepath.Join(cfg.DataDir, "tmp", "ingest"))
	if len(entries) != 0 {
		t.Errorf("ingest scratch space not cleaned after cancel: %v", entries)
	}
}

func TestObjects(t *testing.T) {
	cs, _ := session(t, testConfig(t, t.TempDir()), nil)

	put := call(t, cs, "put_object", map[string]any{"key": "notes/today.md", "content": "# hello"})
	sum := sha256.Sum256([]byte("# hello"))
	if put["size"] != 7.0 || put["etag"] != hex.EncodeToString(sum[:]) || put["content_type"] != "text/markdown; charset=utf-8" || put["modified"] == "" {
		t.Errorf("put_object = %v", put)
	}
	binary := []byte{0, 1, 2, 0xff, 0xfe}
	call(t, cs, "put_object", map[string]any{"key": "blobs/x.bin", "content": base64.StdEncoding.EncodeToString(binary), "encoding": "base64", "content_type": "application/x-test"})
	got := call(t, cs, "get_object", map[string]any{"key": "blobs/x.bin"})
	if got["encoding"] != "base64" || got["content"] != base64.StdEncoding.EncodeToString(binary) || got["content_type"] != "application/x-test" {
		t.Errorf("binary get_object = %v", got)
	}
	if msg := callErr(t, cs, "get_object", map[string]any{"key": "blobs/x.bin", "encoding": "utf8"}); !strings.Contains(msg, "base64") {
		t.Errorf("utf8 of binary: %q", msg)
	}

	// A cut at max_bytes never splits a character.
	call(t, cs, "put_object", map[string]any{"key": "text/accents.txt", "content": "aé€x"}) // 1+2+3+1 bytes
	got = call(t, cs, "get_object", map[string]any{"key": "text/accents.txt", "max_bytes": 5})
	if got["content"] != "aé" || got["truncated"] != true || got["size"] != 7.0 || got["returned_bytes"] != 3.0 {
		t.Errorf("truncated get_object = %v", got)
	}

	// Paging through 25 objects, 10 at a time, in key order.
	for i := range 25 {
		call(t, cs, "put_object", map[string]any{"key": fmt.Sprintf("many/%02d.txt", i), "content": strconv.Itoa(i)})
	}
	var keys []string
	cursor := ""
	for pages := 0; ; pages++ {
		page := call(t, cs, "list_objects", map[string]any{"prefix": "many/", "limit": 10, "cursor": cursor})
		for _, o := range page["objects"].([]any) {
			keys = append(keys, o.(map[string]any)["key"].(string))
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			if pages != 2 {
				t.Errorf("%d pages, want 3", pages+1)
			}
			break
		}
		cursor = next
	}
	if len(keys) != 25 || keys[0] != "many/00.txt" || keys[24] != "many/24.txt" {
		t.Errorf("listed %d keys: %v", len(keys), keys)
	}
	if msg := callErr(t, cs, "list_objects", map[string]any{"limit": 5000}); !strings.Contains(msg, "cursor") {
		t.Errorf("limit over the cap: %q", msg)
	}

	// System areas are readable, not writable.
	call(t, cs, "ingest_dataset", map[string]any{"name": "sales", "source": map[string]any{"content": fixture(t, "sales.csv")}})
	man := call(t, cs, "get_object", map[string]any{"key": "_catalog/sales.json"})
	if !strings.Contains(man["content"].(string), `"name": "sales"`) {
		t.Errorf("manifest object = %v", man["content"])
	}

	deleteObject(t, cs, "notes/today.md")
}

// deleteObject deletes key with delete_object, and checks that it is gone:
// get_object and a second delete_object say it is not found.
func deleteObject(t *testing.T, cs *mcp.ClientSession, key string) {
	t.Helper()
	call(t, cs, "delete_object", map[string]any{"key": key})
	if msg := callErr(t, cs, "get_object", map[string]any{"key": key}); !strings.Contains(msg, "not found") {
		t.Errorf("get after delete: %q", msg)
	}
	if msg := callErr(t, cs, "delete_object", map[string]any{"key": key}); !strings.Contains(msg, "not found") {
		t.Errorf("second delete: %q", msg)
	}
}

// TestToolSchemasAreObjects checks the schemas a client sees: each tool's
// input and output schema, and the schema of every property in them, is a
// JSON object. A bare true (what an empty schema encodes as) is valid JSON
// Schema, but some clients, the MCP Inspector among them, refuse the whole
// tool list over one property schema that is not an object.
func TestToolSchemasAreObjects(t *testing.T) {
	cs, _ := session(t, testConfig(t, t.TempDir()), nil)
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			t.Errorf("%s = %v, want a schema object", path, v)
			return
		}
		if props, ok := m["properties"].(map[string]any); ok {
			for name, p := range props {
				walk(path+".properties."+name, p)
			}
		}
		if items, ok := m["items"].(map[string]any); ok {
			walk(path+".items", items)
		}
	}
	for _, tool := range res.Tools {
		for kind, schema := range map[string]any{"input": tool.InputSchema, "output": tool.OutputSchema} {
			b, err := json.Marshal(schema)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			walk(tool.Name+" "+kind, v)
		}
	}
}
