// Package durabench measures acknowledged durable writes per second, for
// the benchmarks of the logs that group their fsyncs, and gives them the
// baseline they are compared with: one write and fsync per record.
package durabench

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Writers is how many goroutines write at once.
const Writers = 16

// AckedPerSecond runs write n times from Writers goroutines and reports the
// rate as "acked/s". write returns once its record is durable.
func AckedPerSecond(b *testing.B, n int, write func() error) {
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	start := time.Now()
	for range Writers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := write(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "acked/s")
}

// FsyncEach returns a function that appends a line to a new file in a
// temporary folder and fsyncs it before returning, one caller at a time.
func FsyncEach(b *testing.B) func(line []byte) error {
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync-each.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	var mu sync.Mutex
	return func(line []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if _, err := f.Write(append(line, '\n')); err != nil {
			return err
		}
		return f.Sync()
	}
}

// ReportLags reports the median, 99th percentile and largest of lags, in
// milliseconds, as the metrics p50_ms, p99_ms and max_ms.
func ReportLags(b *testing.B, lags []time.Duration) {
	slices.Sort(lags)
	ms := func(q float64) float64 {
		return float64(lags[min(len(lags)-1, int(q*float64(len(lags))))].Microseconds()) / 1000
	}
	b.ReportMetric(ms(0.50), "p50_ms")
	b.ReportMetric(ms(0.99), "p99_ms")
	b.ReportMetric(ms(1), "max_ms")
}
