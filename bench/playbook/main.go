// Command playbook measures the learning loop of matrix_search: how much
// recorded outcomes (record_playbook) lift the right answer for questions
// asked again in other words, and what they cost questions they do not
// concern.
//
// The corpora are Debian package descriptions (summary line and first
// paragraph), dealt out in turn to -corpora vector indexes of -n texts each,
// embedded with the default (hybrid) embedder. A question is a text of one
// of them, its right answer; its phrasings are -words words of the text
// that have two synonyms or more in WordNet, each phrasing giving half of
// them as a synonym, in a shuffled order: phrasings 0 and 2 the even words,
// 1 and 3 the odd ones, 0 and 1 with each word's first synonym, 2 and 3
// with its second. Phrasings 0 and 1 are recorded with the right answer,
// score 1, as an agent would after finding it; 2 and 3 are held out, so a
// held-out phrasing shares half its words with the nearest recorded one
// and none of the synonyms. Unrelated questions are made the same way from
// other texts, keeping those that share at most one word with each asked
// question (all phrasings counted); the other questions, which share two or
// more with one of them (Debian descriptions repeat their words), are
// reported apart.
//
// Every question is asked through matrix.Search over all corpora (k 100,
// -mode, merge distance and again with merge rrf) with and without
// use_playbook; the figure is the mean reciprocal rank of the right answer
// (0 past rank 100).
//
// bench/playbook/run.sh prepares the inputs and runs it.
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
	"slices"
	"strconv"
	"strings"

	"lakehouse/backends/embed"
	"lakehouse/backends/matrix"
	"lakehouse/backends/vector"
	"lakehouse/bench/internal/debian"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("playbook: ")
	descs := flag.String("descriptions", "", "Debian Translation-en file(s), comma-separated, uncompressed")
	wordnet := flag.String("wordnet", "/usr/share/wordnet", "WordNet 3.0 database directory")
	n := flag.Int("n", 5000, "texts per corpus")
	corpora := flag.Int("corpora", 2, "corpora")
	questions := flag.Int("questions", 300, "questions with recorded outcomes")
	unrelated := flag.Int("unrelated", 300, "unrelated questions")
	words := flag.Int("words", 4, "words per phrasing")
	seed := flag.Uint64("seed", 1, "random seed")
	boost := flag.Float64("boost", matrix.DefaultBoostDistance, "boost_distance")
	inject := flag.Float64("inject", matrix.DefaultInjectDistance, "inject_distance")
	mode := flag.String("mode", "hybrid", "search mode: dense, lexical or hybrid")
	flag.Parse()
	if *descs == "" {
		log.Fatal("-descriptions is required (see run.sh)")
	}
	rng := rand.New(rand.NewPCG(*seed, 0))
	texts, err := readTexts(strings.Split(*descs, ","))
	if err != nil {
		log.Fatal(err)
	}
	rng.Shuffle(len(texts), func(i, j int) { texts[i], texts[j] = texts[j], texts[i] })
	if len(texts) < *n**corpora {
		log.Fatalf("%d texts, want %d", len(texts), *n**corpora)
	}
	texts = texts[:*n**corpora]
	syn, err := loadSynonyms(*wordnet)
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	dir, err := os.MkdirTemp("", "playbook-bench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	vecs, err := vector.Open(dir, vector.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer vecs.Close()
	emb, err := embed.New(embed.Config{})
	if err != nil {
		log.Fatal(err)
	}
	answers := make([]answer, len(texts)) // text i is item "i" of corpus i mod corpora
	for c := range *corpora {
		name := fmt.Sprintf("packages_%d", c)
		if _, err := vecs.Create(ctx, name, vector.Spec{Dim: emb.Dim(), Metric: vector.Cosine, Model: emb.Model()}); err != nil {
			log.Fatal(err)
		}
		var batch []vector.Item
		for i := c; i < len(texts); i += *corpora {
			answers[i] = answer{name, strconv.Itoa(i)}
			batch = append(batch, vector.Item{ID: strconv.Itoa(i), Text: texts[i]})
			if len(batch) == vector.MaxBatch || i+*corpora >= len(texts) {
				if err := upsert(ctx, vecs, emb, name, batch); err != nil {
					log.Fatal(err)
				}
				batch = nil
			}
		}
	}

	// Questions: the first texts that give -words words with synonyms.
	// The others are unrelated when they share at most one word with each
	// asked question (all phrasings of both counted; a held-out paraphrase
	// shares two with its question), and share words otherwise.
	var asked, other, sharing []question
	for i := 0; i < len(texts) && (len(asked) < *questions || len(other) < *unrelated || len(sharing) < *unrelated); i++ {
		q, ok := phrase(texts[i], syn, *words, rng)
		if !ok {
			continue
		}
		q.answer = answers[i]
		switch {
		case len(asked) < *questions:
			asked = append(asked, q)
		case !slices.ContainsFunc(asked, func(a question) bool { return common(a, q) > 1 }):
			if len(other) < *unrelated {
				other = append(other, q)
			}
		case len(sharing) < *unrelated:
			sharing = append(sharing, q)
		}
	}
	mx := &matrix.Matrix{Corpora: vecs, Embedder: emb, Playbook: matrix.PlaybookConfig{BoostDistance: *boost, InjectDistance: *inject}}
	var entries []matrix.PlaybookEntry
	for _, q := range asked {
		for _, p := range q.phrasings[:2] {
			entries = append(entries, matrix.PlaybookEntry{Query: p, AnswerID: q.answer.id, AnswerCorpus: q.answer.corpus, Score: 1})
		}
	}
	for len(entries) > 0 {
		part := entries[:min(len(entries), matrix.MaxPlaybookEntries)]
		entries = entries[len(part):]
		res, err := mx.Record(ctx, part)
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				log.Fatal(r.Err)
			}
		}
	}

	var recorded []ask
	heldOutOf := func(qs []question) []ask {
		var asks []ask
		for _, q := range qs {
			asks = append(asks, ask{q.phrasings[2], q.answer}, ask{q.phrasings[3], q.answer})
		}
		return asks
	}
	unrel, shared := heldOutOf(other), heldOutOf(sharing)
	for _, q := range asked {
		recorded = append(recorded, ask{q.phrasings[0], q.answer}, ask{q.phrasings[1], q.answer})
	}
	heldOut := heldOutOf(asked)
	fmt.Printf("%d corpora × %d texts (%s, %d dims); %d questions recorded (2 phrasings each, %d entries), %d unrelated, %d sharing words; %d words per phrasing; mode %s, boost_distance %v, inject_distance %v\n\n",
		*corpora, *n, emb.Model(), emb.Dim(), len(asked), 2*len(asked), len(other), len(sharing), *words, *mode, *boost, *inject)
	fmt.Println("| merge | phrasings | MRR without | MRR with use_playbook | change | R@1 without → with | ranked worse / better |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, how := range []matrix.Merge{matrix.MergeDistance, matrix.MergeRRF} {
		for _, set := range []struct {
			name string
			asks []ask
		}{{"held-out paraphrases", heldOut}, {"unrelated questions", unrel}, {"other questions sharing words", shared}, {"recorded phrasings", recorded}} {
			without := evaluate(ctx, mx, set.asks, how, vector.Mode(*mode), false)
			with := evaluate(ctx, mx, set.asks, how, vector.Mode(*mode), true)
			worse, better := 0, 0
			for i := range without {
				switch {
				case with[i] < without[i]:
					worse++
				case with[i] > without[i]:
					better++
				}
			}
			fmt.Printf("| %s | %s (%d) | %.3f | %.3f | %+.3f | %.3f → %.3f | %d / %d |\n", how, set.name, len(set.asks),
				mean(without), mean(with), mean(with)-mean(without), firsts(without), firsts(with), worse, better)
		}
	}
}

