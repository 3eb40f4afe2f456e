package vector

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"lakehouse/backends/errs"
	"lakehouse/internal/disk"
	"lakehouse/internal/disk/disktest"
)

// snapshotGen returns the generation of the snapshot of index name in the
// vectors folder dir.
func snapshotGen(t *testing.T, dir, name string) uint64 {
	t.Helper()
	h, _, _ := readSnapshotOf(t, dir, name)
	return h.gen
}

// TestDurability_PowerCut writes to an engine, cuts the power while it is
// still running (keeping only what was fsynced), and checks that the
// engine opened on what is left holds every acknowledged upsert with its
// vector, text and metadata, none of the acknowledged deletes, and agrees
// about which indexes were created and dropped: with only the first log,
// after forced snapshots with log records on top, and with logs rotated by
// size while a graph is built.
func TestDurability_PowerCut(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       Config
		snapshots int // forced, each followed by more writes
	}{
		{"log only", Config{}, 0},
		{"snapshots and log", Config{}, 2},
		{"rotated logs", Config{FlatThreshold: 50, SnapshotBytes: 8 << 10}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			root := t.TempDir()
			pc := disktest.NewPowerCut(t, root)
			m := mustOpen(t, root, tc.cfg)
			rng := rand.New(rand.NewPCG(3, 4))
			md := model{}
			mustCreate(t, m, "keep", 6, L2)
			churn(t, m, "keep", md, rng, 40)
			for range tc.snapshots {
				if err := m.Snapshot(ctx, "keep"); err != nil {
					t.Fatal(err)
				}
				churn(t, m, "keep", md, rng, 10)
			}
			mustCreate(t, m, "dropped", 2, L2)
			mustUpsert(t, m, "dropped", []Item{{ID: "d", Vector: []float32{1, 2}}})
			if err := m.Drop(ctx, "dropped"); err != nil {
				t.Fatal(err)
			}
			// Cut here too: creating "late" fsyncs the vectors folder
			// again, which would make up for a drop that did not.
			checkIndexes(t, mustOpen(t, pc.Cut(t), tc.cfg), map[string]model{"keep": md})
			late := model{"x": {ID: "x", Vector: []float32{3, 4}, Text: "late", Metadata: map[string]any{"k": "v"}}}
			mustCreate(t, m, "late", 2, L2)
			mustUpsert(t, m, "late", []Item{late["x"]})

			cut := pc.Cut(t)
			checkIndexes(t, mustOpen(t, cut, tc.cfg), map[string]model{"keep": md, "late": late})
			// The snapshots that Snapshot reported written are durable.
			gen := snapshotGen(t, cut, "keep")
			switch {
			case tc.snapshots > 0 && gen != uint64(1+tc.snapshots):
				t.Fatalf("snapshot after the cut is of generation %d, want %d", gen, 1+tc.snapshots)
			case tc.cfg.SnapshotBytes > 0 && gen < 3:
				t.Fatalf("snapshot after the cut is of generation %d; the logs were not rotated", gen)
			}
		})
	}
}

// checkIndexes checks that m holds exactly the indexes of want, each
// available and holding its model.
func checkIndexes(t *testing.T, m *Manager, want map[string]model) {
	t.Helper()
	if bad := m.Unavailable(); len(bad) > 0 {
		t.Fatalf("unavailable after the power cut: %v", bad)
	}
	var names []string
	for _, in := range m.List() {
		names = append(names, in.Name)
	}
	if wantNames := slices.Sorted(maps.Keys(want)); !slices.Equal(names, wantNames) {
		t.Fatalf("indexes after the power cut: %v, want %v", names, wantNames)
	}
	for name, md := range want {
		checkModel(t, m, name, md)
	}
}

// checkFault checks that err is the disk's fault want, reported as a
// fault of the server and not as a mistake of the caller.
func checkFault(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatalf("%s succeeded while the disk fails with %v", what, want)
	case !errors.Is(err, want):
		t.Fatalf("%s: %v; want an error wrapping %v", what, err, want)
	case errs.KindOf(err) != nil:
		t.Fatalf("%s: %v is reported as a caller's mistake (%v)", what, err, errs.KindOf(err))
	}
}

