package replay

import (
	"runtime"
	"sync"
)

// Ahead reads the records of next up to window ahead of the scan and
// decodes their payloads with decode on every CPU, so that a replay whose
// records take long to decode (JSON, say) but must be applied in order
// spends its time applying. It returns the framing to scan with, which
// yields the same records, sizes and errors as next in the same order,
// and decoded, which returns the decoding of the payload the framing
// yielded last: a scan's apply calls it, and an error from decode then
// makes that record bad, as an error from apply would.
func Ahead[T any](next Framing, window int, decode func([]byte) (T, error)) (framing Framing, decoded func() (T, error)) {
	type rec struct {
		payload []byte
		size    int64
		err     error // of the framing
		val     T
		derr    error // of decode
	}
	var (
		queue []rec
		head  int
		cur   rec
	)
	fill := func() {
		queue, head = queue[:0], 0
		for len(queue) < window {
			p, n, err := next()
			queue = append(queue, rec{payload: append([]byte(nil), p...), size: n, err: err})
			if err != nil {
				break // the scan decides what comes after a bad or last record
			}
		}
		workers := runtime.GOMAXPROCS(0)
		chunk := max(1, (len(queue)+workers-1)/workers)
		var wg sync.WaitGroup
		for lo := 0; lo < len(queue); lo += chunk {
			wg.Go(func() {
				for i := lo; i < min(lo+chunk, len(queue)); i++ {
					if r := &queue[i]; r.err == nil {
						r.val, r.derr = decode(r.payload)
					}
				}
			})
		}
		wg.Wait()
	}
	framing = func() ([]byte, int64, error) {
		if head == len(queue) {
			fill()
		}
		cur = queue[head]
		head++
		return cur.payload, cur.size, cur.err
	}
	decoded = func() (T, error) { return cur.val, cur.derr }
	return framing, decoded
}
