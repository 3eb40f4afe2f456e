package main

import (
	"context"
	"encoding/json"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"lakehouse/backends/embed"
	"lakehouse/bench/internal/debian"
)

// dataset makes the data set of p in out, unless an earlier run made it
// with the same parameters: the base vectors, the queries and the ids of
// each query's true top k, as raw little-endian float32 / int32 files.
// params.json holds the data set's parameters, request.json the ones asked
// for (they differ where embedding texts decides the count and the
// dimension).
func dataset(p params, out string) {
	request, _ := json.Marshal(p)
	paramsFile, requestFile := filepath.Join(out, "params.json"), filepath.Join(out, "request.json")
	if old, err := os.ReadFile(requestFile); err == nil && string(old) == string(request) && complete(out) {
		log.Printf("data set: reusing %s", out)
		return
	}
	os.Remove(requestFile)
	t := time.Now()
	var all []float32
	if p.Texts != "" {
		all = embedded(&p)
	} else {
		all = mixture(p, p.N+p.Queries)
	}
	base, queries := all[:p.N*p.Dim], all[p.N*p.Dim:]
	log.Printf("data set: %d + %d vectors of %d dimensions made in %.1fs", p.N, p.Queries, p.Dim, time.Since(t).Seconds())
	t = time.Now()
	truth := bruteForce(p, base, queries)
	log.Printf("data set: exact top %d of %d queries in %.1fs", p.K, p.Queries, time.Since(t).Seconds())
	writeFloats(filepath.Join(out, "base.f32"), base)
	writeFloats(filepath.Join(out, "queries.f32"), queries)
	writeInts(filepath.Join(out, "truth.i32"), truth)
	key, _ := json.Marshal(p)
	check(os.WriteFile(paramsFile, key, 0o644))
	check(os.WriteFile(requestFile, request, 0o644))
}

// complete says whether out holds the files of the data set its
// params.json describes, whole.
func complete(out string) bool {
	b, err := os.ReadFile(filepath.Join(out, "params.json"))
	var p params
	if err != nil || json.Unmarshal(b, &p) != nil {
		return false
	}
	sizes := map[string]int64{"base.f32": int64(p.N) * int64(p.Dim) * 4, "queries.f32": int64(p.Queries) * int64(p.Dim) * 4, "truth.i32": int64(p.Queries) * int64(p.K) * 4}
	for name, size := range sizes {
		if fi, err := os.Stat(filepath.Join(out, name)); err != nil || fi.Size() != size {
			return false
		}
	}
	return true
}

// embedded embeds the paragraphs of the Debian descriptions of p.Texts
// with the default embedder, shuffled by p.Seed: p.N of them for the index
// (fewer if the files hold fewer) and p.Queries more, held out, as the
// queries. It sets
// p's N, Dim and Model to what it made.
func embedded(p *params) []float32 {
	texts, err := debian.Paragraphs(strings.Split(p.Texts, ","), 8)
	check(err)
	rand.New(rand.NewPCG(p.Seed, 0x646562)).Shuffle(len(texts), func(i, j int) { texts[i], texts[j] = texts[j], texts[i] })
	p.N = min(p.N, len(texts)-p.Queries)
	if p.N < 1 {
		log.Fatalf("%d descriptions are too few for %d queries", len(texts), p.Queries)
	}
	texts = texts[:p.N+p.Queries]
	emb, err := embed.New(embed.Config{})
	check(err)
	p.Model = emb.Model()
	var out []float32
	for lo := 0; lo < len(texts); lo += 256 {
		vecs, err := emb.Embed(context.Background(), texts[lo:min(lo+256, len(texts))])
		check(err)
		for _, v := range vecs {
			// Unit length, as the mixture's, so that inner product is
			// cosine on every side.
			var sum float64
			for _, x := range v {
				sum += float64(x) * float64(x)
			}
			for i := range v {
				v[i] = float32(float64(v[i]) / math.Sqrt(sum))
			}
			p.Dim = len(v)
			out = append(out, v...)
		}
	}
	return out
}

