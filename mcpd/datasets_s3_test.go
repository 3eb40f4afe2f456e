package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"lakehouse/internal/pgtest"
	"lakehouse/internal/s3test"
)

// numbersCSV is a CSV of one column n with the numbers from to to-1.
func numbersCSV(from, to int) string {
	var b strings.Builder
	b.WriteString("n\n")
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%d\n", i)
	}
	return b.String()
}

// ingestCSV ingests csv into dataset name over the gateway at base, in
// mode ("" = create), and returns the answer.
func ingestCSV(t *testing.T, base, name, mode, csv string) map[string]any {
	t.Helper()
	url := base + "/v1/ingest?name=" + name
	if mode != "" {
		url += "&mode=" + mode
	}
	code, _, b := do(t, "POST", url, strings.NewReader(csv), "Content-Type", "text/csv")
	if code != 200 {
		t.Fatalf("ingest %s (%s): %d %s", name, mode, code, b)
	}
	return decodeJSON(t, b)
}

// sqlCount runs sql, whose one row holds one number, over the gateway at
// base and returns the number as text, or the status and body of a failure.
func sqlCount(t *testing.T, base, sql string) (string, int, string) {
	t.Helper()
	code, h, b := do(t, "POST", base+"/v1/sql", strings.NewReader(fmt.Sprintf(`{"sql": %q}`, sql)), "Content-Type", "application/json")
	if code != 200 {
		return "", code, string(b) + " Retry-After: " + h.Get("Retry-After")
	}
	rows, _ := decodeJSON(t, b)["rows"].([]any)
	if len(rows) != 1 {
		t.Fatalf("%s: %s", sql, b)
	}
	row, _ := rows[0].([]any)
	return fmt.Sprint(row...), code, ""
}

