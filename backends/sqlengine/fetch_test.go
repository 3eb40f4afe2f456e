package sqlengine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"lakehouse/backends/errs"
)

// fetchCatalog is a Fetcher whose files exist in the engine's folder only
// while some Fetch holds them: copied in from src by Fetch, removed at the
// last release. A statement that reads a file it does not hold fails.
type fetchCatalog struct {
	*testCatalog
	src string // where the files are kept

	mu      sync.Mutex
	held    map[string]int // path -> holds
	fetched [][]string     // the view names of each Fetch
	down    bool           // Fetch fails, as with the bucket down
}

var _ Fetcher = (*fetchCatalog)(nil)

func (c *fetchCatalog) Fetch(ctx context.Context, views []View) (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names, paths []string
	for _, v := range views {
		names = append(names, v.Name)
		paths = append(paths, v.Files...)
	}
	slices.Sort(names)
	c.fetched = append(c.fetched, names)
	if c.down {
		return nil, errs.New(errs.Unavailable, "fetch %v: the test bucket is down", names)
	}
	for _, p := range paths {
		if c.held[p] == 0 {
			b, err := os.ReadFile(filepath.Join(c.src, filepath.Base(p)))
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				return nil, err
			}
		}
		c.held[p]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			for _, p := range paths {
				if c.held[p]--; c.held[p] == 0 {
					os.Remove(p)
				}
			}
		})
	}, nil
}

// setDown makes Fetch fail (down) or work.
func (c *fetchCatalog) setDown(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = down
}

// last returns the view names of the last Fetch, and whether no file is
// held now.
func (c *fetchCatalog) last() ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	none := true
	for _, n := range c.held {
		none = none && n == 0
	}
	if len(c.fetched) == 0 {
		return nil, none
	}
	return c.fetched[len(c.fetched)-1], none
}

// newFetchEngine returns an engine of one connection over a fetchCatalog
// of the sales fixture, whose files are kept elsewhere.
func newFetchEngine(t *testing.T) (*Engine, *fetchCatalog, string) {
	t.Helper()
	src, dir := t.TempDir(), t.TempDir()
	views := salesFixture(t, src)
	for i, v := range views {
		views[i].Files = nil
		for _, f := range v.Files {
			views[i].Files = append(views[i].Files, filepath.Join(dir, filepath.Base(f)))
		}
	}
	cat := &fetchCatalog{testCatalog: &testCatalog{}, src: src, held: map[string]int{}}
	cat.set(views...)
	e, err := New(Config{TempDir: filepath.Join(t.TempDir(), "duckdb-tmp"), MaxConns: 1}, dir, cat)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, cat, dir
}

// TestFetcher_Views: over a Fetcher, a statement gets exactly the views it
// names (not a CTE of a dataset's name), their files held while it runs
// and released after; an EXPLAIN gets those of what it explains.
func TestFetcher_Views(t *testing.T) {
	e, cat, _ := newFetchEngine(t)
	for _, c := range []struct {
		query string
		want  []string
		rows  int
	}{
		{"SELECT sum(qty) FROM sales", []string{"sales"}, 1},
		{`SELECT * FROM "sales@v1" JOIN t ON true`, []string{"sales@v1", "t"}, 2},
		{"WITH t AS (SELECT 1 AS k) SELECT * FROM t, main.\"sales@v2\"", []string{"sales@v2"}, 4},
		{"EXPLAIN SELECT * FROM t", []string{"t"}, 1},
		{"DESCRIBE sales", []string{"sales"}, 2},
		{"SUMMARIZE t", []string{"t"}, 2},
		{"FROM t", []string{"t"}, 1},
		{"PRAGMA table_info('sales@v1')", []string{"sales@v1"}, 2},
	} {
		res := mustQuery(t, e, c.query, 10)
		names, none := cat.last()
		if !slices.Equal(names, c.want) || !none || (res.RowCount != c.rows && c.query[0] != 'E') {
			t.Errorf("%s: fetched %v (none held after: %v), %d rows; want %v, %d rows", c.query, names, none, res.RowCount, c.want, c.rows)
		}
	}
	if res := mustQuery(t, e, "SELECT sum(qty) FROM sales", 1); mustJSON(t, res.Rows) != "[[10]]" {
		t.Errorf("sum over sales = %s", mustJSON(t, res.Rows))
	}
}

// TestFetcher_CatalogChanges: a connection's views follow the catalog: a
// dataset whose files changed reads the new ones, and one dropped is not
// found, though the connection made a view of it before.
func TestFetcher_CatalogChanges(t *testing.T) {
	e, cat, _ := newFetchEngine(t)
	mustQuery(t, e, "SELECT * FROM sales", 10)
	mustQuery(t, e, "SELECT * FROM t", 10)
	_, views := cat.Views()
	views[0].Files = views[0].Files[:1] // sales is sales@v1 again
	cat.set(slices.DeleteFunc(views, func(v View) bool { return v.Name == "t" || v.Name == "t@v1" })...)
	if res := mustQuery(t, e, "SELECT sum(qty) FROM sales", 1); mustJSON(t, res.Rows) != "[[3]]" {
		t.Errorf("sum over sales after its files changed = %s, want 3", mustJSON(t, res.Rows))
	}
	_, err := e.Query(context.Background(), "SELECT * FROM t", 10)
	wantErr(t, "SELECT * FROM t", err, errs.NotFound, "sales")
}

// TestFetcher_Down: a statement whose files cannot be fetched fails with
// the Fetcher's error, and works once they can be.
func TestFetcher_Down(t *testing.T) {
	e, cat, _ := newFetchEngine(t)
	cat.setDown(true)
	_, err := e.Query(context.Background(), "SELECT * FROM sales", 10)
	wantErr(t, "SELECT * FROM sales", err, errs.Unavailable, "test bucket is down")
	cat.setDown(false)
	mustQuery(t, e, "SELECT * FROM sales", 10)
}
