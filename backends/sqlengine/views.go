package sqlengine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// View is one queryable name and the Parquet files behind it (absolute paths
// inside the dataset area).
type View struct {
	Name  string // "sales" or "sales@v2"
	Files []string
	Keys  []string // the store keys of Files, for a Fetcher
}

// Catalog supplies the views. Generation changes whenever the set of views
// changes.
type Catalog interface {
	Views() (generation uint64, views []View)
}

// syncViews brings the database's views in line with the catalog when the
// catalog's generation differs from the one last applied.
//
// The fast path reads the generation without the lock. When it has changed,
// the catalog is read again under the lock, so that two callers racing with
// different generations cannot apply an older set after a newer one.
func (e *Engine) syncViews(ctx context.Context) error {
	gen, _ := e.cat.Views()
	if e.synced.Load() && e.gen.Load() == gen {
		return nil
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	gen, views := e.cat.Views()
	if e.synced.Load() && e.gen.Load() == gen {
		return nil
	}

	want := make(map[string]string, len(views))
	for _, v := range views {
		want[v.Name] = filesKey(v.Files)
	}
	if _, ok := e.cat.(Fetcher); ok {
		// Each statement makes the views it names (see fetch.go).
		e.want = make(map[string]View, len(views))
		for _, v := range views {
			e.want[strings.ToLower(v.Name)] = v
		}
		e.views = want
		e.setNames()
		e.gen.Store(gen)
		e.synced.Store(true)
		return nil
	}

	// Drop the views that disappeared from the catalog.
	for name := range e.views {
		if _, ok := want[name]; ok {
			continue
		}
		if _, err := e.db.ExecContext(ctx, "DROP VIEW IF EXISTS "+QuoteIdent(name)); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("sqlengine: drop view %q: %w", name, err)
		}
		delete(e.views, name)
	}

	// Create the new views and replace the ones whose files changed. A view
	// that cannot be created (a deleted or unreadable file, say) is logged
	// and left out, so the others stay queryable.
	for _, v := range views {
		key := want[v.Name]
		if old, ok := e.views[v.Name]; ok && old == key {
			continue
		}
		err := e.createView(ctx, v)
		if err == nil {
			e.views[v.Name] = key
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		slog.Warn("sqlengine: view skipped", "view", v.Name, "files", len(v.Files), "err", err)
		// Do not leave an older definition behind under this name.
		if _, derr := e.db.ExecContext(ctx, "DROP VIEW IF EXISTS "+QuoteIdent(v.Name)); derr != nil && ctx.Err() == nil {
			slog.Warn("sqlengine: drop stale view", "view", v.Name, "err", derr)
		}
		delete(e.views, v.Name)
	}

	e.setNames()
	e.gen.Store(gen)
	e.synced.Store(true)
	return nil
}

// setNames remembers the dataset names of e.views, for the hint of "table
// not found" errors.
func (e *Engine) setNames() {
	seen := make(map[string]bool)
	var names []string
	for name := range e.views {
		base := baseName(name)
		if !seen[base] {
			seen[base] = true
			names = append(names, base)
		}
	}
	slices.Sort(names)
	e.names = names
}

// createView creates or replaces the view v over its Parquet files.
func (e *Engine) createView(ctx context.Context, v View) error {
	if len(v.Files) == 0 {
		return fmt.Errorf("no files")
	}
	_, err := e.db.ExecContext(ctx, "CREATE OR REPLACE VIEW "+QuoteIdent(v.Name)+" AS "+viewQuery(v))
	return err
}

// viewQuery is the query of the view v: all rows of its files.
func viewQuery(v View) string {
	files := make([]string, len(v.Files))
	for i, f := range v.Files {
		files[i] = QuoteString(f)
	}
	return "SELECT * FROM read_parquet([" + strings.Join(files, ", ") + "])"
}

// filesKey identifies a list of files, to tell whether a view changed.
func filesKey(files []string) string {
	return strings.Join(files, "\x00")
}

// baseName returns the dataset name of a view: "sales" for "sales@v2".
func baseName(view string) string {
	i := strings.LastIndex(view, "@v")
	if i <= 0 || i+2 == len(view) {
		return view
	}
	for _, c := range view[i+2:] {
		if c < '0' || c > '9' {
			return view
		}
	}
	return view[:i]
}

// datasetNames returns the sorted names of the datasets that can be queried.
func (e *Engine) datasetNames() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.names)
}
