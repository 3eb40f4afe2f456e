package embed

// The lexical half of the offline providers: signed feature hashing.
//
// A text's words (see tokenize) give two kinds of feature: the word itself,
// and the character 3-, 4- and 5-grams of "<word>", which let a misspelt word
// share most of its features with the right one. Each feature is hashed
// (FNV-1a 64 with a murmur3 finaliser, one seed per kind) to one of 384
// buckets, the top bits choosing the bucket and the lowest bit the sign, so
// that collisions cancel out on average instead of piling up.
//
// A feature seen c times adds (1 + ln c) times the mean SIF weight of its
// occurrences, a/(a + p(w)) with a = 1e-3, where p(w) is the word's
// probability under Zipf's law given its frequency rank r:
// p = 1 / ((r+1) (ln 341479 + γ)), 341,479 being the size of the vocabulary
// the ranks come from. A word of unknown rank has p = 0, so weight 1. The
// sublinear count keeps a repeated word from drowning the rest; the SIF
// weight keeps "the" and "of" from doing so.
//
// The word block and the n-gram block are normalised apart and mixed
// 0.3 · words + 0.7 · n-grams.

import (
	"context"
	"math"
	"math/bits"
	"strings"
	"sync"

	"lakehouse/backends/errs"
)

const (
	hashDim    = 384
	hashModel  = "hash-384-v1"
	hashSIF    = 1e-3 // the SIF constant a of the lexical block
	wordShare  = 0.3  // weight of the word block in the lexical block
	gramShare  = 0.7  // weight of the n-gram block
	minGram    = 3
	maxGram    = 5
	wordSeed   = 0x77 // seeds of the two kinds of feature
	gramSeed   = 0x67
	fnvOffset  = 14695981039346656037
	fnvPrime   = 1099511628211
	vocabulary = 341479 // words in the ranking that p(w) is taken from
	ctxEvery   = 64     // texts between checks of the context
)

// zipfNorm is the harmonic number of the vocabulary, ≈ ln N + γ.
var zipfNorm = math.Log(vocabulary) + 0.5772156649015329

// sif returns the SIF weight a/(a + p) of the word of frequency rank r
// (negative: unknown, so weight 1).
func sif(a float64, r int) float32 {
	if r < 0 {
		return 1
	}
	p := 1 / (float64(r+1) * zipfNorm)
	return float32(a / (a + p))
}

// commonWords are the most frequent alphabetic words of the GloVe ranking
// (rows 0-99 of the hybrid provider's table), in order. They are all the hash
// provider knows of word frequency: it has no word table, so it gives these
// words their SIF weight and every other word weight 1, where the hybrid
// provider uses the ranks of 50,000 words. Past rank 100 a word's weight is
// above 0.57 anyway.
const commonWords = "the of to and in for that on is was said with he as it by at from his an " +
	"be has are have but were not this who they had which will their or its one after new " +
	"been also we would two more first about up when year there all out she other people her percent " +
	"than over into last some government time you years if no world can three do president only state million " +
	"could us most against so them what him united during before may since many while where states because now"

var commonRanks = sync.OnceValue(func() map[string]int {
	m := make(map[string]int, 100)
	for i, w := range strings.Fields(commonWords) {
		m[w] = i
	}
	return m
})

// NewHash returns the hash provider: 384-d signed feature hashing of words and
// character n-grams, with no word table. It is lexical (it matches words and
// misspellings of them, not synonyms), deterministic, costs nothing to start
// and is safe for concurrent use. Its vectors have unit length.
func NewHash() Provider { return hashProvider{} }

type hashProvider struct{}

func (hashProvider) Model() string { return hashModel }
func (hashProvider) Dim() int      { return hashDim }

func (hashProvider) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	ranks := commonRanks()
	return embedEach(ctx, texts, hashDim, func(s *scratch, v []float32) {
		s.weights = s.weights[:0]
		for _, w := range s.words {
			r, ok := ranks[w]
			if !ok {
				r = -1
			}
			s.weights = append(s.weights, sif(hashSIF, r))
		}
		s.lexical(v)
		normalize(v)
	})
}

