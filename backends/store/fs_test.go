package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

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
func mustPut(t *testing.T, st *FS, key, content string) Info {
	t.Helper()
	info, err := st.Put(context.Background(), key, strings.NewReader(content), "", 0)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return info
}

// mustGet returns the content and Info of key.
func mustGet(t *testing.T, st *FS, key string) (string, Info) {
	t.Helper()
	r, info, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return string(data), info
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

func TestFS_PutGetStat(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	content := "hello, lakehouse\n"

	put, err := st.Put(ctx, "notes/hello.txt", strings.NewReader(content), "text/plain", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := Info{Key: "notes/hello.txt", Size: int64(len(content)), ETag: sha(content), ContentType: "text/plain"}
	if put.Key != want.Key || put.Size != want.Size || put.ETag != want.ETag || put.ContentType != want.ContentType {
		t.Errorf("Put = %+v, want %+v", put, want)
	}
	if put.Modified.IsZero() {
		t.Error("Put: Modified is zero")
	}

	got, info := mustGet(t, st, "notes/hello.txt")
	if got != content {
		t.Errorf("Get content = %q, want %q", got, content)
	}
	if info != put {
		t.Errorf("Get info = %+v, want %+v", info, put)
	}
	stat, err := st.Stat(ctx, "notes/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	if stat != put {
		t.Errorf("Stat = %+v, want %+v", stat, put)
	}

	// The content file is where Path says, for DuckDB to read.
	data, err := os.ReadFile(st.Path("notes/hello.txt"))
	if err != nil || string(data) != content {
		t.Errorf("reading Path: %q, %v", data, err)
	}
	if p := st.Path("../escape"); p != "" {
		t.Errorf("Path of an invalid key = %q, want \"\"", p)
	}
	if len(tmpEntries(t, st)) != 0 {
		t.Errorf("temp files left after Put: %v", tmpEntries(t, st))
	}
}

func TestFS_Put_Empty(t *testing.T) {
	st := mustOpen(t)
	info := mustPut(t, st, "empty", "")
	if info.Size != 0 || info.ETag != sha("") {
		t.Errorf("Put empty = %+v", info)
	}
	if got, _ := mustGet(t, st, "empty"); got != "" {
		t.Errorf("Get = %q", got)
	}
}

func TestFS_Put_ContentType(t *testing.T) {
	st := mustOpen(t)
	tests := []struct{ key, given, want string }{
		{"given.json", "text/x-custom", "text/x-custom"},
		{"guessed.json", "", "application/json"},
		{"dir/image.png", "", "image/png"},
		{"unknown.zzzz", "", "application/octet-stream"},
		{"no-extension", "", "application/octet-stream"},
	}
	for _, tt := range tests {
		info, err := st.Put(context.Background(), tt.key, strings.NewReader("x"), tt.given, 0)
		if err != nil {
			t.Fatal(err)
		}
		stat, err := st.Stat(context.Background(), tt.key)
		if err != nil {
			t.Fatal(err)
		}
		if info.ContentType != tt.want || stat.ContentType != tt.want {
			t.Errorf("%s: content type put %q, stat %q, want %q", tt.key, info.ContentType, stat.ContentType, tt.want)
		}
	}
}

func TestFS_Put_Overwrite(t *testing.T) {
	st := mustOpen(t)
	mustPut(t, st, "k", "first version")
	second := mustPut(t, st, "k", "second")
	got, info := mustGet(t, st, "k")
	if got != "second" || info.ETag != sha("second") || info.Size != 6 || info != second {
		t.Errorf("after overwrite: %q %+v, want %q %+v", got, info, "second", second)
	}
}

func TestFS_Put_TooLarge(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	mustPut(t, st, "capped", "old")

	_, err := st.Put(ctx, "capped", strings.NewReader("0123456789"), "", 9)
	wantKind(t, err, errs.TooLarge, "Put over the cap")
	if got, info := mustGet(t, st, "capped"); got != "old" || info.ETag != sha("old") {
		t.Errorf("after a refused Put: %q %+v, want the old object", got, info)
	}
	_, err = st.Put(ctx, "new", strings.NewReader("0123456789"), "", 9)
	wantKind(t, err, errs.TooLarge, "Put of a new key over the cap")
	_, err = st.Stat(ctx, "new")
	wantKind(t, err, errs.NotFound, "Stat after a refused Put")

	// Exactly at the cap is fine.
	if _, err := st.Put(ctx, "capped", strings.NewReader("012345678"), "", 9); err != nil {
		t.Errorf("Put at the cap: %v", err)
	}
	if len(tmpEntries(t, st)) != 0 {
		t.Errorf("temp files left: %v", tmpEntries(t, st))
	}
}

func TestFS_Put_ReadErrorAndCancel(t *testing.T) {
	st := mustOpen(t)
	mustPut(t, st, "k", "old")

	boom := errors.New("boom")
	_, err := st.Put(context.Background(), "k", io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(boom)), "", 0)
	if !errors.Is(err, boom) {
		t.Errorf("Put with a failing reader = %v, want %v", err, boom)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = st.Put(ctx, "k", strings.NewReader("new"), "", 0)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a canceled context = %v", err)
	}
	if got, _ := mustGet(t, st, "k"); got != "old" {
		t.Errorf("after failed Puts: %q, want %q", got, "old")
	}
	if len(tmpEntries(t, st)) != 0 {
		t.Errorf("temp files left: %v", tmpEntries(t, st))
	}
}

func TestFS_Put_Conflict(t *testing.T) {
	tests := []struct {
		name, first, second, msg string
	}{
		{"object then child", "a", "a/b", `object "a" exists`},
		{"object then grandchild", "a", "a/b/c", `object "a" exists`},
		{"child then object", "a/b", "a", `keys under "a/" exist`},
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
			if got, _ := mustGet(t, st, tt.first); got != "first" {
				t.Errorf("%s changed to %q", tt.first, got)
			}
			// Once the first key is gone, the second can be stored.
			if err := st.Delete(context.Background(), tt.first); err != nil {
				t.Fatal(err)
			}
			mustPut(t, st, tt.second, "second")
		})
	}
}

