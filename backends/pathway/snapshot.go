package pathway

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"lakehouse/internal/replay"
)

// The snapshot, <dir>/pathway.snap, holds every trace as of a point in
// the log, in a binary form that Open decodes on every CPU, without a copy
// of its strings, several times faster than the log's JSON. Compaction
// writes it and starts the log afresh, so the log holds only what changed
// since (see compact):
//
//	header  "lhpwsnap" | version u32 | 0 u32 | log generation u64 | log bytes u64 |
//	        hash scheme u64 | traces u64 | crc32c of the 48 bytes before u32
//	blocks  frames of package replay, each of up to snapBlock traces:
//	        count uvarint, then the traces
//	trace   uid | content | text | tags: count uvarint, then each | predecessor |
//	        successor | created | updated | retired byte | reason | replays uvarint |
//	        ihash u64
//
// A string is its length (uvarint) and bytes; a time is Unix seconds
// (varint) and nanoseconds (uvarint), in UTC; integers are little-endian.
// The log generation and bytes say what of the log the snapshot holds
// (a [cover]). A damaged block is skipped with a warning, as a damaged log
// line is, and the next found by its checksum; a header that does not
// check refuses the open, since the traces before the log's start would
// be lost.
const (
	snapName    = "pathway.snap"
	snapMagic   = "lhpwsnap"
	snapVersion = 1
	snapHeader  = 52
	snapBlock   = 256     // traces per block
	maxBlock    = 1 << 30 // bytes of a block; a trace is at most some 1.1 MiB
	maxTags     = 1 << 16 // tags of a trace in a snapshot, far above any Config's
)

// A cover is what of the log a snapshot holds: the state after the first
// Bytes bytes of the log of generation Gen. A log's generation is in its
// first record, {"op":"base","gen":N}; a log without one (as every log was
// before snapshots) is generation 0. Compaction writes a snapshot covering
// the whole log of generation N, then replaces the log with an empty one
// of generation N+1; a crash between the two leaves a log whose records
// the snapshot holds, which replay skips.
type cover struct {
	Gen   uint64
	Bytes int64
}

// hashScheme identifies how itemHasher hashes, so that a snapshot's stored
// ihashes are used only by code that would compute the same ones: it
// hashes traces of every state, with and without text (a long content, so
// its rendering is cut), and with tags that JSON escapes. A change of the
// hashing that these do not show should bump schemeVersion.
var hashScheme = sync.OnceValue(func() uint64 {
	long := []byte(`{"k":"` + strings.Repeat("v", 2*contentRender) + `"}`)
	samples := []*Trace{
		{UID: "u1", Content: []byte(`{"k":1}`), Text: "text", Tags: []string{"b", "a", "é<&>\"\\"}},
		{UID: "u2", Content: long, Tags: []string{}, SuccessorUID: "u3"},
		{UID: "u3", Content: long, Text: "t", Tags: []string{"x"}, Retired: true, RetiredReason: "r", ReplayCount: 2},
	}
	sum := uint64(schemeVersion)
	for _, t := range samples {
		sum = sum*0x100000001b3 ^ hashOf(t)
	}
	return sum
})

// schemeVersion is bumped by a change of how traces are hashed that
// hashScheme's samples would not show.
const schemeVersion = 1

// writeSnapshot writes the traces of order to w as a snapshot covering c.
func writeSnapshot(w io.Writer, c cover, order []*Trace) error {
	h := make([]byte, 0, snapHeader)
	h = append(h, snapMagic...)
	h = binary.LittleEndian.AppendUint32(h, snapVersion)
	h = binary.LittleEndian.AppendUint32(h, 0)
	h = binary.LittleEndian.AppendUint64(h, c.Gen)
	h = binary.LittleEndian.AppendUint64(h, uint64(c.Bytes))
	h = binary.LittleEndian.AppendUint64(h, hashScheme())
	h = binary.LittleEndian.AppendUint64(h, uint64(len(order)))
	h = binary.LittleEndian.AppendUint32(h, crc32.Checksum(h, replay.Castagnoli))
	if _, err := w.Write(h); err != nil {
		return err
	}
	var out, block []byte
	for lo := 0; lo < len(order); lo += snapBlock {
		ts := order[lo:min(lo+snapBlock, len(order))]
		block = binary.AppendUvarint(block[:0], uint64(len(ts)))
		for _, t := range ts {
			block = appendTrace(block, t)
		}
		out = replay.AppendFrame(out, block)
		if len(out) >= 1<<20 || lo+snapBlock >= len(order) {
			if _, err := w.Write(out); err != nil {
				return err
			}
			out = out[:0]
		}
	}
	return nil
}

