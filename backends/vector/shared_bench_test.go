package vector

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"lakehouse/internal/pgtest"
)

// BenchmarkShared_CrossNodeLag measures how long an upsert made on one
// node takes to be visible to searches on another: from the call of
// Upsert on node a until node b has applied it (its floor reaches the
// upsert's feed number; the items are in memory then). Beside it, in the
// same run, the call's own latency on node a (commit in PostgreSQL and
// apply here), and, as the baseline, the same upsert on a local-mode
// Manager (its log fsynced). Upserts come at random times (up to 20 ms
// apart), each of items items of 384 dimensions. Run with
// -benchtime=300x; the figures are the metrics p50_ms and p99_ms.
func BenchmarkShared_CrossNodeLag(b *testing.B) {
	pg := pgtest.Start(b)
	for _, items := range []int{1, 100} {
		b.Run(fmt.Sprintf("local/items=%d", items), func(b *testing.B) {
			m := mustOpen(b, b.TempDir(), Config{})
			calls, _ := upsertLags(b, m, nil, items)
			report(b, "call", calls)
		})
		b.Run(fmt.Sprintf("shared/items=%d", items), func(b *testing.B) {
			dsn := pg.CreateDatabase()
			a := openSharedAt(b, b.TempDir(), dsn, PostgresConfig{})
			other := openSharedAt(b, b.TempDir(), dsn, PostgresConfig{})
			calls, lags := upsertLags(b, a, other, items)
			report(b, "call", calls)
			report(b, "lag", lags)
		})
	}
}

// report reports the p50 and p99 of ds, in milliseconds, as metrics
// named after what.
func report(b *testing.B, what string, ds []time.Duration) {
	slices.Sort(ds)
	ms := func(p float64) float64 {
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds()) / 1000
	}
	b.ReportMetric(ms(0.50), what+"_p50_ms")
	b.ReportMetric(ms(0.99), what+"_p99_ms")
}

// upsertLags makes b.N upserts of n items into a new index of m and
// returns how long each call took and, with other (a node over the same
// database), how long each took to be applied there.
func upsertLags(b *testing.B, m, other *Manager, n int) (calls, lags []time.Duration) {
	ctx := context.Background()
	const dim = 384
	mustCreate(b, m, "lag", dim, Cosine)
	rng := rand.New(rand.NewPCG(1, 2))
	items := make([]Item, n)
	for i := range items {
		items[i].Vector = make([]float32, dim)
	}
	var first int64
	if other != nil {
		first = m.pg.floor() // the create's number: only m writes
	}
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		b.StopTimer()
		time.Sleep(time.Duration(rng.Int64N(int64(20 * time.Millisecond))))
		for j := range items {
			items[j].ID = fmt.Sprintf("u%d-%d", i, j)
			for k := range items[j].Vector {
				items[j].Vector[k] = rng.Float32() - 0.5
			}
		}
		b.StartTimer()
		start := time.Now()
		if _, err := m.Upsert(ctx, "lag", items); err != nil {
			b.Fatal(err)
		}
		calls = append(calls, time.Since(start))
		if other == nil {
			continue
		}
		for other.pg.floor() < first+int64(i) {
			if time.Since(start) > sharedWait {
				b.Fatalf("upsert %d not applied on the other node in %v", i, sharedWait)
			}
			time.Sleep(50 * time.Microsecond)
		}
		lags = append(lags, time.Since(start))
	}
	return calls, lags
}
