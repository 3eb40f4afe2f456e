package pathway

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"lakehouse/backends/embed"
	"lakehouse/backends/eventlog"
	"lakehouse/internal/disk"
	"lakehouse/internal/replay"
)

// Every field of a trace comes back from a snapshot as it went in, with
// its hash, in order.
func TestSnapshot_RoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 2, 18, 0, 0, 123456789, time.UTC)
	var want []*Trace
	for i := range 2*snapBlock + 7 {
		tr := &Trace{
			UID: fmt.Sprintf("u%d", i), Content: json.RawMessage(fmt.Sprintf(`{"i":%d,"s":"é\n"}`, i)),
			Text: strings.Repeat("w ", i%5), Tags: []string{}, CreatedAt: at.Add(time.Duration(i)), UpdatedAt: at,
			ihash: uint64(i) * 0x9e3779b97f4a7c15,
		}
		switch i % 4 {
		case 1:
			tr.Tags, tr.SuccessorUID = []string{"a", "b", ""}, fmt.Sprintf("u%d", i+1)
		case 2:
			tr.Retired, tr.RetiredReason, tr.ReplayCount, tr.PredecessorUID = true, "done", 3, "u1"
		case 3:
			tr.CreatedAt, tr.UpdatedAt = time.Time{}, time.Unix(-1, 5).UTC()
		}
		want = append(want, tr)
	}
	var buf bytes.Buffer
	c := cover{Gen: 7, Bytes: 12345}
	if err := writeSnapshot(&buf, c, want); err != nil {
		t.Fatal(err)
	}
	s, err := parseSnapshot("test", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var got []*Trace
	n := s.apply(func(r *record) error {
		for i, tr := range r.Traces {
			tr.ihash = r.hashes[i]
			got = append(got, tr)
		}
		return nil
	})
	if s.cover != c || s.rehash || s.count != len(want) || n != len(want) {
		t.Fatalf("cover %+v rehash %v count %d applied %d; want %+v, false, %d", s.cover, s.rehash, s.count, n, c, len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) || !got[i].CreatedAt.Equal(want[i].CreatedAt) || got[i].CreatedAt.IsZero() != want[i].CreatedAt.IsZero() {
			t.Fatalf("trace %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// A snapshot of hashes of another scheme has them computed again.
func TestSnapshot_Rehash(t *testing.T) {
	tr := &Trace{UID: "u", Content: json.RawMessage(`{}`), Text: "t", Tags: []string{"x"}, ihash: 1}
	var buf bytes.Buffer
	if err := writeSnapshot(&buf, cover{}, []*Trace{tr}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	b[32] ^= 1 // the hash scheme
	binary.LittleEndian.PutUint32(b[snapHeader-4:], crc32.Checksum(b[:snapHeader-4], replay.Castagnoli))
	s, err := parseSnapshot("test", b)
	if err != nil || !s.rehash {
		t.Fatalf("parse: %v, rehash %v", err, s != nil && s.rehash)
	}
	s.apply(func(r *record) error {
		if r.hashes[0] != hashOf(tr) {
			t.Errorf("hash %x, want %x", r.hashes[0], hashOf(tr))
		}
		return nil
	})
}

// FuzzSnapshot: no input makes reading a snapshot panic or apply a trace
// without a uid's worth of bytes behind it.
func FuzzSnapshot(f *testing.F) {
	var buf bytes.Buffer
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	writeSnapshot(&buf, cover{Gen: 1, Bytes: 10}, []*Trace{
		{UID: "a", Content: json.RawMessage(`{"k":1}`), Text: "x", Tags: []string{"t"}, CreatedAt: at},
		{UID: "b", Content: json.RawMessage(`[]`), Retired: true, RetiredReason: "r", ReplayCount: 2},
	})
	good := buf.Bytes()
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(good[:snapHeader])
	f.Fuzz(func(t *testing.T, b []byte) {
		b = bytes.Clone(b)
		s, err := parseSnapshot("fuzz", b)
		if err != nil {
			return
		}
		s.apply(func(r *record) error {
			for _, tr := range r.Traces {
				if tr == nil {
					t.Fatal("a nil trace")
				}
			}
			return nil
		})
	})
}

// FuzzDecodeBlock: no block, however its counts and lengths are damaged
// (a checksum only stops damage, not a hand), makes decoding panic, and a
// block that decodes holds traces whose fields lie within it.
func FuzzDecodeBlock(f *testing.F) {
	var buf bytes.Buffer
	writeSnapshot(&buf, cover{}, []*Trace{
		{UID: "a", Content: json.RawMessage(`{"k":1}`), Text: "x", Tags: []string{"t", "u"}},
		{UID: "b", Content: json.RawMessage(`[]`), Retired: true, RetiredReason: "r", ReplayCount: 2},
	})
	s, err := parseSnapshot("seed", buf.Bytes())
	if err != nil {
		f.Fatal(err)
	}
	block := s.blocks()[0]
	f.Add(block)
	// A tag count of 2^64-1 in the first trace: uid "a", content, text "x".
	huge := []byte{1, 1, 'a', 0, 0}
	f.Add(append(huge, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01))
	f.Add(binary.AppendUvarint(nil, 1<<40))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeBlock(bytes.Clone(b), false)
		if err != nil {
			return
		}
		size := 0
		for _, tr := range r.Traces {
			size += len(tr.UID) + len(tr.Content) + len(tr.Text)
			for _, tag := range tr.Tags {
				size += len(tag)
			}
		}
		if size > len(b) {
			t.Fatalf("traces of %d bytes from a block of %d", size, len(b))
		}
	})
}

// dump is every trace of p, with its counters, as JSON.
func dump(t *testing.T, p *Pathway) string {
	t.Helper()
	p.mu.RLock()
	defer p.mu.RUnlock()
	b, err := json.Marshal(p.order)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// compactNow compacts p at once, however small its log.
func compactNow(p *Pathway) error {
	p.mu.Lock()
	p.cfg.CompactBytes = 1
	p.snapBytes.Store(0)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.cfg.CompactBytes = 1 << 40
		p.mu.Unlock()
	}()
	return p.compact()
}

func openNoCompaction(t *testing.T, dir string) *Pathway {
	t.Helper()
	p, err := Open(dir, testEmbedder{embed.NewHash(), "m"}, Config{CompactBytes: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// changeAll replays every trace of uids and retires every fourth: changes
// that only a record after the snapshot holds, and that count twice if
// replayed twice.
func changeAll(t *testing.T, p *Pathway, uids []string) {
	t.Helper()
	for i, uid := range uids {
		if _, _, err := p.Add(context.Background(), json.RawMessage(`{}`), "", nil, uid); err != nil {
			t.Fatal(err)
		}
		if i%4 == 0 {
			if _, err := p.Retire(context.Background(), uid, fmt.Sprint("r", i)); err != nil && !strings.Contains(err.Error(), "retired") {
				t.Fatal(err)
			}
		}
	}
}

// A compaction that stops after its snapshot, before its new log is in
// place: a crash then leaves a snapshot holding the whole log, whose
// records replay must not apply again; without a crash, writes go on in
// the old log, past what the snapshot holds, and reopens apply only them.
func TestSnapshot_NewLogNotStarted(t *testing.T) {
	dir, crashed := t.TempDir(), t.TempDir()
	var failing atomic.Bool
	t.Cleanup(disk.Intercept(dir, &disk.Hooks{Sync: func(path string) error {
		if !strings.HasPrefix(filepath.Base(path), logName+".compact-") || !failing.Load() {
			return nil
		}
		if err := os.CopyFS(crashed, os.DirFS(dir)); err != nil {
			t.Error(err)
		}
		failing.Store(false)
		return syscall.EIO
	}}))
	p := openNoCompaction(t, dir)
	uids := addN(t, p, 40)
	changeAll(t, p, uids)
	if err := compactNow(p); err != nil {
		t.Fatal(err)
	}
	changeAll(t, p, uids) // in the log of generation 1
	failing.Store(true)
	if err := compactNow(p); err == nil || !strings.Contains(err.Error(), "start a new pathway log") {
		t.Fatalf("compaction = %v, want its new log to fail", err)
	}
	want := dump(t, p)
	if got := dump(t, openNoCompaction(t, crashed)); got != want {
		t.Fatalf("after a crash between the snapshot and the new log:\n got %s\nwant %s", got, want)
	}
	changeAll(t, p, uids) // in the old log, after what the snapshot holds
	want = dump(t, p)
	p.Close()
	for range 2 {
		p = openNoCompaction(t, dir)
		if got := dump(t, p); got != want {
			t.Fatalf("reopened:\n got %s\nwant %s", got, want)
		}
		p.Close()
	}
}

// A log older than the one the snapshot holds (a restore, say) is left
// out, and a new log started.
func TestSnapshot_OlderLog(t *testing.T) {
	dir := t.TempDir()
	p := openNoCompaction(t, dir)
	uids := addN(t, p, 30)
	old, err := os.ReadFile(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		changeAll(t, p, uids)
		if err := compactNow(p); err != nil {
			t.Fatal(err)
		}
	}
	if p.cover.Gen != 1 {
		t.Fatalf("after two compactions, the snapshot holds generation %d, want 1", p.cover.Gen)
	}
	want := dump(t, p)
	p.Close()
	if err := os.WriteFile(filepath.Join(dir, logName), old, 0o600); err != nil {
		t.Fatal(err)
	}
	p = openNoCompaction(t, dir)
	if got := dump(t, p); got != want {
		t.Fatalf("with an older log:\n got %s\nwant %s", got, want)
	}
	h, err := readLogHead(p.disk)
	if err != nil || h.gen != p.cover.Gen+1 {
		t.Errorf("the log after the open: %+v, %v; want generation %d", h, err, p.cover.Gen+1)
	}
}

// A compaction while a failed write waits to be undone leaves it out of
// the snapshot: the committer says a flush failed since the last reload.
func TestSnapshot_NotOverAFailedWrite(t *testing.T) {
	dir := t.TempDir()
	arm := failNextSync(t, dir)
	p := openNoCompaction(t, dir)
	addN(t, p, 3)
	settled := p.commits.failures()
	arm(func() {})
	if _, _, err := p.Add(context.Background(), json.RawMessage(`{}`), "lost", nil, ""); err == nil {
		t.Fatal("the add under a failed fsync succeeded")
	}
	addN(t, p, 1)
	if err := p.commits.flushAll(settled); err == nil {
		t.Error("flushAll passed over a failed flush")
	}
	if err := p.commits.flushAll(p.settled); err != nil {
		t.Errorf("flushAll after the reload: %v", err)
	}
}

// A snapshot that holds a uid twice (it never writes one; a hand might)
// keeps the later trace, in the earlier one's place, as a log would.
func TestSnapshot_UIDTwice(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := func(uid, text string, tags ...string) *Trace {
		return &Trace{UID: uid, Content: json.RawMessage(`{}`), Text: text, Tags: tags, CreatedAt: at, UpdatedAt: at}
	}
	var buf bytes.Buffer
	if err := writeSnapshot(&buf, cover{}, []*Trace{tr("a", "first", "x"), tr("b", "b"), tr("a", "second", "y")}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, snapName), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	p := openNoCompaction(t, dir)
	got, err := p.Get(context.Background(), "a")
	if err != nil || got.Text != "second" || len(p.order) != 2 || p.order[0].UID != "a" {
		t.Fatalf("a = %+v, %v; order %d", got, err, len(p.order))
	}
	st, _ := p.Stats(context.Background())
	if st.Total != 2 || len(st.TopTags) != 1 || st.TopTags[0].Tag != "y" {
		t.Errorf("stats %+v, want 2 traces and tag y only", st)
	}
}

// A failed write that takes records added after the flush began fails
// them too, even when a later record is flushed first: none is
// acknowledged unless it is on disk.
func TestCommitter_LostBeyondTarget(t *testing.T) {
	dir := t.TempDir()
	var fail atomic.Bool
	t.Cleanup(disk.Intercept(dir, &disk.Hooks{Sync: func(path string) error {
		if filepath.Base(path) == "x.log" && fail.Swap(false) {
			return syscall.EIO
		}
		return nil
	}}))
	path := filepath.Join(dir, "x.log")
	l, _, err := eventlog.Open(path, func([]byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	c := newCommitter(l)
	add := func(n int) uint64 {
		seq, err := l.Add(map[string]int{"n": n})
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	s1 := add(1)
	c.note(s1)
	s2 := add(2) // added after the flush below reads its target
	fail.Store(true)
	c.flush() // target s1; the failed write carried s1 and s2
	c.note(s2)
	s3 := add(3)
	c.note(s3)
	errs := []error{c.wait(s1), c.wait(s2), c.wait(s3)}
	c.stop()
	l.Close()
	b, _ := os.ReadFile(path)
	for i, err := range errs {
		on := bytes.Contains(b, fmt.Appendf(nil, `"n":%d`, i+1))
		if (err == nil) != on {
			t.Errorf("record %d: wait = %v, on disk %v", i+1, err, on)
		}
	}
	if failures := c.failures(); failures < s2 {
		t.Errorf("failures = %d, want at least %d", failures, s2)
	}
}

// When the state cannot be rebuilt after a failed write (the snapshot
// became unreadable meanwhile), the memory refuses reads and writes with
// that error rather than serve, or write on top of, what it half holds.
func TestSnapshot_ReloadFails(t *testing.T) {
	dir := t.TempDir()
	arm := failNextSync(t, dir)
	p := openNoCompaction(t, dir)
	uids := addN(t, p, 5)
	if err := compactNow(p); err != nil {
		t.Fatal(err)
	}
	p.Close()
	p = openNoCompaction(t, dir) // its log file opened by the name the fault aims at
	if err := os.WriteFile(filepath.Join(dir, snapName), []byte("not a snapshot"), 0o600); err != nil {
		t.Fatal(err)
	}
	arm(func() {})
	if _, _, err := p.Add(context.Background(), json.RawMessage(`{}`), "lost", nil, ""); err == nil {
		t.Fatal("the add under a failed fsync succeeded")
	}
	ctx := context.Background()
	if _, err := p.Get(ctx, uids[0]); err == nil || !strings.Contains(err.Error(), "restart mcpd") {
		t.Errorf("Get after a failed rebuild = %v, want the rebuild's error", err)
	}
	if _, _, err := p.Add(ctx, json.RawMessage(`{}`), "", nil, uids[0]); err == nil || !strings.Contains(err.Error(), "restart mcpd") {
		t.Errorf("Add after a failed rebuild = %v, want the rebuild's error", err)
	}
	if _, err := p.Stats(ctx); err == nil {
		t.Error("Stats after a failed rebuild succeeded")
	}
}
