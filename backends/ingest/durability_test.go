package ingest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	"lakehouse/backends/catalog"
	"lakehouse/backends/ingest"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/store"
	"lakehouse/internal/disk/disktest"
)

// openAt opens a store, catalog and ingester over the data folder root.
func openAt(t *testing.T, root string) (*store.FS, *catalog.Catalog, *ingest.Ingester) {
	t.Helper()
	st, err := store.OpenFS(filepath.Join(root, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat, err := catalog.Open(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ingest.Config{
		TempDir: filepath.Join(st.TempDir(), "ingest"), ObjectsDir: st.DataDir(),
		DuckDB: sqlengine.Config{TempDir: filepath.Join(root, "tmp", "duckdb-ingest")},
	}, cat, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return st, cat, in
}

// TestIngest_PowerCut: every acknowledged version (its manifest entry and
// its Parquet files) survives a power cut that drops what was not fsynced.
func TestIngest_PowerCut(t *testing.T) {
	root := t.TempDir()
	pc := disktest.NewPowerCut(t, root)
	_, _, in := openAt(t, root)
	ctx := context.Background()
	modes := []string{"create", "append", "append", "replace", "append"}
	for i, mode := range modes {
		content := fmt.Sprintf("id,v\n%d,a\n%d,b\n", i, i)
		if _, err := in.Ingest(ctx, ingest.Request{Name: "sales", Content: content, Mode: mode}, nil); err != nil {
			t.Fatalf("ingest %d (%s): %v", i, mode, err)
		}
	}
	wantRows := []int64{2, 4, 6, 2, 4}

	st, cat, _ := openAt(t, pc.Cut(t))
	m, err := cat.Get("sales")
	if err != nil {
		t.Fatalf("after the cut: %v", err)
	}
	if len(m.Versions) != len(modes) {
		t.Fatalf("after the cut: %d versions, want %d", len(m.Versions), len(modes))
	}
	_, tables := cat.Tables()
	files := map[string][]string{}
	for _, tb := range tables {
		files[tb.Name] = tb.Files
	}
	for i, v := range m.Versions {
		if v.Rows != wantRows[i] {
			t.Errorf("version %d: %d rows, want %d", v.Version, v.Rows, wantRows[i])
		}
		name := fmt.Sprintf("sales@v%d", v.Version)
		if len(files[name]) == 0 {
			t.Errorf("%s has no files after the cut", name)
		}
		for _, key := range files[name] {
			info, err := st.Stat(ctx, key)
			if err != nil || info.Size == 0 {
				t.Errorf("%s: file %s after the cut: %+v, %v", name, key, info, err)
			}
		}
	}
}

// TestIngest_DiskFull: an ingest that meets ENOSPC fails with the disk's
// error and leaves the dataset as it was; the next one succeeds.
func TestIngest_DiskFull(t *testing.T) {
	root := t.TempDir()
	pc := disktest.NewPowerCut(t, root)
	_, cat, in := openAt(t, root)
	ctx := context.Background()
	if _, err := in.Ingest(ctx, ingest.Request{Name: "sales", Content: "id\n1\n"}, nil); err != nil {
		t.Fatal(err)
	}
	pc.Faults().FailWrites(syscall.ENOSPC, -1)
	if _, err := in.Ingest(ctx, ingest.Request{Name: "sales", Content: "id\n2\n", Mode: "append"}, nil); err == nil {
		t.Fatal("ingest on a full disk succeeded")
	}
	if m, _ := cat.Get("sales"); len(m.Versions) != 1 {
		t.Errorf("after the failed ingest: %d versions, want 1", len(m.Versions))
	}
	pc.Faults().Clear()
	if _, err := in.Ingest(ctx, ingest.Request{Name: "sales", Content: "id\n3\n", Mode: "append"}, nil); err != nil {
		t.Fatalf("ingest after the fault: %v", err)
	}
	_, cat2, _ := openAt(t, pc.Cut(t))
	if m, err := cat2.Get("sales"); err != nil || len(m.Versions) != 2 || m.Current().Rows != 2 {
		t.Errorf("after the cut: %+v, %v; want 2 versions, 2 rows", m, err)
	}
}
