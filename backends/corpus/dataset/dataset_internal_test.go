package dataset

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"lakehouse/backends/catalog"
	"lakehouse/backends/embed"
	"lakehouse/backends/errs"
	"lakehouse/backends/ingest"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/store"
	"lakehouse/backends/vector"
)

// testEnv is an Indexer over a real store, catalog, ingest, DuckDB and
// vector indexes in a temp folder, embedding with the hash embedder.
type testEnv struct {
	x     *Indexer
	in    *ingest.Ingester
	sql   *sqlengine.Engine
	vec   *vector.Manager
	emb   *embed.Embedder
	texts *int // texts sent to the embedder
}

func newEnv(tb testing.TB) *testEnv {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	st, err := store.OpenFS(filepath.Join(dir, "objects"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	cat, err := catalog.Open(ctx, st)
	if err != nil {
		tb.Fatal(err)
	}
	in, err := ingest.New(ingest.Config{TempDir: filepath.Join(st.TempDir(), "ingest"), ObjectsDir: st.DataDir()}, cat, st)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { in.Close() })
	views := ingest.Views(cat, st)
	sql, err := sqlengine.New(sqlengine.Config{TempDir: filepath.Join(dir, "duckdb")}, st.Path(strings.TrimSuffix(catalog.DataPrefix, "/")), views)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sql.Close() })
	vec, err := vector.Open(filepath.Join(dir, "vectors"), vector.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { vec.Close() })
	emb, err := embed.New(embed.Config{Provider: "hash"})
	if err != nil {
		tb.Fatal(err)
	}
	e := &testEnv{in: in, sql: sql, vec: vec, emb: emb, texts: new(int)}
	e.x = &Indexer{Catalog: cat, Views: views, SQL: sql, Vectors: vec, Embed: counter{emb, e.texts}, Records: st}
	return e
}

// counter counts the texts it embeds.
type counter struct {
	embed.Batcher
	n *int
}

func (c counter) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	*c.n += len(texts)
	return c.Batcher.Embed(ctx, texts)
}

// ingest loads CSV content into dataset name (mode create, append or
// replace), with the column types given.
func (e *testEnv) ingest(tb testing.TB, name, mode, content string, types map[string]string) {
	tb.Helper()
	req := ingest.Request{Name: name, Mode: mode, Content: content, Format: "csv", Options: ingest.Options{Types: types}}
	if _, err := e.in.Ingest(context.Background(), req, nil); err != nil {
		tb.Fatalf("ingest %s: %v", name, err)
	}
}

