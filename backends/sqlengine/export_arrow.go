package sqlengine

// Arrow exports.
//
// DuckDB has no Arrow writer, so an Arrow export is written by DuckDB as
// uncompressed Parquet and read back with arrow-go into an IPC stream.
// Reading back costs about as much as the COPY, so the two overlap: the
// COPY writes a folder of parts, one row group of arrowBatchRows rows each
// (part-0.parquet, part-1.parquet, ...), and each finished part is sent and
// removed while DuckDB writes the next.
//
// Order. One file keeps the order of the result, but a COPY that writes
// several is not order-preserving: its threads fill parts side by side. So
// the COPY also numbers the rows, with row_number() OVER (), which DuckDB
// computes on one thread in the order of the result (a streaming window),
// and that thread then fills the parts one after the other. The price is
// that the last stage of the query runs on one thread, while arrow-go
// decodes on another. The reader checks that each part goes on with the
// numbers where the last one stopped, and leaves the column out.
//
// Completeness. A part is read only once DuckDB has closed it: after the
// COPY has returned, or, while it runs, once the next part exists and no
// file descriptor of this process (DuckDB runs in it) is open on the part.
// DuckDB opens each part once, as it creates it, and closes it after it
// wrote the footer; a part that is merely as long as it will be, or whose
// next part exists, may still lack its footer. Where /proc/self/fd cannot
// be read, the parts are read once the COPY has returned.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// arrowBatchRows is the number of rows in each part of an Arrow export, and
// in each of its record batches.
const arrowBatchRows = 64 << 10

// arrowOptions are the options of the COPY of an Arrow export: parts of one
// row group, plain values (no compression, no dictionaries), which are the
// cheapest to write and to read back.
var arrowOptions = "FORMAT parquet, COMPRESSION uncompressed, ROW_GROUP_SIZE " + strconv.Itoa(arrowBatchRows) +
	", ROW_GROUPS_PER_FILE 1, FILENAME_PATTERN 'part-{i}', DICTIONARY_SIZE_LIMIT 0"

// arrowRowNumber is the column the COPY of an Arrow export adds after the
// result's, which numbers its rows from 1.
const arrowRowNumber = "row_number() OVER () AS lakehouse_row"

// partPoll is how often the reader looks for the next part while the COPY
// runs.
const partPoll = 2 * time.Millisecond

// copied is what the COPY of an Arrow export gave.
type copied struct {
	out *written
	err error
}

// exportArrow is Export in Arrow: the COPY runs on its own goroutine while
// this one sends the parts it finished to w.
func (e *Engine) exportArrow(ctx context.Context, start time.Time, query string, w io.Writer) (Export, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	began := make(chan *written, 1)
	done := make(chan copied, 1)
	go func() {
		out, err := e.copyOut(ctx, start, query, Arrow, func(t *written) { began <- t })
		done <- copied{out, err}
	}()

	// The folder is known once the checks passed and the COPY begins.
	var t *written
	var c copied
	finished := false
	select {
	case t = <-began:
	case c = <-done:
		finished = true
		select {
		case t = <-began: // the COPY ran
		default:
			return Export{}, c.err
		}
	}
	// Whatever happens, the COPY is over before the folder is removed.
	defer func() {
		if !finished {
			cancel()
			<-done
		}
		t.remove()
	}()

	s := &arrowStream{root: t.root, mem: newRecycler(), w: w}
	for i := 0; ; i++ {
		part := partName(t.name, i)
		for !finished && !partClosed(t.root, part, partName(t.name, i+1)) {
			select {
			case c = <-done:
				finished = true
			case <-ctx.Done():
				return Export{}, e.sendError(ctx, start, ctx.Err())
			case <-time.After(partPoll):
			}
		}
		if finished && c.err != nil {
			return Export{}, c.err
		}
		if _, err := t.root.Stat(part); finished && i > 0 && errors.Is(err, fs.ErrNotExist) {
			break // DuckDB writes a part even for no rows
		}
		if err := s.send(ctx, part); err != nil {
			return Export{}, e.sendError(ctx, start, err)
		}
		t.root.Remove(part)
	}
	if s.rows != c.out.Rows {
		return Export{}, fmt.Errorf("sqlengine: the export read %d rows back, DuckDB wrote %d", s.rows, c.out.Rows)
	}
	if err := s.iw.Close(); err != nil {
		return Export{}, fmt.Errorf("sqlengine: write export: %w", err)
	}
	return c.out.Export, nil
}

