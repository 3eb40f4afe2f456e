package vector

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"lakehouse/internal/disk"
)

// The snapshot file of an index, laid out so that its vectors, and the
// int8 codes of a quantised index, can be mapped into memory as they are
// (version 3; version 2, which has no codes, and version 1 are still read,
// see snapshot_v1.go):
//
//	[0, snapAlign)  "lhvecsnp" | version u32 | header length u32 | header | crc32c of the header u32 | zeros
//	header          generation u64 | dim u32 | metric (uvarint length, bytes) | model (same) | quantization (same; "": none)
//	                | created unix nanoseconds i64
//	                | slots u64 | m u32 (0: no graph) | nodes u64 | entry u32 | top i32 | upper slab length u64
//	vectors         slots x dim float32 from offset snapAlign, then zeros to a multiple of snapAlign
//	codes           of a quantised index only: slots x codeWidth(dim) bytes (see quant.go), then zeros
//	                to a multiple of snapAlign
//	tombstones      u64 x ceil(slots/64): bit i of word i/64 is set when slot i is deleted
//	graph           layer-0 slab u32 x nodes*(2m+1) | upper offset u32 x nodes | upper slab u32 x its length | level u8 x nodes
//	items           per slot: id | text | metadata JSON | its filterable values (see appendAttrs), each a uvarint length and bytes
//	lexicon         the words of the texts (see lexicon.go), as uvarints: terms count, each term's length and bytes,
//	                the count of all slots' terms, then per slot its length in words, its distinct terms' count,
//	                and each one's term number and count
//	trailer         the items' length u64 | crc32c of everything from snapAlign to here u32 | "lhvecend"
//
// Integers and floats are little-endian. The generation says which logs the
// snapshot already contains: those of lower generations. The graph, when
// present, links the first nodes slots (tombstones included, as a graph
// needs them).
//
// An index keeps its previous snapshot beside the current one, and the
// logs from the previous one's generation on, so that a current snapshot
// found damaged is set aside and the index read from the previous one and
// the logs, losing nothing.

const (
	snapMagic    = "lhvecsnp"
	snapEnd      = "lhvecend"
	snapVersion  = 3
	snapshotName = "snapshot"
	prevSnapName = "snapshot.prev"
	badSnapName  = "snapshot.damaged"
	nextSnapName = "snapshot.next"

	// snapAlign aligns the vector section to a multiple of any page size,
	// for mapping.
	snapAlign = 1 << 16
)

var errStopped = errors.New("stopped")

// errDamaged is wrapped by the errors of a snapshot file that is not whole.
var errDamaged = errors.New("damaged")

// snapHeader is what a snapshot says about its index.
type snapHeader struct {
	gen     uint64
	dim     int
	metric  Metric
	model   string
	quant   Quantization
	created time.Time
}

// capture is the state of an index at one point, for writing out while the
// index moves on: slots below len(ids) never change, and dead and the graph
// are copies. keep is the store vecs views, kept alive while it is read.
type capture struct {
	snapHeader
	vecs      vecView
	keep      *vecStore
	codes     *vecView  // of a quantised index
	keepCodes *vecStore // the store codes views
	ids       []string
	extras    []*extra
	dead      []uint64
	lex       lexView
	g         *graphState
}

// captureOf captures s; the index's write lock is held.
func captureOf(h snapHeader, s *segment) *capture {
	n := s.n()
	c := &capture{snapHeader: h, vecs: s.vecs.view(), keep: s.vecs, ids: s.ids[:n], extras: s.extras[:n], dead: append([]uint64(nil), s.dead...), lex: s.lex.view(n)}
	if s.codes != nil {
		codes := s.codes.view()
		c.codes, c.keepCodes = &codes, s.codes
	}
	if s.g != nil {
		c.g = s.g.state()
	}
	return c
}

// graphState is a copy of a graph's links.
type graphState struct {
	m       int
	levels  []uint8
	base    []uint32
	upperAt []uint32
	upper   []uint32
	entry   uint32
	top     int
}

func (g *graph) state() *graphState {
	return &graphState{
		m:       g.m,
		levels:  append([]uint8(nil), g.levels...),
		base:    append([]uint32(nil), g.base...),
		upperAt: append([]uint32(nil), g.upperAt...),
		upper:   append([]uint32(nil), g.upper...),
		entry:   g.entry,
		top:     g.top,
	}
}

