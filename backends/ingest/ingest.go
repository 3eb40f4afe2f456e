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
// A derived dataset's source is the Parquet that the SQL engine wrote from
// a statement (see Request.Lineage): it is stored as it is, and its version
// records the statement, the dataset versions it read and a checksum of its
// rows.
//
// Each append adds a file; when a version ends with many small files, a
// background compaction merges them into one (see compact.go).
package ingest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
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

	// Lineage, when set, says that Body is the whole result of a SQL
	// statement over other datasets, as Parquet that the SQL engine wrote:
	// Format must be parquet and Options empty. The file is stored as it
	// is, and the version keeps Lineage: SQL and Inputs as given. An
	// ingest of the current version's own statement whose rows (in any
	// order: sqlengine.ChecksumQuery) and columns equal that version's is
	// unchanged, as a re-sent file is; the rows are read for that only
	// then, so that making a dataset costs no second pass over it. Ingest
	// reads Lineage's fields only once it has read Body to its end, so
	// whoever writes Body may fill them in until it closes it.
	Lineage *catalog.Lineage
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
	// Lineage is how the version was derived by SQL, if it was.
	Lineage *catalog.Lineage `json:"lineage,omitempty" jsonschema:"for a version made from source.sql: the statement, the dataset versions it read (name@vN) and the checksum of its rows"`
}

// Progress is told how an ingest advances; step grows with every call.
type Progress func(step float64, message string)

// Store is what Ingest needs of the store of the datasets' files: the
// local store ([store.FS]), or a bucket read through a cache
// ([store.Cached]). Hold gives the local paths of files to read, which
// stay there until release.
type Store interface {
	Stat(ctx context.Context, key string) (store.Info, error)
	Hold(ctx context.Context, keys []string) (paths []string, release func(), err error)
	Adopt(ctx context.Context, key, localPath, contentType string) (store.Info, error)
	Delete(ctx context.Context, key string) error
}

// Objects is what Ingest needs of a store of object_key sources other
// than its own.
type Objects interface {
	Get(ctx context.Context, key string) (io.ReadCloser, store.Info, error)
}

