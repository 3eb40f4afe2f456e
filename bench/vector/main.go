// Command vector benchmarks lakehouse's vector index (backends/vector) on
// synthetic embeddings and writes the data set for bench/vector/run.sh to
// run hnswlib on, so both libraries answer the same queries.
//
// It generates n vectors and the queries from a seeded Gaussian mixture
// shaped like sentence embeddings (clusters, each spread mostly along a
// few directions of its own, plus isotropic noise, normalised to unit
// length), computes the exact top-k of every query by brute force, then
// builds an index through the public API, measures recall@k and
// single-thread queries per second at several ef, its memory, and how long
// it takes to open again. Results go to <out>/lakehouse.json.
//
// Usage: go run ./bench/vector [-n 100000] [-dim 384] [-out dir]
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"lakehouse/backends/vector"
)

type params struct {
	N        int     `json:"n"`
	Dim      int     `json:"dim"`
	Queries  int     `json:"queries"`
	K        int     `json:"k"`
	Clusters int     `json:"clusters"`
	Rank     int     `json:"rank"`
	Noise    float64 `json:"noise"`
	Seed     uint64  `json:"seed"`
}

type efResult struct {
	Ef     int     `json:"ef"`
	Recall float64 `json:"recall"`
	QPS    float64 `json:"qps"`
}

type report struct {
	Params         params     `json:"params"`
	BuildSeconds   float64    `json:"build_seconds"`
	BuildCPU       float64    `json:"build_cpu_seconds"`
	UpsertSeconds  float64    `json:"upsert_seconds"`
	SnapshotSecs   float64    `json:"snapshot_seconds"`
	BytesPerVector float64    `json:"bytes_per_vector"`
	DiskBytes      int64      `json:"disk_bytes"`
	OpenSeconds    float64    `json:"open_seconds"`
	ReadySeconds   float64    `json:"ready_seconds"`
	Results        []efResult `json:"results"`
}

func main() {
	var p params
	flag.IntVar(&p.N, "n", 100000, "vectors in the index")
	flag.IntVar(&p.Dim, "dim", 384, "dimensions")
	flag.IntVar(&p.Queries, "queries", 1000, "queries")
	flag.IntVar(&p.K, "k", 10, "neighbours per query (recall@k)")
	flag.IntVar(&p.Clusters, "clusters", 100, "clusters in the mixture")
	flag.IntVar(&p.Rank, "rank", 64, "directions each cluster spreads along")
	flag.Float64Var(&p.Noise, "noise", 0.6, "isotropic noise per dimension (the centres' components have variance 1)")
	seed := flag.Uint64("seed", 1, "random seed")
	efList := flag.String("ef", "16,32,64,128,256", "ef values to measure")
	out := flag.String("out", filepath.Join(os.TempDir(), "lakehouse-vector-bench"), "folder for the data set, the index and the results")
	flag.Parse()
	p.Seed = *seed
	log.SetFlags(0)
	var efs []int
	for _, s := range strings.Split(*efList, ",") {
		ef, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			log.Fatalf("bad -ef: %v", err)
		}
		efs = append(efs, ef)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}

	base, queries, truth := dataset(p, *out)

	// Everything from here on runs on one thread, like hnswlib with
	// set_num_threads(1): the index's background goroutines share it.
	runtime.GOMAXPROCS(1)
	rep := report{Params: p}
	dir := filepath.Join(*out, "lakehouse-index")
	os.RemoveAll(dir)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	ctx := context.Background()
	m, err := vector.Open(dir, vector.Config{})
	check(err)
	_, err = m.Create(ctx, "bench", p.Dim, vector.Cosine, "synthetic")
	check(err)
	cpu0 := cpuTime()
	start := time.Now()
	items := make([]vector.Item, 0, 1000)
	for i := 0; i < p.N; i += 1000 {
		items = items[:0]
		for j := i; j < min(i+1000, p.N); j++ {
			items = append(items, vector.Item{ID: strconv.Itoa(j), Vector: base[j*p.Dim : (j+1)*p.Dim]})
		}
		_, err := m.Upsert(ctx, "bench", items)
		check(err)
	}
	rep.UpsertSeconds = time.Since(start).Seconds()
	check(m.WaitIndexed(ctx, "bench"))
	rep.BuildSeconds = time.Since(start).Seconds()
	rep.BuildCPU = cpuTime() - cpu0
	log.Printf("lakehouse: upserted %d vectors in %.1fs; graph complete after %.1fs (%.1f CPU-s)", p.N, rep.UpsertSeconds, rep.BuildSeconds, rep.BuildCPU)
	t := time.Now()
	check(m.Snapshot(ctx, "bench"))
	rep.SnapshotSecs = time.Since(t).Seconds()
	items = nil
	runtime.GC()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	rep.BytesPerVector = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(p.N)
	rep.DiskBytes = diskUsage(dir)

	for _, ef := range efs {
		rep.Results = append(rep.Results, measure(m, p, queries, truth, ef))
		r := rep.Results[len(rep.Results)-1]
		log.Printf("lakehouse: ef=%-4d recall@%d=%.4f  %.0f queries/s", ef, p.K, r.Recall, r.QPS)
	}

	check(m.Close())
	t = time.Now()
	m, err = vector.Open(dir, vector.Config{})
	check(err)
	rep.OpenSeconds = time.Since(t).Seconds()
	check(m.WaitIndexed(ctx, "bench"))
	rep.ReadySeconds = time.Since(t).Seconds()
	r := measure(m, p, queries[:100*p.Dim], truth[:100*p.K], 64)
	check(m.Close())
	log.Printf("lakehouse: reopened in %.2fs, graph ready after %.2fs (recall@%d at ef=64 on 100 queries: %.4f)", rep.OpenSeconds, rep.ReadySeconds, p.K, r.Recall)

	b, _ := json.MarshalIndent(rep, "", "  ")
	check(os.WriteFile(filepath.Join(*out, "lakehouse.json"), b, 0o644))
}

