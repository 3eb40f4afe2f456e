//go:build duckdb_arrow

package main

import (
	"context"
	"database/sql/driver"
	"os"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"lakehouse/backends/sqlengine"
)

func init() { arrowAPI = viaArrowAPI }

// viaArrowAPI runs q through duckdb-go's Arrow API on a database opened as
// the engine opens its own, and writes the record batches to path as an
// Arrow IPC stream. The driver materialises the whole result first.
func viaArrowAPI(ctx context.Context, cfg sqlengine.Config, dir, q, path string) (int64, error) {
	db, err := sqlengine.Open(cfg, []string{dir})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var rows int64
	err = conn.Raw(func(dc any) error {
		a, err := duckdb.NewArrowFromConn(dc.(driver.Conn))
		if err != nil {
			return err
		}
		rr, err := a.QueryContext(ctx, q)
		if err != nil {
			return err
		}
		defer rr.Release()
		w := ipc.NewWriter(f, ipc.WithSchema(rr.Schema()))
		for rr.Next() {
			rec := rr.RecordBatch()
			if err := w.Write(rec); err != nil {
				return err
			}
			rows += rec.NumRows()
		}
		if err := rr.Err(); err != nil {
			return err
		}
		return w.Close()
	})
	if err != nil {
		return 0, err
	}
	return rows, f.Close()
}
