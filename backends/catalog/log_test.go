package catalog_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"lakehouse/backends/catalog"
	"lakehouse/backends/errs"
	"lakehouse/backends/store"
	"lakehouse/internal/disk/disktest"
)

// hookStore is a store whose writes can be watched or made to fail through
// its function fields; a nil field changes nothing.
type hookStore struct {
	store.Store
	beforePut          func(key string) error                  // an error fails the Put, which writes nothing
	afterPut           func(key string, info store.Info) error // an error fails a Put that was written
	beforeDeletePrefix func(prefix string) error
}

var _ store.Store = (*hookStore)(nil)

func (h *hookStore) Put(ctx context.Context, key string, r io.Reader, contentType string, maxBytes int64) (store.Info, error) {
	if h.beforePut != nil {
		if err := h.beforePut(key); err != nil {
			return store.Info{}, err
		}
	}
	info, err := h.Store.Put(ctx, key, r, contentType, maxBytes)
	if err == nil && h.afterPut != nil {
		err = h.afterPut(key, info)
	}
	return info, err
}

func (h *hookStore) DeletePrefix(ctx context.Context, prefix string) error {
	if h.beforeDeletePrefix != nil {
		if err := h.beforeDeletePrefix(prefix); err != nil {
			return err
		}
	}
	return h.Store.DeletePrefix(ctx, prefix)
}

// errInjected is the failure that hookStore tests inject.
var errInjected = errors.New("injected failure")

// appendVersion returns version n of name appending one file to prev, as an
// ingest in append mode does.
func appendVersion(name string, prev *catalog.Version, n int) catalog.Version {
	v := newVersion(name, n, prev.Rows+1)
	v.Mode = "append"
	v.Files = append(slices.Clone(prev.Files), catalog.DataKey(name, n, len(prev.Files)))
	return v
}

// commitAppends creates dataset name and appends to it until it has n
// versions, and returns the last manifest.
func commitAppends(tb testing.TB, c *catalog.Catalog, name string, n int) *catalog.Manifest {
	tb.Helper()
	m := mustCommit(tb, c, name, newVersion(name, 1, 1))
	for i := 2; i <= n; i++ {
		m = mustCommit(tb, c, name, appendVersion(name, m.Current(), i))
	}
	return m
}

// catalogBytes is the size of everything the catalog stored.
func catalogBytes(tb testing.TB, st store.Store) (total int64, objects int) {
	tb.Helper()
	for after := ""; ; {
		items, next, err := st.List(context.Background(), catalog.ManifestPrefix, after, 0)
		if err != nil {
			tb.Fatal(err)
		}
		for _, it := range items {
			total += it.Size
			objects++
		}
		if next == "" {
			return total, objects
		}
		after = next
	}
}

// wantSame checks that b holds the same datasets and tables as a.
func wantSame(tb testing.TB, a, b *catalog.Catalog) {
	tb.Helper()
	if got, want := asJSON(tb, b.List()), asJSON(tb, a.List()); got != want {
		tb.Errorf("List =\n%s\nwant\n%s", got, want)
	}
	_, got := b.Tables()
	_, want := a.Tables()
	if asJSON(tb, got) != asJSON(tb, want) {
		tb.Errorf("Tables =\n%s\nwant\n%s", asJSON(tb, got), asJSON(tb, want))
	}
}

// TestCatalog_Commit_ThousandAppends proves that after 1,000 appends every
// version still lists exactly the files it was committed with, that a
// commit writes a bounded number of bytes however many versions exist, that
// the stored manifest grows linearly rather than quadratically, and that a
// reopened catalog derives the same file lists.
func TestCatalog_Commit_ThousandAppends(t *testing.T) {
	const n = 1000
	var puts []int64 // bytes of each Put, in order
	st := &hookStore{Store: mustStore(t), afterPut: func(_ string, info store.Info) error {
		puts = append(puts, info.Size)
		return nil
	}}
	c := mustOpen(t, st)
	m := commitAppends(t, c, "events", n)

	if len(puts) != n {
		t.Fatalf("%d commits made %d Puts, want one each", n, len(puts))
	}
	for i, v := range m.Versions {
		want := make([]string, i+1)
		for j := range want {
			want[j] = catalog.DataKey("events", j+1, j)
		}
		if !slices.Equal(v.Files, want) {
			t.Fatalf("version %d has files %v, want %v", v.Version, v.Files, want)
		}
	}
	// Once the first segments are full, a commit writes no more than one
	// did early on: its cost does not grow with the number of versions.
	early, late := slices.Max(puts[100:200]), slices.Max(puts[n-100:])
	if late > early+early/10 {
		t.Errorf("largest Put of the last 100 commits is %d bytes, of commits 100-200 %d: the cost of a commit grows", late, early)
	}
	total, objects := catalogBytes(t, st)
	legacy, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d versions: %d bytes in %d objects; one document listing every version's files would be %d bytes", n, total, objects, len(legacy))
	if perVersion := total / n; perVersion > 600 {
		t.Errorf("the catalog stores %d bytes per version, want at most 600", perVersion)
	}
	wantSame(t, c, mustOpen(t, st))
}

