package vector

// The lexical index: BM25 over the texts of a segment's items.
//
// Every segment keeps one, slot for slot beside its vectors, so it follows
// the segment's life without a life of its own: a slot's text is indexed
// when the slot is appended, a tombstone takes the slot's words out of the
// statistics at once (its postings stay, skipped, until a rebuild compacts
// the segment), and a rebuild indexes the live slots into the new segment.
// A snapshot stores the words of its slots (each slot's terms and counts)
// in the same file, so they are in step with its items: opening an index
// takes them from there and analyses only the texts that the logs add (see
// link). The postings lists are laid out again from them, which is a
// fraction of analysing the texts (at 100k items of 31 words analysing
// them added 0.35–0.75 s to an open). Words that cannot be read are
// analysed again from the texts: they are derived from them.
//
// Words are split by the embedders' own tokenizer ([embed.Words]): runs of
// letters and digits, lower-cased, so "ERR_CONN_RESET" is three words and
// "E0425" one. There is no stemming and no stop list: an exact identifier
// must match exactly, and BM25's inverse document frequency already gives
// common words little weight.

import (
	"math"
	"runtime"
	"slices"
	"sync"

	"lakehouse/backends/embed"
)

// The BM25 parameters: k1 is how quickly repeats of a word in one text stop
// adding to its score, b how much a text longer than the average is
// discounted. They are the usual values.
const (
	BM25K1 = 1.2
	BM25B  = 0.75
)

// termCount is a word of a text and how many times the text has it.
type termCount struct {
	term string
	tf   uint32
}

// document is a text as the lexical index sees it: its distinct words,
// sorted, with their counts, and its length in words.
type document struct {
	terms  []termCount
	length uint32
}

// analyze splits text into words and counts them. Writers call it before
// they lock the index, so that the lock is held only to link the words in.
func analyze(text string) document {
	if text == "" {
		return document{}
	}
	words := embed.Words(nil, text)
	slices.Sort(words)
	d := document{length: uint32(len(words))}
	for i := 0; i < len(words); {
		j := i + 1
		for j < len(words) && words[j] == words[i] {
			j++
		}
		d.terms = append(d.terms, termCount{words[i], uint32(j - i)})
		i = j
	}
	return d
}

// queryTerms returns the distinct words of a query. A word repeated in the
// query counts once.
func queryTerms(text string) []string {
	return slices.Compact(slices.Sorted(slices.Values(embed.Words(nil, text))))
}

// posting pairs a slot with a term: in a term's list, id is the slot; in a
// slot's list, the term.
type posting struct {
	id uint32
	tf uint32 // times the term occurs in the slot's text
}

// A lexicon is the inverted index of a segment's texts. Slot i of the
// segment is slot i here; slots are appended in order, and what a slot
// holds never changes, so every term's postings stay sorted by slot.
//
// The segment's lock guards it, like the rest of the segment.
type lexicon struct {
	ids      map[string]uint32 // term -> term id
	terms    []string          // term id -> term
	postings [][]posting       // term id -> the slots holding it, tombstones included, ascending
	df       []uint32          // term id -> live slots holding it
	fwd      []posting         // the terms of every slot, slot after slot: slot i's are fwd[fwdAt[i]:fwdAt[i+1]]
	fwdAt    []uint32          // one more entry than slots
	docLen   []uint32          // slot -> words in its text
	docs     int               // live slots with words
	words    int64             // words in those slots

	// For memory: the bytes of the terms, and of the arrays of the
	// postings lists; inSlab has a bit set for each term whose list still
	// lies in the slab that link laid out (see grew).
	termBytes, postingBytes int64
	inSlab                  []uint64

	// pending is set while a segment is read from disk: its slots are
	// appended without their words, and link indexes the texts of the live
	// ones at the end, all at once. stored, if set, is the words of the
	// first slots as a snapshot holds them, which link takes instead of
	// analysing those texts again.
	pending bool
	stored  *lexView
}

func newLexicon() *lexicon {
	return &lexicon{ids: map[string]uint32{}, fwdAt: []uint32{0}}
}

// add indexes d as the next slot; while the lexicon is pending, it only
// makes room for the slot. A tombstone is added as an empty document.
func (l *lexicon) add(d document) {
	slot := uint32(len(l.docLen))
	if l.pending {
		d = document{}
	}
	for _, tc := range d.terms {
		id := l.intern(tc.term)
		list := append(l.postings[id], posting{slot, tc.tf})
		if cap(list) != cap(l.postings[id]) {
			l.grew(id, cap(l.postings[id]), cap(list))
		}
		l.postings[id] = list
		l.df[id]++
		l.fwd = append(l.fwd, posting{id, tc.tf})
	}
	l.fwdAt = append(l.fwdAt, uint32(len(l.fwd)))
	l.docLen = append(l.docLen, d.length)
	if d.length > 0 {
		l.docs++
		l.words += int64(d.length)
	}
}

