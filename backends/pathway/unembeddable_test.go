package pathway_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"lakehouse/backends/pathway"
)

// logBuf collects log output; safe for concurrent use.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// take returns the lines logged since the last take.
func (l *logBuf) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return strings.Split(strings.TrimSpace(s), "\n")
}

// captureLog sends the default logger to a logBuf until the test ends.
func captureLog(t *testing.T) *logBuf {
	old := slog.Default()
	l := &logBuf{}
	slog.SetDefault(slog.New(slog.NewTextHandler(l, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	return l
}

// TestPathway_UnembeddableTraces: traces whose text the embedder rejects
// (no words) are left out of the index, with one warning each, and block
// neither query searches nor the indexer, also after a restart.
func TestPathway_UnembeddableTraces(t *testing.T) {
	logs := captureLog(t)
	dir := t.TempDir()
	p := mustOpen(t, dir, pathway.Config{})
	etl := mustAdd(t, p, `{"job":"etl"}`, "restart the flaky etl job with more memory")
	var wordless []string
	for _, c := range [][2]string{{`{}`, ""}, {`[]`, ""}, {`{"k":1}`, "..."}} {
		wordless = append(wordless, mustAdd(t, p, c[0], c[1]).UID)
	}
	creds := mustAdd(t, p, `{"job":"creds"}`, "rotate the warehouse credentials monthly")
	// An indexed trace whose new text has no words leaves the index.
	if _, err := p.Update(ctx, creds.UID, nil, strp("!!!"), nil); err != nil {
		t.Fatal(err)
	}
	wordless = append(wordless, creds.UID)
	// Retiring one changes its metadata only: it is not tried again.
	if _, err := p.Retire(ctx, wordless[1], "empty"); err != nil {
		t.Fatal(err)
	}

	check := func(when string) {
		t.Helper()
		res := mustSearch(t, p, pathway.SearchOptions{Query: "flaky etl job"})
		if got := uids(res); len(got) == 0 || got[0] != etl.UID {
			t.Fatalf("%s: query search found %v; want %s first", when, got, etl.UID)
		}
		if got := uids(mustSearch(t, p, pathway.SearchOptions{Query: "warehouse credentials"})); slices.Contains(got, creds.UID) {
			t.Fatalf("%s: the trace whose text became wordless is still found by its old text: %v", when, got)
		}
		listed := uids(mustSearch(t, p, pathway.SearchOptions{}))
		for _, uid := range []string{wordless[0], wordless[2], wordless[3]} {
			if !slices.Contains(listed, uid) {
				t.Fatalf("%s: search without a query misses %s: %v", when, uid, listed)
			}
		}
		if st, err := p.Stats(ctx); err != nil || st.IndexPending != 0 {
			t.Fatalf("%s: stats %+v, %v; want index_pending 0", when, st, err)
		}
		// One warning per unembeddable trace, naming it.
		lines := logs.take()
		for _, uid := range wordless {
			n := 0
			for _, l := range lines {
				if strings.Contains(l, "level=WARN") && strings.Contains(l, "uid="+uid) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%s: %d warnings name %s; want 1:\n%s", when, n, uid, strings.Join(lines, "\n"))
			}
		}
	}
	check("first run")
	// Searching again tries nothing again.
	mustSearch(t, p, pathway.SearchOptions{Query: "flaky etl job"})
	if lines := logs.take(); slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "level=WARN") }) {
		t.Fatalf("warnings without a change: %v", lines)
	}

	p.Close()
	p = mustOpen(t, dir, pathway.Config{})
	check("after restart")

	// New text with words is tried again and makes the trace findable.
	if _, err := p.Update(ctx, wordless[0], json.RawMessage(`{"plan":1}`), strp("kubernetes rollback plan"), nil); err != nil {
		t.Fatal(err)
	}
	if got := uids(mustSearch(t, p, pathway.SearchOptions{Query: "kubernetes rollback plan"})); len(got) == 0 || got[0] != wordless[0] {
		t.Fatalf("updated trace not found first: %v", got)
	}
	if st, _ := p.Stats(ctx); st.IndexPending != 0 {
		t.Fatalf("index_pending %d after the update", st.IndexPending)
	}
}
