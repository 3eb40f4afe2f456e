// Package replay is the one damage policy of the server's append-only logs:
// the event log that pathway memory and the observer keep, and the write
// logs of the vector indexes. Each log has its own framing (lines of JSON,
// or checksummed binary records); [Scan] reads the records through it and
// decides, in one place, what a damaged record means.
//
// The policy:
//
//   - A torn tail is cut off with a warning. It is the last record, or run
//     of bad records, with no good record after it: a write that a crash cut
//     short, never acknowledged, since a record is acknowledged only once it
//     and everything before it is fsynced.
//   - Damage in the middle (a bad record with good ones after it) cannot be
//     a crash, which only ever cuts the end. It is a disk or a hand that
//     changed the file. The bad record is skipped with a warning and counted,
//     and replay carries on from the next good record: those were
//     acknowledged, and dropping them would lose more. The file keeps the
//     damaged bytes, so nothing is destroyed. The framing finds the next
//     record: the next line, or for checksummed records the next offset where
//     a whole record checks, even when a damaged length hides where it was.
package replay

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// ErrTorn is returned by a [Framing] for a record that the end of the file
// cuts short.
var ErrTorn = errors.New("record cut short by the end of the file")

// A BadRecord is returned by a [Framing] for bytes that are not a good
// record (a checksum, or JSON that does not parse): the next record, or the
// end of the file, starts Size bytes on, Size > 0.
type BadRecord struct {
	Size   int64
	Reason string
}

func (b *BadRecord) Error() string { return b.Reason }

// A Framing reads the next record of a log and returns its payload, valid
// until the next call, and its length on disk. At the end of the file it
// returns io.EOF; for a record cut short, ErrTorn; for bad bytes, a
// *BadRecord. Any other error is an I/O error and stops the replay.
type Framing func() (payload []byte, size int64, err error)

// Stats says what a replay found.
type Stats struct {
	Records   int   // records applied
	Skipped   int   // bad records in the middle, skipped
	TornBytes int64 // bytes of a torn tail cut off
}

// Result is where a log's good part ends, as [Scan] found it.
type Result struct {
	Stats
	End int64 // offset after the last good record; appends go here
}

// Scan reads the records of the log named name, which starts at offset
// start (after a header), through next, and calls apply with each good
// record's payload in order. An error from apply makes that record bad.
// size is the file's length. It applies the policy of the package doc except
// for cutting the file: see [Repair].
func Scan(name string, start, size int64, next Framing, apply func([]byte) error, log *slog.Logger) (Result, error) {
	if log == nil {
		log = slog.Default()
	}
	var (
		res      = Result{End: start}
		off      = start // where the next record starts
		badFrom  = int64(-1)
		badCount int
		badWhy   string
	)
	for {
		payload, n, err := next()
		var bad *BadRecord
		switch {
		case err == nil:
			if aerr := apply(payload); aerr != nil {
				bad = &BadRecord{Size: n, Reason: "record does not apply: " + aerr.Error()}
				break
			}
			if badFrom >= 0 {
				// Good records after bad ones: the bad ones were damage in
				// the middle.
				res.Skipped += badCount
				log.Warn("skipping damaged log records", "log", name, "offset", badFrom, "records", badCount, "bytes", off-badFrom, "reason", badWhy)
				badFrom, badCount = -1, 0
			}
			res.Records++
			off += n
			res.End = off
			continue
		case errors.Is(err, io.EOF), errors.Is(err, ErrTorn):
			res.TornBytes = size - res.End
			if res.TornBytes > 0 {
				why := "record cut short"
				if badFrom >= 0 {
					why = badWhy
				}
				log.Warn("log ends in a torn record; cutting it off", "log", name, "offset", res.End, "bytes", res.TornBytes, "reason", why)
			}
			return res, nil
		case errors.As(err, &bad):
			if bad.Size <= 0 {
				return res, fmt.Errorf("read log %s: framing reported a bad record of %d bytes", name, bad.Size)
			}
		default:
			return res, fmt.Errorf("read log %s: %w", name, err)
		}
		if badFrom < 0 {
			badFrom, badWhy = off, bad.Reason
		}
		badCount++
		off += bad.Size
	}
}

// File is what [Repair] needs of an open log file.
type File interface {
	Truncate(size int64) error
	Sync() error
}

// Repair cuts the log file f back to res.End when the scan found a torn
// tail, and fsyncs it.
func Repair(f File, res Result) error {
	if res.TornBytes <= 0 {
		return nil
	}
	if err := f.Truncate(res.End); err != nil {
		return fmt.Errorf("cut log tail: %w", err)
	}
	return f.Sync()
}
