package pathway_test

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"lakehouse/backends/pathway"
	"lakehouse/internal/durabench"
	"lakehouse/internal/pgtest"
)

// BenchmarkShared_CrossNodeLag measures how long a trace added on one node
// takes to reach another: "get", from the call of Add on node a until Get
// on node b returns the trace; "search", until a query search on node b
// finds it (its indexer has embedded it). Adds come at random times, up
// to 100 ms apart, as calls do. Run with -benchtime=200x; the figures are
// the metrics p50_ms, p99_ms and max_ms.
func BenchmarkShared_CrossNodeLag(b *testing.B) {
	pg := pgtest.Start(b)
	for _, mode := range []string{"get", "search"} {
		b.Run(mode, func(b *testing.B) {
			dsn := pg.CreateDatabase()
			a, other := openShared(b, b.TempDir(), dsn), openShared(b, b.TempDir(), dsn)
			if err := other.WaitIndexed(ctx); err != nil {
				b.Fatal(err)
			}
			lags := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				time.Sleep(time.Duration(rand.Int64N(int64(100 * time.Millisecond))))
				b.StartTimer()
				word := "zq" + strconv.Itoa(i) + "x" // a word of this trace's only
				start := time.Now()
				tr, _, err := a.Add(ctx, json.RawMessage(`{"i":`+strconv.Itoa(i)+`}`), "lag probe "+word, nil, "")
				if err != nil {
					b.Fatal(err)
				}
				for !seen(other, mode, tr.UID, word) {
					if time.Since(start) > sharedWait {
						b.Fatalf("trace %d not seen on the other node in %v", i, sharedWait)
					}
					time.Sleep(50 * time.Microsecond)
				}
				lags = append(lags, time.Since(start))
			}
			durabench.ReportLags(b, lags)
		})
	}
}

// seen reports whether p returns trace uid: by Get, or by a lexical search
// for word.
func seen(p *pathway.Pathway, mode, uid, word string) bool {
	if mode == "get" {
		_, err := p.Get(ctx, uid)
		return err == nil
	}
	res, err := p.Search(ctx, pathway.SearchOptions{Query: word, Mode: pathway.Lexical})
	return err == nil && len(res.Traces) == 1 && res.Traces[0].UID == uid
}

// BenchmarkShared_AddOneWriter measures the cost of one durable Add from
// a lone writer, in local mode and in shared mode (one transaction each,
// over a throwaway PostgreSQL 15 on loopback): ns/op.
func BenchmarkShared_AddOneWriter(b *testing.B) {
	for _, mode := range []string{"local", "shared"} {
		b.Run(mode, func(b *testing.B) {
			var p *pathway.Pathway
			if mode == "local" {
				p = mustOpen(b, b.TempDir(), pathway.Config{})
			} else {
				p = openShared(b, b.TempDir(), pgtest.Start(b).CreateDatabase())
			}
			b.ResetTimer()
			for range b.N {
				if _, _, err := p.Add(ctx, benchContent, "ingesting the sales csv needs the ; delimiter", nil, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