func TestCatalog_Relayout(t *testing.T) {
	eachJournal(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		c := f.open(t)
		m := commitAppends(t, c, "logs", 40)
		before := m.Version(40).Files
		older := asJSON(t, m.Versions[:39])
		g := c.Generation()

		merged := catalog.MergedKey(catalog.DataPrefix+"logs/", 40)
		if merged == catalog.MergedKey(catalog.DataPrefix+"logs/", 40) || !strings.HasPrefix(merged, catalog.DataPrefix+"logs/v40/") {
			t.Fatalf("MergedKey = %q: want a fresh key under %sv40/ each time", merged, catalog.DataPrefix+"logs/")
		}
		layout := append(slices.Clone(before[:30]), merged)
		m, err := c.Relayout(ctx, "logs", 40, before, layout)
		if err != nil {
			t.Fatal(err)
		}
		if c.Generation() <= g {
			t.Error("Relayout did not change the generation")
		}
		if got := m.Version(40).Files; !slices.Equal(got, layout) {
			t.Errorf("version 40 files %v, want %v", got, layout)
		}
		if got := asJSON(t, m.Versions[:39]); got != older {
			t.Errorf("versions 1-39 changed:\n%s\nwant\n%s", got, older)
		}
		v40 := *m.Version(40)
		if v40.Rows != 40 || v40.Bytes != 4000 || v40.Mode != "append" || !m.Updated.Equal(v40.Created) {
			t.Errorf("version 40 after relayout: %+v (updated %v); want its rows, bytes and mode as committed", v40, m.Updated)
		}

		// The next version builds on the new layout.
		m = mustCommit(t, c, "logs", appendVersion("logs", m.Current(), 41))
		if want := append(slices.Clone(layout), catalog.DataKey("logs", 41, 31)); !slices.Equal(m.Current().Files, want) {
			t.Errorf("version 41 files %v, want %v", m.Current().Files, want)
		}
		wantSame(t, c, f.open(t))
	})
}

func TestCatalog_Relayout_Refused(t *testing.T) {
	eachJournal(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		c := f.open(t)
		m := commitAppends(t, c, "logs", 3)
		files := m.Current().Files
		merged := []string{catalog.MergedKey(catalog.DataPrefix+"logs/", 3)}

		_, err := c.Relayout(ctx, "nope", 3, files, merged)
		wantErr(t, err, errs.NotFound, `"nope"`, "list_datasets shows 1 dataset: logs")
		_, err = c.Relayout(ctx, "logs", 9, files, merged)
		wantErr(t, err, errs.NotFound, "no version 9", "1 to 3")
		_, err = c.Relayout(ctx, "logs", 3, files[:2], merged)
		wantErr(t, err, errs.Conflict, "version 3", "changed meanwhile")
		_, err = c.Relayout(ctx, "logs", 3, files, nil)
		wantErr(t, err, errs.Invalid, "at least one file")
		if got := asJSON(t, c.Lookup("logs")); got != asJSON(t, m) {
			t.Errorf("refused relayouts changed the manifest:\n%s\nwant\n%s", got, asJSON(t, m))
		}
	})
}

func TestCatalog_Commit_VersionMustGrow(t *testing.T) {
	eachJournal(t, func(t *testing.T, f *fixture) {
		c := f.open(t)
		m := commitAppends(t, c, "logs", 2)
		_, err := c.Commit(context.Background(), "logs", appendVersion("logs", m.Current(), 2))
		wantErr(t, err, errs.Conflict, `"logs"`, "version 2 cannot follow version 2", "commit the version after")
	})
}

