package ingest_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"lakehouse/backends/errs"
	"lakehouse/backends/ingest"
	"lakehouse/backends/store"
)

// TestIngest_ObjectsElsewhere ingests object_key sources from a store other
// than the ingester's own (Config.Objects), as mcpd does when the objects
// of the object tools are in a bucket: each is copied, then read.
func TestIngest_ObjectsElsewhere(t *testing.T) {
	ctx := context.Background()
	objects, err := store.OpenFS(filepath.Join(t.TempDir(), "elsewhere"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objects.Close() })
	e := newEnvWith(t, func(cfg *ingest.Config) { cfg.Objects = objects }, nil)
	put := func(key, content string) {
		if _, err := objects.Put(ctx, key, strings.NewReader(content), "", 0); err != nil {
			t.Fatal(err)
		}
	}
	const csv = "id,name\n1,a\n2,b\n"
	put("in/people.csv", csv)
	put("in/empty.csv", "")
	e.mustPut(t, "in/own.csv", []byte(csv)) // in the ingester's store: not a source

	res := e.mustIngest(t, ingest.Request{Name: "people", ObjectKey: "in/people.csv"})
	if res.Rows != 2 || res.Format != "csv" || e.manifest(t, "people").Current().Source != "object:in/people.csv" {
		t.Errorf("ingest = %+v, source %q", res, e.manifest(t, "people").Current().Source)
	}
	if got := e.rows(t, "people", 0); !slices.Equal(got, []string{"1|a", "2|b"}) {
		t.Errorf("rows = %v", got)
	}
	// The copy's hash is the object's: the same bytes again change nothing.
	if res := e.mustIngest(t, ingest.Request{Name: "people", ObjectKey: "in/people.csv"}); !res.Unchanged {
		t.Errorf("second ingest of the same object = %+v, want unchanged", res)
	}

	_, err = e.in.Ingest(ctx, ingest.Request{Name: "own", ObjectKey: "in/own.csv"}, nil)
	wantErr(t, err, errs.NotFound, `"in/own.csv" not found`)
	_, err = e.in.Ingest(ctx, ingest.Request{Name: "empty", ObjectKey: "in/empty.csv"}, nil)
	wantErr(t, err, errs.Invalid, `object "in/empty.csv" is empty`)
	e.wantTempEmpty(t)
}
