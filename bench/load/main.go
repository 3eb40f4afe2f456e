// Command load puts a mixed load on mcpd over streamable HTTP (/mcp) and
// reports each tool's calls, errors and latency, and the server's memory.
//
// It builds mcpd, starts it on a free loopback port with a fresh data
// directory and no configuration besides LAKEHOUSE_DATA and
// LAKEHOUSE_INGEST_ALLOWED_PATHS, and prepares a 1M-row dataset (ingested by
// path from a generated CSV), an index of 10k items upserted by text, and a
// few objects of 4 KB. Then -clients sessions, one per client for the whole
// run, call their tools for -duration: the clients are split evenly over
// the four tools of the mix (client i calls mix[i%4] in a loop), so each
// tool sees a quarter of the clients whatever the others' latency.
//
// A tool error and a transport error both count as errors. A 503 answer is
// counted, and its Retry-After respected, should the server send one.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
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
	clients := flag.Int("clients", 64, "concurrent client sessions, split evenly over the four tools")
	duration := flag.Duration("duration", 30*time.Second, "how long the clients call")
	rows := flag.Int("rows", 1_000_000, "rows of the dataset the SQL GROUP BY scans")
	items := flag.Int("items", 10_000, "items of the vector index")
	callTimeout := flag.Duration("call-timeout", 60*time.Second, "give up on one call after this (the server's SQL timeout is 30 s)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *clients, *duration, *rows, *items, *callTimeout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "load: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, clients int, duration time.Duration, rows, items int, callTimeout time.Duration) error {
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
	if err := writeCSV(csv, rows); err != nil {
		return err
	}
	fmt.Printf("built mcpd and wrote %d-row CSV in %.1fs\n", rows, time.Since(step).Seconds())

	srv, err := startServer(ctx, bin, data, in, filepath.Join(tmp, "mcpd.log"))
	if err != nil {
		return err
	}
	defer srv.stop()

	if err := prepare(ctx, srv.url, csv, items); err != nil {
		return err
	}
	prepPeak, err := procStatus(srv.pid(), "VmHWM")
	if err != nil {
		return err
	}
	before, _ := procStatus(srv.pid(), "VmRSS")
	// Reset the peak, so that VmHWM at the end is the load's own.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", srv.pid()), []byte("5"), 0); err != nil {
		return fmt.Errorf("reset the server's peak RSS: %w", err)
	}

	sampled := make(chan int64)
	stopSampling := make(chan struct{})
	go func() { sampled <- sampleRSS(srv.pid(), stopSampling) }()
	loadavg, _ := os.ReadFile("/proc/loadavg")
	serverCPU, selfCPU := serverCPUTime(srv.pid()), ownCPUTime()
	res, elapsed := load(ctx, srv.url, clients, duration, callTimeout)
	serverCPU, selfCPU = serverCPUTime(srv.pid())-serverCPU, ownCPUTime()-selfCPU
	close(stopSampling)
	maxSampled := <-sampled
	peak, err := procStatus(srv.pid(), "VmHWM")
	if err != nil {
		return err
	}
	after, _ := procStatus(srv.pid(), "VmRSS")

	report(res, clients, elapsed)
	fmt.Printf("\nCPU during the load: server %.1fs, this client %.1fs (of %d cores × %.1fs); load average before it: %s\n",
		serverCPU.Seconds(), selfCPU.Seconds(), runtime.NumCPU(), elapsed.Seconds(), strings.Join(strings.Fields(string(loadavg))[:3], " "))
	fmt.Printf("server RSS: after preparing %s (peak while preparing %s); during the load peak %s (VmHWM; max of 100 ms samples %s); at the end %s\n",
		mib(before), mib(prepPeak), mib(peak), mib(maxSampled), mib(after))
	srv.stop()
	return srv.printWarnings()
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
	url  string // of /mcp
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
	s := &server{cmd: cmd, url: "http://" + addr + "/mcp", log: log, done: make(chan struct{})}
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
	latencies   []time.Duration // of every call, failed ones included
	errors      int
	texts       []string // distinct error texts, in the order first seen
	counts      map[string]int
	sessions    int      // sessions opened
	refused     int      // 503 answers
	retryAfters []string // of the 503 answers
}

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
	r.sessions += o.sessions
	r.refused += o.refused
	r.retryAfters = append(r.retryAfters, o.retryAfters...)
}

