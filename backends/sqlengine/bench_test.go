package sqlengine

import (
	"context"
	"path/filepath"
	"testing"
)

func BenchmarkQuerySelect42(b *testing.B) {
	e, _ := newTestEngine(b, Config{}, b.TempDir())
	ctx := context.Background()
	for b.Loop() {
		if _, err := e.Query(ctx, "SELECT 42", 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGroupBy compares Engine.Query with plain database/sql on the same
// database, over a dataset of 1M generated rows.
func BenchmarkGroupBy(b *testing.B) {
	dir := b.TempDir()
	file := mustParquet(b, filepath.Join(dir, "big.parquet"),
		"SELECT i % 100 AS k, i::DOUBLE AS v FROM range(1000000) r(i)")
	e, _ := newTestEngine(b, Config{}, dir, View{Name: "big", Files: []string{file}})
	const q = "SELECT k, sum(v) AS s, count(*) AS n FROM big GROUP BY k ORDER BY k"
	ctx := context.Background()
	mustQuery(b, e, q, 1000) // create the view

	b.Run("engine", func(b *testing.B) {
		for b.Loop() {
			res, err := e.Query(ctx, q, 1000)
			if err != nil {
				b.Fatal(err)
			}
			if res.RowCount != 100 {
				b.Fatalf("rows = %d", res.RowCount)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		for b.Loop() {
			rows, err := e.db.QueryContext(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for rows.Next() {
				var k int64
				var s float64
				var c int64
				if err := rows.Scan(&k, &s, &c); err != nil {
					b.Fatal(err)
				}
				n++
			}
			if err := rows.Close(); err != nil {
				b.Fatal(err)
			}
			if n != 100 {
				b.Fatalf("rows = %d", n)
			}
		}
	})
}
