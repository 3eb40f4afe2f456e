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
)

// Version 1 of the snapshot file, read so that indexes written before
// version 2 open; the next snapshot of such an index is written as
// version 2:
//
//	"lhvecsnp" | version u32
//	generation u64 | dim u32 | metric (uvarint length, bytes) | model (same) | created unix nanoseconds i64
//	slot count u64, then per slot: flags u8 (1 = tombstone) | item (as in record.go)
//	graph u8 (0 = none), then if 1:
//	    m u32 | nodes u32 | entry u32 | top u32
//	    level u8 per node | layer-0 slab u32 x nodes*(2m+1) | upper offset u32 per node
//	    upper slab length u64 | upper slab u32 x length
//	crc32c of everything above u32 | "lhvecend"

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

// readSnapshotV1 is readSnapshot for a file of version 1, f, of size
// bytes, read from its start.
func readSnapshotV1(f io.Reader, size int64, path string, l2For func(Metric) bool) (h snapHeader, s *segment, graphErr error, err error) {
	d := &snapReader{r: bufio.NewReaderSize(f, 1<<20), left: size}
	bad := func(format string, args ...any) (snapHeader, *segment, error, error) {
		return h, nil, nil, fmt.Errorf("snapshot file %s is %w: %s", path, errDamaged, fmt.Sprintf(format, args...))
	}
	if string(d.next(8)) != snapMagic {
		return bad("not a vector index snapshot")
	}
	d.u32() // the version, 1
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
		return bad("%d slots cannot fit in %d bytes", n, size)
	}
	s = newSegment(h.dim, l2For(h.metric), QuantNone, int(n))
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
		s.vecs.add(vec) // version 1 has no quantised indexes
		if other, ok := s.loadSlot(string(id), ex, flags == 1); !ok {
			return bad("slot %d holds id %q, which slot %d holds too", i, id, other)
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
		graphErr = s.attach(gs, path)
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