// asBytes returns the memory of s as bytes, in the host's byte order,
// which is the files' (see vecstore.go).
func asBytes[T uint32 | uint64 | float32](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(s[0])))
}

// crcWriter passes writes on and keeps their checksum.
type crcWriter struct {
	w   io.Writer
	crc uint32
}

func (c *crcWriter) Write(p []byte) (int, error) {
	c.crc = crc32.Update(c.crc, castagnoli, p)
	return c.w.Write(p)
}

// sectionWriter writes a section of many small parts to w, a buffer at a
// time: put takes the buffer b, grown by appending to it, and end writes
// what is left and returns the bytes written since the last end.
type sectionWriter struct {
	w   io.Writer
	b   []byte
	n   int64 // bytes since the last end
	err error
}

func (s *sectionWriter) put(b []byte) {
	s.b = b
	if len(s.b) >= 1<<15 {
		s.flush()
	}
}

func (s *sectionWriter) flush() {
	if s.err == nil {
		_, s.err = s.w.Write(s.b)
	}
	s.n += int64(len(s.b))
	s.b = s.b[:0]
}

func (s *sectionWriter) end() int64 {
	s.flush()
	n := s.n
	s.n = 0
	return n
}

// stoppedBy reports errStopped once stop is closed.
func stoppedBy(stop <-chan struct{}) error {
	select {
	case <-stop:
		return errStopped
	default:
		return nil
	}
}

// snapLayout is where a snapshot's sections start, from its header.
type snapLayout struct {
	slots, nodes, upper        int64
	m                          int
	vecBytes, codeBytes        int64 // the vectors and the codes, without their padding
	codes, tombs, graph, items int64 // offsets
}

// layoutOf places the sections of a snapshot; codeWidth is the bytes of a
// slot's codes, 0 for a snapshot without them.
func layoutOf(dim int, slots, nodes, upper int64, m, codeWidth int) snapLayout {
	l := snapLayout{slots: slots, nodes: nodes, upper: upper, m: m, vecBytes: 4 * int64(dim) * slots, codeBytes: int64(codeWidth) * slots}
	l.codes = snapAlign + roundUp64(l.vecBytes, snapAlign)
	l.tombs = l.codes + roundUp64(l.codeBytes, snapAlign)
	l.graph = l.tombs + 8*((slots+63)/64)
	l.items = l.graph
	if m > 0 {
		l.items += 4*nodes*int64(2*m+1) + 4*nodes + 4*upper + nodes
	}
	return l
}

func roundUp64(n, step int64) int64 { return (n + step - 1) / step * step }

// writeRecords writes the first n records of v, then zeros (from page,
// which holds them) to a multiple of snapAlign.
func writeRecords(w io.Writer, v vecView, n int, page []byte, stop <-chan struct{}) error {
	per := 1 << v.shift
	for k := 0; k*per < n; k++ {
		if err := stoppedBy(stop); err != nil {
			return err
		}
		if _, err := w.Write(v.chunks[k][:min(per, n-k*per)*v.width]); err != nil {
			return err
		}
	}
	size := int64(n) * int64(v.width)
	_, err := w.Write(page[:roundUp64(size, snapAlign)-size])
	return err
}

