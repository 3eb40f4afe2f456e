package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"lakehouse/backends/matrix"
	"lakehouse/backends/store"
	"lakehouse/tools"
)

// Config is lakehouse.toml. Every key has a default that works; the file
// documents each one. LAKEHOUSE_<SECTION>_<KEY> environment variables
// override single keys (LAKEHOUSE_DATA sets data_dir).
type Config struct {
	DataDir  string         `toml:"data_dir" env:"LAKEHOUSE_DATA"`
	Server   ServerConfig   `toml:"server"`
	Gateway  GatewayConfig  `toml:"gateway"`
	Auth     AuthConfig     `toml:"auth"`
	Objects  ObjectsConfig  `toml:"objects"`
	Storage  StorageConfig  `toml:"storage"`
	Catalog  CatalogConfig  `toml:"catalog"`
	Ingest   IngestConfig   `toml:"ingest"`
	SQL      SQLConfig      `toml:"sql"`
	Embed    EmbedConfig    `toml:"embed"`
	Vector   VectorConfig   `toml:"vector"`
	Pathway  PathwayConfig  `toml:"pathway"`
	Observer ObserverConfig `toml:"observer"`
	Matrix   MatrixConfig   `toml:"matrix"`
	MCP      MCPConfig      `toml:"mcp"`
}

// MCPConfig chooses what the MCP server offers.
type MCPConfig struct {
	// Toolsets are the groups of tools (tools.Toolsets) that the MCP server
	// lists and serves at /mcp, /sse and on stdio; over HTTP each of them is
	// also served alone at /mcp/{toolset}. The REST gateway and mcpd call
	// keep every tool. Default: all of them.
	Toolsets []string `toml:"toolsets" envsep:","`
	// FenceData fences the text of results that carry stored data (see
	// tools.Fenced): "auto" (the default) when mcpd serves HTTP, "on"
	// always, "off" never.
	FenceData string `toml:"fence_data"`
}

// fences reports whether results are fenced, for a server that serves
// HTTP or not.
func (m *MCPConfig) fences(http bool) bool {
	return m.FenceData == "on" || m.FenceData == "auto" && http
}

// validate checks the [mcp] keys, trimming the spaces a comma-separated
// environment variable leaves around names.
func (m *MCPConfig) validate() error {
	for i, name := range m.Toolsets {
		m.Toolsets[i] = strings.TrimSpace(name)
	}
	if len(m.Toolsets) == 0 {
		return fmt.Errorf("mcp.toolsets is empty: name at least one of %s", strings.Join(tools.Toolsets, ", "))
	}
	if err := tools.CheckToolsets(m.Toolsets); err != nil {
		return fmt.Errorf("mcp.toolsets: %w", err)
	}
	switch m.FenceData {
	case "auto", "on", "off":
	default:
		return fmt.Errorf("mcp.fence_data is %q: use auto (fence when serving HTTP), on or off", m.FenceData)
	}
	return nil
}

// ServerConfig configures the HTTP listener. lakehouse.toml gives each
// key's default and the reason for it.
type ServerConfig struct {
	HTTP      string `toml:"http"`
	Stateless bool   `toml:"stateless"`
	AuthToken string `toml:"auth_token"`

	// AllowedOrigins are the browser origins, besides the server's own,
	// whose requests /mcp and /sse accept. Origins hold ":", so their
	// environment variable is split on commas.
	AllowedOrigins []string `toml:"allowed_origins" envsep:","`
	// AllowedHosts, when not empty, are the only Host names /mcp and /sse
	// answer to (a defence against DNS rebinding on a non-loopback bind).
	AllowedHosts []string `toml:"allowed_hosts" envsep:","`

	MaxSessions          int `toml:"max_sessions"`            // open /mcp and /sse sessions, together
	SessionIdleTimeoutMS int `toml:"session_idle_timeout_ms"` // an idle session ends after this
	ReadTimeoutMS        int `toml:"read_timeout_ms"`         // to receive one request, body included
	KeepAliveTimeoutMS   int `toml:"keepalive_timeout_ms"`    // an idle connection closes after this
}

