package observer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse/backends/errs"
)

func open(t *testing.T, dir string, cfg Config) *Observer {
	t.Helper()
	o, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// feed records a fixed mix of ops: 6 query_sql (2 failing alike, with
// different numbers), 3 put_object, 1 scenario.
func feed(o *Observer, base time.Time) {
	ctx := context.Background()
	for i := range 6 {
		op := Op{Endpoint: "query_sql", Source: "mcp", Success: true, DurationMS: float64(i + 1), Timestamp: base.Add(time.Duration(i) * time.Second)}
		if i >= 4 {
			op.Success, op.Error = false, fmt.Sprintf("query cancelled after %d ms timeout", 100*i)
		}
		o.Record(ctx, op)
	}
	for i := range 3 {
		o.Record(ctx, Op{Endpoint: "put_object", Source: "cli", Success: true, DurationMS: 10, Timestamp: base.Add(time.Minute + time.Duration(i)*time.Second)})
	}
	o.Record(ctx, Op{Endpoint: "checkout-flow", Source: "scenario", Success: true, Timestamp: base.Add(2 * time.Minute)})
}

func checkStats(t *testing.T, st Stats) {
	t.Helper()
	if st.Total != 10 || st.Successes != 8 || st.Failures != 2 {
		t.Errorf("totals = %d/%d/%d, want 10/8/2", st.Total, st.Successes, st.Failures)
	}
	if fmt.Sprint(st.BySource) != "map[cli:3 mcp:6 scenario:1]" {
		t.Errorf("by_source = %v", st.BySource)
	}
	q := st.ByTool["query_sql"]
	if q.Count != 6 || q.Failures != 2 || q.P50MS != 3 || q.P95MS != 6 {
		t.Errorf("query_sql stats = %+v, want 6 calls, 2 failures, p50 3, p95 6", q)
	}
	if len(st.Clusters) != 1 || st.Clusters[0].Count != 2 || st.Clusters[0].Example != "query cancelled after 400 ms timeout" {
		t.Errorf("clusters = %+v", st.Clusters)
	}
	if len(st.RecentScenarios) != 1 || st.RecentScenarios[0].Endpoint != "checkout-flow" {
		t.Errorf("recent scenarios = %+v", st.RecentScenarios)
	}
}

func TestObserver_StatsAndReplay(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, Config{})
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	feed(o, base)
	checkStats(t, o.Stats(time.Time{}))

	since := o.Stats(base.Add(time.Minute))
	if since.Total != 4 || since.ByTool["query_sql"].Count != 0 || len(since.Clusters) != 0 {
		t.Errorf("stats since +1m = %+v", since)
	}
	o.Close()
	checkStats(t, open(t, dir, Config{}).Stats(time.Time{}))
}

func TestObserver_Compaction(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, Config{RingSize: 3, CompactBytes: 600})
	feed(o, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	checkStats(t, o.Stats(time.Time{}))
	if o.log.Size() > 2000 {
		t.Errorf("log not compacted: %d bytes", o.log.Size())
	}
	o.Close()
	o = open(t, dir, Config{RingSize: 3, CompactBytes: 600})
	checkStats(t, o.Stats(time.Time{}))
	ops, _, _ := o.List(Query{})
	if len(ops) != 3 || ops[0].Endpoint != "checkout-flow" {
		t.Errorf("ring after compaction = %+v", ops)
	}
}

func TestObserver_Escalation(t *testing.T) {
	var mu sync.Mutex
	var got []Cluster
	o := open(t, t.TempDir(), Config{EscalateAt: 3, OnEscalate: func(_ context.Context, c Cluster, _ Op) {
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
	}})
	for i := range 5 {
		o.Record(context.Background(), Op{Endpoint: "get_object", Error: fmt.Sprintf(`object "k%d" not found`, i)})
	}
	o.Record(context.Background(), Op{Endpoint: "get_object", Error: "permission denied"})
	if len(got) != 1 || got[0].Count != 3 || got[0].Endpoint != "get_object" {
		t.Fatalf("escalations = %+v, want one at count 3", got)
	}
	st := o.Stats(time.Time{})
	if len(st.Escalations) != 1 || st.Escalations[0].Count != 5 || len(st.Clusters) != 2 {
		t.Errorf("stats escalations %+v, clusters %+v", st.Escalations, st.Clusters)
	}
}

func TestSignature(t *testing.T) {
	a := Signature("query_sql", `Catalog Error: Table with name "foo" does not exist! LINE 1: 17`)
	b := Signature("query_sql", `Catalog Error: Table with name "bar" does not exist! LINE 1: 42`)
	c := Signature("get_object", `Catalog Error: Table with name "foo" does not exist! LINE 1: 17`)
	d := Signature("query_sql", `Parser Error: syntax error`)
	if a != b || a == c || a == d || len(a) != 16 {
		t.Errorf("signatures %s %s %s %s", a, b, c, d)
	}
}

func TestObserver_ListAndRecordDurable(t *testing.T) {
	o := open(t, t.TempDir(), Config{})
	ctx := context.Background()
	for i := range 25 {
		o.Record(ctx, Op{Endpoint: fmt.Sprintf("tool_%d", i%2), Success: i%3 != 0, Source: "mcp"})
	}
	var all []Op
	cursor := ""
	for {
		ops, next, err := o.List(Query{Endpoint: "tool_0", Limit: 5, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ops...)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(all) != 13 || all[0].Timestamp.Before(all[12].Timestamp) {
		t.Errorf("listed %d tool_0 ops, want 13 newest first", len(all))
	}
	no := false
	if ops, _, _ := o.List(Query{Success: &no}); len(ops) != 9 {
		t.Errorf("%d failures listed, want 9", len(ops))
	}
	if _, _, err := o.List(Query{Limit: 5000}); !errors.Is(err, errs.Invalid) {
		t.Errorf("limit 5000: %v", err)
	}

	op, err := o.RecordDurable(ctx, Op{Endpoint: "nightly-eval", Source: "scenario", Success: true, InputSummary: strings.Repeat("é", 300)})
	if err != nil || op.ID == "" || op.Timestamp.IsZero() || len(op.InputSummary) > 256 {
		t.Errorf("RecordDurable = %+v, %v", op, err)
	}
	if _, err := o.RecordDurable(ctx, Op{Endpoint: " "}); !errors.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "endpoint is required") {
		t.Errorf("empty endpoint: %v", err)
	}
	if _, err := o.RecordDurable(ctx, Op{Endpoint: "x", Source: "pager"}); !errors.Is(err, errs.Invalid) {
		t.Errorf("unknown source: %v", err)
	}
}

// BenchmarkRecord measures what recording adds to each tool call.
func BenchmarkRecord(b *testing.B) {
	o, err := Open(b.TempDir(), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	op := Op{Endpoint: "query_sql", Source: "mcp", Success: true, DurationMS: 1.5, InputSummary: `{"sql":"SELECT region, sum(amount) FROM sales GROUP BY ALL"}`, OutputSummary: `{"row_count":4,"truncated":false}`}
	b.ResetTimer()
	for range b.N {
		o.Record(ctx, op)
	}
}
