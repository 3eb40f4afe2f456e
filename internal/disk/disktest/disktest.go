// Package disktest simulates what a power cut leaves of a folder, and
// injects write and fsync faults, through the hooks of package disk.
//
// A power cut keeps of a file only the content it had at its last fsync,
// and of a folder only the entries it had at its last fsync: the strict
// model of POSIX, under which a file that was written, or renamed into
// place, but not fsynced may be lost. [PowerCut] records both at every
// fsync of a file or folder that an engine makes through a [disk.Dir], and
// [PowerCut.Cut] builds a fresh folder from them. An engine that skips an
// fsync then loses an acknowledged write in the test as it would on a real
// machine, which killing a process (the page cache survives) cannot show.
package disktest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"lakehouse/internal/disk"
)

// fileID names a file for the life of its inode: inode numbers are reused
// once a file is gone, birth times are not.
type fileID struct {
	ino   uint64
	birth int64 // ns; 0 where the filesystem does not keep it
}

// entry is one name in a folder as of the folder's last fsync.
type entry struct {
	id  fileID
	dir bool
}

// PowerCut records the durable state of a folder tree; see the package doc.
type PowerCut struct {
	root   string
	rootID fileID

	mu      sync.Mutex
	content map[fileID][]byte           // file -> content at its last fsync
	dirs    map[fileID]map[string]entry // folder -> entries at its last fsync
	faults  Faults
}

// NewPowerCut starts recording the folder root, whose present contents count
// as durable, and stops when the test ends. Engines must open root (or a
// folder beneath it) after this call.
func NewPowerCut(t testing.TB, root string) *PowerCut {
	t.Helper()
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	p := &PowerCut{root: abs, content: map[fileID][]byte{}, dirs: map[fileID]map[string]entry{}}
	rootID, err := idAt(unix.AT_FDCWD, abs)
	if err != nil {
		t.Fatal(err)
	}
	p.rootID = rootID
	err = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		p.synced(f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(disk.Intercept(abs, &disk.Hooks{Write: p.faults.write, Sync: p.faults.sync, Synced: p.synced}))
	return p
}

// Faults returns the faults injected beneath the recorded folder.
func (p *PowerCut) Faults() *Faults { return &p.faults }

// idAt identifies the file name in the folder open as dirfd, not following
// a link; name "" is dirfd itself.
func idAt(dirfd int, name string) (fileID, error) {
	flags := unix.AT_SYMLINK_NOFOLLOW
	if name == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	var st unix.Statx_t
	if err := unix.Statx(dirfd, name, flags, unix.STATX_INO|unix.STATX_BTIME, &st); err != nil {
		return fileID{}, err
	}
	id := fileID{ino: st.Ino}
	if st.Mask&unix.STATX_BTIME != 0 {
		id.birth = st.Btime.Sec*1e9 + int64(st.Btime.Nsec)
	}
	return id, nil
}

// synced records f, just fsynced: a file's content, or a folder's entries.
func (p *PowerCut) synced(f *os.File) {
	fi, err := f.Stat()
	if err != nil {
		panic(err)
	}
	fd := int(f.Fd())
	id, err := idAt(fd, "")
	if err != nil {
		panic(err)
	}
	if !fi.IsDir() {
		// Read through the descriptor: f may be write-only, and its name
		// may have changed since it was opened.
		b, err := os.ReadFile(fmt.Sprintf("/proc/self/fd/%d", fd))
		if err != nil {
			panic(err)
		}
		p.mu.Lock()
		p.content[id] = b
		p.mu.Unlock()
		return
	}
	names, err := f.ReadDir(-1)
	if err != nil {
		panic(err)
	}
	f.Seek(0, 0) // let a later ReadDir of f start over
	entries := map[string]entry{}
	for _, de := range names {
		info, err := de.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since the listing
		}
		if err != nil {
			panic(err)
		}
		if !info.Mode().IsRegular() && !info.IsDir() {
			continue
		}
		eid, err := idAt(fd, de.Name())
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			panic(err)
		}
		entries[de.Name()] = entry{id: eid, dir: info.IsDir()}
	}
	p.mu.Lock()
	p.dirs[id] = entries
	p.mu.Unlock()
}

// Cut returns a new folder holding what a power cut would leave of the
// recorded one: every folder with the entries of its last fsync, every file
// with the content of its last fsync (empty if it never had one). The
// recorded folder itself is left as it is.
func (p *PowerCut) Cut(t testing.TB) string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := t.TempDir()
	if err := p.build(out, p.rootID); err != nil {
		t.Fatal(err)
	}
	return out
}

func (p *PowerCut) build(dir string, id fileID) error {
	for name, e := range p.dirs[id] {
		path := filepath.Join(dir, name)
		if e.dir {
			if err := os.Mkdir(path, 0o755); err != nil {
				return err
			}
			if err := p.build(path, e.id); err != nil {
				return err
			}
			continue
		}
		if err := os.WriteFile(path, p.content[e.id], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Faults injects errors into the writes and fsyncs beneath a folder. The
// zero value injects none. It is safe for concurrent use.
type Faults struct {
	mu        sync.Mutex
	writeErr  error
	syncErr   error
	remaining int    // faults left to inject; < 0 = until Clear
	only      string // when set, faults hit only paths with this base name
}

// Only makes the faults hit only files and folders with the base name
// name, so that a test can aim them at one file while other writers (a
// background index build) go on unharmed. Clear lifts it.
func (f *Faults) Only(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.only = name
}

// FailWrites makes writes fail with err (e.g. syscall.ENOSPC, syscall.EIO):
// the next n of them, or all until Clear when n < 0.
func (f *Faults) FailWrites(err error, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writeErr, f.syncErr, f.remaining = err, nil, n
}

// FailSyncs makes fsyncs of files and folders fail with err: the next n of
// them, or all until Clear when n < 0.
func (f *Faults) FailSyncs(err error, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writeErr, f.syncErr, f.remaining = nil, err, n
}

// Clear stops injecting faults.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writeErr, f.syncErr, f.remaining, f.only = nil, nil, 0, ""
}

func (f *Faults) write(path string) error { return f.take(&f.writeErr, path) }
func (f *Faults) sync(path string) error  { return f.take(&f.syncErr, path) }

func (f *Faults) take(which *error, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := *which
	if err == nil || f.remaining == 0 || f.only != "" && filepath.Base(path) != f.only {
		return nil
	}
	if f.remaining > 0 {
		f.remaining--
	}
	return err
}

// A FaultCase is one way the disk fails, for the table tests of every
// engine: each runs its writes under every case of [FaultCases].
type FaultCase struct {
	Name   string
	Inject func(*Faults)
	Err    error // what the failed call's error must wrap
	Once   bool  // the fault hits one write or fsync and then goes by itself
}

// FaultCases are a full disk and an I/O error on fsync, lasting until Clear
// and hitting once.
var FaultCases = []FaultCase{
	{"ENOSPC on writes", func(f *Faults) { f.FailWrites(syscall.ENOSPC, -1) }, syscall.ENOSPC, false},
	{"EIO on fsyncs", func(f *Faults) { f.FailSyncs(syscall.EIO, -1) }, syscall.EIO, false},
	{"one ENOSPC", func(f *Faults) { f.FailWrites(syscall.ENOSPC, 1) }, syscall.ENOSPC, true},
	{"one EIO on fsync", func(f *Faults) { f.FailSyncs(syscall.EIO, 1) }, syscall.EIO, true},
}
