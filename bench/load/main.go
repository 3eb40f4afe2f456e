// Command load puts a mixed load on mcpd over streamable HTTP (/mcp), over
// the REST gateway (POST /v1/tools/{name}), or over both one after the
// other, and reports each tool's calls, errors and latency, and the
// server's memory, per transport.
//
// It builds mcpd, starts it on a free loopback port with a fresh data
// directory and no configuration besides LAKEHOUSE_DATA and
// LAKEHOUSE_INGEST_ALLOWED_PATHS, and prepares (over /mcp) a 1M-row dataset
// (ingested by path from a generated CSV), an index of 10k items upserted
// by text, and a few objects of 4 KB. Then, for each phase, -clients
// clients call their tools for -duration: the clients are split evenly over
// the four tools of the mix (client i calls mix[i%4] in a loop), so each
// tool sees a quarter of the clients whatever the others' latency. Over
// /mcp a client is one session (go-sdk streamable client) for the whole
// phase; over REST it is an http.Client with keep-alive that POSTs the same
// arguments as the JSON body. With -transport both each round runs both
// transports on the same server and data, one after the other, in an order
// that alternates from round to round (mcp first in odd rounds).
//
// A tool error, a transport error and, over REST, any answer but 200 count
// as errors. A 503 answer is counted apart, not as an error nor as a call,
// and the client waits for its Retry-After (1 s if it gives none) before
// calling again. The server's peak RSS is reset (clear_refs) before each
// phase, so each phase's VmHWM is its own; VmRSS is also sampled every
// 100 ms during each phase. Before the first round an unreported warm-up
// (-warmup) runs over each transport, so that the first phase neither pays
// for first calls nor starts from the RSS the ingest left.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	dataset  = "orders"
	index    = "docs"
	objects  = 8
	groupBy  = "SELECT region, count(*) AS n, sum(quantity * unit_price) AS revenue FROM orders GROUP BY region ORDER BY region"
	maxShown = 3 // distinct error texts printed per tool
)

// words make up the items' texts and the search queries.
var words = strings.Fields(`river mountain forest ocean desert city village road bridge tower
	engine battery sensor network server database query index vector storage
	winter summer spring autumn rain snow storm wind cloud sun
	apple bread cheese coffee tea honey rice salt sugar wine
	doctor teacher farmer pilot painter writer singer driver lawyer nurse
	green blue red yellow black white silver golden quiet bright`)

// A tool of the mix: its name and the arguments of a client's n-th call.
type tool struct {
	name string
	args func(r *rand.Rand, client, n int) any
}

var mix = []tool{
	{"query_sql", func(*rand.Rand, int, int) any {
		return map[string]any{"sql": groupBy}
	}},
	{"search_vectors", func(r *rand.Rand, _, _ int) any {
		return map[string]any{"index": index, "query_text": sentence(r, 3), "k": 10}
	}},
	{"add_trace", func(r *rand.Rand, client, n int) any {
		return map[string]any{
			"content": map[string]any{"client": client, "call": n, "tried": sentence(r, 8)},
			"text":    sentence(r, 6),
			"tags":    []string{"load", fmt.Sprintf("client-%d", client)},
		}
	}},
	{"get_object", func(r *rand.Rand, _, _ int) any {
		return map[string]any{"key": objectKey(r.IntN(objects))}
	}},
}

func main() {
	clients := flag.Int("clients", 64, "concurrent clients, split evenly over the four tools")
	duration := flag.Duration("duration", 30*time.Second, "how long the clients of one phase call")
	rows := flag.Int("rows", 1_000_000, "rows of the dataset the SQL GROUP BY scans")
	items := flag.Int("items", 10_000, "items of the vector index")
	callTimeout := flag.Duration("call-timeout", 60*time.Second, "give up on one call after this (the server's SQL timeout is 30 s)")
	via := flag.String("transport", "both", "mcp (sessions over /mcp), rest (POST /v1/tools/{name}) or both, one after the other")
	rounds := flag.Int("rounds", 1, "phases of each transport; with both, the order alternates from round to round")
	warmup := flag.Duration("warmup", 5*time.Second, "an unreported load over each transport before the first round, 0 for none")
	flag.Parse()

	var list []string
	switch *via {
	case "mcp", "rest":
		list = []string{*via}
	case "both":
		list = []string{"mcp", "rest"}
	default:
		fmt.Fprintf(os.Stderr, "load: -transport %q: want mcp, rest or both\n", *via)
		os.Exit(2)
	}
	if *rounds < 1 {
		fmt.Fprintf(os.Stderr, "load: -rounds %d: want at least 1\n", *rounds)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, options{clients: *clients, duration: *duration, rows: *rows, items: *items,
		callTimeout: *callTimeout, transports: list, rounds: *rounds, warmup: *warmup})
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "load: %v\n", err)
		os.Exit(1)
	}
}

