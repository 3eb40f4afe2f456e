package ingest_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"lakehouse/backends/catalog"
	"lakehouse/backends/errs"
	"lakehouse/backends/ingest"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/store"
)

// testEnv is an Ingester over a real store and catalog in a temp folder.
type testEnv struct {
	in  *ingest.Ingester
	cat *catalog.Catalog
	st  *store.FS
	tmp string // the Ingester's TempDir
}

// newEnv opens an Ingester whose path sources may come from allowed.
func newEnv(tb testing.TB, allowed ...string) *testEnv {
	tb.Helper()
	return newEnvWith(tb, func(cfg *ingest.Config) { cfg.AllowedPaths = allowed }, nil)
}

// newEnvWith opens an Ingester whose Config edit changes, and which reaches
// the store through wrap (when not nil).
func newEnvWith(tb testing.TB, edit func(*ingest.Config), wrap func(*store.FS) ingest.Store) *testEnv {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	st, err := store.OpenFS(filepath.Join(dir, "objects"))
	if err != nil {
		tb.Fatal(err)
	}
	cat, err := catalog.Open(ctx, st)
	if err != nil {
		tb.Fatal(err)
	}
	tmp := filepath.Join(st.TempDir(), "ingest")
	cfg := ingest.Config{
		TempDir:    tmp,
		ObjectsDir: st.DataDir(),
		DuckDB:     sqlengine.Config{},
	}
	if edit != nil {
		edit(&cfg)
	}
	var ist ingest.Store = st
	if wrap != nil {
		ist = wrap(st)
	}
	in, err := ingest.New(cfg, cat, ist)
	if err != nil {
		tb.Fatalf("new ingester: %v", err)
	}
	tb.Cleanup(func() { in.Close() })
	return &testEnv{in: in, cat: cat, st: st, tmp: tmp}
}

// mustIngest runs req and fails the test on error.
func (e *testEnv) mustIngest(tb testing.TB, req ingest.Request) *ingest.Result {
	tb.Helper()
	res, err := e.in.Ingest(context.Background(), req, nil)
	if err != nil {
		tb.Fatalf("ingest %s (%s): %v", req.Name, req.Mode, err)
	}
	return res
}

// mustPut stores body as an object.
func (e *testEnv) mustPut(tb testing.TB, key string, body []byte) {
	tb.Helper()
	if _, err := e.st.Put(context.Background(), key, strings.NewReader(string(body)), "", 0); err != nil {
		tb.Fatalf("put %s: %v", key, err)
	}
}