// embedEach tokenizes each text into s.words and has fill write its vector
// into a fresh slice of dim floats: one allocation a vector, so that a cache
// keeping one vector does not keep its whole batch. A text without words is
// an error.
func embedEach(ctx context.Context, texts []string, dim int, fill func(s *scratch, v []float32)) ([][]float32, error) {
	var s scratch
	out := make([][]float32, len(texts))
	for i, text := range texts {
		if i%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		s.words = tokenize(s.words[:0], text)
		if len(s.words) == 0 {
			return nil, noWords(i)
		}
		out[i] = make([]float32, dim)
		fill(&s, out[i])
	}
	return out, nil
}

func noWords(i int) error {
	return errs.New(errs.Invalid, "text %d has no words to embed", i)
}

// scratch holds the buffers of one Embed call; it is not shared between calls.
type scratch struct {
	words   []string
	weights []float32 // SIF weight of each word
	feats   []feature
	slots   []slot
	gram    []byte
	offs    []int
	block   [hashDim]float32
}

type slot struct {
	h uint64
	n int32   // occurrences
	w float32 // sum of their weights
}

type feature struct {
	h uint64
	w float32
}

// lexical writes the lexical block of s.words into h (length hashDim, zero).
func (s *scratch) lexical(h []float32) {
	s.feats = s.feats[:0]
	for i, w := range s.words {
		s.feats = append(s.feats, feature{hashString(wordSeed, w), s.weights[i]})
	}
	s.addBlock(h, wordShare)

	s.feats = s.feats[:0]
	for i, w := range s.words {
		// The rune boundaries of "<w>", then every 3- to 5-rune slice of it.
		s.gram = append(append(append(s.gram[:0], '<'), w...), '>')
		s.offs = s.offs[:0]
		for j := range string(s.gram) {
			s.offs = append(s.offs, j)
		}
		s.offs = append(s.offs, len(s.gram))
		runes := len(s.offs) - 1
		for n := minGram; n <= maxGram && n <= runes; n++ {
			for j := 0; j+n <= runes; j++ {
				s.feats = append(s.feats, feature{hashBytes(gramSeed, s.gram[s.offs[j]:s.offs[j+n]]), s.weights[i]})
			}
		}
	}
	s.addBlock(h, gramShare)
}

// addBlock hashes s.feats into a block, normalises it and adds share times it
// to h.
func (s *scratch) addBlock(h []float32, share float32) {
	// Gather equal features in an open-addressing table (the hashes are
	// already well mixed, so linear probing from the low bits is fine). Its
	// size depends on the number of features only, so the order in which
	// the loop below adds them up, and so the rounding, is the same for the
	// same text.
	size := 64
	for size < 2*len(s.feats) {
		size *= 2
	}
	if cap(s.slots) < size {
		s.slots = make([]slot, size)
	}
	slots := s.slots[:size]
	clear(slots)
	mask := uint64(size - 1)
	for _, f := range s.feats {
		k := f.h & mask
		for slots[k].n != 0 && slots[k].h != f.h {
			k = (k + 1) & mask
		}
		slots[k].h = f.h
		slots[k].n++
		slots[k].w += f.w
	}

	b := &s.block
	clear(b[:])
	for _, sl := range slots {
		if sl.n == 0 {
			continue
		}
		v := sl.w // the mean weight times 1 + ln c, for c = 1
		if sl.n > 1 {
			c := float32(sl.n)
			v = sl.w / c * (1 + float32(math.Log(float64(c))))
		}
		hi, _ := bits.Mul64(sl.h, hashDim)
		if sl.h&1 != 0 {
			v = -v
		}
		b[hi] += v
	}
	n := norm(b[:])
	if n == 0 {
		return
	}
	f := share / n
	for k, x := range b {
		h[k] += f * x
	}
}

func hashString(seed uint64, s string) uint64 {
	h := uint64(fnvOffset) ^ seed
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return fmix(h)
}

func hashBytes(seed uint64, s []byte) uint64 {
	h := uint64(fnvOffset) ^ seed
	for _, c := range s {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return fmix(h)
}

// fmix is murmur3's 64-bit finaliser: every input bit reaches every output bit.
func fmix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

func norm(v []float32) float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return float32(math.Sqrt(s))
}

// normalize scales v to unit length; a zero v stays zero.
func normalize(v []float32) {
	n := norm(v)
	if n == 0 {
		return
	}
	for i := range v {
		v[i] /= n
	}
}
