package vector

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"testing"

	"lakehouse/internal/disk"
)

// snapshotSeeds returns the snapshot files of a few real indexes: empty,
// flat with tombstones, text and metadata, and one with an HNSW graph of
// several layers.
func snapshotSeeds(f *testing.F) [][]byte {
	f.Helper()
	ctx := context.Background()
	dir := f.TempDir()
	m, err := Open(dir, Config{FlatThreshold: 8, M: 4, EfConstruction: 16})
	if err != nil {
		f.Fatal(err)
	}
	defer m.Close()
	var out [][]byte
	for _, tc := range []struct {
		name   string
		metric Metric
		quant  Quantization
		items  int
		del    []string
	}{
		{"empty", Cosine, QuantNone, 0, nil},
		{"flat", L2, QuantNone, 5, []string{"item-1", "item-3"}},
		{"graph", Dot, QuantNone, 40, []string{"item-0", "item-7", "item-20"}},
		{"int8", Cosine, QuantInt8, 40, []string{"item-2"}},
	} {
		if _, err := m.Create(ctx, tc.name, Spec{Dim: 3, Metric: tc.metric, Model: "seed-model", Quantization: tc.quant}); err != nil {
			f.Fatal(err)
		}
		items := make([]Item, tc.items)
		for i := range items {
			items[i] = Item{
				ID:     fmt.Sprintf("item-%d", i),
				Vector: []float32{float32(i%7) + 0.5, float32(i%3) - 1, float32(i) / 10},
			}
			if i%2 == 0 {
				items[i].Text = fmt.Sprintf("text of item %d", i)
			}
			if i%3 != 0 {
				items[i].Metadata = map[string]any{"tag": []any{"a", "b"}[i%2], "n": i, "deep": map[string]any{"x": []any{1, "y", nil}}}
			}
		}
		if len(items) > 0 {
			if _, err := m.Upsert(ctx, tc.name, items); err != nil {
				f.Fatal(err)
			}
		}
		if len(tc.del) > 0 {
			if _, err := m.Delete(ctx, tc.name, tc.del); err != nil {
				f.Fatal(err)
			}
			// Replace one item, so that its old slot is a tombstone too.
			if _, err := m.Upsert(ctx, tc.name, items[len(items)-1:]); err != nil {
				f.Fatal(err)
			}
		}
		if err := m.WaitIndexed(ctx, tc.name); err != nil {
			f.Fatal(err)
		}
		if err := m.Snapshot(ctx, tc.name); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, tc.name, snapshotName))
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzReadSnapshot checks readSnapshot on arbitrary and mutated files, with
// the checksum left as it is or recomputed (fixCRC), so that damage behind
// a good checksum is reached too. It never panics, and it allocates at most
// a constant factor more than the file's size plus a fixed amount, so a
// forged count or length cannot make it allocate gigabytes. It returns
// either an error and no segment, or a segment that is whole:
//
//   - the header is in range and the segment's slices agree in length;
//   - the tombstone count matches the tombstone bits, and the live slots are
//     exactly the slots of the id map, one per id;
//   - a graph the file held that is unusable is reported in graphErr and
//     dropped, and a graph that is kept covers at most the slots;
//   - a search of the segment, plain and filtered, runs without panic and
//     returns min(k, matching live items) distinct live matching items;
//   - written out again by writeSnapshot and read back, it is the same
//     segment.
func FuzzReadSnapshot(f *testing.F) {
	seeds := snapshotSeeds(f)
	for _, b := range seeds {
		f.Add(b, false)
		f.Add(b, true)
		f.Add(b[:len(b)/2], false)
		// Forged slot and node counts, and a forged id length, behind good
		// checksums.
		at := slotCountAt(b)
		for _, n := range []uint64{math.MaxUint64, 1 << 32, 1000} {
			for _, field := range []int{at, at + 12} { // slots, nodes
				forged := slices.Clone(b)
				binary.LittleEndian.PutUint64(forged[field:], n)
				f.Add(forged, true)
			}
		}
		// Header lengths that cut its fields short or overrun its page.
		for _, n := range []uint32{0, 10, snapAlign} {
			forged := slices.Clone(b)
			binary.LittleEndian.PutUint32(forged[12:], n)
			f.Add(forged, true)
		}
		if items := itemsAt(b); items < len(b)-12-3 {
			forged := slices.Clone(b)
			copy(forged[items:], []byte{0xff, 0xff, 0x7f})
			f.Add(forged, true)
		}
	}
	v1, err := os.ReadFile("testdata/v1/old/snapshot")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v1, false)
	f.Add(v1[:len(v1)-30], false)
	f.Add([]byte(snapMagic), false)
	f.Add([]byte{}, false)
	f.Add(append([]byte(snapMagic), make([]byte, 64)...), true)
	f.Add(binary.LittleEndian.AppendUint32([]byte(snapMagic), 1), true)

	dir := f.TempDir()
	in, err := disk.Open(filepath.Join(dir, "in"))
	if err != nil {
		f.Fatal(err)
	}
	out, err := disk.Open(filepath.Join(dir, "out"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, fixCRC bool) {
		if fixCRC {
			data = fixChecksums(data)
		}
		if err := os.WriteFile(in.Path(snapshotName), data, 0o600); err != nil {
			t.Fatal(err)
		}

		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		h, s, graphErr, err := readSnapshot(in, snapshotName, isL2)
		runtime.ReadMemStats(&after)
		// The file (where it cannot be mapped) or 1 MiB of read buffer,
		// and per byte of file at most the slot tables, the id map and
		// decoded metadata.
		if alloc, limit := after.TotalAlloc-before.TotalAlloc, uint64(128*len(data)+4<<20); alloc > limit {
			t.Fatalf("reading a snapshot of %d bytes allocated %d bytes (limit %d)", len(data), alloc, limit)
		}
		if err != nil {
			if s != nil || graphErr != nil {
				t.Fatalf("readSnapshot failed (%v) but returned a segment or a graph error", err)
			}
			return
		}
		checkSegment(t, h, s, graphErr)
		checkSearch(t, s)

		// Written out again, it reads back the same.
		if err := writeSnapshot(out, snapshotName, captureOf(h, s), nil); err != nil {
			t.Fatalf("writing back: %v", err)
		}
		h2, s2, graphErr2, err := readSnapshot(out, snapshotName, isL2)
		if err != nil || graphErr2 != nil {
			t.Fatalf("reading back what was written: %v, graph: %v", err, graphErr2)
		}
		if h2 != h {
			t.Fatalf("header read back = %+v, want %+v", h2, h)
		}
		sameSegment(t, s2, s)
	})
}

