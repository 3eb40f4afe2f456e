package vector

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The kernels dot and l2sq use (assembly on amd64) agree with the portable
// versions at every length, including ones that leave a tail after the 32-
// and 8-wide loops, and prefetch accepts any slice, up to its last element.
func TestDistanceKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 100; n++ {
		a, b := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], b[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
		}
		for _, k := range []struct {
			name      string
			got, want float32
		}{
			{"dot", dot(a, b), dotGeneric(a, b)},
			{"l2sq", l2sq(a, b), l2sqGeneric(a, b)},
		} {
			if diff := math.Abs(float64(k.got - k.want)); diff > 1e-4*max(1, math.Abs(float64(k.want))) {
				t.Errorf("%s at length %d: %v, want %v", k.name, n, k.got, k.want)
			}
		}
		c := make([]int8, n)
		for i := range c {
			c[i] = int8(rng.IntN(255) - 127)
		}
		for _, k := range []struct {
			name      string
			got, want float32
		}{
			{"dotI8", dotI8(a, c), dotI8Generic(a, c)},
			{"l2I8", l2I8(a, c, 0.03), l2I8Generic(a, c, 0.03)},
			{"dotI8Generic", dotI8Generic(a, c), naiveI8(a, c, 1, false)},
			{"l2I8Generic", l2I8Generic(a, c, 0.03), naiveI8(a, c, 0.03, true)},
		} {
			if diff := math.Abs(float64(k.got - k.want)); diff > 1e-4*max(1, math.Abs(float64(k.want))) {
				t.Errorf("%s at length %d: %v, want %v", k.name, n, k.got, k.want)
			}
		}
		prefetch(asBytes(a))
		if n > 0 {
			prefetch(asBytes(a[n-1:]))
		}
	}
}

// naiveI8 is the inner product of a and s times the codes c, or the
// squared euclidean distance between them (l2), added up one at a time.
func naiveI8(a []float32, c []int8, s float64, l2 bool) float32 {
	var sum float64
	for i := range a {
		x := s * float64(c[i])
		if l2 {
			sum += (float64(a[i]) - x) * (float64(a[i]) - x)
		} else {
			sum += float64(a[i]) * x
		}
	}
	return float32(sum)
}
