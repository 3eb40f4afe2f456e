package main

// The HTTP transports.
//
// /mcp (streamable HTTP) and /sse (legacy SSE) sit behind the same guards,
// outermost first:
//
//   - Host: with server.allowed_hosts set, only those names are answered, so
//     a DNS-rebound web page is refused. On a loopback connection the SDK
//     itself refuses any Host that is not a localhost name.
//   - Origin: a browser request from another origin is refused unless
//     server.allowed_origins lists it; listed origins get the CORS headers a
//     browser needs to go on. Clients that send no Origin are not browsers.
//   - Address and token (auth.go): with auth.allowed_ips set, only those
//     addresses; with tokens or OAuth configured, "Authorization: Bearer
//     <token>", whose scope (read or write) decides which tools the caller
//     sees and may call.
//   - Sessions: at most server.max_sessions open at once, both transports
//     together. A session idle for server.session_idle_timeout_ms ends: the
//     SDK times streamable sessions, and sessionLimit.sse times SSE ones.
//
// The http.Server bounds how long a request may take to arrive
// (ReadTimeout) and how long an idle connection is kept (IdleTimeout). It
// sets no WriteTimeout: that deadline is never lifted, so it would cut SSE
// streams and long tool calls. ReadTimeout does not: net/http lifts the read
// deadline once a request's body has been read (see startBackgroundRead).

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/tools"
)

// serveStdio serves MCP on stdin/stdout until the client closes stdin.
func serveStdio(ctx context.Context, cfg Config, n *node) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	server, release, err := n.mcpServer(ctx, cfg, stop)
	if err != nil {
		return err
	}
	server.AddReceivingMiddleware(tools.ToolsetFilter)
	err = server.Run(tools.WithToolsets(ctx, cfg.MCP.Toolsets), stdioTransport(os.Stdin, os.Stdout, maxLine(cfg)))
	if failed := release(); failed != nil {
		return failed
	}
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// listen opens the HTTP listener on addr, which must be loopback unless
// callers have to authenticate.
func listen(cfg Config, addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--http %q: want host:port, e.g. 127.0.0.1:3110", addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) && !authConfigured(cfg) {
		return nil, fmt.Errorf("--http %s is not a loopback address: anyone who can reach it could read and change your data. Require a bearer token with server.auth_token (or LAKEHOUSE_SERVER_AUTH_TOKEN), [[auth.tokens]] or [auth.oauth], or bind 127.0.0.1", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return ln, nil
}

// serveHTTP serves streamable HTTP at /mcp, SSE at /sse, the REST gateway
// at /v1 and GET /health on ln until ctx ends, over the node open returns.
// The listener comes first: opening the data can take seconds (big vector
// indexes, a long trace memory), and meanwhile /health answers that mcpd
// is loading while every other request waits for the data (see loading).
func serveHTTP(ctx context.Context, cfg Config, ln net.Listener, open func() (*node, error)) (err error) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	load := newLoading()
	srv := httpServer(cfg.Server, load)
	fmt.Fprintf(os.Stderr, "mcpd listening on http://%s: streamable HTTP at /mcp, SSE at /sse, REST at /v1 (GET /v1/openapi.json), health at /health\n", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// Serve returns as soon as Shutdown begins; the data must stay open
	// until Shutdown has let the requests in flight finish.
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()

	n, err := open()
	if err == nil {
		defer n.Close()
		var server *mcp.Server
		var release func() error
		if server, release, err = n.mcpServer(ctx, cfg, stop); err == nil {
			defer func() {
				if failed := release(); failed != nil && err == nil {
					err = failed
				}
			}()
			var handler http.Handler
			if handler, err = httpHandler(cfg, server, n.gatewayHandler(cfg), n.health); err == nil {
				load.ready(handler)
			}
		}
	}
	if err != nil {
		load.fail(err)
		stop()
		<-served
		<-drained
		return err
	}
	err = <-served
	stop()
	<-drained // before the deferred closes of the server and the data
	if !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// loading is the handler of the HTTP server while its data opens: GET
// /health answers 503 with status "loading" at once, and other requests
// wait until the data is open (then the real handler serves them) or their
// client gives up. Waiting rather than refusing keeps a client that
// connects at start-up working, with no retry logic of its own.
type loading struct {
	since time.Time
	done  chan struct{} // closed once h or err is set
	h     http.Handler
	err   error
}

func newLoading() *loading { return &loading{since: time.Now(), done: make(chan struct{})} }

// ready serves every request with h from now on.
func (l *loading) ready(h http.Handler) { l.h = h; close(l.done) }

// fail answers every request with err from now on.
func (l *loading) fail(err error) { l.err = err; close(l.done) }

func (l *loading) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case <-l.done:
	default:
		if r.Method == http.MethodGet && r.URL.Path == "/health" {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]any{"status": "loading", "service": "mcpd", "version": version, "loading_ms": time.Since(l.since).Milliseconds()})
			return
		}
		select {
		case <-l.done:
		case <-r.Context().Done():
			return
		}
	}
	if l.h == nil {
		http.Error(w, "mcpd could not open its data: "+l.err.Error(), http.StatusServiceUnavailable)
		return
	}
	l.h.ServeHTTP(w, r)
}

