package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"lakehouse/internal/s3test"
)

// s3Storage points cfg's object store at a bucket of srv, with the keys in
// the environment as an operator would give them.
func s3Storage(t *testing.T, cfg *Config, srv *s3test.Server, bucket string) {
	t.Setenv("AWS_ACCESS_KEY_ID", s3test.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3test.SecretKey)
	// Nothing else of the SDK's default chain: no files of the machine's,
	// and never the instance metadata service, which is not on loopback.
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	cfg.Storage = StorageConfig{Backend: storageS3, Endpoint: srv.Endpoint, Region: s3test.Region, Bucket: bucket, Prefix: "lake", PathStyle: true}
}

// TestObjects_S3 runs the object tools through an MCP session on a server
// whose [storage] is a bucket: the objects land in the bucket, under the
// prefix, ingest_dataset reads them there, and a stopped bucket server is
// a tool error naming it, until it is back.
func TestObjects_S3(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket()
	cfg := testConfig(t, t.TempDir())
	s3Storage(t, &cfg, srv, bucket)
	cs, _ := session(t, cfg, nil)

	put := call(t, cs, "put_object", map[string]any{"key": "notes/to day.md", "content": "# hello"})
	sum := sha256.Sum256([]byte("# hello"))
	if put["size"] != 7.0 || put["etag"] != hex.EncodeToString(sum[:]) || put["content_type"] != "text/markdown; charset=utf-8" {
		t.Errorf("put_object = %v", put)
	}
	out, err := srv.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("lake/notes/to day.md")})
	if err != nil {
		t.Fatalf("the object is not in the bucket: %v", err)
	}
	raw, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(raw) != "# hello" {
		t.Errorf("in the bucket: %q", raw)
	}

	got := call(t, cs, "get_object", map[string]any{"key": "notes/to day.md"})
	if got["content"] != "# hello" || got["etag"] != put["etag"] || got["modified"] != put["modified"] {
		t.Errorf("get_object = %v, want what put_object stored (%v)", got, put)
	}
	call(t, cs, "put_object", map[string]any{"key": "notes/b+c.txt", "content": "second"})
	list := call(t, cs, "list_objects", map[string]any{"prefix": "notes/", "limit": 1})
	objs := list["objects"].([]any)
	if len(objs) != 1 || objs[0].(map[string]any)["key"] != "notes/b+c.txt" || list["next_cursor"] != "notes/b+c.txt" {
		t.Errorf("list_objects page 1 = %v", list)
	}
	list = call(t, cs, "list_objects", map[string]any{"prefix": "notes/", "limit": 1, "cursor": "notes/b+c.txt"})
	if objs := list["objects"].([]any); len(objs) != 1 || objs[0].(map[string]any)["key"] != "notes/to day.md" || list["truncated"] != false {
		t.Errorf("list_objects page 2 = %v", list)
	}
	if msg := callErr(t, cs, "put_object", map[string]any{"key": "notes/to day.md/x", "content": "x"}); !strings.Contains(msg, `object "notes/to day.md" exists`) {
		t.Errorf("put under an object: %q", msg)
	}

	// A data file put as an object is ingested from the bucket.
	call(t, cs, "put_object", map[string]any{"key": "in/sales.csv", "content": fixture(t, "sales.csv")})
	ing := call(t, cs, "ingest_dataset", map[string]any{"name": "sales", "source": map[string]any{"object_key": "in/sales.csv"}})
	rows := query(t, cs, "SELECT count(*) FROM sales")
	if ing["rows"] == 0.0 || len(rows) != 1 || rows[0][0] != ing["rows"] {
		t.Errorf("ingest_dataset = %v, count(*) = %v", ing, rows)
	}

	// The bucket server goes away, and comes back.
	srv.Stop()
	msg := callErr(t, cs, "get_object", map[string]any{"key": "notes/to day.md"})
	if !strings.Contains(msg, srv.Endpoint) || !strings.Contains(msg, bucket) || strings.Contains(msg, "goroutine") {
		t.Errorf("get_object with the server down: %q, want it to name %s and bucket %s", msg, srv.Endpoint, bucket)
	}
	srv.Start()
	deleteObject(t, cs, "notes/to day.md")
}

// TestOpenEngines_S3Unreachable: a bucket that does not answer stops the
// start with an error naming it.
func TestOpenEngines_S3Unreachable(t *testing.T) {
	srv := s3test.Start(t)
	cfg := testConfig(t, t.TempDir())
	s3Storage(t, &cfg, srv, "no-such-bucket")
	if _, err := openEngines(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket"`) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("openEngines = %v, want an error naming the missing bucket", err)
	}
	srv.Stop()
	s3Storage(t, &cfg, srv, "any")
	if _, err := openEngines(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "cannot reach the S3 endpoint "+srv.Endpoint) {
		t.Errorf("openEngines = %v, want an error naming the endpoint", err)
	}
}

// TestGateway_S3Down: over the REST gateway, a bucket server that does not
// answer is 503 with Retry-After, naming it: the caller may retry, as it
// may when the server is saturated. Once it is back, the call works.
func TestGateway_S3Down(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket()
	base := gatewayBase(t, func(cfg *Config) { s3Storage(t, cfg, srv, bucket) })
	if code, _, b := do(t, "PUT", base+"/v1/storage/put/notes/a.txt", strings.NewReader("a")); code != 200 {
		t.Fatalf("PUT: %d %s", code, b)
	}
	srv.Stop()
	for _, req := range []struct{ method, path string }{
		{"GET", "/v1/storage/get/notes/a.txt"},
		{"PUT", "/v1/storage/put/notes/b.txt"},
		{"GET", "/v1/storage/list?prefix=notes/"},
	} {
		code, h, b := do(t, req.method, base+req.path, strings.NewReader("b"))
		if code != 503 || h.Get("Retry-After") == "" || !strings.Contains(string(b), srv.Endpoint) {
			t.Errorf("%s %s with the bucket server down: %d (Retry-After %q) %s; want 503 naming %s", req.method, req.path, code, h.Get("Retry-After"), b, srv.Endpoint)
		}
	}
	srv.Start()
	if code, _, b := do(t, "GET", base+"/v1/storage/get/notes/a.txt", nil); code != 200 || string(b) != "a" {
		t.Errorf("GET once the server is back: %d %s", code, b)
	}
}
