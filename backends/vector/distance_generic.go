//go:build !amd64 || purego

package vector

// dot returns the inner product of a and b; b must be at least as long as a.
func dot(a, b []float32) float32 { return dotGeneric(a, b) }

// l2sq returns the squared euclidean distance between a and b; b must be at
// least as long as a.
func l2sq(a, b []float32) float32 { return l2sqGeneric(a, b) }

// prefetch is a no-op without assembly.
func prefetch(v []float32) {}
