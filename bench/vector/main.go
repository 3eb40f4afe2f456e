// Command vector benchmarks lakehouse's vector index (backends/vector)
// against hnswlib built for this CPU (bench/vector/hnswlib/hnswbench.cpp) on the same
// synthetic embeddings; bench/vector/run.sh runs every phase, each in a
// process of its own, so each peak RSS is that phase's alone.
//
// The phases (-phase):
//
//	data   generates n vectors and the queries from a seeded Gaussian mixture
//	       shaped like sentence embeddings (clusters, each spread mostly along
//	       a few directions of its own, plus isotropic noise, normalised to
//	       unit length), computes the exact top-k of every query by brute
//	       force, and writes base.f32, queries.f32, truth.i32 and params.json
//	       (reused when a later run asks for the same parameters)
//	build  builds an index through the public API from base.f32, read in
//	       batches, on one thread: build time, peak RSS, a snapshot, then
//	       recall@k and single-thread queries per second at each ef, and the
//	       RSS while serving (lakehouse-build.json)
//	open   opens that index again in a fresh process (snapshot plus log
//	       replay), times it until the first search answers and until the
//	       graph is complete, serves the queries again, and accounts for the
//	       memory (lakehouse-open.json)
//	table  prints the side-by-side table of lakehouse's and hnswlib's JSON
//
// Usage: go run ./bench/vector -phase data|build|open|table [-n 100000] [-dim 384] [-out dir]
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"lakehouse/backends/vector"
)

// params describes a data set; params.json holds those of the files
// beside it.
type params struct {
	N        int     `json:"n"`
	Dim      int     `json:"dim"`
	Queries  int     `json:"queries"`
	K        int     `json:"k"`
	Clusters int     `json:"clusters"`
	Rank     int     `json:"rank"`
	Noise    float64 `json:"noise"`
	Seed     uint64  `json:"seed"`
	// Texts, when set, are the files of Debian descriptions whose
	// embeddings by the default embedder are the data set, instead of the
	// mixture; Model names that embedder, and N and Dim are what it gave.
	Texts string `json:"texts,omitempty"`
	Model string `json:"model,omitempty"`
}

// The graph parameters both sides build with.
const (
	benchM   = 16
	benchEfC = 200
)

// options are the flags of every phase.
type options struct {
	p     params
	out   string
	efs   []int
	tail  int
	quant string
}

// side names the files of the index the options build: "lakehouse", or
// "lakehouse-int8" for a quantised one.
func (o options) side() string {
	if o.quant == "none" {
		return "lakehouse"
	}
	return "lakehouse-" + o.quant
}

func main() {
	log.SetFlags(0)
	var o options
	phase := flag.String("phase", "", "data, build, open or table")
	flag.IntVar(&o.p.N, "n", 100000, "vectors in the index")
	flag.IntVar(&o.p.Dim, "dim", 384, "dimensions")
	flag.IntVar(&o.p.Queries, "queries", 1000, "queries")
	flag.IntVar(&o.p.K, "k", 10, "neighbours per query (recall@k)")
	flag.IntVar(&o.p.Clusters, "clusters", 100, "clusters in the mixture")
	flag.IntVar(&o.p.Rank, "rank", 64, "directions each cluster spreads along")
	flag.Float64Var(&o.p.Noise, "noise", 0.6, "isotropic noise per dimension (the centres' components have variance 1)")
	flag.Uint64Var(&o.p.Seed, "seed", 1, "random seed")
	flag.StringVar(&o.p.Texts, "descriptions", "", "Debian Translation-en files, comma-separated (bench/debian.sh unpacks them): embed their descriptions with the default embedder instead of drawing a mixture; -n is then at most what they hold")
	efList := flag.String("ef", "32,64,128", "ef values to measure")
	flag.IntVar(&o.tail, "tail", -1, "vectors upserted after the snapshot, so that opening replays them from the log; -1 means 1% of n")
	flag.StringVar(&o.quant, "quant", "none", "vector storage of the index: none (float32) or int8")
	flag.StringVar(&o.out, "out", filepath.Join(os.TempDir(), "lakehouse-vector-bench"), "folder for the data set, the index and the results")
	flag.Parse()
	for s := range strings.SplitSeq(*efList, ",") {
		ef, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || ef < 1 {
			log.Fatalf("bad -ef %q: want a comma-separated list of positive integers", *efList)
		}
		o.efs = append(o.efs, ef)
	}
	if o.quant != "none" && o.quant != string(vector.QuantInt8) {
		log.Fatalf("-quant %q: want none or int8", o.quant)
	}
	switch *phase {
	case "data":
		check(os.MkdirAll(o.out, 0o755))
		dataset(o.p, o.out)
	case "build":
		build(o)
	case "open":
		reopen(o)
	case "table":
		table(o.out)
	default:
		log.Fatalf("-phase %q: want data, build, open or table", *phase)
	}
}

// readParams reads the parameters of the data set in out.
func readParams(out string) params {
	var p params
	b, err := os.ReadFile(filepath.Join(out, "params.json"))
	check(err)
	check(json.Unmarshal(b, &p))
	return p
}

// eachBatch calls fn with the vectors of the float32 file at path, per
// vectors at a time, and the index of the first; it reads one batch at a
// time, into one buffer, so the caller's memory is the index's alone.
func eachBatch(path string, dim, from, to, per int, fn func(first int, vecs []float32)) {
	f, err := os.Open(path)
	check(err)
	defer f.Close()
	_, err = f.Seek(int64(from)*int64(dim)*4, io.SeekStart)
	check(err)
	raw := make([]byte, per*dim*4)
	vecs := make([]float32, per*dim)
	for i := from; i < to; i += per {
		c := min(per, to-i)
		_, err := io.ReadFull(f, raw[:c*dim*4])
		check(err)
		for j := range c * dim {
			vecs[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
		}
		fn(i, vecs[:c*dim])
	}
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

func writeJSON(path string, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	check(err)
	check(os.WriteFile(path, append(b, '\n'), 0o644))
}

func readJSON(path string, v any) {
	b, err := os.ReadFile(path)
	check(err)
	if err := json.Unmarshal(b, v); err != nil {
		log.Fatalf("%s: %v", path, err)
	}
}

// status reads the memory lines of /proc/self/status (VmRSS, VmHWM,
// RssAnon, RssFile), in bytes.
func status() map[string]int64 {
	b, err := os.ReadFile("/proc/self/status")
	check(err)
	out := map[string]int64{}
	for line := range strings.SplitSeq(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "Vm") && !strings.HasPrefix(name, "Rss") {
			continue
		}
		var kb int64
		if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
			out[name] = kb << 10
		}
	}
	return out
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
