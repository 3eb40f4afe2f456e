package vector

import (
	"encoding/binary"
	"math"
	"runtime"
	"sync"
	"unsafe"
)

// Scalar quantisation to int8, per vector: an index created with
// quantization int8 keeps, beside each float vector, its codes c_i =
// round(v_i / s) in [-127, 127] with s = max |v_i| / 127, and searches the
// graph and scans by the codes, a quarter of the bytes. The float vectors
// stay in the snapshot file, mapped but not kept resident (see mem_unix.go),
// and in memory only until the next snapshot holds them: the best
// candidates a search finds by their codes are re-ranked by their exact
// distances from the floats, so results and their distances are exact for
// the items they hold.
//
// A record of codes: dim int8 codes, zeros to a multiple of 4, then s as a
// float32.

// Quantization is how an index keeps its vectors in memory.
type Quantization string

// The quantizations.
const (
	QuantNone Quantization = ""     // float32
	QuantInt8 Quantization = "int8" // int8 codes and a scale per vector; exact re-ranking from the floats
)

// codeWidth is the bytes of a record of dim codes.
func codeWidth(dim int) int { return (dim+3)/4*4 + 4 }

// encode writes v's codes and scale into the record rec.
func encode(rec []byte, v []float32) {
	var topBits uint32 // of the largest magnitude: for floats that are not NaN, bits order as magnitudes do
	for _, x := range v {
		topBits = max(topBits, math.Float32bits(x)&0x7fffffff)
	}
	top := math.Float32frombits(topBits)
	var inv float32
	if top > 0 {
		inv = 127 / top
	}
	c := rec[:len(v)]
	for i, x := range v {
		// Round to nearest, without a branch: x*inv is in [-127, 127], so
		// x*inv + 127.5 is positive and truncating it floors it.
		c[i] = byte(int8(int32(x*inv+127.5) - 127))
	}
	binary.LittleEndian.PutUint32(rec[len(rec)-4:], math.Float32bits(top/127))
}

// codesOf returns the codes and scale in the record rec of dim codes.
func codesOf(rec []byte, dim int) ([]int8, float32) {
	return unsafe.Slice((*int8)(unsafe.Pointer(&rec[0])), dim), math.Float32frombits(binary.LittleEndian.Uint32(rec[len(rec)-4:]))
}

// decode writes the vector the record rec approximates into dst and
// returns it.
func decode(dst []float32, rec []byte) []float32 {
	c, s := codesOf(rec, len(dst))
	for i, x := range c {
		dst[i] = s * float32(x)
	}
	return dst
}

// rerankPool is how many candidates a search of a quantised index
// re-ranks by their exact distances for each result it returns, at most
// ef in all.
const rerankPool = 4

// encodeAll fills the empty store codes with the codes of the first n
// vectors of v, on every CPU.
func encodeAll(codes *vecStore, v *vecStore, n int) {
	for range n {
		codes.grow() // chunks and slots first, so that the workers only write
	}
	cv := codes.view()
	workers := runtime.GOMAXPROCS(0)
	chunk := max(1, (n+workers-1)/workers)
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		wg.Go(func() {
			for i := lo; i < min(lo+chunk, n); i++ {
				encode(cv.record(uint32(i)), v.at(uint32(i)))
			}
		})
	}
	wg.Wait()
}
