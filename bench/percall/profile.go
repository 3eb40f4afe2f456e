package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// The profile is not made here: run.sh has Go's own tooling make it from
// mcpd's code as it is, with go test -cpuprofile on mcpd's
// BenchmarkQuerySQL/select42 (an in-memory MCP session to mcpd's newServer,
// alternating with the same statement on a raw DuckDB connection). That
// profile covers the whole test process: the benchmark's setup (a 1M-row
// CSV and its ingest), the client, the raw side and the server. So run.sh
// makes two, one with -benchtime 1x and one with -benchtime Nx, and the
// breakdown is the difference of the two divided by N: the setup, the same
// in both, drops out, and what is left is N calls of each side. Samples are
// also told apart by their stacks: the setup's (left out even before the
// difference), the raw side's and the client's (the benchmark goroutine's,
// through benchCall), and the server's, split by component.

// A component of the time: a sample whose stack, read from the leaf up,
// first reaches a frame that starts with one of prefixes. A generic
// component takes only the samples that no other one takes.
type component struct {
	name     string
	prefixes []string
	generic  bool
}

// components are tried frame by frame from the leaf up; within a frame, in
// this order; the generic ones after all the others. So json.Marshal under
// the observer counts as the observer, a syscall as a syscall whoever made
// it, and a helper of the text rendering as the rendering.
var components = []component{
	{"GC (background mark, assist, sweep; the whole process)", []string{"runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.bgsweep", "runtime.bgscavenge", "runtime.gcStart", "runtime.gcMarkTermination"}, false},
	{"syscalls (futex wake, timers)", []string{"syscall.", "internal/runtime/syscall.", "runtime.futex", "runtime.write1", "runtime.read", "runtime.usleep", "runtime.epollwait", "runtime.nanotime"}, false},
	{"query_sql: cap cells and bytes", []string{"lakehouse/backends/sqlengine.CutCells", "lakehouse/backends/sqlengine.(*Result).CapBytes", "lakehouse/tools.capResult"}, false},
	{duckdb, []string{"lakehouse/backends/sqlengine.", "github.com/duckdb/duckdb-go", "runtime.cgocall", "_cgo", "runtime._ExternalCode"}, false},
	{"observer: record, summaries, event log", []string{"lakehouse/backends/observer.", "lakehouse/backends/eventlog.", "lakehouse/tools.(*observedCall)", "lakehouse/tools.summarize", "lakehouse/tools.writeSummary", "lakehouse/tools.keepArgs", "lakehouse/tools.keepOutput", "lakehouse/tools.Observe", "lakehouse/mcpd.newServer.Observe"}, false},
	{"arguments: checkArgs + jsonschema Validate", []string{"lakehouse/tools.checkArgs", "github.com/google/jsonschema-go"}, false},
	{"arguments: json.Unmarshal (generic, then typed)", []string{"lakehouse/tools.decodeArgs"}, false},
	{"result: text rendering (queryOut.Text, render)", []string{"lakehouse/tools.queryOut.Text", "lakehouse/tools.(*queryOut).Text", "lakehouse/tools.render", "lakehouse/tools.(*renderer)", "lakehouse/tools.decodeOrdered", "lakehouse/tools.table", "lakehouse/tools.scalar", "lakehouse/tools.MarkdownTable", "lakehouse/tools.text"}, false},
	{"result: data fence (HTTP only)", []string{"lakehouse/tools.fence", "lakehouse/tools.Fenced", "lakehouse/tools.fromOutside"}, false},
	{"result: resource links", []string{"lakehouse/tools.links", "lakehouse/tools.field"}, false},
	{"mcpd: scope filter middleware", []string{"lakehouse/mcpd.newServer.scopeFilter", "lakehouse/mcpd.scopeFilter"}, false},
	{"query_sql handler, other", []string{"lakehouse/tools.(*Backends).querySQL", "lakehouse/tools.withTimeoutMS"}, false},
	{"result: json.Marshal of Out (tools.define)", []string{"lakehouse/tools.define"}, true},
	{"tools: other (Register, Invoke, resources middleware)", []string{"lakehouse/tools."}, true},
	{"go-sdk: JSON-RPC write (encode answer)", []string{"github.com/modelcontextprotocol/go-sdk/internal/jsonrpc2.EncodeMessage", "github.com/modelcontextprotocol/go-sdk/internal/jsonrpc2.marshalToRaw", "github.com/modelcontextprotocol/go-sdk/mcp.(*ioConn).Write", "github.com/modelcontextprotocol/go-sdk/internal/jsonrpc2.(*Connection).write"}, false},
	{"go-sdk: JSON-RPC read (decode; client's answers and server's requests)", []string{"github.com/modelcontextprotocol/go-sdk/internal/jsonrpc2.DecodeMessage", "github.com/modelcontextprotocol/go-sdk/mcp.(*ioConn).Read", "github.com/modelcontextprotocol/go-sdk/mcp.readBatch", "github.com/modelcontextprotocol/go-sdk/internal/jsonrpc2.(*Connection).readIncoming"}, false},
	{"go-sdk: CallToolResult and params (un)marshal", []string{"github.com/modelcontextprotocol/go-sdk/mcp.(*CallToolResult)", "github.com/modelcontextprotocol/go-sdk/mcp.(*CallToolParams", "github.com/modelcontextprotocol/go-sdk/mcp.(*TextContent)", "github.com/modelcontextprotocol/go-sdk/mcp.contentsToWire", "github.com/modelcontextprotocol/go-sdk/mcp.newServerRequest", "github.com/modelcontextprotocol/go-sdk/mcp.unmarshalParams"}, false},
	{"go-sdk: dispatch, session, middleware", []string{"github.com/modelcontextprotocol/go-sdk"}, true},
	{"runtime: scheduler", []string{"runtime.schedule", "runtime.findRunnable", "runtime.park_m", "runtime.mcall", "runtime.goexit0", "runtime.sysmon", "runtime.mstart"}, false},
}

