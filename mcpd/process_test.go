package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/tools"
)

// Tests in this file run the real mcpd binary as a subprocess.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildLog  []byte
)

// mcpdBinary builds mcpd once per test run.
func mcpdBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mcpd-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "mcpd")
		buildLog, buildErr = exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildLog)
	}
	return binPath
}

// command returns an mcpd command on dataDir with a clean environment.
func command(t *testing.T, dataDir string, args ...string) *exec.Cmd {
	cmd := exec.Command(mcpdBinary(t), args...)
	cmd.Env = append(os.Environ(), "LAKEHOUSE_DATA="+dataDir, "LAKEHOUSE_CONFIG=")
	return cmd
}

// stdioSession launches mcpd over stdio and connects a client to it.
func stdioSession(t *testing.T, dataDir string) *mcp.ClientSession {
	t.Helper()
	cmd := command(t, dataDir)
	cmd.Stderr = testLog{t}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test"}, nil).Connect(context.Background(), &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connect over stdio: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// testLog copies a subprocess's stderr into the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Logf("mcpd: %s", bytes.TrimSpace(p))
	return len(p), nil
}

func TestStdioSubprocess(t *testing.T) {
	cs := stdioSession(t, t.TempDir())
	if init := cs.InitializeResult(); init.ServerInfo.Name != "mcpd" || !strings.Contains(init.Instructions, "query_sql") {
		t.Errorf("initialize = %+v", init)
	}
	var names []string
	for tool, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		if tool.OutputSchema == nil || tool.Annotations == nil {
			t.Errorf("tool %s lacks an output schema or annotations", tool.Name)
		}
		names = append(names, tool.Name)
	}
	var want []string
	for _, tool := range tools.All(nil) {
		want = append(want, tool.Name)
	}
	if got := strings.Join(names, " "); len(names) != len(want) || !containsAll(got, want) {
		t.Errorf("tools = %s, want %s", got, want)
	}
	call(t, cs, "ingest_dataset", map[string]any{"name": "sales", "source": map[string]any{"content": fixture(t, "sales.csv")}})
	if got := jsonText(query(t, cs, "SELECT sum(units) FROM sales")); got != `[[28]]` {
		t.Errorf("sum(units) = %s", got)
	}
}

func containsAll(s string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(" "+s+" ", " "+w+" ") {
			return false
		}
	}
	return true
}

// TestSharedDataDirectory runs two stdio servers and the CLI on one data
// directory at once: the first owns it, the others forward to it. When the
// owner exits, its guest takes over and its client carries on; a process
// started later forwards to that one, and takes over when it exits in turn.
func TestSharedDataDirectory(t *testing.T) {
	dir := t.TempDir()
	owner := stdioSession(t, dir)
	call(t, owner, "list_datasets", nil) // the owner is up before the guest starts
	guest := stdioSession(t, dir)

	call(t, guest, "ingest_dataset", map[string]any{"name": "sales", "source": map[string]any{"content": fixture(t, "sales.csv")}})
	call(t, owner, "put_object", map[string]any{"key": "a.txt", "content": "from the owner"})
	if got := jsonText(query(t, owner, "SELECT count(*) FROM sales")); got != `[[8]]` {
		t.Errorf("owner sees %s rows written through the guest", got)
	}
	if obj := call(t, guest, "get_object", map[string]any{"key": "a.txt"}); obj["content"] != "from the owner" {
		t.Errorf("guest reads %v", obj["content"])
	}
	out, err := command(t, dir, "call", "query_sql", `{"sql":"SELECT count(*) AS n FROM sales"}`).Output()
	if err != nil || !strings.Contains(string(out), `"n"`) || !strings.Contains(string(out), "8") {
		t.Errorf("mcpd call while two servers run: %v\n%s", err, out)
	}

	// The owner exits while the guest's client is busy: the guest takes over,
	// and its client carries on. A call the exit cut off fails as a tool
	// error that says so; calls made during the takeover wait for it.
	stop := make(chan struct{})
	outcomes := make(chan string, 10000)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := guest.CallTool(context.Background(), &mcp.CallToolParams{Name: "query_sql", Arguments: map[string]any{"sql": "SELECT count(*) FROM sales"}})
				switch {
				case err != nil:
					outcomes <- "transport error: " + err.Error()
				case res.IsError:
					outcomes <- contentText(res)
				default:
					outcomes <- "ok"
				}
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	owner.Close()
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	close(outcomes)
	counts := map[string]int{}
	for o := range outcomes {
		if o != "ok" && !strings.Contains(o, "went away during this call") {
			t.Errorf("a call during the takeover: %s", o)
		}
		counts[o]++
	}
	t.Logf("calls during the takeover: %v", counts)
	if got := eventually(t, guest, "SELECT count(*) FROM sales"); got != `[[8]]` {
		t.Errorf("after the owner exited, the guest sees %s", got)
	}
	call(t, guest, "put_object", map[string]any{"key": "b.txt", "content": "after the takeover"})
	next := stdioSession(t, dir)
	if obj := call(t, next, "get_object", map[string]any{"key": "b.txt"}); obj["content"] != "after the takeover" {
		t.Errorf("a later process reads %v", obj["content"])
	}
	guest.Close()
	if got := eventually(t, next, "SELECT count(*) FROM sales"); got != `[[8]]` {
		t.Errorf("after the second owner exited, the next one sees %s", got)
	}
}

