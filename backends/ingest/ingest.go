// Package ingest turns CSV, TSV, JSON, NDJSON (each optionally gzip- or
// zstd-compressed), Parquet and Arrow IPC into dataset versions: DuckDB
// reads the source, detects types and writes one zstd Parquet file, which is
// moved into the store and recorded in the catalog. detect.go recognises
// the format, shape.go decides the columns and their types, arrow.go turns
// Arrow IPC into Parquet first.
//
// An ingest holds its dataset's lock from the moment it compares the source
// with the current version until the new manifest is durable, so two ingests
// into one dataset never interleave; ingests into different datasets run in
// parallel.
//
// Each append adds a file; when a version ends with many small files, a
// background compaction merges them into one (see compact.go).
package ingest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"lakehouse/backends/catalog"
	"lakehouse/backends/errs"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/store"
	"lakehouse/internal/disk"
)

// Modes of an ingest.
const (
	ModeCreate  = "create"
	ModeAppend  = "append"
	ModeReplace = "replace"
)

// Request is one ingest. Exactly one of Content, ObjectKey, Path and Body
// is set.
type Request struct {
	Name      string
	Content   string    // inline text
	ObjectKey string    // an object in the store
	Path      string    // a local file under the allowed paths
	Body      io.Reader // a stream (an upload), written to the temp folder as it arrives
	MaxBody   int64     // the most bytes Body may hold; 0 means no limit
	Format    string    // auto (""), csv, tsv, json, ndjson, parquet or arrow
	Mode      string    // create (""), append or replace
	Options   Options
}

// Options tune how a source is read; DuckDB detects whatever is not set.
// Delimiter, Header, Quote and NullStrings apply to CSV and TSV; Types,
// DateFormat and TimestampFormat to CSV, TSV, JSON and NDJSON; Columns to
// every format. An option that does not apply is refused.
// The jsonschema tags describe the fields to models calling the tool.
type Options struct {
	Delimiter       string            `json:"delimiter,omitempty" jsonschema:"csv/tsv: field separator; default , for csv and tab for tsv"`
	Header          *bool             `json:"header,omitempty" jsonschema:"csv/tsv: whether the first line names the columns; default detected"`
	Quote           string            `json:"quote,omitempty" jsonschema:"csv/tsv: quote character; default detected"`
	NullStrings     []string          `json:"null_strings,omitempty" jsonschema:"csv/tsv: values read as NULL, e.g. [\"NA\", \"-\"]"`
	Types           map[string]string `json:"types,omitempty" jsonschema:"csv/tsv/json/ndjson: source column name to DuckDB type, overriding detection, e.g. {\"zip\": \"VARCHAR\", \"day\": \"DATE\"}. A json field whose values mix types becomes VARCHAR (objects and arrays: JSON) unless given a type here"`
	Columns         map[string]string `json:"columns,omitempty" jsonschema:"any format: the columns to keep, as source name to stored name; only these are kept, in the source's order, each renamed to its value (\"\" keeps the name), e.g. {\"Title\": \"title\", \"Year\": \"\"}. types uses the source names"`
	DateFormat      string            `json:"date_format,omitempty" jsonschema:"csv/tsv/json/ndjson: strptime format of text dates, e.g. %d/%m/%Y, or %b %d %Y for 'Jan 1 2000'; matching columns are detected as DATE (or name them in types)"`
	TimestampFormat string            `json:"timestamp_format,omitempty" jsonschema:"csv/tsv/json/ndjson: strptime format of text timestamps, e.g. %Y-%m-%d %H:%M:%S or %d/%m/%Y %I:%M %p"`
}

func (o Options) empty() bool {
	return o.Delimiter == "" && o.Header == nil && o.Quote == "" && len(o.NullStrings) == 0 && len(o.Types) == 0 &&
		len(o.Columns) == 0 && o.DateFormat == "" && o.TimestampFormat == ""
}

// Result summarises the dataset version an ingest made (or found unchanged).
type Result struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Mode    string `json:"mode"`
	Format  string `json:"format"`
	// Compression is the compression the source was read through: gzip,
	// zstd, or "" for none.
	Compression string           `json:"compression,omitempty" jsonschema:"gzip or zstd when the source was compressed"`
	Rows        int64            `json:"rows"`
	AddedRows   int64            `json:"added_rows"`
	Columns     []catalog.Column `json:"columns"`
	Bytes       int64            `json:"bytes"`
	ElapsedMS   int64            `json:"elapsed_ms"`
	Unchanged   bool             `json:"unchanged"`
	// Widened lists the columns given a wider type than some of their
	// values have (a JSON field mixing strings and numbers stored as
	// VARCHAR, say), and why. An unchanged ingest reads nothing, so it
	// reports none.
	Widened []Widening `json:"widened,omitempty" jsonschema:"columns whose values mixed types and which were given a wider type, and why; set options.types to choose otherwise"`
}