// options are the flags of a run.
type options struct {
	clients     int
	duration    time.Duration
	rows, items int
	callTimeout time.Duration
	transports  []string // "mcp", "rest", in the order of the first round
	rounds      int
	warmup      time.Duration
}

// A phase is one transport's load in one round, and what it cost the server.
type phase struct {
	transport string
	round     int
	res       []*result // per tool of the mix
	elapsed   time.Duration

	serverCPU, selfCPU time.Duration
	loadavg            string // before it
	peak, maxSampled   int64  // VmHWM since the reset before it; largest VmRSS sample, kB
	before, after      int64  // VmRSS, kB
	fdsBefore, fds     int    // the server's open files before and after it
}

func run(ctx context.Context, o options) error {
	tmp, err := os.MkdirTemp("", "lakehouse-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin, data, in := filepath.Join(tmp, "mcpd"), filepath.Join(tmp, "data"), filepath.Join(tmp, "in")
	if err := os.Mkdir(in, 0o755); err != nil {
		return err
	}

	step := time.Now()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./mcpd")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build ./mcpd: %w", err)
	}
	csv := filepath.Join(in, "orders.csv")
	if err := writeCSV(csv, o.rows); err != nil {
		return err
	}
	fmt.Printf("built mcpd and wrote %d-row CSV in %.1fs\n", o.rows, time.Since(step).Seconds())

	srv, err := startServer(ctx, bin, data, in, filepath.Join(tmp, "mcpd.log"))
	if err != nil {
		return err
	}
	defer srv.stop()

	if err := prepare(ctx, srv.url+"/mcp", csv, o.items); err != nil {
		return err
	}
	prepPeak, err := procStatus(srv.pid(), "VmHWM")
	if err != nil {
		return err
	}
	prepRSS, _ := procStatus(srv.pid(), "VmRSS")
	fmt.Printf("server RSS after preparing: %s (peak while preparing %s, VmHWM)\n", mib(prepRSS), mib(prepPeak))

	// Warm up: so that the first phase neither pays for first calls (caches,
	// connections) nor starts from the RSS the ingest left.
	for _, name := range o.transports {
		if o.warmup <= 0 {
			break
		}
		tr := newTransport(name, srv.url, o.clients)
		res, elapsed := load(ctx, tr, o.clients, o.warmup, o.callTimeout)
		tr.close()
		calls, failed, refused := 0, 0, 0
		for _, r := range res {
			calls, failed, refused = calls+len(r.latencies), failed+r.errors, refused+r.refused
		}
		rss, _ := procStatus(srv.pid(), "VmRSS")
		fmt.Printf("warm-up over %s: %d calls in %.1fs, %d errors, %d answers 503; server RSS after it %s\n", name, calls, elapsed.Seconds(), failed, refused, mib(rss))
	}

	var phases []*phase
	for round := 1; round <= o.rounds && ctx.Err() == nil; round++ {
		order := slices.Clone(o.transports)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for _, name := range order {
			if len(phases) > 0 {
				// Let the last phase's connections close and its background
				// work (group commits, index snapshots) settle.
				time.Sleep(2 * time.Second)
			}
			p, err := runPhase(ctx, srv, newTransport(name, srv.url, o.clients), round, o)
			if err != nil {
				return err
			}
			phases = append(phases, p)
			p.report(o.clients)
		}
	}
	if len(phases) > 1 {
		summary(phases, o.clients)
	}
	// VmHWM was reset before each phase: the run's peak is the largest.
	runPeak := prepPeak
	for _, p := range phases {
		runPeak = max(runPeak, p.peak)
	}
	fmt.Printf("\nserver peak RSS over the whole run: %s (VmHWM; while preparing %s)\n", mib(runPeak), mib(prepPeak))
	srv.stop()
	return srv.printWarnings()
}

