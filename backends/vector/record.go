package vector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Log record payloads:
//
//	upsert  0x01 | count uvarint | count x item
//	delete  0x02 | count uvarint | count x (id length uvarint | id)
//	item    id length uvarint | id | dim x float32 | text length uvarint | text | metadata length uvarint | metadata JSON
//	shared  0x03 | feed number uvarint | an upsert or delete payload, or nothing
//
// Floats are IEEE 754 bits, little-endian. The dimension is the index's;
// vectors are stored as the index keeps them (normalised under cosine).
// The snapshot stores its items' ids, texts and metadata the same way.
//
// Only an index in shared mode writes shared records (shared.go): each
// wraps a write with the number the change feed gave it, or is a mark
// alone, so that replaying the log tells which feed number the index's
// state covers (segment.feedSeq). A local index never writes one.

const (
	recUpsert = 1
	recDelete = 2
	recShared = 3
)

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendFloats(b []byte, v []float32) []byte {
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func appendItem(b []byte, id string, vec []float32, ex *extra) []byte {
	b = appendString(b, id)
	b = appendFloats(b, vec)
	return appendExtra(b, ex)
}

// appendExtra appends an item's text and metadata.
func appendExtra(b []byte, ex *extra) []byte {
	if ex == nil {
		return append(b, 0, 0)
	}
	b = appendString(b, ex.text)
	b = binary.AppendUvarint(b, uint64(len(ex.meta)))
	return append(b, ex.meta...)
}

func encodeUpsert(items []prepared, dim int) []byte {
	b := make([]byte, 0, 16+len(items)*(4*dim+32))
	b = append(b, recUpsert)
	b = binary.AppendUvarint(b, uint64(len(items)))
	for _, it := range items {
		b = appendItem(b, it.id, it.vec, it.ex)
	}
	return b
}

func encodeDelete(ids []string) []byte {
	b := []byte{recDelete}
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = appendString(b, id)
	}
	return b
}

// encodeShared wraps payload (nil for a mark alone) with feed number seq.
func encodeShared(seq int64, payload []byte) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+1+len(payload))
	b = append(b, recShared)
	b = binary.AppendUvarint(b, uint64(seq))
	return append(b, payload...)
}

var errShort = errors.New("unexpected end of record")

// reader decodes from a byte slice; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail(errShort)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) u32() uint32 {
	if b := r.bytes(4, 4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.bytes(8, 8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// bytes returns the next n bytes, aliasing the input.
func (r *reader) bytes(n uint64, limit int) []byte {
	if n > uint64(limit) {
		r.fail(fmt.Errorf("field of %d bytes exceeds its limit of %d", n, limit))
		return nil
	}
	if uint64(len(r.b)) < n {
		r.fail(errShort)
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) floats(dst []float32) {
	if len(r.b) < 4*len(dst) {
		r.fail(errShort)
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(r.b[4*i:]))
	}
	r.b = r.b[4*len(dst):]
}

// item decodes one item; vec receives the vector. The returned strings and
// extra are copies, safe to keep.
func (r *reader) item(vec []float32) (string, *extra) {
	id := string(r.bytes(r.uvarint(), MaxID))
	r.floats(vec)
	return id, r.extra(id)
}

// extra decodes the text and metadata of item id, as a copy.
func (r *reader) extra(id string) *extra {
	text := r.bytes(r.uvarint(), MaxText)
	meta := r.bytes(r.uvarint(), MaxMetadata)
	if r.err != nil {
		return nil
	}
	if id == "" {
		r.fail(errors.New("empty id"))
		return nil
	}
	if len(text) == 0 && len(meta) == 0 {
		return nil
	}
	ex := &extra{text: string(text)}
	if len(meta) > 0 {
		if err := ex.setMeta(append([]byte(nil), meta...)); err != nil {
			r.fail(fmt.Errorf("metadata of %q: %w", id, err))
			return nil
		}
	}
	return ex
}

// applyRecord decodes a log record and applies it to s.
func applyRecord(s *segment, payload []byte) error {
	if len(payload) > 0 && payload[0] == recShared {
		r := &reader{b: payload[1:]}
		seq := int64(r.uvarint())
		if r.err != nil || seq <= 0 {
			return errors.New("shared record without a feed number")
		}
		if len(r.b) > 0 {
			if r.b[0] == recShared {
				return errors.New("shared record inside a shared record")
			}
			if err := applyRecord(s, r.b); err != nil {
				return err
			}
		}
		s.feedSeq = max(s.feedSeq, seq)
		return nil
	}
	w, err := decodeWrite(payload, s.dim)
	if err != nil {
		return err
	}
	for _, p := range w.items {
		s.put(p.id, p.vec, p.ex, document{}) // replay: the lexicon is pending (see lexicon.link)
	}
	for _, id := range w.ids {
		s.remove(id)
	}
	return nil
}

// A write is a decoded upsert or delete record.
type write struct {
	items []prepared // an upsert's, their documents not analysed
	ids   []string   // a delete's
}

// decodeWrite decodes an upsert or delete record of an index of dim
// dimensions, whole: a bad record yields an error and nothing else.
func decodeWrite(payload []byte, dim int) (write, error) {
	var w write
	r := &reader{b: payload}
	kind := r.byte()
	count := r.uvarint()
	if r.err != nil {
		return w, r.err
	}
	if count > MaxBatch {
		return w, fmt.Errorf("record of %d items exceeds the batch limit", count)
	}
	switch kind {
	case recUpsert:
		// Each item takes at least 4*dim bytes: a damaged count cannot ask
		// for more room than the record holds.
		if count > uint64(len(r.b)/max(1, 4*dim)) {
			return w, errShort
		}
		w.items = make([]prepared, 0, count)
		vecs := make([]float32, int(count)*dim)
		for i := range int(count) {
			vec := vecs[i*dim : (i+1)*dim : (i+1)*dim]
			id, ex := r.item(vec)
			if r.err != nil {
				return write{}, r.err
			}
			w.items = append(w.items, prepared{id: id, vec: vec, ex: ex})
		}
		if len(r.b) != 0 {
			return write{}, errors.New("trailing bytes after the items")
		}
	case recDelete:
		w.ids = make([]string, 0, count)
		for range count {
			w.ids = append(w.ids, string(r.bytes(r.uvarint(), MaxID)))
		}
		if r.err != nil {
			return write{}, r.err
		}
		if len(r.b) != 0 {
			return write{}, errors.New("trailing bytes after the ids")
		}
	default:
		return write{}, fmt.Errorf("unknown record type %d", kind)
	}
	return w, nil
}