const duckdb = "DuckDB"

// threads is the time of DuckDB's worker threads, outside Go: their samples
// have no stack, so they belong to the server's database and the raw
// side's alike.
const threads = "DuckDB worker threads (outside Go, no stack; the server's and the raw side's databases)"

// duckdbParts split the DuckDB component by the innermost sqlengine
// function on the stack that names a part (helpers such as prepareOne
// name none, so their caller decides): which of the statements of one
// query_sql call the time went to.
var duckdbParts = []struct{ name, prefixes string }{
	{"DuckDB: syntax-tree check (json_serialize_sql, checkTree)", "serialize serializer walkNames checkTree"},
	{"DuckDB: prepare the capped statement (prepareQuery, capRows)", "capRows columnNames prepareQuery"},
	{"DuckDB: prepare, fallback path (prepareRead)", "prepareRead checkExplained"},
	{"DuckDB: execute and read the rows (run)", "run"},
	{"DuckDB: slot, views, connection (withConn)", "(*Engine)."},
}

// Who a sample's time belongs to, from the whole stack: the benchmark's
// setup, its raw DuckDB side, its client, or (none of these) the server.
const (
	setup  = "left out: the benchmark's setup (1M-row CSV, ingest, engines)"
	raw    = "benchmark: the raw DuckDB side (database/sql Query of the same statement)"
	client = "benchmark: the client (go-sdk CallTool on the benchmark goroutine)"
)

func whose(frames []string) string {
	has := func(prefix string) bool {
		return slices.ContainsFunc(frames, func(f string) bool { return strings.HasPrefix(f, prefix) })
	}
	switch {
	case has("lakehouse/mcpd.benchCSV"), has("lakehouse/mcpd.benchSession"), has("lakehouse/mcpd.openEngines"),
		has("lakehouse/tools.(*Backends).ingestDataset"), has("lakehouse/backends/ingest."),
		has("lakehouse/mcpd.BenchmarkQuerySQL") && !has("lakehouse/mcpd.BenchmarkQuerySQL.func"):
		return setup
	case has("lakehouse/mcpd.benchCall"):
		return client
	case has("lakehouse/mcpd.BenchmarkQuerySQL.func"):
		return raw
	}
	return ""
}

