package disk_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"lakehouse/internal/disk"
	"lakehouse/internal/disk/disktest"
)

// plant makes a folder with a secret outside the Dir and links to it inside.
func plant(t *testing.T) (d *disk.Dir, outside string) {
	t.Helper()
	base := t.TempDir()
	outside = filepath.Join(base, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := disk.Open(filepath.Join(base, "root"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	must(t, os.WriteFile(d.Path("inside"), []byte("inside"), 0o644))
	must(t, os.Symlink(filepath.Join(outside, "secret"), d.Path("file-out")))
	must(t, os.Symlink(outside, d.Path("dir-out")))
	must(t, os.Symlink("inside", d.Path("file-in")))
	must(t, os.Symlink(".", d.Path("dir-in")))
	return d, outside
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestDir_RefusesLinks(t *testing.T) {
	d, outside := plant(t)
	names := []string{"file-out", "dir-out/secret", "file-in", "dir-in/inside"}
	for _, name := range names {
		if _, err := d.Open(name); !errors.Is(err, disk.ErrLink) {
			t.Errorf("Open(%q) = %v, want ErrLink", name, err)
		}
		if _, err := d.ReadFile(name); !errors.Is(err, disk.ErrLink) {
			t.Errorf("ReadFile(%q) = %v, want ErrLink", name, err)
		}
	}
	if _, err := d.ReadDir("dir-out"); !errors.Is(err, disk.ErrLink) {
		t.Errorf("ReadDir(dir-out) = %v, want ErrLink", err)
	}
	if _, err := d.OpenFile("dir-out/new", os.O_WRONLY|os.O_CREATE, 0o644); !errors.Is(err, disk.ErrLink) {
		t.Errorf("create through dir-out = %v, want ErrLink", err)
	}
	if err := d.Remove("dir-out/secret"); !errors.Is(err, disk.ErrLink) {
		t.Errorf("Remove(dir-out/secret) = %v, want ErrLink", err)
	}
	if err := d.Rename("inside", "dir-out/moved"); !errors.Is(err, disk.ErrLink) {
		t.Errorf("Rename into dir-out = %v, want ErrLink", err)
	}
	if err := d.MkdirAll("dir-out/sub"); !errors.Is(err, disk.ErrLink) {
		t.Errorf("MkdirAll(dir-out/sub) = %v, want ErrLink", err)
	}
	if err := d.WriteAtomic("dir-out/secret", "", func(w io.Writer) error { _, err := w.Write([]byte("x")); return err }); !errors.Is(err, disk.ErrLink) {
		t.Errorf("WriteAtomic through dir-out = %v, want ErrLink", err)
	}
	if _, err := d.Open("../outside/secret"); err == nil {
		t.Errorf("Open(../outside/secret) succeeded")
	}
	// RemoveAll of a link removes the link, not what it points to.
	must(t, d.RemoveAll("dir-out/"))
	// Nothing outside changed, and a link itself can be removed.
	if b, err := os.ReadFile(filepath.Join(outside, "secret")); err != nil || string(b) != "secret" {
		t.Errorf("outside secret = %q, %v", b, err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Errorf("outside holds %d entries, want 1", len(entries))
	}
	must(t, d.Remove("file-out"))
	if _, err := os.Stat(filepath.Join(outside, "secret")); err != nil {
		t.Errorf("removing the link removed its target: %v", err)
	}
}

func TestDir_WriteAtomic(t *testing.T) {
	root := t.TempDir()
	pc := disktest.NewPowerCut(t, root)
	d, err := disk.Open(root)
	must(t, err)
	defer d.Close()
	must(t, d.MkdirAll("a/b"))
	write := func(s string) func(io.Writer) error {
		return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
	}
	must(t, d.WriteAtomic("a/b/f", "", write("one")))
	must(t, d.WriteAtomic("a/b/f", "", write("two")))
	if b, err := d.ReadFile("a/b/f"); err != nil || string(b) != "two" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	// What WriteAtomic returned for is durable, folders included.
	if b, err := os.ReadFile(filepath.Join(pc.Cut(t), "a", "b", "f")); err != nil || string(b) != "two" {
		t.Fatalf("after a power cut: %q, %v", b, err)
	}
	// A failed write leaves the old file and no temp file.
	boom := errors.New("boom")
	if err := d.WriteAtomic("a/b/f", "", func(io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("WriteAtomic = %v, want boom", err)
	}
	entries, err := d.ReadDir("a/b")
	must(t, err)
	if len(entries) != 1 || entries[0].Name() != "f" {
		t.Fatalf("a/b holds %v, want only f", entries)
	}
}

// TestConfine: beneath a confined folder, Open refuses a link on the way
// from it, while the confined folder itself may be one.
func TestConfine(t *testing.T) {
	base := t.TempDir()
	real, outside := filepath.Join(base, "real"), filepath.Join(base, "outside")
	must(t, os.MkdirAll(real, 0o755))
	must(t, os.MkdirAll(outside, 0o755))
	root := filepath.Join(base, "data") // the data directory, a link of the user's
	must(t, os.Symlink(real, root))
	must(t, disk.Confine(root))
	must(t, os.Symlink(outside, filepath.Join(real, "engine")))

	for _, p := range []string{"engine", "engine/sub"} {
		if _, err := disk.Open(filepath.Join(root, p)); !errors.Is(err, disk.ErrLink) {
			t.Errorf("Open(%s) = %v, want ErrLink", p, err)
		}
	}
	if _, err := disk.Fresh(filepath.Join(root, "engine", "tmp")); !errors.Is(err, disk.ErrLink) {
		t.Errorf("Fresh beneath a link = %v, want ErrLink", err)
	}
	d, err := disk.Open(filepath.Join(root, "other", "deep"))
	must(t, err)
	d.Close()
	if fi, err := os.Lstat(filepath.Join(real, "other", "deep")); err != nil || !fi.IsDir() {
		t.Errorf("Open did not make the folder inside the data directory: %v", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("something was made outside: %v", entries)
	}
}
