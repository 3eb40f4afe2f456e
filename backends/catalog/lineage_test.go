package catalog_test

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"lakehouse/backends/catalog"
)

// A manifest in the log format as this catalog wrote it before versions
// carried lineage.
const beforeLineage = `{
  "format": 2,
  "id": "4a0c1c8e-1c60-5b2d-9a8e-0d5b1f6a1d10",
  "name": "orders",
  "created": "2024-05-01T12:01:00Z",
  "entries": [
    {"version":{"version":1,"mode":"create","source":"content","source_sha256":"abab","format":"csv","rows":2,"added_rows":2,"bytes":100,"columns":[{"name":"id","type":"BIGINT"}],"created":"2024-05-01T12:01:00Z"},"keep":0,"add":["_datasets/orders/v1/part-0.parquet"]}
  ]
}
`

// Lineage is kept with its version through a reopen; versions of manifests
// written before lineage existed have none, and take derived versions after
// them.
func TestCatalog_Lineage_RoundTrip(t *testing.T) {
	eachJournal(t, func(t *testing.T, f *fixture) {
		c := f.open(t)
		if f.kind == "store" {
			mustPut(t, f.st, catalog.ManifestPrefix+"orders.json", beforeLineage)
			c = f.open(t)
		} else { // the same version, committed
			v := newVersion("orders", 1, 2)
			v.Created = time.Date(2024, 5, 1, 12, 1, 0, 0, time.UTC)
			mustCommit(t, c, "orders", v)
		}
		if d := c.Damaged(); len(d) != 0 {
			t.Fatalf("Damaged = %v", d)
		}
		old := c.Lookup("orders")
		if old == nil || old.Current().Lineage != nil || old.Current().Rows != 2 {
			t.Fatalf("manifest before lineage read as %+v", old)
		}

		v := newVersion("orders", 2, 5)
		v.Mode, v.Source, v.Format = "replace", "sql", "parquet"
		v.Lineage = &catalog.Lineage{
			SQL:      `SELECT * FROM a JOIN "b@v3" USING (id)`,
			Inputs:   []string{"a@v7", "b@v3"},
			Checksum: "5:123456789",
		}
		mustCommit(t, c, "orders", v)
		mustCommit(t, c, "summary", func() catalog.Version {
			v := newVersion("summary", 1, 1)
			v.Lineage = &catalog.Lineage{SQL: "SELECT count(*) FROM orders", Inputs: []string{"orders@v2"}, Checksum: "1:42"}
			return v
		}())

		again := f.open(t)
		wantSame(t, c, again)
		m := again.Lookup("orders")
		if got := m.Current().Lineage; got == nil || asJSON(t, got) != asJSON(t, v.Lineage) {
			t.Errorf("lineage after reopen = %+v, want %+v", got, v.Lineage)
		}
		if m.Version(1).Lineage != nil {
			t.Errorf("version 1 has lineage %+v", m.Version(1).Lineage)
		}
		if got := m.Current().Lineage.InputNames(); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("InputNames = %v", got)
		}

		// The dependents of a dataset are those whose current version read it.
		if got := again.Dependents("orders"); !slices.Equal(got, []string{"summary"}) {
			t.Errorf("Dependents(orders) = %v", got)
		}
		if got := again.Dependents("a"); !slices.Equal(got, []string{"orders"}) {
			t.Errorf("Dependents(a) = %v", got)
		}
		if got := again.Dependents("summary"); len(got) != 0 {
			t.Errorf("Dependents(summary) = %v", got)
		}
		// A new version without lineage ends the dependence.
		mustCommit(t, again, "summary", newVersion("summary", 2, 1))
		if got := again.Dependents("orders"); len(got) != 0 {
			t.Errorf("Dependents(orders) after summary was replaced = %v", got)
		}
	})
}

// The stored entry holds the lineage under "lineage", and a version without
// one has no such key.
func TestCatalog_Lineage_Stored(t *testing.T) {
	ctx := context.Background()
	st := mustStore(t)
	c := mustOpen(t, st)
	mustCommit(t, c, "plain", newVersion("plain", 1, 1))
	v := newVersion("derived", 1, 1)
	v.Lineage = &catalog.Lineage{SQL: "SELECT 1", Inputs: []string{}, Checksum: "1:7"}
	mustCommit(t, c, "derived", v)
	for name, want := range map[string]bool{"plain": false, "derived": true} {
		r, _, err := st.Get(ctx, catalog.ManifestPrefix+name+".json")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(body), `"lineage":{"sql":"SELECT 1"`); got != want {
			t.Errorf("%s: lineage stored = %t, want %t:\n%s", name, got, want, body)
		}
	}
}

func TestSplitVersion(t *testing.T) {
	for in, want := range map[string]struct {
		name string
		v    int
	}{
		"sales": {"sales", 0}, "sales@v2": {"sales", 2}, "a@vb@v10": {"a@vb", 10},
		"sales@v": {"sales@v", 0}, "sales@v02": {"sales@v02", 0}, "@v1": {"@v1", 0},
	} {
		if name, v := catalog.SplitVersion(in); name != want.name || v != want.v {
			t.Errorf("SplitVersion(%q) = %q, %d; want %q, %d", in, name, v, want.name, want.v)
		}
	}
}
