package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"lakehouse/backends/catalog"
	"lakehouse/backends/errs"
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