// Progress is told how an ingest advances; step grows with every call.
type Progress func(step float64, message string)

// Store is what Ingest needs of the object store.
type Store interface {
	Stat(ctx context.Context, key string) (store.Info, error)
	Path(key string) string
	Adopt(ctx context.Context, key, localPath, contentType string) (store.Info, error)
	Delete(ctx context.Context, key string) error
}

// Config says where an Ingester may read and write.
type Config struct {
	TempDir      string   // scratch space beneath the store's TempDir, whose files it adopts; emptied by New
	ObjectsDir   string   // folder holding the store's object files (object_key sources are read there)
	AllowedPaths []string // folders path sources may come from; none by default

	// DuckDB tunes the ingest database; its TempDir is ignored: New gives
	// DuckDB a temp folder of its own beside TempDir.
	DuckDB sqlengine.Config

	// CompactFiles is how many small files a dataset's current version may
	// end with before a background compaction merges them into one (see
	// compact.go); 0 means DefaultCompactFiles, a negative number never.
	CompactFiles int
	// SmallFileBytes is the size under which a file counts as small; 0
	// means DefaultSmallFileBytes.
	SmallFileBytes int64
}

// Ingester runs ingests.
type Ingester struct {
	db           *sql.DB
	cat          *catalog.Catalog
	store        Store
	tmp          *disk.Dir // the temp folder, which refuses links
	allowedPaths []string
	keywords     map[string]bool // SQL keywords that cannot name a dataset

	locks     sync.Map // dataset name -> chan struct{} of capacity 1, held while ingesting, compacting or dropping
	compactor compactor
}

// New opens an Ingester. DuckDB may read only the temp folder, the store's
// objects and the allowed paths, and write only in the temp folder.
func New(cfg Config, cat *catalog.Catalog, st Store) (*Ingester, error) {
	tmp, err := disk.Fresh(cfg.TempDir)
	if err != nil {
		return nil, fmt.Errorf("ingest temp folder: %w", err)
	}
	var allowed []string
	for _, p := range cfg.AllowedPaths {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil, fmt.Errorf("ingest.allowed_paths: %w", err)
		}
		allowed = append(allowed, real)
	}
	// DuckDB spills to a folder of its own beside the scratch space (inside,
	// it would count as an ingest's leftover).
	duck := cfg.DuckDB
	duck.TempDir = cfg.TempDir + "-duckdb"
	db, err := sqlengine.Open(duck, append([]string{cfg.TempDir, cfg.ObjectsDir}, allowed...))
	if err != nil {
		tmp.Close()
		return nil, err
	}
	in := &Ingester{db: db, cat: cat, store: st, tmp: tmp, allowedPaths: allowed}
	if in.keywords, err = loadKeywords(db); err != nil {
		db.Close()
		return nil, err
	}
	in.compactor.start(cfg)
	return in, nil
}

// scratch makes a new folder in the temp folder for one ingest or
// compaction and returns its name there and its path, for DuckDB. The
// caller removes it with in.tmp.RemoveAll(name).
func (in *Ingester) scratch(prefix string) (name, path string, err error) {
	name, err = in.tmp.MkdirTemp(".", prefix+"*")
	if err != nil {
		return "", "", err
	}
	return name, in.tmp.Path(name), nil
}

// Close stops background compactions, waits for them, and releases DuckDB.
func (in *Ingester) Close() error {
	in.compactor.stop()
	return errors.Join(in.db.Close(), in.tmp.Close())
}

// loadKeywords asks DuckDB which words cannot stand unquoted as a table name.
func loadKeywords(db *sql.DB) (map[string]bool, error) {
	rows, err := db.Query("SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category <> 'unreserved'")
	if err != nil {
		return nil, fmt.Errorf("load SQL keywords: %w", err)
	}
	defer rows.Close()
	kw := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		kw[strings.ToLower(k)] = true
	}
	return kw, rows.Err()
}

