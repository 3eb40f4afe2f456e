package pathway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"lakehouse/backends/embed"
	"lakehouse/backends/eventlog"
	"lakehouse/internal/disk"
	"lakehouse/internal/disk/disktest"
)

// compared waits for the indexer to be ready and returns how many traces
// its reconcile compared with the index: 0 when it was skipped.
func compared(t *testing.T, p *Pathway) int {
	t.Helper()
	reconciled(t, p)
	return p.idx.compared
}

// findsText reports whether a lexical search for text ranks uid first.
func findsText(t *testing.T, p *Pathway, text, uid string) bool {
	t.Helper()
	res, err := p.Search(context.Background(), SearchOptions{Query: text, Mode: "lexical", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Traces) == 1 && res.Traces[0].UID == uid
}

// indexedText returns the text the index holds for uid.
func indexedText(t *testing.T, p *Pathway, uid string) string {
	t.Helper()
	d, err := p.vec.Digests(indexName, []string{uid})
	if err != nil || len(d) != 1 {
		t.Fatalf("index item of %s: %v, %v", uid, d, err)
	}
	return d[0].Text
}

// copyLive copies the folder of a live memory, as a crash leaves it.
func copyLive(t *testing.T, dir string) string {
	t.Helper()
	crashed := t.TempDir()
	if err := os.CopyFS(crashed, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	return crashed
}

// An index in step with the log, after a clean close or a crash alike, is
// not compared trace by trace at the next open, and searches find every
// trace; the traces' sum is the index's fingerprint.
func TestInStep_ReopenSkipsReconcile(t *testing.T) {
	dir := t.TempDir()
	p := openInternal(t, dir, "m1")
	uids := addN(t, p, 30)
	if _, err := p.Retire(context.Background(), uids[4], "done"); err != nil {
		t.Fatal(err)
	}
	// Closed at once: Close lets the indexer take the last writes first.
	p.Close()
	p = openInternal(t, dir, "m1")
	if n := compared(t, p); n != 0 {
		t.Fatalf("open after a clean close compared %d traces; want 0", n)
	}
	if fp, _ := p.vec.Fingerprint(indexName); fp != p.want {
		t.Fatalf("index fingerprint %x, the traces' sum %x", fp, p.want)
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

	more := addN(t, p, 5)
	if err := p.WaitIndexed(context.Background()); err != nil {
		t.Fatal(err)
	}
	q := openInternal(t, copyLive(t, dir), "m1")
	if n := compared(t, q); n != 0 {
		t.Fatalf("open after a crash with the index in step compared %d traces; want 0", n)
	}
	if !findsText(t, q, "note 4", more[4]) {
		t.Fatal("a trace added after the reopen is not found after the crash")
	}
}

// failing embeds nothing while fail is set.
type failing struct {
	testEmbedder
	fail *atomic.Bool
}

func (f failing) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if f.fail.Load() {
		return nil, errors.New("embedder is down")
	}
	return f.testEmbedder.Embed(ctx, texts)
}

// An index behind its log (the embedder down at a close, or at a crash)
// is compared trace by trace at the next open, which indexes what it
// missed.
func TestInStep_IndexBehind(t *testing.T) {
	for _, crash := range []bool{false, true} {
		dir := t.TempDir()
		var down atomic.Bool
		p, err := Open(dir, failing{testEmbedder{embed.NewHash(), "m1"}, &down}, Config{})
		if err != nil {
			t.Fatal(err)
		}
		addN(t, p, 3)
		reconciled(t, p)
		down.Store(true)
		tr, _, err := p.Add(context.Background(), []byte(`{}`), "added while the embedder was down", nil, "")
		if err != nil {
			t.Fatal(err)
		}
		from := dir
		if crash {
			from = copyLive(t, dir)
		}
		p.Close()
		q := openInternal(t, from, "m1")
		if n := compared(t, q); n != 4 {
			t.Fatalf("crash %v: compared %d traces; want 4", crash, n)
		}
		if !findsText(t, q, "added while the embedder was down", tr.UID) {
			t.Fatalf("crash %v: the trace the index missed is not found after the reopen", crash)
		}
	}
}

// A log that changed after the close (restored, edited or written by
// another program) is compared trace by trace, and the change reaches the
// index: a record appended, and a text edited in place far from the log's
// end, which keeps its size.
func TestInStep_LogChangedSinceClose(t *testing.T) {
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

// failNextSync returns arm: once armed with during, the next fsync of the
// log runs during, then fails.
func failNextSync(t *testing.T, dir string) (arm func(during func())) {
	var next atomic.Pointer[func()]
	t.Cleanup(disk.Intercept(dir, &disk.Hooks{Sync: func(path string) error {
		if filepath.Base(path) != logName {
			return nil
		}
		if during := next.Swap(nil); during != nil {
			(*during)()
			return syscall.EIO
		}
		return nil
	}}))
	return func(during func()) { next.Store(&during) }
}

// A write whose fsync fails is undone in memory, and in the index too,
// which may have indexed its change meanwhile: at once, and after a
// reopen. An update's text, and a revision's superseding of its
// predecessor, are both undone.
func TestInStep_FailedWriteIsUndoneInTheIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	arm := failNextSync(t, dir)
	p := openInternal(t, dir, "m1")
	uids := addN(t, p, 3)
	text := "good text"
	if _, err := p.Update(ctx, uids[0], nil, &text, nil); err != nil {
		t.Fatal(err)
	}
	// While the failing fsync runs, the indexer takes the trace as memory
	// holds it then, the write applied.
	indexNow := func(uid string, indexed func() bool) func() {
		return func() {
			p.idx.mark(uid)
			if err := p.idx.wait(ctx); err != nil || !indexed() {
				t.Errorf("the indexer did not index %s as the failing write left it (%v)", uid, err)
			}
		}
	}
	bad := "failed text"
	arm(indexNow(uids[0], func() bool { return indexedText(t, p, uids[0]) == bad }))
	if _, err := p.Update(ctx, uids[0], nil, &bad, nil); err == nil {
		t.Fatal("an update under a failed fsync succeeded")
	}
	arm(indexNow(uids[1], func() bool { return !findsText(t, p, "note 1", uids[1]) }))
	if _, err := p.Revise(ctx, uids[1], json.RawMessage(`{}`), nil, nil); err == nil {
		t.Fatal("a revision under a failed fsync succeeded")
	}
	check := func(p *Pathway) {
		t.Helper()
		if err := p.WaitIndexed(ctx); err != nil {
			t.Fatal(err)
		}
		if got := indexedText(t, p, uids[0]); got != text {
			t.Errorf("the index holds %q for the trace whose text is %q", got, text)
		}
		if !findsText(t, p, "note 1", uids[1]) {
			t.Error("the predecessor of the failed revision is not found as active")
		}
	}
	check(p)
	p.Close()
	q := openInternal(t, dir, "m1")
	if n := compared(t, q); n != 0 {
		t.Errorf("the reopen compared %d traces; want 0 (the index was put back in step)", n)
	}
	check(q)
}

// Every acknowledged write is found by search after a power cut, whether
// the index had caught up with it or not.
func TestInStep_PowerCut(t *testing.T) {
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
	q := openInternal(t, pc.Cut(t), "m1")
	if !findsText(t, q, "after the reopen", tr.UID) {
		t.Fatal("a trace acknowledged before a power cut is lost to search")
	}
}