// partName is the name of part i in folder dir.
func partName(dir string, i int) string {
	return path.Join(dir, "part-"+strconv.Itoa(i)+".parquet")
}

// partClosed reports whether DuckDB is known to have finished part while
// its COPY runs: next exists, and no file descriptor of this process is
// open on part.
func partClosed(root *os.Root, part, next string) bool {
	if _, err := root.Stat(next); err != nil {
		return false
	}
	fi, err := root.Stat(part)
	if err != nil {
		return false
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if st, err := os.Stat("/proc/self/fd/" + fd.Name()); err == nil && os.SameFile(st, fi) {
			return false
		}
	}
	return true
}

// An arrowStream writes the parts of an Arrow export to w as one IPC
// stream.
type arrowStream struct {
	root   *os.Root
	mem    memory.Allocator
	w      io.Writer
	iw     *ipc.Writer   // made with the first part's schema
	schema *arrow.Schema // of the stream: a part's, without the row numbers
	rows   int64         // rows sent
}

// send reads the Parquet part name as record batches and writes them.
func (s *arrowStream) send(ctx context.Context, name string) error {
	f, err := s.root.Open(name)
	if err != nil {
		return fmt.Errorf("sqlengine: open export part: %w", err)
	}
	defer f.Close()
	// BufferedStreamEnabled would read less at once, but it returned wrong
	// values (arrow-go v18.5.1, nullable BIGINT near the end of a row
	// group): the whole column chunk of a row group is read instead, which
	// ROW_GROUP_SIZE keeps small.
	pf, err := file.NewParquetReader(f, file.WithReadProps(parquet.NewReaderProperties(s.mem)))
	if err != nil {
		return fmt.Errorf("sqlengine: read export part: %w", err)
	}
	defer pf.Close()
	// Columns are decoded one after the other: one thread keeps up with
	// the COPY, and more would take cores from DuckDB.
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: arrowBatchRows}, s.mem)
	if err != nil {
		return fmt.Errorf("sqlengine: read export part: %w", err)
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return fmt.Errorf("sqlengine: read export part: %w", err)
	}
	defer rr.Release()

	// The Parquet reader tags every field with its Parquet field id, which
	// means nothing to a reader of the stream.
	fields := rr.Schema().Fields()
	schema := plainSchema(fields[:len(fields)-1])
	if s.iw == nil {
		s.schema = schema
		s.iw = ipc.NewWriter(s.w, ipc.WithSchema(schema), ipc.WithAllocator(s.mem))
	} else if !schema.Equal(s.schema) {
		return fmt.Errorf("sqlengine: export part %s has schema %s, the first had %s", name, schema, s.schema)
	}
	for rr.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := rr.RecordBatch()
		cols := b.Columns()
		if err := s.follows(cols[len(cols)-1]); err != nil {
			return fmt.Errorf("sqlengine: export part %s: %w", name, err)
		}
		rec := array.NewRecordBatch(s.schema, cols[:len(cols)-1], b.NumRows())
		err := s.iw.Write(rec)
		rec.Release()
		if err != nil {
			return fmt.Errorf("sqlengine: write export: %w", err)
		}
		s.rows += b.NumRows()
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("sqlengine: read export part: %w", err)
	}
	return nil
}

// follows checks that the row numbers in col go on from the rows sent.
func (s *arrowStream) follows(col arrow.Array) error {
	nums, ok := col.(*array.Int64)
	if !ok || nums.NullN() != 0 {
		return fmt.Errorf("row numbers of type %s with %d nulls", col.DataType(), col.NullN())
	}
	for i, n := range nums.Int64Values() {
		if want := s.rows + int64(i) + 1; n != want {
			return fmt.Errorf("row %d where row %d was due", n, want)
		}
	}
	return nil
}

