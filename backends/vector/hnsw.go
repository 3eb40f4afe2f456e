package vector

import (
	"math"
	"math/rand/v2"
)

// This file is the HNSW graph (hierarchical navigable small world, after
// the paper by Malkov and Yashunin), written for speed:
//
//   - Node i of the graph is slot i of its segment: the graph holds no
//     vectors and no ids, only links, and reads vectors from a view of the
//     segment's vecStore: chunks of flat floats with stride dim.
//   - Layer 0, where a search spends nearly all its time, is one flat
//     []uint32 slab with a fixed stride per node: [count, link, link, ...],
//     room for m0 = 2M links. Upper layers (about one node in M has any)
//     live in a second slab, reached through a per-node offset.
//   - Distances are "smaller is nearer": the negated inner product for
//     cosine (vectors are normalised at insert) and dot, the squared
//     euclidean distance for l2. Both use the kernels of distance*.go.
//   - Searches use typed binary heaps and a bitset of visited nodes from a
//     pooled scratch, so the loops allocate nothing.
//   - A search expanding a node first collects its unvisited links, then
//     computes their distances while prefetching the vectors a few links
//     ahead: at 100k vectors the time goes to waiting on memory, not to
//     arithmetic.
//
// Inserting is split in two so that searches keep running while the graph
// grows: plan computes every change an insert makes (the new node's links
// and the neighbour lists it rewrites) while only reading the graph, and
// apply writes them. The one goroutine that grows a graph may plan without
// a lock, since nobody else changes it; it takes the index's write lock only
// for apply, which is a few copies.

// Default graph parameters.
const (
	DefaultM              = 16
	DefaultEfConstruction = 200
)

type graph struct {
	dim int
	m   int // links per node on layers above 0
	m0  int // links per node on layer 0 (2M)
	efc int // breadth of the search that finds a new node's neighbours
	ml  float64

	s0 int // stride of base: m0+1
	su int // stride of one upper layer of one node: m+1

	levels  []uint8  // top layer of each node
	base    []uint32 // layer-0 links: node i at [i*s0 : (i+1)*s0], [count, links...]
	upperAt []uint32 // 1 + offset of node i's layers 1..levels[i] in upper; 0 for none
	upper   []uint32 // layers 1..level of a node, su words each

	entry uint32 // the node searches start from: one on the top layer
	top   int    // top layer of entry; -1 while the graph is empty

	rng *rand.Rand
}

func newGraph(dim int, m, efc int, capacity int) *graph {
	g := &graph{
		dim: dim, m: m, m0: 2 * m, efc: efc,
		ml: 1 / math.Log(float64(m)),
		s0: 2*m + 1, su: m + 1,
		top: -1,
		rng: rand.New(rand.NewPCG(0x9e3779b97f4a7c15, uint64(dim))),
	}
	if capacity > 0 {
		g.levels = make([]uint8, 0, capacity)
		g.base = make([]uint32, 0, capacity*g.s0)
		g.upperAt = make([]uint32, 0, capacity)
	}
	return g
}

// size is the number of nodes: slots [0, size) of the segment are linked.
func (g *graph) size() int { return len(g.levels) }

// links returns node id's link list on layer l: [count, links...].
func (g *graph) links(id uint32, l int) []uint32 {
	if l == 0 {
		o := int(id) * g.s0
		return g.base[o : o+g.s0 : o+g.s0]
	}
	o := int(g.upperAt[id]) - 1 + (l-1)*g.su
	return g.upper[o : o+g.su : o+g.su]
}

// randomLevel draws a node's top layer: floor(-ln(U) * mL), so each layer
// holds about 1/M of the nodes of the layer below.
func (g *graph) randomLevel() int {
	l := int(-math.Log(1-g.rng.Float64()) * g.ml)
	return min(l, 32)
}

// greedy walks layer l from ep towards q, one nearer neighbour at a time,
// and returns the nearest node it reaches.
func (g *graph) greedy(vecs *vecView, q []float32, ep uint32, epd float32, l int) (uint32, float32) {
	for changed := true; changed; {
		changed = false
		lst := g.links(ep, l)
		for _, nb := range lst[1 : 1+lst[0]] {
			if d := vecs.dist(q, nb); d < epd {
				ep, epd, changed = nb, d, true
			}
		}
	}
	return ep, epd
}

// descend finds the entry point on layer 0 for a search for q.
func (g *graph) descend(vecs *vecView, q []float32) (uint32, float32) {
	ep := g.entry
	epd := vecs.dist(q, ep)
	for l := g.top; l > 0; l-- {
		ep, epd = g.greedy(vecs, q, ep, epd, l)
	}
	return ep, epd
}

// prefetchAhead is how many vectors ahead of the one it is comparing a
// search asks the CPU to load. A distance takes tens of nanoseconds to
// compute but its vector, at a random place in a large segment, may take
// far longer to arrive; loading a few ahead overlaps the waits.
const prefetchAhead = 4