// slotCountAt returns the offset of the slot count in the snapshot file b,
// whose metric, model name and quantization are under 128 bytes each.
func slotCountAt(b []byte) int {
	i := len(snapMagic) + 4 + 4 + 8 + 4
	i += 1 + int(b[i]) // metric
	i += 1 + int(b[i]) // model
	i += 1 + int(b[i]) // quantization
	return i + 8       // created
}

// itemsAt returns the offset of the items section of the snapshot file b,
// as its header gives it.
func itemsAt(b []byte) int {
	h, c, err := parseHeader(b[:snapAlign])
	if err != nil {
		panic(err)
	}
	codeW := 0
	if binary.LittleEndian.Uint32(b[8:]) >= 3 && h.quant == QuantInt8 {
		codeW = codeWidth(h.dim)
	}
	return int(layoutOf(h.dim, int64(c.slots), int64(c.nodes), int64(c.upper), c.m, codeW).items)
}

// fixChecksums returns a copy of the snapshot file b with its header's
// checksum and its trailer made right for what it holds, as far as it is
// long enough to have them.
func fixChecksums(b []byte) []byte {
	b = slices.Clone(b)
	if len(b) >= 16 {
		if hn := int(binary.LittleEndian.Uint32(b[12:])); hn < snapAlign && 16+hn+4 <= len(b) {
			binary.LittleEndian.PutUint32(b[16+hn:], crc32.Checksum(b[16:16+hn], castagnoli))
		}
	}
	if len(b) >= snapAlign+12 {
		copy(b[len(b)-8:], snapEnd)
		binary.LittleEndian.PutUint32(b[len(b)-12:], crc32.Checksum(b[snapAlign:len(b)-12], castagnoli))
	}
	return b
}

