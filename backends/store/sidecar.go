package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"time"

	"lakehouse/internal/disk"
)

// A sidecar is the metadata file of an object, meta/<key>.json. Besides what
// Info needs, it records which content file it was made for (size,
// modification time, file id), so that a stale sidecar can be told from a
// good one. See the design notes in fs.go.
type sidecar struct {
	ETag        string `json:"etag"` // hex sha256 of the content
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	MtimeNS     int64  `json:"mtime_ns"`          // modification time of the content, ns since 1970
	FileID      uint64 `json:"file_id,omitempty"` // inode of the content; 0 where unknown
}

// newSidecar returns the sidecar of the content file fi, whose sha256 is etag.
func newSidecar(etag, contentType string, fi fs.FileInfo) sidecar {
	return sidecar{
		ETag:        etag,
		ContentType: contentType,
		Size:        fi.Size(),
		MtimeNS:     fi.ModTime().UnixNano(),
		FileID:      fileID(fi),
	}
}

// matches reports whether sc was made for the content file fi.
func (sc sidecar) matches(fi fs.FileInfo) bool {
	return sc.Size == fi.Size() && sc.MtimeNS == fi.ModTime().UnixNano() &&
		sc.FileID == fileID(fi) && validETag(sc.ETag)
}

// info returns the Info of the object key described by sc.
func (sc sidecar) info(key string) Info {
	return Info{
		Key:         key,
		Size:        sc.Size,
		ETag:        sc.ETag,
		ContentType: sc.ContentType,
		Modified:    time.Unix(0, sc.MtimeNS).UTC(),
	}
}

// validETag reports whether s looks like a hex sha256.
func validETag(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// readSidecar reads key's sidecar; ok is false when it is missing or
// unreadable, which callers treat alike.
func (f *FS) readSidecar(key string) (sc sidecar, ok bool) {
	data, err := f.dir.ReadFile(metaName(key))
	if err != nil {
		return sidecar{}, false
	}
	if err := json.Unmarshal(data, &sc); err != nil {
		return sidecar{}, false
	}
	return sc, true
}

// writeSidecar writes key's sidecar atomically and durably.
func (f *FS) writeSidecar(key string, sc sidecar) error {
	data, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	name := metaName(key)
	return retryAbsent(func() error {
		if err := f.dir.MkdirAll(path.Dir(name)); err != nil {
			return err
		}
		return f.dir.WriteAtomic(name, tmpDir, func(w io.Writer) error {
			_, err := w.Write(append(data, '\n'))
			return err
		})
	})
}

// describe returns the Info of key's content, open as file, whose FileInfo is
// fi. It trusts the sidecar only when it was made for this very file;
// otherwise it hashes the content and repairs the sidecar.
func (f *FS) describe(ctx context.Context, key string, file *disk.File, fi fs.FileInfo) (Info, error) {
	if sc, ok := f.readSidecar(key); ok && sc.matches(fi) {
		return sc.info(key), nil
	}
	// A Put of this key may be between its two renames: wait until it is
	// done, by taking the key's lock, and look again.
	f.lock(key)()
	if sc, ok := f.readSidecar(key); ok && sc.matches(fi) {
		return sc.info(key), nil
	}

	// The sidecar is missing or stale, as a crash between the renames leaves
	// it: work the etag out from the content itself. The content type given
	// to Put is lost with it, so guess it from the key.
	h := sha256.New()
	if _, err := copyContext(ctx, h, io.NewSectionReader(file, 0, fi.Size())); err != nil {
		return Info{}, fmt.Errorf("hash object %q: %w", key, err)
	}
	sc := newSidecar(hex.EncodeToString(h.Sum(nil)), guessType(key), fi)
	f.repair(key, sc, fi)
	return sc.info(key), nil
}

// repair rewrites key's sidecar as sc, provided key's content is still the
// file fi that sc was made for. It is best-effort: the sidecar is a cache,
// and if it cannot be written the next reader hashes the content again.
func (f *FS) repair(key string, sc sidecar, fi fs.FileInfo) {
	unlock := f.lock(key)
	defer unlock()
	cur, err := f.dir.Lstat(dataName(key))
	if err != nil || !os.SameFile(cur, fi) || !sc.matches(cur) {
		return // replaced or changed since it was hashed
	}
	_ = f.writeSidecar(key, sc)
}
