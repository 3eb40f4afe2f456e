package main

// Authentication and authorisation of /mcp, /sse and /v1.
//
// An authenticator is the last guard of serveHTTP (after Host and Origin).
// A request passes it in two steps:
//
//   - Address: with auth.allowed_ips set, the connection's remote address
//     must fall in one of them, else 403. X-Forwarded-For is not read: a
//     client could write anything there.
//   - Token: with any token configured, "Authorization: Bearer <token>",
//     else 401 with WWW-Authenticate. The token is a static one
//     (auth.tokens, server.auth_token), compared in constant time, or an
//     OAuth 2.1 access token: a JWT signed by the issuer's key (RS256 or
//     ES256), for this server's audience, within its lifetime. go-sdk's
//     auth.RequireBearerToken does the HTTP part of that.
//
// The request then carries its caller's scope, read or write, in its
// context (scopeFrom). With no token configured every caller may write:
// serveHTTP allows that on loopback only. auth.read_only makes everyone a
// reader. What a scope allows is decided where the tools are: on an MCP
// server by scopeFilter, which keeps the tools that change data from a
// reader's tools/list and tools/call; on the gateway by permit.
//
// The SDK connects an MCP session with the context of the request that
// opens it (the streamable initialize, the SSE GET), so a session keeps the
// scope of its opener. A later streamable request must come from the same
// caller: the SDK compares TokenInfo.UserID, which for us names the scope,
// so a read token cannot use a session a write token opened.

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"lakehouse/tools"
	"lakehouse/tools/gateway"
)

// A scope is what a caller may do: nothing, call the read-only tools, or
// call every tool.
type scope int

const (
	scopeNone scope = iota
	scopeRead
	scopeWrite
)

func (s scope) String() string {
	return [...]string{"none", "read", "write"}[s]
}

type scopeKey struct{}

// withScope returns ctx carrying the caller's scope s.
func withScope(ctx context.Context, s scope) context.Context {
	return context.WithValue(ctx, scopeKey{}, s)
}

// scopeFrom returns the scope of the caller of ctx. A context no
// authenticator has seen, that of stdio, of a guest's unix socket or of
// `mcpd call`, is a local caller's, who may write.
func scopeFrom(ctx context.Context) scope {
	if s, ok := ctx.Value(scopeKey{}).(scope); ok {
		return s
	}
	return scopeWrite
}

// authConfigured reports whether cfg asks callers over HTTP for a token.
func authConfigured(cfg Config) bool {
	return cfg.Server.AuthToken != "" || len(cfg.Auth.Tokens) > 0 || cfg.Auth.OAuth.Issuer != ""
}

// Limits of token checking.
const (
	jwtLeeway       = 30 * time.Second // clock skew allowed on exp, nbf and iat
	jwksMinInterval = time.Minute      // at most one JWKS fetch a minute for unknown key ids
	jwksMaxAge      = time.Hour        // a JWKS older than this is fetched again, so a removed key stops working
	metadataPath    = "/.well-known/oauth-protected-resource"
)

// An authenticator checks a request's address and token and gives it its
// caller's scope.
type authenticator struct {
	allowed  []netip.Prefix // empty: any address
	tokens   []staticToken
	oauth    *oauthVerifier // nil without [auth.oauth]
	readOnly bool

	resourceMetadata *oauthex.ProtectedResourceMetadata // served at metadataPath; nil without OAuth
	metadataURL      string                             // where clients find it, for WWW-Authenticate
}

// A staticToken is the SHA-256 of a configured token, so that tokens of
// any length compare in constant time, and what it may do.
type staticToken struct {
	sum   [sha256.Size]byte
	scope scope
}