// TestDurability_Faults injects ENOSPC into writes and EIO into fsyncs. A
// write fails with the disk's error, and what it applied in memory is
// undone; reads keep returning the acknowledged state; snapshots fail
// without harm; once the fault is gone a write succeeds, and the result
// survives both a power cut and a restart (so the bytes the failed write
// left in the log file were cut off, not kept behind later records).
func TestDurability_Faults(t *testing.T) {
	for _, tc := range disktest.FaultCases {
		t.Run(tc.Name, func(t *testing.T) {
			ctx := context.Background()
			root := t.TempDir()
			pc := disktest.NewPowerCut(t, root)
			m := mustOpen(t, root, Config{})
			mustCreate(t, m, "f", 4, L2)
			md := model{}
			var items []Item
			for i := range 20 {
				it := Item{ID: fmt.Sprintf("a%d", i), Vector: []float32{float32(i), 1, 2, 3}, Text: fmt.Sprint("text ", i), Metadata: map[string]any{"i": float64(i)}}
				items = append(items, it)
				md[it.ID] = it
			}
			mustUpsert(t, m, "f", items)
			if _, err := m.Delete(ctx, "f", []string{"a19"}); err != nil {
				t.Fatal(err)
			}
			delete(md, "a19")

			tc.Inject(pc.Faults())
			if !tc.Once {
				// A snapshot fails before the log does, and harms nothing.
				checkFault(t, "snapshot", m.Snapshot(ctx, "f"), tc.Err)
				checkModel(t, m, "f", md)
				// Writers that meet the fault together, some sharing a
				// group commit and some finding the log broken, all fail.
				var wg sync.WaitGroup
				errc := make(chan error, 4)
				for i := range 4 {
					wg.Go(func() {
						_, err := m.Upsert(ctx, "f", []Item{{ID: fmt.Sprint("c", i), Vector: []float32{1, 1, 1, 1}}, {ID: fmt.Sprint("a", 2+i), Vector: []float32{7, 7, 7, 7}}})
						errc <- err
					})
				}
				wg.Wait()
				close(errc)
				for err := range errc {
					checkFault(t, "concurrent upsert", err, tc.Err)
				}
				checkModel(t, m, "f", md)
			}
			// A new item and a replacement of an acknowledged one, in one call.
			_, err := m.Upsert(ctx, "f", []Item{{ID: "new", Vector: []float32{9, 9, 9, 9}}, {ID: "a0", Vector: []float32{8, 8, 8, 8}}})
			checkFault(t, "upsert", err, tc.Err)
			checkModel(t, m, "f", md)
			if !tc.Once {
				_, err = m.Delete(ctx, "f", []string{"a1"})
				checkFault(t, "delete", err, tc.Err)
				checkFault(t, "snapshot of a broken log", m.Snapshot(ctx, "f"), tc.Err)
				checkModel(t, m, "f", md)
				pc.Faults().Clear()
			}

			back := Item{ID: "back", Vector: []float32{5, 5, 5, 5}, Text: "after the fault"}
			mustUpsert(t, m, "f", []Item{back})
			md["back"] = back
			if n, err := m.Delete(ctx, "f", []string{"a1"}); err != nil || n != 1 {
				t.Fatalf("delete after the fault = %d, %v", n, err)
			}
			delete(md, "a1")
			checkModel(t, m, "f", md)

			checkModel(t, mustOpen(t, pc.Cut(t), Config{}), "f", md)
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			checkModel(t, mustOpen(t, root, Config{}), "f", md)
		})
	}
}

// TestDurability_ReadBackFails: when a write fails and the index cannot be
// read back from disk either (its snapshot is a planted link), reads
// refuse with an error rather than show the failed write, until a later
// write brings the index back.
func TestDurability_ReadBackFails(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	pc := disktest.NewPowerCut(t, root)
	m := mustOpen(t, root, Config{})
	mustCreate(t, m, "f", 2, L2)
	md := model{"a": {ID: "a", Vector: []float32{1, 2}, Text: "a"}}
	mustUpsert(t, m, "f", []Item{md["a"]})
	snap := filepath.Join(root, "f", snapshotName)
	saved, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "snapshot")
	if err := os.WriteFile(elsewhere, saved, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(snap); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, snap); err != nil {
		t.Fatal(err)
	}

	pc.Faults().FailSyncs(syscall.EIO, -1)
	_, err = m.Upsert(ctx, "f", []Item{{ID: "failed", Vector: []float32{3, 4}}})
	checkFault(t, "upsert", err, syscall.EIO)
	if _, err := m.Get("f", []string{"a", "failed"}); !errors.Is(err, disk.ErrLink) {
		t.Fatalf("Get after a failed write that cannot be read back = %v; want an error wrapping ErrLink", err)
	}
	if _, err := m.Search(ctx, "f", []float32{3, 4}, SearchOptions{}); !errors.Is(err, disk.ErrLink) {
		t.Fatalf("Search = %v; want an error wrapping ErrLink", err)
	}
	pc.Faults().Clear()
	if _, err := m.Upsert(ctx, "f", []Item{{ID: "b", Vector: []float32{0, 1}}}); !errors.Is(err, disk.ErrLink) {
		t.Fatalf("upsert while the snapshot is a link = %v; want an error wrapping ErrLink", err)
	}

	if err := os.Remove(snap); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(snap, saved, 0o644); err != nil {
		t.Fatal(err)
	}
	md["b"] = Item{ID: "b", Vector: []float32{0, 1}}
	mustUpsert(t, m, "f", []Item{md["b"]})
	checkModel(t, m, "f", md)
}