// manifest returns the manifest of name.
func (e *testEnv) manifest(tb testing.TB, name string) *catalog.Manifest {
	tb.Helper()
	m, err := e.cat.Get(name)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// rows reads version n of dataset name (0: the current version) from its
// Parquet files.
func (e *testEnv) rows(tb testing.TB, name string, n int) []string {
	tb.Helper()
	m := e.manifest(tb, name)
	v := m.Current()
	if n != 0 {
		if v = m.Version(n); v == nil {
			tb.Fatalf("%s has no version %d", name, n)
		}
	}
	paths := make([]string, len(v.Files))
	for i, k := range v.Files {
		paths[i] = e.st.Path(k)
	}
	return readParquet(tb, paths...)
}

// wantTempEmpty checks that no ingest left anything in the TempDir.
func (e *testEnv) wantTempEmpty(tb testing.TB) {
	tb.Helper()
	entries, err := os.ReadDir(e.tmp)
	if err != nil {
		tb.Fatal(err)
	}
	for _, d := range entries {
		tb.Errorf("left in the temp folder: %s", d.Name())
	}
}

// plainDB opens an in-memory DuckDB without the ingester's sandbox.
func plainDB(tb testing.TB) *sql.DB {
	tb.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// readParquet returns the rows of the Parquet files, sorted, each as its
// values joined by "|", with NULL for null.
func readParquet(tb testing.TB, paths ...string) []string {
	tb.Helper()
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = sqlString(p)
	}
	q := "SELECT * FROM read_parquet([" + strings.Join(quoted, ", ") + "]) ORDER BY ALL"
	rows, err := plainDB(tb).Query(q)
	if err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
				parts[i] = "NULL"
			case []byte:
				parts[i] = string(v)
			default:
				parts[i] = fmt.Sprint(v)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// mustParquet writes the rows of query as a Parquet file at path.
func mustParquet(tb testing.TB, path, query string) []byte {
	tb.Helper()
	stmt := "COPY (" + query + ") TO " + sqlString(path) + " (FORMAT parquet)"
	if _, err := plainDB(tb).Exec(stmt); err != nil {
		tb.Fatalf("%s: %v", stmt, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// gzipped returns s compressed with gzip.
func gzipped(tb testing.TB, s string) []byte {
	tb.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// mustWrite writes body to the file at path and returns path.
func mustWrite(tb testing.TB, path, body string) string {
	tb.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// cols builds a schema from name, type pairs.
func cols(pairs ...string) []catalog.Column {
	var out []catalog.Column
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, catalog.Column{Name: pairs[i], Type: pairs[i+1]})
	}
	return out
}

// wantErr checks that err is of kind k and that its text holds every part.
func wantErr(tb testing.TB, err error, k *errs.Kind, parts ...string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("no error, want %v", k)
	}
	if !errors.Is(err, k) {
		tb.Fatalf("error %q is of kind %v, want %v", err, errs.KindOf(err), k)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			tb.Errorf("error %q does not contain %q", err, p)
		}
	}
}

// yes and no are values for Options.Header.
// fileShapes returns the keys of files of dataset name without their
// folder and random part ("v2/part-1"), after checking that they are all
// in one folder of an incarnation (see catalog/keys.go).
func fileShapes(tb testing.TB, name string, files []string) []string {
	tb.Helper()
	folder := catalog.FolderOf(name, files)
	out := make([]string, len(files))
	for i, k := range files {
		rest, ok := strings.CutPrefix(k, folder)
		j := strings.LastIndexByte(rest, '-')
		if !ok || folder == catalog.DataPrefix+name+"/" || j < 0 || !strings.HasSuffix(rest, ".parquet") {
			tb.Fatalf("file %q of %q is not in the folder %q of an incarnation, named v<N>/<part>-<random>.parquet", k, name, folder)
		}
		out[i] = rest[:j]
	}
	return out
}

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

// people is the table every format of TestIngest_Formats holds.
const (
	peopleCSV    = "id,name\n1,ann\n2,bob\n"
	peopleTSV    = "id\tname\n1\tann\n2\tbob\n"
	peopleJSON   = `[{"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}]`
	peopleNDJSON = "{\"id\": 1, \"name\": \"ann\"}\n{\"id\": 2, \"name\": \"bob\"}\n"
	peopleQuery  = "SELECT * FROM (VALUES (1::BIGINT, 'ann'), (2, 'bob')) t(id, name)"
)

func TestIngest_Formats(t *testing.T) {
	allowed := t.TempDir()
	e := newEnv(t, allowed)
	parquetPath := filepath.Join(allowed, "people.parquet")
	parquet := mustParquet(t, parquetPath, peopleQuery)
	oddPath := mustWrite(t, filepath.Join(allowed, "people.data"), string(parquet))
	e.mustPut(t, "in/people.csv", []byte(peopleCSV))
	e.mustPut(t, "in/PEOPLE.TSV", []byte(peopleTSV))
	e.mustPut(t, "in/people.ndjson", []byte(peopleNDJSON))
	e.mustPut(t, "in/people.json", []byte(peopleJSON))
	e.mustPut(t, "in/people.parquet", parquet)
	e.mustPut(t, "in/blob-parquet", parquet)
	e.mustPut(t, "in/blob-json", []byte(peopleJSON))
	e.mustPut(t, "in/blob-tsv", []byte(peopleTSV))
	e.mustPut(t, "in/people.csv.gz", gzipped(t, peopleCSV))
	e.mustPut(t, "in/people.ndjson.gz", gzipped(t, peopleNDJSON))
	e.mustPut(t, "in/it's people.csv", []byte(peopleCSV))
	quotedPath := mustWrite(t, filepath.Join(allowed, "it's people.tsv"), peopleTSV)

	for _, tc := range []struct {
		name       string
		req        ingest.Request
		wantFormat string
		wantSource string
	}{
		{"csv", ingest.Request{Content: peopleCSV, Format: "csv"}, "csv", "content"},
		{"csv_upper_format", ingest.Request{Content: peopleCSV, Format: "CSV"}, "csv", "content"},
		{"csv_sniffed", ingest.Request{Content: peopleCSV}, "csv", "content"},
		{"tsv", ingest.Request{Content: peopleTSV, Format: "tsv"}, "tsv", "content"},
		{"tsv_sniffed", ingest.Request{Content: peopleTSV, Format: "auto"}, "tsv", "content"},
		{"json_array", ingest.Request{Content: peopleJSON, Format: "json"}, "json", "content"},
		{"json_sniffed_bracket", ingest.Request{Content: "\n  " + peopleJSON}, "json", "content"},
		{"ndjson", ingest.Request{Content: peopleNDJSON, Format: "ndjson"}, "ndjson", "content"},
		{"ndjson_sniffed_brace", ingest.Request{Content: peopleNDJSON}, "json", "content"},
		{"parquet_path_ext", ingest.Request{Path: parquetPath}, "parquet", "path:" + parquetPath},
		{"parquet_path_sniffed", ingest.Request{Path: oddPath}, "parquet", "path:" + oddPath},
		{"parquet_path_format", ingest.Request{Path: oddPath, Format: "parquet"}, "parquet", "path:" + oddPath},
		{"object_csv_ext", ingest.Request{ObjectKey: "in/people.csv"}, "csv", "object:in/people.csv"},
		{"object_tsv_ext_upper", ingest.Request{ObjectKey: "in/PEOPLE.TSV"}, "tsv", "object:in/PEOPLE.TSV"},
		{"object_ndjson_ext", ingest.Request{ObjectKey: "in/people.ndjson"}, "ndjson", "object:in/people.ndjson"},
		{"object_json_ext", ingest.Request{ObjectKey: "in/people.json"}, "json", "object:in/people.json"},
		{"object_parquet_ext", ingest.Request{ObjectKey: "in/people.parquet"}, "parquet", "object:in/people.parquet"},
		{"object_parquet_sniffed", ingest.Request{ObjectKey: "in/blob-parquet"}, "parquet", "object:in/blob-parquet"},
		{"object_json_sniffed", ingest.Request{ObjectKey: "in/blob-json"}, "json", "object:in/blob-json"},
		{"object_tsv_sniffed", ingest.Request{ObjectKey: "in/blob-tsv"}, "tsv", "object:in/blob-tsv"},
		{"object_csv_gz", ingest.Request{ObjectKey: "in/people.csv.gz"}, "csv", "object:in/people.csv.gz"},
		{"object_ndjson_gz", ingest.Request{ObjectKey: "in/people.ndjson.gz"}, "ndjson", "object:in/people.ndjson.gz"},
		{"object_quote_in_key", ingest.Request{ObjectKey: "in/it's people.csv"}, "csv", "object:in/it's people.csv"},
		{"path_quote_in_name", ingest.Request{Path: quotedPath}, "tsv", "path:" + quotedPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Name = tc.name
			res := e.mustIngest(t, tc.req)
			if res.Name != tc.name || res.Version != 1 || res.Mode != ingest.ModeCreate || res.Unchanged {
				t.Errorf("result %+v, want version 1 of %s, created", res, tc.name)
			}
			if res.Format != tc.wantFormat {
				t.Errorf("format %q, want %q", res.Format, tc.wantFormat)
			}
			if res.Rows != 2 || res.AddedRows != 2 {
				t.Errorf("rows %d, added %d, want 2 and 2", res.Rows, res.AddedRows)
			}
			if want := cols("id", "BIGINT", "name", "VARCHAR"); !slices.Equal(res.Columns, want) {
				t.Errorf("columns %v, want %v", res.Columns, want)
			}
			if got, want := e.rows(t, tc.name, 0), []string{"1|ann", "2|bob"}; !slices.Equal(got, want) {
				t.Errorf("data %q, want %q", got, want)
			}

			v := e.manifest(t, tc.name).Current()
			if v.Source != tc.wantSource || v.Format != tc.wantFormat || v.Options != "" {
				t.Errorf("manifest source %q format %q options %q, want %q %q \"\"", v.Source, v.Format, v.Options, tc.wantSource, tc.wantFormat)
			}
			if got, want := fileShapes(t, tc.name, v.Files), []string{"v1/part-0"}; !slices.Equal(got, want) {
				t.Errorf("files %v, want %v", v.Files, want)
			}
			info, err := e.st.Stat(context.Background(), v.Files[0])
			if err != nil {
				t.Fatal(err)
			}
			if res.Bytes != info.Size || v.Bytes != info.Size || info.Size == 0 {
				t.Errorf("bytes: result %d, manifest %d, file %d", res.Bytes, v.Bytes, info.Size)
			}
			if len(v.SourceSHA) != 64 {
				t.Errorf("source sha256 %q", v.SourceSHA)
			}
		})
	}
	e.wantTempEmpty(t)
}

func TestIngest_UnknownFormat(t *testing.T) {
	e := newEnv(t)
	_, err := e.in.Ingest(context.Background(), ingest.Request{Name: "x", Content: peopleCSV, Format: "xlsx"}, nil)
	wantErr(t, err, errs.Invalid, `"xlsx"`, "csv, tsv, json, ndjson")
	if e.cat.Lookup("x") != nil {
		t.Error("a dataset was created")
	}
}

func TestIngest_CSVOptions(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name     string
		content  string
		opts     ingest.Options
		wantCols []catalog.Column
		wantRows []string
	}{
		{
			name:     "delimiter",
			content:  "a;b\n1;x,y\n2;z\n",
			opts:     ingest.Options{Delimiter: ";"},
			wantCols: cols("a", "BIGINT", "b", "VARCHAR"),
			wantRows: []string{"1|x,y", "2|z"},
		},
		{
			name:     "no_header",
			content:  "a,b\nc,d\n",
			opts:     ingest.Options{Header: no()},
			wantCols: cols("column0", "VARCHAR", "column1", "VARCHAR"),
			wantRows: []string{"a|b", "c|d"},
		},
		{
			name:     "header",
			content:  "a,b\nc,d\n",
			opts:     ingest.Options{Header: yes()},
			wantCols: cols("a", "VARCHAR", "b", "VARCHAR"),
			wantRows: []string{"c|d"},
		},
		{
			name:     "single_quote",
			content:  "id,txt\n1,'x,y'\n2,'it''s'\n",
			opts:     ingest.Options{Quote: "'"},
			wantCols: cols("id", "BIGINT", "txt", "VARCHAR"),
			wantRows: []string{"1|x,y", "2|it's"},
		},
		{
			name:     "null_strings",
			content:  "id,v\n1,NA\n2,5\n3,\n",
			opts:     ingest.Options{NullStrings: []string{"NA", ""}},
			wantCols: cols("id", "BIGINT", "v", "BIGINT"),
			wantRows: []string{"1|NULL", "2|5", "3|NULL"},
		},
		{
			name:     "types_keep_leading_zeros",
			content:  "id,zip\n1,01234\n2,98765\n",
			opts:     ingest.Options{Types: map[string]string{"zip": "VARCHAR"}},
			wantCols: cols("id", "BIGINT", "zip", "VARCHAR"),
			wantRows: []string{"1|01234", "2|98765"},
		},
		{
			name:     "types_override_detection",
			content:  "id,zip\n1,12345\n2,98765\n",
			opts:     ingest.Options{Types: map[string]string{"zip": "VARCHAR"}},
			wantCols: cols("id", "BIGINT", "zip", "VARCHAR"),
			wantRows: []string{"1|12345", "2|98765"},
		},
		{
			name:     "tsv_with_types",
			content:  "id\tamount\n1\t2.5\n2\t4\n",
			opts:     ingest.Options{Delimiter: "\t", Types: map[string]string{"amount": "DOUBLE", "id": "INTEGER"}},
			wantCols: cols("id", "INTEGER", "amount", "DOUBLE"),
			wantRows: []string{"1|2.5", "2|4"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.mustIngest(t, ingest.Request{Name: tc.name, Content: tc.content, Format: "csv", Options: tc.opts})
			if !slices.Equal(res.Columns, tc.wantCols) {
				t.Errorf("columns %v, want %v", res.Columns, tc.wantCols)
			}
			if res.Rows != int64(len(tc.wantRows)) {
				t.Errorf("rows %d, want %d", res.Rows, len(tc.wantRows))
			}
			if got := e.rows(t, tc.name, 0); !slices.Equal(got, tc.wantRows) {
				t.Errorf("data %q, want %q", got, tc.wantRows)
			}
			if v := e.manifest(t, tc.name).Current(); v.Options == "" {
				t.Error("manifest does not record the options")
			}
		})
	}

	// Without the override, the same digits are detected as numbers.
	res := e.mustIngest(t, ingest.Request{Name: "zip_detected", Content: "id,zip\n1,12345\n2,98765\n"})
	if want := cols("id", "BIGINT", "zip", "BIGINT"); !slices.Equal(res.Columns, want) {
		t.Errorf("columns without the override %v, want %v", res.Columns, want)
	}
}

func TestIngest_OptionsOnlyForCSV(t *testing.T) {
	e := newEnv(t)
	parquet := mustParquet(t, filepath.Join(t.TempDir(), "p.parquet"), peopleQuery)
	e.mustPut(t, "in/p.parquet", parquet)
	for _, tc := range []struct {
		name  string
		req   ingest.Request
		parts []string
	}{
		{"json", ingest.Request{Content: peopleJSON, Format: "json", Options: ingest.Options{Delimiter: ";"}}, []string{"options.delimiter", "csv and tsv only", "types, columns, date_format"}},
		{"json_sniffed", ingest.Request{Content: peopleJSON, Options: ingest.Options{Header: yes()}}, []string{"options.header", "csv and tsv only"}},
		{"ndjson", ingest.Request{Content: peopleNDJSON, Format: "ndjson", Options: ingest.Options{NullStrings: []string{"NA"}}}, []string{"options.null_strings", "csv and tsv only"}},
		{"parquet", ingest.Request{ObjectKey: "in/p.parquet", Options: ingest.Options{Types: map[string]string{"id": "VARCHAR"}}}, []string{"options.types", "csv, tsv, json and ndjson only, not parquet", "the options are columns"}},
		{"parquet_dates", ingest.Request{ObjectKey: "in/p.parquet", Options: ingest.Options{DateFormat: "%d/%m/%Y"}}, []string{"options.date_format", "not parquet"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Name = tc.name
			_, err := e.in.Ingest(context.Background(), tc.req, nil)
			wantErr(t, err, errs.Invalid, tc.parts...)
			if e.cat.Lookup(tc.name) != nil {
				t.Error("a dataset was created")
			}
		})
	}
}

func TestIngest_CSVOptions_Refused(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name  string
		opts  ingest.Options
		parts []string
	}{
		{"type_of_missing_column", ingest.Options{Types: map[string]string{"nope": "INTEGER"}}, []string{"nope"}},
		{"unknown_type", ingest.Options{Types: map[string]string{"id": "NOT_A_TYPE"}}, []string{"NOT_A_TYPE"}},
		{"type_that_does_not_fit", ingest.Options{Types: map[string]string{"name": "INTEGER"}}, []string{"ann"}},
		{"quote_in_type", ingest.Options{Types: map[string]string{"id": "INTEGER'); SELECT 1; --"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.in.Ingest(context.Background(), ingest.Request{Name: tc.name, Content: peopleCSV, Options: tc.opts}, nil)
			wantErr(t, err, errs.Invalid, append([]string{"cannot read the csv source (content)"}, tc.parts...)...)
			if e.cat.Lookup(tc.name) != nil {
				t.Error("a dataset was created")
			}
			if strings.Contains(err.Error(), e.tmp) {
				t.Errorf("error shows the temp folder: %s", err)
			}
		})
	}
	e.wantTempEmpty(t)
}

func TestIngest_Modes(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const first = "id,name\n1,a\n2,b\n"

	t.Run("create_twice", func(t *testing.T) {
		e.mustIngest(t, ingest.Request{Name: "twice", Content: first})
		_, err := e.in.Ingest(ctx, ingest.Request{Name: "twice", Content: "id,name\n3,c\n"}, nil)
		wantErr(t, err, errs.Conflict, `"twice"`, "already exists", "append", "replace")
		if m := e.manifest(t, "twice"); len(m.Versions) != 1 {
			t.Errorf("versions %d after a refused create, want 1", len(m.Versions))
		}
	})

	t.Run("append", func(t *testing.T) {
		r1 := e.mustIngest(t, ingest.Request{Name: "app", Content: first})
		res := e.mustIngest(t, ingest.Request{Name: "app", Content: "id,name\n3,c\n", Mode: "append"})
		if res.Version != 2 || res.Mode != ingest.ModeAppend || res.Rows != 3 || res.AddedRows != 1 || res.Unchanged {
			t.Errorf("append result %+v, want version 2, 3 rows, 1 added", res)
		}
		m := e.manifest(t, "app")
		v1, v2 := m.Version(1), m.Version(2)
		if got, want := fileShapes(t, "app", v2.Files), []string{"v1/part-0", "v2/part-1"}; !slices.Equal(got, want) || v2.Files[0] != v1.Files[0] {
			t.Errorf("files of v2 %v, want %v, the first v1's", v2.Files, want)
		}
		if v2.Bytes <= r1.Bytes || v2.Bytes != res.Bytes {
			t.Errorf("bytes of v2 %d (result %d), v1 %d", v2.Bytes, res.Bytes, r1.Bytes)
		}
		var sum int64
		for _, k := range v2.Files {
			info, err := e.st.Stat(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			sum += info.Size
		}
		if v2.Bytes != sum {
			t.Errorf("bytes of v2 %d, files hold %d", v2.Bytes, sum)
		}
		if got, want := e.rows(t, "app", 0), []string{"1|a", "2|b", "3|c"}; !slices.Equal(got, want) {
			t.Errorf("current data %q, want %q", got, want)
		}
		if got, want := e.rows(t, "app", 1), []string{"1|a", "2|b"}; !slices.Equal(got, want) || v1.Rows != 2 {
			t.Errorf("v1 data %q (%d rows), want %q", got, v1.Rows, want)
		}

		res = e.mustIngest(t, ingest.Request{Name: "app", Content: "id,name\n4,d\n5,e\n", Mode: "APPEND"})
		if res.Version != 3 || res.Rows != 5 || res.AddedRows != 2 {
			t.Errorf("second append %+v, want version 3 with 5 rows", res)
		}
		if n := len(e.manifest(t, "app").Current().Files); n != 3 {
			t.Errorf("%d files after two appends, want 3", n)
		}
	})

	t.Run("append_schema_differs", func(t *testing.T) {
		e.mustIngest(t, ingest.Request{Name: "schema", Content: first})
		for _, tc := range []struct {
			name    string
			content string
			parts   []string
		}{
			{"type", "id,name\nx,c\n", []string{"column id is BIGINT in the dataset but VARCHAR in the new data"}},
			{"new_column", "id,name,extra\n3,c,d\n", []string{"column extra (VARCHAR) is new"}},
			{"missing_column", "id\n3\n", []string{"column name (VARCHAR) is missing"}},
			{"order", "name,id\nc,3\n", []string{"different order"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.in.Ingest(ctx, ingest.Request{Name: "schema", Content: tc.content, Mode: "append"}, nil)
				wantErr(t, err, errs.Invalid, append([]string{`"schema"`, "schema differs"}, tc.parts...)...)
			})
		}
		m := e.manifest(t, "schema")
		if len(m.Versions) != 1 {
			t.Errorf("%d versions after refused appends, want 1", len(m.Versions))
		}
		items, _, err := e.st.List(ctx, catalog.DataPrefix+"schema/", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 1 {
			t.Errorf("files of schema: %v, want only v1's", items)
		}
	})

	t.Run("replace", func(t *testing.T) {
		e.mustIngest(t, ingest.Request{Name: "rep", Content: first})
		e.mustIngest(t, ingest.Request{Name: "rep", Content: "id,name\n3,c\n", Mode: "append"})
		res := e.mustIngest(t, ingest.Request{Name: "rep", Content: "id,name\n9,z\n", Mode: "replace"})
		if res.Version != 3 || res.Mode != ingest.ModeReplace || res.Rows != 1 || res.AddedRows != 1 {
			t.Errorf("replace result %+v, want version 3 with 1 row", res)
		}
		v := e.manifest(t, "rep").Current()
		if got, want := fileShapes(t, "rep", v.Files), []string{"v3/part-0"}; !slices.Equal(got, want) {
			t.Errorf("files %v, want %v", v.Files, want)
		}
		if got, want := e.rows(t, "rep", 0), []string{"9|z"}; !slices.Equal(got, want) {
			t.Errorf("data %q, want %q", got, want)
		}
		if got := e.rows(t, "rep", 2); len(got) != 3 {
			t.Errorf("v2 data %q, want its 3 rows kept", got)
		}

		// replace may change the schema.
		res = e.mustIngest(t, ingest.Request{Name: "rep", Content: "x\nhello\n", Mode: "replace"})
		if want := cols("x", "VARCHAR"); res.Version != 4 || !slices.Equal(res.Columns, want) {
			t.Errorf("replace with a new schema: %+v, want version 4 with %v", res, want)
		}
	})

	t.Run("missing_dataset", func(t *testing.T) {
		for _, mode := range []string{"append", "replace"} {
			_, err := e.in.Ingest(ctx, ingest.Request{Name: "nope", Content: first, Mode: mode}, nil)
			wantErr(t, err, errs.NotFound, `"nope"`, mode, "mode create")
		}
		if e.cat.Lookup("nope") != nil {
			t.Error("a dataset was created")
		}
	})

	t.Run("unknown_mode", func(t *testing.T) {
		_, err := e.in.Ingest(ctx, ingest.Request{Name: "upsert", Content: first, Mode: "upsert"}, nil)
		wantErr(t, err, errs.Invalid, `"upsert"`)
	})

	e.wantTempEmpty(t)
}

func TestIngest_Unchanged(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const a = "id,name\n1,a\n2,b\n"
	const b = "id,name\n3,c\n"

	// want checks res against the expected version and unchanged flag, and
	// that the dataset has exactly versions versions.
	want := func(t *testing.T, res *ingest.Result, version int, unchanged bool, rows int64, versions int) {
		t.Helper()
		if res.Version != version || res.Unchanged != unchanged || res.Rows != rows {
			t.Errorf("result: version %d unchanged %t rows %d; want %d %t %d", res.Version, res.Unchanged, res.Rows, version, unchanged, rows)
		}
		if n := len(e.manifest(t, "u").Versions); n != versions {
			t.Errorf("%d versions, want %d", n, versions)
		}
	}

	want(t, e.mustIngest(t, ingest.Request{Name: "u", Content: a}), 1, false, 2, 1)
	gen := e.cat.Generation()

	t.Run("create_again", func(t *testing.T) {
		want(t, e.mustIngest(t, ingest.Request{Name: "u", Content: a}), 1, true, 2, 1)
		if g := e.cat.Generation(); g != gen {
			t.Errorf("generation %d after an unchanged ingest, want %d", g, gen)
		}
	})
	t.Run("same_format_spelt_out", func(t *testing.T) {
		want(t, e.mustIngest(t, ingest.Request{Name: "u", Content: a, Format: "csv"}), 1, true, 2, 1)
	})
	t.Run("append_after_create", func(t *testing.T) {
		want(t, e.mustIngest(t, ingest.Request{Name: "u", Content: a, Mode: "append"}), 1, true, 2, 1)
	})
	t.Run("same_bytes_as_object", func(t *testing.T) {
		e.mustPut(t, "in/a.csv", []byte(a))
		want(t, e.mustIngest(t, ingest.Request{Name: "u", ObjectKey: "in/a.csv", Mode: "append"}), 1, true, 2, 1)
	})
	t.Run("other_options", func(t *testing.T) {
		_, err := e.in.Ingest(ctx, ingest.Request{Name: "u", Content: a, Options: ingest.Options{Header: yes()}}, nil)
		wantErr(t, err, errs.Conflict, "already exists")
		want(t, e.mustIngest(t, ingest.Request{Name: "u", Content: a, Mode: "replace", Options: ingest.Options{Header: yes()}}), 2, false, 2, 2)
		// The same options again are a retry.
		want(t, e.mustIngest(t, ingest.Request{Name: "u", Content: a, Mode: "replace", Options: ingest.Options{Header: yes()}}), 2, true, 2, 2)
	})
	t.Run("append_then_replace", func(t *testing.T) {
		want(t, e.mustIngest(t, ingest.Request{Name: "u", Content: b, Mode: "append"}), 3, false, 3, 3)
		// A retried append adds nothing.
		want(t, e.mustIngest(t, ingest.Request{Name: "u", Content: b, Mode: "append"}), 3, true, 3, 3)
		// Replacing with the appended bytes leaves only them.
		want(t, e.mustIngest(t, ingest.Request{Name: "u", Content: b, Mode: "replace"}), 4, false, 1, 4)
		if got, want := e.rows(t, "u", 0), []string{"3|c"}; !slices.Equal(got, want) {
			t.Errorf("data %q, want %q", got, want)
		}
		// And a retried replace changes nothing.
		want(t, e.mustIngest(t, ingest.Request{Name: "u", Content: b, Mode: "replace"}), 4, true, 1, 4)
	})
	t.Run("older_bytes_are_new", func(t *testing.T) {
		// Only the latest version counts: a's bytes now append again.
		want(t, e.mustIngest(t, ingest.Request{Name: "u", Content: a, Mode: "append"}), 5, false, 3, 5)
	})
	e.wantTempEmpty(t)
}

func TestIngester_ValidateName(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name  string
		valid bool
	}{
		{"sales", true},
		{"_x", true},
		{"a1", true},
		{"sales_2024_q1", true},
		{strings.Repeat("a", 63), true},
		{"", false},
		{"Sales", false},
		{"1abc", false},
		{"a-b", false},
		{"a b", false},
		{"a.b", false},
		{"sales@v1", false},
		{"ümlaut", false},
		{strings.Repeat("a", 64), false},
		{"select", false},
		{"order", false},
		{"table", false},
		{"from", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.in.ValidateName(tc.name)
			if tc.valid {
				if err != nil {
					t.Errorf("ValidateName(%q) = %v, want nil", tc.name, err)
				}
				return
			}
			wantErr(t, err, errs.Invalid, "dataset name")
		})
	}

	// Ingest checks the name before anything else.
	_, err := e.in.Ingest(context.Background(), ingest.Request{Name: "select", Content: peopleCSV}, nil)
	wantErr(t, err, errs.Invalid, "reserved SQL keyword", "select_data")
	if e.cat.Lookup("select") != nil {
		t.Error("a dataset named select was created")
	}
}

func TestIngest_Sources(t *testing.T) {
	root := t.TempDir()
	allowed := filepath.Join(root, "in")
	outside := filepath.Join(root, "out")
	sibling := filepath.Join(root, "in-other") // shares the allowed folder's name as a prefix
	for _, d := range []string{allowed, outside, sibling, filepath.Join(allowed, "folder")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	good := mustWrite(t, filepath.Join(allowed, "good.csv"), peopleCSV)
	mustWrite(t, filepath.Join(allowed, "empty.csv"), "")
	secret := mustWrite(t, filepath.Join(outside, "secret.csv"), "secret\ntopsecret\n")
	mustWrite(t, filepath.Join(sibling, "x.csv"), peopleCSV)
	if err := os.Symlink(secret, filepath.Join(allowed, "link-out.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(good, filepath.Join(allowed, "link-in.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(allowed, "dir-out")); err != nil {
		t.Fatal(err)
	}

	e := newEnv(t, allowed)
	off := newEnv(t) // no allowed paths
	e.mustPut(t, "in/empty.csv", nil)

	for _, tc := range []struct {
		name  string
		env   *testEnv
		req   ingest.Request
		kind  *errs.Kind // nil: the ingest succeeds
		parts []string
	}{
		{"no_source", e, ingest.Request{}, errs.Invalid, []string{"exactly one source", "got 0"}},
		{"empty_content", e, ingest.Request{Content: ""}, errs.Invalid, []string{"exactly one source", "got 0"}},
		{"content_and_object", e, ingest.Request{Content: peopleCSV, ObjectKey: "in/x.csv"}, errs.Invalid, []string{"exactly one source", "got 2"}},
		{"content_and_path", e, ingest.Request{Content: peopleCSV, Path: good}, errs.Invalid, []string{"exactly one source", "got 2"}},
		{"all_three", e, ingest.Request{Content: peopleCSV, ObjectKey: "in/x.csv", Path: good}, errs.Invalid, []string{"exactly one source", "got 3"}},
		{"whitespace_content", e, ingest.Request{Content: " \n\t\r\n "}, errs.Invalid, []string{"content is empty"}},
		{"binary_content", e, ingest.Request{Content: "PAR1\xff\xfe"}, errs.Invalid, []string{"UTF-8", "object_key"}},
		{"missing_object", e, ingest.Request{ObjectKey: "in/missing.csv"}, errs.NotFound, []string{"in/missing.csv"}},
		{"empty_object", e, ingest.Request{ObjectKey: "in/empty.csv"}, errs.Invalid, []string{"in/empty.csv", "empty"}},
		{"bad_object_key", e, ingest.Request{ObjectKey: "../escape.csv"}, errs.Invalid, nil},
		{"path_off", off, ingest.Request{Path: good}, errs.Invalid, []string{"ingest.allowed_paths"}},
		{"relative_path", e, ingest.Request{Path: "in/good.csv"}, errs.Invalid, []string{"absolute"}},
		{"outside", e, ingest.Request{Path: secret}, errs.Invalid, []string{"outside ingest.allowed_paths"}},
		{"dotdot", e, ingest.Request{Path: allowed + "/../out/secret.csv"}, errs.Invalid, []string{"outside ingest.allowed_paths"}},
		{"sibling_prefix", e, ingest.Request{Path: filepath.Join(sibling, "x.csv")}, errs.Invalid, []string{"outside ingest.allowed_paths"}},
		{"symlink_out", e, ingest.Request{Path: filepath.Join(allowed, "link-out.csv")}, errs.Invalid, []string{"outside ingest.allowed_paths"}},
		{"symlinked_dir_out", e, ingest.Request{Path: filepath.Join(allowed, "dir-out", "secret.csv")}, errs.Invalid, []string{"outside ingest.allowed_paths"}},
		{"missing_file", e, ingest.Request{Path: filepath.Join(allowed, "missing.csv")}, errs.NotFound, []string{"missing.csv"}},
		{"empty_file", e, ingest.Request{Path: filepath.Join(allowed, "empty.csv")}, errs.Invalid, []string{"empty.csv", "empty"}},
		{"directory", e, ingest.Request{Path: filepath.Join(allowed, "folder")}, errs.Invalid, []string{"not a regular file"}},
		{"allowed_root", e, ingest.Request{Path: allowed}, errs.Invalid, []string{"not a regular file"}},
		{"good_path", e, ingest.Request{Path: good}, nil, nil},
		{"symlink_in", e, ingest.Request{Path: filepath.Join(allowed, "link-in.csv")}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Name = tc.name
			res, err := tc.env.in.Ingest(context.Background(), tc.req, nil)
			if tc.kind == nil {
				if err != nil {
					t.Fatal(err)
				}
				if res.Rows != 2 {
					t.Errorf("rows %d, want 2", res.Rows)
				}
				if got := tc.env.manifest(t, tc.name).Current().Source; got != "path:"+tc.req.Path {
					t.Errorf("source %q, want the path as given", got)
				}
				return
			}
			wantErr(t, err, tc.kind, tc.parts...)
			if tc.env.cat.Lookup(tc.name) != nil {
				t.Error("a dataset was created")
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Errorf("error %q shows data from outside the allowed paths", err)
			}
		})
	}
	e.wantTempEmpty(t)
	off.wantTempEmpty(t)
}

func TestNew_AllowedPathMissing(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenFS(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Open(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ingest.New(ingest.Config{
		TempDir: filepath.Join(st.TempDir(), "ingest"), ObjectsDir: st.DataDir(),
		AllowedPaths: []string{filepath.Join(dir, "missing")},
	}, cat, st)
	if err == nil || !strings.Contains(err.Error(), "ingest.allowed_paths") {
		t.Errorf("New with a missing allowed path: %v, want an error naming ingest.allowed_paths", err)
	}
}

func TestNew_EmptiesTempDir(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenFS(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(st.TempDir(), "ingest")
	if err := os.MkdirAll(filepath.Join(tmp, "ingest-old"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(tmp, "ingest-old", "part.parquet"), "left by a crash")
	cat, err := catalog.Open(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ingest.Config{TempDir: tmp, ObjectsDir: st.DataDir()}, cat, st)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	(&testEnv{tmp: tmp}).wantTempEmpty(t)
}

func TestIngest_RaggedCSV(t *testing.T) {
	e := newEnv(t)
	_, err := e.in.Ingest(context.Background(), ingest.Request{Name: "ragged", Content: "a,b,c\n1,2,3\n4,5,6\n7,8\n10,11,12\n"}, nil)
	wantErr(t, err, errs.Invalid, "line 4", "Expected Number of Columns: 3 Found: 2")
	msg := err.Error()
	if strings.Contains(msg, e.tmp) {
		t.Errorf("error shows the temp folder %s:\n%s", e.tmp, msg)
	}
	if strings.Contains(msg, "Possible fixes") || strings.Contains(msg, "LINE 1:") {
		t.Errorf("error keeps DuckDB's generic advice or query:\n%s", msg)
	}
	if e.cat.Lookup("ragged") != nil {
		t.Error("a dataset was created")
	}
	e.wantTempEmpty(t)

	// A source the caller named is shown as named, not by its file path.
	e.mustPut(t, "in/ragged.csv", []byte("a,b,c\n1,2,3\n4,5,6\n7,8\n10,11,12\n"))
	_, err = e.in.Ingest(context.Background(), ingest.Request{Name: "ragged", ObjectKey: "in/ragged.csv"}, nil)
	wantErr(t, err, errs.Invalid, "object:in/ragged.csv", "line 4")
	if dataDir := e.st.DataDir(); strings.Contains(err.Error(), dataDir) {
		t.Errorf("error shows the store folder %s:\n%s", dataDir, err)
	}
}

func TestIngest_RaggedCSV_OnlyItsOwnRows(t *testing.T) {
	// One connection, so that both diagnoses surely run on the same DuckDB
	// connection (with the default pool they usually do as well).
	e := newEnvWith(t, func(cfg *ingest.Config) { cfg.DuckDB.MaxConns = 1 }, nil)
	_, err := e.in.Ingest(context.Background(), ingest.Request{Name: "first", Content: "a,b,c\nx,y,z\nonly,two\n"}, nil)
	wantErr(t, err, errs.Invalid, "line 3", "only,two")
	_, err = e.in.Ingest(context.Background(), ingest.Request{Name: "second", Content: "p,q\nr,s\nt,u\nv,w,extra\n"}, nil)
	wantErr(t, err, errs.Invalid, "line 4", "v,w,extra")
	if strings.Contains(err.Error(), "only,two") {
		t.Errorf("the second source's error shows rows of the first:\n%s", err)
	}
}

func TestIngest_ConcurrentAppends(t *testing.T) {
	e := newEnv(t)
	e.mustIngest(t, ingest.Request{Name: "conc", Content: "id,worker\n0,-1\n"})

	const workers = 8
	results := make([]*ingest.Result, workers)
	failures := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			// Worker w appends w+1 rows, so every content differs.
			var b strings.Builder
			b.WriteString("id,worker\n")
			for i := range w + 1 {
				fmt.Fprintf(&b, "%d,%d\n", 100*(w+1)+i, w)
			}
			results[w], failures[w] = e.in.Ingest(context.Background(), ingest.Request{Name: "conc", Content: b.String(), Mode: "append"}, nil)
		})
	}
	wg.Wait()

	wantRows := int64(1)
	var versions []int
	for w := range workers {
		if failures[w] != nil {
			t.Fatalf("worker %d: %v", w, failures[w])
		}
		if results[w].AddedRows != int64(w+1) || results[w].Unchanged {
			t.Errorf("worker %d: %+v, want %d rows added", w, results[w], w+1)
		}
		versions = append(versions, results[w].Version)
		wantRows += int64(w + 1)
	}
	slices.Sort(versions)
	if want := []int{2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(versions, want) {
		t.Errorf("versions made %v, want %v", versions, want)
	}

	m := e.manifest(t, "conc")
	for i, v := range m.Versions {
		if v.Version != i+1 {
			t.Errorf("manifest version %d is at position %d", v.Version, i)
		}
		if len(v.Files) != i+1 {
			t.Errorf("version %d has %d files, want %d", v.Version, len(v.Files), i+1)
		}
	}
	cur := m.Current()
	if cur.Version != 9 || cur.Rows != wantRows {
		t.Errorf("current version %d with %d rows, want 9 with %d", cur.Version, cur.Rows, wantRows)
	}
	if got := e.rows(t, "conc", 0); int64(len(got)) != wantRows {
		t.Errorf("files hold %d rows, want %d", len(got), wantRows)
	}
	e.wantTempEmpty(t)
}

func TestIngest_ParallelDatasets(t *testing.T) {
	e := newEnv(t)
	names := []string{"east", "west"}
	failures := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			ctx := context.Background()
			if _, err := e.in.Ingest(ctx, ingest.Request{Name: name, Content: "k,v\n" + name + ",1\n"}, nil); err != nil {
				failures[i] = err
				return
			}
			for j := 2; j <= 4; j++ {
				content := fmt.Sprintf("k,v\n%s,%d\n", name, j)
				if _, err := e.in.Ingest(ctx, ingest.Request{Name: name, Content: content, Mode: "append"}, nil); err != nil {
					failures[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for i, name := range names {
		if failures[i] != nil {
			t.Fatalf("%s: %v", name, failures[i])
		}
		cur := e.manifest(t, name).Current()
		if cur.Version != 4 || cur.Rows != 4 {
			t.Errorf("%s: version %d with %d rows, want 4 and 4", name, cur.Version, cur.Rows)
		}
		want := []string{name + "|1", name + "|2", name + "|3", name + "|4"}
		if got := e.rows(t, name, 0); !slices.Equal(got, want) {
			t.Errorf("%s: data %q, want %q", name, got, want)
		}
	}
}

func TestIngest_ConcurrentCreates(t *testing.T) {
	e := newEnv(t)
	const n = 4
	run := func(name string, content func(i int) string) ([]*ingest.Result, []error) {
		results := make([]*ingest.Result, n)
		failures := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				results[i], failures[i] = e.in.Ingest(context.Background(), ingest.Request{Name: name, Content: content(i)}, nil)
			})
		}
		wg.Wait()
		return results, failures
	}

	t.Run("same_bytes", func(t *testing.T) {
		results, failures := run("same", func(int) string { return peopleCSV })
		created := 0
		for i := range n {
			if failures[i] != nil {
				t.Fatalf("create %d: %v", i, failures[i])
			}
			if results[i].Version != 1 {
				t.Errorf("create %d: version %d, want 1", i, results[i].Version)
			}
			if !results[i].Unchanged {
				created++
			}
		}
		if created != 1 {
			t.Errorf("%d creates made a version, want 1 (the others unchanged)", created)
		}
		if m := e.manifest(t, "same"); len(m.Versions) != 1 {
			t.Errorf("%d versions, want 1", len(m.Versions))
		}
	})

	t.Run("different_bytes", func(t *testing.T) {
		results, failures := run("diff", func(i int) string { return fmt.Sprintf("id\n%d\n", i) })
		won := -1
		for i := range n {
			switch err := failures[i]; {
			case err == nil:
				if won >= 0 {
					t.Errorf("creates %d and %d both succeeded", won, i)
				}
				won = i
			case !errors.Is(err, errs.Conflict):
				t.Errorf("create %d: %v, want success or conflict", i, err)
			}
		}
		if won < 0 {
			t.Fatal("no create succeeded")
		}
		if results[won].Version != 1 || results[won].Unchanged {
			t.Errorf("winning create: %+v", results[won])
		}
		if got, want := e.rows(t, "diff", 0), []string{fmt.Sprint(won)}; !slices.Equal(got, want) {
			t.Errorf("data %q, want the winner's %q", got, want)
		}
	})
}

// cancelAfterAdopt is a store whose Adopt publishes the file and then
// cancels the ingest, as a client that gives up at the last moment.
type cancelAfterAdopt struct {
	*store.FS
	cancel context.CancelFunc
}

func (s *cancelAfterAdopt) Adopt(ctx context.Context, key, localPath, contentType string) (store.Info, error) {
	info, err := s.FS.Adopt(ctx, key, localPath, contentType)
	s.cancel()
	return info, err
}

func TestIngest_FailedCommit_LeavesNoFiles(t *testing.T) {
	// wantClean checks that a failed ingest into name left neither a
	// dataset nor Parquet files that no manifest refers to.
	wantClean := func(t *testing.T, e *testEnv, name string) {
		t.Helper()
		if e.cat.Lookup(name) != nil {
			t.Error("a dataset was created")
		}
		items, _, err := e.st.List(context.Background(), catalog.DataPrefix+name+"/", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			t.Errorf("file left in the store with no manifest: %s", it.Key)
		}
		e.wantTempEmpty(t)
	}

	t.Run("manifest_cannot_be_written", func(t *testing.T) {
		e := newEnv(t)
		// An object under the manifest's key makes it a folder, so the
		// manifest cannot be stored there.
		e.mustPut(t, catalog.ManifestPrefix+"blocked.json/x", []byte("in the way"))
		_, err := e.in.Ingest(context.Background(), ingest.Request{Name: "blocked", Content: peopleCSV}, nil)
		if err == nil {
			t.Fatal("ingest succeeded with its manifest key blocked")
		}
		wantClean(t, e, "blocked")
	})

	t.Run("cancelled_after_publish", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		e := newEnvWith(t, nil, func(st *store.FS) ingest.Store { return &cancelAfterAdopt{FS: st, cancel: cancel} })
		res, err := e.in.Ingest(ctx, ingest.Request{Name: "late", Content: peopleCSV}, nil)
		if err == nil {
			// Finishing the commit regardless is fine too.
			if res.Version != 1 || e.cat.Lookup("late") == nil {
				t.Errorf("ingest succeeded but made %+v", res)
			}
			return
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
		wantClean(t, e, "late")
	})
}

func TestIngest_AllowedPathIsSymlink(t *testing.T) {
	root := t.TempDir()
	real := filepath.Join(root, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(real, "a.csv"), peopleCSV)
	e := newEnv(t, link)
	for i, p := range []string{filepath.Join(link, "a.csv"), filepath.Join(real, "a.csv")} {
		res := e.mustIngest(t, ingest.Request{Name: fmt.Sprintf("s%d", i), Path: p})
		if res.Rows != 2 {
			t.Errorf("%s: %d rows, want 2", p, res.Rows)
		}
	}
}

func TestIngester_Drop(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.mustIngest(t, ingest.Request{Name: "d", Content: "id\n1\n"})
	e.mustIngest(t, ingest.Request{Name: "d", Content: "id\n2\n", Mode: "append"})

	m, err := e.in.Drop(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "d" || len(m.Versions) != 2 {
		t.Errorf("Drop returned %s with %d versions, want d with 2", m.Name, len(m.Versions))
	}
	if e.cat.Lookup("d") != nil {
		t.Error("dataset still in the catalog")
	}
	items, _, err := e.st.List(ctx, catalog.DataPrefix+"d/", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 0 {
		t.Errorf("files left after drop: %v", items)
	}
	_, err = e.in.Drop(ctx, "d")
	wantErr(t, err, errs.NotFound, `"d"`)

	// The same bytes as before make a new dataset, from version 1.
	res := e.mustIngest(t, ingest.Request{Name: "d", Content: "id\n2\n"})
	if res.Version != 1 || res.Unchanged || res.Rows != 1 {
		t.Errorf("create after drop: %+v, want version 1 with 1 row", res)
	}
	if got, want := e.rows(t, "d", 0), []string{"2"}; !slices.Equal(got, want) {
		t.Errorf("data %q, want %q", got, want)
	}
}

func TestIngester_Drop_DuringAppends(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.mustIngest(t, ingest.Request{Name: "busy", Content: "id\n0\n"})

	var wg sync.WaitGroup
	appendErrs := make([]error, 6)
	for i := range appendErrs {
		wg.Go(func() {
			_, appendErrs[i] = e.in.Ingest(ctx, ingest.Request{Name: "busy", Content: fmt.Sprintf("id\n%d\n", i+1), Mode: "append"}, nil)
		})
	}
	var dropErr error
	wg.Go(func() {
		time.Sleep(time.Duration(len(appendErrs)/2) * 10 * time.Millisecond)
		_, dropErr = e.in.Drop(ctx, "busy")
	})
	wg.Wait()

	if dropErr != nil {
		t.Fatalf("drop: %v", dropErr)
	}
	for i, err := range appendErrs {
		if err != nil && !errors.Is(err, errs.NotFound) {
			t.Errorf("append %d: %v, want success or not found", i, err)
		}
	}
	// Every append either went in before the drop, or found no dataset:
	// none may bring the dataset back or leave files behind.
	if m := e.cat.Lookup("busy"); m != nil {
		t.Errorf("dataset back after drop: %d versions", len(m.Versions))
	}
	items, _, err := e.st.List(ctx, catalog.DataPrefix+"busy/", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 0 {
		t.Errorf("files left after drop: %v", items)
	}
	e.wantTempEmpty(t)
}

// writeBigCSV writes a CSV of n rows under dir.
func writeBigCSV(tb testing.TB, dir string, n int) string {
	tb.Helper()
	p := filepath.Join(dir, "big.csv")
	f, err := os.Create(p)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("id,name,amount,day\n")
	line := make([]byte, 0, 64)
	for i := range n {
		line = strconv.AppendInt(line[:0], int64(i), 10)
		line = append(line, ",name-"...)
		line = strconv.AppendInt(line, int64(i%977), 10)
		line = append(line, ',')
		line = strconv.AppendInt(line, int64(i%10000), 10)
		line = append(line, ".5,2024-01-"...)
		line = strconv.AppendInt(line, int64(10+i%19), 10)
		line = append(line, '\n')
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestIngest_Cancel(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a large CSV")
	}
	allowed := t.TempDir()
	big := writeBigCSV(t, allowed, 2_000_000)
	e := newEnv(t, allowed)

	check := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
		if e.cat.Lookup("big") != nil {
			t.Error("a dataset was created")
		}
		items, _, err := e.st.List(context.Background(), catalog.DataPrefix, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 0 {
			t.Errorf("files left in the store: %v", items)
		}
		e.wantTempEmpty(t)
	}

	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := e.in.Ingest(ctx, ingest.Request{Name: "big", Path: big}, nil)
		check(t, err)
	})

	t.Run("during", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Conversion starts right after the source is ready and takes
		// several hundred milliseconds for this file.
		progress := func(step float64, msg string) {
			if strings.HasPrefix(msg, "source ready") {
				time.AfterFunc(25*time.Millisecond, cancel)
			}
		}
		start := time.Now()
		_, err := e.in.Ingest(ctx, ingest.Request{Name: "big", Path: big}, progress)
		check(t, err)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("cancelled ingest took %v", d)
		}
	})
}

func TestIngest_Progress(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var steps []float64
	var msgs []string
	progress := func(step float64, msg string) {
		mu.Lock()
		defer mu.Unlock()
		steps = append(steps, step)
		msgs = append(msgs, msg)
	}
	if _, err := e.in.Ingest(context.Background(), ingest.Request{Name: "p", Content: peopleCSV}, progress); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(steps) < 2 {
		t.Fatalf("progress called %d times: %q", len(steps), msgs)
	}
	for i := 1; i < len(steps); i++ {
		if steps[i] <= steps[i-1] {
			t.Errorf("step %v after %v (messages %q)", steps[i], steps[i-1], msgs)
		}
	}
	if !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "source ready") }) {
		t.Errorf("no \"source ready\" message in %q", msgs)
	}
	if msgs[0] != "source ready (csv)" {
		t.Errorf("first message %q, want \"source ready (csv)\"", msgs[0])
	}
}

// TestIngest_Body: a streamed body is ingested as content is, a second
// identical one is unchanged, and one over its limit, or empty, is refused
// and leaves nothing behind.
func TestIngest_Body(t *testing.T) {
	e := newEnv(t)
	const csv = "id,name\n1,ada\n2,bob\n"
	res := e.mustIngest(t, ingest.Request{Name: "people", Body: strings.NewReader(csv), MaxBody: int64(len(csv))})
	if res.Rows != 2 || res.Format != "csv" {
		t.Fatalf("body ingest: %+v, want 2 csv rows", res)
	}
	if got := e.rows(t, "people", 0); !slices.Equal(got, []string{"1|ada", "2|bob"}) {
		t.Errorf("rows %v", got)
	}
	again := e.mustIngest(t, ingest.Request{Name: "people", Mode: ingest.ModeReplace, Body: strings.NewReader(csv)})
	if !again.Unchanged || again.Version != 1 {
		t.Errorf("the same body again: %+v, want unchanged at version 1", again)
	}
	_, err := e.in.Ingest(context.Background(), ingest.Request{Name: "big", Body: strings.NewReader(csv), MaxBody: int64(len(csv)) - 1}, nil)
	wantErr(t, err, errs.TooLarge, "over", "bytes")
	_, err = e.in.Ingest(context.Background(), ingest.Request{Name: "empty", Body: strings.NewReader("")}, nil)
	wantErr(t, err, errs.Invalid, "empty")
	_, err = e.in.Ingest(context.Background(), ingest.Request{Name: "two", Body: strings.NewReader(csv), Content: csv}, nil)
	wantErr(t, err, errs.Invalid, "exactly one source")
	e.wantTempEmpty(t)
}