// TestCatalog_Relayout_DeletesNothing proves that a new layout leaves every
// file in the store, for the versions and the queries that read them, also
// after a reopen.
func TestCatalog_Relayout_DeletesNothing(t *testing.T) {
	eachJournal(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		st := f.st
		c := f.open(t)
		m := commitAppends(t, c, "logs", 5)
		old := m.Current().Files
		for _, k := range old {
			mustPut(t, st, k, "parquet")
		}
		merged := catalog.MergedKey(catalog.DataPrefix+"logs/", 5)
		mustPut(t, st, merged, "parquet")
		if _, err := c.Relayout(ctx, "logs", 5, old, []string{merged}); err != nil {
			t.Fatal(err)
		}
		f.open(t)
		for _, k := range append(old, merged) {
			if _, err := st.Stat(ctx, k); err != nil {
				t.Errorf("%s is gone after a relayout and a reopen: %v", k, err)
			}
		}
	})
}

// TestCatalog_Open_LegacyManifest reads manifests that the catalog wrote
// before the log (testdata/legacy, made by that code), rewrites them in the
// log format once, and carries on committing to them.
func TestCatalog_Open_LegacyManifest(t *testing.T) {
	ctx := context.Background()
	st := mustStore(t)
	legacy := map[string]string{}
	root := filepath.Join("testdata", "legacy")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(strings.TrimPrefix(path, root+string(filepath.Separator)))
		legacy[key] = string(body)
		mustPut(t, st, key, string(body))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	c := mustOpen(t, st)
	if d := c.Damaged(); len(d) != 0 {
		t.Fatalf("Damaged = %v", d)
	}
	for key, body := range legacy {
		var want catalog.Manifest
		if err := json.Unmarshal([]byte(body), &want); err != nil {
			t.Fatal(err)
		}
		got, err := c.Get(want.Name)
		if err != nil {
			t.Fatal(err)
		}
		if asJSON(t, got) != asJSON(t, &want) {
			t.Errorf("%s read as\n%s\nwant\n%s", key, asJSON(t, got), asJSON(t, &want))
		}
		r, _, err := st.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		var rewritten map[string]any
		err = json.NewDecoder(r).Decode(&rewritten)
		r.Close()
		if err != nil {
			t.Fatalf("%s after Open: %v", key, err)
		}
		if _, ok := rewritten["versions"]; ok || rewritten["format"] != 2.0 {
			t.Errorf("%s was not rewritten in the log format: format %v, versions listed: %t", key, rewritten["format"], ok)
		}
	}
	again := mustOpen(t, st)
	wantSame(t, c, again)

	m := mustCommit(t, again, "sales", appendVersion("sales", again.Lookup("sales").Current(), 6))
	want := []string{"_datasets/sales/v4/part-0.parquet", "_datasets/sales/v5/part-1.parquet", "_datasets/sales/v6/part-2.parquet"}
	if !slices.Equal(m.Current().Files, want) || len(m.Versions) != 6 {
		t.Errorf("after a commit to a migrated manifest: %d versions, current files %v; want 6 and %v", len(m.Versions), m.Current().Files, want)
	}
	wantSame(t, again, mustOpen(t, st))
}

// TestCatalog_Commit_FailedWrite injects a failed Put into commits at the
// points where the log changes shape (the root, the first segment, the last
// entry of a segment, a new segment): the failed commit is not acknowledged
// and changes nothing in memory, a reopened catalog holds every acknowledged
// version (and the failed one only if its write landed), and the retry works.
func TestCatalog_Commit_FailedWrite(t *testing.T) {
	for _, fail := range []int{1, 2, 33, 34} {
		for _, landed := range []bool{false, true} {
			name := fmt.Sprintf("commit_%d_not_written", fail)
			if landed {
				name = fmt.Sprintf("commit_%d_written", fail)
			}
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				st := &hookStore{Store: mustStore(t)}
				c := mustOpen(t, st)
				if fail > 1 {
					commitAppends(t, c, "logs", fail-1)
				}
				before := asJSON(t, c.List())
				v := newVersion("logs", 1, 1)
				if m := c.Lookup("logs"); m != nil {
					v = appendVersion("logs", m.Current(), fail)
				}
				if landed {
					st.afterPut = func(string, store.Info) error { return errInjected }
				} else {
					st.beforePut = func(string) error { return errInjected }
				}
				_, err := c.Commit(ctx, "logs", v)
				st.beforePut, st.afterPut = nil, nil
				if err == nil || errs.KindOf(err) != nil || !strings.Contains(err.Error(), "injected failure") {
					t.Fatalf("Commit with a failing Put: %v, want a fault naming the failure", err)
				}
				if got := asJSON(t, c.List()); got != before {
					t.Errorf("a failed commit changed the catalog:\n%s\nwant\n%s", got, before)
				}

				reopened := mustOpen(t, st).Lookup("logs")
				versions := 0
				if reopened != nil {
					versions = len(reopened.Versions)
				}
				want := fail - 1
				if landed {
					want = fail
				}
				if versions != want {
					t.Errorf("reopened after the failed commit: %d versions, want %d", versions, want)
				}

				m := mustCommit(t, c, "logs", v)
				m = mustCommit(t, c, "logs", appendVersion("logs", m.Current(), fail+1))
				if len(m.Versions) != fail+1 {
					t.Errorf("after the retry: %d versions, want %d", len(m.Versions), fail+1)
				}
				wantSame(t, c, mustOpen(t, st))
			})
		}
	}
}