// mixture draws count unit vectors: each picks a cluster (clusters are of
// uneven sizes), takes its centre, adds a random combination of the
// cluster's own rank directions, plus a little isotropic noise.
func mixture(p params, count int) []float32 {
	rng := rand.New(rand.NewPCG(p.Seed, 0x6d6978))
	centres := make([]float64, p.Clusters*p.Dim)
	for i := range centres {
		centres[i] = rng.NormFloat64()
	}
	dirs := make([]float64, p.Clusters*p.Rank*p.Dim)
	for i := range dirs {
		dirs[i] = rng.NormFloat64() * 1.1 / math.Sqrt(float64(p.Rank))
	}
	weights := make([]float64, p.Clusters)
	total := 0.0
	for i := range weights {
		weights[i] = 1 / math.Sqrt(float64(i+1))
		total += weights[i]
	}
	out := make([]float32, count*p.Dim)
	v := make([]float64, p.Dim)
	for i := range count {
		u := rng.Float64() * total
		c := 0
		for c < p.Clusters-1 && u > weights[c] {
			u -= weights[c]
			c++
		}
		copy(v, centres[c*p.Dim:(c+1)*p.Dim])
		for r := range p.Rank {
			z := rng.NormFloat64()
			d := dirs[(c*p.Rank+r)*p.Dim : (c*p.Rank+r+1)*p.Dim]
			for j := range v {
				v[j] += z * d[j]
			}
		}
		var norm float64
		for j := range v {
			v[j] += p.Noise * rng.NormFloat64()
			norm += v[j] * v[j]
		}
		norm = math.Sqrt(norm)
		for j := range v {
			out[i*p.Dim+j] = float32(v[j] / norm)
		}
	}
	return out
}

// truthBatch is how many queries one pass over the base vectors scores:
// each base vector is loaded once for all of them, which keeps a pass from
// being bound by memory (1M x 384-d is 1.5 GB).
const truthBatch = 8

// bruteForce computes each query's exact top k by inner product (the
// vectors are unit length, so this is cosine), in float64, on every core,
// truthBatch queries per pass over the base.
func bruteForce(p params, base, queries []float32) []int32 {
	dim := p.Dim
	truth := make([]int32, p.Queries*p.K)
	var wg sync.WaitGroup
	work := make(chan int)
	for range runtime.NumCPU() {
		wg.Go(func() {
			q := make([]float64, truthBatch*dim) // a short last batch leaves zero queries, scored and dropped
			tops := make([]topK, truthBatch)
			for lo := range work {
				nb := min(truthBatch, p.Queries-lo)
				clear(q)
				for b := range nb {
					for j, x := range queries[(lo+b)*dim : (lo+b+1)*dim] {
						q[b*dim+j] = float64(x)
					}
					tops[b] = topK{k: p.K, top: tops[b].top[:0]}
				}
				q0, q1, q2, q3 := q[0*dim:1*dim], q[1*dim:2*dim], q[2*dim:3*dim], q[3*dim:4*dim]
				q4, q5, q6, q7 := q[4*dim:5*dim], q[5*dim:6*dim], q[6*dim:7*dim], q[7*dim:8*dim]
				for i := range p.N {
					v := base[i*dim : (i+1)*dim]
					q0, q1, q2, q3 := q0[:len(v)], q1[:len(v)], q2[:len(v)], q3[:len(v)]
					q4, q5, q6, q7 := q4[:len(v)], q5[:len(v)], q6[:len(v)], q7[:len(v)]
					var s0, s1, s2, s3, s4, s5, s6, s7 float64
					for j, x32 := range v {
						x := float64(x32)
						s0 += q0[j] * x
						s1 += q1[j] * x
						s2 += q2[j] * x
						s3 += q3[j] * x
						s4 += q4[j] * x
						s5 += q5[j] * x
						s6 += q6[j] * x
						s7 += q7[j] * x
					}
					s := [truthBatch]float64{s0, s1, s2, s3, s4, s5, s6, s7}
					for b := range nb {
						tops[b].offer(s[b], int32(i))
					}
				}
				for b := range nb {
					for j, e := range tops[b].top {
						truth[(lo+b)*p.K+j] = e.id
					}
				}
			}
		})
	}
	for lo := 0; lo < p.Queries; lo += truthBatch {
		work <- lo
	}
	close(work)
	wg.Wait()
	return truth
}

// topK keeps the k best-scored ids offered, best first.
type topK struct {
	k   int
	top []scored
}

type scored struct {
	s  float64
	id int32
}

func (t *topK) offer(s float64, id int32) {
	if len(t.top) == t.k && s <= t.top[t.k-1].s {
		return
	}
	pos, _ := slices.BinarySearchFunc(t.top, s, func(e scored, s float64) int {
		if e.s > s {
			return -1
		}
		return 1
	})
	t.top = slices.Insert(t.top, pos, scored{s, id})
	if len(t.top) > t.k {
		t.top = t.top[:t.k]
	}
}
