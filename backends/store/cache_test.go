package store_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"lakehouse/backends/errs"
	"lakehouse/backends/store"
	"lakehouse/internal/disk/disktest"
)

// source is a Getter over an FS, counting its Gets, that can be made to
// fail (down) or to lie about what it sends (lie).
type source struct {
	fs   *store.FS
	gets atomic.Int64
	down atomic.Bool
	lie  func(*store.Info)
}

func (s *source) Get(ctx context.Context, key string) (io.ReadCloser, store.Info, error) {
	s.gets.Add(1)
	if s.down.Load() {
		return nil, store.Info{}, errs.New(errs.Unavailable, "get %q: the test bucket is down", key)
	}
	rc, info, err := s.fs.Get(ctx, key)
	if err == nil && s.lie != nil {
		s.lie(&info)
	}
	return rc, info, err
}

// newCache returns a cache of limit bytes in dir over a new FS holding
// objects of the given keys, each with a content of size bytes.
func newCache(t *testing.T, dir string, limit int64, size int, keys ...string) (*store.Cache, *source) {
	t.Helper()
	fs, err := store.OpenFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	for _, k := range keys {
		if _, err := fs.Put(context.Background(), k, strings.NewReader(strings.Repeat(k[len(k)-1:], size)), "", 0); err != nil {
			t.Fatal(err)
		}
	}
	src := &source{fs: fs}
	c, err := store.OpenCache(dir, src, limit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, src
}

// hold holds keys, failing t on error, and checks the copies' content.
func hold(t *testing.T, c *store.Cache, keys ...string) func() {
	t.Helper()
	paths, release, err := c.Hold(context.Background(), keys)
	if err != nil {
		t.Fatalf("Hold(%v): %v", keys, err)
	}
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 || string(b[0]) != keys[i][len(keys[i])-1:] {
			t.Fatalf("copy of %s at %s: %q, %v", keys[i], p, b, err)
		}
	}
	return release
}

// cached returns the keys that have copies in the cache folder dir.
func cached(t *testing.T, dir string) []string {
	t.Helper()
	var keys []string
	filepath.WalkDir(filepath.Join(dir, "files"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(filepath.Join(dir, "files"), p)
			keys = append(keys, filepath.ToSlash(rel))
		}
		return nil
	})
	return keys
}

func TestCache_HitsAndLRU(t *testing.T) {
	dir := t.TempDir()
	c, src := newCache(t, dir, 250, 100, "d/a", "d/b", "d/c")
	hold(t, c, "d/a")()
	hold(t, c, "d/b")()
	hold(t, c, "d/a")() // a hit, and a is now the more recent
	if n := src.gets.Load(); n != 2 {
		t.Errorf("%d fetches for a, b, a: want 2 (the second a is a hit)", n)
	}
	hold(t, c, "d/c")() // 300 bytes > 250: b, the least recently used, goes
	if got := strings.Join(cached(t, dir), ","); got != "d/a,d/c" {
		t.Errorf("cached after a, b, a, c with room for two: %s, want d/a,d/c", got)
	}
	if s := c.Stats(); s.Bytes != 200 || s.Files != 2 || s.Limit != 250 || s.Evictions != 1 || s.Fetches != 3 || s.InUse != 0 {
		t.Errorf("Stats = %+v", s)
	}
}

// TestCache_HeldNeverEvicted: files held by a reader stay even when the
// cache goes over its limit; it shrinks back when they are released.
func TestCache_HeldNeverEvicted(t *testing.T) {
	dir := t.TempDir()
	c, _ := newCache(t, dir, 150, 100, "d/a", "d/b", "d/c")
	releaseA := hold(t, c, "d/a")
	releaseBC := hold(t, c, "d/b", "d/c")
	if s := c.Stats(); s.Files != 3 || s.Bytes != 300 || s.InUse != 3 {
		t.Errorf("three held over a limit for one: %+v, want all three kept", s)
	}
	releaseBC()
	releaseBC() // a second call does nothing
	if got := strings.Join(cached(t, dir), ","); got != "d/a" {
		t.Errorf("after b and c are released: %s, want only the held d/a", got)
	}
	releaseA()
	if s := c.Stats(); s.Files != 1 || s.InUse != 0 {
		t.Errorf("after all are released: %+v", s)
	}
}

// TestCache_SourceDown: held copies are served while the source is down;
// a file not here fails with the source's error, holding nothing, and is
// fetched once the source is back.
func TestCache_SourceDown(t *testing.T) {
	dir := t.TempDir()
	c, src := newCache(t, dir, 1000, 10, "d/a", "d/b")
	hold(t, c, "d/a")()
	src.down.Store(true)
	hold(t, c, "d/a")()
	_, _, err := c.Hold(context.Background(), []string{"d/a", "d/b"})
	if !errors.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "test bucket is down") || !strings.Contains(err.Error(), `"d/b"`) {
		t.Errorf("Hold of an uncached file with the source down: %v, want Unavailable naming the file and the source", err)
	}
	if s := c.Stats(); s.InUse != 0 {
		t.Errorf("a failed Hold left %d files held", s.InUse)
	}
	src.down.Store(false)
	hold(t, c, "d/a", "d/b")()
}

