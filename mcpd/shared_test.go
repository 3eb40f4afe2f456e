package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/internal/pgtest"
	"lakehouse/internal/s3test"
)

// health polls /health until ok(its body) or 15 s pass, and returns the
// last body.
func health(t *testing.T, base string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		h := doJSON(t, "GET", base+"/health", nil, 200)
		if ok(h) || time.Now().After(deadline) {
			return h
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sharedSession starts a PostgreSQL and a node whose catalog is kept
// there (and so, by backend "auto", its observer and trace memory), and
// returns the server, an MCP session with the node, and shared, which
// makes another node's config alike.
func sharedSession(t *testing.T) (pg *pgtest.Server, shared func(*Config), cs *mcp.ClientSession) {
	t.Helper()
	pg = pgtest.Start(t)
	dsn := pg.CreateDatabase()
	shared = func(cfg *Config) { cfg.Catalog = CatalogConfig{Backend: catalogPostgres, DSN: dsn} }
	cfg := testConfig(t, t.TempDir())
	shared(&cfg)
	cs, _ = session(t, cfg, nil)
	return pg, shared, cs
}

// check returns what /health's body h says of the service name.
func check(h map[string]any, name string) string {
	checks, _ := h["checks"].(map[string]any)
	s, _ := checks[name].(string)
	return s
}

// TestHealth_SharedServices: /health reports the bucket and the catalog's
// database; one that stops answering leaves the node degraded, named, and
// the node is ok again once it is back.
func TestHealth_SharedServices(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket()
	pg := pgtest.Start(t)
	dsn := pg.CreateDatabase()
	base := gatewayBase(t, func(cfg *Config) {
		s3Storage(t, cfg, srv, bucket)
		cfg.Catalog = CatalogConfig{Backend: catalogPostgres, DSN: dsn}
	})
	allOK := func(h map[string]any) bool { return h["status"] == "ok" }
	if h := health(t, base, allOK); h["status"] != "ok" || check(h, "bucket") != "ok" || check(h, "catalog") != "ok" {
		t.Fatalf("/health with both up: %v", h)
	}

	srv.Stop()
	h := doJSON(t, "GET", base+"/health", nil, 200)
	if h["status"] != "degraded" || !strings.Contains(check(h, "bucket"), srv.Endpoint) || check(h, "catalog") != "ok" {
		t.Errorf("/health with the bucket server down: %v", h)
	}
	srv.Start()
	if h := health(t, base, allOK); h["status"] != "ok" {
		t.Errorf("/health once the bucket server is back: %v", h)
	}

	pg.Stop()
	h = doJSON(t, "GET", base+"/health", nil, 200)
	if h["status"] != "degraded" || !strings.Contains(check(h, "catalog"), pg.Addr) || check(h, "bucket") != "ok" {
		t.Errorf("/health with the database down: %v", h)
	}
	if strings.Contains(check(h, "catalog"), pgtest.Password) {
		t.Errorf("/health shows the database's password: %v", h)
	}
	pg.Start()
	if h := health(t, base, allOK); h["status"] != "ok" {
		t.Errorf("/health once the database is back: %v", h)
	}
}

// TestGateway_PostgresCatalog: with the catalog in PostgreSQL, a dataset
// ingested and appended to over the REST gateway answers SQL, and is all
// there after a restart.
func TestGateway_PostgresCatalog(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.CreateDatabase()
	cfg := httpConfig(t)
	cfg.Catalog = CatalogConfig{Backend: catalogPostgres, DSN: dsn}
	count := func(base string) any {
		t.Helper()
		res := doJSON(t, "POST", base+"/v1/sql", map[string]any{"sql": "SELECT count(*) AS n FROM sales"}, 200)
		rows, _ := res["rows"].([]any)
		if len(rows) != 1 {
			t.Fatalf("sql: %v", res)
		}
		return rows[0]
	}
	base, e := serveEngines(t, cfg)
	for i, file := range []string{"sales.csv", "sales_more.csv"} {
		url := base + "/v1/ingest?name=sales"
		if i > 0 {
			url += "&mode=append"
		}
		if code, _, b := do(t, "POST", url, strings.NewReader(fixture(t, file)), "Content-Type", "text/csv"); code != 200 {
			t.Fatalf("ingest %s: %d %s", file, code, b)
		}
	}
	before := count(base)
	m := doJSON(t, "GET", base+"/v1/catalog/manifest/sales", nil, 200)
	if versions, _ := m["versions"].([]any); len(versions) != 2 {
		t.Fatalf("manifest after an ingest and an append: %v", m)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	base = serveAll(t, cfg) // the same data and database, as after a restart
	if got := count(base); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("count after the restart: %v, want %v", got, before)
	}
}
