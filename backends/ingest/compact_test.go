package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"lakehouse/backends/catalog"
	"lakehouse/backends/ingest"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/store"
)

// sql opens a SQL engine over e's catalog.
func (e *testEnv) sql(tb testing.TB) *sqlengine.Engine {
	tb.Helper()
	dir := e.st.Path(strings.TrimSuffix(catalog.DataPrefix, "/"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	eng, err := sqlengine.New(sqlengine.Config{TempDir: tb.TempDir()}, dir, ingest.Views(e.cat, e.st))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { eng.Close() })
	return eng
}

// query runs q and returns its rows, each as its values joined by "|".
func query(tb testing.TB, eng *sqlengine.Engine, q string) []string {
	tb.Helper()
	res, err := eng.Query(context.Background(), q, 100_000)
	if err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	out := make([]string, len(res.Rows))
	for i, row := range res.Rows {
		parts := make([]string, len(row))
		for j, v := range row {
			parts[j] = fmt.Sprint(v)
		}
		out[i] = strings.Join(parts, "|")
	}
	return out
}

// reopen opens a new catalog over e's store, as after a crash (e is left
// open), and a new Ingester over it whose Config edit changes; the catalog
// reaches the store through wrap when wrap is not nil. e must be idle.
func (e *testEnv) reopen(tb testing.TB, edit func(*ingest.Config), wrap func(*store.FS) store.Store) *testEnv {
	tb.Helper()
	var cst store.Store = e.st
	if wrap != nil {
		cst = wrap(e.st)
	}
	cat, err := catalog.Open(context.Background(), cst)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := ingest.Config{TempDir: e.tmp, ObjectsDir: e.st.DataDir()}
	if edit != nil {
		edit(&cfg)
	}
	in, err := ingest.New(cfg, cat, e.st)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { in.Close() })
	return &testEnv{in: in, cat: cat, st: e.st, tmp: e.tmp}
}

// rowsCSV is a CSV of the rows with ids from to to-1.
func rowsCSV(from, to int) string {
	var b strings.Builder
	b.WriteString("id,label\n")
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%d,r%d\n", i, i)
	}
	return b.String()
}

// appendRows appends the rows with ids from to to-1 to dataset name,
// creating it when from is 0.
func (e *testEnv) appendRows(tb testing.TB, name string, from, to int) *ingest.Result {
	tb.Helper()
	mode := ingest.ModeAppend
	if from == 0 {
		mode = ingest.ModeCreate
	}
	return e.mustIngest(tb, ingest.Request{Name: name, Content: rowsCSV(from, to), Mode: mode})
}

// wantCounts checks that every version N of dataset name, queried as
// "name@vN", holds the ids 0 to N-1 (each version appended one row), and
// that the current version holds them all.
func wantCounts(tb testing.TB, eng *sqlengine.Engine, name string, n int) {
	tb.Helper()
	for v := 1; v <= n; v++ {
		got := query(tb, eng, fmt.Sprintf(`SELECT count(*), sum(id)::BIGINT, max(id) FROM "%s@v%d"`, name, v))
		if want := fmt.Sprintf("%d|%d|%d", v, v*(v-1)/2, v-1); len(got) != 1 || got[0] != want {
			tb.Fatalf("%s@v%d: count, sum, max = %v, want %s", name, v, got, want)
		}
	}
	if got, want := query(tb, eng, "SELECT count(*) FROM "+name), fmt.Sprint(n); len(got) != 1 || got[0] != want {
		tb.Fatalf("count(*) of %s = %v, want %s", name, got, want)
	}
}

// dataFiles lists the keys of dataset name's Parquet files in the store.
func (e *testEnv) dataFiles(tb testing.TB, name string) []string {
	tb.Helper()
	var keys []string
	for after := ""; ; {
		items, next, err := e.st.List(context.Background(), catalog.DataPrefix+name+"/", after, 0)
		if err != nil {
			tb.Fatal(err)
		}
		for _, it := range items {
			keys = append(keys, it.Key)
		}
		if next == "" {
			return keys
		}
		after = next
	}
}

