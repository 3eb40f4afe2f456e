package vector

import (
	"bytes"
	"cmp"
	"encoding/json"
	"math"
	"slices"
)

// extra is what an item carries besides its id and vector. Items with
// neither text nor metadata have none (a nil *extra).
type extra struct {
	text  string
	meta  []byte // the metadata object as JSON; nil when there is none
	attrs []attr // its top-level values, for filters (see attrsOf)
}

// setMeta stores b, a JSON object, as e's metadata.
func (e *extra) setMeta(b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	e.meta, e.attrs = b, attrsOf(m)
	return nil
}

// metadata decodes e's metadata afresh for a caller, who may change it.
// Numbers come back as json.Number, so large integers keep every digit.
func (e *extra) metadata() map[string]any {
	if e == nil || e.meta == nil {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(e.meta))
	d.UseNumber()
	var m map[string]any
	if d.Decode(&m) != nil {
		return nil
	}
	return m
}

func (e *extra) getText() string {
	if e == nil {
		return ""
	}
	return e.text
}

// A segment is the items of an index in slots: slot i has ids[i], extras[i]
// and the vector vecs.at(i), and in a quantised index also the codes of
// that vector in codes. Slots are only ever appended, and
// what a slot holds never changes afterwards; replacing or deleting an item
// tombstones its slot. Rebuilding compacts the live slots into a new
// segment.
//
// lex indexes the words of the slots' texts (see lexical.go).
//
// If g is not nil, slots [0, g.size()) are linked into the graph and
// searched through it, while slots from g.size() on (the tail, not linked
// yet) are searched exactly. So a search always sees every live item, even
// while the graph is being built.
//
// The index's mutex guards a segment that searches can see.
type segment struct {
	dim    int
	l2     bool
	vecs   *vecStore
	codes  *vecStore // nil unless the index is quantised
	ids    []string
	extras []*extra
	dead   []uint64 // tombstone bit per slot
	nDead  int
	slots  map[string]uint32 // id -> slot of its live item
	lex    *lexicon
	g      *graph

	// feedSeq is, in shared mode, the number of the last change of the
	// feed that the segment holds (see shared.go); 0 in local mode.
	feedSeq int64

	// What the slots hold beyond the slices' capacities, for memory: the
	// bytes of their ids, of their texts, and of the rest of their extras
	// (see extra.bytes); and the entries slots has room for, its size
	// hint or the most it has held, since a Go map never shrinks.
	idBytes, textBytes, metaBytes int64
	mapRoom                       int
}

func newSegment(dim int, l2 bool, quant Quantization, capacity int) *segment {
	var codes *vecStore
	if quant == QuantInt8 {
		codes = newVecStore(dim, kindOf(l2, true))
	}
	return &segment{
		dim:     dim,
		l2:      l2,
		vecs:    newVecStore(dim, kindOf(l2, false)),
		codes:   codes,
		ids:     make([]string, 0, capacity),
		extras:  make([]*extra, 0, capacity),
		dead:    make([]uint64, 0, (capacity+63)/64),
		slots:   make(map[string]uint32, capacity),
		lex:     newLexicon(),
		mapRoom: capacity,
	}
}

func (s *segment) n() int    { return len(s.ids) }
func (s *segment) live() int { return len(s.ids) - s.nDead }

func (s *segment) vec(i uint32) []float32 { return s.vecs.at(i) }

func (s *segment) isDead(i uint32) bool { return s.dead[i>>6]&(1<<(i&63)) != 0 }

// appendSlot adds a slot without looking at other slots of the same id;
// doc is its text analysed.
func (s *segment) appendSlot(id string, vec []float32, ex *extra, doc document) uint32 {
	i := s.push(id, vec, ex)
	s.slots[id] = i
	s.mapRoom = max(s.mapRoom, len(s.slots))
	s.lex.add(doc)
	return i
}

// push appends a slot's id, extra and vector, and counts their memory;
// the caller indexes its text.
func (s *segment) push(id string, vec []float32, ex *extra) uint32 {
	s.vecs.add(vec)
	if s.codes != nil {
		encode(s.codes.grow(), vec)
	}
	return s.pushItem(id, ex)
}

// space is the view searches compare queries with: the codes of a
// quantised index, the vectors otherwise.
func (s *segment) space() vecView {
	if s.codes != nil {
		return s.codes.view()
	}
	return s.vecs.view()
}

// pushItem is push for a slot whose vector (and codes) s holds already.
func (s *segment) pushItem(id string, ex *extra) uint32 {
	i := uint32(len(s.ids))
	s.ids = append(s.ids, id)
	s.extras = append(s.extras, ex)
	if int(i>>6) >= len(s.dead) {
		s.dead = append(s.dead, 0)
	}
	text, meta := ex.bytes()
	s.idBytes += heapSize(len(id))
	s.textBytes += text
	s.metaBytes += meta
	return i
}

// put stores an item, tombstoning the slot of any item it replaces; doc
// is its text analysed.
func (s *segment) put(id string, vec []float32, ex *extra, doc document) {
	if old, ok := s.slots[id]; ok {
		s.kill(old)
	}
	s.appendSlot(id, vec, ex, doc)
}

// remove tombstones id's item and reports whether there was one.
func (s *segment) remove(id string) bool {
	i, ok := s.slots[id]
	if ok {
		s.kill(i)
	}
	return ok
}