// tree returns every entry beneath dir: folders as "dir", links as their
// target, files as their content.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		switch {
		case de.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			out[rel] = "-> " + target
			return err
		case de.IsDir():
			out[rel] = "dir"
		default:
			b, err := os.ReadFile(path)
			out[rel] = string(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// outsideIndex writes a whole index, "victim", into a vectors folder
// outside the one under test, so that following a link to it would work;
// it returns that folder.
func outsideIndex(t *testing.T) string {
	t.Helper()
	outside := t.TempDir()
	m := mustOpen(t, outside, Config{})
	mustCreate(t, m, "victim", 2, L2)
	mustUpsert(t, m, "victim", []Item{{ID: "secret", Vector: []float32{1, 1}, Text: "secret"}})
	if err := m.Snapshot(context.Background(), "victim"); err != nil {
		t.Fatal(err)
	}
	mustUpsert(t, m, "victim", []Item{{ID: "secret2", Vector: []float32{2, 2}, Text: "secret"}})
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	return outside
}

// replaceWithLink replaces the file path with a link to target.
func replaceWithLink(t *testing.T, path, target string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// TestLinks_Refused plants links in the vectors folder, each to a whole
// index outside it: an index folder, a snapshot file and a log file that
// are links, and leftovers of a create and a drop that are links. Each
// index is unavailable with a reason naming the link, never loaded through
// it; the leftovers are removed as links; dropping the indexes removes the
// links alone; nothing outside is changed.
func TestLinks_Refused(t *testing.T) {
	ctx := context.Background()
	outside := outsideIndex(t)
	victim := filepath.Join(outside, "victim")
	before := tree(t, outside)

	dir := t.TempDir()
	m := mustOpen(t, dir, Config{})
	for _, name := range []string{"snap", "log", "good"} {
		mustCreate(t, m, name, 2, L2)
		mustUpsert(t, m, name, []Item{{ID: "mine", Vector: []float32{0, 1}}})
	}
	if err := m.Snapshot(ctx, "snap"); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "folder")); err != nil {
		t.Fatal(err)
	}
	replaceWithLink(t, filepath.Join(dir, "snap", snapshotName), filepath.Join(victim, snapshotName))
	replaceWithLink(t, filepath.Join(dir, "log", walName(1)), filepath.Join(victim, walName(2)))
	for _, leftover := range []string{".tmp-x-1", ".drop-y-2"} {
		if err := os.Symlink(victim, filepath.Join(dir, leftover)); err != nil {
			t.Fatal(err)
		}
	}

	m = mustOpen(t, dir, Config{})
	bad := m.Unavailable()
	for name, link := range map[string]string{
		"folder": filepath.Join(dir, "folder"),
		"snap":   filepath.Join(dir, "snap", snapshotName),
		"log":    filepath.Join(dir, "log", walName(1)),
	} {
		why, ok := bad[name]
		if !ok || !strings.Contains(why, link) || !strings.Contains(why, "symbolic link") {
			t.Errorf("Unavailable()[%q] = %q; want the reason to name the link %s", name, why, link)
		}
		_, err := m.Search(ctx, name, []float32{1, 1}, SearchOptions{})
		if err == nil || !strings.Contains(err.Error(), "unavailable") || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("Search(%q) = %v; want it unavailable because of a link", name, err)
		}
	}
	if list := m.List(); len(list) != 1 || list[0].Name != "good" || list[0].Count != 1 {
		t.Fatalf("List() = %+v; want only good", list)
	}
	for _, leftover := range []string{".tmp-x-1", ".drop-y-2"} {
		if _, err := os.Lstat(filepath.Join(dir, leftover)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("leftover link %s kept: %v", leftover, err)
		}
	}
	for _, name := range []string{"folder", "snap", "log"} {
		if err := m.Drop(ctx, name); err != nil {
			t.Fatalf("Drop(%q): %v", name, err)
		}
	}
	mustCreate(t, m, "folder", 2, L2)
	if info, err := m.Info("folder"); err != nil || info.Count != 0 {
		t.Fatalf("folder created again: %+v, %v", info, err)
	}
	if after := tree(t, outside); !maps.Equal(after, before) {
		t.Fatalf("outside changed:\nbefore %v\nafter  %v", before, after)
	}
}

// TestLinks_SwappedWhileOpen: an index folder swapped for a link to a
// folder outside while the engine runs is not written through, and
// dropping the index removes the link alone.
func TestLinks_SwappedWhileOpen(t *testing.T) {
	ctx := context.Background()
	outside := outsideIndex(t)
	before := tree(t, outside)
	dir := t.TempDir()
	m := mustOpen(t, dir, Config{})
	mustCreate(t, m, "ix", 2, L2)
	mustUpsert(t, m, "ix", []Item{{ID: "mine", Vector: []float32{0, 1}}})
	if err := os.Rename(filepath.Join(dir, "ix"), filepath.Join(t.TempDir(), "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "victim"), filepath.Join(dir, "ix")); err != nil {
		t.Fatal(err)
	}
	mustUpsert(t, m, "ix", []Item{{ID: "more", Vector: []float32{1, 0}}})
	if err := m.Snapshot(ctx, "ix"); err != nil {
		t.Fatal(err)
	}
	if err := m.Drop(ctx, "ix"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "ix")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the link is still there after Drop: %v", err)
	}
	if after := tree(t, outside); !maps.Equal(after, before) {
		t.Fatalf("outside changed:\nbefore %v\nafter  %v", before, after)
	}
}
