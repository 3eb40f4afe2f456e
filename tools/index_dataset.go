package tools

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/catalog"
	"lakehouse/backends/errs"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/vector"
)

// indexPage is how many rows index_dataset reads, embeds and upserts at a
// time: one progress step, and the most work a cancellation can waste.
const indexPage = 500

type indexDatasetIn struct {
	Dataset         string   `json:"dataset" jsonschema:"dataset to index"`
	TextColumn      string   `json:"text_column" jsonschema:"column whose text is embedded"`
	IDColumn        string   `json:"id_column" jsonschema:"column that identifies a row (its value becomes the item id)"`
	MetadataColumns []string `json:"metadata_columns,omitempty" jsonschema:"columns stored as metadata, to filter on in search_vectors"`
	Where           string   `json:"where,omitempty" jsonschema:"SQL condition choosing the rows, e.g. lang = 'en'"`
	Index           string   `json:"index,omitempty" jsonschema:"index to fill; default the dataset's name. Created when missing"`
}

type indexDatasetOut struct {
	Index      string   `json:"index"`
	Dataset    string   `json:"dataset"`
	Version    int      `json:"version" jsonschema:"dataset version that was read"`
	Created    bool     `json:"created" jsonschema:"the index did not exist and was created"`
	Rows       int64    `json:"rows" jsonschema:"rows selected"`
	Embedded   int      `json:"embedded" jsonschema:"rows whose text was new or changed, and so embedded"`
	Updated    int      `json:"metadata_updated" jsonschema:"rows whose text was unchanged but metadata changed"`
	Unchanged  int      `json:"unchanged" jsonschema:"rows already indexed as they are"`
	Skipped    int64    `json:"skipped" jsonschema:"rows with a null or over-long (256 bytes) id, or a null, blank or over-long (1 MiB) text"`
	Refused    int      `json:"refused,omitempty" jsonschema:"rows whose text the embedder refused (no words in it, say); they are left out of the index"`
	RefusedIDs []string `json:"refused_ids,omitempty" jsonschema:"ids of the first refused rows"`
	Count      int      `json:"count" jsonschema:"items in the index now"`
	ElapsedMS  int64    `json:"elapsed_ms"`
}

func (b *Backends) indexDataset(ctx context.Context, req *mcp.CallToolRequest, in indexDatasetIn) (*indexDatasetOut, error) {
	start := time.Now()
	m, err := b.Catalog.Get(in.Dataset)
	if err != nil {
		return nil, err
	}
	cur := m.Current()
	if err := checkColumns(cur.Columns, in); err != nil {
		return nil, err
	}
	// Counting first checks the where clause before anything is created.
	rows := rowSelect(in)
	total, usable, err := b.countRows(ctx, rows)
	if err != nil {
		return nil, err
	}
	if err := b.checkUniqueIDs(ctx, rows, in.IDColumn); err != nil {
		return nil, err
	}
	out := &indexDatasetOut{Rows: total, Skipped: total - usable, Index: cmp.Or(in.Index, in.Dataset), Dataset: in.Dataset, Version: cur.Version}
	info, err := b.Vectors.Info(out.Index)
	if errors.Is(err, errs.NotFound) {
		var created *vector.IndexInfo
		created, err = b.createIndex(ctx, req, createIndexIn{Name: out.Index})
		if created != nil {
			info = *created
		}
		out.Created = err == nil
	}
	if err != nil {
		return nil, err
	}
	if err := b.checkModel(info); err != nil {
		return nil, err
	}

	progress := progressOf(ctx, req)
	var done int64
	for last := ""; ; {
		page, err := b.SQL.Query(ctx, pageQuery(rows, last), indexPage)
		if err != nil {
			return nil, fmt.Errorf("read dataset %s: %w", in.Dataset, err)
		}
		if len(page.Rows) == 0 {
			break
		}
		if err := b.indexRows(ctx, out, page.Rows, in.MetadataColumns); err != nil {
			return nil, err
		}
		done += int64(len(page.Rows))
		last = page.Rows[len(page.Rows)-1][0].(string)
		if progress != nil {
			progress(float64(done), fmt.Sprintf("%d of %d rows indexed", done, usable))
		}
	}
	out.Count = b.count(out.Index)
	out.ElapsedMS = time.Since(start).Milliseconds()
	return out, nil
}

// checkColumns tells the caller which named column does not exist.
func checkColumns(cols []catalog.Column, in indexDatasetIn) error {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	for _, want := range append([]string{in.TextColumn, in.IDColumn}, in.MetadataColumns...) {
		if want == "" {
			return errs.New(errs.Invalid, "text_column and id_column are required; the columns of %s are %s", in.Dataset, strings.Join(names, ", "))
		}
		if !slices.Contains(names, want) {
			return errs.New(errs.Invalid, "dataset %s has no column %q; its columns are %s", in.Dataset, want, strings.Join(names, ", "))
		}
	}
	return nil
}

// rowSelect is a query of the rows to index: id and text as strings first,
// then the metadata columns.
func rowSelect(in indexDatasetIn) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "SELECT CAST(%s AS VARCHAR) AS __id, CAST(%s AS VARCHAR) AS __text",
		sqlengine.QuoteIdent(in.IDColumn), sqlengine.QuoteIdent(in.TextColumn))
	for _, c := range in.MetadataColumns {
		sb.WriteString(", " + sqlengine.QuoteIdent(c))
	}
	sb.WriteString(" FROM " + sqlengine.QuoteIdent(in.Dataset))
	if in.Where != "" {
		sb.WriteString(" WHERE (" + in.Where + "\n)")
	}
	return sb.String()
}

