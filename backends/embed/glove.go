package embed

// The word table of the hybrid provider: GloVe 6B 100-d vectors of the 50,000
// most frequent alphabetic English words, 4-bit quantised, embedded in the
// binary gzip-compressed and loaded on first use.
//
// Format of glove/glove50k.bin.gz once gunzipped (little-endian throughout).
// The file is two gzip members, read as one stream: the first holds
// everything up to the vectors, compressed; the second the vectors, stored
// as they are, since 4-bit codes barely compress and inflating them would
// make loading six times slower.
//
//	magic    8 bytes  "LHGLOVE1"; a new layout gets a new magic
//	rows     uint32   number of words, 50000
//	dim      uint32   dimensions per vector, 100 (even)
//	codebook 16 × float32, the values a 4-bit code stands for
//	words    rows × (uint8 length, UTF-8 bytes), lower case, most frequent first
//	vectors  rows × (float32 scale, dim/2 bytes of codes: the code of dimension
//	         2k in the low nibble of byte k, of 2k+1 in its high nibble)
//
// Dimension j of row r is scale[r] × codebook[code[r][j]]. A word's row is its
// frequency rank. The generator (internal/glovegen) has already centred the
// vectors and removed their first principal component. See glove/README.md
// for where the data comes from and how to regenerate it.

//go:generate go run ./internal/glovegen -out glove/glove50k.bin.gz

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
)

//go:embed glove/glove50k.bin.gz
var gloveGz []byte

const tableMagic = "LHGLOVE1"

// gloveTable is the decoded word table. It is read-only once loaded.
//
// Its word index is an open-addressing hash table of row numbers rather than
// a Go map: it holds no pointers and is built with one allocation, which
// matters on the first Embed, when the whole table is decoded at once.
type gloveTable struct {
	dim   int
	n     int             // rows
	text  string          // the words section: (length byte, bytes) a row
	offs  []uint32        // where row r's entry starts in text
	index []int32         // row+1 at the slot of its word's hash (linear probing); 0 = empty
	vecs  []byte          // n × (4-byte scale, dim/2 bytes of codes)
	pairs [256][2]float32 // the two codebook values a code byte stands for
}

const indexSeed = 0x69

// loadGlove returns the word table, decoding it on the first call.
var loadGlove = sync.OnceValues(func() (*gloveTable, error) {
	t, err := decodeGlove(gloveGz)
	if err != nil {
		return nil, fmt.Errorf("embedded GloVe table: %w", err)
	}
	return t, nil
})

// decodeGlove decodes a gzipped table in the format above.
func decodeGlove(gz []byte) (*gloveTable, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	// Most of the content is stored, not compressed, so it is little larger
	// than gz: one allocation, no growing.
	var buf bytes.Buffer
	buf.Grow(len(gz) + len(gz)/8 + 512)
	if _, err := buf.ReadFrom(zr); err != nil {
		return nil, err
	}
	b := buf.Bytes()

	const head = len(tableMagic) + 4 + 4 + 16*4
	if len(b) < head || string(b[:len(tableMagic)]) != tableMagic {
		return nil, fmt.Errorf("not a %s table", tableMagic)
	}
	b = b[len(tableMagic):]
	rows := int(binary.LittleEndian.Uint32(b))
	dim := int(binary.LittleEndian.Uint32(b[4:]))
	b = b[8:]
	if dim <= 0 || dim%2 != 0 || rows <= 0 || rows > 1<<24 {
		return nil, fmt.Errorf("bad shape %d × %d", rows, dim)
	}
	var book [16]float32
	for k := range book {
		book[k] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*k:]))
	}
	b = b[16*4:]

	t := &gloveTable{dim: dim, n: rows}
	for c := range t.pairs {
		t.pairs[c] = [2]float32{book[c&15], book[c>>4]}
	}

	// The words: one copy of their section, entries found by offset.
	end := 0
	t.offs = make([]uint32, rows)
	for r := range rows {
		if end >= len(b) || b[end] == 0 {
			return nil, fmt.Errorf("words end early or hold an empty one")
		}
		t.offs[r] = uint32(end)
		end += 1 + int(b[end])
	}
	if end > len(b) {
		return nil, io.ErrUnexpectedEOF
	}
	if stride := 4 + dim/2; len(b)-end != rows*stride {
		return nil, fmt.Errorf("vectors take %d bytes, want %d", len(b)-end, rows*stride)
	}
	t.text = string(b[:end])
	t.vecs = b[end:]

	size := 1
	for size < 2*rows {
		size *= 2
	}
	t.index = make([]int32, size)
	mask := uint64(size - 1)
	for r := range rows {
		w := t.word(r)
		k := hashString(indexSeed, w) & mask
		for ; t.index[k] != 0; k = (k + 1) & mask {
			if t.word(int(t.index[k]-1)) == w {
				return nil, fmt.Errorf("word %q is repeated", w)
			}
		}
		t.index[k] = int32(r + 1)
	}
	return t, nil
}

// word returns the word of row r.
func (t *gloveTable) word(r int) string {
	o := int(t.offs[r])
	return t.text[o+1 : o+1+int(t.text[o])]
}

// row returns the row of word w, or -1.
func (t *gloveTable) row(w string) int {
	mask := uint64(len(t.index) - 1)
	for k := hashString(indexSeed, w) & mask; t.index[k] != 0; k = (k + 1) & mask {
		if r := int(t.index[k] - 1); t.word(r) == w {
			return r
		}
	}
	return -1
}

// lookup returns the row of word w, or -1. A word with a clitic the table
// lacks ("john's", "we're", "i'll") is looked up by its stem.
func (t *gloveTable) lookup(w string) int {
	if r := t.row(w); r >= 0 {
		return r
	}
	if i := strings.IndexByte(w, '\''); i > 0 {
		switch w[i:] {
		case "'s", "'d", "'m", "'re", "'ve", "'ll":
			return t.row(w[:i])
		}
	}
	return -1
}

// addRow adds f times the vector of row r to dst (length t.dim).
func (t *gloveTable) addRow(dst []float32, r int, f float32) {
	row := t.vecs[r*(4+t.dim/2) : (r+1)*(4+t.dim/2)]
	f *= math.Float32frombits(binary.LittleEndian.Uint32(row))
	codes := row[4:]
	dst = dst[:2*len(codes)]
	for k, c := range codes {
		p := &t.pairs[c]
		dst[2*k] += f * p[0]
		dst[2*k+1] += f * p[1]
	}
}

// vector returns the decoded vector of row r.
func (t *gloveTable) vector(r int) []float32 {
	v := make([]float32, t.dim)
	t.addRow(v, r, 1)
	return v
}
