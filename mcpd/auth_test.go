package main

// These tests drive auth.go through real HTTP on a loopback listener, with
// real MCP client sessions (streamable HTTP and SSE) and the REST gateway,
// and, for OAuth, JWTs signed with keys the test generates and publishes
// from an authorization server of its own (httptest) that counts how often
// its JWKS is fetched.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"lakehouse/tools"
)

// serveAll serves the real tools over /mcp, /sse and /v1 with cfg on a
// loopback port and returns the base URL.
func serveAll(t *testing.T, cfg Config) string {
	t.Helper()
	base, e := serveEngines(t, cfg)
	t.Cleanup(func() { e.Close() })
	return base
}

// serveEngines is serveAll, leaving the engines to the caller to close.
func serveEngines(t *testing.T, cfg Config) (string, *engines) {
	t.Helper()
	e, err := openEngines(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{engines: e}
	h, err := httpHandler(cfg, newServer(e.backends, cfg.MCP.fences(true)), n.gatewayHandler(cfg), n.health)
	if err != nil {
		e.Close()
		t.Fatal(err)
	}
	return listenHTTP(t, cfg, h), e
}

// bearer is the Authorization header of token; none for "".
func bearer(token string) http.Header {
	if token == "" {
		return http.Header{}
	}
	return http.Header{"Authorization": {"Bearer " + token}}
}

// send sends method url with header and a JSON body, and returns the response
// with its body read.
func send(t *testing.T, method, url string, header http.Header, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// toolNames lists the tools cs sees, sorted.
func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	var names []string
	for tool, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

// restToolNames lists the tools GET /v1/tools shows to token, sorted.
func restToolNames(t *testing.T, base, token string) []string {
	t.Helper()
	resp, body := send(t, "GET", base+"/v1/tools", bearer(token), "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/tools: %s %s", resp.Status, body)
	}
	var list struct{ Tools []struct{ Name string } }
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

// allNames and readNames are the tool table's names, and those of its
// read-only tools, sorted.
func allNames() []string {
	var names []string
	for _, tool := range tools.All(nil) {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

func readNames() []string {
	var names []string
	for _, tool := range tools.All(nil) {
		if tool.ReadOnly() {
			names = append(names, tool.Name)
		}
	}
	slices.Sort(names)
	return names
}

// putObject is the arguments of a put_object call, the write tool the
// tests try.
const putObject = `{"key":"notes/a.txt","content":"hello"}`

// checkScope checks what a caller with token may do, over every transport
// and the gateway: with write, every tool; with read, the read-only tools
// only, and a call of put_object fails (a tool error over MCP, 403 over /v1).
func checkScope(t *testing.T, base, token string, write bool) {
	t.Helper()
	want := readNames()
	if write {
		want = allNames()
	}
	for _, tr := range transports {
		cs, err := dial(tr.new(base, headerClient{header: bearer(token)}.client()), nil)
		if err != nil {
			t.Fatalf("%s: connect: %v", tr.name, err)
		}
		if got := toolNames(t, cs); !slices.Equal(got, want) {
			t.Errorf("%s: tools/list = %v, want %v", tr.name, got, want)
		}
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "put_object", Arguments: json.RawMessage(putObject)})
		switch {
		case err != nil:
			t.Errorf("%s: put_object: %v", tr.name, err)
		case res.IsError == write:
			t.Errorf("%s: put_object: isError %v, want %v: %v", tr.name, res.IsError, !write, res.Content)
		case !write && !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "may only read"):
			t.Errorf("%s: put_object refused with %q, want it to say why", tr.name, res.Content[0].(*mcp.TextContent).Text)
		}
		if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "list_objects", Arguments: map[string]any{}}); err != nil {
			t.Errorf("%s: list_objects: %v", tr.name, err)
		}
		cs.Close()
	}
	if got := restToolNames(t, base, token); !slices.Equal(got, want) {
		t.Errorf("GET /v1/tools = %v, want %v", got, want)
	}
	resp, body := send(t, "POST", base+"/v1/tools/put_object", bearer(token), putObject)
	if wantStatus := map[bool]int{true: http.StatusOK, false: http.StatusForbidden}[write]; resp.StatusCode != wantStatus {
		t.Errorf("POST /v1/tools/put_object: %s %s, want %d", resp.Status, body, wantStatus)
	}
	if resp, body := send(t, "POST", base+"/v1/tools/list_objects", bearer(token), "{}"); resp.StatusCode != http.StatusOK {
		t.Errorf("POST /v1/tools/list_objects: %s %s", resp.Status, body)
	}
	// The streamed routes are the same tools, behind the same Permit.
	resp, body = send(t, "PUT", base+"/v1/storage/put/notes/b.txt", bearer(token), "raw bytes")
	if wantStatus := map[bool]int{true: http.StatusOK, false: http.StatusForbidden}[write]; resp.StatusCode != wantStatus {
		t.Errorf("PUT /v1/storage/put/notes/b.txt: %s %s, want %d", resp.Status, body, wantStatus)
	}
}