// TestCatalog_PowerCut cuts the power after every commit of a growing log,
// keeping only what was fsynced, and checks that the catalog on what is left
// holds every acknowledged version.
func TestCatalog_PowerCut(t *testing.T) {
	dir := t.TempDir()
	cut := disktest.NewPowerCut(t, dir)
	st, err := store.OpenFS(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	c := mustOpen(t, st)
	m := mustCommit(t, c, "logs", newVersion("logs", 1, 1))
	for i := 2; i <= 70; i++ {
		m = mustCommit(t, c, "logs", appendVersion("logs", m.Current(), i))
		after, err := store.OpenFS(filepath.Join(cut.Cut(t), "objects"))
		if err != nil {
			t.Fatal(err)
		}
		got := mustOpen(t, after)
		if d := got.Damaged(); len(d) != 0 {
			t.Fatalf("after a power cut at version %d: damaged %v", i, d)
		}
		wantSame(t, c, got)
	}
}

// TestCatalog_Drop_Interrupted fails a drop after its root is deleted: the
// dataset is gone, a reopened catalog removes the log left behind, and a new
// dataset of that name starts from version 1 with nothing of the old one,
// whether it is created before or after the reopen.
func TestCatalog_Drop_Interrupted(t *testing.T) {
	ctx := context.Background()
	st := &hookStore{Store: mustStore(t)}
	c := mustOpen(t, st)
	commitAppends(t, c, "logs", 40)
	logPrefix := catalog.ManifestPrefix + "logs/"
	st.beforeDeletePrefix = func(prefix string) error {
		if prefix == logPrefix {
			return errInjected
		}
		return nil
	}
	if _, err := c.Drop(ctx, "logs"); err == nil {
		t.Fatal("Drop succeeded with its log undeletable")
	}
	st.beforeDeletePrefix = nil
	if c.Lookup("logs") != nil {
		t.Fatal("the dataset survived a drop that failed after deleting its root")
	}

	t.Run("recreated_in_process", func(t *testing.T) {
		m := mustCommit(t, c, "logs", newVersion("logs", 1, 7))
		if len(m.Versions) != 1 {
			t.Fatalf("recreated dataset has %d versions", len(m.Versions))
		}
		if got := mustOpen(t, st).Lookup("logs"); got == nil || asJSON(t, got) != asJSON(t, m) {
			t.Errorf("reopened recreated dataset = %s, want %s", asJSON(t, got), asJSON(t, m))
		}
		if _, err := c.Drop(ctx, "logs"); err != nil {
			t.Fatal(err)
		}
	})

	commitAppends(t, c, "logs", 40)
	st.beforeDeletePrefix = func(prefix string) error {
		if prefix == logPrefix {
			return errInjected
		}
		return nil
	}
	if _, err := c.Drop(ctx, "logs"); err == nil {
		t.Fatal("Drop succeeded with its log undeletable")
	}
	st.beforeDeletePrefix = nil
	again := mustOpen(t, st)
	if again.Lookup("logs") != nil || len(again.Damaged()) != 0 {
		t.Fatalf("after reopen: dataset %v, damaged %v; want neither", again.Lookup("logs") != nil, again.Damaged())
	}
	if total, objects := catalogBytes(t, st); objects != 0 {
		t.Errorf("%d objects (%d bytes) left under %s after reopen", objects, total, catalog.ManifestPrefix)
	}
	if m := mustCommit(t, again, "logs", newVersion("logs", 1, 7)); len(m.Versions) != 1 {
		t.Errorf("recreated dataset has %d versions", len(m.Versions))
	}
}

// TestCatalog_Open_DamagedLog damages logs in the ways a disk can and checks
// that Open reports the object at fault, skips that dataset only, and keeps
// its objects for a person to look at.
func TestCatalog_Open_DamagedLog(t *testing.T) {
	ctx := context.Background()
	st := mustStore(t)
	c := mustOpen(t, st)
	for _, n := range []string{"gap", "garbled", "renamed", "good"} {
		commitAppends(t, c, n, 70) // three segments each
	}
	mustCommit(t, c, "future", newVersion("future", 1, 1))
	seg := func(name string, n int) string {
		return fmt.Sprintf("%s%s/log-%08d.json", catalog.ManifestPrefix, name, n)
	}
	if err := st.Delete(ctx, seg("gap", 1)); err != nil {
		t.Fatal(err)
	}
	mustPut(t, st, seg("garbled", 2), `{"name": "garbled", "seq": 2, "entries": [`)
	r, _, err := st.Get(ctx, seg("good", 0))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, st, seg("renamed", 0), string(body)) // a segment of another dataset
	mustPut(t, st, catalog.ManifestPrefix+"future.json", `{"format": 9, "id": "x", "name": "future", "entries": [{}]}`)
	mustPut(t, st, catalog.ManifestPrefix+"stray/notes.txt", "not a segment")

	again := mustOpen(t, st)
	wantDamaged := []string{seg("garbled", 2), seg("gap", 1), seg("renamed", 0), catalog.ManifestPrefix + "future.json", catalog.ManifestPrefix + "stray/notes.txt"}
	got := again.Damaged()
	slices.Sort(got)
	slices.Sort(wantDamaged)
	if !slices.Equal(got, wantDamaged) {
		t.Errorf("Damaged = %v, want %v", got, wantDamaged)
	}
	if got := names(again.List()); !slices.Equal(got, []string{"good"}) {
		t.Errorf("List = %v, want only good", got)
	}
	for _, k := range []string{seg("garbled", 0), seg("renamed", 1), catalog.ManifestPrefix + "future.json"} {
		if _, err := st.Stat(ctx, k); err != nil {
			t.Errorf("Open removed %s of a damaged dataset: %v", k, err)
		}
	}
}

