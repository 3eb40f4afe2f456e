// Package eventlog is the durable append-only log that pathway memory and the
// observer keep their state in: one JSON value per line.
//
// The discipline is persist, then acknowledge. Add encodes a record into an
// in-memory tail and returns its sequence number at once, so a caller can
// add and apply a change under its own lock; Sync(seq) returns once that
// record is on disk. Concurrent Syncs share one write and one fsync (group
// commit): while one caller flushes, the others queue, and the next flush
// takes everything added meanwhile.
//
// Replay on Open reads the file line by line and hands each line to the
// caller, who decodes it (Unmarshal is the fast way) and applies it. Damage
// follows the policy of package replay, shared with the vector logs: a torn
// tail (a last line without its newline, or bad lines with no good one
// after them) is cut off with a warning; a bad line in the middle (not JSON,
// over-long, or refused by the caller) is skipped with a warning. Neither
// stops the start.
//
// A failed write or fsync fails the records waiting for it, and leaves the
// file's state unknown. The next Add reopens the file and cuts it back to
// what the last good fsync made durable, rather than trusting a retried
// fsync; the failed records are gone, as their callers were told.
//
// Compact rewrites the log as the caller's current state, or the part of it
// not kept elsewhere (temp file, fsync, rename, fsync directory), so a crash
// leaves either the old log or the new.
//
// Every file operation goes through a disk.Dir rooted at the log's folder,
// which refuses symbolic links.
package eventlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	fastjson "github.com/segmentio/encoding/json"

	"lakehouse/internal/disk"
	"lakehouse/internal/replay"
)

// MaxLine is the longest line Open replays; longer lines are skipped as malformed.
const MaxLine = 16 << 20

// ReplayStats says what Open found.
type ReplayStats = replay.Stats

// Log is an open log file. It is safe for concurrent use.
type Log struct {
	dir  *disk.Dir // the log's folder
	name string    // the log's file name in dir
	path string    // for messages

	mu     sync.Mutex // guards tail, added, err, size, broken
	tail   []byte     // encoded records not yet written
	added  uint64     // sequence number of the last record added
	err    error      // sticky, after Close or a failed reopen
	broken bool       // a write or fsync failed: reopen before the next write
	size   int64      // bytes in the file plus the tail

	syncMu      sync.Mutex // one flusher at a time; holds f
	f           *disk.File
	durable     uint64     // sequence number of the last record on disk (under syncMu)
	durableSize int64      // bytes of the file known to be on disk (under syncMu)
	lost        []seqRange // records whose flush failed, which later flushes do not cover (under syncMu)
	unlinked    bool       // the folder's fsync after a compaction's rename failed (under syncMu)

	stop chan struct{}
	done chan struct{}
}

// Open opens (creating if needed) the log at path, calls apply for each
// record in order, and returns the log ready for appends. apply's error
// skips that record with a warning.
func Open(path string, apply func(line []byte) error) (*Log, ReplayStats, error) {
	return openWith(path, 0, inOrder(apply))
}

// inOrder is the replayer of openWith that applies each line as it is read.
func inOrder(apply func(line []byte) error) func(replay.Framing) (replay.Framing, func([]byte) error) {
	return func(lines replay.Framing) (replay.Framing, func([]byte) error) { return lines, apply }
}

// OpenDecoded is Open for records that take long to decode: decode reads
// records ahead of apply, on every CPU (see [replay.Ahead]), and apply
// takes them decoded, in order. decode's error skips that record with a
// warning, as apply's does. decode must not keep its line, whose bytes
// are reused. Replay starts at byte from, a record boundary: a caller that
// keeps the state of the log's first bytes elsewhere (a snapshot) skips
// them.
func OpenDecoded[T any](path string, from int64, decode func(line []byte) (T, error), apply func(T) error) (*Log, ReplayStats, error) {
	return openWith(path, from, func(lines replay.Framing) (replay.Framing, func([]byte) error) {
		ahead, decoded := replay.Ahead(lines, aheadRecords, aheadBytes, decode)
		return ahead, func([]byte) error {
			v, err := decoded()
			if err != nil {
				return err
			}
			return apply(v)
		}
	})
}

