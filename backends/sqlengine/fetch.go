package sqlengine

// Views over files fetched on demand (a [Fetcher] catalog: shared mode,
// where each node reads the datasets' files through a bounded local cache).
//
// DuckDB binds a view when it is created and again for each statement that
// names it, and both times it wants every file of the view to exist. The
// cache cannot keep every file of every version, so the engine does not
// make all views at each catalog change, as it does over local files.
// Instead, before a statement runs, the views it names are found in
// DuckDB's own parse of it (the BASE_TABLE nodes, as inputs.go finds a
// derived dataset's inputs; for a PRAGMA, which has no tree, the views it
// names in quotes), their files fetched and held, and the views
// made as TEMP views of the statement's own connection. A connection runs
// one statement at a time, so no other statement can replace a view
// between the moment its files are held and the end of the statement that
// reads them: the files a running statement reads are always held, and
// the cache never evicts a held file. The hold ends when the statement
// (its rows, or its export) is done.
//
// A connection keeps its temp views for the statements after; at each
// catalog change it drops those whose files changed or whose dataset went,
// so that no statement reads a version the catalog no longer has under
// that name. A view is remade only when a statement names it again.

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
)

// A Fetcher is a [Catalog] whose views' files are copies that may not be
// local until asked for. Fetch makes the files of views local and keeps
// them so until release is called; its error is the caller's to see (a
// bucket that does not answer, say).
type Fetcher interface {
	Catalog
	Fetch(ctx context.Context, views []View) (release func(), err error)
}

// connViews are the temp views of one driver connection.
type connViews struct {
	gen  uint64            // the catalog generation they were last checked against
	made map[string]string // view name -> filesKey of its files
}

// tempViews holds the connViews of each driver connection that has any.
var tempViews sync.Map // driver.Conn -> *connViews

// fetchViews makes the views that query names, with their files held, on
// conn, and returns the release of the files. Over a catalog that is not a
// Fetcher it does nothing: every view exists already.
func (e *Engine) fetchViews(ctx context.Context, conn driver.Conn, query string) (release func(), err error) {
	f, ok := e.cat.(Fetcher)
	if !ok || query == "" {
		return func() {}, nil
	}
	views, gen, err := e.namedViews(ctx, conn, query)
	if err != nil {
		return nil, err
	}
	cv := connViewsOf(conn)
	if err := e.dropStale(ctx, conn, cv, gen); err != nil {
		return nil, err
	}
	if len(views) == 0 {
		return func() {}, nil
	}
	release, err = f.Fetch(ctx, views)
	if err != nil {
		return nil, err
	}
	for _, v := range views {
		key := filesKey(v.Files)
		if cv.made[v.Name] == key {
			continue
		}
		if err := execOn(ctx, conn, "CREATE OR REPLACE TEMP VIEW "+QuoteIdent(v.Name)+" AS "+viewQuery(v)); err != nil {
			release()
			return nil, fmt.Errorf("sqlengine: make view %q: %w", v.Name, err)
		}
		cv.made[v.Name] = key
	}
	return release, nil
}

// namedViews returns the catalog's views that query names (for an
// EXPLAIN, the statement it explains), as of the generation also returned.
// A statement DuckDB cannot parse names none; running it says why.
func (e *Engine) namedViews(ctx context.Context, conn driver.Conn, query string) ([]View, uint64, error) {
	e.mu.Lock()
	want, gen := e.want, e.gen.Load()
	e.mu.Unlock()
	tree, parseErr, err := serialize(ctx, conn, query)
	if err == nil && parseErr != "" {
		if inner, ok := explainTarget(query); ok {
			tree, _, err = serialize(ctx, conn, inner)
		} else {
			return pragmaViews(query, want), gen, nil
		}
	}
	if err != nil || tree == "" {
		return nil, gen, err
	}
	var parsed any
	if err := json.Unmarshal([]byte(tree), &parsed); err != nil {
		return nil, gen, fmt.Errorf("sqlengine: read syntax tree: %w", err)
	}
	seen := map[string]bool{}
	var views []View
	walkTables(parsed, nil, func(schema, name string) {
		name = strings.ToLower(name)
		if v, ok := want[name]; ok && !seen[name] && (schema == "" || strings.EqualFold(schema, "main")) {
			seen[name] = true
			views = append(views, v)
		}
	})
	return views, gen, nil
}

// dropStale drops the temp views of conn that no longer match the
// catalog, when its generation has changed since cv was checked.
func (e *Engine) dropStale(ctx context.Context, conn driver.Conn, cv *connViews, gen uint64) error {
	if cv.gen == gen {
		return nil
	}
	e.mu.Lock()
	want := e.want
	e.mu.Unlock()
	for name, key := range cv.made {
		if v, ok := want[name]; ok && filesKey(v.Files) == key {
			continue
		}
		if err := execOn(ctx, conn, "DROP VIEW IF EXISTS temp.main."+QuoteIdent(name)); err != nil {
			return fmt.Errorf("sqlengine: drop view %q: %w", name, err)
		}
		delete(cv.made, name)
	}
	cv.gen = gen
	return nil
}

// connViewsOf returns the temp views of conn.
func connViewsOf(conn driver.Conn) *connViews {
	if cv, ok := tempViews.Load(conn); ok {
		return cv.(*connViews)
	}
	cv := &connViews{made: map[string]string{}}
	tempViews.Store(conn, cv)
	return cv
}

// execOn runs the statement stmt, which the engine wrote, on conn.
func execOn(ctx context.Context, conn driver.Conn, stmt string) error {
	s, err := prepareOne(conn, stmt)
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = s.ExecContext(ctx, nil)
	return err
}

// pragmaViews returns the views of want that a PRAGMA names as a string
// or a quoted name, such as PRAGMA table_info('sales'); DuckDB gives no
// syntax tree of a PRAGMA. Any other statement without one names none.
func pragmaViews(query string, want map[string]View) []View {
	if w, _ := word(query, skipSpace(query, 0)); !strings.EqualFold(w, "PRAGMA") {
		return nil
	}
	lower := strings.ToLower(query)
	var views []View
	for name, v := range want {
		if strings.Contains(lower, "'"+name+"'") || strings.Contains(lower, `"`+name+`"`) {
			views = append(views, v)
		}
	}
	return views
}
