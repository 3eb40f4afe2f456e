package vector

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"time"

	"lakehouse/internal/disk"
)

// The snapshot file of an index:
//
//	"lhvecsnp" | version u32
//	generation u64 | dim u32 | metric (uvarint length, bytes) | model (same) | created unix nanoseconds i64
//	slot count u64, then per slot: flags u8 (1 = tombstone) | item (as in record.go)
//	graph u8 (0 = none), then if 1:
//	    m u32 | nodes u32 | entry u32 | top u32
//	    level u8 per node | layer-0 slab u32 x nodes*(2m+1) | upper offset u32 per node
//	    upper slab length u64 | upper slab u32 x length
//	crc32c of everything above u32 | "lhvecend"
//
// Integers are little-endian. The generation says which logs the snapshot
// already contains: those of lower generations. The graph, when present,
// links the first nodes slots (tombstones included, as a graph needs them).

const (
	snapMagic    = "lhvecsnp"
	snapEnd      = "lhvecend"
	snapVersion  = 1
	snapshotName = "snapshot"
)

var errStopped = errors.New("stopped")

// snapHeader is what a snapshot says about its index.
type snapHeader struct {
	gen     uint64
	dim     int
	metric  Metric
	model   string
	created time.Time
}

// capture is the state of an index at one point, for writing out while the
// index moves on: slots below len(ids) never change, and dead and the graph
// are copies.
type capture struct {
	snapHeader
	vecs   []float32
	ids    []string
	extras []*extra
	dead   []uint64
	g      *graphState
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

// crcWriter passes writes on and keeps their checksum.
type crcWriter struct {
	w   io.Writer
	crc uint32
	buf []byte
}

func (c *crcWriter) Write(p []byte) (int, error) {
	c.crc = crc32.Update(c.crc, castagnoli, p)
	return c.w.Write(p)
}

// flushBuf writes buf and empties it.
func (c *crcWriter) flushBuf() error {
	_, err := c.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

// appendWords appends words to b, writing b out whenever it grows past
// 64 KiB, and returns what remains to write.
func (c *crcWriter) appendWords(b []byte, words []uint32) ([]byte, error) {
	for _, x := range words {
		b = binary.LittleEndian.AppendUint32(b, x)
		if len(b) >= 1<<16 {
			c.buf = b
			if err := c.flushBuf(); err != nil {
				return nil, err
			}
			b = c.buf
		}
	}
	return b, nil
}

// writeSnapshot writes c as the snapshot file of the index folder d,
// atomically (see [disk.Dir.WriteAtomic]). It gives up with errStopped if
// stop is closed meanwhile.
func writeSnapshot(d *disk.Dir, c *capture, stop <-chan struct{}) error {
	return d.WriteAtomic(snapshotName, "", func(f io.Writer) error {
		w := bufio.NewWriterSize(f, 1<<20)
		cw := &crcWriter{w: w, buf: make([]byte, 0, 1<<16)}
		b := append(cw.buf, snapMagic...)
		b = binary.LittleEndian.AppendUint32(b, snapVersion)
		b = binary.LittleEndian.AppendUint64(b, c.gen)
		b = binary.LittleEndian.AppendUint32(b, uint32(c.dim))
		b = appendString(b, string(c.metric))
		b = appendString(b, c.model)
		b = binary.LittleEndian.AppendUint64(b, uint64(c.created.UnixNano()))
		b = binary.LittleEndian.AppendUint64(b, uint64(len(c.ids)))
		for i, id := range c.ids {
			if i%1024 == 0 {
				select {
				case <-stop:
					return errStopped
				default:
				}
			}
			var flags byte
			if c.dead[i>>6]&(1<<(i&63)) != 0 {
				flags = 1
			}
			b = append(b, flags)
			b = appendItem(b, id, c.vecs[i*c.dim:(i+1)*c.dim], c.extras[i])
			if len(b) >= 1<<16 {
				cw.buf = b
				if err := cw.flushBuf(); err != nil {
					return err
				}
				b = cw.buf
			}
		}
		if g := c.g; g == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			b = binary.LittleEndian.AppendUint32(b, uint32(g.m))
			b = binary.LittleEndian.AppendUint32(b, uint32(len(g.levels)))
			b = binary.LittleEndian.AppendUint32(b, g.entry)
			b = binary.LittleEndian.AppendUint32(b, uint32(g.top))
			b = append(b, g.levels...)
			var err error
			if b, err = cw.appendWords(b, g.base); err != nil {
				return err
			}
			if b, err = cw.appendWords(b, g.upperAt); err != nil {
				return err
			}
			b = binary.LittleEndian.AppendUint64(b, uint64(len(g.upper)))
			if b, err = cw.appendWords(b, g.upper); err != nil {
				return err
			}
		}
		cw.buf = b
		if err := cw.flushBuf(); err != nil {
			return err
		}
		tail := binary.LittleEndian.AppendUint32(nil, cw.crc)
		if _, err := w.Write(append(tail, snapEnd...)); err != nil {
			return err
		}
		return w.Flush()
	})
}

// snapReader reads a snapshot, keeping the checksum of what it consumed.
type snapReader struct {
	r    *bufio.Reader
	crc  uint32
	left int64 // bytes of the file not yet consumed
	buf  []byte
	err  error
}

// next returns the next n bytes, valid until the following call.
func (d *snapReader) next(n int64) []byte {
	if d.err != nil {
		return nil
	}
	if n > d.left {
		d.err = io.ErrUnexpectedEOF
		return nil
	}
	if int64(cap(d.buf)) < n {
		d.buf = make([]byte, n)
	}
	b := d.buf[:n]
	if _, err := io.ReadFull(d.r, b); err != nil {
		d.err = err
		return nil
	}
	d.crc = crc32.Update(d.crc, castagnoli, b)
	d.left -= n
	return b
}

func (d *snapReader) u8() byte {
	if b := d.next(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *snapReader) u32() uint32 {
	if b := d.next(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *snapReader) u64() uint64 {
	if b := d.next(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (d *snapReader) uvarint() uint64 {
	var x uint64
	for shift := 0; shift < 64; shift += 7 {
		c := d.u8()
		if d.err != nil {
			return 0
		}
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x
		}
	}
	d.err = errors.New("bad varint")
	return 0
}

// str reads a length-prefixed field of at most limit bytes.
func (d *snapReader) str(limit int) []byte {
	n := d.uvarint()
	if d.err == nil && n > uint64(limit) {
		d.err = fmt.Errorf("field of %d bytes exceeds its limit of %d", n, limit)
	}
	return d.next(int64(n))
}

// readSnapshot loads the snapshot file of the index folder dir into a new
// segment, with room for the items that logs of logBytes may add on top
// (an upsert record holds at least a vector), so that replaying them does
// not copy every vector into a bigger array. Any damage (short file, bad
// checksum, impossible field) is an error naming the file. A graph that is
// damaged in spite of a good checksum is dropped with graphErr set, to be
// rebuilt.
func readSnapshot(dir *disk.Dir, l2For func(Metric) bool, logBytes int64) (h snapHeader, s *segment, graphErr error, err error) {
	path := dir.Path(snapshotName)
	f, err := dir.Open(snapshotName)
	if err != nil {
		return h, nil, nil, fmt.Errorf("snapshot file %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return h, nil, nil, err
	}
	d := &snapReader{r: bufio.NewReaderSize(f, 1<<20), left: fi.Size()}
	bad := func(format string, args ...any) (snapHeader, *segment, error, error) {
		return h, nil, nil, fmt.Errorf("snapshot file %s is damaged: %s", path, fmt.Sprintf(format, args...))
	}
	if string(d.next(8)) != snapMagic {
		return bad("not a vector index snapshot")
	}
	if v := d.u32(); v != snapVersion {
		if d.err == nil {
			return bad("unknown version %d", v)
		}
	}
	h.gen = d.u64()
	h.dim = int(d.u32())
	h.metric = Metric(d.str(16))
	h.model = string(d.str(MaxModel))
	h.created = time.Unix(0, int64(d.u64())).UTC()
	n := d.u64()
	if d.err != nil {
		return bad("header: %v", d.err)
	}
	if h.dim < 1 || h.dim > MaxDim {
		return bad("dimension %d", h.dim)
	}
	if _, err := parseMetric(h.metric); err != nil || h.metric == "" {
		return bad("metric %q", h.metric)
	}
	// Each slot takes at least 4*dim+4 bytes, which bounds n by the file
	// size before any allocation trusts it.
	if n > uint64(d.left)/uint64(4*h.dim+4) {
		return bad("%d slots cannot fit in %d bytes", n, fi.Size())
	}
	s = newSegment(h.dim, l2For(h.metric), int(n)+int(logBytes/int64(4*h.dim)))
	s.lex.pending = true // the caller links it once the logs are replayed too
	vec := make([]float32, h.dim)
	for i := range n {
		flags := d.u8()
		id := d.str(MaxID)
		if id != nil {
			id = append([]byte(nil), id...) // d.next reuses its buffer
		}
		if raw := d.next(int64(4 * h.dim)); raw != nil {
			for j := range vec {
				vec[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
			}
		}
		text := string(d.str(MaxText))
		meta := d.str(MaxMetadata)
		if d.err != nil {
			return bad("slot %d: %v", i, d.err)
		}
		if len(id) == 0 || flags > 1 {
			return bad("slot %d is malformed", i)
		}
		var ex *extra
		if text != "" || len(meta) > 0 {
			ex = &extra{text: text}
			if len(meta) > 0 {
				if err := ex.setMeta(append([]byte(nil), meta...)); err != nil {
					return bad("slot %d metadata: %v", i, err)
				}
			}
		}
		if flags == 1 {
			s.appendDead(string(id), vec, ex)
		} else {
			s.put(string(id), vec, ex, document{})
		}
	}
	var gs *graphState
	switch d.u8() {
	case 0:
	case 1:
		gs = &graphState{m: int(d.u32())}
		nodes := int64(d.u32())
		gs.entry = d.u32()
		gs.top = int(int32(d.u32()))
		if d.err == nil && (gs.m < 2 || gs.m > 1024 || nodes > int64(n)) {
			return bad("graph header (m %d, %d nodes for %d slots)", gs.m, nodes, n)
		}
		gs.levels = append([]uint8(nil), d.next(nodes)...)
		gs.base = d.words(nodes * int64(2*gs.m+1))
		gs.upperAt = d.words(nodes)
		upperLen := d.u64()
		if d.err == nil && upperLen > uint64(d.left)/4 {
			return bad("graph upper slab of %d words", upperLen)
		}
		gs.upper = d.words(int64(upperLen))
	default:
		return bad("graph flag")
	}
	if d.err != nil {
		return bad("%v", d.err)
	}
	sum := d.crc
	tail := d.next(12)
	if d.err != nil {
		return bad("trailer: %v", d.err)
	}
	if binary.LittleEndian.Uint32(tail) != sum || string(tail[4:]) != snapEnd {
		return bad("checksum mismatch")
	}
	if d.left != 0 {
		return bad("%d bytes after the end", d.left)
	}
	if gs != nil {
		g, err := gs.restore(h.dim, s.l2, s.n())
		if err != nil {
			graphErr = fmt.Errorf("graph in snapshot file %s: %w", path, err)
		} else {
			s.g = g
		}
	}
	return h, s, graphErr, nil
}

// words reads n little-endian uint32s.
func (d *snapReader) words(n int64) []uint32 {
	if d.err != nil {
		return nil
	}
	if n > d.left/4 {
		d.err = io.ErrUnexpectedEOF
		return nil
	}
	out := make([]uint32, 0, n)
	for n > 0 {
		chunk := min(n, 1<<14)
		raw := d.next(4 * chunk)
		if raw == nil {
			return nil
		}
		for j := range chunk {
			out = append(out, binary.LittleEndian.Uint32(raw[4*j:]))
		}
		n -= chunk
	}
	return out
}

// restore checks a graph read from disk and turns it into a graph over
// slots of dimension dim: every count and link in range, every node's upper
// layers inside the slab, the entry on the top layer.
func (gs *graphState) restore(dim int, l2 bool, slots int) (*graph, error) {
	g := newGraph(dim, l2, gs.m, DefaultEfConstruction, 0)
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