// writeSnapshot writes c as the file name of the index folder d,
// atomically (see [disk.Dir.WriteAtomic]). It gives up with errStopped if
// stop is closed meanwhile.
func writeSnapshot(d *disk.Dir, name string, c *capture, stop <-chan struct{}) error {
	defer runtime.KeepAlive(c.keep)
	defer runtime.KeepAlive(c.keepCodes)
	return d.WriteAtomic(name, "", func(f io.Writer) error {
		w := bufio.NewWriterSize(f, 1<<20)
		h := binary.LittleEndian.AppendUint64(nil, c.gen)
		h = binary.LittleEndian.AppendUint32(h, uint32(c.dim))
		h = appendString(h, string(c.metric))
		h = appendString(h, c.model)
		h = appendString(h, string(c.quant))
		h = binary.LittleEndian.AppendUint64(h, uint64(c.created.UnixNano()))
		h = binary.LittleEndian.AppendUint64(h, uint64(len(c.ids)))
		var g graphState
		if c.g != nil {
			g = *c.g
		}
		h = binary.LittleEndian.AppendUint32(h, uint32(g.m))
		h = binary.LittleEndian.AppendUint64(h, uint64(len(g.levels)))
		h = binary.LittleEndian.AppendUint32(h, g.entry)
		h = binary.LittleEndian.AppendUint32(h, uint32(g.top))
		h = binary.LittleEndian.AppendUint64(h, uint64(len(g.upper)))
		page := make([]byte, snapAlign)
		b := append(page[:0], snapMagic...)
		b = binary.LittleEndian.AppendUint32(b, snapVersion)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(h)))
		b = append(b, h...)
		binary.LittleEndian.AppendUint32(b, crc32.Checksum(h, castagnoli))
		if _, err := w.Write(page); err != nil {
			return err
		}
		cw := &crcWriter{w: w}
		n := len(c.ids)
		clear(page)
		if err := writeRecords(cw, c.vecs, n, page, stop); err != nil {
			return err
		}
		if c.codes != nil {
			if err := writeRecords(cw, *c.codes, n, page, stop); err != nil {
				return err
			}
		}
		for _, p := range [][]byte{asBytes(c.dead[:(n+63)/64]), asBytes(g.base), asBytes(g.upperAt), asBytes(g.upper), g.levels} {
			if _, err := cw.Write(p); err != nil {
				return err
			}
		}
		sw := &sectionWriter{w: cw, b: page[:0]}
		var attrs []byte
		for i, id := range c.ids {
			if i%4096 == 0 {
				if err := stoppedBy(stop); err != nil {
					return err
				}
			}
			ex := c.extras[i]
			b := appendExtra(appendString(sw.b, id), ex)
			if attrs = attrs[:0]; ex != nil {
				attrs = appendAttrs(attrs, ex.attrs)
			}
			sw.put(appendString(b, string(attrs)))
		}
		items := sw.end()
		lx := c.lex
		sw.put(binary.AppendUvarint(sw.b, uint64(len(lx.terms))))
		for _, t := range lx.terms {
			sw.put(appendString(sw.b, t))
		}
		var postings uint32
		if len(c.ids) > 0 {
			postings = lx.fwdAt[len(c.ids)]
		}
		sw.put(binary.AppendUvarint(sw.b, uint64(postings)))
		for i := range c.ids {
			if i%4096 == 0 {
				if err := stoppedBy(stop); err != nil {
					return err
				}
			}
			fs := lx.fwd[lx.fwdAt[i]:lx.fwdAt[i+1]]
			b := binary.AppendUvarint(binary.AppendUvarint(sw.b, uint64(lx.len[i])), uint64(len(fs)))
			for _, p := range fs {
				b = binary.AppendUvarint(binary.AppendUvarint(b, uint64(p.id)), uint64(p.tf))
			}
			sw.put(b)
		}
		sw.put(binary.LittleEndian.AppendUint64(sw.b, uint64(items)))
		if sw.end(); sw.err != nil {
			return sw.err
		}
		tail := binary.LittleEndian.AppendUint32(nil, cw.crc)
		if _, err := w.Write(append(tail, snapEnd...)); err != nil {
			return err
		}
		return w.Flush()
	})
}