var namePattern = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// ValidateName checks that name can be written unquoted in SQL.
func (in *Ingester) ValidateName(name string) error {
	const rule = "dataset names are unquoted SQL identifiers: lowercase letters, digits and _, starting with a letter or _, at most 63 characters, and not a reserved SQL keyword"
	switch {
	case name == "":
		return errs.New(errs.Invalid, "dataset name is empty; %s", rule)
	case len(name) > 63 || !namePattern.MatchString(name):
		return errs.New(errs.Invalid, "invalid dataset name %q; %s", name, rule)
	case in.keywords[name]:
		return errs.New(errs.Invalid, "invalid dataset name %q: it is a reserved SQL keyword; %s (e.g. %s_data)", name, rule, name)
	}
	return nil
}

// lock takes dataset name's lock, or gives up when ctx ends first.
func (in *Ingester) lock(ctx context.Context, name string) (unlock func(), err error) {
	v, _ := in.locks.LoadOrStore(name, make(chan struct{}, 1))
	ch := v.(chan struct{})
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for another ingest into %q: %w", name, ctx.Err())
	}
}

// Ingest reads req's source into a new version of dataset req.Name.
// progress may be nil.
func (in *Ingester) Ingest(ctx context.Context, req Request, progress Progress) (*Result, error) {
	start := time.Now()
	if progress == nil {
		progress = func(float64, string) {}
	}
	if err := in.ValidateName(req.Name); err != nil {
		return nil, err
	}
	mode := strings.ToLower(req.Mode)
	switch mode {
	case "":
		mode = ModeCreate
	case ModeCreate, ModeAppend, ModeReplace:
	default:
		return nil, errs.New(errs.Invalid, "unknown mode %q; use create (new dataset), append (add rows, same schema) or replace (new contents)", req.Mode)
	}
	scratch, dir, err := in.scratch("ingest-")
	if err != nil {
		return nil, err
	}
	defer in.tmp.RemoveAll(scratch)

	src, err := in.resolveSource(ctx, &req, scratch)
	if err != nil {
		return nil, err
	}
	det, err := detectFormat(src)
	if err != nil {
		return nil, err
	}
	format := det.format
	if err := in.checkOptions(ctx, format, req.Options); err != nil {
		return nil, err
	}
	optionsJSON, err := canonical(req.Options)
	if err != nil {
		return nil, err
	}
	ready := "source ready (" + format + ")"
	if det.compression != "" {
		ready = "source ready (" + det.compression + "-compressed " + format + ")"
	}
	progress(1, ready)

	unlock, err := in.lock(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	cur := in.cat.Lookup(req.Name)
	var prev *catalog.Version
	if cur != nil {
		prev = cur.Current()
		sha, err := src.sha()
		if err != nil {
			return nil, fmt.Errorf("hash source: %w", err)
		}
		if unchanged(prev, sha, format, optionsJSON, mode) {
			res := result(cur, prev, start, true)
			res.Compression = det.compression
			return res, nil
		}
	}
	switch {
	case cur != nil && mode == ModeCreate:
		return nil, errs.New(errs.Conflict, "dataset %q already exists (version %d, %d rows); use mode append to add rows or mode replace to change its contents", req.Name, prev.Version, prev.Rows)
	case cur == nil && mode != ModeCreate:
		return nil, errs.New(errs.NotFound, "dataset %q does not exist, so it cannot %s; use mode create", req.Name, mode)
	}

	path := src.path
	if format == "arrow" {
		// DuckDB reads the Arrow IPC source as the Parquet file arrow-go
		// writes from it (see arrow.go).
		path = filepath.Join(dir, "arrow.parquet")
		progress(1.5, "converting Arrow IPC to Parquet")
		if err := arrowToParquet(ctx, src, path); err != nil {
			return nil, err
		}
	}
	p, err := in.plan(ctx, path, det, req.Options)
	if err != nil {
		return nil, in.readError(ctx, err, p, src)
	}
	out := filepath.Join(dir, "part.parquet")
	// A compressed source is checked to its end while DuckDB reads it.
	checked := make(chan error, 1)
	if det.compression == "" {
		checked <- nil
	} else {
		go func() { checked <- checkCompressed(ctx, src.path, det.compression) }()
	}
	added, err := in.convert(ctx, p, out, src, progress)
	if cerr := <-checked; cerr != nil && ctx.Err() == nil {
		return nil, errs.New(errs.Invalid, "cannot read the %s-compressed %s source (%s): its %s data is truncated or corrupt (%v); send the whole file again", det.compression, format, src.desc, det.compression, cerr)
	}
	if err != nil {
		return nil, err
	}
	cols, err := in.columns(ctx, out)
	if err != nil {
		return nil, err
	}
	if format == "csv" || format == "tsv" {
		w, err := in.textWidenings(ctx, p, out, cols, req.Options)
		if err != nil {
			return nil, err
		}
		p.widened = append(p.widened, w...)
	}
	sha, err := src.sha()
	if err != nil {
		return nil, fmt.Errorf("hash source: %w", err)
	}
	v := catalog.Version{
		Version: 1, Mode: mode, Source: src.desc, SourceSHA: sha, Format: format,
		Options: optionsJSON, AddedRows: added, Rows: added, Columns: cols, Created: time.Now().UTC(),
	}
	if prev != nil {
		v.Version = prev.Version + 1
		if mode == ModeAppend {
			if err := sameSchema(req.Name, prev.Columns, cols); err != nil {
				return nil, err
			}
			v.Files = slices.Clone(prev.Files)
			v.Rows += prev.Rows
			v.Bytes = prev.Bytes
		}
	}
	key := catalog.DataKey(req.Name, v.Version, len(v.Files))
	progress(float64(time.Since(start).Seconds())+2, "publishing version")
	var m *catalog.Manifest
	err = in.publish(ctx, key, out, func(ctx context.Context, size int64) (err error) {
		v.Files = append(v.Files, key)
		v.Bytes += size
		m, err = in.cat.Commit(ctx, req.Name, v)
		return err
	})
	if err != nil {
		return nil, err
	}
	in.compactSoon(req.Name, m.Current())
	res := result(m, m.Current(), start, false)
	res.Compression = det.compression
	res.Widened = p.widened
	return res, nil
}

// publish moves the Parquet file at out into the store under key, then runs
// commit with its size to record it in the catalog. Once the file is in the
// store commit runs even if ctx is cancelled, and when commit fails the
// file, which nothing refers to, is taken away again.
func (in *Ingester) publish(ctx context.Context, key, out string, commit func(ctx context.Context, size int64) error) error {
	info, err := in.store.Adopt(ctx, key, out, "application/vnd.apache.parquet")
	if err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	if err := commit(ctx, info.Size); err != nil {
		if derr := in.store.Delete(ctx, key); derr != nil {
			slog.Warn("remove unreferenced dataset file", "key", key, "err", derr)
		}
		return err
	}
	return nil
}

// unchanged reports whether ingesting the source (by its sha256, format and
// options) in mode would leave the dataset as prev already is. Sending the
// same bytes as the latest ingest again is taken as a retry, so create and
// append change nothing; replace changes nothing unless the latest version
// also holds rows appended before it.
func unchanged(prev *catalog.Version, sha, format, options, mode string) bool {
	same := prev.SourceSHA == sha && prev.Format == format && prev.Options == options
	return same && (mode != ModeReplace || prev.Mode != ModeAppend)
}

// Drop deletes dataset name, waiting for any ingest into it to finish first.
func (in *Ingester) Drop(ctx context.Context, name string) (*catalog.Manifest, error) {
	unlock, err := in.lock(ctx, name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return in.cat.Drop(ctx, name)
}

func result(m *catalog.Manifest, v *catalog.Version, start time.Time, unchanged bool) *Result {
	return &Result{
		Name: m.Name, Version: v.Version, Mode: v.Mode, Format: v.Format, Rows: v.Rows, AddedRows: v.AddedRows,
		Columns: v.Columns, Bytes: v.Bytes, ElapsedMS: time.Since(start).Milliseconds(), Unchanged: unchanged,
	}
}

// convert has DuckDB write the rows p selects as one zstd Parquet file
// and returns its row count, telling progress every second while DuckDB
// works.
func (in *Ingester) convert(ctx context.Context, p *plan, out string, src *source, progress Progress) (int64, error) {
	defer heartbeat(progress)()
	res, err := in.db.ExecContext(ctx, parquetCopy(p.query(), out))
	if err != nil {
		return 0, in.readError(ctx, err, p, src)
	}
	return res.RowsAffected()
}

// readError explains an error DuckDB gave reading the source of plan p: an
// errs error (an option refused) as it is, a DuckDB error as the data's
// fault, with the rows DuckDB refused for a CSV source.
func (in *Ingester) readError(ctx context.Context, err error, p *plan, src *source) error {
	if ctx.Err() != nil {
		return fmt.Errorf("ingest stopped: %w", ctx.Err())
	}
	if errs.KindOf(err) != nil {
		return err
	}
	msg := duckMessage(err, src)
	if p.path != src.path && p.path != "" {
		msg = strings.ReplaceAll(msg, p.path, src.desc) // the Parquet made of an Arrow source
	}
	if (p.format == "csv" || p.format == "tsv") && p.reader != "" {
		if bad := in.diagnoseCSV(ctx, p.reader); bad != "" {
			msg += "\nRows DuckDB could not read:\n" + bad
		}
	}
	what := p.format
	if p.compression != "" {
		what = p.compression + "-compressed " + what
	}
	return errs.New(errs.Invalid, "cannot read the %s source (%s): %s\n(fix the data, or set options: %s)", what, src.desc, msg, optionsFor(p.format))
}

// parquetCopy is the statement that writes the rows of query as one zstd
// Parquet file at out.
func parquetCopy(query, out string) string {
	return fmt.Sprintf("COPY (%s) TO %s (FORMAT parquet, COMPRESSION zstd)", query, quote(out))
}

// diagnoseCSV rereads a CSV source that DuckDB refused, with the same
// read_csv call, reader, this time letting DuckDB set the bad rows aside,
// and returns DuckDB's account of the first of them (line number, what was
// wrong, the line itself), or "" when it finds none. DuckDB's first error
// often says only that the dialect could not be detected.
func (in *Ingester) diagnoseCSV(ctx context.Context, reader string) string {
	// reject_errors is a temporary table of the connection that read the file.
	conn, err := in.db.Conn(ctx)
	if err != nil {
		return ""
	}
	defer conn.Close()
	reader = strings.TrimSuffix(reader, ")") + ", store_rejects=true)"
	if _, err := conn.ExecContext(ctx, "SELECT count(*) FROM "+reader); err != nil {
		return ""
	}
	// The connection keeps the rejects of earlier scans too: take this scan's.
	rows, err := conn.QueryContext(ctx, "SELECT line, error_message, csv_line FROM reject_errors WHERE scan_id = (SELECT max(scan_id) FROM reject_scans) ORDER BY line LIMIT 3")
	if err != nil {
		return ""
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line int64
		var msg, text string
		if rows.Scan(&line, &msg, &text) == nil {
			lines = append(lines, fmt.Sprintf("line %d: %s (line text: %q)", line, msg, text))
		}
	}
	return strings.Join(lines, "\n")
}

// duckMessage keeps the part of a DuckDB error that speaks of the data,
// dropping its list of generic fixes and the internal query, and names the
// source as the caller knows it rather than by its temporary path.
func duckMessage(err error, src *source) string {
	msg := err.Error()
	if i := strings.Index(msg, "\nPossible fixes:"); i >= 0 {
		msg = msg[:i]
	}
	if i := strings.Index(msg, "\n\nLINE 1:"); i >= 0 {
		msg = msg[:i]
	}
	msg = strings.ReplaceAll(msg, src.path, src.desc)
	return strings.TrimSpace(msg)
}

func (in *Ingester) columns(ctx context.Context, parquet string) ([]catalog.Column, error) {
	rows, err := in.db.QueryContext(ctx, "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet("+quote(parquet)+"))")
	if err != nil {
		return nil, fmt.Errorf("describe new parquet: %w", err)
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

// sameSchema explains how the columns of appended data differ from the dataset's.
func sameSchema(name string, have, got []catalog.Column) error {
	if slices.Equal(have, got) {
		return nil
	}
	haveType := map[string]string{}
	for _, c := range have {
		haveType[c.Name] = c.Type
	}
	gotType := map[string]string{}
	var diffs []string
	for _, c := range got {
		gotType[c.Name] = c.Type
		switch t, ok := haveType[c.Name]; {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("column %s (%s) is new", c.Name, c.Type))
		case t != c.Type:
			diffs = append(diffs, fmt.Sprintf("column %s is %s in the dataset but %s in the new data", c.Name, t, c.Type))
		}
	}
	for _, c := range have {
		if _, ok := gotType[c.Name]; !ok {
			diffs = append(diffs, fmt.Sprintf("column %s (%s) is missing from the new data", c.Name, c.Type))
		}
	}
	if len(diffs) == 0 {
		diffs = append(diffs, "the columns are in a different order")
	}
	return errs.New(errs.Invalid, "cannot append to %q: the schema differs: %s. Use options.types to force column types, or mode replace to change the schema", name, strings.Join(diffs, "; "))
}

// canonical is the JSON of the options, which is part of what makes a
// re-ingest "unchanged"; "" when none is set.
func canonical(o Options) (string, error) {
	if o.empty() {
		return "", nil
	}
	b, err := json.Marshal(o)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// quote makes s a SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// heartbeat tells progress once a second that the conversion goes on, until
// the returned stop is called; stop waits, so no call comes after it.
func heartbeat(progress Progress) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		start := time.Now()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s := time.Since(start).Seconds()
				progress(1+s, fmt.Sprintf("converting to Parquet: %.0f s", s))
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
