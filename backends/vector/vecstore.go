package vector

import (
	"encoding/binary"
	"runtime"
	"sync"
	"unsafe"
)

// A vecStore holds the vectors of a segment's slots, in chunks of a fixed
// number of vectors, so that growing never copies a vector and never
// holds two copies of the array. Chunks live outside the Go heap (see
// mem_unix.go): anonymous memory, or the vector section of a snapshot
// file mapped as it is. So the garbage collector neither scans them nor
// counts them, and the headroom it leaves the heap (GOGC) is a fraction of
// the small heap, not of the vectors.
//
// Slot i's vector never changes once added. A writer adds under the
// index's write lock; readers take a view, which stays valid for the slots
// it covers while the store is reachable: the memory is released by a
// cleanup once nothing refers to the store, so whoever uses a view keeps
// its store alive (runtime.KeepAlive where the view outlives every other
// use of the store).
type vecStore struct {
	vecView
	n       int      // slots stored
	offHeap []bool   // per chunk: outside the Go heap (the system may not allow it)
	mem     *regions // what to release once the store is unreachable
}

// A vecView reads the vectors of a store: slot i is in chunks[i>>shift].
type vecView struct {
	chunks [][]float32
	dim    int
	shift  uint
}

// A chunk holds the smallest power of two of vectors that is at least
// minChunkVectors and takes at least minChunkBytes. So its bytes are a
// multiple of 16 KiB, of the page size on the systems served, which lets
// chunks map a snapshot file as it is (see snapAlign).
const (
	minChunkShift = 12
	minChunkBytes = 4 << 20
)

func chunkShift(dim int) uint {
	s := uint(minChunkShift)
	for (1<<s)*4*dim < minChunkBytes {
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

func newVecStore(dim int) *vecStore {
	v := &vecStore{vecView: vecView{dim: dim, shift: chunkShift(dim)}, mem: new(regions)}
	runtime.AddCleanup(v, (*regions).release, v.mem)
	return v
}

// chunkLen is the floats of one chunk.
func (v *vecView) chunkLen() int { return v.dim << v.shift }

func (v *vecView) at(i uint32) []float32 {
	c := v.chunks[i>>v.shift]
	o := int(i&(1<<v.shift-1)) * v.dim
	return c[o : o+v.dim : o+v.dim]
}

// add stores vec as the next slot's vector.
func (v *vecStore) add(vec []float32) {
	k := v.n >> v.shift
	if k == len(v.chunks) {
		v.newChunk()
	}
	o := (v.n & (1<<v.shift - 1)) * v.dim
	copy(v.chunks[k][o:o+v.dim], vec)
	v.n++
}

// newChunk appends an empty chunk and returns it.
func (v *vecStore) newChunk() []float32 {
	c, off := v.mem.alloc(v.chunkLen())
	v.appendChunk(c, off)
	return c
}

func (v *vecStore) appendChunk(c []float32, offHeap bool) {
	v.chunks = append(v.chunks, c)
	v.offHeap = append(v.offHeap, offHeap)
}

// view returns a view of the slots stored so far.
func (v *vecStore) view() vecView { return v.vecView }

// bytes is the memory the vectors take: their floats, rounded up to whole
// pages in the last chunk, which is all of it that has been touched.
func (v *vecStore) bytes() int64 {
	return roundUp(4*v.n*v.dim, 4096)
}

// bytesFloats returns b, whose length is a multiple of 4 and which is
// aligned for floats, as floats.
func bytesFloats(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}

// regions is the memory a store has outside the Go heap.
type regions struct {
	mu   sync.Mutex
	list [][]byte
}

// alloc returns n zeroed floats outside the Go heap where the system
// allows it (offHeap), and from the heap otherwise.
func (r *regions) alloc(n int) (_ []float32, offHeap bool) {
	b, err := mapAnon(4 * n)
	if err != nil {
		return make([]float32, n), false
	}
	r.keep(b)
	return bytesFloats(b), true
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
