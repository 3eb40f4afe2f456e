package sqlengine

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"lakehouse/backends/errs"
)

// maxListedDatasets caps the dataset names listed in a "table not found" error.
const maxListedDatasets = 50

// ctxCheckRows is how often, in rows, reading a result checks its context.
const ctxCheckRows = 1024

// An Engine runs read-only SQL over the views of a [Catalog]. It is safe for
// concurrent use; at most Config.MaxConns queries run at once and the others
// wait for a slot, within their context's deadline.
type Engine struct {
	db  *sql.DB
	cat Catalog

	slots       chan struct{} // holds a token per running query; its capacity is Config.MaxConns
	memoryLimit string        // DuckDB's memory_limit and where it comes from, for the message of a query that exceeds it

	// gen is the catalog generation last applied, valid once synced is set.
	gen    atomic.Uint64
	synced atomic.Bool

	conns sync.Map // the driver connections withConn handed out, whose statements Close closes

	mu    sync.Mutex        // serialises view syncs; guards views, want and names
	views map[string]string // view name -> its files, for views that exist
	want  map[string]View   // lower-case view name -> view, over a Fetcher (see fetch.go)
	names []string          // sorted dataset names, for error hints
}

// New opens a sandboxed database that may read only below datasetDir and
// returns an engine over the views of cat.
func New(cfg Config, datasetDir string, cat Catalog) (*Engine, error) {
	if cat == nil {
		return nil, errors.New("sqlengine: nil catalog")
	}
	if datasetDir == "" {
		return nil, errors.New("sqlengine: empty dataset directory")
	}
	db, err := Open(cfg, []string{datasetDir})
	if err != nil {
		return nil, err
	}
	limit := cfg.memoryLimit()
	switch {
	case cfg.MemoryLimit != "":
	case limit != "":
		limit += ", a quarter of the memory"
	default:
		limit = "DuckDB's default, 80% of the memory"
	}
	return &Engine{
		db: db, cat: cat, views: make(map[string]string),
		slots: make(chan struct{}, cfg.maxConns()), memoryLimit: limit,
	}, nil
}

// Close closes the database. Queries that are running fail.
func (e *Engine) Close() error {
	e.conns.Range(func(conn, _ any) bool {
		forgetSerializer(conn)
		tempViews.Delete(conn)
		return true
	})
	return e.db.Close()
}

// Column is one column of a [Result].
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"` // DuckDB type name, e.g. BIGINT, VARCHAR, DECIMAL(18,3)
}

// Result is the outcome of [Engine.Query]. Every value in Rows is JSON-safe:
// encoding/json writes it exactly (see jsonvalue.go for the mapping).
type Result struct {
	Columns   []Column `json:"columns"`
	Rows      [][]any  `json:"rows"`
	RowCount  int      `json:"row_count"`  // rows returned
	Truncated bool     `json:"truncated"`  // more rows existed than maxRows
	ElapsedMS int64    `json:"elapsed_ms"` // time spent in Query
}

// Query runs one read-only statement and returns at most maxRows rows
// (maxRows <= 0 means DefaultMaxRows).
//
// A caller's mistake comes back as an [errs.Error]: errs.NotFound for an
// unknown table (with the datasets that exist); errs.Invalid for SQL DuckDB
// rejects (its own text, LINE pointer included), for statements that are
// not reads or that use a refused function or view (see names.go), for a
// query that needs more than the memory limit, and for a query stopped by
// ctx's deadline; and errs.Busy when the deadline passed while every query
// slot was taken (both deadline errors also match
// context.DeadlineExceeded). When ctx is cancelled, Query returns ctx's
// error. Any other error is a fault.
func (e *Engine) Query(ctx context.Context, query string, maxRows int) (*Result, error) {
	return e.QueryProgress(ctx, query, maxRows, nil)
}

// withConn runs f on a driver connection of its own, in a query slot
// (telling progress, when not nil, while it waits for one), after the views
// are in step with the catalog, and maps f's error as queries' errors are
// mapped (see Query). The statement is prepared, checked and run on the
// driver connection directly (see prepareRead for why); the pool has a
// connection for every slot, so getting one does not wait. synced, when
// not nil, is called with the slot taken and the views synced. Over a
// [Fetcher], the views that query names are made on the connection first,
// their files held until f returns (see fetch.go).
func (e *Engine) withConn(ctx context.Context, start time.Time, query string, progress Progress, synced func(), f func(driver.Conn) error) error {
	release, err := e.acquire(ctx, start, progress)
	if err != nil {
		return err
	}
	defer release()
	if err := e.syncViews(ctx); err != nil {
		return e.queryError(ctx, start, err)
	}
	if synced != nil {
		synced()
	}
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return e.queryError(ctx, start, err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		dconn, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("sqlengine: unexpected driver connection %T", dc)
		}
		e.conns.Store(dconn, true)
		release, err := e.fetchViews(ctx, dconn, query)
		if err != nil {
			return err
		}
		defer release()
		return jsonHint(ctx, dconn, f(dconn))
	})
	if err != nil {
		return e.queryError(ctx, start, err)
	}
	return nil
}