// unvisited marks the links in lst ([count, links...]) visited and returns
// those that were not yet, in sc.fresh, with the first prefetchAhead of
// their vectors on their way into the cache.
func (g *graph) unvisited(vecs *vecView, lst []uint32, sc *scratch) []uint32 {
	fresh := sc.fresh[:0]
	for _, nb := range lst[1 : 1+lst[0]] {
		if !sc.visited.visit(nb) {
			fresh = append(fresh, nb)
		}
	}
	for _, nb := range fresh[:min(prefetchAhead, len(fresh))] {
		vecs.prefetch(nb)
	}
	sc.fresh = fresh
	return fresh
}

// prefetchNext starts loading the vector prefetchAhead places after
// fresh[i], for the loops over unvisited's result.
func (g *graph) prefetchNext(vecs *vecView, fresh []uint32, i int) {
	if j := i + prefetchAhead; j < len(fresh) {
		vecs.prefetch(fresh[j])
	}
}

// searchLayer is the insert-time search: the ef nodes of layer l nearest
// to q, found from ep, returned nearest first in sc.sorted.
func (g *graph) searchLayer(vecs *vecView, q []float32, ep uint32, epd float32, ef, l int, sc *scratch) []cand {
	sc.visited.reset(g.size())
	sc.visited.visit(ep)
	front, best := sc.front[:0], sc.best[:0]
	front.push(cand{epd, ep})
	best.push(cand{epd, ep})
	for len(front) > 0 {
		c := front[0]
		if c.d > best[0].d && len(best) >= ef {
			break
		}
		front.pop()
		fresh := g.unvisited(vecs, g.links(c.id, l), sc)
		for i, nb := range fresh {
			g.prefetchNext(vecs, fresh, i)
			d := vecs.dist(q, nb)
			if len(best) < ef || d < best[0].d {
				front.push(cand{d, nb})
				best.push(cand{d, nb})
				if len(best) > ef {
					best.pop()
				}
			}
		}
	}
	sc.front = front
	sc.sorted = best.drainAscending(sc.sorted[:0])
	sc.best = best
	return sc.sorted
}

// acceptor says which nodes a query may return: not tombstoned, and
// matching the filter if there is one. Nodes it refuses still guide the
// search.
type acceptor struct {
	dead   []uint64 // nil when the segment has no tombstones
	f      *filter  // nil when the query has no filter
	extras []*extra
}

func (a *acceptor) ok(id uint32) bool {
	if a.dead != nil && a.dead[id>>6]&(1<<(id&63)) != 0 {
		return false
	}
	return a.f == nil || a.f.match(a.extras[id])
}

// searchBase is the query-time search of layer 0: the ef accepted nodes
// nearest to q, nearest first, in sc.sorted. Refused nodes are expanded
// like any other, so the search goes on until it has ef accepted nodes or
// runs out of graph. It gives up, returning complete = false, once it has
// computed more than budget distances.
func (g *graph) searchBase(vecs *vecView, q []float32, ep uint32, epd float32, ef int, acc *acceptor, budget int, sc *scratch) (res []cand, complete bool) {
	sc.visited.reset(g.size())
	sc.visited.visit(ep)
	front, best := sc.front[:0], sc.best[:0]
	front.push(cand{epd, ep})
	if acc.ok(ep) {
		best.push(cand{epd, ep})
	}
	filtered := acc.dead != nil || acc.f != nil
	evals := 0
	complete = true
	for len(front) > 0 {
		c := front[0]
		if len(best) >= ef && c.d > best[0].d {
			break
		}
		front.pop()
		o := int(c.id) * g.s0
		lst := g.base[o : o+g.s0 : o+g.s0]
		fresh := g.unvisited(vecs, lst, sc)
		for i, nb := range fresh {
			g.prefetchNext(vecs, fresh, i)
			d := vecs.dist(q, nb)
			if len(best) < ef || d < best[0].d {
				front.push(cand{d, nb})
				if !filtered || acc.ok(nb) {
					best.push(cand{d, nb})
					if len(best) > ef {
						best.pop()
					}
				}
			}
		}
		if evals += int(lst[0]); evals > budget {
			complete = false
			break
		}
	}
	sc.front = front
	sc.sorted = best.drainAscending(sc.sorted[:0])
	sc.best = best
	return sc.sorted, complete
}

// selectNeighbors is the neighbour-selection heuristic of the HNSW paper
// (its Algorithm 4, without extending or refilling the candidates): walk
// cands nearest first and keep a candidate only if it is nearer to the base
// node than to every candidate kept so far, up to max. This keeps links
// pointing in different directions rather than all into one cluster, which
// is what lets greedy search cross between clusters.
//
// buf has room for a vector, to decode codes into (see vecView.query).
func (g *graph) selectNeighbors(vecs *vecView, cands []cand, max int, out []cand, buf []float32) []cand {
	out = out[:0]
	for _, c := range cands {
		if len(out) >= max {
			break
		}
		vc := vecs.query(c.id, buf)
		keep := true
		for _, s := range out {
			if vecs.dist(vc, s.id) < c.d {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, c)
		}
	}
	return out
}

