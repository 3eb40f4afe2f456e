package ingest

import (
	"lakehouse/backends/catalog"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/store"
)

// Views shows the datasets of cat to the SQL engine as views over their
// Parquet files in st, which ingest wrote: each current version under the
// dataset's name and each past one as "name@vN".
func Views(cat *catalog.Catalog, st *store.FS) sqlengine.Catalog { return views{cat, st} }

type views struct {
	cat *catalog.Catalog
	st  *store.FS
}

func (v views) Views() (uint64, []sqlengine.View) {
	gen, tables := v.cat.Tables()
	out := make([]sqlengine.View, len(tables))
	for i, t := range tables {
		files := make([]string, len(t.Files))
		for j, k := range t.Files {
			files[j] = v.st.Path(k)
		}
		out[i] = sqlengine.View{Name: t.Name, Files: files}
	}
	return gen, out
}
