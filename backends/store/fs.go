package store

// Design notes.
//
// Layout. Under the root folder, data/<key> holds an object's content exactly
// as stored, meta/<key>.json its sidecar, and tmp/ the files being written.
// Keeping content in plain files lets DuckDB read Parquet and CSV objects in
// place (see [FS.Path]).
//
// Crash safety. Every file is written as a temp file in tmp/, fsynced, closed,
// renamed into place, and then its folder is fsynced. A rename replaces the
// old file in one step, so a reader or a crash sees the old file or the new
// one, never a mix. OpenFS empties tmp/ of whatever a crash left behind.
//
// The sidecar is a cache. Content and sidecar are two renames, and the content
// rename is the commit point: after it the object is the new one. A sidecar
// records the size, modification time and file id (inode) of the content it
// was made for. When they do not match the content on disk (a crash between
// the two renames, or a file changed behind the store's back), the etag is
// worked out again from the content, the content type is guessed from the
// key, and the sidecar is rewritten. A missing or unreadable sidecar is
// treated the same way, so a torn object is never shown.
//
// Links. Every file operation goes through a [disk.Dir] rooted at the
// store's folder, which never follows a symbolic link: a link planted in
// the folder (to /etc/passwd, say, or a folder elsewhere) makes the
// operations on keys through it fail with an errs.Conflict error that names
// the link, and List leaves links out.
//
// Locking. A striped set of mutexes, chosen by key, serialises the short
// steps that change an object: the two renames of a commit, Delete, and
// sidecar repairs. So two Puts of one key cannot leave one's sidecar next to
// the other's content. The long step, copying the content into the temp file,
// runs outside the lock; when Puts of one key overlap, the last rename wins.
// Readers take no lock: they open the content file and check the sidecar
// against the open file. One process owns a root at a time.
//
// Folders. Keys are paths, so data/a cannot be an object and a folder at once:
// "a" and "a/b" cannot both be stored (errs.Conflict). Since sidecars add
// ".json" to the key, "x" and keys under "x.json/" clash the same way in
// meta/. Delete prunes folders it leaves empty; a Put that loses a folder
// to that race creates it again and retries (see retryAbsent).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"lakehouse/backends/errs"
	"lakehouse/internal/disk"
)

// lockStripes is the number of mutexes that keys share.
const lockStripes = 64

// copyBufferSize is the chunk size of copies; ctx is checked between chunks.
const copyBufferSize = 256 << 10

// FS is a [Store] on the local filesystem. It is safe for use by many
// goroutines, but only one process may use a root at a time.
type FS struct {
	dir *disk.Dir // the root folder, holding data/, meta/ and tmp/

	locks [lockStripes]sync.Mutex
}

// The folders of the root, as names beneath it.
const (
	dataDir = "data" // object contents
	metaDir = "meta" // sidecars
	tmpDir  = "tmp"  // files being written
)

var _ Store = (*FS)(nil)