// Config says where an Ingester may read and write.
type Config struct {
	TempDir      string   // scratch space beneath the store's TempDir, whose files it adopts; emptied by New
	ObjectsDir   string   // folder holding the store's object files (object_key sources are read there)
	FilesDir     string   // folder of the local copies of the datasets' files, when not beneath ObjectsDir (a cache); "" = none
	AllowedPaths []string // folders path sources may come from; none by default

	// Objects, when not nil, holds the object_key sources instead of the
	// store given to New: the objects that agents put are elsewhere (in a
	// bucket, say). Each is copied into the scratch space to be read.
	Objects Objects

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
	objects      Objects   // of object_key sources; nil = store
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
	dirs := []string{cfg.TempDir, cfg.ObjectsDir}
	if cfg.FilesDir != "" {
		dirs = append(dirs, cfg.FilesDir)
	}
	db, err := sqlengine.Open(duck, append(dirs, allowed...))
	if err != nil {
		tmp.Close()
		return nil, err
	}
	in := &Ingester{db: db, cat: cat, store: st, objects: cfg.Objects, tmp: tmp, allowedPaths: allowed}
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
	if req.Lineage != nil {
		// A statement may run long before its result is all here: say at
		// once what the mode makes of the dataset as it is now. The check
		// under the dataset's lock still decides.
		if err := modeFits(req.Name, mode, in.cat.Lookup(req.Name)); err != nil {
			return nil, err
		}
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
	defer src.done()
	det, err := detectFormat(src)
	if err != nil {
		return nil, err
	}
	format := det.format
	if req.Lineage != nil && (format != "parquet" || !req.Options.empty()) {
		return nil, fmt.Errorf("ingest: a source with lineage must be Parquet without options, not %s", format)
	}
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
	if cur != nil && req.Lineage != nil {
		prev = cur.Current() // the result is compared once it is known
	} else if cur != nil {
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
	if err := modeFits(req.Name, mode, cur); err != nil {
		return nil, err
	}

	if req.Lineage != nil {
		return in.ingestDerived(ctx, req, mode, src, cur, start, progress)
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
	m, err := in.commitVersion(ctx, req.Name, mode, v, prev, out, start, progress)
	if err != nil {
		return nil, err
	}
	res := result(m, m.Current(), start, false)
	res.Compression = det.compression
	res.Widened = p.widened
	return res, nil
}

// ingestDerived finishes an ingest of the result of a SQL statement (see
// Request.Lineage), src, into dataset req.Name, whose manifest is cur (nil
// when it does not exist), holding its lock. DuckDB's Parquet is stored as
// it is: reading it only to write the same rows again would double the
// cost of a derived dataset.
func (in *Ingester) ingestDerived(ctx context.Context, req Request, mode string, src *source, cur *catalog.Manifest, start time.Time, progress Progress) (*Result, error) {
	rows, err := in.rowCount(ctx, src.path)
	if err != nil {
		return nil, err
	}
	cols, err := in.columns(ctx, src.path)
	if err != nil {
		return nil, err
	}
	lineage := &catalog.Lineage{SQL: req.Lineage.SQL, Inputs: slices.Clone(req.Lineage.Inputs)}
	v := catalog.Version{
		Version: 1, Mode: mode, Source: src.desc, Format: "parquet",
		AddedRows: rows, Rows: rows, Columns: cols, Created: time.Now().UTC(), Lineage: lineage,
	}
	var prev *catalog.Version
	if cur != nil {
		prev = cur.Current()
	}
	// What makes the result "the same" is the statement, its rows in any
	// order and its columns; the bytes of the file are not, since a
	// parallel query may write the rows in another order. Only a re-run of
	// the current version's statement can be the same, so only then are
	// the rows read for their checksum, and the current version's too when
	// it was made without one.
	rerun := prev != nil && prev.Lineage != nil && prev.Lineage.SQL == lineage.SQL && mode != ModeAppend
	if rerun {
		if lineage.Checksum, err = in.checksum(ctx, src.path); err != nil {
			return nil, err
		}
		prevSum := prev.Lineage.Checksum
		if prevSum == "" {
			paths, release, err := in.store.Hold(ctx, prev.Files)
			if err != nil {
				return nil, err
			}
			prevSum, err = in.checksum(ctx, paths...)
			release()
			if err != nil {
				return nil, err
			}
		}
		if prevSum == lineage.Checksum && prev.Fingerprint() == v.Fingerprint() {
			return result(cur, prev, start, true), nil
		}
	}
	v.SourceSHA = derivedSHA(lineage.SQL, lineage.Checksum, v.Fingerprint())
	m, err := in.commitVersion(ctx, req.Name, mode, v, prev, src.path, start, progress)
	if err != nil {
		return nil, err
	}
	return result(m, m.Current(), start, false), nil
}

// commitVersion publishes the Parquet file at file as the next version of
// dataset name after prev (nil for the first), v: in mode append it keeps
// prev's files and rows too, of the same schema. It commits the version,
// and starts a compaction when the dataset has gathered small files.
func (in *Ingester) commitVersion(ctx context.Context, name, mode string, v catalog.Version, prev *catalog.Version, file string, start time.Time, progress Progress) (*catalog.Manifest, error) {
	// A new dataset's files go to a folder of its own; later versions' to
	// the folder of the version before.
	folder := catalog.NewFolder(name)
	if prev != nil {
		folder = catalog.FolderOf(name, prev.Files)
		v.Version = prev.Version + 1
		if mode == ModeAppend {
			if err := sameSchema(name, prev.Columns, v.Columns); err != nil {
				return nil, err
			}
			v.Files = slices.Clone(prev.Files)
			v.Rows += prev.Rows
			v.Bytes = prev.Bytes
		}
	}
	key := catalog.FileKey(folder, v.Version, len(v.Files))
	progress(float64(time.Since(start).Seconds())+2, "publishing version")
	var m *catalog.Manifest
	err := in.publish(ctx, key, file, func(ctx context.Context, size int64) (err error) {
		v.Files = append(v.Files, key)
		v.Bytes += size
		m, err = in.cat.Commit(ctx, name, v)
		return err
	})
	if err != nil {
		return nil, err
	}
	in.compactSoon(name, m.Current())
	return m, nil
}

// rowCount returns the rows of the Parquet file at path, from its metadata.
func (in *Ingester) rowCount(ctx context.Context, path string) (int64, error) {
	var rows int64
	if err := in.db.QueryRowContext(ctx, "SELECT count(*) FROM read_parquet("+quote(path)+")").Scan(&rows); err != nil {
		return 0, derivedError(ctx, err)
	}
	return rows, nil
}

// checksum returns "<rows>:<sum of the rows' hashes>" of the Parquet files
// at paths: the same for the same rows in any order.
func (in *Ingester) checksum(ctx context.Context, paths ...string) (string, error) {
	var rows int64
	var sum string
	if err := in.db.QueryRowContext(ctx, sqlengine.ChecksumQuery(paths...)).Scan(&rows, &sum); err != nil {
		return "", derivedError(ctx, err)
	}
	return fmt.Sprintf("%d:%s", rows, sum), nil
}

// derivedError explains a failure to read the derived rows.
func derivedError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("ingest stopped: %w", ctx.Err())
	}
	return fmt.Errorf("read the derived rows: %w", err)
}

// derivedSHA stands for the source sha256 of a derived version: the hash of
// its statement, the checksum of its rows and the fingerprint of its
// columns.
func derivedSHA(sql, checksum, fingerprint string) string {
	h := sha256.New()
	fmt.Fprintf(h, "sql\x00%s\x00%s\x00%s", sql, checksum, fingerprint)
	return hex.EncodeToString(h.Sum(nil))
}

// modeFits refuses an ingest in mode into dataset name, whose manifest is
// cur (nil when it does not exist), that the mode does not allow: create
// over an existing dataset, append or replace to a missing one.
func modeFits(name, mode string, cur *catalog.Manifest) error {
	switch {
	case cur != nil && mode == ModeCreate:
		prev := cur.Current()
		return errs.New(errs.Conflict, "dataset %q already exists (version %d, %d rows); use mode append to add rows or mode replace to change its contents", name, prev.Version, prev.Rows)
	case cur == nil && mode != ModeCreate:
		return errs.New(errs.NotFound, "dataset %q does not exist, so it cannot %s; use mode create", name, mode)
	}
	return nil
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
		if errors.Is(err, catalog.ErrMaybeCommitted) {
			// The version may refer to the file: it stays, unreferenced at
			// worst, until the dataset is dropped.
			slog.Warn("a commit's outcome is unknown; its dataset file is kept", "key", key, "err", err)
			return err
		}
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
		Lineage: v.Lineage,
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