// httpHandler serves server at /mcp and /sse with the tools of
// mcp.toolsets, each of those toolsets alone at /mcp/{toolset}, and v1 (the REST gateway;
// nil when it is off) at /v1/, behind the guards of cfg.Server, and GET
// /health, which reports the checks and feeds of health (nil for none). It adds to
// server the receiving middleware that tells SSE sessions apart from idle
// ones (see sessionLimit.sse).
func httpHandler(cfg Config, server *mcp.Server, v1 http.Handler, health func(context.Context) healthReport) (http.Handler, error) {
	sc := cfg.Server
	origins, err := newOriginGuard(sc.AllowedOrigins)
	if err != nil {
		return nil, err
	}
	authn, err := newAuthenticator(cfg)
	if err != nil {
		return nil, err
	}
	getServer := func(*http.Request) *mcp.Server { return server }
	body := int64(maxLine(cfg))
	idle := millis(sc.SessionIdleTimeoutMS)
	sessions := &sessionLimit{max: sc.MaxSessions, ids: map[string]bool{}}

	// streamable serves the tools of toolsets. Each path has handlers of
	// its own, so a session opened at /mcp/sql is not known at /mcp; the
	// session limit is shared.
	streamable := func(toolsets []string) http.Handler {
		var h http.Handler = mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
			Stateless: sc.Stateless, MaxRequestBodyBytes: body, SessionTimeout: idle})
		if !sc.Stateless {
			stateless := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{Stateless: true, MaxRequestBodyBytes: body})
			h = byRevision(stateless, sessions.streamable(server, h))
		}
		return withToolsets(toolsets, h)
	}
	server.AddReceivingMiddleware(tools.ToolsetFilter, noteActivity)
	sse := withToolsets(cfg.MCP.Toolsets, sessions.sse(idle, mcp.NewSSEHandler(getServer, &mcp.SSEOptions{MaxRequestBodyBytes: body})))

	guard := func(h http.Handler) http.Handler {
		return requireHost(sc.AllowedHosts, origins.wrap(authn.wrap(h)))
	}
	mux := http.NewServeMux()
	authn.routes(mux)
	mux.Handle("/mcp", guard(streamable(cfg.MCP.Toolsets)))
	for _, set := range cfg.MCP.Toolsets {
		mux.Handle("/mcp/"+set, guard(streamable([]string{set})))
	}
	mux.Handle("/sse", guard(sse))
	if v1 != nil {
		mux.Handle("/v1/", guard(v1))
	}
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		// A service that does not answer leaves the node "degraded", not
		// down: it serves what needs it not, and recovers by itself.
		body := map[string]any{"status": "ok", "service": "mcpd", "version": version}
		if health != nil {
			report := health(r.Context())
			for _, status := range report.Checks {
				if status != "ok" {
					body["status"] = "degraded"
				}
			}
			if len(report.Checks) > 0 {
				body["checks"] = report.Checks
			}
			if report.Cache != nil {
				body["cache"] = report.Cache
			}
			if len(report.Feeds) > 0 {
				body["feeds"] = report.Feeds
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(body)
	})
	return mux, nil
}

// withToolsets serves h requests whose MCP sessions see only the tools of
// toolsets (see tools.ToolsetFilter).
func withToolsets(toolsets []string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(tools.WithToolsets(r.Context(), toolsets)))
	})
}

// statelessRevision is the first revision of the protocol without
// sessions: its requests say so in MCP-Protocol-Version from the first one
// (server/discover) on.
const statelessRevision = "2026-07-28"

