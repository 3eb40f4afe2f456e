package vector

import (
	"encoding/binary"
	"runtime"
	"sync"
	"unsafe"
)

// A vecStore holds the vectors of a segment's slots, one record of a fixed
// width per slot, in chunks of a fixed number of records, so that growing
// never copies a record and never holds two copies of the array. A record
// is a vector's float32s, or its int8 codes and their scale (see quant.go).
// Chunks live outside the Go heap (see mem_unix.go): anonymous memory, or
// the vector section of a snapshot file mapped as it is. So the garbage
// collector neither scans them nor counts them, and the headroom it leaves
// the heap (GOGC) is a fraction of the small heap, not of the vectors.
//
// Slot i's record never changes once added. A writer adds under the
// index's write lock; readers take a view, which stays valid for the slots
// it covers while the store is reachable: the memory is released by a
// cleanup once nothing refers to the store, so whoever uses a view keeps
// its store alive (runtime.KeepAlive where the view outlives every other
// use of the store).
type vecStore struct {
	vecView
	n       int      // slots stored
	offHeap []bool   // per chunk: outside the Go heap (the system may not allow it)
	mapped  []bool   // per chunk: pages of the snapshot file
	mem     *regions // what to release once the store is unreachable
}

// A vecView reads the records of a store: slot i is in chunks[i>>shift],
// and dist compares a query with it as its kind says.
type vecView struct {
	chunks [][]byte
	width  int // bytes of a record
	dim    int
	shift  uint
	kind   recordKind
}

// recordKind is what a store's records are and how they compare: floats
// under the negated inner product or the squared euclidean distance, or
// int8 codes (see quant.go) under the same.
type recordKind uint8

const (
	floatDot recordKind = iota
	floatL2
	codesDot
	codesL2
)

// kindOf is the kind of a store of floats (or, if codes, of codes) under
// the squared euclidean distance (l2) or the negated inner product.
func kindOf(l2, codes bool) recordKind {
	k := floatDot
	if l2 {
		k = floatL2
	}
	if codes {
		k += codesDot
	}
	return k
}

// A chunk holds the smallest power of two of records that is at least
// 2^minChunkShift and takes at least minChunkBytes. So a chunk of vectors
// is a multiple of 16 KiB, of the page size on the systems served, which
// lets chunks map a snapshot file as it is (see snapAlign).
const (
	minChunkShift = 12
	minChunkBytes = 4 << 20
)

func chunkShift(width int) uint {
	s := uint(minChunkShift)
	for (1<<s)*width < minChunkBytes {
		s++
	}
	return s
}

func init() {
	// Vectors are stored and mapped as the file's little-endian floats.
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		panic("vector: this package needs a little-endian CPU")
	}
}

// newVecStore returns an empty store of dim-dimensional vectors of kind.
func newVecStore(dim int, kind recordKind) *vecStore {
	w := 4 * dim
	if kind >= codesDot {
		w = codeWidth(dim)
	}
	v := &vecStore{vecView: vecView{width: w, dim: dim, shift: chunkShift(w), kind: kind}, mem: new(regions)}
	runtime.AddCleanup(v, (*regions).release, v.mem)
	return v
}

// chunkBytes is the bytes of one chunk.
func (v *vecView) chunkBytes() int { return v.width << v.shift }

// record returns slot i's record.
func (v *vecView) record(i uint32) []byte {
	c := v.chunks[i>>v.shift]
	o := int(i&(1<<v.shift-1)) * v.width
	return c[o : o+v.width : o+v.width]
}

// at returns slot i's vector, of a store of floats.
func (v *vecView) at(i uint32) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(&v.record(i)[0])), v.dim)
}

// dist is the distance from q to slot i: smaller is nearer.
func (v *vecView) dist(q []float32, i uint32) float32 {
	switch v.kind {
	case floatDot:
		return -dot(q, v.at(i))
	case floatL2:
		return l2sq(q, v.at(i))
	case codesDot:
		c, s := codesOf(v.record(i), v.dim)
		return -s * dotI8(q, c)
	default:
		c, s := codesOf(v.record(i), v.dim)
		return l2I8(q, c, s)
	}
}

// query returns slot i's vector, to search with: its floats, or its codes
// decoded into buf.
func (v *vecView) query(i uint32, buf []float32) []float32 {
	if v.kind < codesDot {
		return v.at(i)
	}
	return decode(buf[:v.dim], v.record(i))
}

// prefetch starts loading slot i's record into the CPU's caches.
func (v *vecView) prefetch(i uint32) { prefetch(v.record(i)) }

// grow adds a slot and returns its record, to fill.
func (v *vecStore) grow() []byte {
	if v.n>>v.shift == len(v.chunks) {
		c, off := v.mem.alloc(v.chunkBytes())
		v.appendChunk(c, off, false)
	}
	v.n++
	return v.record(uint32(v.n - 1))
}

// add stores vec as the next slot's vector, of a store of floats.
func (v *vecStore) add(vec []float32) { copy(v.grow(), asBytes(vec)) }

func (v *vecStore) appendChunk(c []byte, offHeap, mapped bool) {
	v.chunks = append(v.chunks, c)
	v.offHeap = append(v.offHeap, offHeap)
	v.mapped = append(v.mapped, mapped)
}

// load fills the empty store v with the n records in data from offset
// off on, size bytes, as a snapshot lays them out: each full chunk mapped
// from data where data is a mapping of the file and a chunk is whole
// pages, the rest copied. It returns the range of data that v keeps
// mapped (empty when none), which the caller must not unmap.
func (v *vecStore) load(data []byte, off, size int64, n int, mapped bool) [2]int64 {
	cb := int64(v.chunkBytes())
	full := int64(n >> v.shift)
	if !mapped || cb%int64(pageSize) != 0 {
		full = 0
	}
	for k := range int64((n + 1<<v.shift - 1) >> v.shift) {
		src := data[off+k*cb : off+min((k+1)*cb, size)]
		if k < full {
			v.appendChunk(src, true, true)
			continue
		}
		c, heapless := v.mem.alloc(v.chunkBytes())
		copy(c, src)
		v.appendChunk(c, heapless, false)
	}
	v.n = n
	if full == 0 {
		return [2]int64{}
	}
	v.mem.keep(data[off : off+full*cb])
	return [2]int64{off, off + full*cb}
}

// view returns a view of the slots stored so far.
func (v *vecStore) view() vecView { return v.vecView }

// bytes is the memory the records take, rounded up to whole pages in the
// last chunk, which is all of it that has been touched.
func (v *vecStore) bytes() int64 {
	return roundUp(v.n*v.width, 4096)
}

// regions is the memory a store has outside the Go heap.
type regions struct {
	mu   sync.Mutex
	list [][]byte
}

// alloc returns n zeroed bytes outside the Go heap where the system allows
// it (offHeap), and from the heap otherwise, aligned for floats either way.
func (r *regions) alloc(n int) (_ []byte, offHeap bool) {
	b, err := mapAnon(n)
	if err != nil {
		return asBytes(make([]float32, (n+3)/4))[:n], false
	}
	r.keep(b)
	return b, true
}

// keep records b, mapped memory, to be released with the rest.
func (r *regions) keep(b []byte) {
	r.mu.Lock()
	r.list = append(r.list, b)
	r.mu.Unlock()
}

func (r *regions) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.list {
		unmap(b)
	}
	r.list = nil
}