// arrowCast writes as text the types that Parquet cannot carry exactly or
// that arrow-go cannot read back from DuckDB's Parquet: DuckDB writes
// HUGEINT as DOUBLE, and INTERVAL, TIMETZ, BIT and UNION have no Arrow
// reading in pqarrow. UUID becomes its canonical text rather than 16 bytes.
func arrowCast(typ string) string {
	t := strings.ToUpper(strings.TrimSpace(typ))
	switch {
	case t == "HUGEINT", t == "UHUGEINT", t == "BIGNUM", t == "VARINT", t == "INTERVAL",
		t == "TIMETZ", t == "TIME WITH TIME ZONE", t == "BIT", t == "UUID",
		strings.HasPrefix(t, "UNION("):
		return "%s::VARCHAR"
	}
	return ""
}

// plainSchema returns a schema of fields without their metadata, nested
// ones included.
func plainSchema(fields []arrow.Field) *arrow.Schema {
	plain := make([]arrow.Field, len(fields))
	for i, f := range fields {
		plain[i] = plainField(f)
	}
	return arrow.NewSchema(plain, nil)
}

// plainField returns f without its metadata, nested fields included.
func plainField(f arrow.Field) arrow.Field {
	f.Metadata = arrow.Metadata{}
	switch t := f.Type.(type) {
	case *arrow.ListType:
		f.Type = arrow.ListOfField(plainField(t.ElemField()))
	case *arrow.LargeListType:
		f.Type = arrow.LargeListOfField(plainField(t.ElemField()))
	case *arrow.FixedSizeListType:
		f.Type = arrow.FixedSizeListOfField(t.Len(), plainField(t.ElemField()))
	case *arrow.StructType:
		sub := make([]arrow.Field, t.NumFields())
		for i, sf := range t.Fields() {
			sub[i] = plainField(sf)
		}
		f.Type = arrow.StructOf(sub...)
	case *arrow.MapType:
		m := arrow.MapOfFields(plainField(t.KeyField()), plainField(t.ItemField()))
		m.KeysSorted = t.KeysSorted
		f.Type = m
	}
	return f
}

// A recycler is an Arrow allocator that keeps the buffers given back to it
// and hands them out again, zeroed, so that an export allocates about one
// part's buffers once, not once per part. Go's allocator would leave the
// buffers of several parts to its collector, and C's heap (mallocator)
// costs more time, in calloc and free, than the decoding.
type recycler struct {
	mu   sync.Mutex
	free map[int][][]byte // buffers given back, by capacity: a power of two
	lent map[*byte]bool   // buffers handed out, by their first byte
}

// newRecycler returns an empty recycler.
func newRecycler() *recycler {
	return &recycler{free: map[int][][]byte{}, lent: map[*byte]bool{}}
}

// Allocate returns a zeroed buffer of size bytes, 64-byte aligned, whose
// capacity is the next power of two.
func (r *recycler) Allocate(size int) []byte {
	c := 64
	if size > c {
		c = 1 << bits.Len(uint(size-1))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var b []byte
	if l := r.free[c]; len(l) > 0 {
		b = l[len(l)-1][:c]
		r.free[c] = l[:len(l)-1]
		clear(b)
	} else {
		b = memory.DefaultAllocator.Allocate(c)
	}
	r.lent[&b[0]] = true
	return b[:size]
}

// Reallocate returns b resized to size bytes, its contents kept.
func (r *recycler) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		return b[:size]
	}
	nb := r.Allocate(size)
	copy(nb, b)
	r.Free(b)
	return nb
}

// Free takes back b, if it was handed out and not given back yet.
func (r *recycler) Free(b []byte) {
	if cap(b) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := &b[:1][0]; r.lent[p] {
		delete(r.lent, p)
		r.free[cap(b)] = append(r.free[cap(b)], b[:0])
	}
}
