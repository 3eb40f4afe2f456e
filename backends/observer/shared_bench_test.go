package observer

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"lakehouse/internal/durabench"
	"lakehouse/internal/pgtest"
)

// BenchmarkShared_CrossNodeLag measures how long an op recorded on one
// node takes to count on another: from the call of Record (or
// RecordDurable) on node a until node b has applied it. Ops come at
// random times (up to 100 ms apart), as calls do, so that they fall
// anywhere in the writer's FlushEvery. The baseline, "notify", is the
// floor under both: a NOTIFY committed on one connection until another,
// listening, has it. Run with -benchtime=200x; the figures are the
// metrics p50_ms, p99_ms and max_ms.
func BenchmarkShared_CrossNodeLag(b *testing.B) {
	pg := pgtest.Start(b)
	for _, mode := range []string{"notify", "record", "durable"} {
		b.Run(mode, func(b *testing.B) {
			dsn := pg.CreateDatabase()
			var lags []time.Duration
			if mode == "notify" {
				lags = notifyLags(b, dsn)
			} else {
				lags = opLags(b, dsn, mode == "durable")
			}
			durabench.ReportLags(b, lags)
		})
	}
}

// pause waits a random time up to 100 ms, off the clock.
func pause(b *testing.B) {
	b.StopTimer()
	time.Sleep(time.Duration(rand.Int64N(int64(100 * time.Millisecond))))
	b.StartTimer()
}

// opLags records b.N ops on one node and returns how long each took to be
// applied on another.
func opLags(b *testing.B, dsn string, durable bool) []time.Duration {
	ctx := context.Background()
	a := openShared(b, dsn, Config{}, PostgresConfig{})
	other := openShared(b, dsn, Config{}, PostgresConfig{})
	lags := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		pause(b)
		start := time.Now()
		op := Op{Endpoint: "bench", Success: true, InputSummary: "op " + strconv.Itoa(i)}
		if durable {
			if _, err := a.RecordDurable(ctx, op); err != nil {
				b.Fatal(err)
			}
		} else {
			a.Record(ctx, op)
		}
		// Only node a writes: its i-th op is the feed's row i.
		for {
			if lag, _ := other.Lag(); lag.Applied >= int64(i) {
				break
			}
			if time.Since(start) > sharedWait {
				b.Fatalf("op %d not seen on the other node in %v", i, sharedWait)
			}
			time.Sleep(50 * time.Microsecond)
		}
		lags = append(lags, time.Since(start))
	}
	return lags
}

// notifyLags commits b.N NOTIFYs on one connection and returns how long
// each took to reach another that listens.
func notifyLags(b *testing.B, dsn string) []time.Duration {
	ctx := context.Background()
	conns := make([]*pgx.Conn, 2)
	for i := range conns {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close(ctx)
		conns[i] = c
	}
	if _, err := conns[1].Exec(ctx, "LISTEN bench"); err != nil {
		b.Fatal(err)
	}
	lags := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		pause(b)
		start := time.Now()
		if _, err := conns[0].Exec(ctx, "SELECT pg_notify('bench', 'x')"); err != nil {
			b.Fatal(err)
		}
		if _, err := conns[1].WaitForNotification(ctx); err != nil {
			b.Fatal(err)
		}
		lags = append(lags, time.Since(start))
	}
	return lags
}