// validate checks the [server] keys; errors name the key and its value.
func (s *ServerConfig) validate() error {
	for _, k := range []struct {
		key string
		n   int
	}{
		{"max_sessions", s.MaxSessions},
		{"session_idle_timeout_ms", s.SessionIdleTimeoutMS},
		{"read_timeout_ms", s.ReadTimeoutMS},
		{"keepalive_timeout_ms", s.KeepAliveTimeoutMS},
	} {
		if k.n < 1 {
			return fmt.Errorf("server.%s = %d: must be at least 1", k.key, k.n)
		}
	}
	if _, err := newOriginGuard(s.AllowedOrigins); err != nil {
		return fmt.Errorf("server.allowed_origins: %w (want scheme://host[:port], as a browser sends it in Origin)", err)
	}
	for _, h := range s.AllowedHosts {
		if net.ParseIP(h) == nil && (h == "" || strings.ContainsAny(h, ":/@[] ")) {
			return fmt.Errorf("server.allowed_hosts: %q is not a host name or IP address (give it without scheme, port or path)", h)
		}
	}
	return nil
}

// GatewayConfig configures the REST gateway at /v1, served beside /mcp and
// /sse when mcpd listens on HTTP.
type GatewayConfig struct {
	Enabled          bool  `toml:"enabled"`
	MaxBodyBytes     int64 `toml:"max_body_bytes"`     // a streamed body: PUT /v1/storage/put, POST /v1/ingest
	MaxJSONBytes     int64 `toml:"max_json_bytes"`     // any other request body
	MaxWrites        int   `toml:"max_writes"`         // writing calls in flight at once; more get 503
	RequestTimeoutMS int   `toml:"request_timeout_ms"` // a /v1 call's time limit
}

// validate checks the [gateway] keys; errors name the key and its value.
func (g *GatewayConfig) validate() error {
	for _, k := range []struct {
		key string
		n   int64
	}{
		{"max_body_bytes", g.MaxBodyBytes},
		{"max_json_bytes", g.MaxJSONBytes},
		{"max_writes", int64(g.MaxWrites)},
		{"request_timeout_ms", int64(g.RequestTimeoutMS)},
	} {
		if k.n < 1 {
			return fmt.Errorf("gateway.%s = %d: must be at least 1", k.key, k.n)
		}
	}
	return nil
}

// AuthConfig says who may call /mcp, /sse and /v1 and what they may do
// there (see auth.go). lakehouse.toml gives each key's default.
type AuthConfig struct {
	// Tokens are static bearer tokens, each held by an environment
	// variable so that no secret is written in the file. Several of one
	// scope let a token be rotated: add the new one, move the clients,
	// drop the old one. No environment variable sets the list.
	Tokens []TokenConfig `toml:"tokens"`
	// AllowedIPs, when not empty, are the only client addresses (CIDR
	// prefixes or single addresses) that may call; others get 403.
	AllowedIPs []string `toml:"allowed_ips" envsep:","`
	// ReadOnly leaves out every tool that changes data, for every caller.
	ReadOnly bool        `toml:"read_only"`
	OAuth    OAuthConfig `toml:"oauth"`
}

// TokenConfig is one static bearer token: the variable that holds it and
// what it may do, "read" (read-only tools) or "write" (every tool).
type TokenConfig struct {
	Env   string `toml:"env"`
	Scope string `toml:"scope"`

	secret string // the value of Env, read by loadConfig
}

// OAuthConfig makes mcpd an OAuth 2.1 resource server that accepts JWT
// access tokens from one authorization server. It is on when Issuer is set.
type OAuthConfig struct {
	Issuer      string   `toml:"issuer"`
	Audience    string   `toml:"audience"` // "" = Resource
	JWKSURL     string   `toml:"jwks_url"` // "" = the jwks_uri of the issuer's metadata
	ReadScopes  []string `toml:"read_scopes" envsep:","`
	WriteScopes []string `toml:"write_scopes" envsep:","`
	Resource    string   `toml:"resource"` // this server's URL, as clients reach it
}

