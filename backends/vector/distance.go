package vector

import "math"

// The kernels below compare two vectors of equal length. dot and l2sq pick
// the fastest implementation the CPU offers (see distance_amd64.go); the
// portable versions here are the reference and the fallback.

// dotGeneric returns the inner product of a and b[:len(a)].
//
// Four independent accumulators let the CPU overlap the additions instead of
// waiting for each to finish; the re-slicing to exactly eight elements lets
// the compiler drop the bounds checks inside the loop.
func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		x := a[i : i+8 : i+8]
		y := b[i : i+8 : i+8]
		s0 += x[0]*y[0] + x[4]*y[4]
		s1 += x[1]*y[1] + x[5]*y[5]
		s2 += x[2]*y[2] + x[6]*y[6]
		s3 += x[3]*y[3] + x[7]*y[7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// l2sqGeneric returns the squared euclidean distance between a and b[:len(a)].
func l2sqGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		x := a[i : i+8 : i+8]
		y := b[i : i+8 : i+8]
		d0, d1, d2, d3 := x[0]-y[0], x[1]-y[1], x[2]-y[2], x[3]-y[3]
		d4, d5, d6, d7 := x[4]-y[4], x[5]-y[5], x[6]-y[6], x[7]-y[7]
		s0 += d0*d0 + d4*d4
		s1 += d1*d1 + d5*d5
		s2 += d2*d2 + d6*d6
		s3 += d3*d3 + d7*d7
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// normalize scales v in place to unit length and reports whether it could:
// a zero vector has no direction.
func normalize(v []float32) bool {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return false
	}
	inv := 1 / math.Sqrt(sum)
	for i, x := range v {
		v[i] = float32(float64(x) * inv)
	}
	return true
}

// dotI8Generic returns the inner product of a and the codes c[:len(a)].
func dotI8Generic(a []float32, c []int8) float32 {
	c = c[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		x := a[i : i+4 : i+4]
		y := c[i : i+4 : i+4]
		s0 += x[0] * float32(y[0])
		s1 += x[1] * float32(y[1])
		s2 += x[2] * float32(y[2])
		s3 += x[3] * float32(y[3])
	}
	for ; i < len(a); i++ {
		s0 += a[i] * float32(c[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// l2I8Generic returns the squared euclidean distance between a and the
// codes c[:len(a)] scaled by s.
func l2I8Generic(a []float32, c []int8, s float32) float32 {
	c = c[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		x := a[i : i+4 : i+4]
		y := c[i : i+4 : i+4]
		d0, d1, d2, d3 := x[0]-s*float32(y[0]), x[1]-s*float32(y[1]), x[2]-s*float32(y[2]), x[3]-s*float32(y[3])
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(a); i++ {
		d := a[i] - s*float32(c[i])
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}
