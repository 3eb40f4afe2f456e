// Command context measures the context bill of MCP servers side by side:
// the bytes an agent's client reads into its context from each server, over
// stdio, with one client (go-sdk's) for all of them.
//
// For each server it records the raw JSON of three answers as they come off
// the wire (the "result" member of the JSON-RPC response, before the client
// decodes it): initialize (server info and instructions), tools/list, and
// one typical search or query answer (the whole CallToolResult: text
// content and structuredContent). The servers get comparable data:
//
//   - mcpd (built from ./mcpd, fresh data directory): -traces traces added
//     with add_trace, then search_traces with a typical query and default
//     arguments; a -rows-row dataset ingested from inline CSV, then
//     query_sql of 100 rows; list_datasets; and an index of the traces'
//     texts (create_index, upsert_vectors), then search_vectors with the
//     same query and default arguments.
//   - with -fence (the default), mcpd again with fence_data on, as mcpd
//     serves streamable HTTP by default: results that show stored data
//     arrive between <data-ID> markers, and the instructions say so.
//   - the reference memory server (npm @modelcontextprotocol/server-memory,
//     fresh memory file): one entity per trace whose observations are the
//     trace's summary, steps and outcome, then search_nodes. Its search is a
//     substring match, so its query is one word of the typical query.
//   - DBHub (npm @bytebase/dbhub: two tools, SQLite through Node's built-in
//     node:sqlite, no native module) on a SQLite file holding the same rows,
//     then execute_sql of the same 100 rows.
//   - mini-sqlite (bench/percall/sqlite-server.mjs: query and list_tables
//     on node:sqlite with @modelcontextprotocol/sdk, about 60 lines), on the
//     same file, when -mini is given.
//
// It prints a markdown table (server, tools, initialize, tools/list and
// answer bytes) and, with -v, every answer.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var (
	mcpdBin = flag.String("mcpd", "", "mcpd binary (run.sh builds it)")
	nodeBin = flag.String("node", "", "Node 22 binary")
	npmDir  = flag.String("npm", "", "npm prefix holding @modelcontextprotocol/server-memory and @bytebase/dbhub")
	mini    = flag.String("mini", "", "the mini SQLite server script (bench/percall/sqlite-server.mjs); empty to skip it")
	nTraces = flag.Int("traces", 50, "traces (and memory entities, and vector items)")
	nRows   = flag.Int("rows", 1000, "rows of the dataset (100 of them are queried)")
	query   = flag.String("query", "how did we fix the ingest timeout on large CSV files", "the typical search query")
	word    = flag.String("word", "timeout", "the memory server's query: its search is a substring match")
	verbose = flag.Bool("v", false, "print every answer")
	fenced  = flag.Bool("fence", true, "measure mcpd a second time with fence_data on, as it serves HTTP by default")
)

// rowsSQL is the 100-row query, the same on DuckDB and SQLite.
const rowsSQL = "SELECT * FROM orders ORDER BY id LIMIT 100"

