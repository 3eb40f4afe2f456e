package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"lakehouse/backends/errs"
)

// The contract of [Store], one suite that runs against every
// implementation (TestFS_Contract, TestS3_Contract), so that they cannot
// drift apart.

// contractEnv is how the suite gets a store of one implementation.
type contractEnv struct {
	// open returns a new, empty store, closed when t ends.
	open func(t *testing.T) Store
	// check, if not nil, checks what the implementation keeps besides the
	// objects (no temp files left, say) after each case.
	check func(t *testing.T, st Store)
}

// contractCases are the cases of the suite, by name.
var contractCases = []struct {
	name string
	run  func(t *testing.T, st Store)
}{
	{"PutGetStat", testPutGetStat},
	{"PutEmpty", testPutEmpty},
	{"PutLarge", testPutLarge},
	{"ContentType", testContentType},
	{"Overwrite", testOverwrite},
	{"TooLarge", testTooLarge},
	{"ReadErrorAndCancel", testReadErrorAndCancel},
	{"Conflict", testConflict},
	{"NotFound", testNotFound},
	{"InvalidKeys", testInvalidKeys},
	{"List", testList},
	{"ListOrder", testListOrder},
	{"ListEscaping", testListEscaping},
	{"Delete", testDelete},
	{"DeletePrefix", testDeletePrefix},
	{"OneKeyAtOnce", testOneKeyAtOnce},
	{"Concurrent", testConcurrent},
}

// runContract runs every case of the suite on a store of env's.
func runContract(t *testing.T, env contractEnv) {
	for _, c := range contractCases {
		t.Run(c.name, func(t *testing.T) {
			st := env.open(t)
			c.run(t, st)
			if env.check != nil && !t.Failed() {
				env.check(t, st)
			}
		})
	}
}

func testPutGetStat(t *testing.T, st Store) {
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
}

func testPutEmpty(t *testing.T, st Store) {
	info := mustPut(t, st, "empty", "")
	if info.Size != 0 || info.ETag != sha("") {
		t.Errorf("Put empty = %+v", info)
	}
	if got, _ := mustGet(t, st, "empty"); got != "" {
		t.Errorf("Get = %q", got)
	}
}

// testPutLarge puts a body larger than what is buffered in memory, from a
// reader that cannot seek, at and over the cap.
func testPutLarge(t *testing.T, st Store) {
	ctx := context.Background()
	content := strings.Repeat("0123456789abcdef", 3<<16) // 3 MiB
	n := int64(len(content))
	info, err := st.Put(ctx, "big.bin", iotest.HalfReader(strings.NewReader(content)), "", n)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != n || info.ETag != sha(content) {
		t.Errorf("Put = %+v, want %d bytes with etag %s", info, n, sha(content))
	}
	if got, _ := mustGet(t, st, "big.bin"); got != content {
		t.Errorf("Get: %d bytes, not the content put", len(got))
	}
	_, err = st.Put(ctx, "big.bin", iotest.HalfReader(strings.NewReader(content+"!")), "", n)
	wantKind(t, err, errs.TooLarge, "Put one byte over the cap")
	if got, _ := mustGet(t, st, "big.bin"); got != content {
		t.Error("a refused Put changed the object")
	}
}