// TestCatalog_DamagedIsNotRecreated: creating a dataset whose manifest is
// damaged is refused, so its surviving history is not thrown away; an
// explicit drop discards it, and the name can then be used again.
func TestCatalog_DamagedIsNotRecreated(t *testing.T) {
	ctx := context.Background()
	st := mustStore(t)
	c := mustOpen(t, st)
	commitAppends(t, c, "seg", 70) // three segments
	bad := fmt.Sprintf("%sseg/log-%08d.json", catalog.ManifestPrefix, 1)
	mustPut(t, st, bad, `{"name": "seg", "seq": 1, "entries": [`)

	again := mustOpen(t, st)
	_, err := again.Commit(ctx, "seg", newVersion("seg", 1, 1))
	if !errors.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "damaged manifest") {
		t.Fatalf("Commit over a damaged manifest = %v, want a Conflict saying so", err)
	}
	for _, n := range []int{0, 2} {
		if _, err := st.Stat(ctx, fmt.Sprintf("%sseg/log-%08d.json", catalog.ManifestPrefix, n)); err != nil {
			t.Errorf("segment %d of the damaged dataset is gone: %v", n, err)
		}
	}

	if _, err := again.Drop(ctx, "seg"); err != nil {
		t.Fatalf("Drop of the damaged dataset: %v", err)
	}
	if d := again.Damaged(); len(d) != 0 {
		t.Errorf("Damaged after the drop = %v", d)
	}
	if items, _, _ := st.List(ctx, catalog.ManifestPrefix+"seg", "", 0); len(items) != 0 {
		t.Errorf("left after the drop: %v", items)
	}
	mustCommit(t, again, "seg", newVersion("seg", 1, 1))
	if got := mustOpen(t, st).List(); len(got) != 1 || len(got[0].Versions) != 1 {
		t.Errorf("after recreating: %+v", got)
	}
}
