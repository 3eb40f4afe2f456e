package vector

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"sync"

	"lakehouse/internal/disk"
)

// The log file of one generation of an index:
//
//	header  "lhvecwal" | version u32 | generation u64 | crc32c of the 20 bytes before, u32
//	record  length n u32 | crc32c of the length and payload u32 | payload, n bytes
//
// All integers are little-endian. Payloads are encoded by record.go.
// Records are only appended; a record whose length, payload or checksum is
// incomplete or wrong ends the log, as does everything after it.

const (
	walMagic      = "lhvecwal"
	walVersion    = 1
	walHeaderSize = 24
	// maxRecord bounds a record's length field, so a damaged one cannot ask
	// for an absurd allocation. The largest legal upsert is about 1000 x
	// (MaxText + MaxMetadata + 4*MaxDim).
	maxRecord = 1 << 31
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// A wal is an open log file that records are appended to. Appending and
// making durable are separate (add, then sync), so that a writer can add
// under the index's lock, release it, and then wait for the disk; writers
// that wait at the same time share one write and one fsync.
type wal struct {
	dir  *disk.Dir // the index's folder
	name string    // beneath dir
	gen  uint64

	mu    sync.Mutex // guards tail, added, size, err
	tail  []byte     // framed records not yet written
	added uint64     // sequence number of the last record added
	size  int64      // bytes in the file plus the tail
	err   error      // sticky: once a write or fsync fails, the file's state is unknown; see reopen

	syncMu  sync.Mutex // held by the one goroutine writing; guards f, durable and synced
	f       *disk.File
	durable uint64 // sequence number of the last record on disk
	synced  int64  // bytes of the file that the last successful fsync covered
}

// walName is the name of the log of generation gen in its index's folder.
func walName(gen uint64) string { return fmt.Sprintf("wal-%016x.log", gen) }

// newWAL returns the log of generation gen open as f, whose size bytes
// count as durable.
func newWAL(d *disk.Dir, gen uint64, f *disk.File, size int64) *wal {
	return &wal{dir: d, name: walName(gen), gen: gen, f: f, size: size, synced: size}
}

func walHeader(gen uint64) []byte {
	h := make([]byte, walHeaderSize)
	copy(h, walMagic)
	binary.LittleEndian.PutUint32(h[8:], walVersion)
	binary.LittleEndian.PutUint64(h[12:], gen)
	binary.LittleEndian.PutUint32(h[20:], crc32.Checksum(h[:20], castagnoli))
	return h
}

// createWAL starts the log of generation gen in d: it writes the header
// to a temporary file, fsyncs it, renames it into place and fsyncs d.
func createWAL(d *disk.Dir, gen uint64) (*wal, error) {
	name := walName(gen)
	if err := d.WriteAtomic(name, "", func(w io.Writer) error {
		_, err := w.Write(walHeader(gen))
		return err
	}); err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	f, err := d.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	return newWAL(d, gen, f, walHeaderSize), nil
}

// replayStats says what replaying a log found.
type replayStats struct {
	Records  int
	CutBytes int64 // bytes of a damaged tail cut off the file
}

// openWAL replays the log of generation gen in d, calling apply with each
// record's payload, cuts off a damaged tail with a warning, and returns the
// log ready to append to. apply must not keep the payload; an error from it
// counts as damage.
func openWAL(d *disk.Dir, gen uint64, apply func(payload []byte) error) (*wal, replayStats, error) {
	var st replayStats
	f, err := d.OpenFile(walName(gen), os.O_RDWR, 0)
	if err != nil {
		return nil, st, fmt.Errorf("open log: %w", err)
	}
	path := f.Path()
	fail := func(err error) (*wal, replayStats, error) {
		f.Close()
		return nil, st, err
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	good, why, err := replayRecords(f, gen, apply, &st)
	if err != nil {
		return fail(fmt.Errorf("read log %s: %w", path, err))
	}
	if good < walHeaderSize {
		// The header itself is damaged: nothing in the file counts. Start
		// it over.
		slog.Warn("vector index log has a damaged header; starting it again", "file", path, "reason", why)
		st.CutBytes = fi.Size()
		if err := f.Truncate(0); err != nil {
			return fail(err)
		}
		if _, err := f.WriteAt(walHeader(gen), 0); err != nil {
			return fail(err)
		}
		good = walHeaderSize
	} else if cut := fi.Size() - good; cut > 0 {
		slog.Warn("vector index log ends in a damaged record; cutting it off, with everything after it",
			"file", path, "offset", good, "bytes", cut, "reason", why)
		st.CutBytes = cut
		if err := f.Truncate(good); err != nil {
			return fail(err)
		}
	}
	if st.CutBytes > 0 {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		return fail(err)
	}
	// What a crash left unsynced in the file was replayed like the rest,
	// and the next fsync covers it: from here on, all of it counts as
	// durable.
	return newWAL(d, gen, f, good), st, nil
}

// replayRecords reads a log from src's start and returns the offset after
// the last good record (0 if the header is bad) and, when that is not the
// end of src, why the next record was refused. Only I/O errors are
// returned as errors.
func replayRecords(src io.Reader, gen uint64, apply func([]byte) error, st *replayStats) (good int64, why string, err error) {
	r := bufio.NewReaderSize(src, 1<<20)
	var h [walHeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, "short header", nil
		}
		return 0, "", err
	}
	switch {
	case string(h[:8]) != walMagic:
		return 0, "not a vector index log", nil
	case crc32.Checksum(h[:20], castagnoli) != binary.LittleEndian.Uint32(h[20:]):
		return 0, "header checksum mismatch", nil
	case binary.LittleEndian.Uint32(h[8:]) != walVersion:
		return 0, fmt.Sprintf("unknown log version %d", binary.LittleEndian.Uint32(h[8:])), nil
	case binary.LittleEndian.Uint64(h[12:]) != gen:
		return 0, fmt.Sprintf("header says generation %d, the file name %d", binary.LittleEndian.Uint64(h[12:]), gen), nil
	}
	good = walHeaderSize
	var payload []byte
	for {
		var fr [8]byte
		if _, err := io.ReadFull(r, fr[:]); err != nil {
			switch {
			case errors.Is(err, io.EOF):
				return good, "", nil
			case errors.Is(err, io.ErrUnexpectedEOF):
				return good, "torn record frame", nil
			}
			return good, "", err
		}
		n := binary.LittleEndian.Uint32(fr[:4])
		if int64(n) > maxRecord {
			return good, fmt.Sprintf("record length %d is impossible", n), nil
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return good, "torn record", nil
			}
			return good, "", err
		}
		crc := crc32.Update(crc32.Checksum(fr[:4], castagnoli), castagnoli, payload)
		if crc != binary.LittleEndian.Uint32(fr[4:]) {
			return good, "record checksum mismatch", nil
		}
		if err := apply(payload); err != nil {
			return good, "record does not decode: " + err.Error(), nil
		}
		st.Records++
		good += 8 + int64(n)
	}
}

