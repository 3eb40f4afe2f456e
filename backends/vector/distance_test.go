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
		prefetch(a)
		if n > 0 {
			prefetch(a[n-1:])
		}
	}
}