// TestCache_Verified: a copy whose size or sha256 is not the object's is
// not kept, under its name or as a temp file.
func TestCache_Verified(t *testing.T) {
	for name, lie := range map[string]func(*store.Info){
		"etag": func(i *store.Info) { i.ETag = strings.Repeat("0", 64) },
		"size": func(i *store.Info) { i.Size++ },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			c, src := newCache(t, dir, 1000, 10, "d/a")
			src.lie = lie
			if _, _, err := c.Hold(context.Background(), []string{"d/a"}); err == nil || !strings.Contains(err.Error(), "nothing was kept") {
				t.Errorf("Hold of a copy that does not match: %v", err)
			}
			tmp, _ := os.ReadDir(filepath.Join(dir, "tmp"))
			if got := cached(t, dir); len(got) != 0 || len(tmp) != 0 {
				t.Errorf("left behind: %v, temp %v", got, tmp)
			}
		})
	}
}

// TestOpenCache_AfterCrash: a reopened cache removes the temp files of
// downloads cut off, serves the files it has without fetching them, and
// keeps within a lower limit by evicting the oldest.
func TestOpenCache_AfterCrash(t *testing.T) {
	dir := t.TempDir()
	c, src := newCache(t, dir, 1000, 100, "d/a", "d/b")
	hold(t, c, "d/a")()
	hold(t, c, "d/b")()
	c.Close()
	if err := os.WriteFile(filepath.Join(dir, "tmp", "files-d-c-123.tmp"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "files", "d", "a")
	os.Chtimes(old, timeZero, timeZero)
	again, err := store.OpenCache(dir, src, 150)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmp) != 0 {
		t.Errorf("temp files after reopening: %v", tmp)
	}
	if got := strings.Join(cached(t, dir), ","); got != "d/b" {
		t.Errorf("reopened with room for one: %s, want the newer d/b", got)
	}
	gets := src.gets.Load()
	hold(t, again, "d/b")()
	if src.gets.Load() != gets {
		t.Error("a file the reopened cache holds was fetched again")
	}
}

// TestCache_OneFetchAtOnce: readers that want one file at the same time
// share its fetch.
func TestCache_OneFetchAtOnce(t *testing.T) {
	c, src := newCache(t, t.TempDir(), 1000, 10, "d/a")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, release, err := c.Hold(context.Background(), []string{"d/a"})
			if err != nil {
				t.Error(err)
				return
			}
			release()
		})
	}
	wg.Wait()
	if n := src.gets.Load(); n != 1 {
		t.Errorf("8 readers at once made %d fetches, want 1", n)
	}
}

// TestCache_Forget: a deleted object's copy goes at once, or when its
// reader releases it.
func TestCache_Forget(t *testing.T) {
	dir := t.TempDir()
	c, _ := newCache(t, dir, 1000, 10, "d/x/a", "d/x/b", "d/y")
	hold(t, c, "d/x/a")()
	release := hold(t, c, "d/x/b", "d/y")
	c.Forget("d/x/")
	if got := strings.Join(cached(t, dir), ","); got != "d/x/b,d/y" {
		t.Errorf("after Forget(d/x/) with d/x/b held: %s", got)
	}
	release()
	if got := strings.Join(cached(t, dir), ","); got != "d/y" {
		t.Errorf("after the release: %s, want d/y", got)
	}
}

// timeZero is a modification time older than any fetch.
var timeZero = time.Unix(1, 0)

// TestCache_PowerCut: what a power cut leaves of the cache right after a
// fetch is the whole copy (fsynced before it was renamed into place, and
// its folder after), never a file under the key's name with less in it;
// the cache reopened over it serves the copy as it is.
func TestCache_PowerCut(t *testing.T) {
	dir := t.TempDir()
	cut := disktest.NewPowerCut(t, dir)
	c, src := newCache(t, dir, 1<<20, 100_000, "d/a")
	hold(t, c, "d/a")()
	after := cut.Cut(t)
	want := strings.Repeat("a", 100_000)
	if b, err := os.ReadFile(filepath.Join(after, "files", "d", "a")); err != nil || string(b) != want {
		t.Fatalf("after a power cut the copy of d/a has %d bytes (%v), want all %d", len(b), err, len(want))
	}
	again, err := store.OpenCache(after, src, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	gets := src.gets.Load()
	hold(t, again, "d/a")()
	if src.gets.Load() != gets {
		t.Error("the copy that survived the power cut was fetched again")
	}
}

// TestCache_WriteFault: a download whose writes fail keeps nothing, and the
// next Hold fetches the file whole.
func TestCache_WriteFault(t *testing.T) {
	dir := t.TempDir()
	cut := disktest.NewPowerCut(t, dir)
	c, _ := newCache(t, dir, 1<<20, 100_000, "d/a")
	cut.Faults().FailWrites(syscall.EIO, 1)
	if _, _, err := c.Hold(context.Background(), []string{"d/a"}); !errors.Is(err, syscall.EIO) {
		t.Errorf("Hold with a failing disk: %v, want EIO", err)
	}
	tmp, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if got := cached(t, dir); len(got) != 0 || len(tmp) != 0 {
		t.Errorf("left behind by a failed download: %v, temp %v", got, tmp)
	}
	hold(t, c, "d/a")()
}
