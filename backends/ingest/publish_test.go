package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"lakehouse/backends/catalog"
	"lakehouse/backends/errs"
	"lakehouse/backends/ingest"
)

// A dataset file whose commit failed is removed, unless the commit may
// have landed (the catalog's database went away as it committed): then
// the version may refer to it, and it stays.
func TestPublish_KeepsTheFileOfACommitThatMayHaveLanded(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		err  error
		kept bool
	}{
		{errors.New("refused"), false},
		{fmt.Errorf("commit: %w", catalog.ErrMaybeCommitted), true},
	} {
		out := filepath.Join(e.st.TempDir(), "part.parquet")
		if err := os.WriteFile(out, []byte("PAR1"), 0o600); err != nil {
			t.Fatal(err)
		}
		key := "_datasets/d/v1/part-0.parquet"
		err := e.in.Publish(ctx, key, out, func(context.Context, int64) error { return tc.err })
		if !errors.Is(err, tc.err) {
			t.Fatalf("publish = %v, want %v", err, tc.err)
		}
		_, serr := e.st.Stat(ctx, key)
		if kept := serr == nil; kept != tc.kept || !kept && !errors.Is(serr, errs.NotFound) {
			t.Errorf("after a commit failing with %v: kept %v (%v), want %v", tc.err, kept, serr, tc.kept)
		}
	}
}

// TestIngest_LegacyLayout: a dataset whose files have the keys of the
// layout before incarnations (catalog.DataKey) still reads; an append adds
// a file of a fresh key in the folder of its version, and the drop deletes
// those folders.
func TestIngest_LegacyLayout(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	old := catalog.DataKey("old", 1, 0)
	e.mustPut(t, old, mustParquet(t, filepath.Join(t.TempDir(), "v1.parquet"), "SELECT 1::BIGINT AS id, 'ann' AS name"))
	_, err := e.cat.Commit(ctx, "old", catalog.Version{Version: 1, Mode: "create", Source: "content", Format: "csv", Rows: 1, AddedRows: 1,
		Files: []string{old}, Columns: []catalog.Column{{Name: "id", Type: "BIGINT"}, {Name: "name", Type: "VARCHAR"}}, Created: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	e.mustIngest(t, ingest.Request{Name: "old", Content: "id,name\n2,bob\n", Mode: "append"})
	v := e.manifest(t, "old").Current()
	if len(v.Files) != 2 || v.Files[0] != old || !strings.HasPrefix(v.Files[1], catalog.DataPrefix+"old/v2/part-1-") {
		t.Errorf("files after an append to a dataset of the old layout: %v", v.Files)
	}
	if got, want := e.rows(t, "old", 0), []string{"1|ann", "2|bob"}; !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
	if _, err := e.in.Drop(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	if items, _, _ := e.st.List(ctx, catalog.DataPrefix+"old/", "", 0); len(items) != 0 {
		t.Errorf("left after the drop: %v", items)
	}
}
