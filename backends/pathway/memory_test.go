package pathway_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"lakehouse/backends/errs"
	"lakehouse/backends/pathway"
	"lakehouse/backends/vector"
)

// TestSearch_TraceIndexFull checks that when vector.max_memory leaves no
// room for the trace index, the trace is still stored, and a search says
// that the index is behind and why, naming the key.
func TestSearch_TraceIndexFull(t *testing.T) {
	p := mustOpen(t, t.TempDir(), pathway.Config{Vector: vector.Config{Budget: vector.NewBudget(1 << 10)}})
	tr := mustAdd(t, p, `{}`, "the build failed on a missing header")
	mustGet(t, p, tr.UID)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := p.Search(sctx, pathway.SearchOptions{Query: "build failed"})
	if !errors.Is(err, errs.TooLarge) || !strings.Contains(err.Error(), "the trace search index is behind") || !strings.Contains(err.Error(), "vector.max_memory is 1 KiB") {
		t.Errorf("search with a full trace index: %v; want a TooLarge error that says the index is behind, and names vector.max_memory", err)
	}
}