func TestFS_Get_NotFound(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	mustPut(t, st, "a/b", "x")
	for _, key := range []string{"missing", "a", "a/b/c", "a/c"} {
		_, _, err := st.Get(ctx, key)
		wantKind(t, err, errs.NotFound, "Get "+key)
		_, err = st.Stat(ctx, key)
		wantKind(t, err, errs.NotFound, "Stat "+key)
	}
	_, _, err := st.Get(ctx, "a/../b")
	wantKind(t, err, errs.Invalid, "Get of an invalid key")
}

func TestFS_List(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	var reports []string
	for i := range 25 {
		key := fmt.Sprintf("reports/r%02d.txt", i)
		reports = append(reports, key)
		mustPut(t, st, key, key)
	}
	for _, key := range []string{"rep-other/x", "repo", "other/y", "_catalog/c.json"} {
		mustPut(t, st, key, key)
	}

	// Page through "reports/" 10 at a time.
	var pages [][]string
	after := ""
	for {
		items, next, err := st.List(ctx, "reports/", after, 10)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, keysOf(items))
		for _, it := range items {
			if it.ETag != sha(it.Key) || it.Size != int64(len(it.Key)) {
				t.Errorf("List item %+v: wrong etag or size", it)
			}
		}
		if next == "" {
			break
		}
		if next != items[len(items)-1].Key {
			t.Errorf("next = %q, want the last key of the page", next)
		}
		after = next
	}
	want := [][]string{reports[:10], reports[10:20], reports[20:]}
	if !slices.EqualFunc(pages, want, slices.Equal) {
		t.Errorf("pages = %v, want %v", pages, want)
	}

	// A page that ends exactly at the last key says there is no more.
	items, next, err := st.List(ctx, "reports/", reports[14], 10)
	if err != nil || !slices.Equal(keysOf(items), reports[15:25]) || next != "" {
		t.Errorf("last full page = %v, %q, %v", keysOf(items), next, err)
	}

	// A prefix may end inside a segment.
	items, _, err = st.List(ctx, "rep", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	wantKeys := append([]string{"rep-other/x", "repo"}, reports...) // "repo" < "reports/"
	if !slices.Equal(keysOf(items), wantKeys) {
		t.Errorf("List(rep) = %v, want %v", keysOf(items), wantKeys)
	}

	// Everything, in key order.
	items, _, err = st.List(ctx, "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	all := append(slices.Clone(wantKeys), "_catalog/c.json", "other/y")
	slices.Sort(all)
	if !slices.Equal(keysOf(items), all) {
		t.Errorf("List() = %v, want %v", keysOf(items), all)
	}

	// No match, a prefix naming a missing folder, and a bad prefix.
	for _, prefix := range []string{"zzz", "nothing/here/", "reports/r99"} {
		items, next, err := st.List(ctx, prefix, "", 10)
		if err != nil || len(items) != 0 || next != "" {
			t.Errorf("List(%q) = %v, %q, %v, want nothing", prefix, keysOf(items), next, err)
		}
	}
	_, _, err = st.List(ctx, "a/../", "", 10)
	wantKind(t, err, errs.Invalid, "List with a bad prefix")
}

// TestFS_List_Order checks keys come in string order even where that differs
// from the order of folders on disk: "a.b" < "a/b" because '.' < '/'.
func TestFS_List_Order(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	keys := []string{"a/b", "a.b", "a-b", "a0", "a/b.c/d", "a/b-c", "a/bb", "b", "a/a/a/a", "A", "é", "z/z"}
	for _, key := range keys {
		mustPut(t, st, key, key)
	}
	slices.Sort(keys)

	// Whole list, and every page size with cursors, and starting after each key.
	items, _, err := st.List(ctx, "", "", 100)
	if err != nil || !slices.Equal(keysOf(items), keys) {
		t.Fatalf("List = %v, %v; want %v", keysOf(items), err, keys)
	}
	for limit := 1; limit <= len(keys); limit++ {
		var got []string
		after := ""
		for {
			items, next, err := st.List(ctx, "", after, limit)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, keysOf(items)...)
			if next == "" {
				break
			}
			after = next
		}
		if !slices.Equal(got, keys) {
			t.Errorf("limit %d: paged keys %v, want %v", limit, got, keys)
		}
	}
	// A cursor need not be a stored key.
	for _, after := range []string{"a", "a/", "a/b", "a/b.", "a/bz", "a0", "zz"} {
		items, _, err := st.List(ctx, "", after, 100)
		var want []string
		for _, k := range keys {
			if k > after {
				want = append(want, k)
			}
		}
		if err != nil || !slices.Equal(keysOf(items), want) {
			t.Errorf("List after %q = %v, %v; want %v", after, keysOf(items), err, want)
		}
	}
}

