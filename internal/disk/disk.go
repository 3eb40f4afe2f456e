// Package disk holds the file operations of every engine, written once.
//
// A [Dir] is a folder opened as an [os.Root]: no name given to it can lead
// out of the folder, whatever links are planted inside. On top of that a Dir
// refuses symbolic links altogether, with an error wrapping [ErrLink], so a
// link is never followed, even one that stays inside. Its files write and
// fsync through [File], and [Dir.WriteAtomic] and [Dir.SyncDir] are the one
// implementation of crash-safe whole-file writes: temp file, write, fsync,
// close, rename, fsync the folder.
//
// Tests see every write and fsync beneath a folder by installing [Hooks]
// with [Intercept] before the engine opens it: package disktest uses them to
// inject faults and to simulate a power cut that keeps only what was fsynced.
package disk

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// ErrLink is wrapped by the error for a name that passes through a symbolic
// link. The data directory holds no links of the server's own, so one found
// there was planted; it is refused rather than followed.
var ErrLink = errors.New("symbolic links are not followed")

// Hooks see the writes and fsyncs beneath a folder; see [Intercept]. A nil
// field does nothing.
type Hooks struct {
	// Write runs before each write to a file (Write, WriteAt, Truncate)
	// with the file's path; an error fails the write, which then writes
	// nothing.
	Write func(path string) error
	// Sync runs before each fsync of a file or folder with its path; an
	// error fails the fsync.
	Sync func(path string) error
	// Synced runs after each fsync that succeeded, with the file or folder.
	Synced func(f *os.File)
}

var (
	hooksMu sync.Mutex
	hooks   = map[string]*Hooks{} // absolute folder -> hooks for everything beneath it
)

// Intercept installs h for every Dir opened at or beneath dir from now on,
// until remove is called. It is meant for tests.
func Intercept(dir string, h *Hooks) (remove func()) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		panic(err)
	}
	hooksMu.Lock()
	defer hooksMu.Unlock()
	hooks[abs] = h
	return func() {
		hooksMu.Lock()
		defer hooksMu.Unlock()
		delete(hooks, abs)
	}
}