// runPhase resets the server's peak RSS, runs the load over tr and notes
// what it cost the server.
func runPhase(ctx context.Context, srv *server, tr transport, round int, o options) (*phase, error) {
	p := &phase{transport: tr.name(), round: round}
	p.before, _ = procStatus(srv.pid(), "VmRSS")
	p.fdsBefore = openFiles(srv.pid())
	// Reset the peak, so that VmHWM at the end is this phase's own.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", srv.pid()), []byte("5"), 0); err != nil {
		return nil, fmt.Errorf("reset the server's peak RSS: %w", err)
	}
	sampled := make(chan int64)
	stopSampling := make(chan struct{})
	go func() { sampled <- sampleRSS(srv.pid(), stopSampling) }()
	loadavg, _ := os.ReadFile("/proc/loadavg")
	p.loadavg = strings.Join(strings.Fields(string(loadavg))[:3], " ")
	serverCPU, selfCPU := serverCPUTime(srv.pid()), ownCPUTime()
	p.res, p.elapsed = load(ctx, tr, o.clients, o.duration, o.callTimeout)
	tr.close()
	p.serverCPU, p.selfCPU = serverCPUTime(srv.pid())-serverCPU, ownCPUTime()-selfCPU
	close(stopSampling)
	p.maxSampled = <-sampled
	var err error
	if p.peak, err = procStatus(srv.pid(), "VmHWM"); err != nil {
		return nil, err
	}
	p.after, _ = procStatus(srv.pid(), "VmRSS")
	p.fds = openFiles(srv.pid())
	return p, nil
}

// writeCSV writes rows of seeded sales orders to path.
func writeCSV(path string, rows int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	regions := []string{"north", "south", "east", "west", "central"}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	fmt.Fprintln(w, "id,ordered_at,region,customer,quantity,unit_price,discount,note")
	for i := range rows {
		fmt.Fprintf(w, "%d,%s,%s,customer-%06d,%d,%.2f,%.3f,order note number %d with some text\n",
			i, start.Add(time.Duration(r.IntN(365*24*3600))*time.Second).Format(time.DateTime),
			regions[r.IntN(len(regions))], r.IntN(100_000), 1+r.IntN(20), 1+r.Float64()*500, r.Float64()*0.3, i)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// A server is a running mcpd child process.
type server struct {
	cmd  *exec.Cmd
	url  string // http://host:port
	log  string // its stderr
	done chan struct{}
	once sync.Once
}

// startServer starts bin on a free loopback port with data as its data
// directory, ingest allowed from in, and waits until GET /health answers.
func startServer(ctx context.Context, bin, data, in, log string) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	logFile, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()

	cmd := exec.Command(bin, "--http", addr)
	// The server's only configuration: none of the caller's LAKEHOUSE_*.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LAKEHOUSE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "LAKEHOUSE_DATA="+data, "LAKEHOUSE_INGEST_ALLOWED_PATHS="+in)
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, url: "http://" + addr, log: log, done: make(chan struct{})}
	go func() { cmd.Wait(); close(s.done) }()

	for deadline := time.Now().Add(60 * time.Second); ; {
		resp, err := http.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("mcpd exited before answering /health: %s", tail(log))
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("mcpd did not answer GET /health within 60s: %s", tail(log))
		}
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// stop ends the server: SIGTERM, then SIGKILL after 10 s.
func (s *server) stop() {
	s.once.Do(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// printWarnings prints how many WARN and ERROR lines the server logged, and
// the first few.
func (s *server) printWarnings() error {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return err
	}
	var bad []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			bad = append(bad, line)
		}
	}
	fmt.Printf("server log: %d WARN/ERROR lines\n", len(bad))
	for _, line := range bad[:min(len(bad), 5)] {
		fmt.Printf("  %s\n", cut(line, 300))
	}
	return nil
}

// tail is the end of the file at path, for an error message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	return string(b[max(0, len(b)-2000):])
}