func main() {
	flag.Parse()
	if *mcpdBin == "" || *nodeBin == "" || *npmDir == "" {
		log.Fatal("need -mcpd, -node and -npm (run bench/context/run.sh)")
	}
	work, err := os.MkdirTemp("", "bench-context-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	ctx := context.Background()
	traces := makeTraces(*nTraces)

	var rows []row
	rows = append(rows, measureMcpd(ctx, work, "mcpd", nil, traces)...)
	if *fenced {
		rows = append(rows, measureMcpd(ctx, work, "mcpd, fence_data on (HTTP's default)", []string{"LAKEHOUSE_MCP_FENCE_DATA=on"}, traces)...)
	}
	rows = append(rows, measureMemory(ctx, work, traces))
	db := filepath.Join(work, "orders.db")
	makeSQLite(db, *nRows)
	rows = append(rows, measureDBHub(ctx, work, db))
	if *mini != "" {
		rows = append(rows, measureMini(ctx, work, db))
	}

	fmt.Printf("\n%d traces / entities / vector items; query %q (memory server: %q); %d-row table, %s\n\n", *nTraces, *query, *word, *nRows, rowsSQL)
	fmt.Println("| server | tools | initialize | tools/list | answer | hits | answer bytes | of which text | of which structuredContent | bytes per hit |")
	fmt.Println("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		perHit := ""
		if r.hits > 0 {
			perHit = kb(r.bytes / r.hits)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.server, opt(r.tools), kb(r.init), kb(r.list), r.answer, opt(r.hits), kb(r.bytes), kb(r.text), kb(r.structured), perHit)
	}
}

// A row of the table: one answer of one server.
type row struct {
	server, answer          string
	tools, init, list       int // 0: same server as the row above
	hits                    int
	bytes, text, structured int
}

func opt(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}

func kb(n int) string {
	if n == 0 {
		return ""
	}
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f KB", float64(n)/1024)
}

// A trace of work an agent did: the same facts go to each server.
type trace struct {
	Summary string   `json:"summary"`
	Problem string   `json:"problem"`
	Steps   []string `json:"steps"`
	Outcome string   `json:"outcome"`
	Files   []string `json:"files"`
	Tags    []string `json:"-"`
}

func makeTraces(n int) []trace {
	areas := []string{"ingest", "sql", "vector", "export", "catalog", "pathway", "observer", "gateway", "storage", "matrix"}
	problems := []string{"timeout on large CSV files", "wrong column types detected", "slow query on a wide table",
		"memory limit exceeded", "stale results after an append", "duplicate rows after retry",
		"lock contention between sessions", "missing rows in the last page", "encoding error in a JSON column",
		"crash on an empty file"}
	actions := []string{"raised the sample size", "streamed the file in chunks", "added an index", "cached the prepared statement",
		"retried with backoff", "made the write idempotent", "split the batch", "fixed the cursor", "normalised the input", "checked for zero rows"}
	out := make([]trace, n)
	for i := range out {
		a, p, act := areas[i%len(areas)], problems[(i*3)%len(problems)], actions[(i*7)%len(actions)]
		out[i] = trace{
			Summary: fmt.Sprintf("Fixed %s in %s: %s", p, a, act),
			Problem: fmt.Sprintf("%s reported %s while processing batch %d", a, p, i),
			Steps: []string{
				fmt.Sprintf("reproduced the %s with a %d MB input", p, 10+i),
				fmt.Sprintf("read the %s logs and found the failing call", a),
				act,
			},
			Outcome: fmt.Sprintf("%s no longer shows %s; test added", a, p),
			Files:   []string{fmt.Sprintf("backends/%s/%s.go", a, a), fmt.Sprintf("backends/%s/%s_test.go", a, a)},
			Tags:    []string{a, strings.Fields(p)[0]},
		}
	}
	return out
}

// recorder is a transport that keeps the raw result of the last response
// it read, as it came off the wire.
type recorder struct {
	mcp.Transport
	mu   sync.Mutex
	last json.RawMessage
}

func (r *recorder) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := r.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &recConn{Connection: c, r: r}, nil
}

// take returns the last result read and forgets it.
func (r *recorder) take() json.RawMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.last
	r.last = nil
	return b
}

type recConn struct {
	mcp.Connection
	r *recorder
}

func (c *recConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	m, err := c.Connection.Read(ctx)
	if resp, ok := m.(*jsonrpc.Response); ok && err == nil {
		c.r.mu.Lock()
		c.r.last = bytes.Clone(resp.Result)
		c.r.mu.Unlock()
	}
	return m, err
}

// A server under measurement: its session and the recorder under it.
type server struct {
	name string
	cs   *mcp.ClientSession
	rec  *recorder
	init int
}