// TestGuestLargeMessages sends objects larger than go-sdk's default 16 MiB
// message limit through a guest, both ways, before and after the guest takes
// over from the owner.
func TestGuestLargeMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 17 MiB objects through three processes; about a minute under -race")
	}
	dir := t.TempDir()
	owner := stdioSession(t, dir)
	call(t, owner, "list_datasets", nil) // the owner is up before the guest starts
	cmd := command(t, dir)
	cmd.Stderr = testLog{t}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	guest, err := mcp.NewClient(&mcp.Implementation{Name: "test"}, nil).Connect(context.Background(),
		&mcp.IOTransport{Reader: stdout, Writer: stdin, MaxLineLength: 64 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer guest.Close()
	big := strings.Repeat("0123456789abcdef", 17<<20/16)
	roundTrip := func(key string) {
		t.Helper()
		call(t, guest, "put_object", map[string]any{"key": key, "content": big})
		if got := call(t, guest, "get_object", map[string]any{"key": key, "max_bytes": 32 << 20}); got["content"] != big {
			t.Errorf("get_object %s through the guest: %d bytes back, want %d", key, len(got["content"].(string)), len(big))
		}
	}
	roundTrip("big/before.txt")
	owner.Close()
	eventually(t, guest, "SELECT 1")
	roundTrip("big/after.txt")
}

// eventually runs sql through cs until it succeeds, for a client whose
// server is attaching to the data directory again; it returns the rows.
func eventually(t *testing.T, cs *mcp.ClientSession, sql string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "query_sql", Arguments: map[string]any{"sql": sql}})
		if err != nil {
			t.Fatalf("the client lost its server: %v", err)
		}
		if !res.IsError {
			b, _ := json.Marshal(res.StructuredContent.(map[string]any)["rows"])
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer within 30 s: %s", contentText(res))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startHTTP starts mcpd with args on dataDir, listening on a free loopback
// port, and returns its base URL; the process is stopped when the test ends.
func startHTTP(t *testing.T, dataDir string, args ...string) string {
	t.Helper()
	cmd := command(t, dataDir, append([]string{"--http", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	return listenAddress(t, stderr)
}

func TestHTTPTransports(t *testing.T) {
	base := startHTTP(t, t.TempDir())

	// A connection waits for the data to be open; /health then says ok
	// (before, it answers "loading").
	ctx := context.Background()
	client := mcp.NewClient(&mcp.Implementation{Name: "test"}, nil)
	streamable, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + "/mcp"}, nil)
	if err != nil {
		t.Fatalf("connect to /mcp: %v", err)
	}
	defer streamable.Close()
	if _, health := getJSON(t, base+"/health"); health["status"] != "ok" || health["service"] != "mcpd" || health["version"] != version {
		t.Errorf("/health = %v", health)
	}
	call(t, streamable, "ingest_dataset", map[string]any{"name": "events", "source": map[string]any{"content": fixture(t, "events.ndjson")}})

	sse, err := client.Connect(ctx, &mcp.SSEClientTransport{Endpoint: base + "/sse"}, nil)
	if err != nil {
		t.Fatalf("connect to /sse: %v", err)
	}
	defer sse.Close()
	if got := jsonText(query(t, sse, "SELECT count(DISTINCT user) FROM events")); got != `[[3]]` {
		t.Errorf("over SSE, distinct users = %s", got)
	}
}

// TestHTTPStatelessGuest serves stateless HTTP from a process that does not
// own the data directory: its tools forward to the owner.
func TestHTTPStatelessGuest(t *testing.T) {
	dir := t.TempDir()
	owner := stdioSession(t, dir)
	call(t, owner, "ingest_dataset", map[string]any{"name": "sales", "source": map[string]any{"content": fixture(t, "sales.csv")}})
	base := startHTTP(t, dir, "--stateless")
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test"}, nil).Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if got := jsonText(query(t, cs, "SELECT max(price) FROM sales")); got != `[[99.99]]` {
		t.Errorf("through the guest, max(price) = %s", got)
	}
	call(t, cs, "put_object", map[string]any{"key": "from-guest.txt", "content": "hi"})
	if obj := call(t, owner, "get_object", map[string]any{"key": "from-guest.txt"}); obj["content"] != "hi" {
		t.Errorf("owner reads %v", obj["content"])
	}
}

// TestHTTPGuestProgress sends a call with a progress token to an HTTP guest:
// the owner's progress notifications reach the caller, under its own token.
func TestHTTPGuestProgress(t *testing.T) {
	dir := t.TempDir()
	owner := stdioSession(t, dir)
	call(t, owner, "list_datasets", nil) // the owner is up before the guest starts
	base := startHTTP(t, dir)
	notes := make(chan *mcp.ProgressNotificationParams, 100)
	client := mcp.NewClient(&mcp.Implementation{Name: "test"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) { notes <- r.Params },
	})
	cs, err := client.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	params := &mcp.CallToolParams{Name: "ingest_dataset", Arguments: map[string]any{"name": "sales", "source": map[string]any{"content": fixture(t, "sales.csv")}}}
	params.SetProgressToken("mine")
	if res, err := cs.CallTool(context.Background(), params); err != nil || res.IsError {
		t.Fatalf("ingest through the guest: %v %v", err, res)
	}
	select {
	case n := <-notes:
		if n.ProgressToken != "mine" || n.Message == "" {
			t.Errorf("progress = %+v", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no progress notification through the guest")
	}
}

// listenAddress reads mcpd's stderr until it says where it listens, and keeps
// copying the rest so the process never blocks on a full pipe.
func listenAddress(t *testing.T, stderr io.Reader) string {
	t.Helper()
	re := regexp.MustCompile(`listening on (http://\S+?):? `)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case addr := <-found:
		return addr
	case <-time.After(60 * time.Second):
		t.Fatal("mcpd did not say where it listens")
		return ""
	}
}

func TestHTTPRefusesOpenBindWithoutToken(t *testing.T) {
	out, err := command(t, t.TempDir(), "--http", "0.0.0.0:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "auth_token") {
		t.Errorf("non-loopback bind without a token: err=%v, output %s", err, out)
	}
}

func TestCallCommand(t *testing.T) {
	dir := t.TempDir()
	run := func(stdin string, args ...string) (string, string, int) {
		cmd := command(t, dir, args...)
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return stdout.String(), stderr.String(), code
	}
	out, _, code := run("", "call", "put_object", `{"key":"notes/a.txt","content":"hello"}`)
	if code != 0 || !strings.Contains(out, `"etag": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"`) {
		t.Errorf("put_object: exit %d, %s", code, out)
	}
	argsFile := filepath.Join(t.TempDir(), "args.json")
	os.WriteFile(argsFile, []byte(`{"key":"notes/a.txt"}`), 0o644)
	if out, _, code := run("", "call", "get_object", "@"+argsFile); code != 0 || !strings.Contains(out, `"content": "hello"`) {
		t.Errorf("get_object @file: exit %d, %s", code, out)
	}
	if out, _, code := run(`{"prefix":"notes/"}`, "call", "list_objects", "-"); code != 0 || !strings.Contains(out, "notes/a.txt") {
		t.Errorf("list_objects from stdin: exit %d, %s", code, out)
	}
	if out, errOut, code := run("", "call", "get_object", `{"key":"nope"}`); code != 1 || out != "" || !strings.Contains(errOut, "nope") {
		t.Errorf("tool error: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, errOut, code := run("", "call", "get_object", `{not json`); code != 2 || !strings.Contains(errOut, "JSON object") {
		t.Errorf("bad JSON: exit %d, stderr %q", code, errOut)
	}
	if out, _, code := run("", "tools"); code != 0 || len(strings.Split(strings.TrimSpace(out), "\n")) != len(tools.All(nil)) || !strings.Contains(out, "query_sql") {
		t.Errorf("tools: exit %d\n%s", code, out)
	}
	// The observer saw every call, as coming from the CLI, without contents.
	out, _, code = run("", "call", "list_events", `{"source":"cli","tool":"put_object"}`)
	if code != 0 || !strings.Contains(out, `"input_summary": "content=\u003c5 bytes\u003e key=\"notes/a.txt\""`) || strings.Contains(out, "hello") {
		t.Errorf("list_events of the CLI's put_object: exit %d\n%s", code, out)
	}
	if out, _, code := run("", "version"); code != 0 || out != "mcpd "+version+"\n" {
		t.Errorf("version: exit %d, %q", code, out)
	}
	if out, _, code := run("", "--help"); code != 0 || !strings.Contains(out, "call TOOL [ARGS]") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
	if _, errOut, code := run("", "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %q", code, errOut)
	}
}

// TestStdio_InputEnds: JSON-RPC requests piped into mcpd, whose input then
// ends (mcpd < requests.jsonl), are all answered before mcpd exits, the
// slow call included.
func TestStdio_InputEnds(t *testing.T) {
	dir := t.TempDir()
	requests := strings.Join([]string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"pipe","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"query_sql","arguments":{"sql":"SELECT count(*) FROM range(50000000)"}}}`,
		`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"add_trace","arguments":{"content":{"piped":true}}}}`,
	}, "\n") + "\n"
	for try := range 3 {
		cmd := command(t, dir)
		cmd.Stdin = strings.NewReader(requests)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("try %d: mcpd: %v", try, err)
		}
		ids := map[float64]bool{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var m struct {
				ID     float64         `json:"id"`
				Result json.RawMessage `json:"result"`
			}
			if json.Unmarshal([]byte(line), &m) == nil && m.Result != nil {
				ids[m.ID] = true
			}
		}
		for _, id := range []float64{1, 2, 3, 4} {
			if !ids[id] {
				t.Errorf("try %d: no answer to request %v; got %s", try, id, out)
			}
		}
	}
}
