// Command traces measures the ranking of the pathway memory's query
// search (Pathway.Search) in each mode, dense, lexical and hybrid, against
// the ranking it had before modes existed, in one run on one memory.
//
// The memory holds generated agent traces ("Tried to upload the nightly
// backup to the s3 bucket with rclone; it failed with error E4821 after
// the response timed out. Lowering the chunk size fixed it."), each with a
// component and an outcome as tags, and a unique error code and job id.
// Each query targets one trace, its right answer:
//
//	exact words   four words of its text (its action, object, component and cause)
//	synonyms      the same four with every other one swapped for a synonym
//	typos         the same four with one typo in each word of four letters or more
//	error code    its error code alone ("E4821")
//	identifier    its job id and component ("job-48213 postgres")
//
// and is scored by MRR (a right answer below rank 100 counts 0) and recall
// at 10. The baseline, "before modes", is the earlier ranking recomputed
// here from the same index: the 500 traces nearest by cosine, ranked by
// cosine + 0.2 × the fraction of the query's words found in the trace's
// text or tags.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"lakehouse/backends/embed"
	"lakehouse/backends/pathway"
	"lakehouse/backends/vector"
)

// depth is how many traces each query asks for.
const depth = 100

// A slot is one part of a trace's story, as the words a trace uses for it
// and a synonym of each word, which the synonym queries use instead.
type slot struct{ words, synonyms []string }

// The parts of a trace: what was done, to what, where, why it failed and
// what fixed it. Every word has its synonym beside it.
var (
	actions = pairs("upload transfer", "download fetch", "restart reboot", "delete remove", "install setup",
		"compile build", "deploy release", "migrate move", "copy duplicate", "rename relabel", "resize scale",
		"encrypt encode", "compress shrink", "import load", "export dump", "rotate renew", "patch update",
		"query search", "parse read", "schedule plan")
	objects = pairs("backup archive", "database db", "certificate cert", "container image", "table relation",
		"index catalog", "bucket storage", "secret password", "cluster fleet", "report summary", "volume disk",
		"schema layout", "cache buffer", "queue backlog", "snapshot checkpoint", "dashboard panel",
		"manifest inventory", "pipeline workflow", "token credential", "folder directory")
	causes = pairs("timeout delay", "permission access", "memory ram", "quota limit", "checksum hash",
		"deadlock lock", "certificate cert", "network connection", "encoding charset", "version release",
		"disk storage", "crash panic", "throttling ratelimit", "corruption damage", "dependency library")
	fixes = []string{"lowering the chunk size", "raising the limit", "retrying with backoff", "pinning the version",
		"clearing the cache", "adding the missing grant", "splitting the batch", "switching the region",
		"renewing the token", "rebuilding the index"}
	components = []string{"postgres", "redis", "kafka", "nginx", "s3", "docker", "kubernetes", "terraform",
		"ansible", "duckdb", "elasticsearch", "rabbitmq", "grafana", "prometheus", "jenkins", "vault",
		"consul", "mysql", "mongodb", "airflow"}
	tools_ = []string{"rclone", "kubectl", "psql", "curl", "make", "helm", "rsync", "awscli", "pg_dump", "go test"}
	// templates put a trace together: action, object, component, tool,
	// code, cause, fix, job, in that order.
	templates = []string{
		"Tried to %[1]s the %[2]s on %[3]s with %[4]s; it failed with error %[5]s after a %[6]s problem. %[7]s fixed it (%[8]s).",
		"%[8]s: %[4]s could not %[1]s the %[3]s %[2]s, error %[5]s, %[6]s. Worked after %[7]s.",
		"When we %[1]s the %[2]s in %[3]s, %[4]s reports %[5]s (%[6]s). Resolved by %[7]s; see %[8]s.",
	}
)

func pairs(ps ...string) slot {
	var s slot
	for _, p := range ps {
		w, syn, _ := strings.Cut(p, " ")
		s.words, s.synonyms = append(s.words, w), append(s.synonyms, syn)
	}
	return s
}

// trace is a generated trace and what its queries are made of.
type trace struct {
	text, code, job, component string
	tags                       []string
	keys, synonyms             []string // the four words of its story, and their synonyms
}