// prepare creates what the mix reads: the dataset, the index and the
// objects, through one session.
func prepare(ctx context.Context, url, csv string, items int) error {
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "load-prepare"}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer cs.Close()
	call := func(name string, args any) error {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if res.IsError {
			return fmt.Errorf("%s: %s", name, text(res))
		}
		return nil
	}

	step := time.Now()
	if err := call("ingest_dataset", map[string]any{"name": dataset, "source": map[string]any{"path": csv}}); err != nil {
		return err
	}
	fmt.Printf("ingested %s in %.1fs\n", dataset, time.Since(step).Seconds())

	step = time.Now()
	if err := call("create_index", map[string]any{"name": index}); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(3, 4))
	const batch = 500
	for first := 0; first < items; first += batch {
		var list []map[string]any
		for i := first; i < min(first+batch, items); i++ {
			list = append(list, map[string]any{"id": fmt.Sprintf("doc-%05d", i), "text": sentence(r, 12), "metadata": map[string]any{"group": i % 10}})
		}
		if err := call("upsert_vectors", map[string]any{"index": index, "items": list}); err != nil {
			return err
		}
	}
	fmt.Printf("upserted %d items by text in %.1fs\n", items, time.Since(step).Seconds())

	for i := range objects {
		line := fmt.Sprintf("object %d: %s\n", i, sentence(r, 10))
		content := strings.Repeat(line, 4096/len(line)+1)[:4096]
		if err := call("put_object", map[string]any{"key": objectKey(i), "content": content}); err != nil {
			return err
		}
	}
	return nil
}

func objectKey(i int) string { return fmt.Sprintf("load/object-%d.txt", i) }

// sentence is n words drawn by r.
func sentence(r *rand.Rand, n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = words[r.IntN(len(words))]
	}
	return strings.Join(s, " ")
}

// text is the text content of a tool result.
func text(res *mcp.CallToolResult) string {
	var s []string
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			s = append(s, t.Text)
		}
	}
	return strings.Join(s, " ")
}

// A result is what the clients of one tool saw.
type result struct {
	latencies   []time.Duration // of every call answered, failed ones included; not of 503s
	errors      int
	texts       []string // distinct error texts, in the order first seen
	counts      map[string]int
	opened      int      // sessions (mcp) or TCP connections (rest) opened
	refused     int      // 503 answers
	retryAfters []string // of the 503 answers
}

func newResult() *result { return &result{counts: map[string]int{}} }

func (r *result) fail(msg string) {
	r.errors++
	msg = cut(msg, 200)
	if r.counts[msg] == 0 {
		r.texts = append(r.texts, msg)
	}
	r.counts[msg]++
}

func (r *result) merge(o *result) {
	r.latencies = append(r.latencies, o.latencies...)
	r.errors += o.errors
	for _, t := range o.texts {
		if r.counts[t] == 0 {
			r.texts = append(r.texts, t)
		}
		r.counts[t] += o.counts[t]
	}
	r.opened += o.opened
	r.refused += o.refused
	r.retryAfters = append(r.retryAfters, o.retryAfters...)
}

// A transport opens the clients' connections to the server: sessions over
// /mcp, or http.Clients of the REST gateway.
type transport interface {
	name() string
	// close closes the idle connections the clients left.
	close()
	// open opens client i's connection, which adds to res.opened what it
	// opens. A refusal is a *refusedError.
	open(ctx context.Context, i int, res *result) (conn, error)
}

// A conn is one client's connection.
type conn interface {
	// call calls tool with args. A failed call is an error: a
	// *refusedError for a 503 answer, errLost (wrapped) when the
	// connection is gone and another must be opened.
	call(ctx context.Context, tool string, args any) error
	close()
}

// A refusedError is a 503 answer, and how long it asks the client to wait.
type refusedError struct {
	retryAfter time.Duration
	msg        string
}

func (e *refusedError) Error() string { return "503: " + e.msg }

// errLost says a connection is gone: the server closed or forgot it.
var errLost = errors.New("connection lost")

// retryAfter is the Retry-After of a 503 answer h, 1 s if it gives none.
func retryAfter(h http.Header) time.Duration {
	if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return time.Second
}

func newTransport(name, url string, clients int) transport {
	if name == "rest" {
		return &restTransport{url: url}
	}
	// One pool for all the sessions, with room for each one's connections.
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 2 * clients // a POST and the standalone SSE stream per session
	return &mcpTransport{url: url + "/mcp", base: base}
}