// bucketKeys lists the keys in bucket of srv under prefix.
func bucketKeys(t *testing.T, srv *s3test.Server, bucket, prefix string) []string {
	t.Helper()
	out, err := srv.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

// cacheOf returns what /health at base says of the dataset cache.
func cacheOf(t *testing.T, base string) map[string]any {
	t.Helper()
	c, _ := doJSON(t, "GET", base+"/health", nil, 200)["cache"].(map[string]any)
	if c == nil {
		t.Fatalf("/health in shared mode has no cache")
	}
	return c
}

// TestGateway_DatasetsInBucket: with [storage] in a bucket, dataset files
// land in the bucket (under the prefix) and not in the data directory;
// SQL reads them through the node's cache, which keeps within its bound by
// evicting the least recently used; with the bucket server down a query
// over cached files still answers, one over an evicted file is 503 with
// Retry-After naming the bucket, and it answers again once the server is
// back.
func TestGateway_DatasetsInBucket(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket()
	cfg := httpConfig(t)
	s3Storage(t, &cfg, srv, bucket)
	cfg.Storage.CacheBytes = 1 << 30
	base, e := serveEngines(t, cfg)
	a := ingestCSV(t, base, "a", "", numbersCSV(0, 300))
	b := ingestCSV(t, base, "b", "", numbersCSV(1000, 1300))

	keys := bucketKeys(t, srv, bucket, "lake/_datasets/")
	if len(keys) != 2 || !strings.HasPrefix(keys[0], "lake/_datasets/a/i") || !strings.HasPrefix(keys[1], "lake/_datasets/b/i") {
		t.Errorf("dataset files in the bucket: %v, want one of a and one of b under lake/_datasets/", keys)
	}
	if local, _ := filepath.Glob(filepath.Join(cfg.DataDir, "objects", "data", "_datasets", "*")); len(local) != 0 {
		t.Errorf("dataset files in the data directory: %v", local)
	}
	// The files written are in the cache at once: no fetch to query them.
	if got, _, msg := sqlCount(t, base, "SELECT sum(n) FROM a"); got != "44850" {
		t.Fatalf("sum over a: %q %s", got, msg)
	}
	if c := cacheOf(t, base); c["files"] != 2.0 || c["fetches"] != 0.0 || c["limit"] != float64(cfg.Storage.CacheBytes) {
		t.Errorf("cache after two ingests and a query: %v, want 2 files, no fetch", c)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	// Again with room for one of the two files: the older goes at start.
	sizeA, sizeB := int64(a["bytes"].(float64)), int64(b["bytes"].(float64))
	cfg.Storage.CacheBytes = max(sizeA, sizeB) + min(sizeA, sizeB)/2
	base = serveAll(t, cfg)
	if got, _, msg := sqlCount(t, base, "SELECT sum(n) FROM a"); got != "44850" {
		t.Fatalf("sum over a after the restart: %q %s", got, msg)
	}
	if got, _, msg := sqlCount(t, base, "SELECT count(*) FROM b WHERE n >= 1000"); got != "300" {
		t.Fatalf("count over b: %q %s", got, msg)
	}
	c := cacheOf(t, base)
	if c["files"] != 1.0 || c["bytes"] != float64(sizeB) || c["in_use"] != 0.0 || c["evictions"].(float64) < 1 {
		t.Errorf("cache with room for one file, after reading a then b: %v, want b's file only", c)
	}

	srv.Stop()
	if got, code, msg := sqlCount(t, base, "SELECT count(*) FROM b"); got != "300" {
		t.Errorf("count over the cached b with the bucket server down: %d %q %s", code, got, msg)
	}
	_, code, msg := sqlCount(t, base, "SELECT sum(n) FROM a")
	if code != 503 || !strings.Contains(msg, srv.Endpoint) || !strings.Contains(msg, bucket) || strings.HasSuffix(msg, "Retry-After: ") {
		t.Errorf("sum over the evicted a with the bucket server down: %d %s; want 503 with Retry-After naming %s and %s", code, msg, srv.Endpoint, bucket)
	}
	// An ingest whose upload fails leaves no file and no version.
	code, _, body := do(t, "POST", base+"/v1/ingest?name=c", strings.NewReader(numbersCSV(0, 10)), "Content-Type", "text/csv")
	if code != 503 || !strings.Contains(string(body), bucket) {
		t.Errorf("ingest with the bucket server down: %d %s, want 503 naming the bucket", code, body)
	}
	srv.Start()
	if keys := bucketKeys(t, srv, bucket, "lake/_datasets/c/"); len(keys) != 0 {
		t.Errorf("files of the failed ingest in the bucket: %v", keys)
	}
	doJSON(t, "GET", base+"/v1/catalog/manifest/c", nil, 404)
	if got, _, msg := sqlCount(t, base, "SELECT sum(n) FROM a"); got != "44850" {
		t.Errorf("sum over a once the bucket server is back: %q %s", got, msg)
	}

	// A cache too small for any file still serves a query over both: a
	// query's files stay while it runs, and go when it is done.
	cfg.Storage.CacheBytes = 1
	first := cfg.DataDir
	cfg.DataDir = t.TempDir() // a node of its own, over the same bucket and (copied) catalog
	copyCatalog(t, first, cfg.DataDir)
	base = serveAll(t, cfg)
	if got, _, msg := sqlCount(t, base, "SELECT count(*) FROM a JOIN b ON b.n = a.n + 1000"); got != "300" {
		t.Errorf("join of a and b with a cache of 1 byte: %q %s", got, msg)
	}
	if c := cacheOf(t, base); c["files"] != 0.0 || c["fetches"] != 2.0 {
		t.Errorf("cache of 1 byte after the join: %v, want both files fetched and gone", c)
	}
	// index_dataset reads a version's files over several queries: they
	// stay for all of them.
	idx := doJSON(t, "POST", base+"/v1/tools/index_dataset", map[string]any{"dataset": "b", "text_column": "n"}, 200)
	if idx["rows"] != 300.0 || idx["embedded"] != 300.0 {
		t.Errorf("index_dataset of b with a cache of 1 byte: %v", idx)
	}
}

// copyCatalog copies the catalog's log of the data directory from into
// the data directory to, as another node over the same bucket would see it
// from a shared catalog.
func copyCatalog(t *testing.T, from, to string) {
	t.Helper()
	src := filepath.Join(from, "objects")
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(src, p)
		if err != nil || d.IsDir() || !strings.Contains(rel, "_catalog") {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil {
			dst := filepath.Join(to, "objects", rel)
			if err = os.MkdirAll(filepath.Dir(dst), 0o755); err == nil {
				err = os.WriteFile(dst, b, 0o644)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSharedNodes_ConcurrentAppends: two nodes over one bucket and one
// PostgreSQL catalog append to one dataset at once; every append is a
// version with a file of its own (no key written twice), and both nodes
// see all the rows. A drop on one node then deletes those files, and
// neither node sees the dataset.
func TestSharedNodes_ConcurrentAppends(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket()
	pg := pgtest.Start(t)
	dsn := pg.CreateDatabase()
	nodes := make([]string, 2)
	for i := range nodes {
		cfg := httpConfig(t)
		s3Storage(t, &cfg, srv, bucket)
		cfg.Catalog = CatalogConfig{Backend: catalogPostgres, DSN: dsn}
		nodes[i] = serveAll(t, cfg)
	}
	ingestCSV(t, nodes[0], "events", "", numbersCSV(0, 10))
	const each = 4
	var wg sync.WaitGroup
	for i, base := range nodes {
		wg.Go(func() {
			for j := range each {
				from := 1000 * (1 + i*each + j)
				ingestCSV(t, base, "events", "append", numbersCSV(from, from+10))
			}
		})
	}
	wg.Wait()

	want := fmt.Sprint(10 * (1 + 2*each))
	for i, base := range nodes {
		if got, _, msg := sqlCount(t, base, "SELECT count(DISTINCT n) FROM events"); got != want {
			t.Errorf("node %d: %s distinct rows %s, want %s", i, got, msg, want)
		}
	}
	// Each version added one part file of a key of its own (a compaction
	// may have merged some of them into a file of another name since).
	m := doJSON(t, "GET", nodes[1]+"/v1/catalog/manifest/events", nil, 200)
	versions, _ := m["versions"].([]any)
	inBucket := bucketKeys(t, srv, bucket, "lake/_datasets/events/")
	var parts []string
	for _, k := range inBucket {
		if strings.Contains(k, "/part-") {
			parts = append(parts, k)
		}
	}
	if len(versions) != 1+2*each || len(parts) != 1+2*each {
		t.Errorf("%d versions, part files in the bucket %v: want %d of each", len(versions), parts, 1+2*each)
	}
	for _, f := range m["files"].([]any) {
		if !slices.Contains(inBucket, "lake/"+f.(string)) {
			t.Errorf("file %s of the current version is not in the bucket (%v)", f, inBucket)
		}
	}

	doJSON(t, "POST", nodes[0]+"/v1/tools/drop_dataset", map[string]any{"name": "events"}, 200)
	if left := bucketKeys(t, srv, bucket, "lake/_datasets/events/"); len(left) != 0 {
		t.Errorf("files left in the bucket after the drop: %v", left)
	}
	if _, code, _ := sqlCount(t, nodes[1], "SELECT count(*) FROM events"); code != 404 {
		t.Errorf("query of the dropped dataset on the other node: %d, want 404", code)
	}
}

// decodeJSON decodes the JSON object b.
func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("not a JSON object: %s", b)
	}
	return out
}