// Progress is told how a query is getting on; step grows with every call.
type Progress func(step float64, message string)

// QueryProgress is [Engine.Query], telling progress (when not nil) that the
// query waits for a slot: as soon as it starts to wait, then every second.
func (e *Engine) QueryProgress(ctx context.Context, query string, maxRows int, progress Progress) (*Result, error) {
	start := time.Now()
	if maxRows <= 0 {
		maxRows = DefaultMaxRows
	}
	if isBlank(query) {
		return nil, errs.New(errs.Invalid, "empty query: send one SQL statement, e.g. SELECT * FROM sales LIMIT 10")
	}

	var res *Result
	err := e.withConn(ctx, start, query, progress, nil, func(conn driver.Conn) (err error) {
		res, err = run(ctx, conn, query, maxRows)
		return err
	})
	if err != nil {
		return nil, err
	}
	res.ElapsedMS = time.Since(start).Milliseconds()
	return res, nil
}

// acquire takes a query slot, and returns the function that gives it back.
// When every slot is taken it waits, telling progress (when not nil), until
// one frees or ctx ends. The wait counts against ctx's deadline, and when
// the deadline passes first the error says that the slots were busy, not
// that the query was slow.
func (e *Engine) acquire(ctx context.Context, start time.Time, progress Progress) (release func(), err error) {
	release = func() { <-e.slots }
	select {
	case e.slots <- struct{}{}:
		return release, nil
	default:
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if progress != nil {
			waited := time.Since(start)
			progress(waited.Seconds(), fmt.Sprintf("waiting for a query slot: %s, %.0f s so far", e.slotsBusy(), waited.Seconds()))
		}
		select {
		case e.slots <- struct{}{}:
			return release, nil
		case <-tick.C:
		case <-ctx.Done():
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, ctx.Err()
			}
			return nil, &errs.Error{
				Kind: errs.Busy,
				Msg:  fmt.Sprintf("%s (sql.max_conns) and none freed up within the %d ms timeout; retry later or raise sql.max_conns", e.slotsBusy(), timeoutMS(ctx, start)),
				Err:  context.DeadlineExceeded,
			}
		}
	}
}

// slotsBusy says that every query slot is taken.
func (e *Engine) slotsBusy() string {
	if n := cap(e.slots); n != 1 {
		return fmt.Sprintf("all %d query slots are busy", n)
	}
	return "the one query slot is busy"
}

// timeoutMS returns the time ctx allowed a call that began at start, in
// milliseconds: its deadline, else the time until now.
func timeoutMS(ctx context.Context, start time.Time) int64 {
	if deadline, ok := ctx.Deadline(); ok {
		return deadline.Sub(start).Round(time.Millisecond).Milliseconds()
	}
	return time.Since(start).Milliseconds()
}

// run prepares, checks and executes query on conn and reads its result.
// A query node runs under LIMIT maxRows+1 (see rowcap.go).
func run(ctx context.Context, conn driver.Conn, query string, maxRows int) (*Result, error) {
	exec, names, err := prepareQuery(ctx, conn, query, maxRows+1)
	if err != nil {
		return nil, err
	}
	defer exec.Close()
	if exec.NumInput() > 0 {
		return nil, errs.New(errs.Invalid, "query parameters ($1, ?, $name) are not supported: write the values into the SQL")
	}

	// The driver interrupts DuckDB when ctx ends while the query runs.
	rows, err := exec.QueryContext(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	if n := len(rows.Columns()); n != len(names) {
		return nil, fmt.Errorf("sqlengine: the capped query has %d columns, the query %d", n, len(names))
	}
	typed, _ := rows.(driver.RowsColumnTypeDatabaseTypeName)
	res := &Result{Columns: make([]Column, len(names)), Rows: [][]any{}}
	convs := make([]converter, len(names))
	for i, name := range names {
		typ := ""
		if typed != nil {
			typ = typed.ColumnTypeDatabaseTypeName(i)
		}
		res.Columns[i] = Column{Name: name, Type: typ}
		convs[i] = converterFor(typ)
	}

	// Read one row past maxRows to learn whether there were more.
	buf := make([]driver.Value, len(names))
	for n := 0; ; n++ {
		if n%ctxCheckRows == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if err := rows.Next(buf); err != nil {
			if err == io.EOF {
				break
			}
			return nil, readError(err)
		}
		if len(res.Rows) == maxRows {
			res.Truncated = true
			break
		}
		row := make([]any, len(buf))
		for i, v := range buf {
			row[i] = convs[i](v)
		}
		res.Rows = append(res.Rows, row)
	}
	res.RowCount = len(res.Rows)
	return res, nil
}

// prepareQuery returns the statement that runs query, capped at limit rows
// when it is a query node, and the names of query's columns.
//
// A query node takes the quick way: its syntax tree is checked for refused
// names, and only the capped statement is prepared, which saves binding the
// query twice (for a scan of Parquet files, reading their metadata twice).
// Anything else, and a query node whose capped form does not prepare, goes
// through prepareRead: its refusals name the kind of statement, and its
// errors are DuckDB's own on the statement as written.
func prepareQuery(ctx context.Context, conn driver.Conn, query string, limit int) (*duckdb.Stmt, []string, error) {
	tree, parseErr, err := serialize(ctx, conn, query)
	if err != nil {
		return nil, nil, err
	}
	if parseErr == "" {
		if err := checkTree(tree); err != nil {
			return nil, nil, err
		}
		if capped, err := capRows(ctx, conn, query, tree, limit); err == nil {
			if names, err := columnNames(capped); err == nil && !renamed(names) {
				return capped, names, nil
			}
			capped.Close()
		}
	}
	stmt, tree, err := prepareRead(ctx, conn, query)
	if err != nil {
		return nil, nil, err
	}
	names, err := columnNames(stmt)
	if err != nil || tree == "" {
		if err != nil {
			stmt.Close()
		}
		return stmt, names, err
	}
	stmt.Close()
	capped, err := capRows(ctx, conn, query, tree, limit)
	return capped, names, err
}

// renamed reports whether names may hold a name that the capped statement's
// SELECT * made up for a repeated one ("a" twice becomes "a" and "a_1"):
// some name is another name plus "_" and a number.
func renamed(names []string) bool {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		seen[n] = true
	}
	for _, n := range names {
		i := strings.LastIndexByte(n, '_')
		if i > 0 && i < len(n)-1 && strings.Trim(n[i+1:], "0123456789") == "" && seen[n[:i]] {
			return true
		}
	}
	return false
}

