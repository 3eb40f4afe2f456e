package embed_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"lakehouse/backends/embed"
	"lakehouse/backends/errs"
)

// The offline providers, run through the same cases.
var locals = []struct {
	new   func() embed.Provider
	model string
	dim   int
}{
	{embed.NewHash, "hash-384-v1", 384},
	{embed.NewHybrid, "hybrid-glove50k-v1", 484},
}

var sample = []string{
	"The quick brown fox jumps over the lazy dog.",
	"Parquet files are ingested through DuckDB and indexed for vector search",
	"don't panic",
	"x",
	"Ελληνικά και русский 東京 2020",
	strings.Repeat("repeat ", 500),
}

func mustEmbed(t testing.TB, p embed.Provider, texts ...string) [][]float32 {
	t.Helper()
	vs, err := p.Embed(context.Background(), texts)
	if err != nil {
		t.Fatalf("%s: %v", p.Model(), err)
	}
	if len(vs) != len(texts) {
		t.Fatalf("%s: %d vectors for %d texts", p.Model(), len(vs), len(texts))
	}
	return vs
}

func cos(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return d / math.Sqrt(na*nb)
}

func TestLocal_ModelAndDims(t *testing.T) {
	for _, l := range locals {
		p := l.new()
		if p.Model() != l.model || p.Dim() != l.dim {
			t.Errorf("got %s/%d, want %s/%d", p.Model(), p.Dim(), l.model, l.dim)
		}
		for i, v := range mustEmbed(t, p, sample...) {
			if len(v) != l.dim {
				t.Errorf("%s: text %d: %d dims", l.model, i, len(v))
			}
			var n float64
			for _, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatalf("%s: text %d: %v", l.model, i, x)
				}
				n += float64(x) * float64(x)
			}
			if math.Abs(math.Sqrt(n)-1) > 1e-5 {
				t.Errorf("%s: text %d: length %v", l.model, i, math.Sqrt(n))
			}
		}
	}
}

// A text's vector depends on the text alone: not on the call, the provider
// value, or the other texts of the batch.
func TestLocal_Deterministic(t *testing.T) {
	for _, l := range locals {
		batch := mustEmbed(t, l.new(), sample...)
		reversed := slices.Clone(sample)
		slices.Reverse(reversed)
		back := mustEmbed(t, l.new(), reversed...)
		for i := range sample {
			one := mustEmbed(t, l.new(), sample[i])[0]
			if !slices.Equal(one, batch[i]) || !slices.Equal(one, back[len(sample)-1-i]) {
				t.Errorf("%s: text %d differs between calls", l.model, i)
			}
		}
	}
}

// Pinned values catch a change of the vectors that forgot to change the
// model name.
func TestLocal_Pinned(t *testing.T) {
	const text = "The quick brown fox jumps over the lazy dog."
	for _, c := range []struct {
		p    embed.Provider
		dims map[int]float32
	}{
		{embed.NewHash(), map[int]float32{0: 0, 3: -0.12795067}},
		{embed.NewHybrid(), map[int]float32{0: 0.025242599, 1: -0.034832757, 3: -0.095345594, 100: 0, 103: -0.11713509}},
	} {
		v := mustEmbed(t, c.p, text)[0]
		for i, want := range c.dims {
			if math.Abs(float64(v[i]-want)) > 1e-5 {
				t.Errorf("%s: dim %d = %v, want %v: if the vectors changed on purpose, change the model name too",
					c.p.Model(), i, v[i], want)
			}
		}
	}
}

// Word vectors put synonyms near each other; hashing alone cannot.
func TestLocal_Synonyms(t *testing.T) {
	hybrid, hash := embed.NewHybrid(), embed.NewHash()
	for _, c := range [][3]string{
		{"car", "automobile", "banana"},
		{"doctor", "physician", "guitar"},
		{"a fast car", "a quick automobile", "a ripe banana"},
		{"the film was great", "the movie was excellent", "the invoice is overdue"},
	} {
		v := mustEmbed(t, hybrid, c[:]...)
		if near, far := cos(v[0], v[1]), cos(v[0], v[2]); near < far+0.05 {
			t.Errorf("hybrid: cos(%q, %q) = %.3f, not above cos(%q, %q) = %.3f", c[0], c[1], near, c[0], c[2], far)
		}
	}
	for _, c := range [][2]string{{"car", "automobile"}, {"doctor", "physician"}, {"big", "large"}} {
		v := mustEmbed(t, hash, c[:]...)
		if s := cos(v[0], v[1]); math.Abs(s) > 0.05 {
			t.Errorf("hash: cos(%q, %q) = %.3f, want about 0", c[0], c[1], s)
		}
	}
}

