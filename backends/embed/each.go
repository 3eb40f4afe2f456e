package embed

import (
	"context"
	"fmt"

	"lakehouse/backends/errs"
)

// A Batcher embeds a batch of texts: an Embedder, or a Provider.
type Batcher interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// EmbedEach embeds texts with e, one vector per text, except that texts the
// embedder refuses on their own (see Refuses) do not fail the batch: a
// refused batch is split in halves down to those texts, whose vectors are
// nil and whose positions refused maps to why.
func EmbedEach(ctx context.Context, e Batcher, texts []string) (vecs [][]float32, refused map[int]error, err error) {
	vecs, refused = make([][]float32, len(texts)), map[int]error{}
	var embed func(from, to int) error
	embed = func(from, to int) error {
		v, err := e.Embed(ctx, texts[from:to])
		switch {
		case err == nil && len(v) != to-from:
			return fmt.Errorf("embed: got %d vectors for %d texts", len(v), to-from)
		case err == nil:
			copy(vecs[from:to], v)
		case !Refuses(err):
			return err
		case to-from == 1:
			refused[from] = err
		default:
			mid := (from + to) / 2
			if err := embed(from, mid); err != nil {
				return err
			}
			return embed(mid, to)
		}
		return nil
	}
	if len(texts) > 0 {
		if err := embed(0, len(texts)); err != nil {
			return nil, nil, err
		}
	}
	return vecs, refused, nil
}

// Refuses reports whether err is the embedder refusing the texts it was
// given (a caller's mistake: a text without words, a request the server
// answers 400 or 413), which retrying cannot fix. A rate limit (errs.Busy)
// and a missing model (errs.NotFound) are not about the texts: like faults,
// they are not refusals.
func Refuses(err error) bool {
	k := errs.KindOf(err)
	return k != nil && k != errs.Busy && k != errs.NotFound
}
