package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// These tests drive the HTTP transports over a real loopback listener. Where
// a duration matters it is set tiny in the config, and no assertion depends
// on how fast the machine is: a test waits for the event it is about (a
// session's end, a closed connection) for as long as guard, which only a
// missing protection ever reaches.

const guard = 10 * time.Second

// httpConfig is the default configuration with a data directory of its own.
func httpConfig(t *testing.T) Config {
	t.Helper()
	cfg := defaultConfig()
	cfg.DataDir = t.TempDir()
	return cfg
}

// serve serves server over HTTP with cfg on a loopback port and returns
// the base URL; the server stops when the test ends.
func serve(t *testing.T, cfg Config, server *mcp.Server) string {
	t.Helper()
	h, err := httpHandler(cfg, server, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return listenHTTP(t, cfg, h)
}

// listenHTTP serves h with cfg's time limits on a loopback port until the
// test ends, and returns the base URL.
func listenHTTP(t *testing.T, cfg Config, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httpServer(cfg.Server, h)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// blockingServer is an MCP server with one tool, "block", which returns once
// release is closed and reports each call's start on started.
func blockingServer(started chan<- struct{}, release <-chan struct{}) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "block"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
	})
	return s
}

// sleepServer is an MCP server whose tool "sleep" returns after ms milliseconds.
func sleepServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "sleep"}, func(ctx context.Context, _ *mcp.CallToolRequest, in struct {
		MS int `json:"ms"`
	}) (*mcp.CallToolResult, any, error) {
		select {
		case <-time.After(millis(in.MS)):
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "slept"}}}, nil, nil
	})
	return s
}

// headerClient is an HTTP transport that sets header, and Host if given,
// on every request.
type headerClient struct {
	header http.Header
	host   string
}