// readSnapshot loads the snapshot file name of the index folder dir into a
// new segment. Any damage (short file, bad checksum, impossible field) is
// an error naming the file. A graph that is damaged in spite of a good
// checksum is dropped with graphErr set, to be rebuilt.
func readSnapshot(dir *disk.Dir, name string, l2For func(Metric) bool) (h snapHeader, s *segment, graphErr error, err error) {
	path := dir.Path(name)
	f, err := dir.Open(name)
	if err != nil {
		return h, nil, nil, fmt.Errorf("snapshot file %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return h, nil, nil, err
	}
	bad := func(format string, args ...any) (snapHeader, *segment, error, error) {
		return h, nil, nil, fmt.Errorf("snapshot file %s is %w: %s", path, errDamaged, fmt.Sprintf(format, args...))
	}
	var start [12]byte
	if _, err := f.ReadAt(start[:], 0); err != nil || string(start[:8]) != snapMagic {
		return bad("not a vector index snapshot")
	}
	version := binary.LittleEndian.Uint32(start[8:])
	switch version {
	case 1:
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return h, nil, nil, err
		}
		return readSnapshotV1(f, fi.Size(), path, l2For)
	case 2, snapVersion:
	default:
		return bad("unknown version %d", version)
	}
	size := fi.Size()
	if size < snapAlign+12 {
		return bad("%d bytes is too short", size)
	}
	data, mapped := []byte(nil), false
	if size <= maxInt {
		data, err = mapFile(f.Fd(), 0, int(size))
		mapped = err == nil
	}
	if !mapped {
		data = make([]byte, size)
		if _, err := f.ReadAt(data, 0); err != nil {
			return h, nil, nil, fmt.Errorf("snapshot file %s: %w", path, err)
		}
	}
	var kept [2][2]int64 // the ranges of data that the vectors and the codes map
	defer func() {
		if mapped {
			from := int64(0)
			for _, r := range kept {
				if r[1] > r[0] {
					unmap(data[from:r[0]])
					from = r[1]
				}
			}
			unmap(data[from:])
		}
	}()

	h, c, err := parseHeader(data[:snapAlign])
	if err != nil {
		return bad("%v", err)
	}
	slots, m, nodes, entry, top, upper := c.slots, c.m, c.nodes, c.entry, c.top, c.upper
	// Every count is bounded by the file's size before anything trusts it.
	if slots > uint64(size)/uint64(4*h.dim) || nodes > slots || upper > uint64(size)/4 || m != 0 && (m < 2 || m > 1024) {
		return bad("header counts (%d slots, %d nodes, m %d, upper slab %d) do not fit in %d bytes", slots, nodes, m, upper, size)
	}
	codeW := 0
	if version >= 3 && h.quant == QuantInt8 {
		codeW = codeWidth(h.dim)
	}
	l := layoutOf(h.dim, int64(slots), int64(nodes), int64(upper), m, codeW)
	if l.items+20 > size {
		return bad("%d bytes is too short for %d slots and their graph; the file was cut short", size, slots)
	}
	tail := data[size-12:]
	if string(tail[4:]) != snapEnd {
		return bad("checksum mismatch")
	}
	// The checksum is computed while the sections are read, which is safe
	// on any bytes (FuzzReadSnapshot), and is awaited on every return,
	// before data is unmapped: a damaged file is refused for its checksum
	// whatever else reading it found.
	summed := make(chan bool, 1)
	go func() {
		summed <- binary.LittleEndian.Uint32(tail) == crc32.Checksum(data[snapAlign:size-12], castagnoli)
	}()
	sumOK, awaited := false, false
	await := func() bool {
		if !awaited {
			sumOK, awaited = <-summed, true
		}
		return sumOK
	}
	defer await()
	bad = func(format string, args ...any) (snapHeader, *segment, error, error) {
		why := fmt.Sprintf(format, args...)
		if !await() {
			why = "checksum mismatch"
		}
		return h, nil, nil, fmt.Errorf("snapshot file %s is %w: %s", path, errDamaged, why)
	}
	lexEnd := size - 20
	itemsEnd := l.items + int64(binary.LittleEndian.Uint64(data[lexEnd:]))
	if itemsEnd < l.items || itemsEnd > lexEnd {
		return bad("items length past the end")
	}

	n := int(slots)
	s = newSegment(h.dim, l2For(h.metric), h.quant, n)
	s.lex.pending = true // the caller links it once the logs are replayed too
	kept[0] = s.vecs.load(data, snapAlign, l.vecBytes, n, mapped)
	switch {
	case s.codes != nil && codeW > 0:
		kept[1] = s.codes.load(data, l.codes, l.codeBytes, n, mapped)
	case s.codes != nil: // version 2 kept no codes
		encodeAll(s.codes, s.vecs, n)
	}

	// The words are read beside the items.
	var lexErr error
	lexRead := make(chan struct{})
	go func() {
		defer close(lexRead)
		s.lex.stored, lexErr = readLexicon(data[itemsEnd:lexEnd], n)
	}()
	ids, extras, err := readItems(data[l.items:itemsEnd], n)
	<-lexRead
	if err != nil {
		return bad("%v", err)
	}
	if !await() {
		return bad("checksum mismatch")
	}
	if lexErr != nil {
		// The words are derived from the texts: analyse them again.
		s.lex.stored = nil
		slog.Warn("vector index snapshot's words are damaged; they are read from the texts again", "file", path, "err", lexErr)
	}
	if s.codes != nil {
		// The floats stay in the file, for re-ranking, and need not stay
		// in memory now that the checksum and the codes have read them.
		dontNeed(data[kept[0][0]:kept[0][1]])
	}
	dead := data[l.tombs:l.graph]
	for i, id := range ids {
		if other, ok := s.loadSlot(id, extras[i], dead[i>>3]&(1<<(i&7)) != 0); !ok {
			return bad("slot %d holds id %q, which slot %d holds too", i, id, other)
		}
	}
	if m > 0 {
		gs := &graphState{m: m, entry: entry, top: top}
		o := l.graph
		words := func(k int64) []uint32 {
			w := make([]uint32, k)
			copy(asBytes(w), data[o:o+4*k])
			o += 4 * k
			return w
		}
		gs.base = words(int64(nodes) * int64(2*m+1))
		gs.upperAt = words(int64(nodes))
		gs.upper = words(int64(upper))
		gs.levels = append([]uint8(nil), data[o:o+int64(nodes)]...)
		graphErr = s.attach(gs, path)
	}
	return h, s, graphErr, nil
}