// link indexes the texts of the live slots of a pending lexicon (the
// segment's extras, and its tombstones in dead) and ends pending. Reading an
// index from disk appends every slot first, replacements and deletes
// included, and links once: each live text is analysed once, on every CPU,
// and every term's postings are laid out at their final size in one slab,
// which takes 30% less time than adding the slots one by one.
//
// With the words a snapshot stored for its slots (stored), only the texts
// of the slots the logs added are analysed; the stored slots keep their
// term numbers, tombstoned ones included (a tombstone's words count in no
// statistic, as after kill).
func (l *lexicon) link(extras []*extra, dead []uint64) {
	n := len(extras)
	st := l.stored
	*l = *newLexicon()
	from := 0
	if st != nil && len(st.len) <= n {
		for _, t := range st.terms {
			l.intern(t)
		}
		if len(l.terms) == len(st.terms) { // no term twice: the numbers hold
			from = len(st.len)
		} else {
			*l = *newLexicon()
		}
	}
	docs := make([]document, n-from) // of slots from on
	workers := runtime.GOMAXPROCS(0)
	chunk := (n - from + workers - 1) / max(workers, 1)
	var wg sync.WaitGroup
	for lo := from; lo < n; lo += chunk {
		wg.Go(func() {
			for i := lo; i < min(lo+chunk, n); i++ {
				if dead[i>>6]&(1<<(i&63)) == 0 {
					docs[i-from] = analyze(extras[i].getText())
				}
			}
		})
	}
	wg.Wait()

	terms := 0
	if from > 0 {
		terms = len(st.fwd)
	}
	for _, d := range docs {
		terms += len(d.terms)
	}
	if from > 0 {
		// The stored arrays become the lexicon's, grown (copied) only if
		// the logs added slots.
		l.fwd = slices.Grow(st.fwd, terms-len(st.fwd))
		l.fwdAt = slices.Grow(st.fwdAt, n-from)
		l.docLen = slices.Grow(st.len, n-from)
		for i := range from {
			if dead[i>>6]&(1<<(i&63)) != 0 {
				continue
			}
			for _, p := range l.fwd[l.fwdAt[i]:l.fwdAt[i+1]] {
				l.df[p.id]++
			}
			if d := l.docLen[i]; d > 0 {
				l.docs++
				l.words += int64(d)
			}
		}
	}
	if from == 0 {
		l.fwd = make([]posting, 0, terms)
		l.fwdAt = slices.Grow(l.fwdAt, n)
		l.docLen = make([]uint32, 0, n)
	}
	for _, d := range docs {
		for _, tc := range d.terms {
			l.fwd = append(l.fwd, posting{l.intern(tc.term), tc.tf})
			l.df[l.fwd[len(l.fwd)-1].id]++
		}
		l.fwdAt = append(l.fwdAt, uint32(len(l.fwd)))
		l.docLen = append(l.docLen, d.length)
		if d.length > 0 {
			l.docs++
			l.words += int64(d.length)
		}
	}
	slab := make([]posting, 0, terms)
	for id, df := range l.df {
		end := len(slab) + int(df)
		l.postings[id], slab = slab[len(slab):len(slab):end], slab[:end]
	}
	for slot := range n {
		if dead[slot>>6]&(1<<(slot&63)) != 0 {
			continue // only stored slots have words here; df does not count them
		}
		for _, p := range l.fwd[l.fwdAt[slot]:l.fwdAt[slot+1]] {
			l.postings[p.id] = append(l.postings[p.id], posting{uint32(slot), p.tf})
		}
	}
	l.postingBytes = 8 * int64(cap(slab))
	l.inSlab = make([]uint64, (len(l.df)+63)/64)
	for i := range l.inSlab {
		l.inSlab[i] = ^uint64(0)
	}
}

// grew counts the postings list of term id moving to a new array, of
// capacity to from from. The old array is garbage, unless it lies in
// link's slab: the slab stays whole while any list lies in it, and is
// counted until the lexicon is built again.
func (l *lexicon) grew(id uint32, from, to int) {
	l.postingBytes += 8 * int64(to)
	if w, bit := int(id>>6), uint64(1)<<(id&63); w < len(l.inSlab) && l.inSlab[w]&bit != 0 {
		l.inSlab[w] &^= bit
	} else {
		l.postingBytes -= 8 * int64(from)
	}
}