// mcpTransport opens one go-sdk streamable session per client.
type mcpTransport struct {
	url  string // of /mcp
	base *http.Transport
}

func (*mcpTransport) name() string { return "mcp" }
func (t *mcpTransport) close()     { t.base.CloseIdleConnections() }

func (t *mcpTransport) open(ctx context.Context, i int, res *result) (conn, error) {
	rt := &refusals{base: t.base}
	transport := &mcp.StreamableClientTransport{Endpoint: t.url, HTTPClient: &http.Client{Transport: rt}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: fmt.Sprintf("load-%d", i)}, nil).Connect(ctx, transport, nil)
	if err != nil {
		if d := rt.take(); d > 0 {
			return nil, &refusedError{d, "connect: " + err.Error()}
		}
		return nil, fmt.Errorf("connect: %w", err)
	}
	res.opened++
	return &mcpConn{cs: cs, rt: rt, res: res}, nil
}

type mcpConn struct {
	cs  *mcp.ClientSession
	rt  *refusals
	res *result // counts a 503 that refused no call
}

func (c *mcpConn) call(ctx context.Context, tool string, args any) error {
	out, err := c.cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	// A 503 on a request of the session since the last call (the SDK sends
	// more than the call's POST: the standalone SSE stream, say) refused
	// this call if it failed; if it did not, it is counted all the same.
	if d := c.rt.take(); d > 0 {
		if err != nil {
			return &refusedError{d, err.Error()}
		}
		c.res.refused++
		c.res.retryAfters = append(c.res.retryAfters, d.String())
	}
	switch {
	case errors.Is(err, mcp.ErrConnectionClosed) || errors.Is(err, mcp.ErrSessionMissing):
		return fmt.Errorf("%w: %w", errLost, err)
	case err != nil:
		return err
	case out.IsError:
		return errors.New(text(out))
	}
	return nil
}

func (c *mcpConn) close() { c.cs.Close() }

// refusals passes requests to base and notes the Retry-After of a 503
// answer.
type refusals struct {
	base       http.RoundTripper
	retryAfter atomic.Int64 // nanoseconds; 0: no 503 since the last take
}

func (rt *refusals) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.base.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusServiceUnavailable {
		rt.retryAfter.Store(int64(retryAfter(resp.Header)))
	}
	return resp, err
}

// take returns the Retry-After of the last 503 since the previous take, or 0.
func (rt *refusals) take() time.Duration { return time.Duration(rt.retryAfter.Swap(0)) }

// restTransport gives each client an http.Client of its own that POSTs to
// /v1/tools/{name}, keeping its connection alive between calls: one
// connection per client, as a session is over /mcp.
type restTransport struct {
	url string
}

func (*restTransport) name() string { return "rest" }
func (*restTransport) close()       {} // each client closes its own

func (t *restTransport) open(_ context.Context, _ int, res *result) (conn, error) {
	pool := http.DefaultTransport.(*http.Transport).Clone()
	return &restConn{url: t.url + "/v1/tools/", client: &http.Client{Transport: pool}, res: res}, nil
}

type restConn struct {
	url    string // of /v1/tools/
	client *http.Client
	res    *result // counts the connections opened
}

func (c *restConn) call(ctx context.Context, tool string, args any) error {
	body, err := json.Marshal(args)
	if err != nil {
		return err
	}
	// Count the connections dialled, to see that keep-alive holds.
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if !info.Reused {
			c.res.opened++
		}
	}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+tool, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	// Read the whole answer, as a client uses it and so that the
	// connection goes back to the pool.
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable:
		return &refusedError{retryAfter(resp.Header), strings.TrimSpace(string(answer))}
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(answer)))
	case err != nil:
		return fmt.Errorf("read the answer: %w", err)
	case !json.Valid(answer):
		return fmt.Errorf("200 with a body that is not JSON: %s", cut(string(answer), 100))
	}
	return nil
}

func (c *restConn) close() { c.client.CloseIdleConnections() }