// snapCounts are the counts a snapshot's header gives for its sections.
type snapCounts struct {
	slots, nodes, upper uint64
	m                   int
	entry               uint32
	top                 int
}

// parseHeader reads the header of a snapshot file of version 2 from its
// first page, and checks what it can without the rest: its checksum and
// that its fields are in range.
func parseHeader(page []byte) (h snapHeader, c snapCounts, err error) {
	r := &reader{b: page[12:]}
	head := r.bytes(uint64(r.u32()), snapAlign)
	sum := r.u32()
	if r.err != nil || sum != crc32.Checksum(head, castagnoli) {
		return h, c, errors.New("header checksum mismatch")
	}
	r = &reader{b: head}
	h.gen = r.u64()
	h.dim = int(r.u32())
	h.metric = Metric(r.bytes(r.uvarint(), 16))
	h.model = string(r.bytes(r.uvarint(), MaxModel))
	h.quant = Quantization(r.bytes(r.uvarint(), 16))
	h.created = time.Unix(0, int64(r.u64())).UTC()
	c.slots, c.m = r.u64(), int(r.u32())
	c.nodes, c.entry, c.top, c.upper = r.u64(), r.u32(), int(int32(r.u32())), r.u64()
	switch _, merr := parseMetric(h.metric); {
	case r.err != nil || len(r.b) != 0:
		err = errors.New("header is malformed")
	case h.dim < 1 || h.dim > MaxDim:
		err = fmt.Errorf("dimension %d", h.dim)
	case merr != nil || h.metric == "":
		err = fmt.Errorf("metric %q", h.metric)
	case h.quant != QuantNone && h.quant != QuantInt8:
		err = fmt.Errorf("quantization %q", h.quant)
	}
	return h, c, err
}