func TestFS_Delete(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	mustPut(t, st, "deep/er/key", "x")
	mustPut(t, st, "deep/sibling", "y")

	if err := st.Delete(ctx, "deep/er/key"); err != nil {
		t.Fatal(err)
	}
	_, err := st.Stat(ctx, "deep/er/key")
	wantKind(t, err, errs.NotFound, "Stat after Delete")
	wantKind(t, st.Delete(ctx, "deep/er/key"), errs.NotFound, "second Delete")
	wantKind(t, st.Delete(ctx, "deep"), errs.NotFound, "Delete of a folder")
	wantKind(t, st.Delete(ctx, "deep//x"), errs.Invalid, "Delete of an invalid key")

	// Emptied folders are pruned, in data/ and meta/, but not the others.
	for _, dir := range []string{st.dir.Path("data/deep/er"), st.dir.Path("meta/deep/er")} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s still exists (%v)", dir, err)
		}
	}
	if got, _ := mustGet(t, st, "deep/sibling"); got != "y" {
		t.Errorf("sibling = %q", got)
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

func TestFS_DeletePrefix(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	for _, key := range []string{"d/1", "d/2", "d/sub/3", "d.txt", "dd/4", "keep/d/5"} {
		mustPut(t, st, key, key)
	}
	if err := st.DeletePrefix(ctx, "d/"); err != nil {
		t.Fatal(err)
	}
	items, _, err := st.List(ctx, "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"d.txt", "dd/4", "keep/d/5"}; !slices.Equal(keysOf(items), want) {
		t.Errorf("after DeletePrefix: %v, want %v", keysOf(items), want)
	}
	if err := st.DeletePrefix(ctx, "absent/"); err != nil {
		t.Errorf("DeletePrefix of nothing: %v", err)
	}
	// "d.txt/" names no folder; the object "d.txt" is not under it.
	if err := st.DeletePrefix(ctx, "d.txt/"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat(ctx, "d.txt"); err != nil {
		t.Errorf("d.txt: %v", err)
	}
	for _, prefix := range []string{"", "/", "d", "a//", "../", "keep/../"} {
		wantKind(t, st.DeletePrefix(ctx, prefix), errs.Invalid, fmt.Sprintf("DeletePrefix(%q)", prefix))
	}
	if len(tmpEntries(t, st)) != 0 {
		t.Errorf("temp files left: %v", tmpEntries(t, st))
	}
	// The folder can be used again.
	mustPut(t, st, "d/again", "x")
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
}

// TestFS_Concurrent runs Puts, Gets, Lists and Deletes of a few keys at once
// (under -race) and checks that every read is self-consistent: the content
// read has the etag and size that came with it.
func TestFS_Concurrent(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	keys := []string{"c/0", "c/1", "c/2"}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range 100 {
				key := keys[rng.IntN(len(keys))]
				switch rng.IntN(5) {
				case 0, 1:
					content := strings.Repeat(fmt.Sprintf("w%d i%d ", w, i), 1+rng.IntN(3000))
					if _, err := st.Put(ctx, key, strings.NewReader(content), "", 0); err != nil {
						t.Errorf("Put: %v", err)
					}
				case 2, 3:
					r, info, err := st.Get(ctx, key)
					if errors.Is(err, errs.NotFound) {
						continue
					}
					if err != nil {
						t.Errorf("Get: %v", err)
						continue
					}
					data, err := io.ReadAll(r)
					r.Close()
					if err != nil || info.ETag != sha(string(data)) || info.Size != int64(len(data)) {
						t.Errorf("Get %s: %d bytes with %+v (%v)", key, len(data), info, err)
					}
				case 4:
					if rng.IntN(2) == 0 {
						if err := st.Delete(ctx, key); err != nil && !errors.Is(err, errs.NotFound) {
							t.Errorf("Delete: %v", err)
						}
					} else if _, _, err := st.List(ctx, "c/", "", 10); err != nil {
						t.Errorf("List: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	// Whatever survived is consistent, on disk too.
	for _, key := range keys {
		r, info, err := st.Get(ctx, key)
		if errors.Is(err, errs.NotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r)
		r.Close()
		if info.ETag != sha(string(data)) {
			t.Errorf("%s: etag %s, content hashes to %s", key, info.ETag, sha(string(data)))
		}
		if sc, ok := st.readSidecar(key); !ok || sc.ETag != info.ETag {
			t.Errorf("%s: sidecar %+v does not match", key, sc)
		}
	}
	if len(tmpEntries(t, st)) != 0 {
		t.Errorf("temp files left: %v", tmpEntries(t, st))
	}
}

func TestFS_InvalidKeys(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	const bad = "a/./b"
	_, err := st.Put(ctx, bad, bytes.NewReader(nil), "", 0)
	wantKind(t, err, errs.Invalid, "Put")
	_, _, err = st.Get(ctx, bad)
	wantKind(t, err, errs.Invalid, "Get")
	_, err = st.Stat(ctx, bad)
	wantKind(t, err, errs.Invalid, "Stat")
	wantKind(t, st.Delete(ctx, bad), errs.Invalid, "Delete")
	_, err = st.Adopt(ctx, bad, "/nonexistent", "")
	wantKind(t, err, errs.Invalid, "Adopt")
}