// load runs the clients over tr: each opens its connection, all start
// together, and each calls its tool until duration has passed. It returns
// what each tool saw and how long the calls took, from the start to the
// last one's end.
func load(ctx context.Context, tr transport, clients int, duration, callTimeout time.Duration) ([]*result, time.Duration) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	var began time.Time
	per := make([]*result, clients)
	for i := range clients {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			per[i] = runClient(ctx, tr, i, &ready, start, &began, duration, callTimeout)
		}()
	}
	ready.Wait()
	began = time.Now()
	close(start)
	done.Wait()
	elapsed := time.Since(began)

	res := make([]*result, len(mix))
	for t := range mix {
		res[t] = newResult()
	}
	for i, r := range per {
		res[i%len(mix)].merge(r)
	}
	return res, elapsed
}

// runClient is client i: it opens its connection, says it is ready, and
// from start calls its tool in a loop until duration has passed. A
// connection lost is opened again.
func runClient(ctx context.Context, tr transport, i int, ready *sync.WaitGroup, start <-chan struct{}, began *time.Time, duration, callTimeout time.Duration) *result {
	t := mix[i%len(mix)]
	r := rand.New(rand.NewPCG(uint64(i), 5))
	res := newResult()

	// pause waits for d, but not past end.
	pause := func(d time.Duration, end time.Time) {
		select {
		case <-time.After(min(d, time.Until(end))):
		case <-ctx.Done():
		}
	}
	// refused counts a 503 and waits for its Retry-After, up to end; it
	// reports whether err was one.
	refused := func(err error, end time.Time) bool {
		var ref *refusedError
		if !errors.As(err, &ref) {
			return false
		}
		res.refused++
		res.retryAfters = append(res.retryAfters, ref.retryAfter.String())
		pause(ref.retryAfter, end)
		return true
	}
	connect := func(end time.Time) conn {
		for time.Now().Before(end) && ctx.Err() == nil {
			c, err := tr.open(ctx, i, res)
			if err == nil {
				return c
			}
			if !refused(err, end) {
				res.fail(err.Error())
				pause(time.Second, end)
			}
		}
		return nil
	}

	c := connect(time.Now().Add(duration))
	ready.Done()
	<-start
	end := began.Add(duration)
	for n := 0; time.Now().Before(end) && ctx.Err() == nil; n++ {
		if c == nil {
			if c = connect(end); c == nil {
				break
			}
		}
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		t0 := time.Now()
		err := c.call(callCtx, t.name, t.args(r, i, n))
		took := time.Since(t0)
		cancel()
		if refused(err, end) {
			continue
		}
		res.latencies = append(res.latencies, took)
		if err != nil {
			res.fail(err.Error())
			if errors.Is(err, errLost) {
				c.close()
				c = nil
			}
		}
	}
	if c != nil {
		c.close()
	}
	return res
}

// report prints the phase's table of the tools, their errors and 503s, and
// what it cost the server.
func (p *phase) report(clients int) {
	fmt.Printf("\n== %s, round %d: %d clients (%d per tool) for %.1fs\n\n", p.transport, p.round, clients, clients/len(mix), p.elapsed.Seconds())
	table(p.res, p.elapsed)

	fmt.Println()
	for t, r := range p.res {
		fmt.Printf("%s: %d %s, %d answers 503", mix[t].name, r.opened, opened(p.transport), r.refused)
		if r.refused > 0 {
			fmt.Printf(" (Retry-After %s)", strings.Join(r.retryAfters[:min(len(r.retryAfters), 5)], ", "))
		}
		fmt.Println()
		for _, msg := range r.texts[:min(len(r.texts), maxShown)] {
			fmt.Printf("  %d× %s\n", r.counts[msg], msg)
		}
		if len(r.texts) > maxShown {
			fmt.Printf("  … %d more distinct error texts\n", len(r.texts)-maxShown)
		}
	}
	fmt.Printf("\nCPU during the phase: server %.1fs, this client %.1fs (of %d cores × %.1fs); load average before it: %s\n",
		p.serverCPU.Seconds(), p.selfCPU.Seconds(), runtime.NumCPU(), p.elapsed.Seconds(), p.loadavg)
	fmt.Printf("server RSS: before %s; during the phase peak %s (VmHWM, reset before it; max of 100 ms VmRSS samples %s); at the end %s\n",
		mib(p.before), mib(p.peak), mib(p.maxSampled), mib(p.after))
	fmt.Printf("server open files: %d before, %d at the end (connections the clients just closed may still count)\n", p.fdsBefore, p.fds)
}

// opened is what result.opened counts over transport name.
func opened(name string) string {
	if name == "rest" {
		return "TCP connections opened"
	}
	return "sessions opened"
}