// OpenFS opens the store in the folder root, creating it if needed. It
// removes the temp files that a crash may have left before returning.
func OpenFS(root string) (*FS, error) {
	dir, err := disk.Open(root)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	f := &FS{dir: dir}
	if err := f.open(); err != nil {
		dir.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	return f, nil
}

// open creates the store's folders and empties tmp/.
func (f *FS) open() error {
	for _, name := range []string{dataDir, metaDir, tmpDir} {
		if err := f.dir.MkdirAll(name); err != nil {
			return err
		}
	}
	if err := f.dir.SyncDir("."); err != nil {
		return err
	}
	// Anything in tmp/ is a write that never committed, or the remains of
	// a DeletePrefix that did not finish. None of it is part of an object.
	entries, err := f.dir.ReadDir(tmpDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := f.dir.RemoveAll(path.Join(tmpDir, e.Name())); err != nil {
			return fmt.Errorf("clean temp files: %w", err)
		}
	}
	return nil
}

// Close releases the store's folder.
func (f *FS) Close() error { return f.dir.Close() }

// DataDir returns the absolute path of the folder that holds the content
// files of all objects.
func (f *FS) DataDir() string { return f.dir.Path(dataDir) }

// TempDir returns the absolute path of the folder where files to [FS.Adopt]
// are written; OpenFS empties it.
func (f *FS) TempDir() string { return f.dir.Path(tmpDir) }

// Path returns the absolute local path of the object's content file, so that
// DuckDB can read it directly (Parquet, CSV). The file may not exist. Path
// returns "" for an invalid key, which could otherwise point outside the
// store. Callers only read the file: the store replaces it on Put.
func (f *FS) Path(key string) string {
	if keyRule(key) != "" {
		return ""
	}
	return f.dir.Path(dataName(key))
}

// dataName is the content file of a valid key, beneath the root.
func dataName(key string) string { return dataDir + "/" + key }

// metaName is the sidecar file of a valid key, beneath the root.
func metaName(key string) string { return metaDir + "/" + key + ".json" }

// fail wraps an error of operation op on key. A link on the way to the key
// is the caller's to fix, so it becomes an errs.Conflict error naming it.
func fail(op, key string, err error) error {
	if errors.Is(err, disk.ErrLink) {
		var pe *fs.PathError
		link := "a folder on its way"
		if errors.As(err, &pe) {
			link = pe.Path
		}
		return errs.New(errs.Conflict, "%s %q: %s is a symbolic link, and the store never follows links; remove the link from the data directory", op, key, link)
	}
	return fmt.Errorf("%s %q: %w", op, key, err)
}

// lock locks the mutex of key and returns its unlock.
func (f *FS) lock(key string) (unlock func()) {
	h := fnv.New32a()
	h.Write([]byte(key))
	m := &f.locks[h.Sum32()%lockStripes]
	m.Lock()
	return m.Unlock
}

// Put implements [Store.Put].
func (f *FS) Put(ctx context.Context, key string, r io.Reader, contentType string, maxBytes int64) (Info, error) {
	if err := checkKey(ctx, key); err != nil {
		return Info{}, err
	}
	contentType = typeOf(key, contentType)
	// Refuse a clashing key before reading what may be a large body.
	if err := f.prepare(key); err != nil {
		return Info{}, err
	}

	// Write the content to a temp file, hashing it on the way.
	tmp, err := f.dir.CreateTemp(tmpDir, "put-*")
	if err != nil {
		return Info{}, fail("put", key, err)
	}
	moved := false
	defer func() {
		if !moved {
			tmp.Close()
			f.dir.Remove(tmp.Name())
		}
	}()
	src := r
	if maxBytes > 0 {
		// One byte over the cap is enough to know it is too large.
		src = io.LimitReader(r, maxBytes+1)
	}
	h := sha256.New()
	n, err := copyContext(ctx, io.MultiWriter(tmp, h), src)
	if err != nil {
		return Info{}, fail("put", key, err)
	}
	if maxBytes > 0 && n > maxBytes {
		return Info{}, tooLargeError(key, maxBytes)
	}

	// Make the content durable before it can become visible.
	if err := tmp.Sync(); err != nil {
		return Info{}, fail("put", key, err)
	}
	fi, err := tmp.Stat()
	if err != nil {
		return Info{}, fail("put", key, err)
	}
	if err := tmp.Close(); err != nil {
		return Info{}, fail("put", key, err)
	}
	sc := newSidecar(hex.EncodeToString(h.Sum(nil)), contentType, fi)
	moved, err = f.commit(key, tmp.Name(), sc)
	if err != nil {
		return Info{}, err
	}
	return sc.info(key), nil
}

// Adopt moves the existing local file at localPath into the store under key,
// by rename and without copying; the file must be beneath [FS.TempDir]. It
// fsyncs the file first.
// contentType "" means guess from the key, as in Put. Adopt publishes large
// Parquet files. On success localPath no longer exists; on error it is left
// where it was.
func (f *FS) Adopt(ctx context.Context, key, localPath, contentType string) (Info, error) {
	if err := checkKey(ctx, key); err != nil {
		return Info{}, err
	}
	contentType = typeOf(key, contentType)
	if err := f.prepare(key); err != nil {
		return Info{}, err
	}

	rel, err := filepath.Rel(f.TempDir(), localPath)
	if err != nil || rel == "." || !filepath.IsLocal(rel) {
		return Info{}, fmt.Errorf("adopt %q: %s is not beneath the store's temp folder %s", key, localPath, f.TempDir())
	}
	name := path.Join(tmpDir, filepath.ToSlash(rel))

	// Hash the file for its etag and make its content durable: whoever wrote
	// it may not have fsynced it.
	file, err := f.dir.Open(name)
	if err != nil {
		return Info{}, fail("adopt", key, err)
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return Info{}, fail("adopt", key, err)
	}
	if !fi.Mode().IsRegular() {
		return Info{}, fmt.Errorf("adopt %q: %s is not a regular file", key, localPath)
	}
	h := sha256.New()
	if _, err := copyContext(ctx, h, file); err != nil {
		return Info{}, fail("adopt", key, err)
	}
	if err := file.Sync(); err != nil {
		return Info{}, fail("adopt", key, err)
	}
	if fi, err = file.Stat(); err != nil {
		return Info{}, fail("adopt", key, err)
	}
	if err := file.Close(); err != nil {
		return Info{}, fail("adopt", key, err)
	}

	sc := newSidecar(hex.EncodeToString(h.Sum(nil)), contentType, fi)
	if _, err := f.commit(key, name, sc); err != nil {
		return Info{}, err
	}
	return sc.info(key), nil
}

// commit moves the finished content file src (a name beneath the root) into place as key's content,
// then writes its sidecar sc. moved reports whether src was renamed; after
// that the caller must not remove it, even if err is not nil.
func (f *FS) commit(key, src string, sc sidecar) (moved bool, err error) {
	unlock := f.lock(key)
	defer unlock()

	dst := dataName(key)
	if err := f.place(src, dst); err != nil {
		if isClash(err) {
			return false, clashError(key)
		}
		return false, fail("store", key, err)
	}
	// The rename is the commit point; make it durable.
	if err := f.dir.SyncDir(path.Dir(dst)); err != nil {
		return true, fail("store", key, err)
	}
	if err := f.writeSidecar(key, sc); err != nil {
		// The old sidecar may now describe a file whose inode the new content
		// reuses; without it, readers work the etag out from the content.
		f.dir.Remove(metaName(key))
		return true, fail("store", key, fmt.Errorf("write metadata: %w", err))
	}
	return true, nil
}

// prepare creates the parent folders of key's content and sidecar. It returns
// an errs.Conflict error when key cannot be stored because of the keys stored
// already.
func (f *FS) prepare(key string) error {
	// An object is stored where key needs a folder: "a" exists, key is "a/b".
	for i := range len(key) {
		if key[i] != '/' {
			continue
		}
		fi, err := f.dir.Lstat(dataName(key[:i]))
		if errors.Is(err, fs.ErrNotExist) {
			break // nor does any deeper folder
		}
		if errors.Is(err, disk.ErrLink) {
			return fail("store", key, err)
		}
		if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return f.linkError("store", key, dataName(key[:i]))
		}
		if err == nil && !fi.IsDir() {
			return parentObjectError(key, key[:i])
		}
	}
	// Key is the folder of other keys: "a/b" exists, key is "a".
	if fi, err := f.dir.Lstat(dataName(key)); err == nil && fi.IsDir() {
		return folderError(key)
	}
	if err := f.mkdirAll(path.Dir(dataName(key))); err != nil {
		if isClash(err) { // a Put of a clashing key got there first
			return clashError(key)
		}
		return fail("store", key, err)
	}
	return f.prepareMeta(key)
}

