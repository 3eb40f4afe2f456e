package ingest

// Arrow IPC sources. DuckDB here has no Arrow IPC reader (the nanoarrow
// extension cannot be installed offline), so arrow-go reads the file or
// stream one record batch at a time and pqarrow writes each batch into an
// uncompressed Parquet file in the ingest's scratch folder, which is then
// ingested like any Parquet source (DuckDB rewrites it as zstd Parquet,
// with the types DuckDB gives it).
//
// Memory: the reader holds one record batch, and the writer buffers rows
// up to arrowRowGroupRows before it flushes a row group, so memory grows
// with the batch size and the row group, not with the file. The disk does
// hold a second copy of the data while the ingest runs.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"lakehouse/backends/errs"
)

// arrowRowGroupRows is how many rows a row group of the intermediate
// Parquet file holds at most.
const arrowRowGroupRows = 64 << 10

// batches yields the record batches of an Arrow IPC source in order.
type batches struct {
	schema *arrow.Schema
	next   func() (arrow.RecordBatch, error) // io.EOF after the last
	close  func()
}

// openArrow opens the Arrow IPC file or stream in f.
func openArrow(f *os.File) (*batches, error) {
	head := make([]byte, 6)
	if _, err := io.ReadFull(f, head); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if string(head) == "ARROW1" {
		fr, err := ipc.NewFileReader(f, ipc.WithAllocator(memory.DefaultAllocator))
		if err != nil {
			return nil, err
		}
		i := 0
		return &batches{schema: fr.Schema(), close: func() { fr.Close() }, next: func() (arrow.RecordBatch, error) {
			if i == fr.NumRecords() {
				return nil, io.EOF
			}
			i++
			return fr.RecordBatch(i - 1)
		}}, nil
	}
	r, err := ipc.NewReader(f, ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return nil, err
	}
	return &batches{schema: r.Schema(), close: r.Release, next: func() (arrow.RecordBatch, error) {
		if r.Next() {
			return r.RecordBatch(), nil
		}
		if err := r.Err(); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}}, nil
}

// arrowToParquet writes the Arrow IPC source src as a Parquet file at out.
func arrowToParquet(ctx context.Context, src *source, out string) (err error) {
	bad := func(err error) error {
		return errs.New(errs.Invalid, "cannot read the arrow source (%s): %v", src.desc, err)
	}
	f, err := os.Open(src.path)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := openArrow(f)
	if err != nil {
		return bad(err)
	}
	defer b.close()
	if len(b.schema.Fields()) == 0 {
		return bad(errors.New("its schema has no columns"))
	}

	dst, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer dst.Close()
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Uncompressed),
		parquet.WithMaxRowGroupLength(arrowRowGroupRows),
		parquet.WithAllocator(memory.DefaultAllocator),
	)
	w, err := pqarrow.NewFileWriter(b.schema, dst, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return bad(fmt.Errorf("its schema cannot be stored as Parquet: %w", err))
	}
	defer func() {
		if cerr := w.Close(); err == nil && cerr != nil {
			err = bad(cerr)
		}
	}()
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("ingest stopped: %w", err)
		}
		rec, err := b.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return bad(fmt.Errorf("record batch %d: %w", n, err))
		}
		if err := w.WriteBuffered(rec); err != nil {
			return bad(fmt.Errorf("record batch %d: %w", n, err))
		}
	}
}
