package ingest_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse/backends/catalog"
	"lakehouse/backends/ingest"
)

// A derived ingest keeps its lineage with the checksum of its rows; the
// same statement with the same rows in another order is unchanged, other
// rows make a version.
func TestIngest_Lineage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	derive := func(mode, query string) *ingest.Result {
		t.Helper()
		body := mustParquet(t, filepath.Join(t.TempDir(), "r.parquet"), query)
		res, err := e.in.Ingest(ctx, ingest.Request{
			Name: "d", Body: bytes.NewReader(body), Format: "parquet", Mode: mode,
			Lineage: &catalog.Lineage{SQL: "SELECT * FROM src", Inputs: []string{"src@v1"}},
		}, nil)
		if err != nil {
			t.Fatalf("%s %s: %v", mode, query, err)
		}
		return res
	}
	first := derive("create", "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) v(k, s) ORDER BY k")
	// Made, a derived dataset is not read again for a checksum: only a
	// re-run of its statement needs one.
	if first.Version != 1 || first.Rows != 2 || first.Lineage == nil || first.Lineage.Checksum != "" || first.Lineage.Inputs[0] != "src@v1" {
		t.Fatalf("create = %+v (lineage %+v)", first, first.Lineage)
	}
	again := derive("replace", "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) v(k, s) ORDER BY k DESC")
	if !again.Unchanged || again.Version != 1 {
		t.Errorf("same rows in another order = %+v", again)
	}
	next := derive("replace", "SELECT * FROM (VALUES (1, 'a'), (3, 'b')) v(k, s)")
	if next.Unchanged || next.Version != 2 || !strings.HasPrefix(next.Lineage.Checksum, "2:") {
		t.Errorf("other rows = %+v (lineage %+v)", next, next.Lineage)
	}
	v := e.cat.Lookup("d").Current()
	if v.Source != "sql" || v.Lineage == nil || v.Lineage.SQL != "SELECT * FROM src" {
		t.Errorf("version = %+v", v)
	}
	if _, err := e.in.Ingest(ctx, ingest.Request{Name: "e", Content: "a\n1\n", Format: "csv", Lineage: &catalog.Lineage{SQL: "SELECT 1"}}, nil); err == nil {
		t.Error("a CSV source with lineage was taken")
	}
}
