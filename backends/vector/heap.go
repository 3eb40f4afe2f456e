package vector

import "sync"

// cand is a node of the graph, or a slot of a segment, with its distance to
// the query at hand.
type cand struct {
	d  float32
	id uint32
}

// minHeap keeps the nearest cand on top: the frontier of a graph search.
type minHeap []cand

func (h *minHeap) push(c cand) {
	s := append(*h, c)
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].d <= c.d {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = c
	*h = s
}

func (h *minHeap) pop() cand {
	s := *h
	top := s[0]
	n := len(s) - 1
	last := s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && s[r].d < s[l].d {
			l = r
		}
		if last.d <= s[l].d {
			break
		}
		s[i] = s[l]
		i = l
	}
	if n > 0 {
		s[i] = last
	}
	*h = s
	return top
}

// maxHeap keeps the farthest cand on top: the best results found so far, of
// which the worst is the one to evict.
type maxHeap []cand

func (h *maxHeap) push(c cand) {
	s := append(*h, c)
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].d >= c.d {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = c
	*h = s
}

func (h *maxHeap) pop() cand {
	s := *h
	top := s[0]
	n := len(s) - 1
	last := s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && s[r].d > s[l].d {
			l = r
		}
		if last.d >= s[l].d {
			break
		}
		s[i] = s[l]
		i = l
	}
	if n > 0 {
		s[i] = last
	}
	*h = s
	return top
}

// pushBounded adds c if the heap holds fewer than k cands or c is nearer
// than the farthest of them, which it then evicts.
func (h *maxHeap) pushBounded(c cand, k int) {
	if len(*h) < k {
		h.push(c)
		return
	}
	if c.d < (*h)[0].d {
		h.pop()
		h.push(c)
	}
}

// drainAscending empties h into dst, nearest first, and returns dst.
func (h *maxHeap) drainAscending(dst []cand) []cand {
	n := len(*h)
	start := len(dst)
	dst = append(dst, make([]cand, n)...)
	for i := n - 1; i >= 0; i-- {
		dst[start+i] = h.pop()
	}
	return dst
}

// visitedSet marks the nodes a search has reached: one bit per node,
// cleared at the start of each search (n/8 bytes, a few hundred nanoseconds
// for 100k nodes, much less than the search itself).
type visitedSet []uint64

func (v *visitedSet) reset(n int) {
	words := (n + 63) >> 6
	if cap(*v) < words {
		*v = make([]uint64, words, words+words/4)
		return
	}
	*v = (*v)[:words]
	clear(*v)
}

// visit marks id and reports whether it was already marked.
func (v visitedSet) visit(id uint32) bool {
	w := &v[id>>6]
	bit := uint64(1) << (id & 63)
	if *w&bit != 0 {
		return true
	}
	*w |= bit
	return false
}

// scratch is the working memory of one search or insert, reused through
// scratchPool so that a search allocates nothing in its loops.
type scratch struct {
	visited visitedSet
	front   minHeap
	best    maxHeap
	sorted  []cand
	fresh   []uint32
	query   []float32
	lex     []float32 // BM25 score by slot (see lexicon.score)
	held    []float32 // by slot, the idf of the query words its text holds
	touched []uint32  // the slots of lex that are not zero
	res     []scored
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(s *scratch) {
	s.front, s.best, s.sorted, s.res = s.front[:0], s.best[:0], s.sorted[:0], s.res[:0]
	scratchPool.Put(s)
}
