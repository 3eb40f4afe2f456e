package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse/backends/errs"
)

// mustOpen opens a store in a fresh temp folder.
func mustOpen(t *testing.T) *FS {
	t.Helper()
	st, err := OpenFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// mustPut stores content under key with a guessed content type.
func mustPut(t *testing.T, st Store, key, content string) Info {
	t.Helper()
	info, err := st.Put(context.Background(), key, strings.NewReader(content), "", 0)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return info
}

// mustGet returns the content and Info of key.
func mustGet(t *testing.T, st Store, key string) (string, Info) {
	t.Helper()
	data, info, err := readObject(st, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return data, info
}

// readObject returns the content and Info of key; it may run in any goroutine.
func readObject(st Store, key string) (string, Info, error) {
	r, info, err := st.Get(context.Background(), key)
	if err != nil {
		return "", Info{}, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	return string(data), info, err
}

// sha returns the hex sha256 of s, the etag it should have.
func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// keysOf returns the keys of items.
func keysOf(items []Info) []string {
	keys := []string{}
	for _, it := range items {
		keys = append(keys, it.Key)
	}
	return keys
}

// tmpEntries returns the names in the store's temp folder.
func tmpEntries(t *testing.T, st *FS) []string {
	t.Helper()
	entries, err := os.ReadDir(st.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// wantKind fails the test unless err is of kind k.
func wantKind(t *testing.T, err error, k *errs.Kind, what string) {
	t.Helper()
	if !errors.Is(err, k) {
		t.Fatalf("%s: got error %v, want kind %q", what, err, k)
	}
}

func TestFS_Contract(t *testing.T) {
	runContract(t, contractEnv{
		open: func(t *testing.T) Store { return mustOpen(t) },
		check: func(t *testing.T, st Store) {
			fs := st.(*FS)
			if names := tmpEntries(t, fs); len(names) != 0 {
				t.Errorf("temp files left: %v", names)
			}
			// Every object's sidecar is the one made for its content.
			items, _, err := fs.List(context.Background(), "", "", 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				if sc, ok := fs.readSidecar(it.Key); !ok || sc.ETag != it.ETag {
					t.Errorf("%s: sidecar %+v does not match %+v", it.Key, sc, it)
				}
			}
		},
	})
}

func TestFS_Path(t *testing.T) {
	st := mustOpen(t)
	mustPut(t, st, "notes/hello.txt", "hello")
	// The content file is where Path says, for DuckDB to read.
	data, err := os.ReadFile(st.Path("notes/hello.txt"))
	if err != nil || string(data) != "hello" {
		t.Errorf("reading Path: %q, %v", data, err)
	}
	if p := st.Path("../escape"); p != "" {
		t.Errorf("Path of an invalid key = %q, want \"\"", p)
	}
}

// TestFS_Put_SidecarConflict checks the clashes that sidecars add: the
// sidecar of "x" is meta/x.json, which keys under "x.json/" need as a folder.
func TestFS_Put_SidecarConflict(t *testing.T) {
	tests := []struct {
		name, first, second, msg string
	}{
		{"object then sidecar folder", "x", "x.json/y", `metadata would clash with that of object "x"`},
		{"sidecar folder then object", "x.json/y", "x", `keys under "x.json/" exist`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := mustOpen(t)
			mustPut(t, st, tt.first, "first")
			_, err := st.Put(context.Background(), tt.second, strings.NewReader("second"), "", 0)
			wantKind(t, err, errs.Conflict, "Put "+tt.second)
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
			if err := st.Delete(context.Background(), tt.first); err != nil {
				t.Fatal(err)
			}
			mustPut(t, st, tt.second, "second")
		})
	}
}

// TestFS_Delete_Prunes checks that Delete removes the folders it empties,
// in data/ and meta/, and no others.
func TestFS_Delete_Prunes(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	mustPut(t, st, "deep/er/key", "x")
	mustPut(t, st, "deep/sibling", "y")
	if err := st.Delete(ctx, "deep/er/key"); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{st.dir.Path("data/deep/er"), st.dir.Path("meta/deep/er")} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s still exists (%v)", dir, err)
		}
	}
	if err := st.Delete(ctx, "deep/sibling"); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{st.dir.Path(dataDir), st.dir.Path(metaDir)} {
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) != 0 {
			t.Errorf("%s: %d entries left, %v", dir, len(entries), err)
		}
	}
}

func TestFS_Stat_RepairsSidecar(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	mustPut(t, st, "data.json", "old content")

	// Change the content behind the store's back, as a crash between the
	// content and sidecar renames would.
	newer := "new content, longer"
	if err := os.WriteFile(st.Path("data.json"), []byte(newer), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := st.Stat(ctx, "data.json")
	if err != nil {
		t.Fatal(err)
	}
	if info.ETag != sha(newer) || info.Size != int64(len(newer)) || info.ContentType != "application/json" {
		t.Errorf("Stat after change = %+v, want etag of the new content", info)
	}
	// The sidecar was repaired.
	sc, ok := st.readSidecar("data.json")
	if !ok || sc.ETag != sha(newer) {
		t.Errorf("sidecar = %+v, %v; want it repaired", sc, ok)
	}

	// A missing sidecar is worked out again, in Get and List too.
	if err := os.Remove(st.dir.Path(metaName("data.json"))); err != nil {
		t.Fatal(err)
	}
	if got, info := mustGet(t, st, "data.json"); got != newer || info.ETag != sha(newer) {
		t.Errorf("Get without sidecar = %q %+v", got, info)
	}
	if err := os.WriteFile(st.dir.Path(metaName("data.json")), []byte("{torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	items, _, err := st.List(ctx, "", "", 10)
	if err != nil || len(items) != 1 || items[0].ETag != sha(newer) {
		t.Errorf("List with a broken sidecar = %+v, %v", items, err)
	}
}

func TestOpenFS_CleansTemp(t *testing.T) {
	root := t.TempDir()
	st, err := OpenFS(root)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, st, "kept", "x")
	// Leftovers of a crash: a temp file and a half-deleted folder.
	if err := os.WriteFile(filepath.Join(root, "tmp", "put-123"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "tmp", "delete-9", "tree", "a"), 0o755); err != nil {
		t.Fatal(err)
	}

	st, err = OpenFS(root)
	if err != nil {
		t.Fatal(err)
	}
	if names := tmpEntries(t, st); len(names) != 0 {
		t.Errorf("tmp/ after OpenFS: %v", names)
	}
	if got, _ := mustGet(t, st, "kept"); got != "x" {
		t.Errorf("kept = %q", got)
	}
}

func TestFS_Adopt(t *testing.T) {
	root := t.TempDir()
	st, err := OpenFS(filepath.Join(root, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	content := strings.Repeat("parquet bytes ", 1000)
	local := filepath.Join(st.TempDir(), "scratch", "out.parquet")
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(local, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}

	info, err := st.Adopt(ctx, "_datasets/sales/v1/0.parquet", local, "application/vnd.apache.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if info.ETag != sha(content) || info.Size != int64(len(content)) || info.ContentType != "application/vnd.apache.parquet" {
		t.Errorf("Adopt = %+v", info)
	}
	if _, err := os.Stat(local); !os.IsNotExist(err) {
		t.Errorf("the adopted file is still at %s (%v)", local, err)
	}
	got, stat := mustGet(t, st, "_datasets/sales/v1/0.parquet")
	if got != content || stat != info {
		t.Errorf("Get after Adopt = %d bytes, %+v; want %+v", len(got), stat, info)
	}

	// A missing file is an error, and so are a file outside the temp
	// folder and a clashing key.
	if _, err := st.Adopt(ctx, "x", filepath.Join(st.TempDir(), "missing"), ""); err == nil {
		t.Error("Adopt of a missing file succeeded")
	}
	outside := filepath.Join(root, "outside.parquet")
	if err := os.WriteFile(outside, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Adopt(ctx, "y", outside, ""); err == nil {
		t.Error("Adopt of a file outside the temp folder succeeded")
	}
	if err := os.WriteFile(local, []byte("again"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = st.Adopt(ctx, "_datasets/sales/v1/0.parquet/x", local, "")
	wantKind(t, err, errs.Conflict, "Adopt of a clashing key")
	if _, err := os.Stat(local); err != nil {
		t.Errorf("a refused Adopt lost the file: %v", err)
	}
	_, err = st.Adopt(ctx, "a/./b", local, "")
	wantKind(t, err, errs.Invalid, "Adopt of an invalid key")
}
