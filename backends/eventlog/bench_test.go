package eventlog

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"lakehouse/internal/durabench"
)

type benchRec struct {
	UID     string   `json:"uid"`
	Content string   `json:"content"`
	Tags    []string `json:"tags"`
	At      string   `json:"at"`
}

var sample = benchRec{UID: "3f2a9c1e-7b7d-4a39-9a52-0c1f1b2f9e10", Content: "tried ingesting the sales CSV with ; delimiter, worked", Tags: []string{"ingest", "csv"}, At: "2026-11-22T10:00:00Z"}

// BenchmarkAppend16 measures acknowledged (fsynced) appends per second from 16
// concurrent writers, with group commit and, as the baseline, with one write
// and fsync per record under a mutex.
func BenchmarkAppend16(b *testing.B) {
	b.Run("group_commit", func(b *testing.B) {
		l, _, err := Open(filepath.Join(b.TempDir(), "log.jsonl"), func([]byte) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		durabench.AckedPerSecond(b, b.N, func() error { return l.Append(sample) })
	})
	b.Run("fsync_each", func(b *testing.B) {
		write := durabench.FsyncEach(b)
		durabench.AckedPerSecond(b, b.N, func() error {
			line, _ := json.Marshal(sample)
			return write(line)
		})
	})
}

// BenchmarkReplay1M measures replaying a log of one million records, each
// decoded into a struct as pathway and the observer do.
func BenchmarkReplay1M(b *testing.B) {
	path := filepath.Join(b.TempDir(), "log.jsonl")
	line, _ := json.Marshal(sample)
	f, _ := os.Create(path)
	buf := make([]byte, 0, 1<<20)
	for range 1_000_000 {
		buf = append(append(buf, line...), '\n')
		if len(buf) > 1<<20-len(line)-1 {
			f.Write(buf)
			buf = buf[:0]
		}
	}
	f.Write(buf)
	f.Close()
	b.ResetTimer()
	for range b.N {
		n := 0
		l, _, err := Open(path, func(line []byte) error {
			var r benchRec
			n++
			return Unmarshal(line, &r)
		})
		if err != nil || n != 1_000_000 {
			b.Fatalf("replayed %d: %v", n, err)
		}
		l.Close()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/replay")
}