// readItems decodes the items section b of a snapshot of n slots: their
// ids, and their texts and metadata, decoded on every CPU.
func readItems(b []byte, n int) ([]string, []*extra, error) {
	ids := make([]string, n)
	ends := make([]int, n) // where each slot's text and metadata end in b
	r := &reader{b: b}
	for i := range n {
		ids[i] = string(r.bytes(r.uvarint(), MaxID))
		r.bytes(r.uvarint(), MaxText)
		r.bytes(r.uvarint(), MaxMetadata)
		r.bytes(r.uvarint(), MaxMetadata)
		if r.err != nil {
			return nil, nil, fmt.Errorf("slot %d: %w", i, r.err)
		}
		ends[i] = len(b) - len(r.b)
	}
	if len(r.b) != 0 {
		return nil, nil, fmt.Errorf("%d bytes after the last item", len(r.b))
	}
	extras := make([]*extra, n)
	workers := runtime.GOMAXPROCS(0)
	chunk := max(1, (n+workers-1)/workers)
	errs := make([]error, (n+chunk-1)/chunk)
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			in := newInterner()
			for i := w * chunk; i < min((w+1)*chunk, n); i++ {
				start := 0
				if i > 0 {
					start = ends[i-1]
				}
				r := &reader{b: b[start:ends[i]]}
				r.bytes(r.uvarint(), MaxID)
				if extras[i] = r.storedExtra(in); r.err != nil {
					errs[w] = fmt.Errorf("slot %d: %w", i, r.err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	return ids, extras, nil
}

// readLexicon decodes the lexicon section b of a snapshot of n slots.
func readLexicon(b []byte, n int) (*lexView, error) {
	r := &reader{b: b}
	nt := r.uvarint()
	if nt > uint64(len(r.b)) {
		return nil, errors.New("term count past the end")
	}
	v := &lexView{terms: make([]string, nt), fwdAt: make([]uint32, 1, n+1), len: make([]uint32, n)}
	for i := range v.terms {
		v.terms[i] = string(r.bytes(r.uvarint(), MaxText))
	}
	v.fwd = make([]posting, 0, min(r.uvarint(), uint64(len(r.b)/2))) // a posting takes at least 2 bytes
	for i := range n {
		v.len[i] = uint32(r.uvarint())
		k := r.uvarint()
		if k > uint64(len(r.b)) {
			return nil, fmt.Errorf("slot %d: %d terms past the end", i, k)
		}
		for range k {
			p := posting{id: uint32(r.uvarint()), tf: uint32(r.uvarint())}
			if p.id >= uint32(nt) || p.tf == 0 {
				return nil, fmt.Errorf("slot %d: term %d (count %d) of %d", i, p.id, p.tf, nt)
			}
			v.fwd = append(v.fwd, p)
		}
		v.fwdAt = append(v.fwdAt, uint32(len(v.fwd)))
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, cmp.Or(r.err, errors.New("bytes after the last slot"))
	}
	return v, nil
}

// storedExtra decodes the text, metadata and filterable values of an item
// of a snapshot, as a copy: the values as stored, not parsed from the JSON
// again, through in (see reader.attrs).
func (r *reader) storedExtra(in *interner) *extra {
	text := r.bytes(r.uvarint(), MaxText)
	meta := r.bytes(r.uvarint(), MaxMetadata)
	ar := &reader{b: r.bytes(r.uvarint(), MaxMetadata)}
	if r.err != nil {
		return nil
	}
	if len(text) == 0 && len(meta) == 0 {
		if len(ar.b) > 0 {
			r.fail(errors.New("filterable values without metadata"))
		}
		return nil
	}
	ex := &extra{text: string(text), attrs: ar.attrs(in)}
	if len(meta) > 0 {
		ex.meta = append([]byte(nil), meta...)
	}
	if ar.err != nil || len(ar.b) != 0 {
		r.fail(fmt.Errorf("filterable values: %v", cmp.Or(ar.err, errors.New("trailing bytes"))))
		return nil
	}
	return ex
}

// attach gives s the graph gs, read from the snapshot file path, or says
// why it cannot, naming the file.
func (s *segment) attach(gs *graphState, path string) error {
	g, err := gs.restore(s.dim, s.n())
	if err != nil {
		return fmt.Errorf("graph in snapshot file %s: %w", path, err)
	}
	s.g = g
	return nil
}

const maxInt = int64(^uint(0) >> 1)

var pageSize = os.Getpagesize()

// restore checks a graph read from disk and turns it into a graph over
// slots of dimension dim: every count and link in range, every node's upper
// layers inside the slab, the entry on the top layer.
func (gs *graphState) restore(dim int, slots int) (*graph, error) {
	g := newGraph(dim, gs.m, DefaultEfConstruction, 0)
	nodes := len(gs.levels)
	if nodes > slots {
		return nil, fmt.Errorf("%d nodes for %d slots", nodes, slots)
	}
	if len(gs.base) != nodes*g.s0 || len(gs.upperAt) != nodes {
		return nil, errors.New("slab sizes disagree with the node count")
	}
	g.levels, g.base, g.upperAt, g.upper, g.entry, g.top = gs.levels, gs.base, gs.upperAt, gs.upper, gs.entry, gs.top
	if nodes == 0 {
		if g.top != -1 {
			return nil, errors.New("empty graph with an entry point")
		}
		return g, nil
	}
	if int(g.entry) >= nodes || g.top != int(g.levels[g.entry]) {
		return nil, errors.New("bad entry point")
	}
	for i := range nodes {
		lv := int(g.levels[i])
		if lv > g.top {
			return nil, fmt.Errorf("node %d is above the top layer", i)
		}
		at := int(g.upperAt[i])
		if (lv == 0) != (at == 0) || lv > 0 && at-1+lv*g.su > len(g.upper) {
			return nil, fmt.Errorf("node %d has bad upper layers", i)
		}
		for l := 0; l <= lv; l++ {
			lst := g.links(uint32(i), l)
			limit := g.m
			if l == 0 {
				limit = g.m0
			}
			if int(lst[0]) > limit {
				return nil, fmt.Errorf("node %d has %d links on layer %d", i, lst[0], l)
			}
			for _, x := range lst[1 : 1+lst[0]] {
				if int(x) >= nodes || int(g.levels[x]) < l {
					return nil, fmt.Errorf("node %d links to %d on layer %d", i, x, l)
				}
			}
		}
	}
	return g, nil
}
