package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"lakehouse/backends/catalog"
	"lakehouse/backends/errs"
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

// TestIngest_ObjectLinks: ingest by object_key refuses an object that is a
// planted link, to a file or through a folder outside the data directory,
// with the store's error naming the link, and reads nothing through it.
func TestIngest_ObjectLinks(t *testing.T) {
	root := t.TempDir()
	st, cat, in := openAt(t, root)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.csv"), []byte("user,password\nroot,hunter2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"linked.csv": filepath.Join(outside, "secret.csv"), "out": outside} {
		if err := os.Symlink(target, st.Path(link)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	for _, key := range []string{"linked.csv", "out/secret.csv"} {
		_, err := in.Ingest(ctx, ingest.Request{Name: "stolen", ObjectKey: key}, nil)
		if !errors.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("ingest of object %s = %v, want a Conflict naming the link", key, err)
		}
	}
	if _, err := cat.Get("stolen"); err == nil {
		t.Error("a dataset was made from a linked object")
	}
}

// TestNew_TempFolderLink: a link planted where the temp folder goes is
// removed, not followed, and ingest then works in a real folder.
func TestNew_TempFolderLink(t *testing.T) {
	root := t.TempDir()
	st, err := store.OpenFS(filepath.Join(root, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	outside := t.TempDir()
	keep := filepath.Join(outside, "keep")
	if err := os.WriteFile(keep, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(st.TempDir(), "ingest")
	if err := os.Symlink(outside, tmp); err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Open(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ingest.Config{TempDir: tmp, ObjectsDir: st.DataDir(), DuckDB: sqlengine.Config{TempDir: filepath.Join(root, "duck")}}, cat, st)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if _, err := in.Ingest(context.Background(), ingest.Request{Name: "t", Content: "a\n1\n"}, nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(tmp); err != nil || !fi.IsDir() {
		t.Errorf("temp folder after New: %v, %v; want a real folder", fi, err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Errorf("the link's target holds %d entries, want its 1", len(entries))
	}
}
