package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse/backends/errs"
)

// plantLinks makes a store whose data folder holds links planted by someone
// with access to the data directory: "etc-passwd" to a file outside,
// "out/" to a folder outside holding victim.txt, and "alias" to an object
// inside. It returns the store and the outside folder.
func plantLinks(t *testing.T) (*FS, string) {
	t.Helper()
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"passwd": "root:x:0:0", "victim.txt": "keep me"} {
		if err := os.WriteFile(filepath.Join(outside, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err := OpenFS(filepath.Join(base, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mustPut(t, st, "real.txt", "real")
	for link, target := range map[string]string{
		"etc-passwd": filepath.Join(outside, "passwd"),
		"out":        outside,
		"alias":      st.Path("real.txt"),
	} {
		if err := os.Symlink(target, st.Path(link)); err != nil {
			t.Fatal(err)
		}
	}
	return st, outside
}

// wantLinkRefused fails unless err is the store's refusal of a link: a
// Conflict that says a symbolic link is not followed and names it.
func wantLinkRefused(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("%s: %v, want a Conflict saying the symbolic link is not followed", what, err)
	}
}

func TestFS_Links(t *testing.T) {
	st, outside := plantLinks(t)
	ctx := context.Background()

	for _, key := range []string{"etc-passwd", "out/passwd", "out/victim.txt", "alias"} {
		_, _, err := st.Get(ctx, key)
		wantLinkRefused(t, err, "Get "+key)
		_, err = st.Stat(ctx, key)
		wantLinkRefused(t, err, "Stat "+key)
	}
	_, _, err := st.List(ctx, "out/", "", 0)
	wantLinkRefused(t, err, "List out/")
	err = st.Delete(ctx, "out/victim.txt")
	wantLinkRefused(t, err, "Delete out/victim.txt")
	err = st.Delete(ctx, "etc-passwd")
	wantLinkRefused(t, err, "Delete etc-passwd")
	_, err = st.Put(ctx, "out/new.txt", strings.NewReader("planted"), "", 0)
	wantLinkRefused(t, err, "Put out/new.txt")
	_, err = st.Put(ctx, "out/victim.txt", strings.NewReader("overwritten"), "", 0)
	wantLinkRefused(t, err, "Put out/victim.txt")
	err = st.DeletePrefix(ctx, "out/")
	if err != nil {
		t.Errorf("DeletePrefix out/: %v", err)
	}

	// A listing of everything leaves the links out and shows the object.
	items, _, err := st.List(ctx, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if keys := keysOf(items); len(keys) != 1 || keys[0] != "real.txt" {
		t.Errorf("List = %v, want only real.txt", keys)
	}

	// Nothing outside was read, changed or removed.
	entries, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("outside holds %d entries, want 2", len(entries))
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "victim.txt")); string(b) != "keep me" {
		t.Errorf("victim.txt = %q", b)
	}
	// Put over a link to a file replaces the link, not its target.
	mustPut(t, st, "etc-passwd", "mine")
	if got, _ := mustGet(t, st, "etc-passwd"); got != "mine" {
		t.Errorf("Get etc-passwd after Put = %q", got)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "passwd")); string(b) != "root:x:0:0" {
		t.Errorf("the link's target changed: %q", b)
	}
}

// TestFS_LinkedSidecar plants a sidecar link: the store must neither read
// nor write through it.
func TestFS_LinkedSidecar(t *testing.T) {
	st, outside := plantLinks(t)
	ctx := context.Background()
	mustPut(t, st, "doc.txt", "doc")
	side := st.dir.Path(metaName("doc.txt"))
	if err := os.Remove(side); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "victim.txt"), side); err != nil {
		t.Fatal(err)
	}
	if got, info := mustGet(t, st, "doc.txt"); got != "doc" || info.ETag != sha("doc") {
		t.Errorf("Get doc.txt = %q, %+v", got, info)
	}
	if _, err := st.Put(ctx, "doc.txt", strings.NewReader("doc2"), "", 0); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "victim.txt")); string(b) != "keep me" {
		t.Errorf("victim.txt = %q after writes through a sidecar link", b)
	}
}