// start launches cmd and connects to it over stdio, keeping the size of
// initialize's result.
func start(ctx context.Context, name string, cmd *exec.Cmd, stderr string) *server {
	f, err := os.Create(stderr)
	if err != nil {
		log.Fatal(err)
	}
	cmd.Stderr = f
	rec := &recorder{Transport: &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench-context", Version: "1"}, nil).Connect(ctx, rec, nil)
	if err != nil {
		b, _ := os.ReadFile(stderr)
		log.Fatalf("%s: connect: %v\n%s", name, err, b)
	}
	return &server{name: name, cs: cs, rec: rec, init: len(rec.take())}
}

// list returns the number of tools and the bytes of tools/list's result.
func (s *server) list(ctx context.Context) (int, int) {
	res, err := s.cs.ListTools(ctx, nil)
	if err != nil {
		log.Fatalf("%s: tools/list: %v", s.name, err)
	}
	raw := s.rec.take()
	s.show("tools/list", raw)
	return len(res.Tools), len(raw)
}

// call calls tool with args and returns the raw result; a tool error is fatal.
func (s *server) call(ctx context.Context, tool string, args any) json.RawMessage {
	res, err := s.cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	raw := s.rec.take()
	if err != nil {
		log.Fatalf("%s: %s: %v", s.name, tool, err)
	}
	if res.IsError {
		log.Fatalf("%s: %s: tool error: %s", s.name, tool, raw)
	}
	return raw
}

func (s *server) show(what string, raw json.RawMessage) {
	if *verbose {
		fmt.Fprintf(os.Stderr, "--- %s %s (%d bytes)\n%s\n", s.name, what, len(raw), raw)
	}
}

// answer measures one call's result: total bytes, the bytes of its text
// contents and of its structuredContent, and hits, the length of the first
// array in structuredContent (hits, rows, datasets...).
func (s *server) answer(ctx context.Context, label, tool string, args any) row {
	raw := s.call(ctx, tool, args)
	s.show(label, raw)
	var r struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		Structured json.RawMessage `json:"structuredContent"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		log.Fatalf("%s: %s: %v", s.name, tool, err)
	}
	text := 0
	for _, c := range r.Content {
		if c.Type == "text" {
			text += len(c.Text)
		}
	}
	hits := longestArray(r.Structured)
	if hits < 0 && len(r.Content) > 0 {
		hits = longestArray([]byte(r.Content[0].Text)) // no structuredContent: the rows in the text
	}
	return row{server: s.name, answer: label, bytes: len(raw), text: text, structured: len(r.Structured), hits: hits}
}

// longestArray is the number of hits of an answer: the length of the
// longest array named traces, hits, rows, entities or datasets in a JSON
// value, else of its longest array, else -1.
func longestArray(raw []byte) int {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return -1
	}
	n, named := -1, -1
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			n = max(n, len(x))
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for k, e := range x {
				if a, ok := e.([]any); ok && strings.Contains(" traces hits rows entities datasets ", " "+k+" ") {
					named = max(named, len(a))
				}
				walk(e)
			}
		}
	}
	walk(v)
	if named >= 0 {
		return named
	}
	return n
}

func (s *server) close() {
	if err := s.cs.Close(); err != nil && *verbose {
		log.Printf("%s: close: %v", s.name, err)
	}
}

func csvRows(n int) string {
	var b strings.Builder
	b.WriteString("id,ordered_at,region,customer,quantity,unit_price,note\n")
	for _, r := range tableRows(n) {
		fmt.Fprintf(&b, "%d,%s,%s,%s,%d,%.2f,%s\n", r.id, r.at, r.region, r.customer, r.qty, r.price, r.note)
	}
	return b.String()
}

type tableRow struct {
	id             int
	at, region     string
	customer, note string
	qty            int
	price          float64
}

func tableRows(n int) []tableRow {
	regions := []string{"north", "south", "east", "west", "central"}
	out := make([]tableRow, n)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range out {
		out[i] = tableRow{id: i + 1, at: t0.Add(time.Duration(i*3671) * time.Second).Format("2006-01-02 15:04:05"),
			region: regions[i%5], customer: fmt.Sprintf("customer-%05d", (i*7919)%10007), qty: 1 + i%20,
			price: float64(100+(i*37)%50000) / 100, note: fmt.Sprintf("order note number %d", i+1)}
	}
	return out
}

// measureMcpd measures mcpd started with env added to its environment,
// under the name server, on a data directory of its own.
func measureMcpd(ctx context.Context, work, server string, env []string, traces []trace) []row {
	dir, err := os.MkdirTemp(work, "mcpd-")
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(*mcpdBin)
	cmd.Env = append(append(os.Environ(), "LAKEHOUSE_DATA="+filepath.Join(dir, "data")), env...)
	s := start(ctx, server, cmd, filepath.Join(dir, "stderr"))
	defer s.close()
	tools, list := s.list(ctx)
	for _, t := range traces {
		s.call(ctx, "add_trace", map[string]any{"content": t, "text": t.Summary, "tags": t.Tags})
	}
	s.call(ctx, "ingest_dataset", map[string]any{"name": "orders", "format": "csv", "source": map[string]any{"content": csvRows(*nRows)}})
	s.call(ctx, "create_index", map[string]any{"name": "traces"})
	items := make([]map[string]any, len(traces))
	for i, t := range traces {
		items[i] = map[string]any{"id": fmt.Sprintf("t%03d", i), "text": t.Summary + ". " + strings.Join(t.Steps, "; ") + ". " + t.Outcome, "metadata": map[string]any{"area": t.Tags[0]}}
	}
	s.call(ctx, "upsert_vectors", map[string]any{"index": "traces", "items": items})

	first := s.answer(ctx, "search_traces (default limit)", "search_traces", map[string]any{"query": *query})
	first.tools, first.init, first.list = tools, s.init, list
	return []row{
		first,
		s.answer(ctx, "search_traces limit 5", "search_traces", map[string]any{"query": *query, "limit": 5}),
		s.answer(ctx, "query_sql, 100 rows", "query_sql", map[string]any{"sql": rowsSQL}),
		s.answer(ctx, "search_vectors (default k)", "search_vectors", map[string]any{"index": "traces", "query_text": *query}),
		s.answer(ctx, "list_datasets (1 dataset)", "list_datasets", map[string]any{}),
	}
}

func measureMemory(ctx context.Context, work string, traces []trace) row {
	cmd := exec.Command(*nodeBin, filepath.Join(*npmDir, "node_modules/@modelcontextprotocol/server-memory/dist/index.js"))
	cmd.Env = append(os.Environ(), "MEMORY_FILE_PATH="+filepath.Join(work, "memory.jsonl"))
	s := start(ctx, "server-memory", cmd, filepath.Join(work, "memory.stderr"))
	defer s.close()
	tools, list := s.list(ctx)
	ents := make([]map[string]any, len(traces))
	for i, t := range traces {
		obs := append([]string{t.Summary, t.Problem}, t.Steps...)
		obs = append(obs, t.Outcome, "files: "+strings.Join(t.Files, ", "))
		ents[i] = map[string]any{"name": fmt.Sprintf("trace-%03d", i), "entityType": "lesson", "observations": obs}
	}
	s.call(ctx, "create_entities", map[string]any{"entities": ents})
	r := s.answer(ctx, fmt.Sprintf("search_nodes %q", *word), "search_nodes", map[string]any{"query": *word})
	r.tools, r.init, r.list = tools, s.init, list
	return r
}

// makeSQLite writes the table to a SQLite file with Node's node:sqlite.
func makeSQLite(path string, n int) {
	var b strings.Builder
	b.WriteString("CREATE TABLE orders (id INTEGER PRIMARY KEY, ordered_at TEXT, region TEXT, customer TEXT, quantity INTEGER, unit_price REAL, note TEXT);\nBEGIN;\n")
	for _, r := range tableRows(n) {
		fmt.Fprintf(&b, "INSERT INTO orders VALUES (%d,'%s','%s','%s',%d,%.2f,'%s');\n", r.id, r.at, r.region, r.customer, r.qty, r.price, r.note)
	}
	b.WriteString("COMMIT;\n")
	script := `const {DatabaseSync} = require('node:sqlite'); const fs = require('node:fs');
const db = new DatabaseSync(process.argv[1]); db.exec(fs.readFileSync(0, 'utf8')); db.close();`
	cmd := exec.Command(*nodeBin, "-e", script, path)
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		log.Fatalf("make SQLite file: %v\n%s", err, out)
	}
}

func measureDBHub(ctx context.Context, work, db string) row {
	cmd := exec.Command(*nodeBin, filepath.Join(*npmDir, "node_modules/@bytebase/dbhub/dist/index.js"), "--transport", "stdio", "--dsn", "sqlite://"+db)
	cmd.Dir = work // no dbhub.toml or .env of ours is read
	s := start(ctx, "dbhub (sqlite)", cmd, filepath.Join(work, "dbhub.stderr"))
	defer s.close()
	tools, list := s.list(ctx)
	r := s.answer(ctx, "execute_sql, 100 rows", "execute_sql", map[string]any{"sql": rowsSQL})
	r.tools, r.init, r.list = tools, s.init, list
	return r
}

func measureMini(ctx context.Context, work, db string) row {
	cmd := exec.Command(*nodeBin, *mini, db)
	cmd.Env = append(os.Environ(), "BENCH_NPM="+*npmDir)
	s := start(ctx, "mini-sqlite (ours, 60 lines)", cmd, filepath.Join(work, "mini.stderr"))
	defer s.close()
	tools, list := s.list(ctx)
	r := s.answer(ctx, "query, 100 rows", "query", map[string]any{"sql": rowsSQL})
	r.tools, r.init, r.list = tools, s.init, list
	return r
}
