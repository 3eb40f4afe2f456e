package ingest_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/klauspost/compress/zstd"

	"lakehouse/backends/catalog"
	"lakehouse/backends/errs"
	"lakehouse/backends/ingest"
)

// fixtures is the repository's testdata folder, as an absolute path (path
// sources must be absolute).
func fixtures(tb testing.TB) string {
	tb.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "testdata"))
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

// fixture reads a file of the testdata folder.
func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures(tb), name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// describe returns the columns of the current version of dataset name as a
// plain DuckDB reads them from the store's Parquet files.
func (e *testEnv) describe(tb testing.TB, name string) []catalog.Column {
	tb.Helper()
	v := e.manifest(tb, name).Current()
	quoted := make([]string, len(v.Files))
	for i, k := range v.Files {
		quoted[i] = sqlString(e.st.Path(k))
	}
	rows, err := plainDB(tb).Query("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet([" + strings.Join(quoted, ", ") + "]))")
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []catalog.Column
	for rows.Next() {
		var c catalog.Column
		if err := rows.Scan(&c.Name, &c.Type); err != nil {
			tb.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// queryParquet runs a query over the current version of dataset name,
// which it names t, with a plain DuckDB, and returns its rows as
// readParquet does.
func (e *testEnv) queryParquet(tb testing.TB, name, query string) []string {
	tb.Helper()
	v := e.manifest(tb, name).Current()
	quoted := make([]string, len(v.Files))
	for i, k := range v.Files {
		quoted[i] = sqlString(e.st.Path(k))
	}
	db := plainDB(tb)
	if _, err := db.Exec("CREATE VIEW t AS SELECT * FROM read_parquet([" + strings.Join(quoted, ", ") + "])"); err != nil {
		tb.Fatal(err)
	}
	rows, err := db.Query(query)
	if err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s *string
		if err := rows.Scan(&s); err != nil {
			tb.Fatal(err)
		}
		if s == nil {
			out = append(out, "NULL")
		} else {
			out = append(out, *s)
		}
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// wantColumns checks the columns of the result and of the stored Parquet.
func (e *testEnv) wantColumns(tb testing.TB, res *ingest.Result, want []catalog.Column) {
	tb.Helper()
	if !slices.Equal(res.Columns, want) {
		tb.Errorf("result columns %v, want %v", res.Columns, want)
	}
	if got := e.describe(tb, res.Name); !slices.Equal(got, want) {
		tb.Errorf("stored columns %v, want %v", got, want)
	}
}

// wantWidened checks the widenings of res by column, from and to (the
// reason only by the parts it must hold).
func wantWidened(tb testing.TB, res *ingest.Result, want ...ingest.Widening) {
	tb.Helper()
	if len(res.Widened) != len(want) {
		tb.Errorf("widened %+v, want %d columns: %+v", res.Widened, len(want), want)
		return
	}
	for i, w := range want {
		got := res.Widened[i]
		if got.Column != w.Column || got.From != w.From || got.To != w.To || !strings.Contains(got.Reason, w.Reason) {
			tb.Errorf("widened[%d] = %+v, want %+v", i, got, w)
		}
	}
}

// The movies fixture: nine of its twenty titles are numbers, one rating is
// "N/A", and Info mixes objects, arrays, a string and a null.
func TestIngest_MixedJSON(t *testing.T) {
	dir := fixtures(t)
	e := newEnv(t, dir)
	movies := filepath.Join(dir, "movies_mixed.json")
	moviesCols := cols("Title", "VARCHAR", "Year", "BIGINT", "Released", "VARCHAR", "Rating", "VARCHAR", "Genre", "VARCHAR[]", "Info", "JSON")
	titleWidened := ingest.Widening{Column: "Title", From: "VARCHAR, BIGINT", To: "VARCHAR", Reason: "11 VARCHAR, 9 BIGINT"}
	ratingWidened := ingest.Widening{Column: "Rating", From: "DOUBLE, VARCHAR", To: "VARCHAR", Reason: "19 DOUBLE, 1 VARCHAR"}
	infoWidened := ingest.Widening{Column: "Info", From: "OBJECT, ARRAY, VARCHAR", To: "JSON", Reason: "objects or arrays"}

	t.Run("widened", func(t *testing.T) {
		res := e.mustIngest(t, ingest.Request{Name: "movies", Path: movies})
		if res.Format != "json" || res.Rows != 20 || res.Compression != "" {
			t.Errorf("format %q, rows %d, compression %q; want json, 20, none", res.Format, res.Rows, res.Compression)
		}
		e.wantColumns(t, res, moviesCols)
		wantWidened(t, res, titleWidened, ratingWidened, infoWidened)
		if got := e.queryParquet(t, "movies", "SELECT Year::VARCHAR FROM t WHERE Title = 'Avatar'"); !slices.Equal(got, []string{"2009"}) {
			t.Errorf("Avatar's year: %q", got)
		}
		if got := e.queryParquet(t, "movies", "SELECT Year::VARCHAR FROM t WHERE Title = '300'"); !slices.Equal(got, []string{"2006"}) {
			t.Errorf("300's year: %q, want the number title stored as its text", got)
		}
		if got := e.queryParquet(t, "movies", `SELECT count(*)::VARCHAR FROM t WHERE Title LIKE '%"%' OR Rating LIKE '%"%'`); !slices.Equal(got, []string{"0"}) {
			t.Errorf("%s values carry quotes", got)
		}
		if got := e.queryParquet(t, "movies", "SELECT Info->>'studio' FROM t WHERE Title = 'Up'"); !slices.Equal(got, []string{"Pixar"}) {
			t.Errorf("Info of Up: %q, want it structured", got)
		}
	})
	t.Run("types_keep_json", func(t *testing.T) {
		res := e.mustIngest(t, ingest.Request{Name: "movies_json", Path: movies, Options: ingest.Options{Types: map[string]string{"Title": "JSON", "Year": "INTEGER"}}})
		e.wantColumns(t, res, cols("Title", "JSON", "Year", "INTEGER", "Released", "VARCHAR", "Rating", "VARCHAR", "Genre", "VARCHAR[]", "Info", "JSON"))
		wantWidened(t, res, ratingWidened, infoWidened)
		if got := e.queryParquet(t, "movies_json", "SELECT Title::VARCHAR FROM t WHERE Year = 2019"); !slices.Equal(got, []string{"1917"}) {
			t.Errorf("title of 2019: %q", got)
		}
	})
	t.Run("date_format", func(t *testing.T) {
		res := e.mustIngest(t, ingest.Request{Name: "movies_dates", Path: movies, Options: ingest.Options{DateFormat: "%b %d %Y"}})
		e.wantColumns(t, res, cols("Title", "VARCHAR", "Year", "BIGINT", "Released", "DATE", "Rating", "VARCHAR", "Genre", "VARCHAR[]", "Info", "JSON"))
		if got := e.queryParquet(t, "movies_dates", "SELECT Released::VARCHAR FROM t WHERE Title IN ('Avatar', '300') ORDER BY 1"); !slices.Equal(got, []string{"2007-03-09", "2009-12-18"}) {
			t.Errorf("release dates %q", got)
		}
	})
	t.Run("columns", func(t *testing.T) {
		res := e.mustIngest(t, ingest.Request{Name: "movies_few", Path: movies, Options: ingest.Options{Columns: map[string]string{"Title": "title", "Year": "", "Info": "details"}}})
		e.wantColumns(t, res, cols("title", "VARCHAR", "Year", "BIGINT", "details", "JSON"))
		titleWidened.Column, infoWidened.Column = "title", "details"
		wantWidened(t, res, titleWidened, infoWidened)
	})
	t.Run("unchanged", func(t *testing.T) {
		res := e.mustIngest(t, ingest.Request{Name: "movies", Path: movies})
		if !res.Unchanged || res.Widened != nil {
			t.Errorf("unchanged %v, widened %v; want unchanged and no widenings (nothing was read)", res.Unchanged, res.Widened)
		}
	})
	e.wantTempEmpty(t)
}

func TestIngest_MixedNDJSON(t *testing.T) {
	dir := fixtures(t)
	e := newEnv(t, dir)
	events := filepath.Join(dir, "events_mixed.ndjson")
	valueWidened := ingest.Widening{Column: "value", From: "VARCHAR, BIGINT, BOOLEAN, DOUBLE", To: "VARCHAR", Reason: "2 VARCHAR, 1 BIGINT"}

	res := e.mustIngest(t, ingest.Request{Name: "events", Path: events})
	if res.Format != "ndjson" || res.Rows != 6 {
		t.Errorf("format %q, rows %d; want ndjson, 6", res.Format, res.Rows)
	}
	e.wantColumns(t, res, cols("id", "BIGINT", "user", "VARCHAR", "value", "VARCHAR", "tags", "VARCHAR[]", "day", "VARCHAR"))
	wantWidened(t, res, valueWidened)
	if got, want := e.queryParquet(t, "events", "SELECT value FROM t ORDER BY id"), []string{"12", "high", "true", "3.5", "NULL", "7"}; !slices.Equal(got, want) {
		t.Errorf("values %q, want %q", got, want)
	}

	res = e.mustIngest(t, ingest.Request{Name: "events_typed", Path: events, Options: ingest.Options{
		Types:      map[string]string{"id": "INTEGER", "value": "JSON"},
		DateFormat: "%d/%m/%Y",
		Columns:    map[string]string{"id": "event_id", "value": "", "day": "on_day"},
	}})
	e.wantColumns(t, res, cols("event_id", "INTEGER", "value", "JSON", "on_day", "DATE"))
	wantWidened(t, res)
	if got, want := e.queryParquet(t, "events_typed", "SELECT on_day::VARCHAR || ' ' || value::VARCHAR FROM t WHERE event_id = 2"), []string{`2024-05-02 "high"`}; !slices.Equal(got, want) {
		t.Errorf("row 2: %q, want %q", got, want)
	}
}

// A CSV column of numbers with a placeholder among them is VARCHAR, and
// the result says why; null_strings makes it a number column.
func TestIngest_MixedCSV(t *testing.T) {
	e := newEnv(t)
	const csv = "id,code,name,day\n1,12,Nan,2024-01-02\n2,N/A,Inf,2024-01-03\n3,7.5,ann,never\n"
	res := e.mustIngest(t, ingest.Request{Name: "codes", Content: csv})
	e.wantColumns(t, res, cols("id", "BIGINT", "code", "VARCHAR", "name", "VARCHAR", "day", "VARCHAR"))
	wantWidened(t, res,
		ingest.Widening{Column: "code", From: "BIGINT, DOUBLE, VARCHAR", To: "VARCHAR", Reason: "1 BIGINT, 1 DOUBLE, 1 VARCHAR"},
		ingest.Widening{Column: "day", From: "DATE, VARCHAR", To: "VARCHAR", Reason: "options.null_strings"})

	res = e.mustIngest(t, ingest.Request{Name: "codes_clean", Content: csv, Options: ingest.Options{
		NullStrings: []string{"N/A", "never"}, Columns: map[string]string{"code": "", "day": "on_day"}}})
	e.wantColumns(t, res, cols("code", "DOUBLE", "on_day", "DATE"))
	wantWidened(t, res)

	// A column typed by the caller is the caller's choice, not a widening.
	res = e.mustIngest(t, ingest.Request{Name: "codes_typed", Content: csv, Options: ingest.Options{
		Types: map[string]string{"code": "VARCHAR"}, Columns: map[string]string{"code": "c", "id": ""}}})
	e.wantColumns(t, res, cols("id", "BIGINT", "c", "VARCHAR"))
	wantWidened(t, res)
}

func TestIngest_TextDates(t *testing.T) {
	e := newEnv(t)
	const csv = "id,day,at\n1,Jan 1 2000,01/02/2000 13:04\n2,Feb 29 2004,31/12/2004 00:00\n"
	res := e.mustIngest(t, ingest.Request{Name: "dates", Content: csv, Options: ingest.Options{DateFormat: "%b %d %Y", TimestampFormat: "%d/%m/%Y %H:%M"}})
	e.wantColumns(t, res, cols("id", "BIGINT", "day", "DATE", "at", "TIMESTAMP"))
	if got, want := e.queryParquet(t, "dates", `SELECT day::VARCHAR || ' ' || "at"::VARCHAR FROM t ORDER BY id`), []string{"2000-01-01 2000-02-01 13:04:00", "2004-02-29 2004-12-31 00:00:00"}; !slices.Equal(got, want) {
		t.Errorf("dates %q, want %q", got, want)
	}
	// Without the formats, the same text stays text.
	res = e.mustIngest(t, ingest.Request{Name: "dates_text", Content: csv})
	e.wantColumns(t, res, cols("id", "BIGINT", "day", "VARCHAR", "at", "VARCHAR"))

	const json = `[{"id": 1, "at": "01/02/2000 13:04"}]`
	res = e.mustIngest(t, ingest.Request{Name: "json_ts", Content: json, Options: ingest.Options{TimestampFormat: "%d/%m/%Y %H:%M"}})
	e.wantColumns(t, res, cols("id", "BIGINT", "at", "TIMESTAMP"))
}

func TestIngest_Options_Refused(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name  string
		req   ingest.Request
		parts []string
	}{
		{"json_type_of_missing_column", ingest.Request{Content: peopleJSON, Options: ingest.Options{Types: map[string]string{"nope": "INTEGER"}}},
			[]string{`options.types names "nope"`, "json source does not have", "its columns are: id, name"}},
		{"json_unknown_type", ingest.Request{Content: peopleJSON, Options: ingest.Options{Types: map[string]string{"id": "NOT_A_TYPE"}}},
			[]string{"cannot read the json source (content)", "NOT_A_TYPE"}},
		{"json_type_that_does_not_fit", ingest.Request{Content: peopleJSON, Options: ingest.Options{Types: map[string]string{"name": "INTEGER"}}},
			[]string{"cannot read the json source (content)", "ann"}},
		{"empty_type", ingest.Request{Content: peopleCSV, Options: ingest.Options{Types: map[string]string{"id": " "}}},
			[]string{"options.types", `"id"`, "DuckDB type", "VARCHAR"}},
		{"csv_columns_missing", ingest.Request{Content: peopleCSV, Options: ingest.Options{Columns: map[string]string{"nope": "x", "id": ""}}},
			[]string{`options.columns names "nope"`, "csv source", "its columns are: id, name"}},
		{"ndjson_columns_missing", ingest.Request{Content: peopleNDJSON, Format: "ndjson", Options: ingest.Options{Columns: map[string]string{"Name": ""}}},
			[]string{`options.columns names "Name"`, "its columns are: id, name"}},
		{"columns_same_name", ingest.Request{Content: peopleCSV, Options: ingest.Options{Columns: map[string]string{"id": "key", "name": "KEY"}}},
			[]string{"options.columns", `"id" and "name"`, "same name"}},
		{"columns_empty_name", ingest.Request{Content: peopleCSV, Options: ingest.Options{Columns: map[string]string{"": "x"}}},
			[]string{"options.columns", "empty column name", "source column names"}},
		{"date_format_without_specifier", ingest.Request{Content: peopleCSV, Options: ingest.Options{DateFormat: "YYYY-MM-DD"}},
			[]string{`options.date_format "YYYY-MM-DD"`, "no % specifier", "%Y-%m-%d"}},
		{"date_format_bad_specifier", ingest.Request{Content: peopleJSON, Options: ingest.Options{DateFormat: "%Q-%m"}},
			[]string{`options.date_format "%Q-%m"`, "not a strptime format", "%b %d %Y"}},
		{"timestamp_format_bad_specifier", ingest.Request{Content: peopleCSV, Options: ingest.Options{TimestampFormat: "%Y %K"}},
			[]string{`options.timestamp_format "%Y %K"`, "not a strptime format"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Name = tc.name
			_, err := e.in.Ingest(context.Background(), tc.req, nil)
			wantErr(t, err, errs.Invalid, tc.parts...)
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

func TestIngest_Unsupported(t *testing.T) {
	dir := fixtures(t)
	e := newEnv(t, dir)
	png := fixture(t, "tiny.png")
	binary := []byte{0x00, 0x01, 0x02, 0xfe, 0xff, 0x00, 'x'}
	e.mustPut(t, "in/picture.png", png)
	e.mustPut(t, "in/picture.csv", png)
	e.mustPut(t, "in/blob", binary)
	e.mustPut(t, "in/photo", []byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F'})
	e.mustPut(t, "in/anim.gif", []byte("GIF89a\x01\x00\x01\x00"))
	e.mustPut(t, "in/doc", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"))
	e.mustPut(t, "in/book.xlsx", []byte("PK\x03\x04\x14\x00\x06\x00"))
	e.mustPut(t, "in/db.sqlite", []byte("SQLite format 3\x00\x10\x00"))
	e.mustPut(t, "in/prog", []byte("\x7fELF\x02\x01\x01\x00"))
	e.mustPut(t, "in/tar.gz", gzipped(t, string(binary)))
	e.mustPut(t, "in/png.zst", zstded(t, png))
	e.mustPut(t, "in/parquet.gz", gzipped(t, string(mustParquet(t, filepath.Join(t.TempDir(), "p.parquet"), peopleQuery))))
	e.mustPut(t, "in/text.parquet", []byte(peopleCSV))
	e.mustPut(t, "in/people.arrow", []byte(peopleCSV))

	const list = "ingest reads csv, tsv, json, ndjson (each optionally gzip- or zstd-compressed), parquet and arrow"
	for _, tc := range []struct {
		name  string
		req   ingest.Request
		parts []string
	}{
		{"png_path", ingest.Request{Path: filepath.Join(dir, "tiny.png")}, []string{"unsupported format", "path:" + filepath.Join(dir, "tiny.png"), "looks like a PNG image", list}},
		{"png_object", ingest.Request{ObjectKey: "in/picture.png"}, []string{"unsupported format", "(object:in/picture.png) looks like a PNG image"}},
		{"png_named_csv", ingest.Request{ObjectKey: "in/picture.csv"}, []string{"unsupported format", "a PNG image"}},
		{"png_as_csv", ingest.Request{ObjectKey: "in/picture.png", Format: "csv"}, []string{"unsupported format", "a PNG image"}},
		{"png_upload", ingest.Request{Body: bytes.NewReader(png)}, []string{"unsupported format", "(upload) looks like a PNG image"}},
		{"binary_blob", ingest.Request{ObjectKey: "in/blob"}, []string{"unsupported format", "looks like binary data", list}},
		{"jpeg", ingest.Request{ObjectKey: "in/photo"}, []string{"a JPEG image"}},
		{"gif", ingest.Request{ObjectKey: "in/anim.gif"}, []string{"a GIF image"}},
		{"pdf", ingest.Request{ObjectKey: "in/doc"}, []string{"a PDF document"}},
		{"zip", ingest.Request{ObjectKey: "in/book.xlsx"}, []string{"a zip archive", "save it as CSV"}},
		{"sqlite", ingest.Request{ObjectKey: "in/db.sqlite"}, []string{"an SQLite database"}},
		{"elf", ingest.Request{ObjectKey: "in/prog"}, []string{"an ELF executable"}},
		{"gzip_binary", ingest.Request{ObjectKey: "in/tar.gz"}, []string{"unsupported format", "gzip-compressed binary data"}},
		{"zstd_png", ingest.Request{ObjectKey: "in/png.zst"}, []string{"unsupported format", "zstd-compressed PNG image"}},
		{"gzip_parquet", ingest.Request{ObjectKey: "in/parquet.gz"}, []string{"unsupported format", "parquet compressed with gzip", "decompress it first"}},
		{"parquet_asked_of_text", ingest.Request{Content: peopleCSV, Format: "parquet"}, []string{"format parquet was asked", "is not parquet", "looks like text"}},
		{"arrow_asked_of_text", ingest.Request{Content: peopleCSV, Format: "arrow"}, []string{"format arrow was asked", "looks like text"}},
		{"text_named_parquet", ingest.Request{ObjectKey: "in/text.parquet"}, []string{"named as parquet but is not parquet", "looks like text"}},
		{"text_named_arrow", ingest.Request{ObjectKey: "in/people.arrow"}, []string{"named as arrow but is not arrow", "looks like text"}},
		{"csv_asked_of_parquet", ingest.Request{ObjectKey: "in/parquet.gz", Format: "csv"}, []string{"parquet compressed with gzip"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Name = tc.name
			_, err := e.in.Ingest(context.Background(), tc.req, nil)
			wantErr(t, err, errs.Invalid, tc.parts...)
			if msg := err.Error(); strings.Contains(msg, "\n") || strings.Contains(msg, "sniff") {
				t.Errorf("error is more than one line or speaks of the CSV sniffer: %s", msg)
			}
			if e.cat.Lookup(tc.name) != nil {
				t.Error("a dataset was created")
			}
		})
	}
	// Bytes that are Parquet are read as Parquet, whatever was asked.
	e.mustPut(t, "in/p", mustParquet(t, filepath.Join(t.TempDir(), "q.parquet"), peopleQuery))
	_, err := e.in.Ingest(context.Background(), ingest.Request{Name: "parquet_as_json", ObjectKey: "in/p", Format: "json"}, nil)
	wantErr(t, err, errs.Invalid, "format json was asked", "is parquet", "use format parquet or auto")
	e.wantTempEmpty(t)
}

// zstded returns b compressed with zstd.
func zstded(tb testing.TB, b []byte) []byte {
	tb.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

func TestIngest_Compressed(t *testing.T) {
	dir := fixtures(t)
	e := newEnv(t, dir)
	salesGz := fixture(t, "sales.csv.gz")
	eventsZst := fixture(t, "events_mixed.ndjson.zst")
	e.mustPut(t, "in/sales-blob", salesGz)
	e.mustPut(t, "in/events-blob", eventsZst)
	e.mustPut(t, "in/people.tsv.zst", zstded(t, []byte(peopleTSV)))
	e.mustPut(t, "in/people.json.gz", gzipped(t, peopleJSON))
	e.mustPut(t, "in/people-json", zstded(t, []byte(peopleJSON)))
	e.mustPut(t, "in/people.csv.zst", zstded(t, []byte(peopleCSV)))
	e.mustPut(t, "in/plain.csv.gz", []byte(peopleCSV)) // named compressed, but not

	salesCols := cols("id", "BIGINT", "region", "VARCHAR", "product", "VARCHAR", "units", "BIGINT", "price", "DOUBLE", "sold_on", "DATE")
	eventsCols := cols("id", "BIGINT", "user", "VARCHAR", "value", "VARCHAR", "tags", "VARCHAR[]", "day", "VARCHAR")
	peopleCols := cols("id", "BIGINT", "name", "VARCHAR")
	for _, tc := range []struct {
		name        string
		req         ingest.Request
		format      string
		compression string
		rows        int64
		cols        []catalog.Column
	}{
		{"gzip_csv_path", ingest.Request{Path: filepath.Join(dir, "sales.csv.gz")}, "csv", "gzip", 8, salesCols},
		{"gzip_csv_magic", ingest.Request{ObjectKey: "in/sales-blob"}, "csv", "gzip", 8, salesCols},
		{"gzip_csv_upload", ingest.Request{Body: bytes.NewReader(salesGz)}, "csv", "gzip", 8, salesCols},
		{"gzip_csv_format", ingest.Request{ObjectKey: "in/sales-blob", Format: "csv"}, "csv", "gzip", 8, salesCols},
		{"zstd_ndjson_path", ingest.Request{Path: filepath.Join(dir, "events_mixed.ndjson.zst")}, "ndjson", "zstd", 6, eventsCols},
		{"zstd_ndjson_magic", ingest.Request{ObjectKey: "in/events-blob"}, "json", "zstd", 6, eventsCols},
		{"zstd_tsv", ingest.Request{ObjectKey: "in/people.tsv.zst"}, "tsv", "zstd", 2, peopleCols},
		{"zstd_csv", ingest.Request{ObjectKey: "in/people.csv.zst"}, "csv", "zstd", 2, peopleCols},
		{"gzip_json", ingest.Request{ObjectKey: "in/people.json.gz"}, "json", "gzip", 2, peopleCols},
		{"zstd_json_magic", ingest.Request{ObjectKey: "in/people-json"}, "json", "zstd", 2, peopleCols},
		{"not_really_gzip", ingest.Request{ObjectKey: "in/plain.csv.gz"}, "csv", "", 2, peopleCols},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Name = tc.name
			res := e.mustIngest(t, tc.req)
			if res.Format != tc.format || res.Compression != tc.compression || res.Rows != tc.rows {
				t.Errorf("format %q, compression %q, rows %d; want %q, %q, %d", res.Format, res.Compression, res.Rows, tc.format, tc.compression, tc.rows)
			}
			e.wantColumns(t, res, tc.cols)
		})
	}
	// The widening of a compressed JSON source is reported like any other.
	res := e.mustIngest(t, ingest.Request{Name: "zstd_widened", ObjectKey: "in/events-blob", Format: "ndjson"})
	wantWidened(t, res, ingest.Widening{Column: "value", From: "VARCHAR, BIGINT, BOOLEAN, DOUBLE", To: "VARCHAR"})

	// A broken compressed source says what it is.
	e.mustPut(t, "in/broken.gz", salesGz[:40])
	_, err := e.in.Ingest(context.Background(), ingest.Request{Name: "broken", ObjectKey: "in/broken.gz", Format: "csv"}, nil)
	wantErr(t, err, errs.Invalid, "cannot read the gzip-compressed csv source (object:in/broken.gz)", "truncated or corrupt", "unexpected EOF")
	e.mustPut(t, "in/broken.zst", eventsZst[:len(eventsZst)-10])
	_, err = e.in.Ingest(context.Background(), ingest.Request{Name: "broken", ObjectKey: "in/broken.zst"}, nil)
	wantErr(t, err, errs.Invalid, "zstd-compressed", "(object:in/broken.zst)")
	if e.cat.Lookup("broken") != nil {
		t.Error("a dataset was created from a broken source")
	}
	e.wantTempEmpty(t)
}

// peopleRecords builds the people table as two Arrow record batches, with
// more types than CSV can say.
func peopleRecords(tb testing.TB) (*arrow.Schema, []arrow.RecordBatch) {
	tb.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String},
		{Name: "score", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "seen", Type: &arrow.TimestampType{Unit: arrow.Millisecond}},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String)},
	}, nil)
	var recs []arrow.RecordBatch
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	day := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for i, p := range []struct {
		name  string
		score float32
		null  bool
	}{{"ann", 1.5, false}, {"bob", 0, true}, {"cy", 3, false}} {
		b.Field(0).(*array.Int64Builder).Append(int64(i + 1))
		b.Field(1).(*array.StringBuilder).Append(p.name)
		if p.null {
			b.Field(2).(*array.Float32Builder).AppendNull()
		} else {
			b.Field(2).(*array.Float32Builder).Append(p.score)
		}
		ts, _ := arrow.TimestampFromTime(day.Add(time.Duration(i)*time.Hour), arrow.Millisecond)
		b.Field(3).(*array.TimestampBuilder).Append(ts)
		lb := b.Field(4).(*array.ListBuilder)
		lb.Append(true)
		lb.ValueBuilder().(*array.StringBuilder).Append("t" + p.name)
		if i == 1 { // two batches: ann and bob, then cy
			recs = append(recs, b.NewRecordBatch())
		}
	}
	recs = append(recs, b.NewRecordBatch())
	tb.Cleanup(func() {
		for _, r := range recs {
			r.Release()
		}
	})
	return schema, recs
}

// arrowIPC writes the records as an Arrow IPC file (stream false) or stream.
func arrowIPC(tb testing.TB, stream bool, schema *arrow.Schema, recs []arrow.RecordBatch) []byte {
	tb.Helper()
	var buf bytes.Buffer
	var w interface {
		Write(arrow.RecordBatch) error
		Close() error
	}
	if stream {
		w = ipc.NewWriter(&buf, ipc.WithSchema(schema))
	} else {
		fw, err := ipc.NewFileWriter(&buf, ipc.WithSchema(schema))
		if err != nil {
			tb.Fatal(err)
		}
		w = fw
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func TestIngest_Arrow(t *testing.T) {
	allowed := t.TempDir()
	e := newEnv(t, allowed)
	schema, recs := peopleRecords(t)
	file := arrowIPC(t, false, schema, recs)
	stream := arrowIPC(t, true, schema, recs)
	if !bytes.HasPrefix(file, []byte("ARROW1")) {
		t.Fatalf("the Arrow file starts %q", file[:8])
	}
	filePath := mustWrite(t, filepath.Join(allowed, "people.arrow"), string(file))
	e.mustPut(t, "in/people.feather", file)
	e.mustPut(t, "in/people.arrows", stream)
	e.mustPut(t, "in/file-blob", file)
	e.mustPut(t, "in/stream-blob", stream)
	e.mustPut(t, "in/stream.ipc", stream)

	want := cols("id", "BIGINT", "name", "VARCHAR", "score", "FLOAT", "seen", "TIMESTAMP", "tags", "VARCHAR[]")
	wantRows := []string{"1|ann|1.5|2024-05-01 10:00:00 +0000 UTC|[tann]", "2|bob|NULL|2024-05-01 11:00:00 +0000 UTC|[tbob]", "3|cy|3|2024-05-01 12:00:00 +0000 UTC|[tcy]"}
	for _, tc := range []struct {
		name string
		req  ingest.Request
	}{
		{"file_path", ingest.Request{Path: filePath}},
		{"file_feather", ingest.Request{ObjectKey: "in/people.feather"}},
		{"file_magic", ingest.Request{ObjectKey: "in/file-blob"}},
		{"file_upload", ingest.Request{Body: bytes.NewReader(file)}},
		{"file_format", ingest.Request{ObjectKey: "in/file-blob", Format: "arrow"}},
		{"stream_arrows", ingest.Request{ObjectKey: "in/people.arrows"}},
		{"stream_ipc", ingest.Request{ObjectKey: "in/stream.ipc"}},
		{"stream_magic", ingest.Request{ObjectKey: "in/stream-blob"}},
		{"stream_format", ingest.Request{ObjectKey: "in/stream-blob", Format: "ARROW"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Name = tc.name
			res := e.mustIngest(t, tc.req)
			if res.Format != "arrow" || res.Rows != 3 || len(res.Widened) != 0 {
				t.Errorf("format %q, rows %d, widened %v; want arrow, 3, none", res.Format, res.Rows, res.Widened)
			}
			e.wantColumns(t, res, want)
			if got := e.rows(t, tc.name, 0); !slices.Equal(got, wantRows) {
				t.Errorf("rows %q, want %q", got, wantRows)
			}
			if v := e.manifest(t, tc.name).Current(); v.Format != "arrow" {
				t.Errorf("manifest format %q", v.Format)
			}
		})
	}

	t.Run("columns", func(t *testing.T) {
		res := e.mustIngest(t, ingest.Request{Name: "arrow_cols", ObjectKey: "in/stream-blob", Options: ingest.Options{Columns: map[string]string{"name": "who", "id": ""}}})
		e.wantColumns(t, res, cols("id", "BIGINT", "who", "VARCHAR"))
	})
	t.Run("append", func(t *testing.T) {
		e.mustIngest(t, ingest.Request{Name: "arrow_more", ObjectKey: "in/file-blob"})
		res := e.mustIngest(t, ingest.Request{Name: "arrow_more", ObjectKey: "in/stream-blob", Mode: ingest.ModeAppend})
		if res.Rows != 6 || res.Version != 2 {
			t.Errorf("rows %d version %d, want 6 in version 2", res.Rows, res.Version)
		}
	})
	t.Run("types_refused", func(t *testing.T) {
		_, err := e.in.Ingest(context.Background(), ingest.Request{Name: "arrow_types", ObjectKey: "in/file-blob", Options: ingest.Options{Types: map[string]string{"id": "VARCHAR"}}}, nil)
		wantErr(t, err, errs.Invalid, "options.types", "not arrow", "the options are columns")
	})
	t.Run("type_parquet_cannot_hold", func(t *testing.T) {
		union := arrow.NewSchema([]arrow.Field{{Name: "u", Type: arrow.DenseUnionOf([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int32}}, []arrow.UnionTypeCode{0})}}, nil)
		b := array.NewRecordBuilder(memory.DefaultAllocator, union)
		defer b.Release()
		b.Field(0).AppendNull()
		rec := b.NewRecordBatch()
		defer rec.Release()
		_, err := e.in.Ingest(context.Background(), ingest.Request{Name: "arrow_union", Body: bytes.NewReader(arrowIPC(t, true, union, []arrow.RecordBatch{rec}))}, nil)
		wantErr(t, err, errs.Invalid, "cannot read the arrow source (upload)", "cannot be stored as Parquet", "DENSE_UNION")
	})
	t.Run("truncated", func(t *testing.T) {
		for name, b := range map[string][]byte{"in/cut-file": file[:len(file)-20], "in/cut-stream": stream[:len(stream)-40]} {
			e.mustPut(t, name, b)
			_, err := e.in.Ingest(context.Background(), ingest.Request{Name: "arrow_cut", ObjectKey: name, Format: "arrow"}, nil)
			wantErr(t, err, errs.Invalid, "cannot read the arrow source (object:"+name+")")
			if e.cat.Lookup("arrow_cut") != nil {
				t.Error("a dataset was created")
			}
		}
	})
	e.wantTempEmpty(t)
}