// validate checks the [auth] keys; errors name the key and its value. That
// each token's variable is set is checked when HTTP starts, the one place
// tokens are used (see newAuthenticator).
func (a *AuthConfig) validate() error {
	for i, t := range a.Tokens {
		if t.Env == "" {
			return fmt.Errorf("auth.tokens[%d].env is empty: name the environment variable that holds the token", i)
		}
		if t.Scope != "read" && t.Scope != "write" {
			return fmt.Errorf("auth.tokens[%d].scope = %q (env %s): want \"read\" or \"write\"", i, t.Scope, t.Env)
		}
	}
	if _, err := parsePrefixes(a.AllowedIPs); err != nil {
		return fmt.Errorf("auth.allowed_ips: %w", err)
	}
	o := a.OAuth
	if o.Issuer == "" {
		return nil
	}
	if p, err := url.Parse(o.Resource); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return fmt.Errorf("auth.oauth.resource = %q: want this server's http(s) URL, as clients reach it", o.Resource)
	}
	// Keys fetched over plain HTTP could be anyone's: HTTPS, except on loopback.
	for _, u := range []struct{ key, url string }{{"issuer", o.Issuer}, {"jwks_url", o.JWKSURL}} {
		if u.url == "" { // jwks_url: discovered
			continue
		}
		p, err := url.Parse(u.url)
		ip := net.ParseIP(p.Hostname())
		if err != nil || p.Host == "" || (p.Scheme != "https" && (p.Scheme != "http" || ((ip == nil || !ip.IsLoopback()) && p.Hostname() != "localhost"))) {
			return fmt.Errorf("auth.oauth.%s = %q: want an https URL (http only on a loopback address)", u.key, u.url)
		}
	}
	if len(o.ReadScopes) == 0 || len(o.WriteScopes) == 0 {
		return fmt.Errorf("auth.oauth: read_scopes and write_scopes must each name at least one scope")
	}
	return nil
}

// ObjectsConfig configures the object store.
type ObjectsConfig struct {
	MaxBytes int64 `toml:"max_bytes"`
}

// IngestConfig configures dataset ingest.
type IngestConfig struct {
	AllowedPaths []string `toml:"allowed_paths"`
}

// SQLConfig configures DuckDB: the database of query_sql and the one ingest
// opens (see sqlengine.Config).
type SQLConfig struct {
	Threads     int    `toml:"threads"`
	MemoryLimit string `toml:"memory_limit"` // "" = a quarter of the memory, for each database
	MaxConns    int    `toml:"max_conns"`    // query slots; a query waits for one within its timeout
}

// EmbedConfig chooses the embedding model.
type EmbedConfig struct {
	Provider  string `toml:"provider"`
	URL       string `toml:"url"`
	Model     string `toml:"model"`
	APIKeyEnv string `toml:"api_key_env"`
	Dims      int    `toml:"dims"`
	BatchSize int    `toml:"batch_size"`
	TimeoutMS int    `toml:"timeout_ms"`
	Retries   int    `toml:"retries"`
	CacheSize int    `toml:"cache_size"`
}

// VectorConfig tunes the vector indexes, and says where they are kept
// (see vectors.go in this folder).
type VectorConfig struct {
	Backend        string `toml:"backend"` // "auto", "local" or "postgres"
	FlatThreshold  int    `toml:"flat_threshold"`
	M              int    `toml:"m"`
	EfConstruction int    `toml:"ef_construction"`
	SnapshotBytes  int64  `toml:"snapshot_bytes"`
	MaxMemory      int64  `toml:"max_memory"` // bytes all indexes may hold, the trace index included; 0 = vector.DefaultMaxMemory
}

// PathwayConfig limits the trace memory.
type PathwayConfig struct {
	Backend         string `toml:"backend"` // "auto", "local" or "postgres" (see pathway.go in this folder)
	MaxContentBytes int    `toml:"max_content_bytes"`
	MaxTags         int    `toml:"max_tags"`
	MaxTagLength    int    `toml:"max_tag_length"`
	CompactBytes    int64  `toml:"compact_bytes"`
	CompactRecords  int    `toml:"compact_records"` // in PostgreSQL, the records after the latest base that call for a new one
}