func (c headerClient) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range c.header {
		r.Header[k] = v
	}
	if c.host != "" {
		r.Host = c.host
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (c headerClient) client() *http.Client { return &http.Client{Transport: c} }

// transports are the two ways an MCP client reaches the server over HTTP.
var transports = []struct {
	name string
	new  func(base string, c *http.Client) mcp.Transport
}{
	{"streamable", func(base string, c *http.Client) mcp.Transport {
		return &mcp.StreamableClientTransport{Endpoint: base + "/mcp", HTTPClient: c}
	}},
	{"sse", func(base string, c *http.Client) mcp.Transport {
		return &mcp.SSEClientTransport{Endpoint: base + "/sse", HTTPClient: c}
	}},
}

// dial connects an MCP client over transport, speaking 2025-11-25, the
// last revision with sessions, which these tests are about (a 2026-07-28
// client is served without one; see byRevision).
func dial(transport mcp.Transport, opts *mcp.ClientOptions) (*mcp.ClientSession, error) {
	return mcp.NewClient(&mcp.Implementation{Name: "test", Version: "0"}, opts).Connect(context.Background(), transport, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
}

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`

// mcpPost is a POST of one JSON-RPC message to url, as a streamable client
// sends it, with header added.
func mcpPost(url, body string, header http.Header) *http.Request {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		panic(err) // the tests' own URLs
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	return req
}

// post sends mcpPost(url, body, header) and returns the response with its
// body read.
func post(t *testing.T, url, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(mcpPost(url, body, header))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// pingStatus is the HTTP status of a ping sent to url, 0 if none came.
func pingStatus(url string, header http.Header) int {
	resp, err := http.DefaultClient.Do(mcpPost(url, `{"jsonrpc":"2.0","id":2,"method":"ping"}`, header))
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// openSSE opens a raw SSE session at base+"/sse" and returns the stream and
// the endpoint it names for the session's messages.
func openSSE(t *testing.T, base string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/sse", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /sse: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if endpoint, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			u, err := req.URL.Parse(endpoint)
			if err != nil {
				t.Fatal(err)
			}
			return resp, u.String()
		}
	}
	t.Fatalf("no endpoint event on /sse: %v", sc.Err())
	return nil, ""
}

// within runs f and fails the test when it has not returned after guard.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(guard):
		t.Fatalf("%s: still waiting after %v", what, guard)
	}
}

// serverSession returns the server's session with the given ID, or nil when it
// has ended.
func serverSession(s *mcp.Server, id string) *mcp.ServerSession {
	for ss := range s.Sessions() {
		if ss.ID() == id {
			return ss
		}
	}
	return nil
}

// TestHTTPSessions_IdleExpiry: on each transport, a session left idle for
// server.session_idle_timeout_ms ends and a later request on it gets 404,
// while a session whose call outlasts the timeout is not idle and carries on.
func TestHTTPSessions_IdleExpiry(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			cfg := httpConfig(t)
			cfg.Server.SessionIdleTimeoutMS = 100
			started, release := make(chan struct{}, 1), make(chan struct{})
			server := blockingServer(started, release)
			base := serve(t, cfg, server)

			// Session A starts a call that lasts until B has ended. A machine
			// that stalls for longer than the timeout before the call begins
			// ends A before it is busy; that attempt proves nothing and is
			// made again.
			var a *mcp.ClientSession
			var err error
			for attempt := 1; a == nil; attempt++ {
				if attempt > 10 {
					t.Fatalf("session A ended before its call started, 10 times; last: %v", err)
				}
				cs, derr := dial(tr.new(base, nil), nil)
				if err = derr; err != nil {
					continue
				}
				defer cs.Close()
				failed := make(chan error, 1)
				go func() {
					_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "block"})
					failed <- err
				}()
				select {
				case <-started:
					a = cs
				case err = <-failed:
				}
			}
			defer close(release)

			// Session B, opened after A's call began, is left idle: it ends,
			// and then its messages get 404, as the MCP spec asks.
			var bEndpoint string
			var bHeader http.Header
			if tr.name == "streamable" {
				resp, body := post(t, base+"/mcp", initializeBody, nil)
				id := resp.Header.Get("Mcp-Session-Id")
				if resp.StatusCode != http.StatusOK || id == "" {
					t.Fatalf("initialize B: %s %s", resp.Status, body)
				}
				if ss := serverSession(server, id); ss != nil {
					within(t, "idle session B to end", func() { ss.Wait() })
				}
				bEndpoint, bHeader = base+"/mcp", http.Header{"Mcp-Session-Id": {id}}
			} else {
				stream, endpoint := openSSE(t, base)
				within(t, "idle SSE session B to end its stream", func() { io.Copy(io.Discard, stream.Body) })
				bEndpoint = endpoint
			}
			// (The SDK forgets an ended streamable session just after Wait
			// returns, so a request a moment before may still find it.)
			within(t, "a request on expired session B to get 404", func() {
				for pingStatus(bEndpoint, bHeader) != http.StatusNotFound {
					time.Sleep(10 * time.Millisecond)
				}
			})

			// A has been busy all along, for longer than the timeout (B's whole
			// idle life fits in that time): it still answers. (Its call's answer
			// is not awaited: the clock starts again as the call returns.)
			if err := a.Ping(context.Background(), nil); err != nil {
				t.Errorf("session A, busy with a call, ended: %v", err)
			}
		})
	}
}

// TestHTTPSessions_Limit: with server.max_sessions = 2, held by one
// streamable and one SSE session, a third session on either transport gets
// 503 with Retry-After, the open ones keep working, and a session ended by
// DELETE frees its place at once.
func TestHTTPSessions_Limit(t *testing.T) {
	cfg := httpConfig(t)
	cfg.Server.MaxSessions = 2
	server := sleepServer()
	base := serve(t, cfg, server)

	var open []*mcp.ClientSession
	for _, tr := range transports {
		cs, err := dial(tr.new(base, nil), nil)
		if err != nil {
			t.Fatalf("%s session within the limit: %v", tr.name, err)
		}
		defer cs.Close()
		open = append(open, cs)
	}

	resp, body := post(t, base+"/mcp", initializeBody, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "server.max_sessions") {
		t.Errorf("third session on /mcp: %s, Retry-After %q, %s; want 503 with Retry-After naming server.max_sessions", resp.Status, resp.Header.Get("Retry-After"), body)
	}
	sse, err := http.Get(base + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	sse.Body.Close()
	if sse.StatusCode != http.StatusServiceUnavailable || sse.Header.Get("Retry-After") == "" {
		t.Errorf("third session on /sse: %s, Retry-After %q; want 503 with Retry-After", sse.Status, sse.Header.Get("Retry-After"))
	}
	if _, err := dial(transports[0].new(base, nil), nil); err == nil {
		t.Error("an MCP client connected beyond the limit")
	}

	for i, cs := range open {
		if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{"ms": 0}}); err != nil {
			t.Errorf("%s session at the limit: %v", transports[i].name, err)
		}
	}

	if err := open[0].Close(); err != nil { // DELETE /mcp
		t.Fatal(err)
	}
	cs, err := dial(transports[0].new(base, nil), nil)
	if err != nil {
		t.Fatalf("new session after one was deleted: %v", err)
	}
	cs.Close()
}

// TestHTTPSessions_ExpiryFreesPlace: with server.max_sessions = 1, a
// session that expired gives its place to the next one, on each transport.
func TestHTTPSessions_ExpiryFreesPlace(t *testing.T) {
	cfg := httpConfig(t)
	cfg.Server.MaxSessions = 1
	cfg.Server.SessionIdleTimeoutMS = 100

	t.Run("streamable", func(t *testing.T) {
		server := sleepServer()
		base := serve(t, cfg, server)
		resp, _ := post(t, base+"/mcp", initializeBody, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("first session: %s", resp.Status)
		}
		if ss := serverSession(server, resp.Header.Get("Mcp-Session-Id")); ss != nil {
			within(t, "the session to expire", func() { ss.Wait() })
		}
		// The place is freed just after Wait returns, as the SDK lets go.
		within(t, "a new session to be accepted", func() {
			for {
				resp, err := http.DefaultClient.Do(mcpPost(base+"/mcp", initializeBody, nil))
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						return
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	})

	t.Run("sse", func(t *testing.T) {
		base := serve(t, cfg, sleepServer())
		stream, _ := openSSE(t, base)
		within(t, "the session to expire", func() { io.Copy(io.Discard, stream.Body) })
		openSSE(t, base) // fails the test unless 200
	})
}

// TestHTTPTimeouts_SlowBody: a request body that trickles in is cut off
// after server.read_timeout_ms: the server answers and closes the
// connection instead of waiting for the rest.
func TestHTTPTimeouts_SlowBody(t *testing.T) {
	cfg := httpConfig(t)
	cfg.Server.ReadTimeoutMS = 100
	base := serve(t, cfg, sleepServer())

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: %d\r\n\r\n",
		strings.TrimPrefix(base, "http://"), len(initializeBody))
	go func() { // one byte at a time, until the server hangs up
		for i := 0; i < len(initializeBody); i++ {
			if _, err := conn.Write([]byte{initializeBody[i]}); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var answer []byte
	within(t, "the server to close a slow request", func() { answer, _ = io.ReadAll(conn) })
	if len(answer) > 0 && !strings.HasPrefix(string(answer), "HTTP/1.1 4") {
		t.Errorf("slow body answered %q, want a 4xx or a closed connection", answer)
	}
}

// TestHTTPTimeouts_IdleConnection: a kept-alive connection with no request
// is closed after server.keepalive_timeout_ms.
func TestHTTPTimeouts_IdleConnection(t *testing.T) {
	cfg := httpConfig(t)
	cfg.Server.KeepAliveTimeoutMS = 100
	base := serve(t, cfg, sleepServer())

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /health HTTP/1.1\r\nHost: %s\r\n\r\n", strings.TrimPrefix(base, "http://"))
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("GET /health: %s, close %v; want 200 on a kept-alive connection", resp.Status, resp.Close)
	}
	var rest []byte
	within(t, "the server to close the idle connection", func() { rest, err = io.ReadAll(r) })
	if len(rest) > 0 || err != nil {
		t.Errorf("idle connection: read %q, %v; want a plain close", rest, err)
	}
}

// TestHTTPTimeouts_StreamsOutliveReadTimeout: server.read_timeout_ms bounds
// how long a request takes to arrive, not how long it lasts: a tool call
// and the GET streams of both transports, open for longer than the timeout,
// still carry messages.
func TestHTTPTimeouts_StreamsOutliveReadTimeout(t *testing.T) {
	cfg := httpConfig(t)
	cfg.Server.ReadTimeoutMS = 300
	server := sleepServer()
	base := serve(t, cfg, server)

	changed := make(chan string, 2)
	var sessions []*mcp.ClientSession
	for _, tr := range transports {
		cs, err := dial(tr.new(base, nil), &mcp.ClientOptions{
			ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- tr.name },
		})
		if err != nil {
			t.Fatalf("%s: %v", tr.name, err)
		}
		defer cs.Close()
		sessions = append(sessions, cs)
	}
	var wg sync.WaitGroup
	for i, cs := range sessions {
		wg.Go(func() {
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{"ms": 3 * cfg.Server.ReadTimeoutMS}})
			if err != nil || res.IsError {
				t.Errorf("%s: a call three times longer than read_timeout_ms: %v %v", transports[i].name, err, res)
			}
		})
	}
	wg.Wait()

	// Both GET streams have now been open for longer than the timeout; a
	// notification sent on them still arrives.
	server.AddTool(&mcp.Tool{Name: "late", InputSchema: map[string]any{"type": "object"}}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{}, nil
	})
	got := map[string]bool{}
	within(t, "tools/list_changed on both streams", func() {
		for len(got) < 2 {
			got[<-changed] = true
		}
	})
}

// TestHTTPOrigin: a cross-origin browser request to /mcp or /sse is refused
// with 403 naming server.allowed_origins, unless the origin is listed;
// requests without Origin and same-origin requests work. The refused case
// is the probe that, before, initialised a session and ran put_object.
func TestHTTPOrigin(t *testing.T) {
	cfg := httpConfig(t)
	cfg.Server.AllowedOrigins = []string{"https://app.example"}
	e, err := openEngines(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	base := serve(t, cfg, newServer(e.backends, false))

	cases := []struct {
		name   string
		header http.Header
		ok     bool
	}{
		{"no Origin", nil, true},
		{"same origin", http.Header{"Origin": {base}}, true},
		{"listed origin", http.Header{"Origin": {"https://app.example"}, "Sec-Fetch-Site": {"cross-site"}}, true},
		{"other origin", http.Header{"Origin": {"https://evil.example"}}, false},
		{"other origin, modern browser", http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}, false},
	}
	for _, c := range cases {
		for _, tr := range transports {
			hc := headerClient{header: c.header}
			cs, err := dial(tr.new(base, hc.client()), nil)
			if !c.ok {
				if err == nil {
					cs.Close()
					t.Errorf("%s over %s: connected, want refused", c.name, tr.name)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s over %s: %v", c.name, tr.name, err)
				continue
			}
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "put_object", Arguments: map[string]any{"key": "origin.txt", "content": c.name}})
			if err != nil || res.IsError {
				t.Errorf("%s over %s: put_object: %v %v", c.name, tr.name, err, res)
			}
			cs.Close()
		}
	}

	resp, body := post(t, base+"/mcp", initializeBody, http.Header{"Origin": {"https://evil.example"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "server.allowed_origins") {
		t.Errorf("initialize from https://evil.example: %s %s, want 403 naming server.allowed_origins", resp.Status, body)
	}

	// A browser page at a listed origin asks first (a preflight, without
	// the token) and must be told it may send what an MCP client sends.
	req, _ := http.NewRequest(http.MethodOptions, base+"/mcp", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type, mcp-session-id")
	pre, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pre.Body.Close()
	if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Mcp-Session-Id") {
		t.Errorf("preflight from a listed origin: %s %v", pre.Status, pre.Header)
	}
}

// TestHTTPAllowedHosts: with server.allowed_hosts set, a request naming
// another Host is refused with 403 naming the key; a listed one works.
func TestHTTPAllowedHosts(t *testing.T) {
	cfg := httpConfig(t)
	cfg.Server.AllowedHosts = []string{"127.0.0.1"}
	base := serve(t, cfg, sleepServer())
	port := base[strings.LastIndex(base, ":")+1:]

	for _, tr := range transports {
		for _, c := range []struct {
			host string
			ok   bool
		}{
			{"127.0.0.1:" + port, true},
			{"127.0.0.1", true},
			{"localhost:" + port, false},
		} {
			hc := headerClient{host: c.host}
			cs, err := dial(tr.new(base, hc.client()), nil)
			if err == nil {
				cs.Close()
			}
			if (err == nil) != c.ok {
				t.Errorf("Host %s over %s: err %v, want ok=%v", c.host, tr.name, err, c.ok)
			}
		}
	}
	req := mcpPost(base+"/mcp", initializeBody, nil)
	req.Host = "rebound.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "server.allowed_hosts") {
		t.Errorf("Host rebound.example: %s %s, want 403 naming server.allowed_hosts", resp.Status, body)
	}
}

// TestHTTPBearerScheme: the bearer scheme is matched in any case (RFC 9110
// §11.1), over both transports; a wrong or missing token is still 401.
func TestHTTPBearerScheme(t *testing.T) {
	cfg := httpConfig(t)
	cfg.Server.AuthToken = "s3cret"
	base := serve(t, cfg, sleepServer())

	for _, c := range []struct {
		auth string
		ok   bool
	}{
		{"Bearer s3cret", true},
		{"bearer s3cret", true},
		{"BEARER s3cret", true},
		{"bearer wrong", false},
		{"s3cret", false},
		{"Basic s3cret", false},
		{"", false},
	} {
		for _, tr := range transports {
			hc := headerClient{header: http.Header{}}
			if c.auth != "" {
				hc.header.Set("Authorization", c.auth)
			}
			cs, err := dial(tr.new(base, hc.client()), nil)
			if (err == nil) != c.ok {
				t.Errorf("Authorization %q over %s: err %v, want ok=%v", c.auth, tr.name, err, c.ok)
			}
			if err != nil {
				continue
			}
			if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{"ms": 0}}); err != nil {
				t.Errorf("Authorization %q over %s: call: %v", c.auth, tr.name, err)
			}
			cs.Close()
		}
		resp, _ := post(t, base+"/mcp", initializeBody, http.Header{"Authorization": {c.auth}})
		if want := map[bool]int{true: http.StatusOK, false: http.StatusUnauthorized}[c.ok]; resp.StatusCode != want {
			t.Errorf("Authorization %q: %s, want %d", c.auth, resp.Status, want)
		}
	}
}