// load runs the clients: each opens its session, all start together, and
// each calls its tool until duration has passed. It returns what each tool
// saw and how long the calls took, from the start to the last one's end.
func load(ctx context.Context, url string, clients int, duration, callTimeout time.Duration) ([]*result, time.Duration) {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 2 * clients // a POST and the standalone SSE stream per session
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	var began time.Time
	per := make([]*result, clients)
	for i := range clients {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			per[i] = runClient(ctx, i, url, base, &ready, start, &began, duration, callTimeout)
		}()
	}
	ready.Wait()
	began = time.Now()
	close(start)
	done.Wait()
	elapsed := time.Since(began)

	res := make([]*result, len(mix))
	for t := range mix {
		res[t] = &result{counts: map[string]int{}}
	}
	for i, r := range per {
		res[i%len(mix)].merge(r)
	}
	return res, elapsed
}

// runClient is client i: it opens a session, says it is ready, and from
// start calls its tool in a loop until duration has passed. A session lost
// (closed, or forgotten by the server) is opened again.
func runClient(ctx context.Context, i int, url string, base http.RoundTripper, ready *sync.WaitGroup, start <-chan struct{}, began *time.Time, duration, callTimeout time.Duration) *result {
	t := mix[i%len(mix)]
	r := rand.New(rand.NewPCG(uint64(i), 5))
	res := &result{counts: map[string]int{}}
	rt := &refusals{base: base}
	transport := &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: rt}}
	client := mcp.NewClient(&mcp.Implementation{Name: fmt.Sprintf("load-%d", i)}, nil)

	// pause waits for d, but not past end.
	pause := func(d time.Duration, end time.Time) {
		select {
		case <-time.After(min(d, time.Until(end))):
		case <-ctx.Done():
		}
	}
	// refused reports whether a 503 came since it was last asked, and then
	// waits for its Retry-After, up to end.
	refused := func(end time.Time) bool {
		d := rt.take()
		if d > 0 {
			res.refused++
			res.retryAfters = append(res.retryAfters, d.String())
			pause(d, end)
		}
		return d > 0
	}
	connect := func(end time.Time) *mcp.ClientSession {
		for time.Now().Before(end) && ctx.Err() == nil {
			cs, err := client.Connect(ctx, transport, nil)
			if err == nil {
				res.sessions++
				return cs
			}
			res.fail("connect: " + err.Error())
			if !refused(end) {
				pause(time.Second, end)
			}
		}
		return nil
	}

	cs := connect(time.Now().Add(duration))
	ready.Done()
	<-start
	end := began.Add(duration)
	for n := 0; time.Now().Before(end) && ctx.Err() == nil; n++ {
		if cs == nil {
			if cs = connect(end); cs == nil {
				break
			}
		}
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		t0 := time.Now()
		out, err := cs.CallTool(callCtx, &mcp.CallToolParams{Name: t.name, Arguments: t.args(r, i, n)})
		res.latencies = append(res.latencies, time.Since(t0))
		cancel()
		switch {
		case err != nil:
			res.fail(err.Error())
			if errors.Is(err, mcp.ErrConnectionClosed) || errors.Is(err, mcp.ErrSessionMissing) {
				cs.Close()
				cs = nil
			}
			refused(end)
		case out.IsError:
			res.fail(text(out))
		}
	}
	if cs != nil {
		cs.Close()
	}
	return res
}

// refusals passes requests to base and notes the Retry-After of a 503
// answer (1 s if it gives none).
type refusals struct {
	base       http.RoundTripper
	retryAfter atomic.Int64 // nanoseconds; 0: no 503 since the last take
}

func (rt *refusals) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.base.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusServiceUnavailable {
		d := time.Second
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			d = time.Duration(s) * time.Second
		}
		rt.retryAfter.Store(int64(d))
	}
	return resp, err
}

// take returns the Retry-After of the last 503 since the previous take, or 0.
func (rt *refusals) take() time.Duration { return time.Duration(rt.retryAfter.Swap(0)) }

// report prints the table of the tools and their errors.
func report(res []*result, clients int, elapsed time.Duration) {
	fmt.Printf("\n%d clients (%d per tool), one session each, for %.1fs\n\n", clients, clients/len(mix), elapsed.Seconds())
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "tool\tcalls\terrors\tcalls/s\tp50 ms\tp99 ms\tmax ms\t")
	total, errs := 0, 0
	for t, r := range res {
		lat := r.latencies
		slices.Sort(lat)
		total, errs = total+len(lat), errs+r.errors
		fmt.Fprintf(w, "%s\t%d\t%d\t%.1f\t%s\t%s\t%s\t\n", mix[t].name, len(lat), r.errors,
			float64(len(lat))/elapsed.Seconds(), ms(quantile(lat, 0.50)), ms(quantile(lat, 0.99)), ms(quantile(lat, 1)))
	}
	fmt.Fprintf(w, "total\t%d\t%d\t%.1f\t\t\t\t\n", total, errs, float64(total)/elapsed.Seconds())
	w.Flush()

	fmt.Println()
	for t, r := range res {
		fmt.Printf("%s: %d sessions opened, %d answers 503", mix[t].name, r.sessions, r.refused)
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
