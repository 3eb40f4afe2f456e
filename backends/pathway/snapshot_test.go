package pathway_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"lakehouse/backends/errs"
	"lakehouse/backends/pathway"
	"lakehouse/internal/disk"
	"lakehouse/internal/disk/disktest"
)

// compacting is a config whose log is compacted into a snapshot every few
// KiB.
var compacting = pathway.Config{CompactBytes: 4 << 10}

// reopened closes p and opens dir again.
func reopened(t *testing.T, p *pathway.Pathway, dir string, cfg pathway.Config) *pathway.Pathway {
	t.Helper()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	return mustOpen(t, dir, cfg)
}

// After compactions, the log starts with its generation and holds only
// what changed since the snapshot; two reopens in a row show the state
// as it was (a replay counted twice, say, would show).
func TestSnapshot_Reopen(t *testing.T) {
	dir := t.TempDir()
	p := mustOpen(t, dir, compacting)
	// The first line of a log from before snapshots is long.
	long := mustAdd(t, p, `{"long":"`+strings.Repeat("x", 6<<10)+`"}`, "a long first line")
	all := append(workload(t, p, 200), long.UID)
	before := snapshot(t, p, all)
	for range 2 {
		p = reopened(t, p, dir, compacting)
		if after := snapshot(t, p, all); after != before {
			t.Fatalf("the state changed across a reopen:\nbefore %s\nafter  %s", before, after)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "pathway.log"))
	if err != nil {
		t.Fatal(err)
	}
	var first struct {
		Op  string `json:"op"`
		Gen int    `json:"gen"`
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if err := json.Unmarshal([]byte(line), &first); err != nil || first.Op != "base" || first.Gen < 2 {
		t.Errorf("the compacted log starts %.60q, want its generation (2 or more)", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "pathway.snap")); err != nil {
		t.Errorf("no snapshot: %v", err)
	}
}

// A compaction that stops after its snapshot, before the new log is in
// place, leaves a log whose records the snapshot holds: an open then
// shows the state the log alone gives, and the writes after it, made on
// the old log, are kept.
func TestSnapshot_StoppedBeforeNewLog(t *testing.T) {
	dir, crashed, legacy := t.TempDir(), t.TempDir(), t.TempDir()
	var failing atomic.Bool
	failing.Store(true)
	var copied atomic.Bool
	t.Cleanup(disk.Intercept(dir, &disk.Hooks{Sync: func(path string) error {
		if !strings.HasPrefix(filepath.Base(path), "pathway.log.compact-") || !failing.Load() {
			return nil
		}
		// The snapshot is durable and the old log whole: a crash now
		// leaves this.
		if copied.CompareAndSwap(false, true) {
			copyFile(t, dir, crashed, "pathway.snap")
			copyFile(t, dir, crashed, "pathway.log")
			copyFile(t, dir, legacy, "pathway.log")
		}
		return syscall.EIO
	}}))
	p := mustOpen(t, dir, compacting)
	all := workload(t, p, 100)
	if !copied.Load() {
		t.Fatal("no compaction ran")
	}
	// The crash: the snapshot and the whole old log give the state of the
	// old log alone.
	fromLog := mustOpen(t, legacy, pathway.Config{})
	fromBoth := mustOpen(t, crashed, pathway.Config{})
	if a, b := snapshot(t, fromLog, present(t, fromLog, all)), snapshot(t, fromBoth, present(t, fromLog, all)); a != b {
		t.Fatalf("snapshot and stale log:\n%s\nthe log alone:\n%s", b, a)
	}
	// No crash: every compaction failed to start its new log, and the
	// writes went on in the old one.
	before := snapshot(t, p, all)
	p = reopened(t, p, dir, compacting)
	if after := snapshot(t, p, all); after != before {
		t.Fatalf("after compactions that did not start a new log:\nbefore %s\nafter  %s", before, after)
	}
	// Once the new log can be started, compaction goes on from there.
	failing.Store(false)
	more := workload(t, p, 60)
	before = snapshot(t, p, append(all, more...))
	p = reopened(t, p, dir, compacting)
	if after := snapshot(t, p, append(all, more...)); after != before {
		t.Fatalf("after a compaction that started a new log:\nbefore %s\nafter  %s", before, after)
	}
}

// present returns the uids of all that p holds.
func present(t *testing.T, p *pathway.Pathway, all []string) []string {
	var in []string
	for _, uid := range all {
		if _, err := p.Get(ctx, uid); err == nil {
			in = append(in, uid)
		}
	}
	if len(in) == 0 {
		t.Fatal("no traces")
	}
	return in
}

func copyFile(t *testing.T, from, to, name string) {
	b, err := os.ReadFile(filepath.Join(from, name))
	if err == nil {
		err = os.WriteFile(filepath.Join(to, name), b, 0o600)
	}
	if err != nil {
		t.Error(err)
	}
}

// A damaged block of the snapshot loses its own traces, with a warning,
// and no others; a damaged header, or a missing snapshot the log follows,
// refuses the open with an error that says what to do.
func TestSnapshot_Damage(t *testing.T) {
	dir := t.TempDir()
	p := mustOpen(t, dir, compacting)
	var all []string
	for i := range 1500 {
		all = append(all, mustAdd(t, p, fmt.Sprintf(`{"i":%d}`, i), fmt.Sprintf("note %d", i)).UID)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(dir, "pathway.snap")
	good, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	write := func(b []byte) {
		t.Helper()
		if err := os.WriteFile(snap, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	bad := append([]byte(nil), good...)
	bad[len(bad)/2] ^= 0x40
	write(bad)
	logs := captureLog(t)
	p = mustOpen(t, dir, pathway.Config{})
	var lost []string
	for _, uid := range all {
		if _, err := p.Get(ctx, uid); errors.Is(err, errs.NotFound) {
			lost = append(lost, uid)
		}
	}
	if len(lost) == 0 || len(lost) > 256 {
		t.Errorf("a damaged block lost %d traces, want 1 to 256", len(lost))
	}
	if !strings.Contains(strings.Join(logs.take(), "\n"), "damaged block of the pathway snapshot") {
		t.Error("no warning of the damaged block")
	}
	p.Close()

	for _, tc := range []struct {
		name   string
		damage func()
		want   string
	}{
		{"header", func() { bad := append([]byte(nil), good...); bad[20] ^= 1; write(bad) }, "header of pathway snapshot"},
		{"not a snapshot", func() { write([]byte("{}\n")) }, "is not a pathway snapshot"},
		{"missing", func() { os.Remove(snap) }, "pathway.snap is missing: restore it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.damage()
			_, err := pathway.Open(dir, newEmbedder(), pathway.Config{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, want an error saying %q", err, tc.want)
			}
		})
	}
	write(good)
	p = mustOpen(t, dir, pathway.Config{})
	if st, _ := p.Stats(ctx); st.Total != len(all) {
		t.Errorf("the snapshot restored: %d traces, want %d", st.Total, len(all))
	}
}

// Every acknowledged write survives a power cut across compactions: the
// snapshot, its folder and the new log are all fsynced before the old
// log is gone.
func TestSnapshot_PowerCut(t *testing.T) {
	root := t.TempDir()
	pc := disktest.NewPowerCut(t, root)
	p := mustOpen(t, root, compacting)
	all := workload(t, p, 150)
	before := snapshot(t, p, all)
	after := mustOpen(t, pc.Cut(t), compacting)
	if got := snapshot(t, after, all); got != before {
		t.Fatalf("after the cut:\n%s\nwant\n%s", got, before)
	}
}
