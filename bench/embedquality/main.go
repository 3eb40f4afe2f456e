// Command embedquality measures how well the offline embedding providers,
// hash and hybrid, find a short text again from a query about it.
//
// The corpus is Debian package descriptions (the summary line and the first
// paragraph of the long description, deduplicated). For each of -queries
// texts it makes three queries from the same -words words of the text:
//
//	exact    the words as they are
//	synonym  half of them replaced by a WordNet synonym
//	typo     the same half each given one random edit (delete, insert,
//	         substitute or swap two neighbouring letters)
//
// and ranks every text of the corpus by exact (brute-force) cosine
// similarity to the query. It prints the mean reciprocal rank of the text the
// query came from and the share of queries that find it in the top 10, per
// provider and kind of query, and each provider's embedding throughput.
//
// Then it puts the corpus, with the default (hybrid) provider's vectors,
// into a vector index (package vector, in a temporary folder) and asks the
// same queries through the index's Search in each mode: dense, lexical
// (BM25) and hybrid, and a plain reciprocal rank fusion of the dense and
// lexical lists (Σ 1/(60 + rank)) for comparison. Each search asks for
// the top 100, so there the MRR counts a text ranked below 100 as 0
// (MRR@100). With -open N it also times opening an index of N texts with
// and without their texts, which is what rebuilding the lexical index at
// open costs.
//
// bench/embedquality/run.sh prepares the inputs and runs it.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"lakehouse/backends/embed"
	"lakehouse/bench/internal/debian"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("embedquality: ")
	descs := flag.String("descriptions", "", "Debian Translation-en file(s), comma-separated, uncompressed")
	wordnet := flag.String("wordnet", "/usr/share/wordnet", "WordNet 3.0 database directory")
	n := flag.Int("n", 10000, "texts in the corpus")
	queries := flag.Int("queries", 1000, "queries of each kind")
	words := flag.Int("words", 4, "words per query")
	maxWords := flag.Int("max-words", 40, "words kept of each text")
	seed := flag.Uint64("seed", 1, "random seed")
	openItems := flag.Int("open", 0, "also time opening a vector index of this many texts, with and without them (0: skip)")
	flag.Parse()
	if *descs == "" {
		log.Fatal("-descriptions is required (see run.sh)")
	}

	rng := rand.New(rand.NewPCG(*seed, 0))
	corpus, err := debian.Texts(strings.Split(*descs, ","), *maxWords)
	if err != nil {
		log.Fatal(err)
	}
	rng.Shuffle(len(corpus), func(i, j int) { corpus[i], corpus[j] = corpus[j], corpus[i] })
	if len(corpus) > *n {
		corpus = corpus[:*n]
	}
	syn, err := loadWordNet(*wordnet)
	if err != nil {
		log.Fatal(err)
	}
	qs := makeQueries(corpus, syn, *queries, *words, rng)
	log.Printf("%d texts (mean %.1f words), %d targets, %d words a query", len(corpus), meanWords(corpus), len(qs.target), *words)
	for i := range 3 {
		log.Printf("example: %q | %q | %q <- %q", qs.exact[i], qs.synonym[i], qs.typo[i], corpus[qs.target[i]])
	}

	type row struct{ mrr, r10 [3]float64 }
	providers := []embed.Provider{embed.NewHash(), embed.NewHybrid()}
	results := make([]row, len(providers))
	ctx := context.Background()
	// The default provider's vectors of the corpus and of each kind of
	// query, for the searches through the index.
	var docVecs [][]float32
	var queryVecs [3][][]float32
	for p, prov := range providers {
		start := time.Now()
		if _, err := prov.Embed(ctx, []string{"warm up"}); err != nil {
			log.Fatal(err)
		}
		log.Printf("%s: first call (loads any table) took %v", prov.Model(), time.Since(start).Round(time.Microsecond))
		start = time.Now()
		docs, err := embedAll(ctx, prov, corpus)
		if err != nil {
			log.Fatal(err)
		}
		took := time.Since(start)
		log.Printf("%s: embedded %d texts in %v (%.0f texts/s, %d threads)", prov.Model(), len(corpus), took.Round(time.Millisecond),
			float64(len(corpus))/took.Seconds(), runtime.GOMAXPROCS(0))
		for k, texts := range qs.kinds() {
			qv, err := embedAll(ctx, prov, texts)
			if err != nil {
				log.Fatal(err)
			}
			results[p].mrr[k], results[p].r10[k] = evaluate(docs, qv, qs.target)
			queryVecs[k] = qv
		}
		docVecs = docs
	}

	fmt.Printf("\n%d texts, %d queries of each kind, %d words a query, exact cosine\n\n", len(corpus), len(qs.target), *words)
	fmt.Printf("| query   |")
	for _, p := range providers {
		fmt.Printf(" %s MRR | %s R@10 |", p.Model(), p.Model())
	}
	fmt.Printf("\n|---------|")
	for range providers {
		fmt.Printf("------:|------:|")
	}
	fmt.Println()
	for k, name := range kindNames {
		fmt.Printf("| %-7s |", name)
		for p := range providers {
			fmt.Printf(" %.3f | %.3f |", results[p].mrr[k], results[p].r10[k])
		}
		fmt.Println()
	}

	model := providers[len(providers)-1].Model()
	if err := searchModes(ctx, model, corpus, docVecs, qs, queryVecs); err != nil {
		log.Fatal(err)
	}
	if *openItems > 0 {
		if err := timeOpen(ctx, providers[len(providers)-1], corpus, *openItems, qs.exact); err != nil {
			log.Fatal(err)
		}
	}
}

