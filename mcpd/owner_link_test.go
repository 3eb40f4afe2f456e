package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"lakehouse/internal/disk"
)

// TestTryLock_RefusesLink: a lock file planted as a link to a file elsewhere
// is refused, and the file it points to is not truncated.
func TestTryLock_RefusesLink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o755)
	lock := filepath.Join(data, "mcpd.lock")
	if err := os.Symlink(victim, lock); err != nil {
		t.Fatal(err)
	}
	if f, err := tryLock(lock); !errors.Is(err, disk.ErrLink) {
		if f != nil {
			f.Close()
		}
		t.Errorf("tryLock through a link = %v, want ErrLink", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("the link's target became %q", b)
	}
}