// Character n-grams keep a misspelt text near the right one.
func TestLocal_Typos(t *testing.T) {
	for _, l := range locals {
		p := l.new()
		for _, c := range [][3]string{
			{"quick brown fox jumps", "quikc brwon fox jumsp", "lazy dog sleeps"},
			{"approximate vector search engine", "aproximate vector serach engine", "durable pathway memory log"},
			{"embedding", "embeding", "banana"},
		} {
			v := mustEmbed(t, p, c[:]...)
			if near, far := cos(v[0], v[1]), cos(v[0], v[2]); near < 0.2 || near < far+0.2 {
				t.Errorf("%s: cos(%q, %q) = %.3f, cos(%q, %q) = %.3f", l.model, c[0], c[1], near, c[0], c[2], far)
			}
		}
	}
}

// Frequent words weigh little (SIF), so they do not make texts alike.
func TestLocal_CommonWordsWeighLittle(t *testing.T) {
	for _, l := range locals {
		v := mustEmbed(t, l.new(), "the cat", "cat", "the dog")
		if same, other := cos(v[0], v[1]), cos(v[0], v[2]); same < 0.95 || other > 0.3 {
			t.Errorf("%s: cos(the cat, cat) = %.3f, cos(the cat, the dog) = %.3f", l.model, same, other)
		}
	}
}

// A text of words the table lacks still gets a vector: the lexical block alone.
func TestHybrid_NoTableWords(t *testing.T) {
	v := mustEmbed(t, embed.NewHybrid(), "zzqxv 12345 qwfp", "zzqxv 12345")
	for i, x := range v[0][:100] {
		if x != 0 {
			t.Fatalf("GloVe block dim %d = %v, want 0", i, x)
		}
	}
	if s := cos(v[0], v[1]); s < 0.5 {
		t.Errorf("cos = %.3f", s)
	}
}

func TestLocal_NoWords(t *testing.T) {
	for _, l := range locals {
		for _, texts := range [][]string{{""}, {"fine", "  ...!?  "}, {"a", "b", "'"}} {
			_, err := l.new().Embed(context.Background(), texts)
			want := fmt.Sprintf("text %d has no words to embed", len(texts)-1)
			if !errors.Is(err, errs.Invalid) || err.Error() != want {
				t.Errorf("%s: %q: got %v, want Invalid %q", l.model, texts, err, want)
			}
		}
		if vs, err := l.new().Embed(context.Background(), nil); err != nil || len(vs) != 0 {
			t.Errorf("%s: no texts: %v, %v", l.model, vs, err)
		}
	}
}

func TestLocal_Cancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, l := range locals {
		if _, err := l.new().Embed(ctx, sample); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v", l.model, err)
		}
	}
}

// Run under -race: one provider value, many goroutines, the table loading
// while they start.
func TestLocal_Concurrent(t *testing.T) {
	for _, l := range locals {
		p := l.new()
		var wg sync.WaitGroup
		got := make([][][]float32, 8)
		for g := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				vs, err := p.Embed(context.Background(), sample)
				if err != nil {
					t.Error(err)
				}
				got[g] = vs
			}()
		}
		wg.Wait()
		for g := range got {
			for i := range sample {
				if !slices.Equal(got[g][i], got[0][i]) {
					t.Fatalf("%s: goroutine %d, text %d differs", l.model, g, i)
				}
			}
		}
	}
}

// BenchmarkLocalEmbed measures one goroutine embedding batches of 64
// description-sized texts (about 30 words).
func BenchmarkLocalEmbed(b *testing.B) {
	words := strings.Fields(`the lakehouse ingests parquet and csv files into datasets that agents query with sql
		while vector indexes answer similarity search over embedded text and pathway memory records traces
		of earlier work so that later sessions can find relevant playbooks quickly without downloads`)
	texts := make([]string, 64)
	for i := range texts {
		texts[i] = strings.Join(words[i%8:i%8+30], " ")
	}
	for _, l := range locals {
		b.Run(l.model, func(b *testing.B) {
			p := l.new()
			mustEmbed(b, p, texts...) // load the table outside the timing
			for b.Loop() {
				mustEmbed(b, p, texts...)
			}
			b.ReportMetric(float64(b.N*len(texts))/b.Elapsed().Seconds(), "texts/s")
		})
	}
}
