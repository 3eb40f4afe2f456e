package pathway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"lakehouse/backends/embed"
	"lakehouse/backends/eventlog"
	"lakehouse/internal/disk/disktest"
)

// compared waits for the indexer to be ready and returns how many traces
// its reconcile compared with the index: 0 when it was skipped.
func compared(t *testing.T, p *Pathway) int {
	t.Helper()
	reconciled(t, p)
	return p.idx.compared
}

func syncedExists(t *testing.T, dir string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(dir, syncedName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// findsText reports whether a query search for text ranks uid first.
func findsText(t *testing.T, p *Pathway, text, uid string) bool {
	t.Helper()
	res, err := p.Search(context.Background(), SearchOptions{Query: text, Mode: "lexical", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Traces) == 1 && res.Traces[0].UID == uid
}

// A clean close records that the index is in step; the next open skips
// reconcile, consumes the record, and searches find every trace.
func TestSynced_CleanCloseSkipsReconcile(t *testing.T) {
	dir := t.TempDir()
	p := openInternal(t, dir, "m1")
	uids := addN(t, p, 30)
	if _, err := p.Retire(context.Background(), uids[4], "done"); err != nil {
		t.Fatal(err)
	}
	// Closed at once: Close lets the indexer take the last writes first.
	p.Close()
	if !syncedExists(t, dir) {
		t.Fatal("a clean close recorded nothing")
	}
	p = openInternal(t, dir, "m1")
	if n := compared(t, p); n != 0 {
		t.Fatalf("open after a clean close compared %d traces; want 0", n)
	}
	if syncedExists(t, dir) {
		t.Fatal("the record outlives the open that read it")
	}
	if !findsText(t, p, "note 29", uids[29]) {
		t.Fatal("the last trace added before the close is not found")
	}
	items, err := p.vec.Digests(indexName, uids[4:5])
	if err != nil || len(items) != 1 {
		t.Fatal(items, err)
	}
	var meta map[string]any
	if err := json.Unmarshal(items[0].Metadata, &meta); err != nil || meta["state"] != StateRetired {
		t.Fatalf("the retired trace's index item: %s (%v)", items[0].Metadata, err)
	}
}

// Without a clean close (a crash, here a copy of the folder of a live
// memory) the next open compares every trace.
func TestSynced_NoRecordWithoutCleanClose(t *testing.T) {
	dir := t.TempDir()
	p := openInternal(t, dir, "m1")
	addN(t, p, 10)
	p.Close()
	p = openInternal(t, dir, "m1")
	more := addN(t, p, 5)
	if err := p.WaitIndexed(context.Background()); err != nil {
		t.Fatal(err)
	}
	crashed := t.TempDir()
	if err := os.CopyFS(crashed, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	q := openInternal(t, crashed, "m1")
	if n := compared(t, q); n != 15 {
		t.Fatalf("open after a crash compared %d traces; want 15", n)
	}
	if !findsText(t, q, "note 4", more[4]) {
		t.Fatal("a trace added after the clean reopen is not found")
	}
}

// A log that changed after the clean close (restored, edited or written
// by another program) voids the record: every trace is compared, and the
// change reaches the index. Both a record appended and a text edited in
// place far from the log's end, which keeps its size, are seen.
func TestSynced_LogChangedSinceClose(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, path string, uids []string)
		check  func(t *testing.T, p *Pathway, uids []string)
	}{
		{"appended", func(t *testing.T, path string, uids []string) {
			l, _, err := eventlog.Open(path, func([]byte) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Append(&record{Op: "retire", UID: uids[2], Reason: "elsewhere"}); err != nil {
				t.Fatal(err)
			}
			l.Close()
		}, func(t *testing.T, p *Pathway, uids []string) {
			if n := p.idx.restale; n != 1 {
				t.Fatalf("reconcile re-indexed %d traces; want 1 (the one retired behind the memory's back)", n)
			}
		}},
		{"edited in place", func(t *testing.T, path string, uids []string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			i := bytes.Index(b, []byte(`"note 0"`))
			if i < 0 {
				t.Fatal("the first trace's text is not in the log")
			}
			copy(b[i:], `"nope 0"`)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, p *Pathway, uids []string) {
			if !findsText(t, p, "nope 0", uids[0]) {
				t.Fatal("the edited text did not reach the index")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := openInternal(t, dir, "m1")
			uids := addN(t, p, 10)
			p.Close()
			tc.change(t, filepath.Join(dir, logName), uids)
			p = openInternal(t, dir, "m1")
			if n := compared(t, p); n != 10 {
				t.Fatalf("open after the log changed compared %d traces; want 10", n)
			}
			tc.check(t, p, uids)
		})
	}
}

// failing embeds nothing while fail is set.
type failing struct {
	testEmbedder
	fail *bool
}

func (f failing) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if *f.fail {
		return nil, errors.New("embedder is down")
	}
	return f.testEmbedder.Embed(ctx, texts)
}

// A memory whose index is behind when it closes records nothing, and the
// next open indexes what was missed.
func TestSynced_NoRecordWhileBehind(t *testing.T) {
	dir := t.TempDir()
	down := false
	emb := failing{testEmbedder{embed.NewHash(), "m1"}, &down}
	p, err := Open(dir, emb, Config{})
	if err != nil {
		t.Fatal(err)
	}
	addN(t, p, 3)
	reconciled(t, p)
	down = true
	tr, _, err := p.Add(context.Background(), []byte(`{}`), "added while the embedder was down", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if syncedExists(t, dir) {
		t.Fatal("a close with a trace not indexed recorded the index as in step")
	}
	down = false
	p = openInternal(t, dir, "m1")
	if n := compared(t, p); n != 4 {
		t.Fatalf("compared %d traces; want 4", n)
	}
	if !findsText(t, p, "added while the embedder was down", tr.UID) {
		t.Fatal("the trace the index missed is not found after the reopen")
	}
}

// Every acknowledged write after a clean reopen is found by search after
// a power cut, although the record the reopen consumed may come back.
func TestSynced_PowerCutAfterCleanReopen(t *testing.T) {
	root := t.TempDir()
	p := openInternal(t, root, "m1")
	addN(t, p, 10)
	p.Close()
	pc := disktest.NewPowerCut(t, root)
	p = openInternal(t, root, "m1")
	tr, _, err := p.Add(context.Background(), []byte(`{}`), "after the reopen", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIndexed(context.Background()); err != nil {
		t.Fatal(err)
	}
	q := openInternal(t, pc.Cut(t), "m1")
	if !findsText(t, q, "after the reopen", tr.UID) {
		t.Fatal("a trace acknowledged after the clean reopen is lost to search by a power cut")
	}
}
