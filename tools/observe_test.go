package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"lakehouse/backends/observer"
	"lakehouse/backends/store"
)

func TestSummaries(t *testing.T) {
	args := json.RawMessage(`{"key":"notes/a.txt","content":"top secret words","api_key":"sk-123","filter":{"lang":"en","auth_token":"x"},"query_vector":[0.1,0.2,0.3],"k":5}`)
	got := summarize(args)
	want := `api_key=[redacted] content=<16 bytes> filter={auth_token=[redacted] lang="en"} k=5 key="notes/a.txt" query_vector=<3 items>`
	if got != want {
		t.Errorf("summarize =\n%s\nwant\n%s", got, want)
	}
	if got := summarize(json.RawMessage(`{"sql":"` + strings.Repeat("x", 1000) + `"}`)); len(got) > observer.MaxSummary {
		t.Errorf("summary of %d bytes", len(got))
	}
	if got := summarize(json.RawMessage(`not json`)); got != "not json" {
		t.Errorf("summary of a non-object = %q", got)
	}

	out := summarizeOutput(&getObjectOut{Info: store.Info{Key: "a.txt", Size: 12}, Content: "private text"})
	if strings.Contains(out, "private") || !strings.Contains(out, "content=<12 bytes>") || !strings.Contains(out, `key="a.txt"`) {
		t.Errorf("summarizeOutput = %s", out)
	}
	if got := summarizeOutput(searchOut{Index: "i", Hits: make([]foundHit, 3)}); got != `hits=[3 items] index="i"` {
		t.Errorf("summarizeOutput of hits = %s", got)
	}
}

// BenchmarkObserveCost measures what the Observe middleware adds to a tool
// call: summarizing a list_objects call's arguments (decoded already, for
// the schema check) and its ten-object result, and recording the op (ring,
// stats and a buffered log append).
func BenchmarkObserveCost(b *testing.B) {
	obs, err := observer.Open(b.TempDir(), observer.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer obs.Close()
	var args any
	if err := json.Unmarshal([]byte(`{"prefix":"reports/","limit":10}`), &args); err != nil {
		b.Fatal(err)
	}
	var out listObjectsOut
	for i := range 10 {
		out.Objects = append(out.Objects, store.Info{Key: fmt.Sprintf("reports/%d.csv", i), Size: 1 << 20, ETag: strings.Repeat("ab", 32), ContentType: "text/csv"})
	}
	ctx := context.Background()
	b.ReportAllocs()
	lat := make([]time.Duration, b.N)
	for i := range b.N {
		t0 := time.Now()
		obs.Record(ctx, observer.Op{
			Endpoint: "list_objects", Source: "mcp", Success: true, DurationMS: 0.2,
			InputSummary: summarizeValue(args), OutputSummary: summarizeOutput(out), SessionID: "s1",
		})
		lat[i] = time.Since(t0)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1000, "p50-µs")
}