// TestIngest_ManyAppends makes 200 one-row appends (enough to fill several
// log segments and trigger several compactions; bench/manifest measures
// 1,000) with the default compaction, then checks through SQL that every
// version "events@vN" holds exactly its rows, that compaction kept every
// version's file count and the manifest's bytes bounded, and that a catalog
// reopened without closing the first (a crash) answers the same.
func TestIngest_ManyAppends(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 60
	}
	e := newEnv(t)
	for i := range n {
		if res := e.appendRows(t, "events", i, i+1); res.Version != i+1 || res.Rows != int64(i+1) {
			t.Fatalf("append %d made %+v", i, res)
		}
	}
	e.in.WaitCompactions()

	m := e.manifest(t, "events")
	most := 0
	for _, v := range m.Versions {
		most = max(most, len(v.Files))
	}
	if cur := len(m.Current().Files); cur > ingest.DefaultCompactFiles+1 || most > 2*ingest.DefaultCompactFiles+1 {
		t.Errorf("the current version has %d files and one version %d: compaction did not bound them", cur, most)
	}
	var manifestBytes int64
	items, _, err := e.st.List(context.Background(), catalog.ManifestPrefix, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		manifestBytes += it.Size
	}
	t.Logf("%d appends: %d manifest bytes, current version in %d files, at most %d per version, %d data files", n, manifestBytes, len(m.Current().Files), most, len(e.dataFiles(t, "events")))
	if manifestBytes > int64(n)*1000 {
		t.Errorf("the manifest takes %d bytes for %d versions, over 1000 per version", manifestBytes, n)
	}
	wantCounts(t, e.sql(t), "events", n)
	e.wantTempEmpty(t)

	crashed := e.reopen(t, nil, nil)
	if got := crashed.manifest(t, "events"); len(got.Versions) != n {
		t.Fatalf("reopened: %d versions, want %d", len(got.Versions), n)
	}
	wantCounts(t, crashed.sql(t), "events", n)
}

// TestCompact_SameResults ingests one sequence of appends, a replace and a
// large append into a dataset with compaction off and into one that compacts
// after every 3 small files, and checks that every version answers the same
// rows in the same order, and has the same manifest but for its files.
func TestCompact_SameResults(t *testing.T) {
	off := newEnvWith(t, func(cfg *ingest.Config) { cfg.CompactFiles = -1 }, nil)
	on := newEnvWith(t, func(cfg *ingest.Config) { cfg.CompactFiles, cfg.SmallFileBytes = 3, 4096 }, nil)
	steps := []ingest.Request{{Content: rowsCSV(0, 2)}}
	id := 2
	add := func(rows int, mode string) {
		steps = append(steps, ingest.Request{Content: rowsCSV(id, id+rows), Mode: mode})
		id += rows
	}
	for i := range 10 {
		add(1+i%3, ingest.ModeAppend)
	}
	add(5, ingest.ModeReplace)
	for range 8 {
		add(1, ingest.ModeAppend)
	}
	add(3000, ingest.ModeAppend) // over SmallFileBytes: never merged again
	for range 7 {
		add(2, ingest.ModeAppend)
	}
	for _, e := range []*testEnv{off, on} {
		for _, req := range steps {
			req.Name = "mixed"
			e.mustIngest(t, req)
		}
		e.in.WaitCompactions()
		if _, err := e.in.Compact(context.Background(), "mixed"); err != nil {
			t.Fatal(err)
		}
	}

	offM, onM := off.manifest(t, "mixed"), on.manifest(t, "mixed")
	if len(onM.Current().Files) >= len(offM.Current().Files) {
		t.Fatalf("with compaction the current version has %d files, without %d", len(onM.Current().Files), len(offM.Current().Files))
	}
	big := onM.Version(21).Files[len(onM.Version(21).Files)-1]
	if !slices.Contains(onM.Current().Files, big) {
		t.Errorf("the large file %s was merged: current files %v", big, onM.Current().Files)
	}
	offSQL, onSQL := off.sql(t), on.sql(t)
	for i, ov := range offM.Versions {
		nv := onM.Versions[i]
		ov.Files, nv.Files, ov.Created = nil, nil, nv.Created
		if fmt.Sprintf("%+v", ov) != fmt.Sprintf("%+v", nv) {
			t.Errorf("version %d: with compaction %+v, without %+v", ov.Version, nv, ov)
		}
		q := fmt.Sprintf(`SELECT * FROM "mixed@v%d"`, ov.Version)
		if got, want := query(t, onSQL, q), query(t, offSQL, q); !slices.Equal(got, want) {
			t.Errorf("%s: with compaction %d rows %v…, without %d rows %v…", q, len(got), got[:min(len(got), 5)], len(want), want[:min(len(want), 5)])
		}
	}
	q := "SELECT * FROM mixed"
	if got, want := query(t, onSQL, q), query(t, offSQL, q); !slices.Equal(got, want) {
		t.Errorf("%s differs with compaction: %d rows, without %d", q, len(got), len(want))
	}
	on.wantTempEmpty(t)
}