// kill tombstones slot i.
func (s *segment) kill(i uint32) {
	if s.isDead(i) {
		return
	}
	s.dead[i>>6] |= 1 << (i & 63)
	s.nDead++
	s.lex.kill(i)
	if j, ok := s.slots[s.ids[i]]; ok && j == i {
		delete(s.slots, s.ids[i])
	}
}

// slotsOf returns the slots of the live items among ids, as a set.
func (s *segment) slotsOf(ids []string) map[uint32]bool {
	set := make(map[uint32]bool, len(ids))
	for _, id := range ids {
		if i, ok := s.slots[id]; ok {
			set[i] = true
		}
	}
	return set
}

func (s *segment) dist(q []float32, i uint32) float32 {
	if s.l2 {
		return l2sq(q, s.vec(i))
	}
	return -dot(q, s.vec(i))
}

func (s *segment) acceptor(f *filter) acceptor {
	a := acceptor{f: f, extras: s.extras}
	if s.nDead > 0 {
		a.dead = s.dead
	}
	return a
}

// scan pushes the accepted slots of [from, to) into best, keeping the k
// nearest to q in v.
func scan(v *vecView, q []float32, k, from, to int, acc *acceptor, best *maxHeap) {
	filtered := acc.dead != nil || acc.f != nil
	for i := from; i < to; i++ {
		id := uint32(i)
		if filtered && !acc.ok(id) {
			continue
		}
		d := v.dist(q, id)
		if len(*best) < k || d < (*best)[0].d {
			best.pushBounded(cand{d, id}, k)
		}
	}
}

// filteredBudget is how much of the graph a filtered search may explore,
// as a fraction of its nodes (in distance computations), before it stops
// and scans the matching items exactly instead. A selective filter makes a
// graph search wander through many nodes that do not match; past this
// point, scanning is cheaper.
const filteredBudget = 0.125

// search returns the k live items nearest to q that match f, nearest first
// (in sc.sorted). The graph covers the linked slots and a scan the rest; if
// the graph search falls short of k results, or a filtered search exceeds
// its budget, every slot is scanned instead, so a search returns fewer
// than k results only when fewer than k items match.
//
// A quantised index finds the rerankPool*k (at most ef) candidates
// nearest by their codes, and returns the k nearest of them by their exact
// distances.
func (s *segment) search(q []float32, k, ef int, f *filter, sc *scratch) []cand {
	if s.codes == nil {
		v := s.vecs.view()
		return s.searchIn(&v, q, k, ef, f, sc)
	}
	v := s.codes.view()
	out := s.searchIn(&v, q, max(k, min(ef, rerankPool*k)), ef, f, sc)
	for i := range out {
		out[i].d = s.dist(q, out[i].id)
	}
	slices.SortFunc(out, func(a, b cand) int {
		if c := cmp.Compare(a.d, b.d); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	return out[:min(k, len(out))]
}

// searchIn is search by the distances of v.
func (s *segment) searchIn(v *vecView, q []float32, k, ef int, f *filter, sc *scratch) []cand {
	acc := s.acceptor(f)
	n := s.n()
	best := sc.best[:0]
	linked := 0
	if s.g != nil && s.g.size() > 0 {
		linked = s.g.size()
		budget := math.MaxInt
		if f != nil {
			budget = max(int(filteredBudget*float64(linked)), 4*ef*s.g.m0)
		}
		ep, epd := s.g.descend(v, q)
		res, complete := s.g.searchBase(v, q, ep, epd, ef, &acc, budget, sc)
		if !complete {
			return s.exact(v, q, k, &acc, sc)
		}
		best = sc.best[:0]
		for _, c := range res[:min(k, len(res))] {
			best.push(c)
		}
	}
	scan(v, q, k, linked, n, &acc, &best)
	sc.best = best
	out := best.drainAscending(sc.sorted[:0])
	sc.sorted = out
	if linked > 0 && len(out) < k && (f != nil || len(out) < s.live()) {
		return s.exact(v, q, k, &acc, sc)
	}
	return out
}

// exact scans every slot.
func (s *segment) exact(v *vecView, q []float32, k int, acc *acceptor, sc *scratch) []cand {
	best := sc.best[:0]
	scan(v, q, k, 0, s.n(), acc, &best)
	sc.best = best
	sc.sorted = best.drainAscending(sc.sorted[:0])
	return sc.sorted
}

// loadSlot adds the next slot of a snapshot being read, whose vector
// s.vecs (and, if quantised, its codes s.codes) holds already, tombstoned
// if dead. Its text is indexed later, with every slot's (see
// lexicon.link). For a live slot of an id that a live slot holds already
// it reports that slot and false, and the segment is not to be used.
func (s *segment) loadSlot(id string, ex *extra, dead bool) (other int, ok bool) {
	i := uint32(len(s.ids))
	if !dead {
		// One probe of the map, not a lookup and then an insert: at a
		// million slots each is a cache miss.
		n := len(s.slots)
		if s.slots[id] = i; len(s.slots) == n {
			for j, o := range s.ids {
				if o == id && !s.isDead(uint32(j)) {
					return j, false
				}
			}
			return -1, false
		}
		s.mapRoom = max(s.mapRoom, len(s.slots))
	}
	s.pushItem(id, ex)
	s.lex.add(document{})
	if dead {
		s.dead[i>>6] |= 1 << (i & 63)
		s.nDead++
	}
	return 0, true
}