// hooksFor returns the hooks installed for abs or the nearest folder above it.
func hooksFor(abs string) *Hooks {
	hooksMu.Lock()
	defer hooksMu.Unlock()
	for p := abs; ; p = filepath.Dir(p) {
		if h, ok := hooks[p]; ok {
			return h
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// A Dir is an open folder beneath which every name stays. Names are
// slash-separated and relative to the folder ("data/a/b"); "." is the
// folder itself. A Dir is safe for concurrent use.
type Dir struct {
	root  *os.Root
	path  string // absolute
	hooks *Hooks
}

var (
	confineMu sync.Mutex
	confined  []string // absolute folders that Open reaches only through Sub
)

// Confine makes Open reach every folder beneath root (the data directory)
// as root.Sub would: the folders on the way from root, which the engines
// name by path ("<data>/pathway/index"), are then refused when one is a
// link, as everything beneath a Dir is. root itself may be a link, the
// user's choice of where the data lives. mcpd confines its data directory
// before it opens any engine.
func Confine(root string) error {
	abs, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("confine %s: %w", root, err)
	}
	confineMu.Lock()
	defer confineMu.Unlock()
	if !slices.Contains(confined, abs) {
		confined = append(confined, abs)
	}
	return nil
}

// confinedRoot returns the confined folder that holds abs, or "".
func confinedRoot(abs string) string {
	confineMu.Lock()
	defer confineMu.Unlock()
	for _, r := range confined {
		if rel, err := filepath.Rel(r, abs); err == nil && rel != "." && filepath.IsLocal(rel) {
			return r
		}
	}
	return ""
}

// Open opens the folder at path, creating it and its parents if needed.
// path itself may be a link, unless it lies beneath a folder given to
// [Confine]; nothing beneath it may.
func Open(path string) (*Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open folder: %w", err)
	}
	if r := confinedRoot(abs); r != "" {
		top, err := openRoot(r)
		if err != nil {
			return nil, err
		}
		defer top.Close()
		rel, _ := filepath.Rel(r, abs)
		d, err := top.Sub(filepath.ToSlash(rel))
		if err != nil {
			return nil, fmt.Errorf("open folder: %w", err)
		}
		d.hooks = hooksFor(abs)
		return d, nil
	}
	return openRoot(abs)
}

// openRoot opens the folder abs as a Dir, making it if needed.
func openRoot(abs string) (*Dir, error) {
	if err := mkdirAllDurable(abs); err != nil {
		return nil, fmt.Errorf("open folder: %w", err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("open folder: %w", err)
	}
	return &Dir{root: root, path: abs, hooks: hooksFor(abs)}, nil
}

// Fresh empties the folder at path, or makes it, and opens it: for scratch
// space that nothing from an earlier run may stay in. A link planted there
// is removed, not followed.
func Fresh(path string) (*Dir, error) {
	parent, err := Open(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	if err := parent.RemoveAll(filepath.Base(path)); err != nil {
		return nil, err
	}
	return parent.Sub(filepath.Base(path))
}

// mkdirAllDurable is os.MkdirAll that also fsyncs the parent of each folder
// it creates, as Dir.MkdirAll does beneath a Dir.
func mkdirAllDurable(abs string) error {
	if fi, err := os.Stat(abs); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a folder", abs)
		}
		return nil
	}
	parent := filepath.Dir(abs)
	if parent != abs {
		if err := mkdirAllDurable(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(abs, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	d, err := openRoot(parent)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.SyncDir(".")
}

// Sub opens the folder name beneath d as a Dir of its own, creating it if
// needed.
func (d *Dir) Sub(name string) (*Dir, error) {
	if err := d.MkdirAll(name); err != nil {
		return nil, err
	}
	root, err := d.root.OpenRoot(name)
	if err != nil {
		return nil, d.explain("open folder", name, err)
	}
	return &Dir{root: root, path: d.Path(name), hooks: d.hooks}, nil
}

// Close closes the folder; files opened from it stay open.
func (d *Dir) Close() error { return d.root.Close() }

// Path returns the absolute path of name beneath d, for programs that need
// a path (DuckDB) and for messages.
func (d *Dir) Path(name string) string {
	if name == "." || name == "" {
		return d.path
	}
	return filepath.Join(d.path, filepath.FromSlash(name))
}

// noLinks returns an error wrapping ErrLink when name or one of the folders
// on its way is a symbolic link. Names that do not exist yet pass.
func (d *Dir) noLinks(name string) error {
	name = path.Clean(name)
	if name == "." {
		return nil
	}
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '/' {
			continue
		}
		fi, err := d.root.Lstat(name[:i])
		if err != nil {
			return nil // absent: whatever fails next says so
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return &fs.PathError{Op: "open", Path: d.Path(name[:i]), Err: ErrLink}
		}
	}
	return nil
}

// parentNoLinks is noLinks for the folder of name: name itself may be a
// link where the operation acts on the entry, not on what it points to
// (rename, remove).
func (d *Dir) parentNoLinks(name string) error {
	return d.noLinks(path.Dir(path.Clean(name)))
}

// explain returns err, or the error for a link on the way to name when one
// is the reason os.Root refused it.
func (d *Dir) explain(op, name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if lerr := d.noLinks(name); lerr != nil {
		return lerr
	}
	return fmt.Errorf("%s %s: %w", op, d.Path(name), err)
}

// OpenFile opens the file name as os.OpenFile does, refusing links.
func (d *Dir) OpenFile(name string, flag int, perm fs.FileMode) (*File, error) {
	if err := d.noLinks(name); err != nil {
		return nil, err
	}
	f, err := d.root.OpenFile(name, flag, perm)
	if err != nil {
		return nil, d.explain("open", name, err)
	}
	return &File{f: f, name: path.Clean(name), path: d.Path(name), hooks: d.hooks}, nil
}

// Open opens the file name for reading.
func (d *Dir) Open(name string) (*File, error) { return d.OpenFile(name, os.O_RDONLY, 0) }

// ReadFile reads the whole file name, into one buffer of its size (a big
// file read by growing a buffer would be copied several times).
func (d *Dir) ReadFile(name string) ([]byte, error) {
	f, err := d.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, fi.Size()+1) // the byte more finds the end
	n, err := io.ReadFull(f.f, b)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return b[:n], nil
	case err != nil:
		return nil, err
	}
	rest, err := io.ReadAll(f.f) // it grew since the stat
	return append(b, rest...), err
}

// ReadDir lists the folder name, sorted by file name.
func (d *Dir) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := d.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

// Lstat describes name without following it if it is a link.
func (d *Dir) Lstat(name string) (fs.FileInfo, error) {
	if err := d.parentNoLinks(name); err != nil {
		return nil, err
	}
	fi, err := d.root.Lstat(name)
	if err != nil {
		return nil, d.explain("lstat", name, err)
	}
	return fi, nil
}

// MkdirAll creates the folder name and its parents as needed, durably: the
// folder holding each new one is fsynced, or a power cut could lose the new
// folder with every file later written in it.
func (d *Dir) MkdirAll(name string) error {
	if err := d.noLinks(name); err != nil {
		return err
	}
	name = path.Clean(name)
	if name == "." {
		return nil
	}
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '/' {
			continue
		}
		sub := name[:i]
		if fi, err := d.root.Lstat(sub); err == nil && fi.IsDir() {
			continue
		}
		err := d.root.Mkdir(sub, 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue // made meanwhile, by a caller who syncs its parent
		}
		if err != nil {
			return d.explain("mkdir", sub, err)
		}
		if err := d.SyncDir(path.Dir(sub)); err != nil {
			return err
		}
	}
	return nil
}