func testContentType(t *testing.T, st Store) {
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

func testOverwrite(t *testing.T, st Store) {
	mustPut(t, st, "k", "first version")
	second := mustPut(t, st, "k", "second")
	got, info := mustGet(t, st, "k")
	if got != "second" || info.ETag != sha("second") || info.Size != 6 || info != second {
		t.Errorf("after overwrite: %q %+v, want %q %+v", got, info, "second", second)
	}
}

func testTooLarge(t *testing.T, st Store) {
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
}

func testReadErrorAndCancel(t *testing.T, st Store) {
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
}

func testConflict(t *testing.T, st Store) {
	tests := []struct {
		first, second, msg string
	}{
		{"a", "a/b", `object "a" exists`},
		{"b", "b/c/d", `object "b" exists`},
		{"c/d", "c", `keys under "c/" exist`},
		{"e/f/g", "e", `keys under "e/" exist`},
	}
	for _, tt := range tests {
		mustPut(t, st, tt.first, "first")
		_, err := st.Put(context.Background(), tt.second, strings.NewReader("second"), "", 0)
		wantKind(t, err, errs.Conflict, "Put "+tt.second+" after "+tt.first)
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
	}
}

func testNotFound(t *testing.T, st Store) {
	ctx := context.Background()
	mustPut(t, st, "a/b", "x")
	for _, key := range []string{"missing", "a", "a/b/c", "a/c"} {
		_, _, err := st.Get(ctx, key)
		wantKind(t, err, errs.NotFound, "Get "+key)
		_, err = st.Stat(ctx, key)
		wantKind(t, err, errs.NotFound, "Stat "+key)
	}
}

func testInvalidKeys(t *testing.T, st Store) {
	ctx := context.Background()
	for _, bad := range []string{"a/./b", "a/../b", "/abs", "a//b", "tab\there", ""} {
		_, err := st.Put(ctx, bad, bytes.NewReader(nil), "", 0)
		wantKind(t, err, errs.Invalid, "Put "+bad)
		_, _, err = st.Get(ctx, bad)
		wantKind(t, err, errs.Invalid, "Get "+bad)
		_, err = st.Stat(ctx, bad)
		wantKind(t, err, errs.Invalid, "Stat "+bad)
		wantKind(t, st.Delete(ctx, bad), errs.Invalid, "Delete "+bad)
	}
	_, _, err := st.List(ctx, "a/../", "", 10)
	wantKind(t, err, errs.Invalid, "List with a bad prefix")
}

func testList(t *testing.T, st Store) {
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
	pages := listPages(t, st, "reports/", 10)
	want := [][]string{reports[:10], reports[10:20], reports[20:]}
	if !slices.EqualFunc(pages, want, slices.Equal) {
		t.Errorf("pages = %v, want %v", pages, want)
	}
	items, _, err := st.List(ctx, "reports/", "", 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		stat, err := st.Stat(ctx, it.Key)
		if err != nil || it != stat || it.ETag != sha(it.Key) {
			t.Errorf("List item %+v, Stat %+v (%v): want the same, with the content's etag", it, stat, err)
		}
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

	// No match, a prefix naming a missing folder.
	for _, prefix := range []string{"zzz", "nothing/here/", "reports/r99"} {
		items, next, err := st.List(ctx, prefix, "", 10)
		if err != nil || len(items) != 0 || next != "" {
			t.Errorf("List(%q) = %v, %q, %v, want nothing", prefix, keysOf(items), next, err)
		}
	}
}

// testListOrder checks keys come in string order even where that differs
// from the order of folders on disk: "a.b" < "a/b" because '.' < '/'.
func testListOrder(t *testing.T, st Store) {
	keys := []string{"a/b", "a.b", "a-b", "a0", "a/b.c/d", "a/b-c", "a/bb", "b", "a/a/a/a", "A", "é", "z/z"}
	for _, key := range keys {
		mustPut(t, st, key, key)
	}
	slices.Sort(keys)
	checkPaging(t, st, "", keys)
	// A cursor need not be a stored key.
	for _, after := range []string{"a", "a/", "a/b", "a/b.", "a/bz", "a0", "zz"} {
		items, _, err := st.List(context.Background(), "", after, 100)
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

// testListEscaping pages through keys that URLs and XML must escape.
func testListEscaping(t *testing.T, st Store) {
	keys := []string{
		"esc/with space.txt", "esc/plus+sign", "esc/percent%20not-a-space", "esc/ünïcødé/キー",
		"esc/amp&lt;", "esc/quote'\"", "esc/q?x=1#frag", "esc/tilde~star*", "esc/emoji 🦆", "esc/a+b c/d",
	}
	for _, key := range keys {
		info := mustPut(t, st, key, key)
		if info.Key != key {
			t.Errorf("Put(%q) returned key %q", key, info.Key)
		}
		if got, _ := mustGet(t, st, key); got != key {
			t.Errorf("Get(%q) = %q", key, got)
		}
	}
	slices.Sort(keys)
	checkPaging(t, st, "esc/", keys)
	items, _, err := st.List(context.Background(), "esc/a+b ", "", 10)
	if err != nil || !slices.Equal(keysOf(items), []string{"esc/a+b c/d"}) {
		t.Errorf("List with an escaped prefix = %v, %v", keysOf(items), err)
	}
}

// checkPaging lists prefix whole and at every page size, and wants keys.
func checkPaging(t *testing.T, st Store, prefix string, keys []string) {
	t.Helper()
	items, _, err := st.List(context.Background(), prefix, "", 100)
	if err != nil || !slices.Equal(keysOf(items), keys) {
		t.Fatalf("List(%q) = %v, %v; want %v", prefix, keysOf(items), err, keys)
	}
	for limit := 1; limit <= len(keys); limit++ {
		if got := slices.Concat(listPages(t, st, prefix, limit)...); !slices.Equal(got, keys) {
			t.Errorf("limit %d: paged keys %v, want %v", limit, got, keys)
		}
	}
}

// listPages pages through prefix, limit keys at a time, and returns the
// keys of each page. Each cursor must be the last key of its page.
func listPages(t *testing.T, st Store, prefix string, limit int) [][]string {
	t.Helper()
	var pages [][]string
	after := ""
	for {
		items, next, err := st.List(context.Background(), prefix, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) > limit {
			t.Fatalf("List(limit %d) returned %d items", limit, len(items))
		}
		pages = append(pages, keysOf(items))
		if next == "" {
			return pages
		}
		if len(items) == 0 || next != items[len(items)-1].Key {
			t.Fatalf("next = %q, want the last key of the page %v", next, keysOf(items))
		}
		after = next
	}
}

func testDelete(t *testing.T, st Store) {
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
	if got, _ := mustGet(t, st, "deep/sibling"); got != "y" {
		t.Errorf("sibling = %q", got)
	}
	if err := st.Delete(ctx, "deep/sibling"); err != nil {
		t.Fatal(err)
	}
	// With its keys gone, the folder's name is free for an object.
	mustPut(t, st, "deep", "now an object")
	items, _, err := st.List(ctx, "", "", 10)
	if err != nil || !slices.Equal(keysOf(items), []string{"deep"}) {
		t.Errorf("List after deletes = %v, %v", keysOf(items), err)
	}
}

func testDeletePrefix(t *testing.T, st Store) {
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
	// The folder can be used again, and its name as an object.
	mustPut(t, st, "d/again", "x")
	if err := st.DeletePrefix(ctx, "d/"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, st, "d", "x")
}

// testOneKeyAtOnce puts two contents under one key from many goroutines
// while others read it: every read is one content whole, with its own Info.
func testOneKeyAtOnce(t *testing.T, st Store) {
	ctx := context.Background()
	versions := []string{strings.Repeat("A", 300<<10), strings.Repeat("B", 200<<10) + "tail"}
	mustPut(t, st, "contended", versions[0])
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 10 {
				v := versions[(w+i)%2]
				if _, err := st.Put(ctx, "contended", strings.NewReader(v), "", 0); err != nil {
					t.Errorf("Put: %v", err)
				}
			}
		})
		wg.Go(func() {
			for range 10 {
				got, info, err := readObject(st, "contended")
				if err != nil {
					t.Errorf("Get: %v", err)
					continue
				}
				if !slices.Contains(versions, got) {
					t.Errorf("Get read %d bytes that are neither version", len(got))
				}
				if info.ETag != sha(got) || info.Size != int64(len(got)) {
					t.Errorf("Get read %d bytes with etag %s, Info %+v", len(got), sha(got), info)
				}
			}
		})
	}
	wg.Wait()
}

// testConcurrent runs Puts, Gets, Lists and Deletes of a few keys at once
// (under -race) and checks that every read is self-consistent: the content
// read has the etag and size that came with it.
func testConcurrent(t *testing.T, st Store) {
	ctx := context.Background()
	keys := []string{"c/0", "c/1", "c/2"}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range 40 {
				key := keys[rng.IntN(len(keys))]
				switch rng.IntN(5) {
				case 0, 1:
					content := strings.Repeat(fmt.Sprintf("w%d i%d ", w, i), 1+rng.IntN(3000))
					if _, err := st.Put(ctx, key, strings.NewReader(content), "", 0); err != nil {
						t.Errorf("Put: %v", err)
					}
				case 2, 3:
					data, info, err := readObject(st, key)
					if errors.Is(err, errs.NotFound) {
						continue
					}
					if err != nil || info.ETag != sha(data) || info.Size != int64(len(data)) {
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
	// Whatever survived is consistent.
	for _, key := range keys {
		data, info, err := readObject(st, key)
		if errors.Is(err, errs.NotFound) {
			continue
		}
		if err != nil || info.ETag != sha(data) {
			t.Errorf("%s: etag %s, content hashes to %s (%v)", key, info.ETag, sha(data), err)
		}
	}
}
