package ingest

// Shaping: the options that decide which columns a dataset gets and of
// which types, and the plan that turns a detected source into the one
// statement DuckDB runs:
//
//	COPY (SELECT <columns> FROM <reader>) TO '<scratch>/part.parquet' (...)
//
// CSV and TSV hand types, date and timestamp formats to read_csv. JSON and
// NDJSON are described first (DuckDB samples the file): a field whose
// values mix types comes back as DuckDB's JSON type, which keeps every
// value as JSON text (strings with their quotes) and fails a comparison
// with a plain string ("Malformed JSON"). Such fields are counted by JSON
// type in one more pass over the file; mixed scalars become VARCHAR (a
// number as its digits, a string without quotes), objects and arrays stay
// JSON, and each choice is reported in Result.Widened. The reader is then
// given every column's type (read_json's columns=), which is also how
// options.types reaches JSON. options.columns is the SELECT list, for
// every format.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"lakehouse/backends/catalog"
	"lakehouse/backends/errs"
)

// A Widening is a column that was given a wider type than some of its
// values have, and why.
type Widening struct {
	Column string `json:"column" jsonschema:"the column, as stored"`
	From   string `json:"from" jsonschema:"the types its values have in the source, most common first, e.g. VARCHAR, BIGINT"`
	To     string `json:"to" jsonschema:"the DuckDB type it was given"`
	Reason string `json:"reason"`
}

// plan is how one source is read.
type plan struct {
	format      string
	compression string
	path        string            // the local file reader reads
	reader      string            // the DuckDB table function
	selectList  string            // what to select from reader: * or the kept columns
	stored      map[string]string // source name of each kept column by its stored name; nil: all, as they are
	widened     []Widening
}

// query is the SELECT that yields the rows to store.
func (p *plan) query() string { return "SELECT " + p.selectList + " FROM " + p.reader }

// textFormat reports whether format is read as text (csv, tsv, json, ndjson).
func textFormat(format string) bool {
	return format == "csv" || format == "tsv" || format == "json" || format == "ndjson"
}