// An answer is an item of a corpus.
type answer struct{ corpus, id string }

// A question is four phrasings of one right answer.
type question struct {
	phrasings [4]string
	answer    answer
}

// common is how many distinct words the phrasings of a and b share.
func common(a, b question) int {
	in := map[string]bool{}
	for _, p := range a.phrasings {
		for _, w := range strings.Fields(p) {
			in[w] = true
		}
	}
	n := 0
	for _, p := range b.phrasings {
		for _, w := range strings.Fields(p) {
			if in[w] {
				n++
				in[w] = false
			}
		}
	}
	return n
}

type ask struct {
	text   string
	answer answer
}

// phrase makes the four phrasings of a question about text, or returns
// false when fewer than k of its words have two synonyms.
func phrase(text string, syn map[string][]string, k int, rng *rand.Rand) (question, bool) {
	var picked []string
	seen := map[string]bool{}
	for _, w := range strings.Fields(strings.ToLower(text)) {
		w = strings.Trim(w, ".,;:()\"'!?")
		if len(w) >= 4 && !seen[w] && len(syn[w]) > 1 && !stop[w] {
			seen[w] = true
			picked = append(picked, w)
		}
	}
	if len(picked) < k {
		return question{}, false
	}
	rng.Shuffle(len(picked), func(i, j int) { picked[i], picked[j] = picked[j], picked[i] })
	picked = picked[:k]
	var q question
	for p := range q.phrasings {
		ws := slices.Clone(picked)
		for i, w := range ws {
			if i%2 == p%2 {
				ws[i] = syn[w][p/2]
			}
		}
		rng.Shuffle(len(ws), func(i, j int) { ws[i], ws[j] = ws[j], ws[i] })
		q.phrasings[p] = strings.Join(ws, " ")
	}
	return q, true
}