func meanWords(texts []string) float64 {
	n := 0
	for _, t := range texts {
		n += len(strings.Fields(t))
	}
	return float64(n) / float64(len(texts))
}

// stop lists the words a query is not made of.
var stop = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a about above after again all also an and any are as at be because been
		before being below between both but by can could did do does doing down during each etc few for from
		further had has have having he her here hers him his how i if in into is it its itself just like may
		more most much must my no nor not now of off on once only or other our out over own same she should so
		some such than that the their them then there these they this those through to too under until up
		upon use used uses using very via was we well were what when where which while who whom why will with
		within without would you your package packages contains provides`) {
		stop[w] = true
	}
}

// synonyms maps a word to one WordNet synonym of its most used sense.
type synonyms map[string]string

// loadWordNet reads, for every single-word lemma of WordNet, the synset of
// its most frequent sense over all parts of speech (by the sense-tagged
// counts of cntlist.rev; the first noun sense when no count is known), and
// keeps the first other single-word lemma of that synset.
func loadWordNet(dir string) (synonyms, error) {
	poses := []struct{ name, digit string }{{"noun", "1"}, {"verb", "2"}, {"adj", "3"}, {"adv", "4"}}

	// counts["word%1"] = tag count of the word's first noun sense, and so on.
	counts := map[string]int{}
	f, err := os.Open(filepath.Join(dir, "cntlist.rev"))
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text()) // sense_key sense_number tag_cnt
		if len(fs) != 3 || fs[1] != "1" {
			continue
		}
		lemma, rest, ok := strings.Cut(fs[0], "%")
		if !ok || rest == "" {
			continue
		}
		d := rest[:1]
		if d == "5" { // adjective satellite
			d = "3"
		}
		c, _ := strconv.Atoi(fs[2])
		counts[lemma+"%"+d] += c
	}
	f.Close()

	type pick struct {
		count  int
		pos    int
		offset int64
	}
	best := map[string]pick{}
	for p, pos := range poses {
		f, err := os.Open(filepath.Join(dir, "index."+pos.name))
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, " ") {
				continue // licence header
			}
			fs := strings.Fields(line)
			// lemma pos synset_cnt p_cnt [ptr...] sense_cnt tagsense_cnt offsets...
			if len(fs) < 6 || strings.Contains(fs[0], "_") {
				continue
			}
			nsyn, _ := strconv.Atoi(fs[2])
			off, err := strconv.ParseInt(fs[len(fs)-nsyn], 10, 64)
			if err != nil {
				continue
			}
			c, ok := counts[fs[0]+"%"+pos.digit]
			if !ok {
				c = -1 - p // prefer nouns, then verbs... among senses never tagged
			}
			if b, ok := best[fs[0]]; !ok || c > b.count {
				best[fs[0]] = pick{c, p, off}
			}
		}
		f.Close()
	}

	// Read each needed synset once, from its data file at its byte offset.
	files := make([]*os.File, len(poses))
	for p, pos := range poses {
		f, err := os.Open(filepath.Join(dir, "data."+pos.name))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		files[p] = f
	}
	syn := synonyms{}
	buf := make([]byte, 4096)
	for word, b := range best {
		n, _ := files[b.pos].ReadAt(buf, b.offset)
		line, _, _ := strings.Cut(string(buf[:n]), "\n")
		fs := strings.Fields(line) // offset lex_filenum ss_type w_cnt (word lex_id)...
		if len(fs) < 4 {
			continue
		}
		wcnt, _ := strconv.ParseInt(fs[3], 16, 32)
		for i := range int(wcnt) {
			if 4+2*i >= len(fs) {
				break
			}
			w := strings.ToLower(fs[4+2*i])
			if j := strings.IndexByte(w, '('); j > 0 { // adjective markers: "big(a)"
				w = w[:j]
			}
			if w != word && alphabetic(w) && !strings.HasPrefix(w, word) && !strings.HasPrefix(word, w) {
				syn[word] = w
				break
			}
		}
	}
	return syn, nil
}

// of returns a synonym of w, trying w's base form if w is inflected.
func (s synonyms) of(w string) (string, bool) {
	cands := []string{w}
	for _, suf := range [][2]string{{"ies", "y"}, {"es", ""}, {"s", ""}, {"ed", ""}, {"ed", "e"}, {"ing", ""}, {"ing", "e"}} {
		if base, ok := strings.CutSuffix(w, suf[0]); ok && len(base) > 2 {
			cands = append(cands, base+suf[1])
		}
	}
	for _, c := range cands {
		if syn, ok := s[c]; ok {
			return syn, true
		}
	}
	return "", false
}

func alphabetic(w string) bool {
	if w == "" {
		return false
	}
	for _, r := range w {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

type querySet struct {
	target               []int
	exact, synonym, typo []string
}

// kindNames names the kinds of query, in the order of querySet.kinds.
var kindNames = []string{"exact", "synonym", "typo"}

func (qs querySet) kinds() [][]string { return [][]string{qs.exact, qs.synonym, qs.typo} }

// makeQueries picks up to n texts with at least k/2 (rounded up) words that
// have a synonym and k usable words in all, and makes the three queries of
// each.
func makeQueries(corpus []string, syn synonyms, n, k int, rng *rand.Rand) querySet {
	var qs querySet
	half := (k + 1) / 2
	for _, t := range rng.Perm(len(corpus)) {
		if len(qs.target) == n {
			break
		}
		var withSyn, other []string
		seen := map[string]bool{}
		for _, w := range strings.FieldsFunc(strings.ToLower(corpus[t]), func(r rune) bool { return !unicode.IsLetter(r) }) {
			if len(w) < 3 || stop[w] || seen[w] || !alphabetic(w) {
				continue
			}
			seen[w] = true
			if _, ok := syn.of(w); ok && len(w) >= 4 {
				withSyn = append(withSyn, w)
			} else {
				other = append(other, w)
			}
		}
		if len(withSyn) < half || len(withSyn)+len(other) < k {
			continue
		}
		rng.Shuffle(len(withSyn), func(i, j int) { withSyn[i], withSyn[j] = withSyn[j], withSyn[i] })
		rng.Shuffle(len(other), func(i, j int) { other[i], other[j] = other[j], other[i] })
		changed := withSyn[:half]
		rest := append(slices.Clone(withSyn[half:]), other...)[:k-half]

		var exact, synonym, typo []string
		for _, w := range changed {
			s, _ := syn.of(w)
			exact, synonym, typo = append(exact, w), append(synonym, s), append(typo, misspell(w, rng))
		}
		for _, w := range rest {
			exact, synonym, typo = append(exact, w), append(synonym, w), append(typo, w)
		}
		// Shuffle the word order the same way for all three.
		perm := rng.Perm(k)
		qs.target = append(qs.target, t)
		qs.exact = append(qs.exact, joinPerm(exact, perm))
		qs.synonym = append(qs.synonym, joinPerm(synonym, perm))
		qs.typo = append(qs.typo, joinPerm(typo, perm))
	}
	return qs
}

func joinPerm(ws []string, perm []int) string {
	out := make([]string, len(ws))
	for i, p := range perm {
		out[i] = ws[p]
	}
	return strings.Join(out, " ")
}

// misspell makes one random edit to w: delete, insert or substitute a letter,
// or swap two neighbouring letters.
func misspell(w string, rng *rand.Rand) string {
	b := []byte(w)
	letter := func() byte { return byte('a' + rng.IntN(26)) }
	for {
		var out []byte
		i := rng.IntN(len(b))
		switch rng.IntN(4) {
		case 0:
			out = slices.Delete(slices.Clone(b), i, i+1)
		case 1:
			out = slices.Insert(slices.Clone(b), i, letter())
		case 2:
			out = slices.Clone(b)
			out[i] = letter()
		case 3:
			if i == len(b)-1 {
				i--
			}
			out = slices.Clone(b)
			out[i], out[i+1] = out[i+1], out[i]
		}
		if string(out) != w {
			return string(out)
		}
	}
}

// embedAll embeds texts in batches of 256 on every CPU.
func embedAll(ctx context.Context, p embed.Provider, texts []string) ([][]float32, error) {
	const batch = 256
	out := make([][]float32, len(texts))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for lo := 0; lo < len(texts); lo += batch {
		hi := min(lo+batch, len(texts))
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			vs, err := p.Embed(ctx, texts[lo:hi])
			if err != nil {
				mu.Lock()
				firstErr = cmpErr(firstErr, fmt.Errorf("%s: texts %d-%d: %w", p.Model(), lo, hi, err))
				mu.Unlock()
				return
			}
			copy(out[lo:], vs)
		}()
	}
	wg.Wait()
	return out, firstErr
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// evaluate returns the mean reciprocal rank of each query's target among
// docs by cosine (the vectors have unit length, so a dot product), and the
// share of queries whose target is in the top 10. A document scoring the
// same as the target counts as ranked above it.
func evaluate(docs, queries [][]float32, target []int) (mrr, recall10 float64) {
	ranks := make([]int, len(queries))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q := w; q < len(queries); q += workers {
				want := dot(queries[q], docs[target[q]])
				rank := 1
				for d, v := range docs {
					if d != target[q] && dot(queries[q], v) >= want {
						rank++
					}
				}
				ranks[q] = rank
			}
		}()
	}
	wg.Wait()
	for _, r := range ranks {
		mrr += 1 / float64(r)
		if r <= 10 {
			recall10++
		}
	}
	return mrr / float64(len(ranks)), recall10 / float64(len(ranks))
}

func dot(a, b []float32) float32 {
	var s0, s1, s2, s3 float32
	b = b[:len(a)]
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}