// timedRuns is how often each side answers the queries; the fastest run
// counts, which keeps a busy moment of a shared machine out of the figure.
const timedRuns = 3

// measure runs every query once to warm up, then timedRuns times, one at a
// time, and compares the results with truth.
func measure(m *vector.Manager, p params, queries []float32, truth []int32, ef int) efResult {
	ctx := context.Background()
	nq := len(queries) / p.Dim
	opts := vector.SearchOptions{K: p.K, Ef: ef}
	for i := range nq {
		_, err := m.Search(ctx, "bench", queries[i*p.Dim:(i+1)*p.Dim], opts)
		check(err)
	}
	hits := make([][]vector.Hit, nq)
	elapsed := time.Duration(math.MaxInt64)
	for range timedRuns {
		start := time.Now()
		for i := range nq {
			hits[i], _ = m.Search(ctx, "bench", queries[i*p.Dim:(i+1)*p.Dim], opts)
		}
		elapsed = min(elapsed, time.Since(start))
	}
	found := 0
	for i, hs := range hits {
		want := truth[i*p.K : (i+1)*p.K]
		for _, h := range hs {
			id, _ := strconv.Atoi(h.ID)
			if slices.Contains(want, int32(id)) {
				found++
			}
		}
	}
	return efResult{Ef: ef, Recall: float64(found) / float64(nq*p.K), QPS: float64(nq) / elapsed.Seconds()}
}

// dataset returns the base vectors, the queries and the ids of each
// query's true top k, generating them, or reading them from out when an
// earlier run made them with the same parameters. It writes them as raw
// little-endian float32 / int32 files for hnswlib.
func dataset(p params, out string) (base, queries []float32, truth []int32) {
	key, _ := json.Marshal(p)
	paramsFile := filepath.Join(out, "params.json")
	files := []string{"base.f32", "queries.f32", "truth.i32"}
	if old, err := os.ReadFile(paramsFile); err == nil && string(old) == string(key) {
		base = readFloats(filepath.Join(out, files[0]))
		queries = readFloats(filepath.Join(out, files[1]))
		truth = readInts(filepath.Join(out, files[2]))
		if len(base) == p.N*p.Dim && len(queries) == p.Queries*p.Dim && len(truth) == p.Queries*p.K {
			log.Printf("data set: reusing %s", out)
			return base, queries, truth
		}
	}
	t := time.Now()
	all := mixture(p, p.N+p.Queries)
	base, queries = all[:p.N*p.Dim], all[p.N*p.Dim:]
	log.Printf("data set: %d + %d vectors of %d dimensions generated in %.1fs", p.N, p.Queries, p.Dim, time.Since(t).Seconds())
	t = time.Now()
	truth = bruteForce(p, base, queries)
	log.Printf("data set: exact top %d of %d queries in %.1fs", p.K, p.Queries, time.Since(t).Seconds())
	writeFloats(filepath.Join(out, files[0]), base)
	writeFloats(filepath.Join(out, files[1]), queries)
	writeInts(filepath.Join(out, files[2]), truth)
	check(os.WriteFile(paramsFile, key, 0o644))
	return base, queries, truth
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

// bruteForce computes each query's exact top k by inner product (the
// vectors are unit length, so this is cosine), in float64, on every core.
func bruteForce(p params, base, queries []float32) []int32 {
	truth := make([]int32, p.Queries*p.K)
	var wg sync.WaitGroup
	work := make(chan int)
	for range runtime.NumCPU() {
		wg.Go(func() {
			type scored struct {
				s  float64
				id int32
			}
			top := make([]scored, 0, p.K+1)
			for qi := range work {
				q := queries[qi*p.Dim : (qi+1)*p.Dim]
				top = top[:0]
				for i := range p.N {
					v := base[i*p.Dim : (i+1)*p.Dim]
					var s float64
					for j, x := range q {
						s += float64(x) * float64(v[j])
					}
					if len(top) == p.K && s <= top[p.K-1].s {
						continue
					}
					pos, _ := slices.BinarySearchFunc(top, s, func(e scored, t float64) int {
						if e.s > t {
							return -1
						}
						return 1
					})
					top = slices.Insert(top, pos, scored{s, int32(i)})
					if len(top) > p.K {
						top = top[:p.K]
					}
				}
				for j, e := range top {
					truth[qi*p.K+j] = e.id
				}
			}
		})
	}
	for i := range p.Queries {
		work <- i
	}
	close(work)
	wg.Wait()
	return truth
}

func writeFloats(path string, v []float32) {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	check(os.WriteFile(path, b, 0o644))
}

func writeInts(path string, v []int32) {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	check(os.WriteFile(path, b, 0o644))
}

func readFloats(path string) []float32 {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func readInts(path string) []int32 {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	v := make([]int32, len(b)/4)
	for i := range v {
		v[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// cpuTime is the CPU time the process has used, user plus system, in
// seconds.
func cpuTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func diskUsage(dir string) int64 {
	var total int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			total += fi.Size()
		}
		return nil
	})
	return total
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