// checkOptions refuses options that do not apply to format or that are
// malformed, naming the option and what is valid.
func (in *Ingester) checkOptions(ctx context.Context, format string, o Options) error {
	if format != "csv" && format != "tsv" {
		for _, opt := range []struct {
			name string
			set  bool
		}{{"delimiter", o.Delimiter != ""}, {"header", o.Header != nil}, {"quote", o.Quote != ""}, {"null_strings", len(o.NullStrings) > 0}} {
			if opt.set {
				return errs.New(errs.Invalid, "options.%s applies to csv and tsv only, not %s; for %s the options are %s", opt.name, format, format, optionsFor(format))
			}
		}
	}
	if !textFormat(format) {
		switch {
		case len(o.Types) > 0:
			return errs.New(errs.Invalid, "options.types applies to csv, tsv, json and ndjson only, not %s: %s keeps the types it was written with (cast in query_sql instead); for %s the options are %s", format, format, format, optionsFor(format))
		case o.DateFormat != "" || o.TimestampFormat != "":
			return errs.New(errs.Invalid, "options.date_format and options.timestamp_format apply to text dates in csv, tsv, json and ndjson only, not %s, whose dates are typed already; for %s the options are %s", format, format, optionsFor(format))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(o.Types)) {
		if typ := o.Types[name]; name == "" || strings.TrimSpace(typ) == "" {
			return errs.New(errs.Invalid, "options.types maps column %q to %q; give each column name a DuckDB type, e.g. {\"zip\": \"VARCHAR\", \"amount\": \"DOUBLE\", \"day\": \"DATE\", \"tags\": \"JSON\"}", name, typ)
		}
	}
	for _, f := range []struct{ name, value, example string }{
		{"date_format", o.DateFormat, "%Y-%m-%d, %d/%m/%Y or %b %d %Y (for 'Jan 1 2000')"},
		{"timestamp_format", o.TimestampFormat, "%Y-%m-%d %H:%M:%S or %d/%m/%Y %I:%M %p"},
	} {
		if f.value == "" {
			continue
		}
		if !strings.Contains(f.value, "%") {
			return errs.New(errs.Invalid, "options.%s %q has no %% specifier; give a strptime format such as %s", f.name, f.value, f.example)
		}
		if _, err := in.db.ExecContext(ctx, "SELECT try_strptime('', "+quote(f.value)+")"); err != nil {
			return errs.New(errs.Invalid, "options.%s %q is not a strptime format (%s); give one such as %s", f.name, f.value, firstLine(err.Error()), f.example)
		}
	}
	newNames := map[string]string{}
	for _, old := range slices.Sorted(maps.Keys(o.Columns)) {
		name := o.Columns[old]
		if old == "" {
			return errs.New(errs.Invalid, "options.columns has an empty column name; it maps source column names to the names to keep them under, e.g. {\"Title\": \"title\", \"Year\": \"\"} (\"\" keeps the name)")
		}
		if name == "" {
			name = old
		}
		key := strings.ToLower(name)
		if other, ok := newNames[key]; ok {
			return errs.New(errs.Invalid, "options.columns gives columns %q and %q the same name %q (names are case-insensitive in SQL); give each kept column its own name", other, old, name)
		}
		newNames[key] = old
	}
	return nil
}

// optionsFor lists the options that apply to format.
func optionsFor(format string) string {
	switch format {
	case "csv", "tsv":
		return "delimiter, header, quote, null_strings, types, columns, date_format, timestamp_format"
	case "json", "ndjson":
		return "types, columns, date_format, timestamp_format"
	}
	return "columns"
}

// firstLine returns the first line of s.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}

// plan builds how to read the local file at path, detected as d, with
// options o; a JSON source is described (and its mixed fields counted)
// on the way.
func (in *Ingester) plan(ctx context.Context, path string, d detected, o Options) (*plan, error) {
	p := &plan{format: d.format, compression: d.compression, path: path, selectList: "*"}
	switch d.format {
	case "parquet", "arrow": // an arrow source is read as the Parquet arrow.go made of it
		p.reader = fmt.Sprintf("read_parquet(%s)", quote(path))
	case "json", "ndjson":
		if err := in.planJSON(ctx, p, path, o); err != nil {
			return p, err
		}
	default:
		p.reader = csvReader(path, d, o)
	}
	if len(o.Columns) == 0 {
		return p, nil
	}
	cols, err := in.describe(ctx, p.reader)
	if err != nil {
		return p, err
	}
	return p, p.keep(cols, o.Columns)
}

// keep makes p select only the columns named in keep, renamed as it says,
// in the source's order.
func (p *plan) keep(cols []catalog.Column, keep map[string]string) error {
	have := map[string]bool{}
	names := make([]string, len(cols))
	for i, c := range cols {
		have[c.Name] = true
		names[i] = c.Name
	}
	var missing []string
	for old := range keep {
		if !have[old] {
			missing = append(missing, old)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return errs.New(errs.Invalid, "options.columns names %s, which the %s source does not have; its columns are: %s", quoteList(missing), p.format, strings.Join(names, ", "))
	}
	var sel []string
	renamed := map[string]string{}
	for _, c := range cols {
		name, ok := keep[c.Name]
		if !ok {
			continue
		}
		if name == "" {
			name = c.Name
		}
		renamed[c.Name] = name
		sel = append(sel, ident(c.Name)+" AS "+ident(name))
	}
	p.selectList = strings.Join(sel, ", ")
	p.stored = map[string]string{}
	for old, name := range renamed {
		p.stored[name] = old
	}
	// Report widenings under the names the columns are stored as.
	var widened []Widening
	for _, w := range p.widened {
		if name, ok := renamed[w.Column]; ok {
			w.Column = name
			widened = append(widened, w)
		}
	}
	p.widened = widened
	return nil
}

// csvReader is the read_csv call for a CSV or TSV source.
func csvReader(path string, d detected, o Options) string {
	delim := o.Delimiter
	if delim == "" {
		delim = ","
		if d.format == "tsv" {
			delim = "\t"
		}
	}
	// skip=0: never let the dialect sniffer silently drop leading rows.
	args := []string{quote(path), "delim=" + quote(delim), "skip=0", "compression=" + quote(duckCompression(d.compression))}
	if o.Header != nil {
		args = append(args, fmt.Sprintf("header=%t", *o.Header))
	}
	if o.Quote != "" {
		args = append(args, "quote="+quote(o.Quote))
	}
	if len(o.NullStrings) > 0 {
		q := make([]string, len(o.NullStrings))
		for i, s := range o.NullStrings {
			q[i] = quote(s)
		}
		args = append(args, "nullstr=["+strings.Join(q, ", ")+"]")
	}
	if len(o.Types) > 0 {
		args = append(args, "types="+typesStruct(o.Types, nil))
	}
	args = append(args, dateArgs(o)...)
	return "read_csv(" + strings.Join(args, ", ") + ")"
}

// duckCompression names a detected compression as DuckDB's readers take it;
// a source with none is read as it is, whatever its name ends with.
func duckCompression(c string) string {
	if c == "" {
		return "uncompressed"
	}
	return c
}

// dateArgs are the reader arguments of the date and timestamp formats.
func dateArgs(o Options) []string {
	var args []string
	if o.DateFormat != "" {
		args = append(args, "dateformat="+quote(o.DateFormat))
	}
	if o.TimestampFormat != "" {
		args = append(args, "timestampformat="+quote(o.TimestampFormat))
	}
	return args
}

// typesStruct writes column types as a DuckDB struct literal, in the
// order of cols (or by name when cols is nil), e.g. {'a': 'BIGINT'}.
func typesStruct(types map[string]string, cols []catalog.Column) string {
	var names []string
	if cols == nil {
		for n := range types {
			names = append(names, n)
		}
		slices.Sort(names)
	} else {
		for _, c := range cols {
			names = append(names, c.Name)
		}
	}
	pairs := make([]string, len(names))
	for i, n := range names {
		pairs[i] = quote(n) + ": " + quote(types[n])
	}
	return "{" + strings.Join(pairs, ", ") + "}"
}

// planJSON sets p.reader to a read_json call that gives every column its
// type: the caller's, VARCHAR or JSON for a field of mixed values (see the
// notes at the top of the file), or DuckDB's.
func (in *Ingester) planJSON(ctx context.Context, p *plan, path string, o Options) error {
	format := "auto"
	if p.format == "ndjson" {
		format = "newline_delimited"
	}
	args := append([]string{quote(path), "format=" + quote(format), "compression=" + quote(duckCompression(p.compression))}, dateArgs(o)...)
	p.reader = "read_json(" + strings.Join(args, ", ") + ")"
	cols, err := in.describe(ctx, p.reader)
	if err != nil {
		return err
	}
	types := map[string]string{}
	var mixed, names []string
	for _, c := range cols {
		names = append(names, c.Name)
		types[c.Name] = c.Type
		if t, ok := o.Types[c.Name]; ok {
			types[c.Name] = t
		} else if c.Type == "JSON" {
			mixed = append(mixed, c.Name)
		}
	}
	var missing []string
	for n := range o.Types {
		if _, ok := types[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return errs.New(errs.Invalid, "options.types names %s, which the %s source does not have; its columns are: %s", quoteList(missing), p.format, strings.Join(names, ", "))
	}
	if len(mixed) == 0 && len(o.Types) == 0 {
		return nil
	}
	if len(mixed) > 0 {
		seen, err := in.jsonTypes(ctx, p.reader, mixed)
		if err != nil {
			return err
		}
		for i, name := range mixed {
			w := widen(name, seen[i])
			types[name] = w.To
			p.widened = append(p.widened, w)
		}
	}
	args = append(args, "columns="+typesStruct(types, cols))
	p.reader = "read_json(" + strings.Join(args, ", ") + ")"
	return nil
}

// jsonTypes counts the values of each of the JSON columns cols by JSON
// type (VARCHAR, BIGINT, UBIGINT, DOUBLE, BOOLEAN, OBJECT, ARRAY, NULL),
// in one pass over reader.
func (in *Ingester) jsonTypes(ctx context.Context, reader string, cols []string) ([]map[string]int64, error) {
	exprs := make([]string, len(cols))
	for i, c := range cols {
		exprs[i] = fmt.Sprintf("to_json(histogram(json_type(%s)) FILTER (WHERE %s IS NOT NULL))::VARCHAR", ident(c), ident(c))
	}
	texts := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range texts {
		ptrs[i] = &texts[i]
	}
	if err := in.db.QueryRowContext(ctx, "SELECT "+strings.Join(exprs, ", ")+" FROM "+reader).Scan(ptrs...); err != nil {
		return nil, err
	}
	out := make([]map[string]int64, len(cols))
	for i, t := range texts {
		out[i] = map[string]int64{}
		s, _ := t.(string)
		if s == "" {
			continue
		}
		if err := json.Unmarshal([]byte(s), &out[i]); err != nil {
			return nil, fmt.Errorf("count json types of %s: %w", cols[i], err)
		}
	}
	return out, nil
}

// widen chooses the type of a JSON column whose values have the JSON types
// counted in seen (see the notes at the top of the file).
func widen(name string, seen map[string]int64) Widening {
	counts := map[string]int64{}
	for t, n := range seen {
		switch t {
		case "NULL":
			continue
		case "UBIGINT": // json_type's name for an integer >= 0
			t = "BIGINT"
		}
		counts[t] += n
	}
	kinds, parts := tally(counts)
	w := Widening{Column: name, From: strings.Join(kinds, ", ")}
	nested := counts["OBJECT"] > 0 || counts["ARRAY"] > 0
	numbers := counts["BIGINT"] > 0 || counts["DOUBLE"] > 0
	switch {
	case len(kinds) == 0:
		w.From, w.To = "NULL", "VARCHAR"
		w.Reason = "every value is null, so no type could be detected; stored as VARCHAR (set options.types to choose one)"
	case nested && len(kinds) == 1:
		w.To = "JSON"
		w.Reason = fmt.Sprintf("the %s values vary in their keys or value types, so they are kept as JSON (read parts with ->> or json_extract)", strings.ToLower(kinds[0]))
	case nested:
		w.To = "JSON"
		w.Reason = fmt.Sprintf("values mix objects or arrays with other values (%s), so they are kept as JSON text (read parts with ->> or json_extract, or set options.types to VARCHAR)", strings.Join(parts, ", "))
	case len(kinds) == 1:
		w.To = kinds[0]
		w.Reason = "DuckDB's sample of the file could not settle the type; every value is " + kinds[0]
	case numbers && counts["VARCHAR"] == 0 && counts["BOOLEAN"] == 0:
		w.To = "HUGEINT"
		if counts["DOUBLE"] > 0 {
			w.To = "DOUBLE"
		}
		w.Reason = fmt.Sprintf("values mix kinds of number (%s)", strings.Join(parts, ", "))
	default:
		w.To = "VARCHAR"
		w.Reason = fmt.Sprintf("values mix types (%s), so they are stored as text: numbers and booleans as written, strings without quotes (set options.types to choose another type)", strings.Join(parts, ", "))
	}
	return w
}

// textWidenings finds the VARCHAR columns of a CSV or TSV source, stored in
// the Parquet file at out with columns cols, whose values mix text with
// numbers or dates (DuckDB's sniffer types such a column VARCHAR), by one
// pass over the stored file. Columns the caller typed are left out.
func (in *Ingester) textWidenings(ctx context.Context, p *plan, out string, cols []catalog.Column, o Options) ([]Widening, error) {
	var text []string
	for _, c := range cols {
		source := c.Name
		if p.stored != nil {
			source = p.stored[c.Name]
		}
		if _, typed := o.Types[source]; c.Type == "VARCHAR" && !typed {
			text = append(text, c.Name)
		}
	}
	if len(text) == 0 {
		return nil, nil
	}
	// Numbers and dates are finite ones: "NaN" and "Inf" are names as
	// often as not. An integer is digits only (a cast to BIGINT rounds 7.5).
	var exprs []string
	for _, c := range text {
		c = ident(c)
		exprs = append(exprs, "count("+c+")",
			"count(CASE WHEN regexp_full_match(trim("+c+"), '[+-]?[0-9]+') THEN 1 END)",
			"count(CASE WHEN isfinite(TRY_CAST("+c+" AS DOUBLE)) THEN 1 END)",
			"count(CASE WHEN isfinite(TRY_CAST("+c+" AS DATE)) THEN 1 END)")
	}
	counts := make([]int64, len(exprs))
	ptrs := make([]any, len(exprs))
	for i := range counts {
		ptrs[i] = &counts[i]
	}
	if err := in.db.QueryRowContext(ctx, "SELECT "+strings.Join(exprs, ", ")+" FROM read_parquet("+quote(out)+")").Scan(ptrs...); err != nil {
		return nil, fmt.Errorf("count the kinds of text values: %w", err)
	}
	var widened []Widening
	for i, c := range text {
		all, ints, nums, dates := counts[4*i], counts[4*i+1], counts[4*i+2], counts[4*i+3]
		seen := map[string]int64{"VARCHAR": all - nums - dates, "BIGINT": ints, "DOUBLE": nums - ints, "DATE": dates}
		kinds, parts := tally(seen)
		if seen["VARCHAR"] == 0 || len(kinds) < 2 {
			continue // all text, or all numbers or dates that DuckDB kept as text for reasons of its own
		}
		widened = append(widened, Widening{
			Column: c, From: strings.Join(kinds, ", "), To: "VARCHAR",
			Reason: fmt.Sprintf("values mix text with numbers or dates (%s), so DuckDB stored them all as text; set options.types to choose another type, or list a placeholder for a missing value (N/A, -) in options.null_strings", strings.Join(parts, ", ")),
		})
	}
	return widened, nil
}

// tally orders the types counted in counts, leaving out those counted
// zero, most common first, and writes each with its count ("9 BIGINT").
func tally(counts map[string]int64) (kinds, parts []string) {
	for t, n := range counts {
		if n > 0 {
			kinds = append(kinds, t)
		}
	}
	slices.SortFunc(kinds, func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), strings.Compare(a, b))
	})
	for _, t := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", counts[t], t))
	}
	return kinds, parts
}

// describe returns the columns the table function reader yields.
func (in *Ingester) describe(ctx context.Context, reader string) ([]catalog.Column, error) {
	rows, err := in.db.QueryContext(ctx, "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "+reader+")")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []catalog.Column
	for rows.Next() {
		var c catalog.Column
		if err := rows.Scan(&c.Name, &c.Type); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// ident makes s a quoted SQL identifier.
func ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteList writes names as "a", "b".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
