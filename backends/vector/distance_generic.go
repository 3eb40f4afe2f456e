//go:build !amd64 || purego

package vector

// dot returns the inner product of a and b; b must be at least as long as a.
func dot(a, b []float32) float32 { return dotGeneric(a, b) }

// l2sq returns the squared euclidean distance between a and b; b must be at
// least as long as a.
func l2sq(a, b []float32) float32 { return l2sqGeneric(a, b) }

// dotI8 returns the inner product of a and the codes c, which must be at
// least as long as a.
func dotI8(a []float32, c []int8) float32 { return dotI8Generic(a, c) }

// l2I8 returns the squared euclidean distance between a and the codes c
// scaled by s; c must be at least as long as a.
func l2I8(a []float32, c []int8, s float32) float32 { return l2I8Generic(a, c, s) }

// prefetch is a no-op without assembly.
func prefetch(v []byte) {}
