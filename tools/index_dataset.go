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
	Index     string `json:"index"`
	Dataset   string `json:"dataset"`
	Version   int    `json:"version" jsonschema:"dataset version that was read"`
	Created   bool   `json:"created" jsonschema:"the index did not exist and was created"`
	Rows      int64  `json:"rows" jsonschema:"rows selected"`
	Embedded  int    `json:"embedded" jsonschema:"rows whose text was new or changed, and so embedded"`
	Updated   int    `json:"metadata_updated" jsonschema:"rows whose text was unchanged but metadata changed"`
	Unchanged int    `json:"unchanged" jsonschema:"rows already indexed as they are"`
	Skipped   int64  `json:"skipped" jsonschema:"rows with a null id or a null or blank text"`
	Count     int    `json:"count" jsonschema:"items in the index now"`
	ElapsedMS int64  `json:"elapsed_ms"`
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

// usableRow holds for rows that have an id and a text with something in it.
const usableRow = "__id IS NOT NULL AND trim(__text) <> ''"

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
		vecs, err := b.embedFor(ctx, info, texts)
		if err != nil {
			return err
		}
		for j, i := range toEmbed {
			items[i].Vector = vecs[j]
		}
		out.Embedded += len(texts)
	}
	_, err = b.Vectors.Upsert(ctx, out.Index, items)
	return err
}

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