// Mkdir creates the folder name; its parent must exist.
func (d *Dir) Mkdir(name string) error {
	return d.onEntry("mkdir", name, func(n string) error { return d.root.Mkdir(n, 0o755) })
}

// onEntry runs op on the entry name once the folders on its way are known
// to hold no link; name itself may be one, since op acts on the entry, not
// on what it points to.
func (d *Dir) onEntry(what, name string, op func(string) error) error {
	if err := d.parentNoLinks(name); err != nil {
		return err
	}
	if err := op(name); err != nil {
		return d.explain(what, name, err)
	}
	return nil
}

// Rename renames oldname to newname, replacing a file there.
func (d *Dir) Rename(oldname, newname string) error {
	if err := d.parentNoLinks(oldname); err != nil {
		return err
	}
	if err := d.parentNoLinks(newname); err != nil {
		return err
	}
	if err := d.root.Rename(oldname, newname); err != nil {
		if lerr := d.parentNoLinks(newname); lerr != nil {
			return lerr
		}
		return d.explain("rename", oldname, err)
	}
	return nil
}

// Remove removes the file or empty folder name (a link itself, not what it
// points to).
func (d *Dir) Remove(name string) error { return d.onEntry("remove", name, d.root.Remove) }

// RemoveAll removes name and everything beneath it, following no links;
// nothing there is fine.
func (d *Dir) RemoveAll(name string) error { return d.onEntry("remove", name, d.root.RemoveAll) }

