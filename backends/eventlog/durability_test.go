package eventlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"lakehouse/internal/disk/disktest"
)

// TestLog_PowerCut checks that every record whose Append returned survives
// a power cut that drops what was not fsynced, across a compaction, and
// that records added but never synced may be lost but never tear the log.
func TestLog_PowerCut(t *testing.T) {
	root := t.TempDir()
	pc := disktest.NewPowerCut(t, root)
	path := filepath.Join(root, "logs", "events.jsonl")
	l, _, _ := reopen(t, path)
	var want []string
	for i := range 30 {
		if err := l.Append(rec{N: i}); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprint(rec{N: i}))
	}
	if err := l.Compact(func(emit func(any) error) error { return emit(rec{N: 1000, Text: "state"}) }); err != nil {
		t.Fatal(err)
	}
	want = []string{fmt.Sprint(rec{N: 1000, Text: "state"})}
	if _, got, _ := reopen(t, filepath.Join(pc.Cut(t), "logs", "events.jsonl")); fmt.Sprint(got) != "["+want[0]+"]" {
		t.Errorf("cut right after compacting: %v, want %v", got, want)
	}
	for i := range 5 {
		if err := l.Append(rec{N: 2000 + i}); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprint(rec{N: 2000 + i}))
	}
	if _, err := l.Add(rec{N: 9999}); err != nil { // never synced: may go
		t.Fatal(err)
	}

	_, got, st := reopen(t, filepath.Join(pc.Cut(t), "logs", "events.jsonl"))
	if fmt.Sprint(got) != "["+strings.Join(want, " ")+"]" || st.Skipped != 0 {
		t.Errorf("after the cut: %v (stats %+v), want %v", got, st, want)
	}
}

// TestLog_Faults fails writes and fsyncs: Append fails with the disk's
// error, later Appends succeed once the fault is gone, and the log holds
// exactly the acknowledged records, through a power cut; and so does a
// log closed right after the failed Append.
func TestLog_Faults(t *testing.T) {
	for _, tc := range disktest.FaultCases {
		t.Run(tc.Name+" then closed", func(t *testing.T) {
			root := t.TempDir()
			pc := disktest.NewPowerCut(t, root)
			path := filepath.Join(root, "events.jsonl")
			l, _, _ := reopen(t, path)
			if err := l.Append(rec{N: 0}); err != nil {
				t.Fatal(err)
			}
			tc.Inject(pc.Faults())
			if err := l.Append(rec{N: 100}); !errors.Is(err, tc.Err) {
				t.Fatalf("Append under fault = %v, want %v", err, tc.Err)
			}
			pc.Faults().Clear()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if _, got, _ := reopen(t, path); fmt.Sprint(got) != "[{0 }]" {
				t.Errorf("reopened: %v, want only the acknowledged record", got)
			}
		})
		t.Run(tc.Name, func(t *testing.T) {
			root := t.TempDir()
			pc := disktest.NewPowerCut(t, root)
			path := filepath.Join(root, "events.jsonl")
			l, _, _ := reopen(t, path)
			for i := range 3 {
				if err := l.Append(rec{N: i}); err != nil {
					t.Fatal(err)
				}
			}
			tc.Inject(pc.Faults())
			if err := l.Append(rec{N: 100}); !errors.Is(err, tc.Err) {
				t.Fatalf("Append under fault = %v, want %v", err, tc.Err)
			}
			pc.Faults().Clear()
			if err := l.Append(rec{N: 3}); err != nil {
				t.Fatalf("Append after the fault = %v", err)
			}
			want := "[{0 } {1 } {2 } {3 }]"
			_, got, _ := reopen(t, filepath.Join(pc.Cut(t), "events.jsonl"))
			if fmt.Sprint(got) != want {
				t.Errorf("after the cut: %v, want %v", got, want)
			}
			l.Close()
			if _, got, _ := reopen(t, path); fmt.Sprint(got) != want {
				t.Errorf("reopened: %v, want %v", got, want)
			}
		})
	}
}

// TestLog_DamagePolicy: a bad line in the middle is skipped, bad lines at
// the end are a torn tail and cut off, and the good lines after damage are
// all replayed.
func TestLog_DamagePolicy(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
		skipped             int
		torn                int64
	}{
		{"middle", "{\"n\":1}\nnot json\n{\"n\":2}\n", "[{1 } {2 }]", 1, 0},
		{"tail without newline", "{\"n\":1}\n{\"n\":2", "[{1 }]", 0, 6},
		{"bad lines at the end", "{\"n\":1}\nnot json\n{\"n\":\n", "[{1 }]", 0, 15},
		{"zeros at the end", "{\"n\":1}\n\x00\x00\x00\x00", "[{1 }]", 0, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.jsonl")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, got, st := reopen(t, path)
			if fmt.Sprint(got) != tc.want || st.Skipped != tc.skipped || st.TornBytes != tc.torn {
				t.Errorf("replayed %v, stats %+v; want %s, %d skipped, %d torn", got, st, tc.want, tc.skipped, tc.torn)
			}
			if fi, _ := os.Stat(path); fi.Size() != int64(len(tc.content))-tc.torn {
				t.Errorf("file is %d bytes after repair, want %d", fi.Size(), int64(len(tc.content))-tc.torn)
			}
		})
	}
}

// TestLog_RefusesLinks: a log file that is a planted link is refused, and
// the file it points to is left alone.
func TestLog_RefusesLinks(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("{\"n\":1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(dir, "logs")
	os.Mkdir(logs, 0o755)
	if err := os.Symlink(victim, filepath.Join(logs, "events.jsonl")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(filepath.Join(logs, "events.jsonl"), func([]byte) error { return nil }); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Open of a linked log = %v, want a refusal naming the link", err)
	}
}

// A compaction whose folder fsync fails may leave the old log after a
// power cut; a record appended after it is acknowledged only once the new
// log's name is durable, so the cut keeps it.
func TestLog_CompactFolderFsyncFails(t *testing.T) {
	root := t.TempDir()
	pc := disktest.NewPowerCut(t, root)
	path := filepath.Join(root, "logs", "events.jsonl")
	l, _, _ := reopen(t, path)
	if err := l.Append(rec{N: 1}); err != nil {
		t.Fatal(err)
	}
	pc.Faults().Only("logs")
	pc.Faults().FailSyncs(syscall.EIO, 1)
	if err := l.Compact(func(emit func(any) error) error { return emit(rec{N: 1000}) }); err == nil {
		t.Fatal("compact with a failing folder fsync succeeded")
	}
	pc.Faults().Clear()
	if err := l.Append(rec{N: 2}); err != nil {
		t.Fatal(err)
	}
	if _, got, _ := reopen(t, filepath.Join(pc.Cut(t), "logs", "events.jsonl")); fmt.Sprint(got) != fmt.Sprint([]rec{{N: 1000}, {N: 2}}) {
		t.Errorf("after the cut: %v, want the compacted state and record 2", got)
	}
}