func (b *Backends) countRows(ctx context.Context, rows string) (total, usable int64, err error) {
	res, err := b.SQL.Query(ctx, "SELECT count(*), count(*) FILTER (WHERE "+usableRow+") FROM ("+rows+")", 1)
	if err != nil {
		return 0, 0, fmt.Errorf("count the rows to index: %w", err)
	}
	return toInt64(res.Rows[0][0]), toInt64(res.Rows[0][1]), nil
}

// usableRow holds for rows whose id and text the index can hold, with
// something in the text.
var usableRow = fmt.Sprintf("__id IS NOT NULL AND strlen(__id) <= %d AND trim(__text) <> '' AND strlen(__text) <= %d", vector.MaxID, vector.MaxText)

// checkUniqueIDs refuses an id column with repeated values among the usable
// rows: each id is one item, so all but one of its rows would be lost.
func (b *Backends) checkUniqueIDs(ctx context.Context, rows, column string) error {
	res, err := b.SQL.Query(ctx, "SELECT __id, count(*) AS n, count(*) OVER () FROM ("+rows+") WHERE "+usableRow+
		" GROUP BY __id HAVING count(*) > 1 ORDER BY n DESC, __id LIMIT 3", 3)
	if err != nil {
		return fmt.Errorf("check the ids: %w", err)
	}
	if len(res.Rows) == 0 {
		return nil
	}
	examples := make([]string, len(res.Rows))
	for i, r := range res.Rows {
		examples[i] = fmt.Sprintf("%q (%d rows)", r[0], toInt64(r[1]))
	}
	return errs.New(errs.Invalid, "id_column %s is not unique: %s, e.g. %s; each id is one item, so choose a unique column or narrow the rows with where",
		column, plural(toInt64(res.Rows[0][2]), "id repeats", "ids repeat"), strings.Join(examples, ", "))
}

// pageQuery reads the next page of usable rows after id last, in id order,
// so that pages neither overlap nor miss rows.
func pageQuery(rows, last string) string {
	return fmt.Sprintf("SELECT * FROM (%s) WHERE %s AND __id > %s ORDER BY __id LIMIT %d",
		rows, usableRow, sqlengine.QuoteString(last), indexPage)
}

func toInt64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case json.Number:
		i, _ := n.Int64()
		return i
	}
	return 0
}

// indexRows upserts one page of rows, embedding only texts the index does
// not already hold for that id.
func (b *Backends) indexRows(ctx context.Context, out *indexDatasetOut, rows [][]any, metaCols []string) error {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r[0].(string)
	}
	have, err := b.Vectors.Get(out.Index, ids)
	if err != nil {
		return err
	}
	held := make(map[string]vector.Item, len(have))
	for _, it := range have {
		held[it.ID] = it
	}
	var items []vector.Item
	var texts []string
	var toEmbed []int
	for _, r := range rows {
		it := vector.Item{ID: r[0].(string), Text: r[1].(string)}
		if len(metaCols) > 0 {
			it.Metadata = make(map[string]any, len(metaCols))
			for j, c := range metaCols {
				it.Metadata[c] = r[2+j]
			}
		}
		old, ok := held[it.ID]
		switch {
		case ok && old.Text == it.Text && sameJSON(old.Metadata, it.Metadata):
			out.Unchanged++
			continue
		case ok && old.Text == it.Text:
			it.Vector = old.Vector
			out.Updated++
		default:
			texts, toEmbed = append(texts, it.Text), append(toEmbed, len(items))
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		return nil
	}
	if len(texts) > 0 {
		info, err := b.Vectors.Info(out.Index)
		if err != nil {
			return err
		}
		vecs, refused, err := b.embedEach(ctx, info, texts)
		if err != nil {
			return err
		}
		for j, i := range toEmbed {
			items[i].Vector = vecs[j]
		}
		out.Embedded += len(texts) - len(refused)
		out.Refused += len(refused)
		var stale []string // refused rows the index holds an older text of
		for j, i := range toEmbed {
			if refused[j] == nil {
				continue
			}
			if len(out.RefusedIDs) < maxRefusedIDs {
				out.RefusedIDs = append(out.RefusedIDs, items[i].ID)
			}
			if _, ok := held[items[i].ID]; ok {
				stale = append(stale, items[i].ID)
			}
		}
		items = slices.DeleteFunc(items, func(it vector.Item) bool { return it.Vector == nil })
		if len(stale) > 0 {
			if _, err := b.Vectors.Delete(ctx, out.Index, stale); err != nil {
				return err
			}
		}
	}
	if len(items) == 0 {
		return nil
	}
	_, err = b.Vectors.Upsert(ctx, out.Index, items)
	return err
}

// plural renders n with the phrase for one or for many.
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// maxRefusedIDs is how many refused ids index_dataset reports.
const maxRefusedIDs = 10

// sameJSON compares metadata as stored: numbers that went through JSON and
// numbers fresh from SQL compare by their JSON text.
func sameJSON(a, b map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