// prepareMeta is prepare for the sidecar, whose name adds ".json" to the key.
// Key "x" needs meta/x.json to be a file and keys under "x.json/" need it to
// be a folder. Sidecars without content, which an interrupted Delete or
// DeletePrefix leaves, are cleared out of the way.
func (f *FS) prepareMeta(key string) error {
	// Keys under key+".json/" may hold meta/<key>.json as their folder.
	mp := metaName(key)
	if fi, err := f.dir.Lstat(mp); err == nil && fi.IsDir() {
		if d, err := f.dir.Lstat(dataName(key + ".json")); err == nil && d.IsDir() {
			return errs.New(errs.Conflict, "cannot store key %q: keys under %q exist, and their metadata would clash with this key's", key, key+".json/")
		}
		if err := f.removeTree(mp); err != nil {
			return fail("store", key, err)
		}
	}
	// The sidecar of key "x" may sit where this key needs a folder, "x.json".
	for i := range len(key) {
		if key[i] != '/' || !strings.HasSuffix(key[:i], ".json") {
			continue
		}
		owner := strings.TrimSuffix(key[:i], ".json")
		if keyRule(owner) != "" {
			continue // "a/.json" is the sidecar of no key
		}
		ownerMeta := metaName(owner)
		if fi, err := f.dir.Lstat(ownerMeta); err != nil || fi.IsDir() {
			continue
		}
		if d, err := f.dir.Lstat(dataName(owner)); err == nil && d.Mode().IsRegular() {
			return errs.New(errs.Conflict, "cannot store key %q: its metadata would clash with that of object %q", key, owner)
		}
		f.dir.Remove(ownerMeta) // a sidecar without content
	}
	if err := f.mkdirAll(path.Dir(mp)); err != nil {
		if isClash(err) {
			return clashError(key)
		}
		return fail("store", key, err)
	}
	return nil
}