// CreateTemp creates a new file in the folder dir whose name is pattern
// with its last "*" replaced by a random string, and opens it for reading
// and writing; f.Name() is its name beneath d.
func (d *Dir) CreateTemp(dir, pattern string) (*File, error) {
	for range 100 {
		name := path.Join(dir, randomName(pattern))
		f, err := d.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, fmt.Errorf("create temp file in %s: too many names taken", d.Path(dir))
}

// MkdirTemp creates a new folder in dir named as CreateTemp names files and
// returns its name beneath d.
func (d *Dir) MkdirTemp(dir, pattern string) (string, error) {
	for range 100 {
		name := path.Join(dir, randomName(pattern))
		err := d.Mkdir(name)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return name, err
	}
	return "", fmt.Errorf("create temp folder in %s: too many names taken", d.Path(dir))
}

// randomName replaces the last "*" of pattern (or appends) with random hex.
func randomName(pattern string) string {
	var b [8]byte
	rand.Read(b[:])
	r := hex.EncodeToString(b[:])
	if i := strings.LastIndex(pattern, "*"); i >= 0 {
		return pattern[:i] + r + pattern[i+1:]
	}
	return pattern + r
}

// SyncDir fsyncs the folder name, making the creation, renaming and removal
// of its entries durable.
func (d *Dir) SyncDir(name string) error {
	f, err := d.Open(name)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// WriteAtomic replaces the file name with what write writes, so that a
// crash leaves the old file or the new one, never a mix: write into a temp
// file in the folder tmpDir ("" = name's own folder, which must then be
// cleaned of "*.tmp" leftovers by the owner), fsync, close, rename over
// name, fsync name's folder. On error the temp file is removed.
func (d *Dir) WriteAtomic(name, tmpDir string, write func(w io.Writer) error) (err error) {
	if tmpDir == "" {
		tmpDir = path.Dir(name)
	}
	f, err := d.CreateTemp(tmpDir, path.Base(name)+"-*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			d.Remove(f.Name())
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := d.Rename(f.Name(), name); err != nil {
		return err
	}
	return d.SyncDir(path.Dir(name))
}

// A File is an open file of a [Dir]. Its writes and fsyncs pass the Dir's
// hooks. It has only the methods the engines use, so that no write can go
// around the hooks (an *os.File's ReadFrom would).
type File struct {
	f     *os.File
	name  string // beneath the Dir
	path  string // absolute
	hooks *Hooks
}

// Name returns the file's name beneath its Dir.
func (f *File) Name() string { return f.name }

// Path returns the file's absolute path as opened.
func (f *File) Path() string { return f.path }

func (f *File) beforeWrite() error {
	if f.hooks != nil && f.hooks.Write != nil {
		if err := f.hooks.Write(f.path); err != nil {
			return &fs.PathError{Op: "write", Path: f.path, Err: err}
		}
	}
	return nil
}

// Write writes p at the file's offset.
func (f *File) Write(p []byte) (int, error) {
	if err := f.beforeWrite(); err != nil {
		return 0, err
	}
	return f.f.Write(p)
}

// WriteAt writes p at off.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	if err := f.beforeWrite(); err != nil {
		return 0, err
	}
	return f.f.WriteAt(p, off)
}

// Truncate changes the file's size.
func (f *File) Truncate(size int64) error {
	if err := f.beforeWrite(); err != nil {
		return err
	}
	return f.f.Truncate(size)
}

// Sync fsyncs the file. After a failed fsync the file's state on disk is
// unknown: callers reopen from what is on disk rather than retry.
func (f *File) Sync() error {
	if f.hooks != nil && f.hooks.Sync != nil {
		if err := f.hooks.Sync(f.path); err != nil {
			return &fs.PathError{Op: "fsync", Path: f.path, Err: err}
		}
	}
	if err := f.f.Sync(); err != nil {
		return err
	}
	if f.hooks != nil && f.hooks.Synced != nil {
		f.hooks.Synced(f.f)
	}
	return nil
}

// Read reads from the file's offset.
func (f *File) Read(p []byte) (int, error) { return f.f.Read(p) }

// ReadAt reads at off.
func (f *File) ReadAt(p []byte, off int64) (int, error) { return f.f.ReadAt(p, off) }

// Seek sets the offset of the next Read or Write.
func (f *File) Seek(offset int64, whence int) (int64, error) { return f.f.Seek(offset, whence) }

// Stat describes the open file.
func (f *File) Stat() (fs.FileInfo, error) { return f.f.Stat() }

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// Fd returns the file's descriptor, for flock.
func (f *File) Fd() uintptr { return f.f.Fd() }

// OSFile returns the open file itself, for a reader that hands it to code
// whose fast paths need an *os.File (net/http sends one to a socket with
// sendfile). Writes through it bypass the Hooks: read only.
func (f *File) OSFile() *os.File { return f.f }