// newAuthenticator builds the authenticator of cfg. A token whose variable
// is unset or empty is an error naming the variable.
func newAuthenticator(cfg Config) (*authenticator, error) {
	ac := cfg.Auth
	a := &authenticator{readOnly: ac.ReadOnly}
	var err error
	if a.allowed, err = parsePrefixes(ac.AllowedIPs); err != nil {
		return nil, fmt.Errorf("auth.allowed_ips: %w", err)
	}
	if cfg.Server.AuthToken != "" {
		a.tokens = append(a.tokens, staticToken{sha256.Sum256([]byte(cfg.Server.AuthToken)), scopeWrite})
	}
	for i, t := range ac.Tokens {
		if t.secret == "" {
			return nil, fmt.Errorf("auth.tokens[%d]: environment variable %s (its env) is unset or empty: set it to the token, or remove the entry", i, t.Env)
		}
		s := scopeRead
		if t.Scope == "write" {
			s = scopeWrite
		}
		a.tokens = append(a.tokens, staticToken{sha256.Sum256([]byte(t.secret)), s})
	}
	if o := ac.OAuth; o.Issuer != "" {
		a.oauth = &oauthVerifier{
			issuer: o.Issuer, audience: cmp.Or(o.Audience, o.Resource),
			readScopes: o.ReadScopes, writeScopes: o.WriteScopes,
			keys: &keySet{url: o.JWKSURL, issuer: o.Issuer, client: &http.Client{Timeout: 10 * time.Second}},
		}
		a.resourceMetadata = &oauthex.ProtectedResourceMetadata{
			Resource:               o.Resource,
			AuthorizationServers:   []string{o.Issuer},
			ScopesSupported:        slices.Concat(o.ReadScopes, o.WriteScopes),
			BearerMethodsSupported: []string{"header"},
			ResourceName:           "Lakehouse MCP",
		}
		u, _ := url.Parse(o.Resource) // checked by validate
		a.metadataURL = u.Scheme + "://" + u.Host + metadataPath + strings.TrimSuffix(u.Path, "/")
	}
	return a, nil
}