// ObserverConfig tunes the record of operations, and says where it is
// kept (see observer.go in this folder).
type ObserverConfig struct {
	Backend      string `toml:"backend"` // "auto", "local" or "postgres"
	RingSize     int    `toml:"ring_size"`
	EscalateAt   int    `toml:"escalate_at"`
	Retain       int    `toml:"retain"`
	CompactBytes int64  `toml:"compact_bytes"`
}

// MatrixConfig configures multi-corpus retrieval and the code-review helpers.
type MatrixConfig struct {
	Gate     GateConfig     `toml:"gate"`
	Playbook PlaybookConfig `toml:"playbook"`
}

// PlaybookConfig is where record_playbook writes and how matrix_search's
// use_playbook boosts (see matrix.PlaybookConfig).
type PlaybookConfig struct {
	Corpus         string  `toml:"corpus"`
	BoostDistance  float64 `toml:"boost_distance"`
	InjectDistance float64 `toml:"inject_distance"`
}

// settings are the engine's form of p.
func (p PlaybookConfig) settings() matrix.PlaybookConfig {
	return matrix.PlaybookConfig{Corpus: p.Corpus, BoostDistance: p.BoostDistance, InjectDistance: p.InjectDistance}
}

// validate checks p as given: unlike the engine, where 0 means the
// default, a 0 here is a mistake.
func (p PlaybookConfig) validate() error {
	for _, k := range []struct {
		key string
		v   float64
	}{{"boost_distance", p.BoostDistance}, {"inject_distance", p.InjectDistance}} {
		if k.v == 0 {
			return fmt.Errorf("matrix.playbook.%s = 0: give a cosine distance above 0", k.key)
		}
	}
	if p.Corpus == "" {
		return fmt.Errorf("matrix.playbook.corpus is empty: name the default playbook (%s by default)", matrix.DefaultPlaybookCorpus)
	}
	if err := p.settings().Validate(); err != nil {
		return fmt.Errorf("matrix.playbook.%w", err)
	}
	return nil
}

// GateConfig is downgrade_gate's rules (see matrix.GateConfig). Model names
// hold ":", so the environment variables of the lists are split on commas.
type GateConfig struct {
	FullMode            string   `toml:"full_mode"`
	IsolationMode       string   `toml:"isolation_mode"`
	Modes               []string `toml:"modes" envsep:","`
	WeakModels          []string `toml:"weak_models" envsep:","`
	ForceFullEnrichment bool     `toml:"force_full_enrichment" env:"LAKEHOUSE_FORCE_FULL_ENRICHMENT"`
}

// rules are the engine's form of g.
func (g GateConfig) rules() matrix.GateConfig {
	return matrix.GateConfig{FullMode: g.FullMode, IsolationMode: g.IsolationMode, Modes: g.Modes, WeakModels: g.WeakModels, ForceFull: g.ForceFullEnrichment}
}

// maxRingSize bounds observer.ring_size: whole ops are kept in memory.
const maxRingSize = 100_000