// linkPlan is every change inserting one node makes, computed by plan and
// written by apply.
type linkPlan struct {
	id    uint32
	level int
	edits []linkEdit
	buf   []uint32 // the new lists of edits, back to back
	sel   []cand
	cands []cand

	q, n, c []float32 // room to decode the vectors of plan's node, a neighbour and a candidate
}

// grow gives p room to decode vectors of dim dimensions.
func (p *linkPlan) grow(dim int) {
	if len(p.q) < dim {
		p.q, p.n, p.c = make([]float32, dim), make([]float32, dim), make([]float32, dim)
	}
}

// linkEdit replaces the list of node on layer l with buf[off:off+n].
type linkEdit struct {
	node   uint32
	l      int
	off, n int
}

func (p *linkPlan) add(node uint32, l int, ids []cand) {
	off := len(p.buf)
	for _, c := range ids {
		p.buf = append(p.buf, c.id)
	}
	p.edits = append(p.edits, linkEdit{node: node, l: l, off: off, n: len(ids)})
}

// plan computes how to link node id, whose vector is already in vecs, into
// the graph. It reads the graph but does not change it.
func (g *graph) plan(vecs *vecView, id uint32, p *linkPlan, sc *scratch) {
	p.id, p.level = id, g.randomLevel()
	p.edits, p.buf = p.edits[:0], p.buf[:0]
	if g.top < 0 {
		return
	}
	p.grow(g.dim)
	q := vecs.query(id, p.q)
	ep, epd := g.entry, vecs.dist(q, g.entry)
	for l := g.top; l > p.level; l-- {
		ep, epd = g.greedy(vecs, q, ep, epd, l)
	}
	for l := min(p.level, g.top); l >= 0; l-- {
		found := g.searchLayer(vecs, q, ep, epd, g.efc, l, sc)
		ep, epd = found[0].id, found[0].d
		p.sel = g.selectNeighbors(vecs, found, g.m, p.sel, p.c)
		p.add(id, l, p.sel)
		limit := g.m
		if l == 0 {
			limit = g.m0
		}
		// Link back from each chosen neighbour. A neighbour with room just
		// gains the new node; a full one re-runs the heuristic over its old
		// links plus the new node, which may drop a link.
		for _, nb := range p.sel {
			lst := g.links(nb.id, l)
			cnt := int(lst[0])
			if cnt < limit {
				off := len(p.buf)
				p.buf = append(p.buf, lst[1:1+cnt]...)
				p.buf = append(p.buf, id)
				p.edits = append(p.edits, linkEdit{node: nb.id, l: l, off: off, n: cnt + 1})
				continue
			}
			vn := vecs.query(nb.id, p.n)
			cands := append(p.cands[:0], cand{nb.d, id})
			for _, x := range lst[1 : 1+cnt] {
				cands = append(cands, cand{vecs.dist(vn, x), x})
			}
			sortCands(cands)
			p.cands = cands
			sc.sorted = g.selectNeighbors(vecs, cands, limit, sc.sorted[:0], p.c)
			p.add(nb.id, l, sc.sorted)
		}
	}
}

// apply writes p into the graph. Searches must be excluded while it runs.
func (g *graph) apply(p *linkPlan) {
	g.levels = append(g.levels, uint8(p.level))
	n := len(g.base)
	g.base = append(g.base, make([]uint32, g.s0)...)
	clear(g.base[n:])
	if p.level > 0 {
		g.upperAt = append(g.upperAt, uint32(len(g.upper))+1)
		g.upper = append(g.upper, make([]uint32, p.level*g.su)...)
	} else {
		g.upperAt = append(g.upperAt, 0)
	}
	for _, e := range p.edits {
		lst := g.links(e.node, e.l)
		lst[0] = uint32(e.n)
		copy(lst[1:], p.buf[e.off:e.off+e.n])
	}
	if p.level > g.top {
		g.entry, g.top = p.id, p.level
	}
}

// insert links node id at once; for graphs no search can see yet.
func (g *graph) insert(vecs *vecView, id uint32, p *linkPlan, sc *scratch) {
	g.plan(vecs, id, p, sc)
	g.apply(p)
}

// sortCands sorts a short list nearest first (insertion sort: the lists
// here hold at most 2M+1 entries).
func sortCands(c []cand) {
	for i := 1; i < len(c); i++ {
		x := c[i]
		j := i - 1
		for j >= 0 && c[j].d > x.d {
			c[j+1] = c[j]
			j--
		}
		c[j+1] = x
	}
}

// bytes is the memory the graph's slabs take.
func (g *graph) bytes() int64 {
	return int64(cap(g.levels)) + 4*int64(cap(g.base)+cap(g.upperAt)+cap(g.upper))
}