// TestAuth_NoneConfigured: with no token, every request is let in with
// write scope (loopback only, see TestHTTPRefusesOpenBindWithoutToken).
func TestAuth_NoneConfigured(t *testing.T) {
	base := serveAll(t, httpConfig(t))
	checkScope(t, base, "", true)
	if resp, _ := send(t, "GET", base+"/.well-known/oauth-protected-resource", nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("resource metadata without OAuth: %s, want 404", resp.Status)
	}
}

// TestAuth_StaticTokens: tokens from [[auth.tokens]] (two of scope write,
// for rotation, and one of scope read, each read from its variable) and
// server.auth_token, loaded as mcpd loads them.
func TestAuth_StaticTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lakehouse.toml")
	os.WriteFile(path, []byte(`[server]
auth_token = "legacy-token"
[[auth.tokens]]
env = "TOKEN_NEW"
scope = "write"
[[auth.tokens]]
env = "TOKEN_OLD"
scope = "write"
[[auth.tokens]]
env = "TOKEN_READ"
scope = "read"
`), 0o644)
	cfg, err := loadConfig(path, envOf(map[string]string{
		"LAKEHOUSE_DATA": t.TempDir(), "TOKEN_NEW": "new-token", "TOKEN_OLD": "old-token", "TOKEN_READ": "read-token",
		"LAKEHOUSE_AUTH_TOKENS": "ignored: lists of tables have no variable",
	}))
	if err != nil {
		t.Fatal(err)
	}
	base := serveAll(t, cfg)

	for _, c := range []struct{ name, token string }{{"missing", ""}, {"wrong", "nope"}, {"a token's variable name", "TOKEN_NEW"}} {
		for _, url := range []string{base + "/mcp", base + "/v1/tools/list_objects"} {
			resp, body := post(t, url, initializeBody, bearer(c.token))
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Bearer realm="mcpd"` {
				t.Errorf("%s token, POST %s: %s %q %s, want 401 with a Bearer challenge", c.name, url, resp.Status, resp.Header.Get("WWW-Authenticate"), body)
			}
		}
	}
	for _, token := range []string{"new-token", "old-token", "legacy-token"} {
		t.Run(token, func(t *testing.T) { checkScope(t, base, token, true) })
	}
	t.Run("read-token", func(t *testing.T) { checkScope(t, base, "read-token", false) })

	// A read token cannot use a session a write token opened: the SDK
	// binds the session to its opener's TokenInfo.UserID.
	resp, _ := post(t, base+"/mcp", initializeBody, bearer("new-token"))
	id := resp.Header.Get("Mcp-Session-Id")
	if id == "" {
		t.Fatalf("initialize with a write token: %s, no session", resp.Status)
	}
	h := bearer("read-token")
	h.Set("Mcp-Session-Id", id)
	if status := pingStatus(base+"/mcp", h); status != http.StatusForbidden {
		t.Errorf("read token on a write session: %d, want 403", status)
	}
	h = bearer("old-token") // rotation mid-session: the same caller
	h.Set("Mcp-Session-Id", id)
	if status := pingStatus(base+"/mcp", h); status != http.StatusOK && status != http.StatusAccepted {
		t.Errorf("another write token on a write session: %d, want it served", status)
	}

	if resp, body := send(t, "GET", base+"/health", nil, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /health without a token: %s %s", resp.Status, body)
	}
}

// TestAuth_AllowedIPs: a caller outside auth.allowed_ips gets 403, before
// and whatever its token; /health stays open.
func TestAuth_AllowedIPs(t *testing.T) {
	for _, c := range []struct {
		allowed []string
		want    int
	}{
		{[]string{"10.0.0.0/8", "fd00::/8"}, http.StatusForbidden},
		{[]string{"10.0.0.0/8", "127.0.0.1"}, http.StatusOK},
		{[]string{"127.0.0.0/8"}, http.StatusOK},
	} {
		cfg := httpConfig(t)
		cfg.Auth.AllowedIPs = c.allowed
		cfg.Server.AuthToken = "s3cret"
		base := serveAll(t, cfg)
		resp, body := post(t, base+"/mcp", initializeBody, bearer("s3cret"))
		if resp.StatusCode != c.want || (c.want == http.StatusForbidden && !strings.Contains(body, "auth.allowed_ips")) {
			t.Errorf("allowed_ips %v: POST /mcp: %s %s, want %d", c.allowed, resp.Status, body, c.want)
		}
		if resp, body := send(t, "GET", base+"/v1/tools", bearer("s3cret"), ""); resp.StatusCode != c.want {
			t.Errorf("allowed_ips %v: GET /v1/tools: %s %s, want %d", c.allowed, resp.Status, body, c.want)
		}
		if resp, _ := send(t, "GET", base+"/health", nil, ""); resp.StatusCode != http.StatusOK {
			t.Errorf("allowed_ips %v: GET /health: %s", c.allowed, resp.Status)
		}
	}
}

// TestAuth_ReadOnly: auth.read_only (--read-only) removes the tools that
// change data, even for a write token: from tools/list and tools/call, with
// sessions and without, and from the gateway, where they are no tool at all.
func TestAuth_ReadOnly(t *testing.T) {
	for _, stateless := range []bool{false, true} {
		cfg := httpConfig(t)
		cfg.Auth.ReadOnly = true
		cfg.Server.Stateless = stateless
		cfg.Server.AuthToken = "write-token"
		base := serveAll(t, cfg)
		cs, err := dial(&mcp.StreamableClientTransport{Endpoint: base + "/mcp", HTTPClient: headerClient{header: bearer("write-token")}.client()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := toolNames(t, cs); !slices.Equal(got, readNames()) {
			t.Errorf("stateless %v: tools/list = %v, want %v", stateless, got, readNames())
		}
		if res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "put_object", Arguments: json.RawMessage(putObject)}); err != nil || !res.IsError {
			t.Errorf("stateless %v: put_object: %v %+v, want a tool error", stateless, err, res)
		}
		cs.Close()
		if got := restToolNames(t, base, "write-token"); !slices.Equal(got, readNames()) {
			t.Errorf("GET /v1/tools = %v, want %v", got, readNames())
		}
		if resp, body := send(t, "POST", base+"/v1/tools/put_object", bearer("write-token"), putObject); resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST /v1/tools/put_object: %s %s, want 404", resp.Status, body)
		}
	}
}

// TestAuth_ReadOnlyFlag: --read-only on the command line, over stdio, over
// HTTP and /v1, and on a guest, which filters the owner's tools by their
// annotations.
func TestAuth_ReadOnlyFlag(t *testing.T) {
	dir := t.TempDir()
	cmd := command(t, dir, "--read-only")
	cmd.Stderr = testLog{t}
	stdio, err := mcp.NewClient(&mcp.Implementation{Name: "test"}, nil).Connect(context.Background(), &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdio.Close() })
	if got := toolNames(t, stdio); !slices.Equal(got, readNames()) {
		t.Errorf("stdio --read-only: tools/list = %v, want %v", got, readNames())
	}
	if res, err := stdio.CallTool(context.Background(), &mcp.CallToolParams{Name: "put_object", Arguments: json.RawMessage(putObject)}); err != nil || !res.IsError {
		t.Errorf("stdio --read-only: put_object: %v %+v, want a tool error", err, res)
	}

	// This process owns dir; the next is its guest.
	base := startHTTP(t, dir, "--read-only")
	cs, err := dial(&mcp.StreamableClientTransport{Endpoint: base + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if got := toolNames(t, cs); !slices.Equal(got, readNames()) {
		t.Errorf("guest --read-only: tools/list = %v, want %v", got, readNames())
	}
	if res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "put_object", Arguments: json.RawMessage(putObject)}); err != nil || !res.IsError {
		t.Errorf("guest --read-only: put_object: %v %+v, want a tool error", err, res)
	}

	if out, err := command(t, dir, "--read-only", "call", "put_object", putObject).CombinedOutput(); err == nil || !strings.Contains(string(out), `--read-only (auth.read_only): tool "put_object" changes data`) {
		t.Errorf("mcpd --read-only call put_object: %v %s", err, out)
	}
	if out, err := command(t, dir, "--read-only", "call", "list_objects").CombinedOutput(); err != nil {
		t.Errorf("mcpd --read-only call list_objects: %v %s", err, out)
	}

	owner := startHTTP(t, t.TempDir(), "--read-only")
	if got := restToolNames(t, owner, ""); !slices.Equal(got, readNames()) {
		t.Errorf("--read-only: GET /v1/tools = %v, want %v", got, readNames())
	}
}

// An idp is an authorization server of the test's: its metadata names its
// JWKS, which holds the keys the test publishes, and counts its fetches.
type idp struct {
	srv     *httptest.Server
	fetches atomic.Int32

	mu   sync.Mutex
	keys jose.JSONWebKeySet
}

func newIDP(t *testing.T) *idp {
	p := &idp{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"issuer": p.srv.URL, "jwks_uri": p.srv.URL + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(p.keys)
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

// publish adds key to the JWKS as kid.
func (p *idp) publish(kid string, key crypto.PublicKey, alg jose.SignatureAlgorithm) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys.Keys = append(p.keys.Keys, jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: string(alg), Use: "sig"})
}

// sign is a JWT of claims signed with key by alg, naming kid.
func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	token, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// unsigned is a JWT with alg "none".
func unsigned(kid string, claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "none", "typ": "JWT", "kid": kid}) + "." + enc(claims) + "."
}

// TestAuth_OAuth: JWT access tokens of the configured issuer, their keys
// discovered through its metadata and cached; the protected resource
// metadata and the challenge that points to it.
func TestAuth_OAuth(t *testing.T) {
	p := newIDP(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.publish("rsa-1", rsaKey.Public(), jose.RS256)
	p.publish("ec-1", ecKey.Public(), jose.ES256)

	const resource = "https://lake.example/mcp"
	cfg := httpConfig(t)
	cfg.Auth.OAuth.Issuer = p.srv.URL
	cfg.Auth.OAuth.Resource = resource
	cfg.Server.AuthToken = "static-token" // beside OAuth, static tokens still work
	base := serveAll(t, cfg)

	now := time.Now()
	claims := func(change map[string]any) map[string]any {
		c := map[string]any{"iss": p.srv.URL, "aud": resource, "sub": "alice", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "scope": "openid lakehouse:write"}
		for k, v := range change {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	write := sign(t, jose.RS256, rsaKey, "rsa-1", claims(nil))
	read := sign(t, jose.ES256, ecKey, "ec-1", claims(map[string]any{"scope": nil, "scp": []string{"lakehouse:read"}}))

	t.Run("write scope", func(t *testing.T) { checkScope(t, base, write, true) })
	t.Run("read scope", func(t *testing.T) { checkScope(t, base, read, false) })
	t.Run("static token", func(t *testing.T) { checkScope(t, base, "static-token", true) })

	hmacKey := make([]byte, 32)
	rand.Read(hmacKey)
	for _, c := range []struct {
		name  string
		token string
		want  int
	}{
		{"expired within the leeway", sign(t, jose.RS256, rsaKey, "rsa-1", claims(map[string]any{"exp": now.Add(-10 * time.Second).Unix()})), http.StatusOK},
		{"aud as a list", sign(t, jose.RS256, rsaKey, "rsa-1", claims(map[string]any{"aud": []string{"other", resource}})), http.StatusOK},
		{"expired", sign(t, jose.RS256, rsaKey, "rsa-1", claims(map[string]any{"exp": now.Add(-5 * time.Minute).Unix()})), http.StatusUnauthorized},
		{"not yet valid", sign(t, jose.RS256, rsaKey, "rsa-1", claims(map[string]any{"nbf": now.Add(5 * time.Minute).Unix()})), http.StatusUnauthorized},
		{"no exp", sign(t, jose.RS256, rsaKey, "rsa-1", claims(map[string]any{"exp": nil})), http.StatusUnauthorized},
		{"wrong audience", sign(t, jose.RS256, rsaKey, "rsa-1", claims(map[string]any{"aud": "https://other.example/mcp"})), http.StatusUnauthorized},
		{"wrong issuer", sign(t, jose.RS256, rsaKey, "rsa-1", claims(map[string]any{"iss": "https://evil.example"})), http.StatusUnauthorized},
		{"alg none", unsigned("rsa-1", claims(nil)), http.StatusUnauthorized},
		{"HS256", sign(t, jose.HS256, hmacKey, "rsa-1", claims(nil)), http.StatusUnauthorized},
		{"signed by another key under a known kid", sign(t, jose.ES256, stranger, "ec-1", claims(nil)), http.StatusUnauthorized},
		{"RS256 kid of an ES256 key", sign(t, jose.RS256, rsaKey, "ec-1", claims(nil)), http.StatusUnauthorized},
		{"no scope of ours", sign(t, jose.RS256, rsaKey, "rsa-1", claims(map[string]any{"scope": "openid profile"})), http.StatusForbidden},
		{"unknown kid", sign(t, jose.ES256, stranger, "made-up", claims(nil)), http.StatusUnauthorized},
		{"garbage", "a.b.c", http.StatusUnauthorized},
	} {
		resp, body := post(t, base+"/mcp", initializeBody, bearer(c.token))
		if resp.StatusCode != c.want {
			t.Errorf("%s: %s %s, want %d", c.name, resp.Status, body, c.want)
		}
		if c.want == http.StatusForbidden && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
			t.Errorf("%s: WWW-Authenticate %q, want insufficient_scope", c.name, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if n := p.fetches.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1: cached for known key ids, and not again for an unknown one within a minute", n)
	}

	// A 401 points to the metadata (RFC 9728 §5.1), which is served without
	// a token at the path derived from the resource, and at the root.
	const metadataURL = "https://lake.example/.well-known/oauth-protected-resource/mcp"
	for _, token := range []string{"", "wrong"} {
		resp, _ := post(t, base+"/mcp", initializeBody, bearer(token))
		challenges, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
		if resp.StatusCode != http.StatusUnauthorized || err != nil || len(challenges) != 1 ||
			challenges[0].Scheme != "bearer" || challenges[0].Params["resource_metadata"] != metadataURL {
			t.Errorf("token %q: %s, WWW-Authenticate %q (%v), want 401 with Bearer resource_metadata=%q", token, resp.Status, resp.Header.Values("WWW-Authenticate"), err, metadataURL)
		}
	}
	for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"} {
		resp, body := send(t, "GET", base+path, nil, "")
		var meta oauthex.ProtectedResourceMetadata
		json.Unmarshal([]byte(body), &meta)
		if resp.StatusCode != http.StatusOK || meta.Resource != resource || !slices.Equal(meta.AuthorizationServers, []string{p.srv.URL}) ||
			!slices.Equal(meta.ScopesSupported, []string{"lakehouse:read", "lakehouse:write"}) {
			t.Errorf("GET %s: %s %s", path, resp.Status, body)
		}
	}
}

// TestAuth_JWKSRefetch: a token under a key id the cached JWKS lacks
// fetches it again, at most once a minute, and the JWKS is fetched again
// after an hour in any case, so a rotated key is found and a removed one
// stops working. Time passes by moving the last fetch back.
func TestAuth_JWKSRefetch(t *testing.T) {
	p := newIDP(t)
	oldKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	newKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.publish("old", oldKey.Public(), jose.ES256)
	cfg := httpConfig(t)
	cfg.Auth.OAuth.Issuer = p.srv.URL
	cfg.Auth.OAuth.Resource = "https://lake.example"
	a, err := newAuthenticator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := a.wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	claims := map[string]any{"iss": p.srv.URL, "aud": "https://lake.example", "exp": time.Now().Add(time.Hour).Unix(), "scope": "lakehouse:read"}
	status := func(token string) int {
		req := httptest.NewRequest("POST", "/mcp", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	pass := func(d time.Duration) {
		a.oauth.keys.mu.Lock()
		a.oauth.keys.tried = a.oauth.keys.tried.Add(-d)
		a.oauth.keys.mu.Unlock()
	}
	oldToken, newToken := sign(t, jose.ES256, oldKey, "old", claims), sign(t, jose.ES256, newKey, "new", claims)
	steps := []struct {
		what    string
		before  func()
		token   string
		want    int
		fetches int32
	}{
		{"first token", nil, oldToken, http.StatusOK, 1},
		{"again: cached", nil, oldToken, http.StatusOK, 1},
		{"new key id within a minute: not fetched again", func() { p.publish("new", newKey.Public(), jose.ES256) }, newToken, http.StatusUnauthorized, 1},
		{"new key id a minute later: fetched, found", func() { pass(jwksMinInterval) }, newToken, http.StatusOK, 2},
		{"unknown key id: not fetched again", nil, sign(t, jose.ES256, newKey, "made-up", claims), http.StatusUnauthorized, 2},
		{"old key removed, an hour later: fetched, refused", func() {
			p.mu.Lock()
			p.keys.Keys = p.keys.Keys[1:]
			p.mu.Unlock()
			pass(jwksMaxAge)
		}, oldToken, http.StatusUnauthorized, 3},
		{"new key still good", nil, newToken, http.StatusOK, 3},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		if got := status(s.token); got != s.want {
			t.Errorf("%s: status %d, want %d", s.what, got, s.want)
		}
		if n := p.fetches.Load(); n != s.fetches {
			t.Errorf("%s: JWKS fetched %d times, want %d", s.what, n, s.fetches)
		}
	}
}

// TestAuth_JWKSURL: with auth.oauth.jwks_url set, the keys come from there
// and no metadata is asked for.
func TestAuth_JWKSURL(t *testing.T) {
	p := newIDP(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.publish("k", key.Public(), jose.ES256)
	cfg := httpConfig(t)
	cfg.Auth.OAuth.Issuer = "https://issuer.example" // no metadata there
	cfg.Auth.OAuth.JWKSURL = p.srv.URL + "/jwks"
	cfg.Auth.OAuth.Resource = "https://lake.example"
	cfg.Auth.OAuth.Audience = "lakehouse"
	base := serveAll(t, cfg)
	token := sign(t, jose.ES256, key, "k", map[string]any{
		"iss": "https://issuer.example", "aud": "lakehouse", "exp": time.Now().Add(time.Minute).Unix(), "scp": "lakehouse:write",
	})
	if resp, body := post(t, base+"/mcp", initializeBody, bearer(token)); resp.StatusCode != http.StatusOK {
		t.Errorf("token: %s %s", resp.Status, body)
	}
	// The resource has no path: the metadata is at the root only.
	resp, _ := post(t, base+"/mcp", initializeBody, nil)
	if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer resource_metadata="https://lake.example/.well-known/oauth-protected-resource"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
}

// TestAuth_ConfigErrors: mistakes in [auth] stop mcpd, naming the key.
func TestAuth_ConfigErrors(t *testing.T) {
	write := func(body string) string {
		p := filepath.Join(t.TempDir(), "lakehouse.toml")
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	env := map[string]string{"HOME": "/h"}
	for _, c := range []struct {
		path string
		env  map[string]string
		want string
	}{
		{write("[[auth.tokens]]\nenv = \"T\"\nscope = \"admin\"\n"), env, `auth.tokens[0].scope = "admin" (env T): want "read" or "write"`},
		{write("[[auth.tokens]]\nscope = \"read\"\n"), env, "auth.tokens[0].env is empty"},
		{write("[[auth.tokens]]\nenv = \"T\"\nscope = \"read\"\nvalue = \"s3cret\"\n"), env, "unknown key auth.tokens.value"},
		{write("[auth]\nallowed_ips = [\"10.0.0.0/33\"]\n"), env, `auth.allowed_ips: "10.0.0.0/33" is not a CIDR prefix`},
		{"", map[string]string{"HOME": "/h", "LAKEHOUSE_AUTH_ALLOWED_IPS": "10.0.0.0/8,office"}, `auth.allowed_ips: "office"`},
		{write("[auth.oauth]\nissuer = \"https://as.example\"\n"), env, `auth.oauth.resource = "": want this server's http(s) URL`},
		{write("[auth.oauth]\nissuer = \"http://as.example\"\nresource = \"https://lake.example\"\n"), env, `auth.oauth.issuer = "http://as.example": want an https URL (http only on a loopback address)`},
		{write("[auth.oauth]\nissuer = \"https://as.example\"\njwks_url = \"http://as.example/keys\"\nresource = \"https://lake.example\"\n"), env, `auth.oauth.jwks_url = "http://as.example/keys"`},
		{write("[auth.oauth]\nissuer = \"as.example\"\nresource = \"https://lake.example\"\n"), env, `auth.oauth.issuer = "as.example"`},
		{write("[auth.oauth]\nissuer = \"https://as.example\"\nresource = \"https://lake.example\"\nwrite_scopes = []\n"), env, "auth.oauth: read_scopes and write_scopes"},
	} {
		if _, err := loadConfig(c.path, envOf(c.env)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("loadConfig(%v): %v, want an error containing %q", c.env, err, c.want)
		}
	}

	// The variables of the list split on commas.
	cfg, err := loadConfig("", envOf(map[string]string{"HOME": "/h", "LAKEHOUSE_AUTH_ALLOWED_IPS": "10.0.0.0/8,::1", "LAKEHOUSE_AUTH_OAUTH_READ_SCOPES": "a:read,b"}))
	if err != nil || !slices.Equal(cfg.Auth.AllowedIPs, []string{"10.0.0.0/8", "::1"}) || !slices.Equal(cfg.Auth.OAuth.ReadScopes, []string{"a:read", "b"}) {
		t.Errorf("env lists: %v %+v", err, cfg.Auth)
	}

	// A token whose variable is unset stops HTTP from starting, naming it.
	cfg, err = loadConfig(write("[[auth.tokens]]\nenv = \"TOKEN_GONE\"\nscope = \"write\"\n"), envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := httpHandler(cfg, mcp.NewServer(&mcp.Implementation{Name: "test"}, nil), nil, nil); err == nil || !strings.Contains(err.Error(), "auth.tokens[0]: environment variable TOKEN_GONE") {
		t.Errorf("unset token variable: %v", err)
	}
}

// TestAuth_OpenBind: a non-loopback bind needs some token: an OAuth issuer
// or [[auth.tokens]] is enough.
func TestAuth_OpenBind(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "lakehouse.toml")
	os.WriteFile(config, []byte("[[auth.tokens]]\nenv = \"TOKEN_A\"\nscope = \"read\"\n"), 0o644)
	cmd := command(t, filepath.Join(dir, "data"), "--config", config, "--http", "0.0.0.0:0")
	cmd.Env = append(cmd.Env, "TOKEN_A=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "auth.tokens[0]: environment variable TOKEN_A") {
		t.Errorf("token variable unset: err=%v, output %s", err, out)
	}
	cmd = command(t, filepath.Join(dir, "data"), "--config", config, "--http", "0.0.0.0:0")
	cmd.Env = append(cmd.Env, "TOKEN_A=s3cret")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	base := strings.Replace(listenAddress(t, stderr), "0.0.0.0", "127.0.0.1", 1)
	base = strings.Replace(base, "[::]", "127.0.0.1", 1)
	if got := restToolNames(t, base, "s3cret"); !slices.Equal(got, readNames()) {
		t.Errorf("read token on an open bind: GET /v1/tools = %v", got)
	}
}
