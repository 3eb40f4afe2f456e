package disktest_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"lakehouse/internal/disk"
	"lakehouse/internal/disk/disktest"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, d *disk.Dir, name, s string, sync bool) {
	t.Helper()
	f, err := d.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	must(t, err)
	_, err = f.Write([]byte(s))
	must(t, err)
	if sync {
		must(t, f.Sync())
	}
	must(t, f.Close())
}

// TestPowerCut checks the strict model: content survives only as of its
// file's last fsync, an entry only as of its folder's last fsync.
func TestPowerCut(t *testing.T) {
	root := t.TempDir()
	must(t, os.WriteFile(filepath.Join(root, "old"), []byte("old"), 0o644))
	pc := disktest.NewPowerCut(t, root)
	d, err := disk.Open(root)
	must(t, err)
	defer d.Close()

	write(t, d, "unsynced", "x", false)        // neither synced
	write(t, d, "data-only", "x", true)        // content synced, entry not
	must(t, d.SyncDir("."))                    // both entries durable now
	write(t, d, "data-only", "changed", false) // change after the sync is lost
	write(t, d, "late", "y", true)             // after the folder's sync: entry lost
	must(t, d.WriteAtomic("old", "", func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }))
	must(t, d.MkdirAll("sub"))
	write(t, d, "sub/f", "z", true) // sub's entry is durable in root only if root is synced again

	got := read(t, pc.Cut(t))
	want := map[string]string{"old": "new", "unsynced": "", "data-only": "x"}
	// "late" and "sub" came after root's last fsync... except WriteAtomic
	// fsynced root again, after "late" and before "sub".
	want["late"] = "y"
	if !equal(got, want) {
		t.Fatalf("after the cut: %v, want %v", got, want)
	}

	must(t, d.SyncDir("."))
	must(t, d.SyncDir("sub"))
	want["sub/f"] = "z"
	want["data-only"] = "x"
	if got := read(t, pc.Cut(t)); !equal(got, want) {
		t.Fatalf("after syncing sub: %v, want %v", got, want)
	}
}

func TestFaults(t *testing.T) {
	root := t.TempDir()
	pc := disktest.NewPowerCut(t, root)
	d, err := disk.Open(root)
	must(t, err)
	defer d.Close()
	f, err := d.OpenFile("f", os.O_WRONLY|os.O_CREATE, 0o644)
	must(t, err)
	defer f.Close()
	pc.Faults().FailWrites(syscall.ENOSPC, 1)
	if _, err := f.Write([]byte("a")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Write = %v, want ENOSPC", err)
	}
	if _, err := f.Write([]byte("b")); err != nil {
		t.Fatalf("second Write = %v", err)
	}
	pc.Faults().FailSyncs(syscall.EIO, -1)
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync = %v, want EIO", err)
	}
	if err := d.SyncDir("."); !errors.Is(err, syscall.EIO) {
		t.Fatalf("SyncDir = %v, want EIO", err)
	}
	pc.Faults().Clear()
	must(t, f.Sync())

	// Aimed at one file, faults pass the others by.
	g, err := d.OpenFile("g", os.O_WRONLY|os.O_CREATE, 0o644)
	must(t, err)
	defer g.Close()
	pc.Faults().Only("g")
	pc.Faults().FailSyncs(syscall.EIO, 1)
	must(t, f.Sync())
	if err := g.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync of the aimed-at file = %v, want EIO", err)
	}
	must(t, g.Sync())
}

// read returns every file beneath dir with its content.
func read(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	must(t, err)
	return out
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