// table prints calls, errors, 503s, calls/s and latencies of each tool.
func table(res []*result, elapsed time.Duration) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "tool\tcalls\terrors\t503s\tcalls/s\tp50 ms\tp99 ms\tmax ms\t")
	total, errs, refused := 0, 0, 0
	for t, r := range res {
		lat := r.latencies
		slices.Sort(lat)
		total, errs, refused = total+len(lat), errs+r.errors, refused+r.refused
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%.1f\t%s\t%s\t%s\t\n", mix[t].name, len(lat), r.errors, r.refused,
			float64(len(lat))/elapsed.Seconds(), ms(quantile(lat, 0.50)), ms(quantile(lat, 0.99)), ms(quantile(lat, 1)))
	}
	fmt.Fprintf(w, "total\t%d\t%d\t%d\t%.1f\t\t\t\t\n", total, errs, refused, float64(total)/elapsed.Seconds())
	w.Flush()
}

// summary prints, per transport, its phases merged (calls/s over their
// summed time, quantiles over all their calls), and the server's RSS in
// each phase.
func summary(phases []*phase, clients int) {
	var names []string
	for _, p := range phases {
		if !slices.Contains(names, p.transport) {
			names = append(names, p.transport)
		}
	}
	fmt.Printf("\n== summary: %d phases, %d clients each\n", len(phases), clients)
	for _, name := range names {
		res := make([]*result, len(mix))
		for t := range mix {
			res[t] = newResult()
		}
		var elapsed time.Duration
		var rounds []string
		var peak int64
		for _, p := range phases {
			if p.transport != name {
				continue
			}
			elapsed += p.elapsed
			peak = max(peak, p.peak)
			rounds = append(rounds, strconv.Itoa(p.round))
			for t, r := range p.res {
				res[t].merge(r)
			}
		}
		fmt.Printf("\n%s (rounds %s, %.1fs in all; server peak RSS %s, VmHWM, the largest of its phases):\n\n", name, strings.Join(rounds, ", "), elapsed.Seconds(), mib(peak))
		table(res, elapsed)
	}
	fmt.Println()
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "phase\tRSS before\tpeak (VmHWM)\tpeak (VmRSS samples)\tRSS after\tserver CPU s\tper call ms\tclient CPU s\topen files before, after\t")
	for _, p := range phases {
		calls := 0
		for _, r := range p.res {
			calls += len(r.latencies)
		}
		fmt.Fprintf(w, "%s %d\t%s\t%s\t%s\t%s\t%.1f\t%.2f\t%.1f\t%d, %d\t\n", p.transport, p.round, mib(p.before), mib(p.peak), mib(p.maxSampled), mib(p.after),
			p.serverCPU.Seconds(), p.serverCPU.Seconds()*1000/float64(max(calls, 1)), p.selfCPU.Seconds(), p.fdsBefore, p.fds)
	}
	w.Flush()
}

// quantile is the q-quantile of sorted lat, by nearest rank.
func quantile(lat []time.Duration, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	return lat[max(0, int(math.Ceil(q*float64(len(lat))))-1)]
}

func ms(d time.Duration) string { return strconv.FormatFloat(d.Seconds()*1000, 'f', 1, 64) }

func mib(kb int64) string { return fmt.Sprintf("%.0f MiB", float64(kb)/1024) }

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// sampleRSS reads the VmRSS of process pid every 100 ms until stop is
// closed, and returns the largest, in kB.
func sampleRSS(pid int, stop <-chan struct{}) int64 {
	var peak int64
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if kb, err := procStatus(pid, "VmRSS"); err == nil {
			peak = max(peak, kb)
		}
		select {
		case <-stop:
			return peak
		case <-tick.C:
		}
	}
}

// procStatus is field (VmRSS, VmHWM) of /proc/pid/status, in kB.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// openFiles is how many files process pid has open, -1 if unreadable.
func openFiles(pid int) int {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(fds)
}

// serverCPUTime is the user and system time process pid has used, from
// /proc/pid/stat, whose clock ticks are 1/100 s on Linux; 0 if unreadable.
func serverCPUTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses: utime
	// and stime are the 12th and 13th of them.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// ownCPUTime is the user and system time this process has used.
func ownCPUTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
