package ingest

// Compaction: merging the small files that appends leave.
//
// Every append adds one Parquet file to the dataset's current version, so
// after many small appends a query opens many small files. When the current
// version ends with more than CompactFiles small files, a background job
// merges that run of files with DuckDB into one, in the same row order, and
// records it with catalog.Relayout as a new layout of the same version. The
// version keeps its number and rows; older versions keep their files, so
// "name@vN" answers as before; the next append builds on the merged file. The
// merged file may itself be small, and is merged again with later appends
// until it is not.
//
// The run's last file, the one the version's own append added, is left out
// of the merge. Every file merged is then one that an older version reads
// too, so a new layout never leaves a file that no version reads, and no
// file has to be deleted while a query may still be reading it.
//
// A compaction holds the dataset's lock, like an ingest, so it never races
// an append, a replace or a drop of the same dataset.

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"lakehouse/backends/catalog"
)

// Defaults of the compaction settings of [Config].
const (
	DefaultCompactFiles   = 16
	DefaultSmallFileBytes = 8 << 20
)

// compactor runs an Ingester's background compactions.
type compactor struct {
	files      int   // merge a run of more small files than this; < 0: never
	smallBytes int64 // files under this size are small

	ctx    context.Context // ends when the Ingester closes
	cancel context.CancelFunc
	wg     sync.WaitGroup
	queued sync.Map // dataset name -> struct{}, while its compaction is queued or running
}

// start readies c for the compaction settings of cfg.
func (c *compactor) start(cfg Config) {
	c.files, c.smallBytes = cfg.CompactFiles, cfg.SmallFileBytes
	if c.files == 0 {
		c.files = DefaultCompactFiles
	}
	if c.smallBytes <= 0 {
		c.smallBytes = DefaultSmallFileBytes
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
}

// stop interrupts the running compactions and waits for them to end.
func (c *compactor) stop() {
	c.cancel()
	c.wg.Wait()
}

// compactSoon starts a background compaction of dataset name when v, its
// current version, may have enough small files for one. One compaction per
// dataset runs at a time; an append that lands while one runs is compacted
// after a later append.
func (in *Ingester) compactSoon(name string, v *catalog.Version) {
	c := &in.compactor
	if c.files < 0 || len(v.Files) <= c.files || c.ctx.Err() != nil {
		return
	}
	if _, busy := c.queued.LoadOrStore(name, struct{}{}); busy {
		return
	}
	c.wg.Go(func() {
		defer c.queued.Delete(name)
		if _, err := in.Compact(c.ctx, name); err != nil && c.ctx.Err() == nil {
			slog.Warn("dataset compaction failed; its files stay as they are", "dataset", name, "err", err)
		}
	})
}

// Compact merges the run of small files at the end of dataset name's current
// version, but for its last file, into one file when the run is longer than
// Config.CompactFiles, and returns how many files it merged (0 when there was
// nothing to do, the dataset is gone, or compaction is off). It waits for ingests into the
// dataset to finish. Ingests start it in the background after appends;
// calling it directly merges now.
func (in *Ingester) Compact(ctx context.Context, name string) (int, error) {
	if in.compactor.files < 0 {
		return 0, nil
	}
	unlock, err := in.lock(ctx, name)
	if err != nil {
		return 0, err
	}
	defer unlock()
	m := in.cat.Lookup(name)
	if m == nil {
		return 0, nil
	}
	v := m.Current()
	if len(v.Files) <= in.compactor.files {
		return 0, nil
	}
	from, err := in.smallRun(ctx, v.Files)
	if err != nil {
		return 0, err
	}
	to := len(v.Files) - 1
	if len(v.Files)-from <= in.compactor.files || to-from < 2 {
		return 0, nil
	}

	scratch, dir, err := in.scratch("compact-")
	if err != nil {
		return 0, err
	}
	defer in.tmp.RemoveAll(scratch)
	out := filepath.Join(dir, "merged.parquet")
	if err := in.merge(ctx, v, from, to, out); err != nil {
		return 0, fmt.Errorf("merge the files of %q version %d: %w", name, v.Version, err)
	}
	key := catalog.MergedKey(catalog.FolderOf(name, v.Files), v.Version)
	files := slices.Concat(v.Files[:from], []string{key}, v.Files[to:])
	err = in.publish(ctx, key, out, func(ctx context.Context, _ int64) error {
		_, err := in.cat.Relayout(ctx, name, v.Version, v.Files, files)
		return err
	})
	if err != nil {
		return 0, err
	}
	return to - from, nil
}

// smallRun returns where the run of small files at the end of files starts.
func (in *Ingester) smallRun(ctx context.Context, files []string) (int, error) {
	i := len(files)
	for ; i > 0; i-- {
		info, err := in.store.Stat(ctx, files[i-1])
		if err != nil {
			return 0, err
		}
		if info.Size >= in.compactor.smallBytes {
			break
		}
	}
	return i, nil
}

// merge has DuckDB write the rows of v.Files[from:to] into one Parquet file
// at out, and checks that those rows and the ones in v's other files add up
// to v's rows. DuckDB keeps the rows in the order of the files and of the
// rows within them (its preserve_insertion_order, on by default), so queries
// without ORDER BY see them as before.
func (in *Ingester) merge(ctx context.Context, v *catalog.Version, from, to int, out string) error {
	paths, release, err := in.store.Hold(ctx, v.Files)
	if err != nil {
		return err
	}
	defer release()
	merged, err := in.db.ExecContext(ctx, parquetCopy("SELECT * FROM "+readParquet(paths[from:to]), out))
	if err != nil {
		return err
	}
	rows, err := merged.RowsAffected()
	if err != nil {
		return err
	}
	var kept int64
	others := slices.Concat(paths[:from], paths[to:])
	if err := in.db.QueryRowContext(ctx, "SELECT count(*) FROM "+readParquet(others)).Scan(&kept); err != nil {
		return err
	}
	if kept+rows != v.Rows {
		return fmt.Errorf("the files hold %d rows but the version has %d; its files are left as they are", kept+rows, v.Rows)
	}
	return nil
}

// readParquet is the DuckDB table function that reads the local files at paths.
func readParquet(paths []string) string {
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = quote(p)
	}
	return "read_parquet([" + strings.Join(quoted, ", ") + "])"
}
