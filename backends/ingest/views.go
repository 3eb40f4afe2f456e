package ingest

import (
	"context"

	"lakehouse/backends/catalog"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/store"
)

// Files is where the datasets' Parquet files are, as the SQL engine reads
// them: the local store ([store.FS]), or a bucket read through this node's
// cache ([store.Cached]).
type Files interface {
	Path(key string) string
}

// Views shows the datasets of cat to the SQL engine as views over their
// Parquet files in st, which ingest wrote: each current version under the
// dataset's name and each past one as "name@vN". Over a [store.Cached],
// the views are a [sqlengine.Fetcher]: a query's files are fetched into
// the cache, and held there, only when it names them.
func Views(cat *catalog.Catalog, st Files) sqlengine.Catalog {
	if c, ok := st.(*store.Cached); ok {
		return fetchViews{views{cat, st}, c}
	}
	return views{cat, st}
}

type views struct {
	cat *catalog.Catalog
	st  Files
}

func (v views) Views() (uint64, []sqlengine.View) {
	gen, tables := v.cat.Tables()
	out := make([]sqlengine.View, len(tables))
	for i, t := range tables {
		files := make([]string, len(t.Files))
		for j, k := range t.Files {
			files[j] = v.st.Path(k)
		}
		out[i] = sqlengine.View{Name: t.Name, Files: files, Keys: t.Files}
	}
	return gen, out
}

// fetchViews are the views over files in a bucket.
type fetchViews struct {
	views
	st *store.Cached
}

// Fetch holds the files of views in the cache, fetching those it lacks.
func (v fetchViews) Fetch(ctx context.Context, views []sqlengine.View) (func(), error) {
	var keys []string
	for _, view := range views {
		keys = append(keys, view.Keys...)
	}
	_, release, err := v.st.Hold(ctx, keys)
	return release, err
}
