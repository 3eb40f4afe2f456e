package observer

import (
	"context"
	"encoding/json"
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
	// CompactBytes 1 compacts on the first op, then on the third (the log
	// has doubled), the one that escalates.
	o := open(t, t.TempDir(), Config{EscalateAt: 3, CompactBytes: 1, OnEscalate: func(_ context.Context, c Cluster, _ Op) {
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

// statsJSON is o's statistics over all ops, as a client sees them.
func statsJSON(t *testing.T, o *Observer) string {
	t.Helper()
	b, err := json.Marshal(o.Stats(time.Time{}))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A retained state larger than CompactBytes must not be rewritten on every
// op: compactions are counted as the times the log shrank.
func TestObserver_CompactionAmortised(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{RingSize: 100, Retain: 2000, CompactBytes: 20 << 10}
	o := open(t, dir, cfg)
	ctx := context.Background()
	compactions, size := 0, o.log.Size()
	for i := range 6000 {
		op := Op{Endpoint: fmt.Sprintf("tool_%d", i%5), Source: "mcp", Success: i%7 != 0, DurationMS: float64(i % 50),
			InputSummary: strings.Repeat("x", 100)}
		switch {
		case !op.Success:
			op.Error = fmt.Sprintf("timeout after %d ms", i)
		case i%500 == 0:
			op.Source = "scenario"
		case i == 3 || i == 5990: // one cluster, whose first op is dropped
			op.Endpoint, op.Success, op.Error = "rare", false, fmt.Sprintf("rare failure %d", i)
		}
		o.Record(ctx, op)
		if s := o.log.Size(); s < size {
			compactions++
		}
		size = o.log.Size()
	}
	if compactions < 3 || compactions > 15 {
		t.Errorf("%d compactions for 6000 ops, want 3 to 15", compactions)
	}
	t.Logf("%d compactions", compactions)
	before := statsJSON(t, o)
	if st := o.Stats(time.Time{}); st.Total >= 6000 || st.Total < cfg.Retain {
		t.Errorf("stats cover %d ops; Retain is %d", st.Total, cfg.Retain)
	}
	o.Close()
	if after := statsJSON(t, open(t, dir, cfg)); after != before {
		t.Errorf("stats changed on reopen:\nbefore %s\nafter  %s", before, after)
	}
}

func TestObserver_RetainBelowRingSize(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{RingSize: 50, Retain: 10, CompactBytes: 1 << 10}
	o := open(t, dir, cfg)
	for i := range 200 {
		o.Record(context.Background(), Op{Endpoint: fmt.Sprintf("tool_%d", i%3), Success: true})
	}
	if ops, _, _ := o.List(Query{}); len(ops) != 50 {
		t.Errorf("listed %d ops, want the ring's 50", len(ops))
	}
	before := statsJSON(t, o)
	o.Close()
	if after := statsJSON(t, open(t, dir, cfg)); after != before {
		t.Errorf("stats changed on reopen:\nbefore %s\nafter  %s", before, after)
	}
}

func TestObserver_BoundsOps(t *testing.T) {
	o := open(t, t.TempDir(), Config{})
	tags := make([]string, 40)
	for i := range tags {
		tags[i] = strings.Repeat("t", 100)
	}
	op, err := o.RecordDurable(context.Background(), Op{
		Endpoint: "nightly-eval", Source: "scenario", Error: strings.Repeat("e", 5000), Tags: tags,
		Fields: map[string]any{"blob": strings.Repeat("b", 500<<10)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(op.Error) > 1024 || !strings.HasSuffix(op.Error, "…") {
		t.Errorf("error kept %d bytes", len(op.Error))
	}
	if len(op.Tags) != 32 || len(op.Tags[0]) > 64 || len(tags[0]) != 100 {
		t.Errorf("kept %d tags of %d bytes; caller's tag now %d bytes", len(op.Tags), len(op.Tags[0]), len(tags[0]))
	}
	if fmt.Sprint(op.Fields) != "map[_truncated:512011 bytes of JSON; the limit is 4096]" {
		t.Errorf("fields = %v", op.Fields)
	}
	small := map[string]any{"passed": 12.0, "failed": 1.0}
	o.Record(context.Background(), Op{Endpoint: "get_object", Error: strings.Repeat("é", 1000), Fields: small})
	ops, _, _ := o.List(Query{})
	if b, _ := json.Marshal(ops); len(ops) != 2 || len(b) > 8<<10 {
		t.Errorf("list_events of 2 ops is %d bytes", len(b))
	}
	if len(ops[0].Error) > 1024 || fmt.Sprint(ops[0].Fields) != fmt.Sprint(small) {
		t.Errorf("recorded op: error of %d bytes, fields %v", len(ops[0].Error), ops[0].Fields)
	}
}

func TestObserver_StatsBoundsClusters(t *testing.T) {
	o := open(t, t.TempDir(), Config{})
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// 30 clusters: cluster i fails 1+i%5 times, at base+i seconds, so that
	// among equal counts the higher i was seen last.
	for i := range 30 {
		for range 1 + i%5 {
			o.Record(context.Background(), Op{Endpoint: fmt.Sprintf("tool_%02d", i), Timestamp: base.Add(time.Duration(i) * time.Second),
				Error: strings.Repeat("e", 300)})
		}
	}
	st := o.Stats(time.Time{})
	if len(st.Clusters) != 20 || st.ClusterCount != 30 || len(st.Escalations) != 18 || st.EscalationCount != 18 {
		t.Fatalf("%d of %d clusters, %d of %d escalations listed", len(st.Clusters), st.ClusterCount, len(st.Escalations), st.EscalationCount)
	}
	if c := st.Clusters; c[0].Endpoint != "tool_29" || c[1].Endpoint != "tool_24" || c[6].Endpoint != "tool_28" || c[19].Endpoint != "tool_21" {
		t.Errorf("clusters in order %s %s … %s … %s", c[0].Endpoint, c[1].Endpoint, c[6].Endpoint, c[19].Endpoint)
	}
	for _, c := range append(st.Clusters, st.Escalations...) {
		if len(c.Example) > MaxSummary {
			t.Fatalf("example of %d bytes", len(c.Example))
		}
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

// TestObserver_ListPagesByPosition pages through ops whose caller-given ids
// repeat: every op comes exactly once, newest first, and a cursor that fell
// out of the ring, or is made up, is an error.
func TestObserver_ListPagesByPosition(t *testing.T) {
	o := open(t, t.TempDir(), Config{RingSize: 8})
	ctx := context.Background()
	ids := []string{"h", "dup", "e", "f", "dup", "g"}
	for i, id := range ids {
		if _, err := o.RecordDurable(ctx, Op{ID: id, Endpoint: "report", Success: true, DurationMS: float64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	var got []float64
	cursor, first := "", ""
	for range 10 {
		ops, next, err := o.List(Query{Limit: 1, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range ops {
			got = append(got, op.DurationMS)
		}
		if first == "" {
			first = next
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if fmt.Sprint(got) != "[5 4 3 2 1 0]" {
		t.Errorf("pages = %v, want every op once, newest first", got)
	}
	for range 8 { // push the first page's cursor out of the ring
		o.Record(ctx, Op{Endpoint: "later", Success: true})
	}
	if _, _, err := o.List(Query{Limit: 1, Cursor: first}); !errors.Is(err, errs.NotFound) {
		t.Errorf("stale cursor: %v", err)
	}
	if _, _, err := o.List(Query{Cursor: "dup"}); !errors.Is(err, errs.Invalid) {
		t.Errorf("made-up cursor: %v", err)
	}
	long, _ := o.RecordDurable(ctx, Op{ID: strings.Repeat("i", 1000), SigHash: strings.Repeat("s", 1000), Endpoint: "x"})
	if len(long.ID) > 128 || len(long.SigHash) > 128 {
		t.Errorf("id of %d bytes and sig_hash of %d kept", len(long.ID), len(long.SigHash))
	}
}

// TestObserver_StatsBoundsTools keeps by_tool to the busiest endpoints.
func TestObserver_StatsBoundsTools(t *testing.T) {
	o := open(t, t.TempDir(), Config{})
	ctx := context.Background()
	for i := range 120 {
		for range 1 + i%3 {
			o.Record(ctx, Op{Endpoint: fmt.Sprintf("e%03d", i), Success: true})
		}
	}
	st := o.Stats(time.Time{})
	if st.ToolCount != 120 || len(st.ByTool) != 50 || st.Total != 240 {
		t.Fatalf("tool_count %d, %d listed, total %d", st.ToolCount, len(st.ByTool), st.Total)
	}
	threes := 0
	for name, ts := range st.ByTool {
		switch ts.Count {
		case 3:
			threes++
		case 1:
			t.Errorf("%s with 1 op listed among the busiest", name)
		}
	}
	if threes != 40 {
		t.Errorf("%d of the 40 endpoints with 3 ops listed", threes)
	}
}

func TestCutTo(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 5, "hello"},
		{"hello world", 8, "hello…"},
		{"héllo world", 4, "hél"}, // too short for the mark
		{"héllo", 2, "h"},         // never half a character
		{"hello", 0, ""},
		{"ééé", 6, "ééé"},
		{"éééé", 7, "éé…"},
	} {
		if got := CutTo(c.s, c.n); got != c.want || len(got) > c.n {
			t.Errorf("CutTo(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}