func appendTrace(b []byte, t *Trace) []byte {
	b = appendString(b, t.UID)
	b = appendString(b, unsafe.String(unsafe.SliceData(t.Content), len(t.Content)))
	b = appendString(b, t.Text)
	b = binary.AppendUvarint(b, uint64(len(t.Tags)))
	for _, tag := range t.Tags {
		b = appendString(b, tag)
	}
	b = appendString(b, t.PredecessorUID)
	b = appendString(b, t.SuccessorUID)
	b = appendTime(b, t.CreatedAt)
	b = appendTime(b, t.UpdatedAt)
	var retired byte
	if t.Retired {
		retired = 1
	}
	b = append(b, retired)
	b = appendString(b, t.RetiredReason)
	b = binary.AppendUvarint(b, uint64(t.ReplayCount))
	return binary.LittleEndian.AppendUint64(b, t.ihash)
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendTime(b []byte, t time.Time) []byte {
	return binary.AppendUvarint(binary.AppendVarint(b, t.Unix()), uint64(t.Nanosecond()))
}

// A snapshot is a snapshot file's bytes, its header checked.
type snapshot struct {
	name   string // for messages
	cover  cover
	rehash bool // its ihashes are of another scheme
	count  int  // traces, as the header says
	b      []byte
}

// parseSnapshot checks the header of the snapshot file b.
func parseSnapshot(name string, b []byte) (*snapshot, error) {
	if len(b) < snapHeader || string(b[:8]) != snapMagic {
		return nil, fmt.Errorf("%s is not a pathway snapshot", name)
	}
	if crc32.Checksum(b[:snapHeader-4], replay.Castagnoli) != binary.LittleEndian.Uint32(b[snapHeader-4:]) {
		return nil, fmt.Errorf("the header of pathway snapshot %s is damaged", name)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != snapVersion {
		return nil, fmt.Errorf("pathway snapshot %s is of version %d; this mcpd reads version %d", name, v, snapVersion)
	}
	return &snapshot{
		name:   name,
		cover:  cover{Gen: binary.LittleEndian.Uint64(b[16:]), Bytes: int64(binary.LittleEndian.Uint64(b[24:]))},
		rehash: binary.LittleEndian.Uint64(b[32:]) != hashScheme(),
		count:  int(min(binary.LittleEndian.Uint64(b[40:]), 1<<40)),
		b:      b,
	}, nil
}

// blocks returns the payloads of the snapshot's blocks, in order; the
// damage between them is skipped with a warning.
func (s *snapshot) blocks() (blocks [][]byte) {
	for off := snapHeader; off < len(s.b); {
		if p, ok := replay.FrameAt(s.b[off:], maxBlock); ok {
			blocks = append(blocks, p)
			off += replay.FrameHeader + len(p)
			continue
		}
		next := replay.NextFrame(s.b[off:], maxBlock)
		if next < 0 {
			next = len(s.b) - off
		}
		slog.Warn("skipping a damaged block of the pathway snapshot; its traces are lost",
			"snapshot", s.name, "offset", off, "bytes", next)
		off += next
	}
	return blocks
}

// apply decodes the snapshot's blocks on every CPU and calls apply with
// each, in order, as a put record of its traces. It returns the traces
// applied. A block that does not decode, or that apply refuses, is skipped
// with a warning.
func (s *snapshot) apply(apply func(*record) error) int {
	blocks := s.blocks()
	recs := make([]*record, len(blocks))
	errs := make([]error, len(blocks))
	ready := make([]chan struct{}, len(blocks))
	for i := range ready {
		ready[i] = make(chan struct{})
	}
	var next atomic.Int64
	for range min(runtime.GOMAXPROCS(0), len(blocks)) {
		go func() {
			for i := int(next.Add(1) - 1); i < len(blocks); i = int(next.Add(1) - 1) {
				recs[i], errs[i] = decodeBlock(blocks[i], s.rehash)
				close(ready[i])
			}
		}()
	}
	n := 0
	for i := range blocks {
		<-ready[i]
		err := errs[i]
		if err == nil {
			err = apply(recs[i])
		}
		if err != nil {
			slog.Warn("skipping a block of the pathway snapshot that does not decode or apply; its traces are lost",
				"snapshot", s.name, "block", i, "err", err)
			continue
		}
		n += len(recs[i].Traces)
		recs[i] = nil
	}
	if n < s.count {
		slog.Warn("pathway snapshot lost traces to damage", "snapshot", s.name, "traces", s.count, "lost", s.count-n)
	}
	return n
}

// decodeBlock decodes a block into a put record of its traces, with their
// hashes. The traces' strings and contents point into b, which must never
// change; they are allocated together, a block at a time.
func decodeBlock(b []byte, rehash bool) (*record, error) {
	d := decoder{b: b}
	n := d.uvarint()
	if n == 0 || n > snapBlock {
		return nil, fmt.Errorf("a block of %d traces", n)
	}
	slab := make([]Trace, n)
	r := &record{Op: "put", Traces: make([]*Trace, n), hashes: make([]uint64, n)}
	var tags []string
	for i := range slab {
		t := &slab[i]
		t.UID = d.str()
		t.Content = d.bytes()
		t.Text = d.str()
		k64 := d.uvarint()
		if k64 > maxTags || k64 > uint64(len(d.b)) {
			return nil, fmt.Errorf("a trace with %d tags", k64)
		}
		k := int(k64)
		if len(tags)+k > cap(tags) {
			tags = make([]string, 0, max(k, 2*int(n)))
		}
		for range k {
			tags = append(tags, d.str())
		}
		t.Tags = tags[len(tags)-k : len(tags) : len(tags)]
		normalize(t)
		t.PredecessorUID = d.str()
		t.SuccessorUID = d.str()
		t.CreatedAt = d.time()
		t.UpdatedAt = d.time()
		t.Retired = d.byte() == 1
		t.RetiredReason = d.str()
		t.ReplayCount = int(d.uvarint())
		r.hashes[i] = d.u64()
		r.Traces[i] = t
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%d bytes after the block's traces", len(d.b))
	}
	if rehash {
		h := hashers.Get().(*itemHasher)
		for i, t := range r.Traces {
			r.hashes[i] = h.of(t)
		}
		hashers.Put(h)
	}
	return r, nil
}

// A decoder reads a block; after an error every read returns zero values.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("a trace runs past the block's end")

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	if n == 0 {
		return nil
	}
	return v
}

func (d *decoder) str() string {
	b := d.bytes()
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) time() time.Time {
	sec, nsec := d.varint(), d.uvarint()
	if nsec >= 1e9 {
		d.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errShort
	}
	d.b = nil
}