// add appends a record with payload to the log's tail and returns its
// sequence number. It is not durable until sync(seq) returns nil.
func (w *wal) add(payload []byte) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	var fr [8]byte
	binary.LittleEndian.PutUint32(fr[:4], uint32(len(payload)))
	crc := crc32.Update(crc32.Checksum(fr[:4], castagnoli), castagnoli, payload)
	binary.LittleEndian.PutUint32(fr[4:], crc)
	w.tail = append(append(w.tail, fr[:]...), payload...)
	w.size += 8 + int64(len(payload))
	w.added++
	return w.added, nil
}

// sync returns once record seq and every record before it are on disk. The
// first caller to arrive writes and fsyncs everything added so far; those
// arriving meanwhile wait for it and usually find their record already
// written.
func (w *wal) sync(seq uint64) error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	if w.durable >= seq {
		return nil
	}
	return w.flushLocked()
}

// flushLocked writes and fsyncs the tail; syncMu is held.
func (w *wal) flushLocked() error {
	w.mu.Lock()
	buf, upto, err := w.tail, w.added, w.err
	w.tail = nil
	w.mu.Unlock()
	if err != nil {
		return err
	}
	if len(buf) == 0 {
		w.durable = upto
		return nil
	}
	if w.f == nil {
		err = errors.New("log is closed")
	} else if _, err = w.f.Write(buf); err == nil {
		err = w.f.Sync()
	}
	if err != nil {
		err = fmt.Errorf("write log: %w", err) // err names the file
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
		return err
	}
	w.durable = upto
	w.synced += int64(len(buf))
	return nil
}

// failed returns the error that broke the log (a write or fsync that
// failed, or close), or nil.
func (w *wal) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// syncedBytes returns how many bytes of the file the last successful
// fsync covered.
func (w *wal) syncedBytes() int64 {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	return w.synced
}

// reopen returns a log that carries on from w after a write or fsync of w
// failed, built from what is durable on disk rather than from what w's
// file may hold: it closes w's file, opens it again, cuts it back to the
// bytes that w's last successful fsync covered (whatever the failed write
// left after them may be in the page cache only, or partly on disk, and
// must not be followed by new records), and fsyncs the cut. The failed
// fsync is never retried. The records w failed to write stay failed:
// their writers were told so.
func (w *wal) reopen() (*wal, error) {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	if w.f != nil {
		w.f.Close() // its state is unknown, and so is what closing it reports
		w.f = nil
	}
	f, err := w.dir.OpenFile(w.name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("reopen log: %w", err)
	}
	if err := f.Truncate(w.synced); err != nil {
		f.Close()
		return nil, fmt.Errorf("reopen log: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("reopen log: %w", err)
	}
	return newWAL(w.dir, w.gen, f, w.synced), nil
}

// flush makes every record added so far durable.
func (w *wal) flush() error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	return w.flushLocked()
}

// bytes is the size the log has or will have once flushed.
func (w *wal) bytes() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size
}

// close flushes the log and closes its file. Later syncs of records it
// already wrote still succeed.
func (w *wal) close() error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.flushLocked()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	w.mu.Lock()
	if w.err == nil {
		w.err = errors.New("log is closed")
	}
	w.mu.Unlock()
	return err
}
