package ingest_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse/backends/catalog"
	"lakehouse/backends/ingest"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/store"
	"lakehouse/internal/s3test"
)

// TestIngest_Bucket: with the datasets' files in a bucket, read through a
// cache too small to keep any file, appends, a background compaction (which
// reads the files it merges through the cache and uploads the merged one)
// and queries of every version all work; a drop leaves nothing in the
// bucket or the cache.
func TestIngest_Bucket(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	bucket, err := store.OpenS3(ctx, store.S3Config{Endpoint: srv.Endpoint, Region: s3test.Region, Bucket: srv.Bucket(), Prefix: "lake",
		PathStyle: true, TempDir: t.TempDir(), Credentials: s3test.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	cacheDir := filepath.Join(t.TempDir(), "cache")
	var files *store.Cached
	e := newEnvWith(t, func(cfg *ingest.Config) { cfg.CompactFiles, cfg.FilesDir = 3, filepath.Join(cacheDir, "files") }, func(*store.FS) ingest.Store {
		cache, err := store.OpenCache(cacheDir, bucket, 1)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cache.Close() })
		files = store.NewCached(bucket, cache)
		return files
	})
	e.cat.SetFiles(files)
	eng, err := sqlengine.New(sqlengine.Config{TempDir: t.TempDir()}, files.Dir(), ingest.Views(e.cat, files))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })

	for i := range 5 {
		e.appendRows(t, "logs", i, i+1)
	}
	e.in.WaitCompactions()
	wantCounts(t, eng, "logs", 5)
	cur := e.manifest(t, "logs").Current().Files
	if !strings.Contains(cur[0], "/merged-") {
		t.Errorf("files of the current version after 5 appends with CompactFiles 3: %v, want a merged file first", cur)
	}
	for _, k := range cur {
		if _, err := bucket.Stat(ctx, k); err != nil {
			t.Errorf("file %s of the current version: %v", k, err)
		}
	}
	if _, err := e.in.Drop(ctx, "logs"); err != nil {
		t.Fatal(err)
	}
	left, _, err := bucket.List(ctx, catalog.DataPrefix, "", 0)
	if err != nil || len(left) != 0 || files.Cache().Stats().Files != 0 {
		t.Errorf("after the drop: %v in the bucket (%v), cache %+v", left, err, files.Cache().Stats())
	}
}