// columnNames returns the names of the columns of stmt's result.
func columnNames(stmt *duckdb.Stmt) ([]string, error) {
	n, err := stmt.ColumnCount()
	if err != nil {
		return nil, fmt.Errorf("sqlengine: column count: %w", err)
	}
	names := make([]string, n)
	for i := range names {
		if names[i], err = stmt.ColumnName(i); err != nil {
			return nil, fmt.Errorf("sqlengine: column name: %w", err)
		}
	}
	return names, nil
}

// readError explains an error met while reading result rows. Those not from
// DuckDB come from the driver, mostly a type it cannot read.
func readError(err error) error {
	var dErr *duckdb.Error
	if errors.As(err, &dErr) {
		return err
	}
	return errs.New(errs.Invalid, "cannot read the result: %v; cast columns of unusual types to VARCHAR, e.g. col::VARCHAR", err)
}

// queryError turns an error met while running a query into one the caller
// can act on. The context is looked at first: an interrupted query fails
// with DuckDB's "Interrupted!", which says less than the reason.
func (e *Engine) queryError(ctx context.Context, start time.Time, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return &errs.Error{
				Kind: errs.Invalid,
				Msg:  fmt.Sprintf("query cancelled after %d ms timeout (timeout_ms can raise it; or narrow the query with WHERE, LIMIT or fewer joins)", timeoutMS(ctx, start)),
				Err:  context.DeadlineExceeded,
			}
		}
		return ctxErr
	}
	if errs.KindOf(err) != nil {
		return err
	}

	var dErr *duckdb.Error
	if !errors.As(err, &dErr) {
		return fmt.Errorf("sqlengine: %w", err)
	}
	switch dErr.Type {
	case duckdb.ErrorTypeInternal, duckdb.ErrorTypeFatal:
		return fmt.Errorf("sqlengine: %w", err)
	case duckdb.ErrorTypeOutOfMemory:
		// DuckDB's own advice (SET threads, SET memory_limit) cannot be
		// followed here: the configuration is locked.
		msg, _, _ := strings.Cut(dErr.Msg, "\n")
		return &errs.Error{Kind: errs.Invalid, Err: err, Msg: fmt.Sprintf(
			"the query needs more memory than sql.memory_limit allows (%s; env LAKEHOUSE_SQL_MEMORY_LIMIT): %s; aggregate or filter sooner, select fewer columns, or raise sql.memory_limit",
			e.memoryLimit, msg)}
	case duckdb.ErrorTypeCatalog:
		// Catalog errors also cover unknown functions and types; only an
		// unknown table gets the list of datasets.
		if strings.Contains(dErr.Msg, "Table with name") {
			return &errs.Error{Kind: errs.NotFound, Msg: dErr.Msg + "\n" + e.datasetHint(), Err: err}
		}
	}
	return &errs.Error{Kind: errs.Invalid, Msg: dErr.Msg, Err: err}
}

// datasetHint lists the datasets that can be queried.
func (e *Engine) datasetHint() string {
	names := e.datasetNames()
	if len(names) == 0 {
		return "there are no datasets yet; ingest_dataset creates one"
	}
	var b strings.Builder
	b.WriteString("datasets you can query: ")
	shown := names
	if len(shown) > maxListedDatasets {
		shown = shown[:maxListedDatasets]
	}
	b.WriteString(strings.Join(shown, ", "))
	if n := len(names) - len(shown); n > 0 {
		fmt.Fprintf(&b, " …and %d more", n)
	}
	b.WriteString(` (a past version is "name@vN", in double quotes)`)
	return b.String()
}
