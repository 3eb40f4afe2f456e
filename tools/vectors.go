package tools

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"

	"lakehouse/backends/embed"
	"lakehouse/backends/errs"
	"lakehouse/backends/observer"
	"lakehouse/backends/vector"
)

// Vectors is what the vector, matrix and index_dataset tools need of the vector indexes.
type Vectors interface {
	Create(ctx context.Context, name string, spec vector.Spec) (vector.IndexInfo, error)
	List() []vector.IndexInfo
	Memory() (used, limit int64)
	Unavailable() map[string]string
	Info(name string) (vector.IndexInfo, error)
	Drop(ctx context.Context, name string) error
	Upsert(ctx context.Context, name string, items []vector.Item) (int, error)
	Delete(ctx context.Context, name string, ids []string) (int, error)
	Get(name string, ids []string) ([]vector.Item, error)
	Search(ctx context.Context, name string, query []float32, opts vector.SearchOptions) ([]vector.Hit, error)
	// Stale says why searches may lack other nodes' recent writes ("" when
	// they do not).
	Stale() string
}

// Embedder is what the tools need of the embedder, matrix_search's embed.Provider included.
type Embedder interface {
	Model() string
	Dim() int
	Dims(ctx context.Context) (int, error)
	Stats() embed.Stats
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

var (
	_ Vectors  = (*vector.Manager)(nil)
	_ Embedder = (*embed.Embedder)(nil)
)

// maxEmbedTexts caps embed_text: 64 vectors of a few hundred floats stay a
// result a model can take.
const maxEmbedTexts = 64

type embedIn struct {
	Texts []string `json:"texts" jsonschema:"1 to 64 texts"`
}

type embedOut struct {
	Model   string      `json:"model"`
	Dims    int         `json:"dims"`
	Vectors [][]float32 `json:"vectors"`
}

type createIndexIn struct {
	Name         string `json:"name" jsonschema:"[a-z_][a-z0-9_]*"`
	Dims         int    `json:"dims,omitempty" jsonschema:"only for your own vectors"`
	Metric       string `json:"metric,omitempty" jsonschema:"cosine (default), l2, dot"`
	Quantization string `json:"quantization,omitempty" jsonschema:"int8: 1/4 memory, exact re-rank"`
}

type listIndexesOut struct {
	Indexes     []indexRow        `json:"indexes"`
	Unavailable map[string]string `json:"unavailable,omitempty" jsonschema:"indexes whose files are damaged, with the reason; drop_index removes them"`
	Memory      int64             `json:"memory" jsonschema:"bytes all vector indexes hold in memory, the trace index of pathway included"`
	MaxMemory   int64             `json:"max_memory" jsonschema:"vector.max_memory: an upsert that would take memory past it fails until items are deleted or an index dropped; 0 means no limit"`
	Embedder    embed.Stats       `json:"embedder" jsonschema:"the model that embeds text in this server, its dimension, and its cache: size, entries, hits and misses"`
}

// indexRow is an index as list_indexes lists it, with its memory as one
// total, so that the list stays one flat table. The breakdown by part
// (vectors, graph, ids, texts, metadata, postings) is in the index's
// resource, lakehouse://indexes/{name}.
type indexRow struct {
	vector.IndexInfo
	Memory int64 `json:"memory" jsonschema:"bytes the index holds in memory"`
}

type indexNameIn struct {
	Name string `json:"name"`
}

type dropIndexOut struct {
	Name    string `json:"name"`
	Dropped bool   `json:"dropped"`
}

type upsertItem struct {
	ID       string         `json:"id"`
	Text     string         `json:"text,omitempty"`
	Vector   []float32      `json:"vector,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

type upsertIn struct {
	Index string       `json:"index"`
	Items []upsertItem `json:"items" jsonschema:"1 to 1000"`
}

type upsertOut struct {
	Index    string `json:"index"`
	Upserted int    `json:"upserted" jsonschema:"distinct ids stored"`
	Embedded int    `json:"embedded" jsonschema:"items whose text was embedded"`
	Count    int    `json:"count" jsonschema:"items in the index now"`
}

type deleteVectorsIn struct {
	Index string   `json:"index"`
	IDs   []string `json:"ids" jsonschema:"1 to 1000"`
}

type deleteVectorsOut struct {
	Index   string `json:"index"`
	Deleted int    `json:"deleted" jsonschema:"how many of the ids existed"`
	Count   int    `json:"count" jsonschema:"items in the index now"`
}

type searchIn struct {
	Index          string         `json:"index"`
	QueryText      string         `json:"query_text,omitempty"`
	QueryVector    []float32      `json:"query_vector,omitempty"`
	Mode           string         `json:"mode,omitempty" jsonschema:"hybrid (default: meaning and words), lexical (exact words: ids, codes), dense"`
	MinScore       *float64       `json:"min_score,omitempty" jsonschema:"hybrid: 0-1"`
	K              int            `json:"k,omitempty" jsonschema:"default 10, max 1000"`
	Ef             int            `json:"ef,omitempty"`
	Filter         map[string]any `json:"filter,omitempty" jsonschema:"all must hold: {\"k\": v}, {\"k\": [any, of]}, {\"k\": {\"gte\": 1, \"lt\": 5}}"`
	IncludeVectors bool           `json:"include_vectors,omitempty"`
	MaxTextBytes   int            `json:"max_text_bytes,omitempty" jsonschema:"default 1000"`
}

type searchOut struct {
	Index     string     `json:"index"`
	Hits      []foundHit `json:"hits"`
	Truncated bool       `json:"truncated,omitempty" jsonschema:"the hits after these did not fit in one result; ask for a smaller k, or leave out vectors"`
	// Stale is set in shared mode while this node may lack the other
	// nodes' most recent writes.
	Stale       bool   `json:"stale,omitempty" jsonschema:"several nodes: this node may lack the other nodes' most recent writes (stale_reason says why)"`
	StaleReason string `json:"stale_reason,omitempty"`
}

// foundHit is a hit with its text cut to the size asked for.
type foundHit struct {
	vector.Hit
	TextBytes int  `json:"text_bytes,omitempty" jsonschema:"size of the whole text, when it was cut"`
	TextCut   bool `json:"text_cut,omitempty"`
}

// Caps of a search_vectors result.
const (
	defaultHitText = 1000
	maxHitText     = 64 << 10
	maxSearchBytes = 4 << 20 // a result's texts, metadata and vectors, roughly as JSON
)

func vectorTools(b *Backends) []Tool {
	return []Tool{
		define("embed_text",
			"Embed up to 64 texts. Rarely needed: upsert_vectors and search_vectors embed text.",
			readOnly("Embed text"), b.embedText),
		define("create_index",
			"Create an empty vector index for the server's embeddings (text in, text queries), or with dims for your own vectors.",
			additive("Create vector index", false), b.createIndex),
		define("list_indexes",
			"List vector indexes (dims, metric, model, items, memory) and the server's embedding model.",
			readOnly("List vector indexes"), b.listIndexes),
		define("drop_index",
			"Delete a vector index. Cannot be undone.",
			destructive("Drop vector index"), b.dropIndex),
		define("upsert_vectors",
			"Add or replace items in an index: id, text (embedded for you) or vector, metadata. Whole datasets: index_dataset.",
			destructive("Upsert vectors"), b.upsertVectors),
		define("delete_vectors",
			"Delete items of an index by id.",
			destructive("Delete vectors"), b.deleteVectors),
		fromOutside(define("search_vectors",
			"Find the items of one index nearest to query_text or query_vector, best first. Several indexes: matrix_search.",
			readOnly("Search vectors"), b.searchVectors)),
		define("index_dataset",
			"Embed a dataset's rows (text_column, text_columns or text_template) into an index, created if missing. Re-runs embed only changed rows and remove rows gone. Reports progress; cancelling keeps rows done.",
			destructive("Index dataset"), b.indexDataset),
	}
}

func (b *Backends) embedText(ctx context.Context, in embedIn) (embedOut, error) {
	switch n := len(in.Texts); {
	case n == 0:
		return embedOut{}, errs.New(errs.Invalid, "texts is empty; give 1 to %d texts", maxEmbedTexts)
	case n > maxEmbedTexts:
		return embedOut{}, errs.New(errs.TooLarge, "%d texts; embed_text takes at most %d per call", n, maxEmbedTexts)
	}
	vecs, err := b.Embed.Embed(ctx, in.Texts)
	if err != nil {
		return embedOut{}, err
	}
	return embedOut{Model: b.Embed.Model(), Dims: len(vecs[0]), Vectors: vecs}, nil
}

func (b *Backends) createIndex(ctx context.Context, in createIndexIn) (*vector.IndexInfo, error) {
	dims, err := b.Embed.Dims(ctx)
	if err != nil && in.Dims == 0 {
		return nil, fmt.Errorf("learn the embedding model's dimension: %w", err)
	}
	model := b.Embed.Model()
	if in.Dims != 0 && in.Dims != dims {
		dims, model = in.Dims, "" // raw vectors, not this embedder's
	}
	info, err := b.Vectors.Create(ctx, in.Name, vector.Spec{Dim: dims, Metric: vector.Metric(in.Metric), Model: model, Quantization: vector.Quantization(in.Quantization)})
	return &info, err
}

func (b *Backends) listIndexes(context.Context, struct{}) (listIndexesOut, error) {
	infos := b.Vectors.List()
	rows := make([]indexRow, len(infos))
	for i, in := range infos {
		rows[i] = indexRow{IndexInfo: in, Memory: in.Memory.Total}
	}
	used, limit := b.Vectors.Memory()
	return listIndexesOut{Indexes: rows, Unavailable: b.Vectors.Unavailable(), Memory: used, MaxMemory: limit, Embedder: b.Embed.Stats()}, nil
}

func (b *Backends) dropIndex(ctx context.Context, in indexNameIn) (dropIndexOut, error) {
	if err := b.Vectors.Drop(ctx, in.Name); err != nil {
		return dropIndexOut{}, err
	}
	return dropIndexOut{Name: in.Name, Dropped: true}, nil
}

// embedEach embeds texts for index, after checking that the index holds
// vectors of the configured embedder; some texts may be refused (no words
// in them, say): see embed.EmbedEach.
func (b *Backends) embedEach(ctx context.Context, info vector.IndexInfo, texts []string) (vecs [][]float32, refused map[int]error, err error) {
	if err := b.checkModel(info); err != nil {
		return nil, nil, err
	}
	return embed.EmbedEach(ctx, b.Embed, texts)
}

// checkModel tells whether text can be embedded for index: only when the
// index was built with the configured embedder.
func (b *Backends) checkModel(info vector.IndexInfo) error {
	if model := b.Embed.Model(); info.Model != model {
		if info.Model == "" {
			return errs.New(errs.Invalid, "index %q holds vectors given by callers, not from an embedding model, so it cannot embed text; pass vectors (query_vector), or use an index created without dims", info.Name)
		}
		return errs.New(errs.Invalid, "index %q was built with embedding model %s but this server embeds with %s; text would not match its vectors. Pass vectors, or re-create the index", info.Name, info.Model, model)
	}
	return nil
}

func (b *Backends) upsertVectors(ctx context.Context, in upsertIn) (upsertOut, error) {
	if len(in.Items) == 0 {
		return upsertOut{}, errs.New(errs.Invalid, "items is empty; give 1 to %d items", vector.MaxBatch)
	}
	if len(in.Items) > vector.MaxBatch {
		return upsertOut{}, errs.New(errs.TooLarge, "%d items; upsert_vectors takes at most %d per call", len(in.Items), vector.MaxBatch)
	}
	info, err := b.Vectors.Info(in.Index)
	if err != nil {
		return upsertOut{}, err
	}
	items := make([]vector.Item, len(in.Items))
	var texts []string
	var toEmbed []int
	for i, it := range in.Items {
		items[i] = vector.Item{ID: it.ID, Vector: it.Vector, Text: it.Text, Metadata: it.Metadata}
		switch {
		case it.Vector != nil:
		case it.Text != "":
			texts, toEmbed = append(texts, it.Text), append(toEmbed, i)
		default:
			return upsertOut{}, errs.New(errs.Invalid, "item %d (id %q) has neither text nor vector; give one", i, it.ID)
		}
	}
	if len(texts) > 0 {
		vecs, refused, err := b.embedEach(ctx, info, texts)
		if err != nil {
			return upsertOut{}, err
		}
		for j, i := range toEmbed {
			if why := refused[j]; why != nil {
				return upsertOut{}, errs.New(errs.Invalid, "item %d (id %q): %v; nothing was upserted", i, in.Items[i].ID, why)
			}
			items[i].Vector = vecs[j]
		}
	}
	n, err := b.Vectors.Upsert(ctx, in.Index, items)
	if err != nil {
		return upsertOut{}, err
	}
	return upsertOut{Index: in.Index, Upserted: n, Embedded: len(texts), Count: b.count(in.Index)}, nil
}

// count is the live items of index, or 0 when it is gone.
func (b *Backends) count(index string) int {
	info, _ := b.Vectors.Info(index)
	return info.Count
}

func (b *Backends) deleteVectors(ctx context.Context, in deleteVectorsIn) (deleteVectorsOut, error) {
	if len(in.IDs) == 0 {
		return deleteVectorsOut{}, errs.New(errs.Invalid, "ids is empty; give 1 to %d ids", vector.MaxBatch)
	}
	n, err := b.Vectors.Delete(ctx, in.Index, in.IDs)
	if err != nil {
		return deleteVectorsOut{}, err
	}
	return deleteVectorsOut{Index: in.Index, Deleted: n, Count: b.count(in.Index)}, nil
}

func (b *Backends) searchVectors(ctx context.Context, in searchIn) (searchOut, error) {
	info, err := b.Vectors.Info(in.Index)
	if err != nil {
		return searchOut{}, err
	}
	mode := vector.Mode(in.Mode)
	q := in.QueryVector
	switch {
	case q == nil && in.QueryText == "":
		return searchOut{}, errs.New(errs.Invalid, "give query_text (words to search for) or query_vector")
	case q == nil && mode != vector.Lexical:
		// The dense side of the search needs the text's vector; the
		// engine checks the mode itself.
		if err := b.checkModel(info); err != nil {
			return searchOut{}, errs.New(errs.Invalid, "%w; or give mode lexical to search the items' texts by their words alone", err)
		}
		vecs, err := b.Embed.Embed(ctx, []string{in.QueryText})
		if err != nil {
			return searchOut{}, err
		}
		q = vecs[0]
	}
	maxText, err := hitTextCap(in.MaxTextBytes)
	if err != nil {
		return searchOut{}, err
	}
	hits, err := b.Vectors.Search(ctx, in.Index, q, vector.SearchOptions{
		K: in.K, Ef: in.Ef, Filter: in.Filter, IncludeVectors: in.IncludeVectors,
		Mode: mode, QueryText: in.QueryText, MinScore: in.MinScore,
	})
	if err != nil {
		return searchOut{}, err
	}
	out := capHits(in.Index, hits, maxText)
	if stale := b.Vectors.Stale(); stale != "" {
		out.Stale, out.StaleReason = true, stale
	}
	return out, nil
}

// hitTextCap checks a max_text_bytes argument and returns the cap it asks
// for, defaultHitText when it is 0.
func hitTextCap(n int) (int, error) {
	if n < 0 || n > maxHitText {
		return 0, errs.New(errs.Invalid, "max_text_bytes = %d: give 1 to %d", n, maxHitText)
	}
	return cmp.Or(n, defaultHitText), nil
}

// capHits cuts each hit's text to maxText bytes, and leaves out the hits
// past maxSearchBytes of text, metadata and vectors.
func capHits(index string, hits []vector.Hit, maxText int) searchOut {
	out := searchOut{Index: index, Hits: make([]foundHit, 0, len(hits))}
	size := 0
	for _, h := range hits {
		f := foundHit{Hit: h}
		if len(h.Text) > maxText {
			f.Text, f.TextBytes, f.TextCut = observer.CutTo(h.Text, maxText), len(h.Text), true
		}
		meta, _ := json.Marshal(h.Metadata)
		size += len(f.Text) + len(meta) + 12*len(h.Vector) + 100
		if size > maxSearchBytes && len(out.Hits) > 0 {
			out.Truncated = true
			break
		}
		out.Hits = append(out.Hits, f)
	}
	return out
}