// defaultConfig returns the configuration used when nothing is set.
func defaultConfig() Config {
	return Config{
		Server: ServerConfig{
			AllowedOrigins: []string{}, AllowedHosts: []string{},
			MaxSessions: 1000, SessionIdleTimeoutMS: 30 * 60_000, ReadTimeoutMS: 120_000, KeepAliveTimeoutMS: 60_000,
		},
		Gateway:  GatewayConfig{Enabled: true, MaxBodyBytes: 256 << 20, MaxJSONBytes: 96 << 20, MaxWrites: 16, RequestTimeoutMS: 600_000},
		Auth:     AuthConfig{AllowedIPs: []string{}, OAuth: OAuthConfig{ReadScopes: []string{"lakehouse:read"}, WriteScopes: []string{"lakehouse:write"}}},
		Objects:  ObjectsConfig{MaxBytes: 64 << 20},
		Storage:  StorageConfig{Backend: storageLocal, Region: store.DefaultS3Region, CacheBytes: store.DefaultCacheBytes},
		Catalog:  CatalogConfig{Backend: catalogLocal},
		SQL:      SQLConfig{MaxConns: 4},
		Embed:    EmbedConfig{Provider: "hybrid", BatchSize: 64, TimeoutMS: 30000, Retries: 3, CacheSize: 10000},
		Vector:   VectorConfig{Backend: backendAuto, FlatThreshold: 20000, M: 16, EfConstruction: 200, SnapshotBytes: 64 << 20},
		Pathway:  PathwayConfig{Backend: backendAuto, MaxContentBytes: 1 << 20, MaxTags: 32, MaxTagLength: 64, CompactBytes: 64 << 20, CompactRecords: 100_000},
		Observer: ObserverConfig{Backend: backendAuto, RingSize: 2000, EscalateAt: 3, Retain: 1_000_000, CompactBytes: 128 << 20},
		Matrix: MatrixConfig{Gate: GateConfig{
			FullMode: matrix.DefaultFullMode, IsolationMode: matrix.DefaultIsolationMode,
			Modes: []string{matrix.DefaultFullMode, matrix.DefaultIsolationMode}, WeakModels: slices.Clone(matrix.DefaultWeakModels),
		}, Playbook: PlaybookConfig{
			Corpus: matrix.DefaultPlaybookCorpus, BoostDistance: matrix.DefaultBoostDistance, InjectDistance: matrix.DefaultInjectDistance,
		}},
		MCP: MCPConfig{Toolsets: slices.Clone(tools.Toolsets), FenceData: "auto"},
	}
}

// loadConfig reads path (if not empty) over the defaults, then applies the
// environment. Unknown keys in the file are an error naming the key.
func loadConfig(path string, env func(string) string) (Config, error) {
	cfg := defaultConfig()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			var strict *toml.StrictMissingError
			if errors.As(err, &strict) {
				var keys []string
				for _, e := range strict.Errors {
					keys = append(keys, strings.Join(e.Key(), "."))
				}
				return cfg, fmt.Errorf("config %s: unknown key %s (lakehouse.toml lists every key)", path, strings.Join(keys, ", "))
			}
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(reflect.ValueOf(&cfg).Elem(), "LAKEHOUSE", env); err != nil {
		return cfg, err
	}
	for i := range cfg.Auth.Tokens {
		cfg.Auth.Tokens[i].secret = env(cfg.Auth.Tokens[i].Env)
	}
	if cfg.DataDir == "" {
		dir, err := defaultDataDir(env)
		if err != nil {
			return cfg, err
		}
		cfg.DataDir = dir
	}
	return cfg, cfg.validate()
}

// applyEnv sets each field of v from the variable PREFIX_KEY (or the field's
// env tag), descending into sections. Lists are split on the OS path list
// separator (":" on Unix), as in PATH, or on the field's envsep tag. Lists
// of tables ([[auth.tokens]]) have no variable, nor do unexported fields.
func applyEnv(v reflect.Value, prefix string, env func(string) string) error {
	for i := 0; i < v.NumField(); i++ {
		f, sf := v.Field(i), v.Type().Field(i)
		if !sf.IsExported() || (f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct) {
			continue
		}
		name := prefix + "_" + strings.ToUpper(sf.Tag.Get("toml"))
		if tag := sf.Tag.Get("env"); tag != "" {
			name = tag
		}
		if f.Kind() == reflect.Struct {
			if err := applyEnv(f, name, env); err != nil {
				return err
			}
			continue
		}
		s := env(name)
		if s == "" {
			continue
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(s)
		case reflect.Bool:
			b, err := strconv.ParseBool(s)
			if err != nil {
				return fmt.Errorf("%s=%q: want true or false", name, s)
			}
			f.SetBool(b)
		case reflect.Int, reflect.Int64:
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return fmt.Errorf("%s=%q: want a whole number", name, s)
			}
			f.SetInt(n)
		case reflect.Float64:
			x, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return fmt.Errorf("%s=%q: want a number", name, s)
			}
			f.SetFloat(x)
		case reflect.Slice:
			if sep := sf.Tag.Get("envsep"); sep != "" {
				f.Set(reflect.ValueOf(strings.Split(s, sep)))
			} else {
				f.Set(reflect.ValueOf(filepath.SplitList(s)))
			}
		}
	}
	return nil
}

