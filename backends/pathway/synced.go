package pathway

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"path"

	"lakehouse/internal/disk"
)

// A clean Close records in <dir>/index.synced that the search index held
// every trace of the log as it was, so that the next Open can skip
// comparing each trace with the index (reconcile), which is most of what
// opening a large memory costs. Open reads the record and removes it
// before any write, so it only ever describes the log it was written
// beside (see takeSynced). A log that is not the same size with the same last bytes, or an
// index whose fingerprint differs (see vector.Manager.Fingerprint), is
// compared as before. After a crash there is no record, and every trace
// is compared.
const syncedName = "index.synced"

// synced is what a clean Close records.
type synced struct {
	LogBytes int64  `json:"log_bytes"` // the log's size
	LogTail  uint32 `json:"log_tail"`  // CRC-32C of its last tailBytes
	Index    uint64 `json:"index"`     // the index's fingerprint
}

const tailBytes = 4 << 10

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// logTail returns the checksum of the last tailBytes of the log, which is
// size bytes long.
func logTail(d *disk.Dir, size int64) (uint32, error) {
	f, err := d.Open(logName)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := min(size, tailBytes)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, size-n); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	return crc32.Checksum(buf, castagnoli), nil
}

// writeSynced records that the index, of fingerprint index, holds the
// traces of the log, which is size bytes long and no longer written.
func writeSynced(d *disk.Dir, size int64, index uint64) error {
	tail, err := logTail(d, size)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(synced{LogBytes: size, LogTail: tail, Index: index})
	return d.WriteAtomic(syncedName, "", func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// takeSynced returns what a clean Close recorded if it describes the log
// as it is now, size bytes long, or nil, and removes the record.
func takeSynced(d *disk.Dir, size int64) (*synced, error) {
	b, err := d.ReadFile(syncedName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var s *synced
	if err == nil && json.Unmarshal(b, &s) == nil && s != nil && s.LogBytes == size {
		if tail, err := logTail(d, size); err != nil || tail != s.LogTail {
			s = nil
		}
	} else {
		s = nil
	}
	// Should the removal be lost in a crash, the record comes back beside
	// a log that has changed since (and is refused) or has not, in which
	// case it still holds.
	if err := d.Remove(syncedName); err != nil {
		return nil, fmt.Errorf("remove %s: %w", syncedName, err)
	}
	if s == nil {
		slog.Info("trace index: the log changed since the index was last in step with it; every trace is compared with the index")
	}
	return s, nil
}

// removeLeftovers removes temp files of a record whose write was cut off.
func removeLeftovers(d *disk.Dir) {
	entries, err := d.ReadDir(".")
	if err != nil {
		return
	}
	for _, e := range entries {
		if matched, _ := path.Match(syncedName+"-*.tmp", e.Name()); matched {
			d.Remove(e.Name())
		}
	}
}
