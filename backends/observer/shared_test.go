package observer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse/backends/errs"
	"lakehouse/internal/pgtest"
)

// sharedWait bounds every wait for a node to see something.
const sharedWait = 20 * time.Second

// openShared opens a node of the shared observer on dsn, closed when t ends.
func openShared(t testing.TB, dsn string, cfg Config, pc PostgresConfig) *Observer {
	t.Helper()
	pc.DSN = dsn
	o, err := OpenShared(context.Background(), cfg, pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// eventually waits for cond, for at most sharedWait (pgtest.Eventually).
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	pgtest.Eventually(t, sharedWait, what, cond)
}

// totalIs is a condition: o's statistics count n ops.
func totalIs(o *Observer, n int) func() (bool, string) {
	return func() (bool, string) {
		st := o.Stats(time.Time{})
		return st.Total == n, fmt.Sprintf("total %d, want %d (stale %q)", st.Total, n, st.StaleReason)
	}
}

// countRows counts the rows of observer_ops.
func countRows(t *testing.T, dsn string) int {
	return int(pgtest.Scalar(t, dsn, "SELECT count(*) FROM observer_ops"))
}

// The ops recorded on one node are, on another, what they are on the
// first: the same statistics.
func TestShared_OtherNodeSees(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	a := openShared(t, dsn, Config{}, PostgresConfig{})
	b := openShared(t, dsn, Config{}, PostgresConfig{})
	feed(a, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	checkStats(t, a.Stats(time.Time{}))
	eventually(t, "node b to see node a's ops", totalIs(b, 10))
	checkStats(t, b.Stats(time.Time{}))
	ops, _, err := b.List(Query{Endpoint: "checkout-flow"})
	if err != nil || len(ops) != 1 || ops[0].Source != "scenario" {
		t.Errorf("list_events on node b: %+v, %v", ops, err)
	}
}

// Two nodes' statistics add up: each node counts every op of both, and a
// failure cluster made of failures on both escalates on both, once.
func TestShared_StatsAddUp(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	var escalations atomic.Int64
	cfg := Config{EscalateAt: 3, OnEscalate: func(context.Context, Cluster, Op) { escalations.Add(1) }}
	a := openShared(t, dsn, cfg, PostgresConfig{})
	b := openShared(t, dsn, cfg, PostgresConfig{})
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	feed(a, base) // two failures of one cluster each
	feed(b, base.Add(time.Hour))
	for _, o := range []*Observer{a, b} {
		eventually(t, "each node to have followed every op", func() (bool, string) {
			lag, _ := o.Lag()
			return lag.Applied == 20, fmt.Sprintf("%+v", lag)
		})
		st := o.Stats(time.Time{})
		if st.Total != 20 || st.Failures != 4 || st.ByTool["query_sql"].Count != 12 || st.BySource["cli"] != 6 || st.BySource["scenario"] != 2 {
			t.Errorf("stats over both nodes: %+v", st)
		}
		if st.ClusterCount != 1 || st.Clusters[0].Count != 4 || st.EscalationCount != 1 {
			t.Errorf("clusters over both nodes: %+v, escalations %+v", st.Clusters, st.Escalations)
		}
		if st.Stale {
			t.Errorf("stale with the database up: %s", st.StaleReason)
		}
	}
	if n := escalations.Load(); n != 2 {
		t.Errorf("%d escalations, want one on each node", n)
	}
	if n := countRows(t, dsn); n != 20 {
		t.Errorf("%d rows in observer_ops, want 20: an op was written twice or not at all", n)
	}
}

// RecordDurable returns once the op is in the database; a node started
// later loads every op, and what escalated does not escalate again.
func TestShared_DurableAndLoad(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	var escalations atomic.Int64
	cfg := Config{OnEscalate: func(context.Context, Cluster, Op) { escalations.Add(1) }}
	a := openShared(t, dsn, cfg, PostgresConfig{FlushEvery: time.Hour}) // only a durable record writes
	for i := range 3 {
		a.Record(context.Background(), Op{Endpoint: "query_sql", Error: fmt.Sprintf("boom %d", i)})
	}
	if _, err := a.RecordDurable(context.Background(), Op{Endpoint: "checkout", Source: "scenario", Success: true}); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, dsn); n != 4 {
		t.Errorf("%d rows once RecordDurable returned, want 4 (it writes what was queued before it)", n)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := openShared(t, dsn, cfg, PostgresConfig{})
	st := b.Stats(time.Time{})
	if st.Total != 4 || st.EscalationCount != 1 || len(st.RecentScenarios) != 1 {
		t.Errorf("stats loaded: %+v", st)
	}
	if n := escalations.Load(); n != 1 {
		t.Errorf("%d escalations, want 1: loading escalated again", n)
	}
}

// The database keeps the last Retain ops (and an eighth more at most),
// and so do the nodes.
func TestShared_Retention(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	cfg := Config{RingSize: 8, Retain: 40}
	a := openShared(t, dsn, cfg, PostgresConfig{})
	for i := range 300 {
		a.Record(context.Background(), Op{Endpoint: "put_object", Success: true})
		if i%25 == 0 { // several writes, each a chance to delete
			if _, err := a.RecordDurable(context.Background(), Op{Endpoint: "put_object", Success: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := a.RecordDurable(context.Background(), Op{Endpoint: "put_object", Success: true}); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, dsn); n < 40 || n > 45 {
		t.Errorf("%d rows in observer_ops, want 40 to 45", n)
	}
	if st := a.Stats(time.Time{}); st.Total < 40 || st.Total > 45 {
		t.Errorf("node a counts %d ops, want 40 to 45", st.Total)
	}
	b := openShared(t, dsn, cfg, PostgresConfig{})
	if st := b.Stats(time.Time{}); st.Total != 40 {
		t.Errorf("a node started later counts %d ops, want the last 40", st.Total)
	}
}

// While the database is down, recording neither blocks nor fails a call;
// statistics answer from what the node has, flagged stale; a durable
// record is refused, naming the database. Once it is back, the ops queued
// reach the other node and the flags clear, by themselves.
func TestShared_DatabaseDown(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.CreateDatabase()
	pc := PostgresConfig{Poll: 200 * time.Millisecond, Timeout: 2 * time.Second}
	a := openShared(t, dsn, Config{}, pc)
	b := openShared(t, dsn, Config{}, pc)
	ctx := context.Background()
	a.Record(ctx, Op{Endpoint: "before", Success: true})
	eventually(t, "node b to see the op before", totalIs(b, 1))

	pg.Stop()
	started := time.Now()
	for range 100 {
		a.Record(ctx, Op{Endpoint: "during", Success: true})
	}
	if took := time.Since(started); took > time.Second {
		t.Errorf("100 records with the database down took %v", took)
	}
	eventually(t, "node a to flag its statistics stale", func() (bool, string) {
		st := a.Stats(time.Time{})
		return st.Stale && st.Total == 101, fmt.Sprintf("%+v", st)
	})
	if err := a.Health(ctx); !errors.Is(err, errs.Unavailable) {
		t.Errorf("health with the database down: %v", err)
	}
	eventually(t, "a durable record to be refused", func() (bool, string) {
		_, err := a.RecordDurable(ctx, Op{Endpoint: "refused"})
		return errors.Is(err, errs.Unavailable) && strings.Contains(fmt.Sprint(err), pg.Addr), fmt.Sprint(err)
	})
	// Refused now, it is not counted either: the caller sends it again.
	before := a.Stats(time.Time{}).Total
	if _, err := a.RecordDurable(ctx, Op{Endpoint: "refused"}); !errors.Is(err, errs.Unavailable) {
		t.Errorf("a durable record with the database known down: %v", err)
	}
	if after := a.Stats(time.Time{}).Total; after != before {
		t.Errorf("a refused durable record was counted: total %d, then %d", before, after)
	}

	pg.Start()
	eventually(t, "node b to see the ops recorded while the database was down", func() (bool, string) {
		st := b.Stats(time.Time{})
		return st.ByTool["during"].Count == 100 && st.ByTool["refused"].Count == 0 && !st.Stale, fmt.Sprintf("%+v", st)
	})
	eventually(t, "node a to be healthy again", func() (bool, string) {
		err := a.Health(ctx)
		return err == nil && !a.Stats(time.Time{}).Stale, fmt.Sprint(err)
	})
	if n := countRows(t, dsn); n != 101 {
		t.Errorf("%d rows, want 101: the queue lost or doubled an op (or wrote a refused one)", n)
	}
}

// Past MaxPending ops waiting, the newest are dropped and counted, and the
// rest are written once the database is back.
func TestShared_QueueBounded(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.CreateDatabase()
	a := openShared(t, dsn, Config{}, PostgresConfig{MaxPending: 5, Timeout: 2 * time.Second})
	pg.Stop()
	for range 20 {
		a.Record(context.Background(), Op{Endpoint: "during", Success: true})
	}
	if st := a.Stats(time.Time{}); st.Total != 20 || st.PersistFailures != 15 {
		t.Errorf("with 5 places for 20 ops: total %d, persist_failures %d; want 20 and 15", st.Total, st.PersistFailures)
	}
	pg.Start()
	eventually(t, "the 5 queued ops to be written", func() (bool, string) {
		return a.Health(context.Background()) == nil, ""
	})
	if n := countRows(t, dsn); n != 5 {
		t.Errorf("%d rows, want the 5 queued", n)
	}
}

// A write whose commit landed but looked lost (the connection cut as it
// committed) is not written again: the writer asks which of its ops
// landed first. The durable record waiting on it is told it may have.
func TestShared_LostCommitNotWrittenTwice(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	a := openShared(t, dsn, Config{}, PostgresConfig{FlushEvery: time.Hour})
	var lost atomic.Bool
	lost.Store(true)
	a.pg.mu.Lock()
	a.pg.afterWrite = func(err error) error {
		if err == nil && lost.CompareAndSwap(true, false) {
			return errors.New("connection lost as it committed")
		}
		return err
	}
	a.pg.mu.Unlock()
	ctx := context.Background()
	a.Record(ctx, Op{Endpoint: "first", Success: true})
	_, err := a.RecordDurable(ctx, Op{Endpoint: "second", Success: true})
	if !errors.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "unless the connection was lost as it committed") {
		t.Errorf("a durable record whose commit looked lost: %v", err)
	}
	// Refused until the writer has seen the database answer again; a
	// refused record records nothing.
	eventually(t, "a durable record once the database answers", func() (bool, string) {
		_, err := a.RecordDurable(ctx, Op{Endpoint: "third", Success: true})
		return err == nil, fmt.Sprint(err)
	})
	if n := countRows(t, dsn); n != 3 {
		t.Errorf("%d rows, want 3: the write that looked lost was written again", n)
	}
	b := openShared(t, dsn, Config{}, PostgresConfig{})
	if st := b.Stats(time.Time{}); st.Total != 3 {
		t.Errorf("another node counts %d ops, want 3", st.Total)
	}
}