// linkError is fail's error for the link at name, found by Lstat.
func (f *FS) linkError(op, key, name string) error {
	return fail(op, key, &fs.PathError{Op: op, Path: f.dir.Path(name), Err: disk.ErrLink})
}

// isClash reports whether err is a filesystem error caused by a file standing
// where a folder is needed, or the other way round.
func isClash(err error) bool {
	return errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) ||
		errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY)
}

// Get implements [Store.Get].
func (f *FS) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	file, info, err := f.openObject(ctx, key)
	if err != nil {
		return nil, Info{}, err
	}
	return file, info, nil
}

// Stat implements [Store.Stat].
func (f *FS) Stat(ctx context.Context, key string) (Info, error) {
	file, info, err := f.openObject(ctx, key)
	if err != nil {
		return Info{}, err
	}
	file.Close()
	return info, nil
}

// open opens key's content file and describes it. The Info is checked against
// the open file, not the path, so it stays true of what the caller reads even
// if a Put replaces the object meanwhile.
func (f *FS) openObject(ctx context.Context, key string) (*disk.File, Info, error) {
	if err := checkKey(ctx, key); err != nil {
		return nil, Info{}, err
	}
	file, err := f.dir.Open(dataName(key))
	if err != nil {
		if isAbsent(err) {
			return nil, Info{}, notFound(key)
		}
		return nil, Info{}, fail("open object", key, err)
	}
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, Info{}, fail("open object", key, err)
	}
	if !fi.Mode().IsRegular() { // the folder of other keys
		file.Close()
		return nil, Info{}, notFound(key)
	}
	info, err := f.describe(ctx, key, file, fi)
	if err != nil {
		file.Close()
		return nil, Info{}, err
	}
	return file, info, nil
}

