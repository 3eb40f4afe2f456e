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
	"lakehouse/internal/replay"
)

// The log file of one generation of an index:
//
//	header  "lhvecwal" | version u32 | generation u64 | crc32c of the 20 bytes before, u32
//	record  length n u32 | crc32c of the length and payload u32 | payload, n bytes
//
// All integers are little-endian. Payloads are encoded by record.go.
// Records are only appended. Damage is handled by package replay's policy,
// the event log's too: see openWAL.

const (
	walMagic      = "lhvecwal"
	walVersion    = 1
	walHeaderSize = 24
	// maxRecord bounds a record's length field, so a damaged one cannot ask
	// for an absurd allocation. The largest legal upsert is about 1000 x
	// (MaxText + MaxMetadata + 4*MaxDim).
	maxRecord = 1 << 31
)

var castagnoli = replay.Castagnoli

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
type replayStats = replay.Stats

// openWAL replays the log of generation gen in d, calling apply with each
// record's payload, repairs it by the damage policy of package replay
// (shared with the event log: a torn tail is cut, a damaged record in the
// middle skipped), and returns the log ready to append to. A damaged header makes nothing in the file count: the log
// starts over. apply must not keep the payload; an error from it counts as
// damage.
func openWAL(d *disk.Dir, gen uint64, apply func(payload []byte) error) (*wal, replayStats, error) {
	name := walName(gen)
	f, err := d.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, replayStats{}, fmt.Errorf("open log: %w", err)
	}
	res, err := scanWAL(f, -1, gen, apply)
	if err == nil && res.End < walHeaderSize {
		slog.Warn("vector index log has a damaged header; starting it again", "file", f.Path())
		res.TornBytes, res.End = 0, walHeaderSize
		if err = f.Truncate(0); err == nil {
			_, err = f.WriteAt(walHeader(gen), 0)
		}
		if err == nil {
			err = f.Sync()
		}
	} else if err == nil {
		err = replay.Repair(f, res)
	}
	if err == nil {
		_, err = f.Seek(res.End, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, res.Stats, fmt.Errorf("open log %s: %w", f.Path(), err)
	}
	// What a crash left unsynced in the file was replayed like the rest,
	// and the next fsync covers it: from here on, all of it counts as
	// durable.
	return newWAL(d, gen, f, res.End), res.Stats, nil
}

// scanWAL reads the first size bytes of the log of generation gen open as
// f (size < 0: all of it), applying each good record. res.End is 0 when the
// header is damaged. Only I/O errors are returned as errors.
func scanWAL(f *disk.File, size int64, gen uint64, apply func([]byte) error) (replay.Result, error) {
	if size < 0 {
		fi, err := f.Stat()
		if err != nil {
			return replay.Result{}, err
		}
		size = fi.Size()
	}
	var h [walHeaderSize]byte
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, size), h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return replay.Result{}, nil
		}
		return replay.Result{}, err
	}
	if string(h[:8]) != walMagic || crc32.Checksum(h[:20], castagnoli) != binary.LittleEndian.Uint32(h[20:]) ||
		binary.LittleEndian.Uint32(h[8:]) != walVersion || binary.LittleEndian.Uint64(h[12:]) != gen {
		return replay.Result{}, nil
	}
	rs := &recordScanner{f: f, size: size}
	rs.seek(walHeaderSize)
	return replay.Scan(f.Path(), walHeaderSize, size, rs.next, apply, nil)
}

// A recordScanner frames the records of a log for package replay. Past a
// bad record it finds the next one by its checksum: a damaged length hides
// where the next record starts, and treating it as the end would drop every
// acknowledged record after it.
type recordScanner struct {
	f       io.ReaderAt
	size    int64 // bytes of the log to read
	off     int64 // where the next record starts
	r       *bufio.Reader
	payload []byte
}

func (s *recordScanner) seek(off int64) {
	s.off = off
	s.r = bufio.NewReaderSize(io.NewSectionReader(s.f, off, s.size-off), 1<<20)
}

// next is a replay.Framing.
func (s *recordScanner) next() ([]byte, int64, error) {
	if s.off == s.size {
		return nil, 0, io.EOF
	}
	var fr [replay.FrameHeader]byte
	if _, err := io.ReadFull(s.r, fr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, 0, replay.ErrTorn
		}
		return nil, 0, err
	}
	// A length past the end of the log cannot be read, whatever it is;
	// checking it first also keeps a damaged one from asking for more
	// memory than the file holds.
	n := replay.FrameLen(fr[:])
	if n > maxRecord || s.off+replay.FrameHeader+n > s.size {
		return s.resync("record length %d runs past the end of the log", n)
	}
	if int64(cap(s.payload)) < n {
		s.payload = make([]byte, n)
	}
	s.payload = s.payload[:n]
	if _, err := io.ReadFull(s.r, s.payload); err != nil {
		return nil, 0, err
	}
	if !replay.FrameChecks(fr[:], s.payload) {
		return s.resync("record checksum mismatch (length %d)", n)
	}
	s.off += replay.FrameHeader + n
	return s.payload, replay.FrameHeader + n, nil
}

// resync looks past the bad record at s.off for the next offset where a
// whole record checks, and reports the bytes up to it as bad; with none,
// the bad record is a torn tail. It reads the rest of the log into memory,
// which only damage costs.
func (s *recordScanner) resync(format string, n int64) ([]byte, int64, error) {
	rest := make([]byte, s.size-s.off)
	if _, err := s.f.ReadAt(rest, s.off); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	p := replay.NextFrame(rest, maxRecord)
	if p < 0 {
		return nil, 0, replay.ErrTorn
	}
	s.seek(s.off + int64(p))
	return nil, 0, &replay.BadRecord{Size: int64(p), Reason: fmt.Sprintf(format, n)}
}

// add appends a record with payload to the log's tail and returns its
// sequence number. It is not durable until sync(seq) returns nil.
func (w *wal) add(payload []byte) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	w.tail = replay.AppendFrame(w.tail, payload)
	w.size += replay.FrameHeader + int64(len(payload))
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
