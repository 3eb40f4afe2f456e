package embed

import (
	"context"
	"math"
)

const (
	hybridModel = "hybrid-glove50k-v1"
	gloveDim    = 100
	hybridDim   = gloveDim + hashDim
	gloveSIF    = 3e-4 // the SIF constant a of the GloVe block
	gloveShare  = 0.2  // share of the squared length given to the GloVe block
)

// NewHybrid returns the hybrid provider, the offline default: 484-d vectors
// joining a semantic block, the SIF-weighted mean of the GloVe vectors of the
// text's words (100-d), to the lexical block of [NewHash] (384-d, with word
// frequencies from the GloVe table). Synonyms land near each other through
// the first; exact words, names, codes and misspellings match through the
// second.
//
// A vector is √0.2 · G ⊕ √0.8 · H, where G and H are the two blocks at unit
// length, so its length is 1. A text with no word in the table has G = 0 and
// is H alone, renormalised.
//
// The word table (3 MB) is decoded on the first Embed and shared by every
// hybrid provider of the process. The provider is deterministic and safe for
// concurrent use.
func NewHybrid() Provider { return hybridProvider{} }

type hybridProvider struct{}

func (hybridProvider) Model() string { return hybridModel }
func (hybridProvider) Dim() int      { return hybridDim }

var (
	gloveScale = float32(math.Sqrt(gloveShare))
	hashScale  = float32(math.Sqrt(1 - gloveShare))
)

func (hybridProvider) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	t, err := loadGlove()
	if err != nil {
		return nil, err
	}
	return embedEach(ctx, texts, hybridDim, func(s *scratch, v []float32) {
		g, h := v[:gloveDim], v[gloveDim:]
		s.weights = s.weights[:0]
		for _, w := range s.words {
			r := t.lookup(w)
			s.weights = append(s.weights, sif(hashSIF, r))
			if r >= 0 {
				t.addRow(g, r, sif(gloveSIF, r))
			}
		}
		s.lexical(h)
		normalize(h)
		if gn := norm(g); gn > 0 {
			f := gloveScale / gn
			for k := range g {
				g[k] *= f
			}
			for k := range h {
				h[k] *= hashScale
			}
		}
		normalize(v)
	})
}
