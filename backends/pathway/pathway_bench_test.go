package pathway_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"lakehouse/backends/pathway"
	"lakehouse/internal/durabench"
	"lakehouse/internal/pgtest"
)

var benchContent = json.RawMessage(`{"tool":"ingest_dataset","args":{"path":"sales.csv","delimiter":";"},"outcome":"worked"}`)

// BenchmarkAddTrace16Writers measures acknowledged (fsynced) add_trace calls
// per second from 16 concurrent writers: in local mode; in shared mode,
// where each is a transaction of a throwaway PostgreSQL 15 on loopback
// (internal/pgtest); and as the baseline the same records written with
// one write and fsync each under a mutex.
func BenchmarkAddTrace16Writers(b *testing.B) {
	n := max(b.N, 2000) // enough adds for a stable rate with -benchtime 1x
	adds := func(b *testing.B, p *pathway.Pathway) {
		tags := []string{"ingest", "csv"}
		durabench.AckedPerSecond(b, n, func() error {
			_, _, err := p.Add(ctx, benchContent, "ingesting the sales csv needs the ; delimiter", tags, "")
			return err
		})
	}
	b.Run("group_commit", func(b *testing.B) {
		p, err := pathway.Open(b.TempDir(), newEmbedder(), pathway.Config{})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		adds(b, p)
	})
	b.Run("shared", func(b *testing.B) {
		adds(b, openShared(b, b.TempDir(), pgtest.Start(b).CreateDatabase()))
	})
	b.Run("fsync_each", func(b *testing.B) {
		write := durabench.FsyncEach(b)
		durabench.AckedPerSecond(b, n, func() error {
			now := time.Now().UTC()
			line, err := json.Marshal(map[string]any{"op": "put", "traces": []pathway.Trace{{
				UID: uuid.NewString(), Content: benchContent, Text: "ingesting the sales csv needs the ; delimiter",
				Tags: []string{"ingest", "csv"}, CreatedAt: now, UpdatedAt: now,
			}}})
			if err != nil {
				return err
			}
			return write(line)
		})
	})
}

// BenchmarkReplay1M measures opening a memory whose log holds one million
// small traces, one put record each.
func BenchmarkReplay1M(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	f, err := os.Create(filepath.Join(dir, "pathway.log"))
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		at := base.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)
		fmt.Fprintf(w, `{"op":"put","traces":[{"uid":"%08d-0000-4000-8000-000000000000","content":{"i":%d},"text":"note %d","tags":["t%d"],"created_at":%q,"updated_at":%q,"retired":false,"replay_count":0}]}`+"\n",
			i, i, i, i%50, at, at)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		p, err := pathway.Open(dir, newEmbedder(), pathway.Config{})
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		b.StopTimer()
		st, _ := p.Stats(ctx)
		if st.Total != n {
			b.Fatalf("replayed %d traces; want %d", st.Total, n)
		}
		p.Close()
		os.RemoveAll(filepath.Join(dir, "index"))
		b.ReportMetric(took.Seconds(), "s/open")
		b.StartTimer()
	}
}