// stop are common words of package descriptions that say little.
var stop = map[string]bool{"this": true, "that": true, "with": true, "from": true, "package": true, "provides": true, "which": true, "also": true, "some": true, "other": true, "more": true, "most": true, "contains": true}

// evaluate returns the reciprocal rank of the answer of each of asks (0
// past rank 100).
func evaluate(ctx context.Context, mx *matrix.Matrix, asks []ask, how matrix.Merge, mode vector.Mode, use bool) []float64 {
	rr := make([]float64, len(asks))
	for i, a := range asks {
		res, err := mx.Search(ctx, matrix.Query{Text: a.text, K: 100, Merge: how, Mode: mode, UsePlaybook: use})
		if err != nil {
			log.Fatal(err)
		}
		if j := slices.IndexFunc(res.Hits, func(h matrix.Hit) bool { return h.Corpus == a.answer.corpus && h.ID == a.answer.id }); j >= 0 {
			rr[i] = 1 / float64(res.Hits[j].Rank)
		}
	}
	return rr
}

func mean(xs []float64) float64 {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// firsts is the share of reciprocal ranks that are 1.
func firsts(rr []float64) float64 {
	n := 0
	for _, x := range rr {
		if x == 1 {
			n++
		}
	}
	return float64(n) / float64(len(rr))
}

func upsert(ctx context.Context, vecs *vector.Manager, emb embed.Provider, name string, items []vector.Item) error {
	texts := make([]string, len(items))
	for i, it := range items {
		texts[i] = it.Text
	}
	vs, err := emb.Embed(ctx, texts)
	if err != nil {
		return err
	}
	for i := range items {
		items[i].Vector = vs[i]
	}
	_, err = vecs.Upsert(ctx, name, items)
	return err
}

// readTexts reads the summary line and first paragraph of each package
// description in the Translation-en files at paths, once each.
func readTexts(paths []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	err := debian.Descriptions(paths, func(summary string, para []string) {
		if t := strings.Join(append([]string{summary}, para...), " "); len(para) > 0 && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	})
	return out, err
}

// loadSynonyms maps each single-word lemma of WordNet to the other single
// words of its first (most frequent) sense, in WordNet's order.
func loadSynonyms(dir string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, pos := range []string{"noun", "verb", "adj", "adv"} {
		synsets := map[string][]string{} // by offset, the words of each
		if err := eachLine(filepath.Join(dir, "data."+pos), func(fs []string) {
			// offset lex_filenum ss_type w_cnt (word lex_id){w_cnt} ...
			if len(fs) < 4 {
				return
			}
			cnt, err := strconv.ParseInt(fs[3], 16, 32)
			if err != nil || len(fs) < 4+2*int(cnt) {
				return
			}
			for i := range int(cnt) {
				w := strings.ToLower(fs[4+2*i])
				if i := strings.IndexByte(w, '('); i >= 0 {
					w = w[:i] // adjective markers such as (a)
				}
				synsets[fs[0]] = append(synsets[fs[0]], w)
			}
		}); err != nil {
			return nil, err
		}
		if err := eachLine(filepath.Join(dir, "index."+pos), func(fs []string) {
			// lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset...
			if len(fs) < 6 || strings.Contains(fs[0], "_") || out[fs[0]] != nil {
				return
			}
			nsyn, err := strconv.Atoi(fs[2])
			if err != nil || nsyn < 1 || nsyn > len(fs) {
				return
			}
			for _, w := range synsets[fs[len(fs)-nsyn]] {
				if w != fs[0] && !strings.ContainsAny(w, "_-.'") {
					out[fs[0]] = append(out[fs[0]], w)
				}
			}
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// eachLine calls f with the fields of each line of the file at path, but
// the licence header (lines starting with a space).
func eachLine(path string, f func([]string)) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); !strings.HasPrefix(line, " ") {
			f(strings.Fields(line))
		}
	}
	return sc.Err()
}
