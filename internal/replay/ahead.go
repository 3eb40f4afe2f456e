package replay

import (
	"runtime"
	"sync"
)

// Ahead reads the records of next ahead of the scan, in windows of up to
// records records or about bytes bytes, and decodes their payloads with
// decode on every CPU, the next window while the scan applies this one, so
// that a replay whose records take long to decode (JSON, say) but must be
// applied in order spends its time applying. It returns the framing to
// scan with, which yields the same records, sizes and errors as next in
// the same order, and decoded, which returns the decoding of the payload
// the framing yielded last: a scan's apply calls it, and an error from
// decode then makes that record bad, as an error from apply would.
//
// Two windows' buffers are reused in turn, so decode must not keep its
// payload (a Framing's payload is valid only until the next call anyway).
func Ahead[T any](next Framing, records, bytes int, decode func([]byte) (T, error)) (framing Framing, decoded func() (T, error)) {
	type rec struct {
		start, end int // of the payload in the window's buffer
		size       int64
		err        error // of the framing
		val        T
		derr       error // of decode
	}
	type window struct {
		recs []rec
		buf  []byte
	}
	// fill reads the next window into w's buffers and decodes it. It stops
	// after an error of the framing: the scan decides what comes after a
	// bad or last record, and asks for more only if it goes on.
	fill := func(w window) window {
		w.recs, w.buf = w.recs[:0], w.buf[:0]
		for len(w.recs) < records && len(w.buf) < bytes {
			p, n, err := next()
			w.recs = append(w.recs, rec{start: len(w.buf), end: len(w.buf) + len(p), size: n, err: err})
			w.buf = append(w.buf, p...)
			if err != nil {
				break
			}
		}
		workers := runtime.GOMAXPROCS(0)
		chunk := max(1, (len(w.recs)+workers-1)/workers)
		var wg sync.WaitGroup
		for lo := 0; lo < len(w.recs); lo += chunk {
			wg.Go(func() {
				for i := lo; i < min(lo+chunk, len(w.recs)); i++ {
					if r := &w.recs[i]; r.err == nil {
						r.val, r.derr = decode(w.buf[r.start:r.end:r.end])
					}
				}
			})
		}
		wg.Wait()
		return w
	}
	var (
		cur, spare window
		head       int
		last       rec
		pending    chan window // the next window, being filled; nil if none is
	)
	framing = func() ([]byte, int64, error) {
		for head == len(cur.recs) {
			var w window
			if pending != nil {
				w, pending = <-pending, nil
			} else {
				w = fill(spare)
			}
			// The scan is done with cur's records: its buffers fill next.
			spare, cur, head = cur, w, 0
			if n := len(cur.recs); n > 0 && cur.recs[n-1].err == nil {
				ch, w := make(chan window, 1), spare
				go func() { ch <- fill(w) }()
				pending, spare = ch, window{}
			}
		}
		last = cur.recs[head]
		var zero T
		cur.recs[head].val = zero // the window outlives the scan's use of its values
		head++
		return cur.buf[last.start:last.end:last.end], last.size, last.err
	}
	decoded = func() (T, error) { return last.val, last.derr }
	return framing, decoded
}