// checkSegment checks that s, read with header h, is whole.
func checkSegment(t *testing.T, h snapHeader, s *segment, graphErr error) {
	t.Helper()
	if h.dim < 1 || h.dim > MaxDim || len(h.model) > MaxModel {
		t.Fatalf("header out of range: %+v", h)
	}
	if _, err := parseMetric(h.metric); err != nil {
		t.Fatalf("header metric %q: %v", h.metric, err)
	}
	n := s.n()
	if s.dim != h.dim || s.l2 != isL2(h.metric) || s.vecs.n != n || len(s.extras) != n || len(s.dead) != (n+63)/64 {
		t.Fatalf("segment of %d slots has dim %d (header %d), l2 %v, %d vectors, %d extras, %d tombstone words",
			n, s.dim, h.dim, s.l2, s.vecs.n, len(s.extras), len(s.dead))
	}
	dead := 0
	for i, w := range s.dead {
		if i == len(s.dead)-1 && n%64 != 0 && w>>(n%64) != 0 {
			t.Fatalf("tombstone bits past the last slot: %x", w)
		}
		dead += bits.OnesCount64(w)
	}
	if dead != s.nDead || s.live() != len(s.slots) {
		t.Fatalf("%d tombstone bits, nDead %d; %d live slots, %d ids mapped", dead, s.nDead, s.live(), len(s.slots))
	}
	for id, i := range s.slots {
		if int(i) >= n || s.ids[i] != id || s.isDead(i) {
			t.Fatalf("id %q maps to slot %d of %d, which is not its live slot", id, i, n)
		}
	}
	for i, id := range s.ids {
		if id == "" || len(id) > MaxID {
			t.Fatalf("slot %d has an id of %d bytes", i, len(id))
		}
		if !s.isDead(uint32(i)) && s.slots[id] != uint32(i) {
			t.Fatalf("live slot %d (%q) is not in the id map", i, id)
		}
		if ex := s.extras[i]; ex != nil && len(ex.meta) > MaxMetadata {
			t.Fatalf("slot %d has %d bytes of metadata", i, len(ex.meta))
		}
	}
	if graphErr != nil && s.g != nil {
		t.Fatalf("graph error %v, and the graph was kept", graphErr)
	}
	if s.g != nil && s.g.size() > n {
		t.Fatalf("graph of %d nodes over %d slots", s.g.size(), n)
	}
}

// checkSearch searches s with and without a filter and checks the hits.
func checkSearch(t *testing.T, s *segment) {
	t.Helper()
	q := make([]float32, s.dim)
	for i := range q {
		q[i] = 1 / float32(i+1)
	}
	flt, err := compileFilter(Filter{"tag": []any{"a", "c"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*filter{nil, flt} {
		matching := 0
		for i := range s.n() {
			if !s.isDead(uint32(i)) && (f == nil || f.match(s.extras[i])) {
				matching++
			}
		}
		const k = 5
		sc := new(scratch)
		hits := s.search(q, k, 16, f, sc)
		if len(hits) != min(k, matching) {
			t.Fatalf("search (filter %v) found %d hits; %d items match", f != nil, len(hits), matching)
		}
		seen := make(map[uint32]bool)
		for _, h := range hits {
			if int(h.id) >= s.n() || s.isDead(h.id) || seen[h.id] || f != nil && !f.match(s.extras[h.id]) {
				t.Fatalf("search (filter %v) returned slot %d of %d: dead %v, seen %v", f != nil, h.id, s.n(), int(h.id) < s.n() && s.isDead(h.id), seen[h.id])
			}
			seen[h.id] = true
		}
	}
}

// sameSegment checks that got holds what want does.
func sameSegment(t *testing.T, got, want *segment) {
	t.Helper()
	if got.dim != want.dim || got.l2 != want.l2 || !slices.Equal(got.ids, want.ids) || !slices.Equal(got.dead, want.dead) || got.nDead != want.nDead {
		t.Fatalf("segment read back differs: ids %q dead %x, want ids %q dead %x", got.ids, got.dead, want.ids, want.dead)
	}
	for i := range uint32(got.n()) {
		if g, w := got.vec(i), want.vec(i); !slices.EqualFunc(g, w, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
			t.Fatalf("vector of slot %d read back = %v, want %v", i, g, w)
		}
	}
	for i := range got.extras {
		g, w := got.extras[i], want.extras[i]
		if (g == nil) != (w == nil) || g != nil && (g.text != w.text || string(g.meta) != string(w.meta) || !reflect.DeepEqual(g.attrs, w.attrs)) {
			t.Fatalf("extra of slot %d read back = %+v, want %+v", i, g, w)
		}
	}
	if (got.g == nil) != (want.g == nil) {
		t.Fatalf("graph read back: %v, want %v", got.g != nil, want.g != nil)
	}
	if got.g != nil {
		gs, ws := got.g.state(), want.g.state()
		if gs.m != ws.m || gs.entry != ws.entry || gs.top != ws.top || !slices.Equal(gs.levels, ws.levels) ||
			!slices.Equal(gs.base, ws.base) || !slices.Equal(gs.upperAt, ws.upperAt) || !slices.Equal(gs.upper, ws.upper) {
			t.Fatal("graph read back differs")
		}
	}
}