// parsePrefixes parses CIDR prefixes; a bare address is a prefix of itself.
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not a CIDR prefix (10.0.0.0/8, fd00::/8) or an IP address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// wrap serves h the requests that pass, with their caller's scope.
func (a *authenticator) wrap(h http.Handler) http.Handler {
	var checked http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Del("WWW-Authenticate") // set for a refusal only (see below)
		s := scopeWrite
		if ti := auth.TokenInfoFromContext(r.Context()); ti != nil {
			s, _ = ti.Extra[scopeExtra].(scope)
		}
		if s == scopeNone {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer error=\"insufficient_scope\", scope=%q, resource_metadata=%q", strings.Join(a.oauth.readScopes, " "), a.metadataURL))
			http.Error(w, fmt.Sprintf("the access token has none of the scopes of auth.oauth.read_scopes %q or write_scopes %q", a.oauth.readScopes, a.oauth.writeScopes), http.StatusForbidden)
			return
		}
		if a.readOnly {
			s = min(s, scopeRead)
		}
		h.ServeHTTP(w, r.WithContext(withScope(r.Context(), s)))
	})
	if len(a.tokens) > 0 || a.oauth != nil {
		require := auth.RequireBearerToken(a.verify, &auth.RequireBearerTokenOptions{
			ResourceMetadataURL:    a.metadataURL,
			AllowMissingExpiration: true, // static tokens do not expire; a JWT must (see oauthVerifier)
			ClockSkew:              jwtLeeway,
		})(checked)
		checked = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// RequireBearerToken challenges only with resource metadata,
			// which static tokens lack; RFC 9110 §11.6.1 wants a challenge
			// with every 401.
			if a.metadataURL == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="mcpd"`)
			}
			require.ServeHTTP(w, r)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.allows(r.RemoteAddr) {
			http.Error(w, fmt.Sprintf("address %s is not in auth.allowed_ips (LAKEHOUSE_AUTH_ALLOWED_IPS)", r.RemoteAddr), http.StatusForbidden)
			return
		}
		checked.ServeHTTP(w, r)
	})
}

// allows reports whether remote, a connection's host:port, may call.
func (a *authenticator) allows(remote string) bool {
	if len(a.allowed) == 0 {
		return true
	}
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	return slices.ContainsFunc(a.allowed, func(p netip.Prefix) bool { return p.Contains(ip) })
}

// scopeExtra is the TokenInfo.Extra key of the caller's scope.
const scopeExtra = "lakehouse.scope"

// verify is the auth.TokenVerifier of a: a static token, else a JWT.
func (a *authenticator) verify(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
	sum := sha256.Sum256([]byte(token))
	s := scopeNone
	for _, t := range a.tokens { // every one, so the time taken says nothing of which matched
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			s = max(s, t.scope)
		}
	}
	if s != scopeNone {
		return &auth.TokenInfo{Scopes: []string{s.String()}, UserID: "token:" + s.String(), Extra: map[string]any{scopeExtra: s}}, nil
	}
	if a.oauth != nil && strings.Count(token, ".") == 2 {
		return a.oauth.verify(ctx, token)
	}
	return nil, fmt.Errorf("%w: the bearer token is none of auth.tokens or server.auth_token", auth.ErrInvalidToken)
}

// routes adds to mux what the authenticator serves itself: the protected
// resource metadata (RFC 9728 §3), without authentication, at the root
// well-known path and at the one of the resource's path, as clients try
// both.
func (a *authenticator) routes(mux *http.ServeMux) {
	if a.resourceMetadata == nil {
		return
	}
	h := auth.ProtectedResourceMetadataHandler(a.resourceMetadata)
	mux.Handle(metadataPath, h)
	if u, _ := url.Parse(a.metadataURL); u.Path != metadataPath {
		mux.Handle(u.Path, h)
	}
}

// An oauthVerifier checks JWT access tokens of one authorization server.
type oauthVerifier struct {
	issuer, audience        string
	readScopes, writeScopes []string
	keys                    *keySet
}

// allowedAlgs are the signatures accepted: asymmetric only. "none" and the
// HMACs, which would let anyone who knows a public key sign, are refused
// when the token is parsed.
var allowedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// verify checks a JWT's signature, issuer, audience and lifetime, and maps
// its scopes to a scope of ours.
func (o *oauthVerifier) verify(ctx context.Context, raw string) (*auth.TokenInfo, error) {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", auth.ErrInvalidToken, fmt.Sprintf(format, args...))
	}
	tok, err := jwt.ParseSigned(raw, allowedAlgs)
	if err != nil {
		return nil, invalid("not a JWT signed with RS256 or ES256 (%v)", err)
	}
	h := tok.Headers[0]
	key, err := o.keys.key(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	if (key.Algorithm != "" && key.Algorithm != h.Algorithm) || (key.Use != "" && key.Use != "sig") {
		return nil, invalid("key %q is not for %s signatures", h.KeyID, h.Algorithm)
	}
	var claims jwt.Claims
	var extra struct {
		Scope string          `json:"scope"`
		Scp   json.RawMessage `json:"scp"`
	}
	if err := tok.Claims(key.Key, &claims, &extra); err != nil {
		return nil, invalid("signature does not verify with key %q of the issuer", h.KeyID)
	}
	if claims.Expiry == nil {
		return nil, invalid("no exp claim")
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Issuer: o.issuer, AnyAudience: jwt.Audience{o.audience}}, jwtLeeway); err != nil {
		return nil, invalid("%v (want iss %q, aud %q)", err, o.issuer, o.audience)
	}
	scopes := strings.Fields(extra.Scope)
	var scp []string
	if json.Unmarshal(extra.Scp, &scp) == nil {
		scopes = append(scopes, scp...)
	} else if json.Unmarshal(extra.Scp, &extra.Scope) == nil { // some issuers send scp as a string
		scopes = append(scopes, strings.Fields(extra.Scope)...)
	}
	s := scopeNone
	switch {
	case slices.ContainsFunc(scopes, func(x string) bool { return slices.Contains(o.writeScopes, x) }):
		s = scopeWrite
	case slices.ContainsFunc(scopes, func(x string) bool { return slices.Contains(o.readScopes, x) }):
		s = scopeRead
	}
	return &auth.TokenInfo{
		Scopes: scopes, Expiration: claims.Expiry.Time(),
		UserID: "oauth:" + claims.Subject + ":" + s.String(),
		Extra:  map[string]any{scopeExtra: s},
	}, nil
}

// A keySet is the issuer's JWKS, fetched when first needed and kept; a key
// id it lacks fetches it again, at most once per jwksMinInterval, so that
// a rotated key is found and a flood of made-up ids costs one fetch.
type keySet struct {
	url    string // "" until discovered from the issuer's metadata
	issuer string
	client *http.Client

	mu    sync.Mutex
	set   jose.JSONWebKeySet
	tried time.Time // the last fetch, whether it worked or not
}

// key returns the key kid ("" when the set holds just one key).
func (k *keySet) key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, ok := k.find(kid)
	if (ok && time.Since(k.tried) < jwksMaxAge) || (!k.tried.IsZero() && time.Since(k.tried) < jwksMinInterval) {
		if !ok {
			return key, fmt.Errorf("%w: no key %q in the issuer's JWKS", auth.ErrInvalidToken, kid)
		}
		return key, nil
	}
	k.tried = time.Now()
	if err := k.fetch(ctx); err != nil {
		if ok {
			slog.Warn("refreshing the JWKS failed; keeping the keys fetched before", "err", err)
			return key, nil
		}
		return key, err // a fault of ours or the issuer's: 500
	}
	if key, ok = k.find(kid); !ok {
		return key, fmt.Errorf("%w: no key %q in the issuer's JWKS", auth.ErrInvalidToken, kid)
	}
	return key, nil
}

func (k *keySet) find(kid string) (jose.JSONWebKey, bool) {
	if kid == "" {
		if len(k.set.Keys) == 1 {
			return k.set.Keys[0], true
		}
		return jose.JSONWebKey{}, false
	}
	keys := k.set.Key(kid)
	if len(keys) == 0 {
		return jose.JSONWebKey{}, false
	}
	return keys[0], true
}

// fetch reads the JWKS, discovering its URL first if need be.
func (k *keySet) fetch(ctx context.Context) error {
	if k.url == "" {
		u, err := k.discover(ctx)
		if err != nil {
			return err
		}
		k.url = u
	}
	var set jose.JSONWebKeySet
	if err := k.getJSON(ctx, k.url, &set); err != nil {
		return fmt.Errorf("fetch the JWKS (auth.oauth.jwks_url): %w", err)
	}
	k.set = set
	return nil
}

// discover finds the jwks_uri in the issuer's metadata: RFC 8414's
// oauth-authorization-server document, else OpenID Connect's.
func (k *keySet) discover(ctx context.Context) (string, error) {
	u, err := url.Parse(k.issuer)
	if err != nil {
		return "", err
	}
	path := strings.TrimSuffix(u.Path, "/")
	root := u.Scheme + "://" + u.Host
	var tried []string
	for _, doc := range []string{root + "/.well-known/oauth-authorization-server" + path, root + path + "/.well-known/openid-configuration"} {
		var meta struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		err := k.getJSON(ctx, doc, &meta)
		switch {
		case err != nil:
			tried = append(tried, fmt.Sprintf("%s: %v", doc, err))
		case meta.Issuer != k.issuer: // RFC 8414 §3.3
			tried = append(tried, fmt.Sprintf("%s: issuer %q, not %q", doc, meta.Issuer, k.issuer))
		case meta.JWKSURI == "":
			tried = append(tried, doc+": no jwks_uri")
		default:
			return meta.JWKSURI, nil
		}
	}
	return "", fmt.Errorf("no JWKS found for issuer %s (set auth.oauth.jwks_url): %s", k.issuer, strings.Join(tried, "; "))
}

func (k *keySet) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// requireToken lets a request through only with "Authorization: Bearer
// token", the scheme in any case (RFC 9110 §11.1, RFC 6750 §2.1); an empty
// token lets everything through. It is the authenticator of a config whose
// one token is server.auth_token.
func requireToken(token string, h http.Handler) http.Handler {
	var cfg Config
	cfg.Server.AuthToken = token
	a, _ := newAuthenticator(cfg) // no list to parse, no variable to read: no error
	return a.wrap(h)
}

// scopeFilter returns the receiving middleware that keeps from a reader
// the tools not named in readOnly: tools/list leaves them out and
// tools/call of one is a tool error, as an agent can act on it. Callers
// who may write pass untouched.
func scopeFilter(readOnly map[string]bool) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if scopeFrom(ctx) == scopeWrite {
				return next(ctx, method, req)
			}
			switch r := req.(type) {
			case *mcp.ListToolsRequest:
				res, err := next(ctx, method, req)
				if list, ok := res.(*mcp.ListToolsResult); ok {
					list.Tools = slices.DeleteFunc(slices.Clone(list.Tools), func(t *mcp.Tool) bool { return !readOnly[t.Name] })
				}
				return res, err
			case *mcp.CallToolRequest:
				if !readOnly[r.Params.Name] {
					return toolError(fmt.Errorf("tool %q is not available to this session: it changes data (or does not exist), and this session may only read, as its token has read scope or mcpd runs with --read-only; tools/list shows the tools it may call", r.Params.Name)), nil
				}
			}
			return next(ctx, method, req)
		}
	}
}

// readOnlyNames are the names of the tools of list that change nothing.
func readOnlyNames(list []tools.Tool) map[string]bool {
	names := map[string]bool{}
	for _, t := range list {
		if t.ReadOnly() {
			names[t.Name] = true
		}
	}
	return names
}

// permit is the gateway's Permit: a reader may call only the tools that
// change nothing.
func permit(r *http.Request, t tools.Tool) error {
	if t.ReadOnly() || scopeFrom(r.Context()) == scopeWrite {
		return nil
	}
	return &gateway.Error{Status: http.StatusForbidden, Msg: fmt.Sprintf("tool %q changes data, and this request may only read: its token has read scope; use a write-scoped token", t.Name)}
}