func generate(r *rand.Rand, n int) []trace {
	out := make([]trace, n)
	codes := map[string]bool{}
	for i := range out {
		a, o, c := r.IntN(len(actions.words)), r.IntN(len(objects.words)), r.IntN(len(causes.words))
		comp := components[r.IntN(len(components))]
		var code string
		for code == "" || codes[code] {
			switch r.IntN(3) {
			case 0:
				code = fmt.Sprintf("E%04d", r.IntN(10000))
			case 1:
				code = fmt.Sprintf("ERR_%s_%d", strings.ToUpper(causes.words[c]), r.IntN(1000))
			default:
				code = fmt.Sprintf("0x%05X", r.IntN(1<<20))
			}
		}
		codes[code] = true
		job := fmt.Sprintf("job-%05d", i)
		fix := fixes[r.IntN(len(fixes))]
		text := fmt.Sprintf(templates[r.IntN(len(templates))], actions.words[a], objects.words[o], comp,
			tools_[r.IntN(len(tools_))], code, causes.words[c], fix, job)
		out[i] = trace{
			text: text, code: code, job: job, component: comp,
			tags:     []string{comp, []string{"failed", "fixed", "workaround"}[r.IntN(3)]},
			keys:     []string{actions.words[a], objects.words[o], comp, causes.words[c]},
			synonyms: []string{actions.synonyms[a], objects.synonyms[o], comp, causes.synonyms[c]},
		}
	}
	return out
}

// typo makes one edit in w: a swap of two letters, a letter dropped or a
// letter doubled.
func typo(r *rand.Rand, w string) string {
	if len(w) < 4 {
		return w
	}
	i := 1 + r.IntN(len(w)-2)
	switch r.IntN(3) {
	case 0:
		return w[:i] + w[i+1:i+2] + w[i:i+1] + w[i+2:]
	case 1:
		return w[:i] + w[i+1:]
	}
	return w[:i] + w[i:i+1] + w[i:]
}

// A querySet is one kind of query: each text with the trace it targets.
type querySet struct {
	name    string
	queries []string
	targets []int
}

func querySets(r *rand.Rand, traces []trace, n int) []querySet {
	sets := []querySet{{name: "exact words"}, {name: "synonyms"}, {name: "typos"}, {name: "error code"}, {name: "identifier"}}
	for _, i := range r.Perm(len(traces))[:n] {
		t := traces[i]
		order := r.Perm(4)
		var exact, syn, typos []string
		for j, k := range order {
			exact = append(exact, t.keys[k])
			if j%2 == 0 {
				syn = append(syn, t.synonyms[k])
			} else {
				syn = append(syn, t.keys[k])
			}
			typos = append(typos, typo(r, t.keys[k]))
		}
		for s, q := range []string{strings.Join(exact, " "), strings.Join(syn, " "), strings.Join(typos, " "), t.code, t.job + " " + t.component} {
			sets[s].queries = append(sets[s].queries, q)
			sets[s].targets = append(sets[s].targets, i)
		}
	}
	return sets
}

func main() {
	n := flag.Int("n", 5000, "traces in the memory")
	nq := flag.Int("queries", 300, "queries of each kind")
	seed := flag.Uint64("seed", 1, "seed of the generator")
	flag.Parse()
	if err := run(*n, *nq, *seed); err != nil {
		log.Fatal(err)
	}
}

