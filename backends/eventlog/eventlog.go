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
// caller, who decodes it (Unmarshal is the fast way) and applies it. A line
// that is not JSON or that the caller refuses is skipped with a warning; a torn last line (no newline: a write cut short by a crash)
// is cut off the file with a warning. Neither stops the start.
//
// Compact rewrites the log as the caller's current state (temp file, fsync,
// rename, fsync directory), so a crash leaves either the old log or the new.
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
	"sync"
	"time"

	fastjson "github.com/segmentio/encoding/json"
)

// MaxLine is the longest line Open replays; longer lines are skipped as malformed.
const MaxLine = 16 << 20

// ReplayStats says what Open found.
type ReplayStats struct {
	Records   int   // lines applied
	Skipped   int   // malformed lines, or lines apply refused
	TornBytes int64 // bytes of a torn last line cut off the file
}

// Log is an open log file. It is safe for concurrent use.
type Log struct {
	path string

	mu    sync.Mutex // guards tail, added, err, size
	tail  []byte     // encoded records not yet written
	added uint64     // sequence number of the last record added
	err   error      // sticky: after a failed write or fsync, the file's state is unknown
	size  int64      // bytes in the file plus the tail

	syncMu  sync.Mutex // one flusher at a time; holds f
	f       *os.File
	durable uint64 // sequence number of the last record on disk (under syncMu)

	stop chan struct{}
	done chan struct{}
}

// Open opens (creating if needed) the log at path, calls apply for each
// record in order, and returns the log ready for appends. apply's error
// skips that record with a warning.
func Open(path string, apply func(line []byte) error) (*Log, ReplayStats, error) {
	var st ReplayStats
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, st, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, st, fmt.Errorf("open log: %w", err)
	}
	good, err := replay(f, path, apply, &st)
	if err != nil {
		f.Close()
		return nil, st, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, st, err
	}
	if torn := fi.Size() - good; torn > 0 {
		slog.Warn("log ends in a torn line; cutting it off", "log", path, "bytes", torn)
		st.TornBytes = torn
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, st, fmt.Errorf("truncate torn log tail: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, st, err
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, st, err
	}
	return &Log{path: path, f: f, size: good}, st, nil
}

// replay applies every complete line of f and returns the offset after the
// last complete line: what follows it is a torn line.
func replay(f *os.File, path string, apply func([]byte) error, st *ReplayStats) (int64, error) {
	r := bufio.NewReaderSize(f, 1<<20)
	var (
		off     int64  // end of the last complete line
		partial int64  // bytes of the current line read so far, when it spans buffers
		line    []byte // the current line, unless it is too long
		long    bool   // the current line is longer than MaxLine
	)
	for {
		chunk, err := r.ReadSlice('\n')
		switch {
		case err == nil:
		case errors.Is(err, bufio.ErrBufferFull):
			partial += int64(len(chunk))
			if !long {
				line = append(line, chunk...)
				long = len(line) > MaxLine
			}
			continue
		case errors.Is(err, io.EOF):
			return off, nil
		default:
			return 0, fmt.Errorf("read log %s: %w", path, err)
		}
		off += partial + int64(len(chunk))
		partial = 0
		if !long {
			line = append(line, chunk...)
			long = len(line) > MaxLine
		}
		if long {
			long, line = false, line[:0]
			st.Skipped++
			slog.Warn("skipping an over-long log line", "log", path, "ends_at", off)
			continue
		}
		if body := bytes.TrimSpace(line); len(body) > 0 {
			if err := apply(body); err != nil {
				st.Skipped++
				slog.Warn("skipping a malformed log line", "log", path, "ends_at", off, "err", err)
			} else {
				st.Records++
			}
		}
		line = line[:0]
	}
}

// Unmarshal decodes a log line into v as encoding/json does, some twice as
// fast: replay time is mostly decoding.
func Unmarshal(line []byte, v any) error { return fastjson.Unmarshal(line, v) }

// Add encodes v as the next record and returns its sequence number. The
// record is not durable until Sync(seq) returns nil.
func (l *Log) Add(v any) (uint64, error) {
	b, err := fastjson.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode log record: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	l.tail = append(append(l.tail, b...), '\n')
	l.size += int64(len(b)) + 1
	l.added++
	return l.added, nil
}

// Sync returns once record seq and all before it are on disk.
func (l *Log) Sync(seq uint64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.durable >= seq {
		return nil
	}
	return l.flushLocked()
}

// Append adds v and waits until it is durable.
func (l *Log) Append(v any) error {
	seq, err := l.Add(v)
	if err != nil {
		return err
	}
	return l.Sync(seq)
}

// flushLocked writes the tail and fsyncs; syncMu is held.
func (l *Log) flushLocked() error {
	l.mu.Lock()
	buf, upto, err := l.tail, l.added, l.err
	l.tail = nil
	l.mu.Unlock()
	if err != nil {
		return err
	}
	if len(buf) > 0 {
		if _, err := l.f.Write(buf); err != nil {
			return l.fail(fmt.Errorf("write log %s: %w", l.path, err))
		}
		if err := l.f.Sync(); err != nil {
			return l.fail(fmt.Errorf("fsync log %s: %w", l.path, err))
		}
	}
	l.durable = upto
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

// Compact replaces the log with the records that write emits, which must be
// the caller's whole current state. The caller must keep Add from being
// called until Compact returns (for instance by holding the lock under which
// it adds and applies records), so that no record is lost in the swap.
func (l *Log) Compact(write func(emit func(v any) error) error) (err error) {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if err := l.flushLocked(); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(l.path), filepath.Base(l.path)+".compact-*")
	if err != nil {
		return fmt.Errorf("compact log: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
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
	if err := os.Rename(tmp.Name(), l.path); err != nil {
		return fmt.Errorf("compact log: %w", err)
	}
	if err := syncDir(filepath.Dir(l.path)); err != nil {
		return l.fail(fmt.Errorf("compact log: %w", err))
	}
	// The temp file is now the log, positioned at its end.
	l.f.Close()
	l.f = tmp
	l.mu.Lock()
	l.size = size
	l.mu.Unlock()
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
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
	err := errors.Join(l.flushLocked(), l.f.Close())
	l.f = nil
	l.fail(ErrClosed)
	return err
}

// ErrClosed is returned by Add and Sync after Close.
var ErrClosed = errors.New("log is closed")
