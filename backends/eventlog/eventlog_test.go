package eventlog

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

type rec struct {
	N    int    `json:"n"`
	Text string `json:"text,omitempty"`
}

// reopen opens path and returns the records it replays.
func reopen(t *testing.T, path string) (*Log, []rec, ReplayStats) {
	t.Helper()
	var got []rec
	l, st, err := Open(path, func(line []byte) error {
		var r rec
		if err := json.Unmarshal(line, &r); err != nil {
			return err
		}
		if r.N < 0 {
			return fmt.Errorf("negative")
		}
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, got, st
}

func TestLog_AppendReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "events.jsonl")
	l, got, _ := reopen(t, path)
	if len(got) != 0 {
		t.Fatalf("new log replays %v", got)
	}
	for i := range 5 {
		if err := l.Append(rec{N: i, Text: strings.Repeat("x", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, got, st := reopen(t, path)
	if len(got) != 5 || got[4].N != 4 || got[4].Text != "xxxx" || st.Records != 5 {
		t.Errorf("replayed %v, stats %+v", got, st)
	}
}

func TestLog_Replay_TornAndMalformedLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	content := `{"n":1}` + "\n" + `{"n":` + "\n" + `{"n":-1}` + "\n\n" + `{"n":2}` + "\n" + `{"n":3,"te`
	os.WriteFile(path, []byte(content), 0o644)
	l, got, st := reopen(t, path)
	if fmt.Sprint(got) != "[{1 } {2 }]" || st.Skipped != 2 || st.TornBytes != int64(len(`{"n":3,"te`)) {
		t.Fatalf("replayed %v, stats %+v", got, st)
	}
	// The torn tail is gone from the file, and appends follow the last good line.
	if err := l.Append(rec{N: 4}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	b, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(b), `{"n":2}`+"\n"+`{"n":4}`+"\n") {
		t.Errorf("file after append:\n%s", b)
	}
}

func TestLog_Replay_OverLongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	long := `{"n":7,"text":"` + strings.Repeat("y", MaxLine) + `"}`
	os.WriteFile(path, []byte(`{"n":1}`+"\n"+long+"\n"+`{"n":2}`+"\n"), 0o644)
	_, got, st := reopen(t, path)
	if fmt.Sprint(got) != "[{1 } {2 }]" || st.Skipped != 1 {
		t.Errorf("replayed %d records, stats %+v", len(got), st)
	}
}

func TestLog_ConcurrentAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	l, _, _ := reopen(t, path)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 50 {
				if err := l.Append(rec{N: w*1000 + i}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	l.Close()
	_, got, _ := reopen(t, path)
	seen := map[int]bool{}
	for _, r := range got {
		seen[r.N] = true
	}
	if len(got) != 800 || len(seen) != 800 {
		t.Errorf("replayed %d records, %d distinct, want 800", len(got), len(seen))
	}
}

func TestLog_Compact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	l, _, _ := reopen(t, path)
	for i := range 100 {
		l.Append(rec{N: i})
	}
	before := l.Size()
	err := l.Compact(func(emit func(any) error) error {
		return emit(rec{N: 99, Text: "state"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if l.Size() >= before || l.Size() != int64(len(`{"n":99,"text":"state"}`)+1) {
		t.Errorf("size %d after compaction (was %d)", l.Size(), before)
	}
	l.Append(rec{N: 100})
	l.Close()
	_, got, _ := reopen(t, path)
	if fmt.Sprint(got) != "[{99 state} {100 }]" {
		t.Errorf("after compaction, replayed %v", got)
	}
	if leftovers, _ := filepath.Glob(path + ".compact-*"); len(leftovers) != 0 {
		t.Errorf("temp files left: %v", leftovers)
	}
}

func TestLog_SyncEvery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	l, _, _ := reopen(t, path)
	l.SyncEvery(5 * 1e6)
	seq, err := l.Add(rec{N: 1})
	if err != nil {
		t.Fatal(err)
	}
	for {
		l.syncMu.Lock()
		d := l.durable
		l.syncMu.Unlock()
		if d >= seq {
			break
		}
	}
	b, _ := os.ReadFile(path)
	if string(b) != `{"n":1}`+"\n" {
		t.Errorf("file = %q", b)
	}
}

// OpenDecoded replays what Open does, across many windows of records read
// ahead (whose buffers it reuses): damage in the middle at a window's
// edges, records that do not decode, blank lines, lines long enough to
// end windows by their bytes, and a torn tail.
func TestLog_OpenDecoded_SameAsOpen(t *testing.T) {
	var b strings.Builder
	for i := range 10000 {
		switch {
		case i == aheadRecords-1 || i == aheadRecords || i == 2*aheadRecords-1:
			b.WriteString("{\"n\":\n") // cut in the middle
		case i%997 == 0:
			b.WriteString("not json\n")
		case i%1500 == 0:
			b.WriteString("\n\n")
		default:
			fmt.Fprintf(&b, "{\"n\":%d}\n", i)
		}
	}
	long := strings.Repeat("x", aheadBytes/3)
	for i := range 20 {
		if i%7 == 3 {
			b.WriteString("{\"long\":\"" + long + "\n") // cut in the middle
			continue
		}
		fmt.Fprintf(&b, "{\"n\":%d,\"long\":%q}\n", 10000+i, long)
	}
	b.WriteString(`{"n":10000,"te`)
	dir := t.TempDir()
	plain, ahead := filepath.Join(dir, "plain.jsonl"), filepath.Join(dir, "ahead.jsonl")
	os.WriteFile(plain, []byte(b.String()), 0o644)
	os.WriteFile(ahead, []byte(b.String()), 0o644)
	var want [][]byte
	l, st, err := Open(plain, func(line []byte) error {
		var v map[string]any
		if err := json.Unmarshal(line, &v); err != nil {
			return err
		}
		want = append(want, append([]byte(nil), line...))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if st.Skipped < 10 || st.TornBytes == 0 || len(want) < 9900 {
		t.Fatalf("the log's damage was not met: %d records, %+v", len(want), st)
	}
	sameDecoded(t, ahead, want, st)
	pb, _ := os.ReadFile(plain)
	ab, _ := os.ReadFile(ahead)
	if string(pb) != string(ab) {
		t.Fatal("the two opens repaired the file differently")
	}
}

// Replay from a byte offset skips the records before it, still cuts a torn
// tail, and Reload from the same offset replays what Open did; an offset
// past the end is refused.
func TestLog_ReplayFrom(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	head := "{\"n\":0}\n{\"n\":1}\n"
	os.WriteFile(path, []byte(head+"{\"n\":2}\n{\"n\":3}\n{\"n\":4,"), 0o644)
	decode := func(line []byte) (rec, error) {
		var r rec
		return r, json.Unmarshal(line, &r)
	}
	var got []int
	l, st, err := OpenDecoded(path, int64(len(head)), decode, func(r rec) error {
		got = append(got, r.N)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[2 3]" || st.Records != 2 || st.TornBytes == 0 {
		t.Errorf("replay from byte %d: records %v, stats %+v; want [2 3] and the torn tail cut", len(head), got, st)
	}
	if err := l.Append(rec{N: 5}); err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	if _, err := l.Reload(int64(len(head)), func(line []byte) error {
		r, err := decode(line)
		got = append(got, r.N)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[2 3 5]" {
		t.Errorf("reload from byte %d: records %v, want [2 3 5]", len(head), got)
	}
	size := l.Size()
	l.Close()
	if _, _, err := OpenDecoded(path, size+1, decode, func(rec) error { return nil }); err == nil || !strings.Contains(err.Error(), "start at byte") {
		t.Errorf("replay from past the end: err = %v, want a refusal", err)
	}
}