func run(n, nq int, seed uint64) error {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	traces := generate(r, n)
	sets := querySets(r, traces, min(nq, n))

	dir, err := os.MkdirTemp("", "bench-traces-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	emb, err := embed.New(embed.Config{})
	if err != nil {
		return err
	}
	p, err := pathway.Open(dir, emb, pathway.Config{})
	if err != nil {
		return err
	}
	defer p.Close()
	uids := make([]string, len(traces))
	byUID := map[string]int{}
	for i, t := range traces {
		content, _ := json.Marshal(map[string]string{"tried": t.text})
		tr, _, err := p.Add(ctx, content, t.text, t.tags, "")
		if err != nil {
			return err
		}
		uids[i], byUID[tr.UID] = tr.UID, i
	}

	names := []string{"dense", "lexical", "hybrid", "before modes"}
	var scores [][]score // by ranker, then query set
	for _, m := range []pathway.Mode{pathway.Dense, pathway.Lexical, pathway.Hybrid} {
		sc, err := evaluate(ctx, sets, uids, func(ctx context.Context, q string) ([]string, error) {
			res, err := p.Search(ctx, pathway.SearchOptions{Query: q, Mode: m, Limit: depth})
			if err != nil {
				return nil, err
			}
			out := make([]string, len(res.Traces))
			for i, t := range res.Traces {
				out[i] = t.UID
			}
			return out, nil
		})
		if err != nil {
			return fmt.Errorf("mode %s: %w", m, err)
		}
		scores = append(scores, sc)
	}
	// The baseline reads the memory's own index, closed by the memory
	// first; the searches above waited for the indexer, so it holds every
	// trace.
	if err := p.Close(); err != nil {
		return err
	}
	vm, err := vector.Open(filepath.Join(dir, "index"), vector.Config{})
	if err != nil {
		return err
	}
	defer vm.Close()
	sc, err := evaluate(ctx, sets, uids, func(ctx context.Context, q string) ([]string, error) {
		return before(ctx, vm, emb, traces, byUID, q)
	})
	if err != nil {
		return fmt.Errorf("before modes: %w", err)
	}
	scores = append(scores, sc)

	fmt.Printf("%d generated traces, %d queries of each kind (seed %d), top %d, default embedder %s\n\n", n, len(sets[0].queries), seed, depth, emb.Model())
	fmt.Printf("| queries |")
	for _, name := range names {
		fmt.Printf(" %s MRR |", name)
	}
	for _, name := range names {
		fmt.Printf(" %s R@10 |", name)
	}
	fmt.Printf("\n|---|%s\n", strings.Repeat("---|", 2*len(names)))
	for si, qs := range sets {
		fmt.Printf("| %s |", qs.name)
		for _, sc := range scores {
			fmt.Printf(" %.3f |", sc[si].mrr)
		}
		for _, sc := range scores {
			fmt.Printf(" %.3f |", sc[si].r10)
		}
		fmt.Println()
	}
	fmt.Printf("\nmedian time of a query (first page of %d), by kind of query:", depth)
	for ri, name := range names {
		fmt.Printf("\n  %-13s", name)
		for si := range sets {
			fmt.Printf(" %8s", scores[ri][si].median.Round(10*time.Microsecond))
		}
	}
	fmt.Println()
	return nil
}

// score is how well a ranking did on one set of queries, and its median
// time per query.
type score struct {
	mrr, r10 float64
	median   time.Duration
}

// evaluate asks rank every query of sets (uids[i] is the uid of trace i)
// and scores its answers, set by set.
func evaluate(ctx context.Context, sets []querySet, uids []string, rank func(ctx context.Context, q string) ([]string, error)) ([]score, error) {
	out := make([]score, len(sets))
	for si, qs := range sets {
		took := make([]time.Duration, len(qs.queries))
		for qi, q := range qs.queries {
			start := time.Now()
			got, err := rank(ctx, q)
			took[qi] = time.Since(start)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", q, err)
			}
			if at := slices.Index(got, uids[qs.targets[qi]]); at >= 0 {
				out[si].mrr += 1 / float64(at+1)
				if at < 10 {
					out[si].r10++
				}
			}
		}
		out[si].mrr /= float64(len(qs.queries))
		out[si].r10 /= float64(len(qs.queries))
		slices.Sort(took)
		out[si].median = took[len(took)/2]
	}
	return out, nil
}

// before ranks as search_traces did before it had modes: the 500 traces
// nearest to the query by cosine, by cosine + 0.2 × the fraction of the
// query's words (distinct, lower case, two characters or more) found among
// the words of the trace's text or tags, newer first among equals.
func before(ctx context.Context, vm *vector.Manager, emb *embed.Embedder, traces []trace, byUID map[string]int, q string) ([]string, error) {
	vecs, err := emb.Embed(ctx, []string{q})
	if err != nil {
		return nil, err
	}
	hits, err := vm.Search(ctx, "traces", vecs[0], vector.SearchOptions{K: pathway.SearchPool, Filter: vector.Filter{"state": "active"}})
	if err != nil {
		return nil, err
	}
	qw := oldWords(q)
	type ranked struct {
		uid   string
		seq   int
		score float64
	}
	all := make([]ranked, len(hits))
	for i, h := range hits {
		seq := byUID[h.ID]
		t := traces[seq]
		have := map[string]bool{}
		for _, w := range oldWords(t.text + " " + strings.Join(t.tags, " ")) {
			have[w] = true
		}
		found := 0
		for _, w := range qw {
			if have[w] {
				found++
			}
		}
		all[i] = ranked{h.ID, seq, float64(h.Score) + 0.2*float64(found)/float64(max(len(qw), 1))}
	}
	slices.SortFunc(all, func(a, b ranked) int { return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(b.seq, a.seq)) })
	out := make([]string, 0, depth)
	for _, r := range all[:min(depth, len(all))] {
		out = append(out, r.uid)
	}
	return out, nil
}

// oldWords splits text as the ranking before modes did.
func oldWords(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if utf8.RuneCountInString(w) >= 2 && !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}