// printBreakdown prints the CPU per call by component of profile less base
// (profiles of the test binary bin), over calls calls: the top cumulative
// entries of the difference, then the table.
func printBreakdown(bin, profile, base string, calls int) error {
	fmt.Printf("\n## Profile: go test -cpuprofile of mcpd's BenchmarkQuerySQL/select42, %d calls (%s less %s)\n\n", calls, profile, base)
	top, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=40", "-base", base, bin, profile).Output()
	if err != nil {
		return fmt.Errorf("go tool pprof -top: %w", err)
	}
	fmt.Printf("```\n%s```\n", top)

	by, err := sampled(bin, profile)
	if err != nil {
		return err
	}
	by0, err := sampled(bin, base)
	if err != nil {
		return err
	}
	perCall := func(n string) float64 { return us(by[n]-by0[n]) / float64(calls) }
	var names []string
	for n := range by {
		if n != setup {
			names = append(names, n)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		if o := strings.Compare(group(a), group(b)); o != 0 {
			return o
		}
		return int(1000 * (perCall(b) - perCall(a)))
	})
	fmt.Printf("\nCPU per call by component: each sample to the innermost frame that names one (%s, %.2f s sampled; %s, %.2f s, of which setup %.2f and %.2f s), the difference over %d calls:\n\n",
		profile, sum(by).Seconds(), base, sum(by0).Seconds(), by[setup].Seconds(), by0[setup].Seconds(), calls)
	fmt.Println("| who | component | µs per call |")
	fmt.Println("|---|---|---:|")
	totals := map[string]float64{}
	for _, n := range names {
		g := group(n)
		totals[g] += perCall(n)
		label := strings.TrimPrefix(strings.TrimPrefix(n, "benchmark: "), "server: ")
		fmt.Printf("| %s | %s | %.1f |\n", strings.TrimPrefix(g, "1 "), label, perCall(n))
	}
	for _, g := range slices.Sorted(func(yield func(string) bool) {
		for g := range totals {
			if !yield(g) {
				return
			}
		}
	}) {
		fmt.Printf("| %s | **total** | **%.1f** |\n", strings.TrimPrefix(g, "1 "), totals[g])
	}
	return nil
}

// group is the "who" of a breakdown entry, with the server first.
func group(name string) string {
	switch {
	case name == raw, name == client:
		return "benchmark"
	case strings.HasPrefix(name, "server: GC"), name == threads:
		return "process"
	}
	return "1 server"
}

func sum(by map[string]time.Duration) time.Duration {
	var t time.Duration
	for _, d := range by {
		t += d
	}
	return t
}

// sampled is the profile's sampled time by component.
func sampled(bin, profile string) (map[string]time.Duration, error) {
	traces, err := exec.Command("go", "tool", "pprof", "-traces", bin, profile).Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof -traces %s: %w", profile, err)
	}
	return breakdown(traces), nil
}

// breakdown reads go tool pprof -traces output and sums each sample's
// value by component.
func breakdown(out []byte) map[string]time.Duration {
	by := map[string]time.Duration{}
	var value time.Duration
	var frames []string
	flush := func() {
		if value == 0 {
			return
		}
		by[classify(frames)] += value
		value, frames = 0, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----------+") {
			flush()
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if d, err := time.ParseDuration(f[0]); err == nil && len(f) >= 2 && strings.HasPrefix(line, " ") {
			value = d
			frames = append(frames, f[1])
			continue
		}
		if value != 0 && strings.HasPrefix(line, " ") {
			frames = append(frames, f[0])
		}
	}
	flush()
	return by
}

// classify names the component of a stack given leaf first.
func classify(frames []string) string {
	if w := whose(frames); w != "" {
		return w
	}
	for _, generic := range []bool{false, true} {
		for _, fr := range frames {
			for _, c := range components {
				if c.generic != generic {
					continue
				}
				for _, p := range c.prefixes {
					if strings.HasPrefix(fr, p) {
						if c.name == duckdb {
							return duckdbPart(frames)
						}
						return "server: " + c.name
					}
				}
			}
		}
	}
	return "server: other"
}

// duckdbPart names the part of the DuckDB component of a stack.
func duckdbPart(frames []string) string {
	if frames[len(frames)-1] == "runtime._ExternalCode" {
		return threads
	}
	for _, fr := range frames {
		fn, ok := strings.CutPrefix(fr, "lakehouse/backends/sqlengine.")
		if !ok {
			continue
		}
		for _, p := range duckdbParts {
			for _, name := range strings.Fields(p.prefixes) {
				if fn == name || strings.HasPrefix(fn, name+".") || strings.HasPrefix(fn, name) && strings.HasSuffix(name, ".") {
					return "server: " + p.name
				}
			}
		}
	}
	return "server: DuckDB: other (duckdb-go, cgo)"
}
