//go:build amd64 && !purego

package vector

// haveAVX2 reports whether the CPU and the operating system support AVX2 and
// FMA, which the assembly kernels in distance_amd64.s use.
var haveAVX2 = detectAVX2()

func detectAVX2() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, c1, _ := cpuid(1, 0)
	const (
		fma     = 1 << 12
		osxsave = 1 << 27
		avx     = 1 << 28
	)
	if c1&(fma|osxsave|avx) != fma|osxsave|avx {
		return false
	}
	// The OS must save the SSE and AVX register state (XCR0 bits 1 and 2).
	if xcr0, _ := xgetbv(); xcr0&6 != 6 {
		return false
	}
	_, b7, _, _ := cpuid(7, 0)
	return b7&(1<<5) != 0
}

// Implemented in distance_amd64.s. Both read len(a) elements of a and b.
func dotAVX2(a, b []float32) float32
func l2sqAVX2(a, b []float32) float32
func dotI8AVX2(a []float32, c []int8) float32
func l2I8AVX2(a []float32, c []int8, s float32) float32
func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax, edx uint32)

// dot returns the inner product of a and b; b must be at least as long as a.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	if haveAVX2 {
		return dotAVX2(a, b)
	}
	return dotGeneric(a, b)
}

// l2sq returns the squared euclidean distance between a and b; b must be at
// least as long as a.
func l2sq(a, b []float32) float32 {
	b = b[:len(a)]
	if haveAVX2 {
		return l2sqAVX2(a, b)
	}
	return l2sqGeneric(a, b)
}

// dotI8 returns the inner product of a and the codes c, which must be at
// least as long as a.
func dotI8(a []float32, c []int8) float32 {
	c = c[:len(a)]
	if haveAVX2 {
		return dotI8AVX2(a, c)
	}
	return dotI8Generic(a, c)
}

// l2I8 returns the squared euclidean distance between a and the codes c
// scaled by s; c must be at least as long as a.
func l2I8(a []float32, c []int8, s float32) float32 {
	c = c[:len(a)]
	if haveAVX2 {
		return l2I8AVX2(a, c, s)
	}
	return l2I8Generic(a, c, s)
}

func prefetchAsm(p *byte, n int)

// prefetch asks the CPU to start loading v into its caches. A graph search
// reads vectors from all over memory; prefetching the next few while it
// computes a distance overlaps their memory latency with work.
func prefetch(v []byte) {
	if len(v) > 0 {
		prefetchAsm(&v[0], len(v))
	}
}
