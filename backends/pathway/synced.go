package pathway

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"path"

	"lakehouse/internal/disk"
)

// A clean Close records in <dir>/index.synced that the search index held
// every trace of the log as it was, so that the next Open can skip
// comparing each trace with the index (reconcile), which is most of what
// opening a large memory costs. The record holds the log's size and
// checksum and the index's fingerprint (see vector.Manager.Fingerprint);
// Open removes it before any write, and trusts it only if the log is as
// long as it says, with that checksum still, and the index has that
// fingerprint. Otherwise (the log or the index was restored,
// edited or damaged since), and after a crash, which leaves no record,
// every trace is compared.
const syncedName = "index.synced"

// synced is what a clean Close records.
type synced struct {
	LogBytes int64  `json:"log_bytes"` // the log's size
	Log      uint32 `json:"log"`       // CRC-32C of the log
	Index    uint64 `json:"index"`     // the index's fingerprint
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// logSum returns the checksum of the first size bytes of the log.
func logSum(d *disk.Dir, size int64) (uint32, error) {
	f, err := d.Open(logName)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	if n, err := io.Copy(h, io.LimitReader(f, size)); err != nil || n != size {
		return 0, fmt.Errorf("read %s: %d of %d bytes (%v)", logName, n, size, err)
	}
	return h.Sum32(), nil
}

// logSumIs reports whether the first size bytes of the log have checksum
// sum.
func logSumIs(d *disk.Dir, size int64, sum uint32) bool {
	got, err := logSum(d, size)
	return err == nil && got == sum
}

// writeSynced records that the index, of fingerprint index, holds the
// traces of the log, which is size bytes long and no longer written.
func writeSynced(d *disk.Dir, size int64, index uint64) error {
	sum, err := logSum(d, size)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(synced{LogBytes: size, Log: sum, Index: index})
	return d.WriteAtomic(syncedName, "", func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// takeSynced returns what a clean Close recorded, or nil, and removes the
// record: whatever happens next, it describes this log and index no more.
func takeSynced(d *disk.Dir) (*synced, error) {
	b, err := d.ReadFile(syncedName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var s *synced
	if err != nil || json.Unmarshal(b, &s) != nil {
		s = nil
	}
	// Should the removal be lost in a crash, the record comes back beside
	// a log that has changed since (and is refused) or has not, in which
	// case it still holds.
	if err := d.Remove(syncedName); err != nil {
		return nil, fmt.Errorf("remove %s: %w", syncedName, err)
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