// TestCompact_EveryFileIsRead compacts again and again and checks that the
// versions before a compaction keep the files they were committed with, that
// the compacted version keeps its own file, and that every file in the
// store is one that some version reads: no compaction leaves a file behind.
func TestCompact_EveryFileIsRead(t *testing.T) {
	ctx := context.Background()
	cfg := func(cfg *ingest.Config) { cfg.CompactFiles = 4 }
	e := newEnvWith(t, cfg, nil)
	for i := range 5 {
		e.appendRows(t, "logs", i, i+1)
	}
	e.in.WaitCompactions() // the fifth file started one
	m := e.manifest(t, "logs")
	cur := m.Current().Files
	if len(cur) != 2 || !strings.Contains(cur[0], "/v5/merged-") || fileShapes(t, "logs", cur[1:])[0] != "v5/part-4" {
		t.Fatalf("after 5 appends with CompactFiles 4, version 5 has files %v, want a merged file and its own", cur)
	}
	for n := 1; n <= 4; n++ {
		want := make([]string, n)
		for i := range want {
			want[i] = fmt.Sprintf("v%d/part-%d", i+1, i)
		}
		if got := fileShapes(t, "logs", m.Version(n).Files); !slices.Equal(got, want) {
			t.Errorf("version %d files %v, want %v as committed", n, got, want)
		}
	}
	if merged, err := e.in.Compact(ctx, "logs"); err != nil || merged != 0 {
		t.Errorf("second Compact = %d, %v; want nothing to do", merged, err)
	}

	for i := 5; i < 40; i++ {
		e.appendRows(t, "logs", i, i+1)
	}
	e.in.WaitCompactions()
	used := map[string]bool{}
	for _, v := range e.manifest(t, "logs").Versions {
		for _, f := range v.Files {
			used[f] = true
		}
	}
	got := e.dataFiles(t, "logs")
	for _, k := range got {
		if !used[k] {
			t.Errorf("%s is in the store but no version reads it", k)
		}
	}
	if len(got) != len(used) {
		t.Errorf("%d files in the store, versions read %d", len(got), len(used))
	}
	wantCounts(t, e.sql(t), "logs", 40)
	wantCounts(t, e.reopen(t, cfg, nil).sql(t), "logs", 40)
	e.wantTempEmpty(t)
}

// failingPuts is a store whose Put fails when its function field says so.
type failingPuts struct {
	*store.FS
	put func(key string) error
}

var _ store.Store = (*failingPuts)(nil)

func (f *failingPuts) Put(ctx context.Context, key string, r io.Reader, contentType string, maxBytes int64) (store.Info, error) {
	if err := f.put(key); err != nil {
		return store.Info{}, err
	}
	return f.FS.Put(ctx, key, r, contentType, maxBytes)
}

// TestCompact_FailedCommit makes the catalog write of a background
// compaction fail: the dataset keeps its files and answers, the merged file
// is taken away, and a later Compact succeeds.
func TestCompact_FailedCommit(t *testing.T) {
	var mu sync.Mutex
	failNext := -1 // catalog Puts to let through before failing one; -1: never fail
	wrap := func(st *store.FS) store.Store {
		return &failingPuts{FS: st, put: func(key string) error {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case failNext < 0:
				return nil
			case failNext > 0:
				failNext--
				return nil
			}
			failNext = -1
			return errors.New("injected failure")
		}}
	}
	cfg := func(cfg *ingest.Config) { cfg.CompactFiles = 3 }
	e := newEnv(t).reopen(t, cfg, wrap)
	for i := range 3 {
		e.appendRows(t, "logs", i, i+1)
	}
	mu.Lock()
	failNext = 1 // the fourth append's commit goes through, its compaction's fails
	mu.Unlock()
	e.appendRows(t, "logs", 3, 4)
	e.in.WaitCompactions()

	m := e.manifest(t, "logs")
	if got := len(m.Current().Files); got != 4 {
		t.Fatalf("after a failed compaction version 4 has %d files, want its 4", got)
	}
	for _, k := range e.dataFiles(t, "logs") {
		if strings.Contains(k, "merged-") {
			t.Errorf("the merged file of the failed compaction is still there: %s", k)
		}
	}
	e.wantTempEmpty(t)
	wantCounts(t, e.sql(t), "logs", 4)
	e = e.reopen(t, cfg, nil)
	if got := e.manifest(t, "logs"); len(got.Current().Files) != 4 {
		t.Errorf("reopened: version 4 has %d files", len(got.Current().Files))
	}

	if merged, err := e.in.Compact(context.Background(), "logs"); err != nil || merged != 3 {
		t.Fatalf("Compact after the failure = %d, %v; want 3 files merged (all but version 4's own)", merged, err)
	}
	wantCounts(t, e.sql(t), "logs", 4)
}

// TestIngest_LegacyManifest rewrites a dataset's manifest in the form the
// catalog wrote before its log (one document listing every version's
// files), then checks that a reopened server answers every version as
// before and appends to it.
func TestIngest_LegacyManifest(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	for i := range 6 {
		e.appendRows(t, "old", i, i+1)
	}
	legacy, err := json.MarshalIndent(e.manifest(t, "old"), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.DeletePrefix(ctx, catalog.ManifestPrefix+"old/"); err != nil {
		t.Fatal(err)
	}
	e.mustPut(t, catalog.ManifestPrefix+"old.json", legacy)

	again := e.reopen(t, nil, nil)
	if d := again.cat.Damaged(); len(d) != 0 {
		t.Fatalf("Damaged = %v", d)
	}
	wantCounts(t, again.sql(t), "old", 6)
	again.appendRows(t, "old", 6, 7)
	wantCounts(t, again.sql(t), "old", 7)
}