// intern returns the id of term, numbering it if it is new.
func (l *lexicon) intern(term string) uint32 {
	id, ok := l.ids[term]
	if !ok {
		id = uint32(len(l.terms))
		l.ids[term] = id
		l.terms = append(l.terms, term)
		l.termBytes += heapSize(len(term))
		l.postings = append(l.postings, nil)
		l.df = append(l.df, 0)
	}
	return id
}

// kill takes the words of slot i out of the statistics, as the segment
// tombstones it; it is called once per slot. The slot's postings stay, and
// searches skip them.
func (l *lexicon) kill(i uint32) {
	for _, p := range l.fwd[l.fwdAt[i]:l.fwdAt[i+1]] {
		l.df[p.id]--
	}
	if n := l.docLen[i]; n > 0 {
		l.docs--
		l.words -= int64(n)
	}
}

// lexView is the part of a lexicon that a rebuild reads without the lock:
// what the first slots hold, which never changes.
type lexView struct {
	terms []string
	fwd   []posting
	fwdAt []uint32
	len   []uint32
}

// view returns the view of slots [0, n); the lock is held.
func (l *lexicon) view(n int) lexView {
	return lexView{terms: l.terms, fwd: l.fwd[:l.fwdAt[n]], fwdAt: l.fwdAt[:n+1], len: l.docLen[:n]}
}

// doc returns slot i as a document, to index it again in another segment.
func (v lexView) doc(i uint32) document {
	fs := v.fwd[v.fwdAt[i]:v.fwdAt[i+1]]
	d := document{terms: make([]termCount, len(fs)), length: v.len[i]}
	for j, p := range fs {
		d.terms[j] = termCount{v.terms[p.id], p.tf}
	}
	return d
}

// idf is BM25's inverse document frequency of a term that df of n texts
// hold, in the form that stays positive however common the term (Lucene's).
func idf(df, n int) float64 {
	return math.Log(1 + (float64(n-df)+0.5)/(float64(df)+0.5))
}

// score adds the BM25 score of every live slot holding a word of terms to
// sc.lex (indexed by slot, and zero elsewhere), the idf of the words it
// holds to sc.held, and lists those slots in sc.touched; clearLexical
// undoes it. dead is the tombstone bitmap.
//
// For a text d of length |d| and a query q, with N live texts of average
// length avgdl:
//
//	BM25(d, q) = Σ_{t ∈ q} idf(t) · tf(t,d)·(k1+1) / (tf(t,d) + k1·(1 − b + b·|d|/avgdl))
//
// It returns the ideal score of q, Σ idf(t) over the words of q, known to
// the index or not (a word no text holds has the idf of df = 0): what a
// text of average length holding each word of q once would score, the
// scale that fusion measures BM25 against.
func (l *lexicon) score(terms []string, dead []uint64, sc *scratch) (ideal float64) {
	n := len(l.docLen)
	if cap(sc.lex) < n {
		sc.lex = make([]float32, n, n+n/4)
		sc.held = make([]float32, n, n+n/4)
	}
	sc.lex, sc.held = sc.lex[:n], sc.held[:n]
	sc.touched = sc.touched[:0]
	avgdl := float64(l.words) / float64(max(l.docs, 1))
	for _, t := range terms {
		id, ok := l.ids[t]
		if !ok || l.df[id] == 0 {
			ideal += idf(0, l.docs)
			continue
		}
		w := idf(int(l.df[id]), l.docs)
		ideal += w
		for _, p := range l.postings[id] {
			if dead[p.id>>6]&(1<<(p.id&63)) != 0 {
				continue
			}
			tf := float64(p.tf)
			norm := BM25K1 * (1 - BM25B + BM25B*float64(l.docLen[p.id])/avgdl)
			if sc.lex[p.id] == 0 {
				sc.touched = append(sc.touched, p.id)
			}
			sc.lex[p.id] += float32(w * tf * (BM25K1 + 1) / (tf + norm))
			sc.held[p.id] += float32(w)
		}
	}
	return ideal
}

// clearLexical zeroes what score left in sc.lex and sc.held.
func (sc *scratch) clearLexical() {
	for _, i := range sc.touched {
		sc.lex[i], sc.held[i] = 0, 0
	}
	sc.touched = sc.touched[:0]
}

// bytes returns the memory the lexicon holds (see memory.go).
func (l *lexicon) bytes() int64 {
	return 8*int64(cap(l.fwd)+cap(l.inSlab)) + 4*int64(cap(l.fwdAt)+cap(l.docLen)+cap(l.df)) +
		sliceHeader*int64(cap(l.postings)) + stringHeader*int64(cap(l.terms)) +
		l.termBytes + l.postingBytes + mapBytes(len(l.ids), idSlot)
}