// defaultDataDir is $XDG_DATA_HOME/lakehouse, else ~/.local/share/lakehouse;
// never the current directory, which for an MCP server is arbitrary.
func defaultDataDir(env func(string) string) (string, error) {
	if x := env("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "lakehouse"), nil
	}
	home := env("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no data directory: set LAKEHOUSE_DATA or data_dir (%w)", err)
		}
		home = h
	}
	return filepath.Join(home, ".local", "share", "lakehouse"), nil
}

func (c *Config) validate() error {
	if err := c.Server.validate(); err != nil {
		return err
	}
	if err := c.Gateway.validate(); err != nil {
		return err
	}
	if err := c.Auth.validate(); err != nil {
		return err
	}
	if err := c.MCP.validate(); err != nil {
		return err
	}
	if err := c.Storage.validate(); err != nil {
		return err
	}
	if err := c.Catalog.validate(); err != nil {
		return err
	}
	if err := c.validatePathway(); err != nil {
		return err
	}
	if err := c.validateObserver(); err != nil {
		return err
	}
	if err := c.validateBackend("vector", c.Vector.Backend, "the vector indexes"); err != nil {
		return err
	}
	switch {
	case !filepath.IsAbs(c.DataDir):
		return fmt.Errorf("data_dir %q must be an absolute path", c.DataDir)
	case c.Objects.MaxBytes <= 0:
		return fmt.Errorf("objects.max_bytes = %d: must be positive", c.Objects.MaxBytes)
	case c.SQL.Threads < 0:
		return fmt.Errorf("sql.threads = %d: must be 0 (all cores) or more", c.SQL.Threads)
	case c.SQL.MaxConns < 1:
		return fmt.Errorf("sql.max_conns = %d: must be at least 1", c.SQL.MaxConns)
	case c.Embed.BatchSize < 1:
		return fmt.Errorf("embed.batch_size = %d: must be at least 1", c.Embed.BatchSize)
	case c.Embed.TimeoutMS < 1:
		return fmt.Errorf("embed.timeout_ms = %d: must be at least 1", c.Embed.TimeoutMS)
	case c.Embed.Retries < 0 || c.Embed.CacheSize < 0 || c.Embed.Dims < 0:
		return fmt.Errorf("embed.retries, embed.cache_size and embed.dims must not be negative")
	case c.Vector.FlatThreshold < 0 || c.Vector.M < 2 || c.Vector.EfConstruction < 1 || c.Vector.SnapshotBytes < 1:
		return fmt.Errorf("vector: flat_threshold must be 0 or more, m at least 2, ef_construction and snapshot_bytes positive")
	case c.Vector.MaxMemory < 0:
		return fmt.Errorf("vector.max_memory = %d: give bytes, or 0 for half of the memory", c.Vector.MaxMemory)
	case c.Pathway.MaxContentBytes < 1 || c.Pathway.MaxTags < 1 || c.Pathway.MaxTagLength < 1 || c.Pathway.CompactBytes < 1 || c.Pathway.CompactRecords < 1:
		return fmt.Errorf("pathway: max_content_bytes, max_tags, max_tag_length, compact_bytes and compact_records must be positive")
	case c.Observer.RingSize < 1 || c.Observer.RingSize > maxRingSize || c.Observer.EscalateAt < 1:
		return fmt.Errorf("observer.ring_size must be 1 to %d and observer.escalate_at at least 1", maxRingSize)
	case c.Observer.Retain < c.Observer.RingSize || c.Observer.CompactBytes < 1:
		return fmt.Errorf("observer.retain = %d: must be at least ring_size (%d); observer.compact_bytes must be positive", c.Observer.Retain, c.Observer.RingSize)
	}
	if _, err := matrix.NewGate(c.Matrix.Gate.rules()); err != nil {
		return fmt.Errorf("matrix.gate.%w", err)
	}
	if err := c.Matrix.Playbook.validate(); err != nil {
		return err
	}
	for _, p := range c.Ingest.AllowedPaths {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("ingest.allowed_paths: %q must be an absolute path", p)
		}
	}
	return nil
}