// byRevision serves the requests of clients of the stateless revisions of
// the protocol (2026-07-28 and later) with stateless, which go-sdk's
// stateful handler refuses, and every other request with stateful: so one
// /mcp serves both eras of clients over the same tools.
func byRevision(stateless, stateful http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("Mcp-Protocol-Version"); v >= statelessRevision {
			stateless.ServeHTTP(w, r)
			return
		}
		stateful.ServeHTTP(w, r)
	})
}

// httpServer serves h with the time limits of sc: read_timeout_ms for a
// whole request, headers included, and keepalive_timeout_ms for an idle
// connection.
func httpServer(sc ServerConfig, h http.Handler) *http.Server {
	read := millis(sc.ReadTimeoutMS)
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(10*time.Second, read),
		ReadTimeout:       read,
		IdleTimeout:       millis(sc.KeepAliveTimeoutMS),
	}
}

// millis is n milliseconds, as the config's *_ms keys give durations.
func millis(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// requireHost refuses a request whose Host header, without its port, is not
// one of hosts; with no hosts it lets every request through.
func requireHost(hosts []string, h http.Handler) http.Handler {
	if len(hosts) == 0 {
		return h
	}
	allowed := make(map[string]bool, len(hosts))
	for _, name := range hosts {
		allowed[strings.ToLower(name)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.Host
		if n, _, err := net.SplitHostPort(name); err == nil {
			name = n
		}
		if !allowed[strings.ToLower(strings.Trim(name, "[]"))] {
			http.Error(w, fmt.Sprintf("Host %q is not in server.allowed_hosts (LAKEHOUSE_SERVER_ALLOWED_HOSTS)", r.Host), http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// An originGuard refuses cross-origin browser requests, except from the
// origins it lists, which it answers with CORS headers.
type originGuard struct {
	check  *http.CrossOriginProtection // Sec-Fetch-Site, else Origin against Host
	listed map[string]bool
}

// newOriginGuard trusts origins besides the server's own; an origin that is
// not scheme://host[:port] is an error naming it.
func newOriginGuard(origins []string) (*originGuard, error) {
	g := &originGuard{check: http.NewCrossOriginProtection(), listed: map[string]bool{}}
	for _, o := range origins {
		if err := g.check.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
		g.listed[o] = true
	}
	return g, nil
}

// corsHeaders are the request headers an MCP client in a browser sends.
const corsHeaders = "Authorization, Content-Type, Last-Event-ID, Mcp-Protocol-Version, Mcp-Session-Id"

// wrap serves h the requests that pass the guard, answering the CORS
// preflights of listed origins itself.
func (g *originGuard) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// CrossOriginProtection waves GET, HEAD and OPTIONS through as
		// requests that change nothing, but a GET to /sse opens a session and
		// the MCP spec asks for the Origin of every connection to be checked:
		// so each request is checked as if it were a POST.
		probe := r.WithContext(r.Context())
		probe.Method = http.MethodPost
		if err := g.check.Check(probe); err != nil {
			origin := cmp.Or(r.Header.Get("Origin"), "another site")
			http.Error(w, fmt.Sprintf("cross-origin request from %s refused: list the origin in server.allowed_origins (LAKEHOUSE_SERVER_ALLOWED_ORIGINS) to allow it", origin), http.StatusForbidden)
			return
		}
		if origin := r.Header.Get("Origin"); g.listed[origin] {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Add("Vary", "Origin")
			w.Header().Set("Access-Control-Expose-Headers", "Mcp-Session-Id, WWW-Authenticate")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				// A preflight carries no token: answer it here.
				w.Header().Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
				w.Header().Set("Access-Control-Allow-Headers", corsHeaders)
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// sessionRetryAfter is the Retry-After of a refused session: places free up
// as clients end sessions or leave them idle, at no time one can predict.
const sessionRetryAfter = 60 * time.Second

// A sessionLimit bounds the sessions open at once over /mcp and /sse.
type sessionLimit struct {
	max int

	mu   sync.Mutex
	open int             // sessions open or being opened
	ids  map[string]bool // open streamable sessions, by Mcp-Session-Id
}

// acquire takes a place for a new session, if one is left.
func (l *sessionLimit) acquire() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.max {
		return false
	}
	l.open++
	return true
}

func (l *sessionLimit) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
}

// drop frees the place of streamable session id, if it holds one.
func (l *sessionLimit) drop(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ids[id] {
		delete(l.ids, id)
		l.open--
	}
}

// refuse answers a request for a session beyond the limit.
func (l *sessionLimit) refuse(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(sessionRetryAfter/time.Second)))
	http.Error(w, fmt.Sprintf("mcpd has %d sessions open, its limit (server.max_sessions): retry later, and end sessions you no longer use (DELETE /mcp)", l.max), http.StatusServiceUnavailable)
}

// streamable limits the sessions of a stateful streamable handler h. A POST
// without Mcp-Session-Id takes a place, which a session it opens keeps until
// it ends: by DELETE, by idle timeout or because the server closed it.
func (l *sessionLimit) streamable(server *mcp.Server, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("Mcp-Session-Id")
		if r.Method != http.MethodPost || id != "" {
			h.ServeHTTP(w, r)
			if r.Method == http.MethodDelete {
				l.drop(id) // now, so that a client can open a new session at once
			}
			return
		}
		if !l.acquire() {
			l.refuse(w)
			return
		}
		// Only an initialize opens a session, and only its answer carries
		// Mcp-Session-Id. Any other answer frees the place as it starts: the
		// client may send its next request (as an initialize follows a
		// server/discover probe) before this handler returns.
		var freed atomic.Bool
		h.ServeHTTP(&responseStart{ResponseWriter: w, start: func() {
			if w.Header().Get("Mcp-Session-Id") == "" {
				freed.Store(true)
				l.release()
			}
		}}, r)
		if !freed.Load() {
			l.hold(server, w.Header().Get("Mcp-Session-Id"))
		}
	})
}

// responseStart calls start once, just before the response's header is
// written.
type responseStart struct {
	http.ResponseWriter
	start func()
	once  sync.Once
}

func (w *responseStart) WriteHeader(code int) {
	w.once.Do(w.start)
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseStart) Write(b []byte) (int, error) {
	w.once.Do(w.start)
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController, which the SDK flushes through,
// reach the connection's writer.
func (w *responseStart) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// hold gives the place taken for a new streamable session to session id
// until it ends; if the initialize failed, and the SDK closed the session,
// it frees the place now.
func (l *sessionLimit) hold(server *mcp.Server, id string) {
	var ss *mcp.ServerSession
	for s := range server.Sessions() {
		if id != "" && s.ID() == id && s.InitializeParams() != nil {
			ss = s
			break
		}
	}
	if ss == nil {
		l.release()
		return
	}
	l.mu.Lock()
	l.ids[id] = true
	l.mu.Unlock()
	go func() {
		ss.Wait()
		l.drop(id)
	}()
}

// sse limits the sessions of SSE handler h and ends those idle for idle. An
// SSE session lives as long as its GET; its messages arrive in POSTs that
// return at once, so whether it is idle is told by noteActivity, which sees
// each message handled on the session and how long the handling takes.
func (l *sessionLimit) sse(idle time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			h.ServeHTTP(w, r)
			return
		}
		if !l.acquire() {
			l.refuse(w)
			return
		}
		defer l.release()
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		a := &activity{idle: idle, timer: time.AfterFunc(idle, cancel)}
		defer a.stop()
		// The SDK connects the session with the GET's context, whose values
		// reach every handler of the session's messages.
		h.ServeHTTP(w, r.WithContext(context.WithValue(ctx, activityKey{}, a)))
	})
}

// activity is an SSE session's idle clock: it runs while no message of the
// session is being handled, and ends the session when it reaches idle.
type activity struct {
	idle time.Duration

	mu    sync.Mutex
	busy  int         // messages being handled
	timer *time.Timer // nil once the session has ended
}

type activityKey struct{}

func (a *activity) begin() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.busy == 0 && a.timer != nil {
		a.timer.Stop()
	}
	a.busy++
}

func (a *activity) end() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.busy--; a.busy == 0 && a.timer != nil {
		a.timer.Reset(a.idle)
	}
}

func (a *activity) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.timer.Stop()
	a.timer = nil
}

// noteActivity is the receiving middleware that keeps the idle clock of the
// SSE session a message came on; messages of other sessions pass untouched.
func noteActivity(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if a, ok := ctx.Value(activityKey{}).(*activity); ok {
			a.begin()
			defer a.end()
		}
		return next(ctx, method, req)
	}
}
