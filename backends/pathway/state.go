package pathway

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strings"

	"lakehouse/backends/eventlog"
	"lakehouse/internal/disk"
)

// The state on disk is the snapshot (snapshot.go) and the log of what
// changed after it. This file decides which of the log's records replay
// applies on top of the snapshot, and writes both at compaction.

// A logHead is what the first record of the log says.
type logHead struct {
	gen   uint64 // the log's generation; 0 for a log without a base record
	known bool   // false if the first line does not decode: the generation is unknown
	size  int64
}

// readLogHead reads the head of the log in d; a missing log is an empty
// one of generation 0.
func readLogHead(d *disk.Dir) (logHead, error) {
	f, err := d.Open(logName)
	if errors.Is(err, fs.ErrNotExist) {
		return logHead{known: true}, nil
	}
	if err != nil {
		return logHead{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return logHead{}, err
	}
	h := logHead{size: fi.Size(), known: true}
	line, err := bufio.NewReader(io.LimitReader(f, eventlog.MaxLine)).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return logHead{}, err
	}
	if len(strings.TrimSpace(string(line))) == 0 {
		return h, nil
	}
	var first struct {
		Op  string `json:"op"`
		Gen uint64 `json:"gen"`
	}
	if err := eventlog.Unmarshal(line, &first); err != nil {
		h.known = false
	} else if first.Op == opBase {
		h.gen = first.Gen
	}
	return h, nil
}

// replayStart is the byte of the log that replay starts at, on top of the
// snapshot s (nil if there is none). stale says that the log holds nothing
// the snapshot does not, so it must be started afresh before the next
// write (see cover).
func replayStart(s *snapshot, h logHead, dir string) (from int64, stale bool, err error) {
	var c cover
	if s != nil {
		c = s.cover
	}
	switch {
	case !h.known:
		// A damaged first line hides whether the snapshot holds the
		// records after it. Applying them again at worst counts a replay
		// twice; skipping them could lose them.
		slog.Warn("the first line of the pathway log is damaged; replaying all of it on top of the snapshot", "log", dir)
		return 0, false, nil
	case h.gen == c.Gen && h.size >= c.Bytes:
		return c.Bytes, false, nil
	case h.gen == c.Gen:
		slog.Warn("the pathway log is shorter than its snapshot says; starting it afresh", "log", dir, "bytes", h.size, "snapshot_holds", c.Bytes)
		return h.size, true, nil
	case h.gen < c.Gen:
		return h.size, true, nil // an older log, restored, say: the snapshot holds all of it
	case s == nil:
		return 0, false, fmt.Errorf("the pathway log in %s is of generation %d, and its snapshot %s is missing: restore it, or move the log away to start an empty memory", dir, h.gen, snapName)
	case h.gen > c.Gen+1:
		return 0, false, fmt.Errorf("the pathway log in %s is of generation %d, and its snapshot %s holds generation %d only: restore the snapshot of generation %d, or move both away to start an empty memory", dir, h.gen, snapName, c.Gen, h.gen-1)
	}
	return 0, false, nil
}

// readSnapshot reads the snapshot in d, nil if there is none.
func readSnapshot(d *disk.Dir) (*snapshot, error) {
	b, err := d.ReadFile(snapName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pathway snapshot: %w", err)
	}
	return parseSnapshot(d.Path(snapName), b)
}

// removeTemps removes the temp files of snapshots that a crash cut short.
func removeTemps(d *disk.Dir) error {
	entries, err := d.ReadDir(".")
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), snapName+"-") && strings.HasSuffix(e.Name(), ".tmp") {
			if err := d.Remove(e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// opBase is the op of a log's first record, which gives its generation.
const opBase = "base"

// compact writes the current state as a snapshot covering the whole log,
// then starts a new log of the next generation. Writers and readers wait
// meanwhile.
// Every change must be durable first, and none undone since the last
// reload: a change whose write failed is applied in memory until recover
// takes it back, and must not reach the snapshot.
func (p *Pathway) compact() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.log.Size()-p.skip.Load() <= p.compactAt() {
		return nil
	}
	if err := p.commits.flushAll(p.settled); err != nil {
		return err
	}
	h, err := readLogHead(p.disk)
	if err != nil {
		return err
	}
	gen := h.gen
	if !h.known {
		// Open replayed all of the log, whatever its generation; a
		// generation no log had yet keeps the pair consistent.
		gen = p.cover.Gen + 1
	}
	c := cover{Gen: gen, Bytes: p.log.Size()}
	var size int64
	err = p.disk.WriteAtomic(snapName, "", func(w io.Writer) error {
		cw := &countingWriter{w: w}
		err := writeSnapshot(cw, c, p.order)
		size = cw.n
		return err
	})
	if err != nil {
		return fmt.Errorf("write pathway snapshot: %w", err)
	}
	p.cover = c
	p.snapBytes.Store(size)
	p.skip.Store(c.Bytes) // until the new log is in place, replay skips what the snapshot holds of the old one
	if err := p.startLog(); err != nil {
		if h, herr := readLogHead(p.disk); herr == nil && h.gen > c.Gen {
			p.skip.Store(0) // the new log is in place; only its fsync failed
		}
		return err
	}
	return nil
}

// startLog replaces the log with an empty one of the generation after the
// snapshot's; p.mu is held, or p is not shared yet.
func (p *Pathway) startLog() error {
	if err := p.log.Compact(func(emit func(any) error) error {
		return emit(&record{Op: opBase, Gen: p.cover.Gen + 1})
	}); err != nil {
		return fmt.Errorf("start a new pathway log: %w", err)
	}
	p.skip.Store(0)
	return nil
}

// load applies the snapshot and replays the log after it, as Open does; it
// returns the open log, and stale when the log must be started afresh.
func (p *Pathway) load() (*eventlog.Log, eventlog.ReplayStats, bool, error) {
	from, stale, err := p.loadSnapshot()
	if err != nil {
		return nil, eventlog.ReplayStats{}, false, err
	}
	l, st, err := eventlog.OpenDecoded(p.disk.Path(logName), from, decodeRecord, p.apply)
	return l, st, stale, err
}

// loadSnapshot applies the snapshot, if there is one, and returns where
// the log's replay starts after it (see replayStart).
func (p *Pathway) loadSnapshot() (from int64, stale bool, err error) {
	s, err := readSnapshot(p.disk)
	if err != nil {
		return 0, false, err
	}
	h, err := readLogHead(p.disk)
	if err != nil {
		return 0, false, fmt.Errorf("read the pathway log: %w", err)
	}
	if from, stale, err = replayStart(s, h, p.dir); err != nil {
		return 0, false, err
	}
	p.cover = cover{}
	if s != nil {
		s.apply(p.applyNew)
		p.cover = s.cover
		p.snapBytes.Store(int64(len(s.b)))
	}
	p.skip.Store(from)
	return from, stale, nil
}

// compactAt is the size of the log past what the snapshot holds that calls
// for a compaction: CompactBytes, or a quarter of the snapshot when that is
// more, so that a big memory is not rewritten after every few writes (its
// writes then cost at most some four times their bytes again in snapshots).
func (p *Pathway) compactAt() int64 {
	return max(p.cfg.CompactBytes, p.snapBytes.Load()/4)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