// index plans and runs spec into the index named after its dataset,
// creating the index first when it is missing.
func (e *testEnv) index(tb testing.TB, spec Spec, progress Progress) *Result {
	tb.Helper()
	ctx := context.Background()
	p, err := e.x.Plan(ctx, spec)
	if err != nil {
		tb.Fatalf("plan %+v: %v", spec, err)
	}
	if _, err := e.vec.Info(spec.Dataset); errors.Is(err, errs.NotFound) {
		dims, err := e.emb.Dims(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := e.vec.Create(ctx, spec.Dataset, vector.Spec{Dim: dims, Metric: vector.Cosine, Model: e.emb.Model()}); err != nil {
			tb.Fatal(err)
		}
	}
	res, err := e.x.Run(ctx, p, spec.Dataset, progress)
	if err != nil {
		tb.Fatalf("run %+v: %v", spec, err)
	}
	return res
}

// items returns the items of index by id.
func (e *testEnv) items(tb testing.TB, index string, ids ...string) map[string]vector.Item {
	tb.Helper()
	got, err := e.vec.Get(index, ids)
	if err != nil {
		tb.Fatal(err)
	}
	out := make(map[string]vector.Item, len(got))
	for _, it := range got {
		out[it.ID] = it
	}
	return out
}

// query returns the first column of each row of a SQL query.
func (e *testEnv) query(tb testing.TB, q string) []string {
	tb.Helper()
	res, err := e.sql.Query(context.Background(), q, 100000)
	if err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	out := make([]string, len(res.Rows))
	for i, r := range res.Rows {
		out[i] = fmt.Sprint(r[0])
	}
	return out
}

func (e *testEnv) count(tb testing.TB, index string) int {
	tb.Helper()
	info, err := e.vec.Info(index)
	if err != nil {
		tb.Fatal(err)
	}
	return info.Count
}

// Without an id column, a row's id is its content key, a repeat of an equal
// row is told apart by its place, and ids stay the same across runs and
// appends.
func TestIndexer_ContentIDs(t *testing.T) {
	e := newEnv(t)
	e.ingest(t, "films", "", "title,year\nRan,1985\nIkiru,1952\nRan,1985\nRan,1985\n", nil)
	res := e.index(t, Spec{Dataset: "films", TextColumns: []string{"title"}}, nil)
	if res.Rows != 4 || res.Embedded != 4 || e.count(t, "films") != 4 {
		t.Fatalf("first run = %+v, count %d", res, e.count(t, "films"))
	}
	keys := e.query(t, `SELECT left(md5(CAST(to_json(t) AS VARCHAR)), 16) FROM "films" t`)
	ran, ikiru := keys[0], keys[1]
	want := []string{ran, ikiru, ran + "-2", ran + "-3"}
	got := e.items(t, "films", want...)
	if len(got) != 4 || got[ikiru].Text != "Ikiru" || got[ran+"-3"].Text != "Ran" {
		t.Fatalf("items %v = %v", want, got)
	}

	again := e.index(t, Spec{Dataset: "films", TextColumns: []string{"title"}}, nil)
	if again.Unchanged != 4 || again.Embedded != 0 {
		t.Errorf("re-run = %+v, want all 4 unchanged", again)
	}
	// An appended equal row is the fourth Ran; the others keep their ids.
	e.ingest(t, "films", "append", "title,year\nRan,1985\nKagemusha,1980\n", nil)
	again = e.index(t, Spec{Dataset: "films", TextColumns: []string{"title"}}, nil)
	if again.Unchanged != 4 || again.Embedded != 2 || len(e.items(t, "films", ran+"-4")) != 1 || e.count(t, "films") != 6 {
		t.Errorf("after an append = %+v, count %d", again, e.count(t, "films"))
	}
}

// A template places columns (names with spaces too) in a text; a null is
// nothing. Unknown columns and bad braces are the caller's mistake, named.
func TestIndexer_Template(t *testing.T) {
	e := newEnv(t)
	e.ingest(t, "movies", "", "id,Title,Major Genre,Release Date\n1,Seven Samurai,Drama,1954\n2,Ran,,1985\n", nil)
	e.index(t, Spec{Dataset: "movies", IDColumn: "id", TextTemplate: "{Title} ({Major Genre}, {Release Date}) {{x}}"}, nil)
	got := e.items(t, "movies", "1", "2")
	if got["1"].Text != "Seven Samurai (Drama, 1954) {x}" || got["2"].Text != "Ran (, 1985) {x}" {
		t.Errorf("texts = %q, %q", got["1"].Text, got["2"].Text)
	}
	for tmpl, want := range map[string]string{
		"{Title} ({Genre})": `dataset movies has no column "Genre"; its columns are id, Title, Major Genre, Release Date`,
		"{Title":            "not closed",
		"Title}":            "has no {",
		"{}":                "empty {}",
		"no columns":        "names no column",
	} {
		_, err := e.x.Plan(context.Background(), Spec{Dataset: "movies", IDColumn: "id", TextTemplate: tmpl})
		if !errors.Is(err, errs.Invalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("template %q: %v, want an invalid-input error mentioning %q", tmpl, err, want)
		}
	}
}

// Several text columns are embedded together, one per line, nulls left out.
func TestIndexer_TextColumns(t *testing.T) {
	e := newEnv(t)
	e.ingest(t, "notes", "", "id,title,body\n1,Bread,Bake at 220 degrees\n2,,Only a body\n", nil)
	e.index(t, Spec{Dataset: "notes", IDColumn: "id", TextColumns: []string{"title", "body"}}, nil)
	got := e.items(t, "notes", "1", "2")
	if got["1"].Text != "Bread\nBake at 220 degrees" || got["2"].Text != "Only a body" {
		t.Errorf("texts = %q, %q", got["1"].Text, got["2"].Text)
	}
	_, err := e.x.Plan(context.Background(), Spec{Dataset: "notes", IDColumn: "id", TextColumns: []string{"title"}, TextTemplate: "{body}"})
	if !errors.Is(err, errs.Invalid) {
		t.Errorf("text_columns and a template: %v", err)
	}
}

// A JSON string cell is embedded as its plain text, without its quotes; other
// JSON values as their JSON; a JSON id too.
func TestIndexer_JSONColumn(t *testing.T) {
	e := newEnv(t)
	e.ingest(t, "films", "", "id,title\n"+`"""a1""","""Shichinin no samurai"""`+"\n"+`"""a2""","{""en"": ""Ran""}"`+"\n",
		map[string]string{"id": "JSON", "title": "JSON"})
	e.index(t, Spec{Dataset: "films", IDColumn: "id", TextColumns: []string{"title"}}, nil)
	got := e.items(t, "films", "a1", "a2")
	if got["a1"].Text != "Shichinin no samurai" || got["a2"].Text != `{"en": "Ran"}` {
		t.Errorf("texts = %q, %q", got["a1"].Text, got["a2"].Text)
	}
}

// Metadata columns are stored with each item and filter searches.
func TestIndexer_MetadataFilter(t *testing.T) {
	e := newEnv(t)
	e.ingest(t, "notes", "", "id,lang,year,body\n1,en,2019,the cat sat\n2,de,2021,der Zug fährt\n3,en,2023,the dog barks\n4,fr,2024,le chat dort\n", nil)
	e.index(t, Spec{Dataset: "notes", IDColumn: "id", TextColumns: []string{"body"}, MetadataColumns: []string{"lang", "year"}}, nil)
	q, err := e.emb.Embed(context.Background(), []string{"animals"})
	if err != nil {
		t.Fatal(err)
	}
	hits, err := e.vec.Search(context.Background(), "notes", q[0], vector.SearchOptions{
		K: 10, Filter: vector.Filter{"lang": []any{"en", "fr"}, "year": map[string]any{"gte": 2020}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range hits {
		ids = append(ids, h.ID)
	}
	if slices.Sort(ids); !slices.Equal(ids, []string{"3", "4"}) {
		t.Errorf("filtered hits = %v, want 3 and 4", ids)
	}
}

// manyRows is a CSV of n rows whose texts carry tag.
func manyRows(n int, tag string) string {
	var sb strings.Builder
	sb.WriteString("id,body\n")
	for i := range n {
		fmt.Fprintf(&sb, "%d,%s row number %d\n", i, tag, i)
	}
	return sb.String()
}

// An ingest that lands while a run is between pages makes a new version,
// which the run does not read: every row indexed comes from the version
// pinned at the start.
func TestIndexer_IngestMidRun(t *testing.T) {
	e := newEnv(t)
	n := 2*PageRows + 500
	e.ingest(t, "big", "", manyRows(n, "old"), nil)
	pages := 0
	e.x.afterPage = func() {
		if pages++; pages == 1 {
			e.ingest(t, "big", "replace", manyRows(n+100, "new"), nil)
			e.ingest(t, "big", "append", manyRows(10, "newer"), nil)
		}
	}
	p, err := e.x.Plan(context.Background(), Spec{Dataset: "big", IDColumn: "id", TextColumns: []string{"body"}})
	if err != nil {
		t.Fatal(err)
	}
	res := e.index(t, Spec{Dataset: "big", IDColumn: "id", TextColumns: []string{"body"}}, nil)
	if p.Version != 1 || res.Rows != int64(n) || res.Embedded != n || pages != 3 {
		t.Fatalf("run = %+v over version %d in %d pages, want %d rows of version 1 in 3", res, p.Version, pages, n)
	}
	ids := make([]string, 0, n+100)
	for i := range n + 100 {
		ids = append(ids, fmt.Sprint(i))
	}
	for start := 0; start < len(ids); start += vector.MaxBatch {
		for id, it := range e.items(t, "big", ids[start:min(start+vector.MaxBatch, len(ids))]...) {
			if want := "old row number " + id; it.Text != want {
				t.Fatalf("item %s = %q, want %q", id, it.Text, want)
			}
		}
	}
	if c := e.count(t, "big"); c != n {
		t.Errorf("count = %d, want %d", c, n)
	}
}

// A re-run embeds only rows whose text changed; a row whose metadata alone
// changed keeps its vector.
func TestIndexer_RerunEmbedsChangedRows(t *testing.T) {
	e := newEnv(t)
	e.ingest(t, "notes", "", "id,lang,body\n1,en,the cat sat\n2,en,the dog barked\n3,de,der Zug\n", nil)
	spec := Spec{Dataset: "notes", IDColumn: "id", TextColumns: []string{"body"}, MetadataColumns: []string{"lang"}}
	e.index(t, spec, nil)
	before := e.items(t, "notes", "2")["2"].Vector
	*e.texts = 0
	e.ingest(t, "notes", "replace", "id,lang,body\n1,en,a submarine dived\n2,fr,the dog barked\n3,de,der Zug\n", nil)
	res := e.index(t, spec, nil)
	if res.Embedded != 1 || res.Updated != 1 || res.Unchanged != 1 || *e.texts != 1 {
		t.Errorf("re-run = %+v with %d texts embedded, want 1 embedded, 1 updated, 1 unchanged", res, *e.texts)
	}
	got := e.items(t, "notes", "1", "2")
	if got["1"].Text != "a submarine dived" || got["2"].Metadata["lang"] != "fr" || !slices.Equal(got["2"].Vector, before) {
		t.Errorf("items = %v", got)
	}
}

// Progress counts the version's rows read, where clause or not, up to the
// version's row count.
func TestIndexer_ProgressTotal(t *testing.T) {
	e := newEnv(t)
	n := PageRows + 10
	e.ingest(t, "big", "", manyRows(n, "text"), nil)
	var steps [][2]int64
	res := e.index(t, Spec{Dataset: "big", IDColumn: "id", TextColumns: []string{"body"}, Where: "id % 2 = 0"}, func(done, total int64) {
		steps = append(steps, [2]int64{done, total})
	})
	want := [][2]int64{{int64(PageRows), int64(n)}, {int64(n), int64(n)}}
	if !slices.Equal(steps, want) || res.Rows != int64(n+1)/2 {
		t.Errorf("progress %v, rows %d; want %v and %d rows", steps, res.Rows, want, (n+1)/2)
	}
}

func TestParseTemplate(t *testing.T) {
	lits, names, err := parseTemplate("{a}-{b c}{{d}}")
	if err != nil || !slices.Equal(lits, []string{"", "-", "{d}"}) || !slices.Equal(names, []string{"a", "b c"}) {
		t.Errorf("parseTemplate = %q %q %v", lits, names, err)
	}
}

// Rows gone from the dataset, or no longer selected, leave the index; an
// append is not read twice to find that nothing went.
func TestIndexer_GoneRowsLeave(t *testing.T) {
	e := newEnv(t)
	pages := 0
	e.x.afterPage = func() { pages++ }
	spec := Spec{Dataset: "notes", IDColumn: "id", TextColumns: []string{"body"}}
	e.ingest(t, "notes", "", "id,body\n1,the cat\n2,the dog\n3,the bird\n", nil)
	e.index(t, spec, nil)
	e.ingest(t, "notes", "replace", "id,body\n1,the cat\n3,the bird\n4,the fish\n", nil)
	res := e.index(t, spec, nil)
	if res.Deleted != 1 || res.Embedded != 1 || e.count(t, "notes") != 3 || len(e.items(t, "notes", "2")) != 0 {
		t.Errorf("after row 2 went: %+v, count %d", res, e.count(t, "notes"))
	}
	pages = 0
	e.ingest(t, "notes", "append", "id,body\n5,the horse\n", nil)
	res = e.index(t, spec, nil)
	if res.Deleted != 0 || res.Embedded != 1 || pages != 2 {
		t.Errorf("after an append: %+v in %d pages, want 1 embedded in 2 (one per file)", res, pages)
	}
	narrow := spec
	narrow.Where = "id <= 3"
	if res = e.index(t, narrow, nil); res.Deleted != 2 || e.count(t, "notes") != 2 {
		t.Errorf("with where id <= 3: %+v, count %d", res, e.count(t, "notes"))
	}

	// Without an id column, a changed row is a new item and its old one goes.
	films := Spec{Dataset: "films", TextColumns: []string{"title"}}
	e.ingest(t, "films", "", "title,year\nRan,1985\nIkiru,1952\n", nil)
	e.index(t, films, nil)
	e.ingest(t, "films", "replace", "title,year\nRan,1985\nIkiru,1953\n", nil)
	if res = e.index(t, films, nil); res.Deleted != 1 || res.Embedded != 1 || res.Unchanged != 1 || e.count(t, "films") != 2 {
		t.Errorf("after a row changed: %+v, count %d", res, e.count(t, "films"))
	}
}

// A bad where clause is the caller's mistake, with DuckDB's pointer to it,
// and names none of the server's files.
func TestIndexer_BadWhere(t *testing.T) {
	e := newEnv(t)
	e.ingest(t, "notes", "", "id,body\n1,the cat\n", nil)
	for _, id := range []string{"id", ""} {
		for _, w := range []string{"nosuch = 1", "id = "} {
			_, err := e.x.Plan(context.Background(), Spec{Dataset: "notes", IDColumn: id, TextColumns: []string{"body"}, Where: w})
			if !errors.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "LINE") || strings.Contains(err.Error(), "parquet") {
				t.Errorf("where %q (id column %q): %v", w, id, err)
			}
		}
	}
}