// isAbsent reports whether err says a path does not exist, including when a
// file stands where the path needs a folder.
func isAbsent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// Delete implements [Store.Delete]. It removes the content, then the sidecar,
// then the folders this leaves empty.
func (f *FS) Delete(ctx context.Context, key string) error {
	if err := checkKey(ctx, key); err != nil {
		return err
	}
	unlock := f.lock(key)
	defer unlock()

	name := dataName(key)
	fi, err := f.dir.Lstat(name)
	if err != nil {
		if isAbsent(err) {
			return notFound(key)
		}
		return fail("delete", key, err)
	}
	if fi.IsDir() {
		return notFound(key)
	}
	if !fi.Mode().IsRegular() {
		return f.linkError("delete", key, name)
	}
	// Once the content is gone, so is the object.
	if err := f.dir.Remove(name); err != nil {
		if isAbsent(err) {
			return notFound(key)
		}
		return fail("delete", key, err)
	}
	// A folder that another Delete pruned meanwhile needs no fsync.
	if err := f.dir.SyncDir(path.Dir(name)); err != nil && !isAbsent(err) {
		return fail("delete", key, err)
	}
	// A crash here leaves a sidecar without content, which nothing reads:
	// Stat and List start from the content.
	mp := metaName(key)
	if err := f.dir.Remove(mp); err != nil && !isAbsent(err) {
		return fail("delete", key, err)
	}
	f.prune(path.Dir(name))
	f.prune(path.Dir(mp))
	return nil
}

// prune removes the folder dir and its parents while they are empty,
// stopping below data/ or meta/. It is best-effort: a folder left empty
// costs nothing.
func (f *FS) prune(dir string) {
	for strings.Contains(dir, "/") {
		if f.dir.Remove(dir) != nil {
			return // not empty, or already gone
		}
		dir = path.Dir(dir)
	}
}

// DeletePrefix implements [Store.DeletePrefix]. The folder of the prefix is
// moved aside in one rename, so its objects disappear at once, then removed.
func (f *FS) DeletePrefix(ctx context.Context, prefix string) error {
	if err := validateFolder(prefix); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	folder := strings.TrimSuffix(prefix, "/")
	data, meta := dataName(folder), metaDir+"/"+folder
	if err := f.removeTree(data); err != nil {
		return fail("delete prefix", prefix, err)
	}
	if err := f.removeTree(meta); err != nil {
		return fail("delete prefix", prefix, err)
	}
	f.prune(path.Dir(data))
	f.prune(path.Dir(meta))
	return nil
}

// removeTree removes the folder at path, if there is one there; a file there
// is left alone, being an object named like the folder, not one under it. The
// folder is first renamed into tmp/, so everything in it goes in one step and
// a crash cannot leave half of it; OpenFS removes what a crash leaves in tmp/.
func (f *FS) removeTree(name string) error {
	fi, err := f.dir.Lstat(name)
	if err != nil {
		if isAbsent(err) {
			return nil
		}
		return err
	}
	if !fi.IsDir() {
		return nil
	}
	trash, err := f.dir.MkdirTemp(tmpDir, "delete-*")
	if err != nil {
		return err
	}
	if err := f.dir.Rename(name, trash+"/tree"); err != nil {
		f.dir.Remove(trash)
		if isAbsent(err) {
			return nil
		}
		return err
	}
	if err := f.dir.SyncDir(path.Dir(name)); err != nil && !isAbsent(err) {
		return err
	}
	return f.dir.RemoveAll(trash)
}

// place renames src to dst, creating dst's folder first.
func (f *FS) place(src, dst string) error {
	return retryAbsent(func() error {
		if err := f.dir.MkdirAll(path.Dir(dst)); err != nil {
			return err
		}
		return f.dir.Rename(src, dst)
	})
}

// mkdirAll is MkdirAll, retried like place.
func (f *FS) mkdirAll(dir string) error {
	return retryAbsent(func() error { return f.dir.MkdirAll(dir) })
}

// retryAbsent runs op, and runs it again a few times while it fails because a
// path does not exist: a Delete may prune a folder that op has just created
// and is about to use.
func retryAbsent(op func() error) error {
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil || !errors.Is(err, fs.ErrNotExist) || attempt == 5 {
			return err
		}
	}
}

// copyContext copies src to dst in chunks until EOF, and stops early when ctx
// is done. It returns the number of bytes written.
func copyContext(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	buf := make([]byte, copyBufferSize)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				return n, werr
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}