// Windows of records OpenDecoded decodes ahead: many records, and few
// megabytes, so that the two windows it keeps stay small beside the state
// the records build.
const (
	aheadRecords = 4096
	aheadBytes   = 4 << 20
)

// openWith is Open, replaying from byte from through what replayer makes
// of the log's lines: the framing to scan and the function to apply each
// record with.
func openWith(path string, from int64, replayer func(replay.Framing) (replay.Framing, func([]byte) error)) (*Log, ReplayStats, error) {
	dir, err := disk.Open(filepath.Dir(path))
	if err != nil {
		return nil, ReplayStats{}, fmt.Errorf("open log: %w", err)
	}
	l := &Log{dir: dir, name: filepath.Base(path), path: path}
	st, err := l.open(from, replayer)
	if err == nil {
		err = l.removeCompactions()
	}
	if err == nil {
		err = dir.SyncDir(".") // the file may be new
	}
	if err != nil {
		dir.Close()
		return nil, st, err
	}
	return l, st, nil
}

// open opens the file, replays it from byte from as replayer says (see
// openWith) and repairs it by the damage policy; syncMu is held or l is
// not shared.
func (l *Log) open(from int64, replayer func(replay.Framing) (replay.Framing, func([]byte) error)) (ReplayStats, error) {
	f, err := l.dir.OpenFile(l.name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return ReplayStats{}, fmt.Errorf("open log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return ReplayStats{}, err
	}
	if from > fi.Size() {
		f.Close()
		return ReplayStats{}, fmt.Errorf("open log %s: it has %d bytes, and replay is to start at byte %d", l.path, fi.Size(), from)
	}
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		f.Close()
		return ReplayStats{}, err
	}
	framing, apply := replayer(lines(f))
	res, err := replay.Scan(l.path, from, fi.Size(), framing, apply, nil)
	if err == nil {
		err = replay.Repair(f, res)
	}
	if err == nil {
		_, err = f.Seek(res.End, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return res.Stats, err
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.durableSize = f, res.End
	l.mu.Lock()
	l.size = res.End + int64(len(l.tail))
	l.mu.Unlock()
	return res.Stats, nil
}

// Reload writes what was added, then replays the log's durable records
// from byte from through apply as Open does. After a failed write or
// fsync, a caller whose state ran ahead of the disk rebuilds it this way
// from what is on disk; the records the failure lost are not replayed.
func (l *Log) Reload(from int64, apply func(line []byte) error) (ReplayStats, error) {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	err := l.err
	l.mu.Unlock()
	if err != nil {
		return ReplayStats{}, err
	}
	_ = l.flushLocked() // what it fails to write is marked lost
	l.mu.Lock()
	broken := l.broken
	l.mu.Unlock()
	if broken {
		if err := l.reopen(); err != nil {
			return ReplayStats{}, fmt.Errorf("reopen log %s: %w", l.path, err)
		}
	}
	return l.open(from, inOrder(apply))
}

// removeCompactions removes the temp files of compactions that a crash
// interrupted: the log itself is whole without them.
func (l *Log) removeCompactions() error {
	entries, err := l.dir.ReadDir(".")
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), l.name+".compact-") {
			if err := l.dir.Remove(e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// lines frames the log for package replay: one record per line, blank
// lines folded into the next record.
func lines(f *disk.File) replay.Framing {
	r := bufio.NewReaderSize(f, 1<<20)
	var line []byte
	return func() ([]byte, int64, error) {
		var size int64
		for {
			line = line[:0]
			n, long, err := readLine(r, &line)
			size += n
			switch {
			case err == io.EOF && n > 0:
				return nil, size, replay.ErrTorn
			case err != nil:
				return nil, size, err
			case long:
				return nil, size, &replay.BadRecord{Size: size, Reason: fmt.Sprintf("line longer than %d bytes", MaxLine)}
			}
			if body := bytes.TrimSpace(line); len(body) > 0 {
				return body, size, nil
			}
		}
	}
}

// readLine reads one line of r, newline included, into *line unless it is
// longer than MaxLine, and returns its length. At the end of the file it
// returns io.EOF, with n > 0 when a last line has no newline.
func readLine(r *bufio.Reader, line *[]byte) (n int64, long bool, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		n += int64(len(chunk))
		if !long {
			*line = append(*line, chunk...)
			long = len(*line) > MaxLine
		}
		switch {
		case err == nil:
			return n, long, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return n, long, io.EOF
		default:
			return n, long, err
		}
	}
}

// Unmarshal decodes a log line into v as encoding/json does, some twice as
// fast: replay time is mostly decoding.
func Unmarshal(line []byte, v any) error { return fastjson.Unmarshal(line, v) }

// Marshal encodes v as Add encodes a record, for a record kept elsewhere
// than a log (the pathway's rows in PostgreSQL) that Unmarshal decodes.
func Marshal(v any) ([]byte, error) { return fastjson.Marshal(v) }

// Add encodes v as the next record and returns its sequence number. The
// record is not durable until Sync(seq) returns nil.
func (l *Log) Add(v any) (uint64, error) {
	b, err := Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode log record: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	if len(b)+1 > MaxLine {
		return 0, fmt.Errorf("encode log record: %d bytes is over the limit of %d", len(b)+1, MaxLine)
	}
	l.tail = append(append(l.tail, b...), '\n')
	l.size += int64(len(b)) + 1
	l.added++
	return l.added, nil
}

// seqRange is the records from through to, inclusive.
type seqRange struct{ from, to uint64 }

// maxLost bounds the failed flushes remembered; the oldest are merged.
const maxLost = 64

// Sync returns once record seq is on disk, or fails if a failed write or
// fsync lost it. Records before seq that a failure lost stay lost (see
// Lost).
func (l *Log) Sync(seq uint64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.durable < seq {
		if err := l.flushLocked(); err != nil {
			return err
		}
	}
	for _, r := range l.lost {
		if r.from <= seq && seq <= r.to {
			return fmt.Errorf("log %s: record %d was lost to a failed write; check and retry", l.path, seq)
		}
	}
	return nil
}

// Lost is the highest sequence number of a record that a failed write or
// fsync lost, 0 if none was: a caller that tracks which of its records are
// durable asks Sync about each record up to it.
func (l *Log) Lost() uint64 {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if n := len(l.lost); n > 0 {
		return l.lost[n-1].to
	}
	return 0
}

// Append adds v and waits until it is durable.
func (l *Log) Append(v any) error {
	seq, err := l.Add(v)
	if err != nil {
		return err
	}
	return l.Sync(seq)
}

// flushLocked writes the tail and fsyncs; syncMu is held. After a failed
// write or fsync it reopens the file first (see the package doc).
func (l *Log) flushLocked() error {
	l.mu.Lock()
	buf, upto, err, broken := l.tail, l.added, l.err, l.broken
	l.tail = nil
	l.mu.Unlock()
	if err != nil {
		return err
	}
	// A failed write is cut back before the next one, or now if there is
	// none: Close may come first.
	if broken {
		if err := l.reopen(); err != nil {
			return fmt.Errorf("reopen log %s after a failed write: %w", l.path, err)
		}
	}
	if len(buf) == 0 {
		l.durable = upto
		return nil
	}
	if _, err := l.f.Write(buf); err != nil {
		return l.failed(l.durable+1, upto, fmt.Errorf("write log %s: %w", l.path, err))
	}
	if err := l.f.Sync(); err != nil {
		return l.failed(l.durable+1, upto, fmt.Errorf("fsync log %s: %w", l.path, err))
	}
	l.durable = upto
	l.durableSize += int64(len(buf))
	return nil
}

// failed marks the file's state unknown after err, so the next flush
// reopens it, and records from through to as lost; syncMu is held.
func (l *Log) failed(from, to uint64, err error) error {
	if from <= to {
		l.lost = append(l.lost, seqRange{from, to})
		if len(l.lost) > maxLost {
			l.lost[1].from = l.lost[0].from // may fail a few good records' late Syncs; never passes a lost one
			l.lost = l.lost[1:]
		}
		l.durable = to // they will not be written again
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.broken = true
	return err
}

// reopen opens the log file again and cuts it back to the bytes the last
// good fsync made durable, and makes a compaction's rename durable if its
// fsync failed, so that no record is written to a file its name may not
// lead to after a power cut; syncMu is held.
func (l *Log) reopen() error {
	if l.unlinked {
		if err := l.dir.SyncDir("."); err != nil {
			return err
		}
		l.unlinked = false
	}
	f, err := l.dir.OpenFile(l.name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Truncate(l.durableSize); err == nil {
		err = f.Sync()
	}
	if err == nil {
		_, err = f.Seek(l.durableSize, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return err
	}
	l.f.Close()
	l.f = f
	l.mu.Lock()
	l.broken = false
	l.size = l.durableSize + int64(len(l.tail))
	l.mu.Unlock()
	return nil
}

func (l *Log) fail(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = err
	}
	return l.err
}

// SyncEvery flushes the log every interval in the background until Close,
// for records whose writers do not wait with Sync.
func (l *Log) SyncEvery(interval time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop != nil {
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	l.stop, l.done = stop, done
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				l.mu.Lock()
				seq := l.added
				l.mu.Unlock()
				if err := l.Sync(seq); err != nil {
					slog.Warn("background log flush failed", "log", l.path, "err", err)
				}
			}
		}
	}()
}

// Size is the length of the log in bytes, including records not yet flushed.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// Compact replaces the log with the records that write emits: the caller's
// whole current state, or as much of it as it keeps in the log rather than
// elsewhere (a snapshot written first). The caller must keep Add from being
// called until Compact returns (for instance by holding the lock under which
// it adds and applies records), so that no record is lost in the swap.
func (l *Log) Compact(write func(emit func(v any) error) error) (err error) {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if err := l.flushLocked(); err != nil {
		return err
	}
	tmp, err := l.dir.CreateTemp(".", l.name+".compact-*")
	if err != nil {
		return fmt.Errorf("compact log: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			l.dir.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	var size int64
	err = write(func(v any) error {
		b, err := fastjson.Marshal(v)
		if err != nil {
			return err
		}
		size += int64(len(b)) + 1
		w.Write(b)
		return w.WriteByte('\n')
	})
	if err != nil {
		return fmt.Errorf("compact log: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("compact log: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("compact log: %w", err)
	}
	if err := l.dir.Rename(tmp.Name(), l.name); err != nil {
		return fmt.Errorf("compact log: %w", err)
	}
	// The temp file is now the log, positioned at its end.
	l.f.Close()
	l.f, l.durableSize = tmp, size
	l.mu.Lock()
	l.size = size
	l.mu.Unlock()
	if err := l.dir.SyncDir("."); err != nil {
		// The rename may not be durable: the old log may come back after a
		// power cut, or the new one; both hold the state. Reopen, and
		// fsync the folder, before the next write.
		l.unlinked = true
		return l.failed(1, 0, fmt.Errorf("compact log: %w", err))
	}
	return nil
}

// Close flushes what was added and closes the file. Later calls do nothing.
func (l *Log) Close() error {
	l.mu.Lock()
	stop, done := l.stop, l.done
	l.stop = nil
	l.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.f == nil {
		return nil
	}
	err := errors.Join(l.flushLocked(), l.f.Close(), l.dir.Close())
	l.f = nil
	l.fail(ErrClosed)
	return err
}

// ErrClosed is returned by Add and Sync after Close.
var ErrClosed = errors.New("log is closed")
