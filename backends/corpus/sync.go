// Package corpus keeps the items of a vector index in step with the texts
// of a source: the rows of a dataset (package corpus/dataset) or the traces
// of the pathway memory. [Sync] is the step they share: given what the index
// should hold for some ids, it embeds only the texts that are new or
// changed, keeps the vectors of texts that are not, and leaves out texts the
// embedder refuses.
package corpus

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"

	"lakehouse/backends/embed"
	"lakehouse/backends/vector"
)

// Index is what Sync needs of the vector indexes: a *vector.Manager.
type Index interface {
	Get(name string, ids []string) ([]vector.Item, error)
	Upsert(ctx context.Context, name string, items []vector.Item) (int, error)
	Delete(ctx context.Context, name string, ids []string) (int, error)
}

// SyncResult says what [Sync] did with its items.
type SyncResult struct {
	Embedded  int // items whose text was new or changed, and so embedded
	Updated   int // items whose text was unchanged but metadata changed; their vectors were kept
	Unchanged int // items the index held as they are

	// Refused maps the id of each item whose text the embedder refused on
	// its own (see embed.EmbedEach) to why. Such an item is left out of the
	// index, and an older text the index held for its id is deleted: it is
	// no longer the item's text.
	Refused map[string]error
}

// Sync makes index hold items, each given by its ID, Text and Metadata (at
// most vector.MaxBatch of them, ids unique), and not hold the ids of gone.
// Texts are embedded with emb, in one batch split only where the embedder
// refuses a text; an item whose text and metadata the index already holds is
// not written at all.
func Sync(ctx context.Context, vec Index, emb embed.Batcher, index string, items []vector.Item, gone []string) (SyncResult, error) {
	res := SyncResult{Refused: map[string]error{}}
	if len(items) == 0 && len(gone) == 0 {
		return res, nil
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	have, err := vec.Get(index, ids)
	if err != nil {
		return res, err
	}
	held := make(map[string]vector.Item, len(have))
	for _, it := range have {
		held[it.ID] = it
	}
	var write []vector.Item
	var texts []string
	var toEmbed []int // positions in write of the items whose text is embedded
	for _, it := range items {
		old, ok := held[it.ID]
		switch {
		case ok && old.Text == it.Text && SameMetadata(old.Metadata, it.Metadata):
			res.Unchanged++
			continue
		case ok && old.Text == it.Text:
			it.Vector = old.Vector
			res.Updated++
		default:
			texts, toEmbed = append(texts, it.Text), append(toEmbed, len(write))
		}
		write = append(write, it)
	}
	if len(texts) > 0 {
		vecs, refused, err := embed.EmbedEach(ctx, emb, texts)
		if err != nil {
			return res, err
		}
		res.Embedded = len(texts) - len(refused)
		for j, i := range toEmbed {
			write[i].Vector = vecs[j]
			if why, ok := refused[j]; ok {
				res.Refused[write[i].ID] = why
				if _, ok := held[write[i].ID]; ok {
					gone = append(gone, write[i].ID)
				}
			}
		}
		write = slices.DeleteFunc(write, func(it vector.Item) bool { return it.Vector == nil })
	}
	if len(write) > 0 {
		if _, err := vec.Upsert(ctx, index, write); err != nil {
			return res, err
		}
	}
	if len(gone) > 0 {
		if _, err := vec.Delete(ctx, index, gone); err != nil {
			return res, err
		}
	}
	return res, nil
}

// SameMetadata reports whether two items' metadata are equal as stored:
// numbers that went through JSON and numbers fresh from SQL or Go compare by
// their JSON text.
func SameMetadata(a, b map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
