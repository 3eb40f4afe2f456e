package prompts

import (
	"context"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/catalog"
	"lakehouse/backends/sqlengine"
	"lakehouse/tools"
)

// exploreSampleRows is how many rows explore_dataset shows.
const exploreSampleRows = 5

func exploreDataset() definition {
	return definition{
		prompt: &mcp.Prompt{
			Name:        "explore_dataset",
			Title:       "Explore a dataset",
			Description: "Get to know one dataset: its schema, a few sample rows and queries to start from, read live from the lakehouse.",
			Arguments: []*mcp.PromptArgument{
				{Name: "name", Title: "Dataset", Description: "the dataset to explore (list_datasets shows them; completes)", Required: true},
			},
		},
		complete: map[string]completer{"name": suggest(tools.SuggestDatasets)},
		get:      getExploreDataset,
	}
}

func getExploreDataset(ctx context.Context, b *tools.Backends, args map[string]string) (*mcp.GetPromptResult, error) {
	name := strings.TrimSpace(args["name"])
	if b.Catalog == nil {
		return nil, fmt.Errorf("this server has no dataset catalog")
	}
	m, err := b.Catalog.Get(name)
	if err != nil {
		return nil, err
	}
	v := m.Current()
	tbl := fmt.Sprintf("%q", m.Name)
	var sb strings.Builder
	fmt.Fprintf(&sb, "Explore the dataset %s: version %d of %d, %d rows, %d columns. In query_sql it is the table %s; a past version is \"%s@vN\".\n\n",
		m.Name, v.Version, len(m.Versions), v.Rows, len(v.Columns), m.Name, m.Name)
	sb.WriteString("Columns:\n")
	cols := make([][]any, len(v.Columns))
	for i, c := range v.Columns {
		cols[i] = []any{c.Name, c.Type}
	}
	sb.WriteString(tools.MarkdownTable([]string{"column", "type"}, cols))
	if b.SQL != nil && v.Rows > 0 {
		res, err := b.SQL.Query(ctx, fmt.Sprintf("SELECT * FROM %s LIMIT %d", tbl, exploreSampleRows), exploreSampleRows)
		if err != nil {
			return nil, fmt.Errorf("sample rows of %s: %w", m.Name, err)
		}
		sqlengine.CutCells(res.Rows, tools.MaxCell)
		header := make([]string, len(res.Columns))
		for i, c := range res.Columns {
			header[i] = c.Name
		}
		fmt.Fprintf(&sb, "\n\nSample rows (%d of %d):\n%s", res.RowCount, v.Rows, tools.MarkdownTable(header, res.Rows))
	}
	sb.WriteString("\n\nQueries to start from (query_sql):\n")
	for _, q := range suggestedQueries(tbl, v.Columns) {
		sb.WriteString("- " + q + "\n")
	}
	sb.WriteString("\nThen say what one row stands for, which columns look like keys, which have NULLs or odd values, and what questions the data can answer. Name the dataset and version you read.")
	return &mcp.GetPromptResult{
		Description: fmt.Sprintf("Explore dataset %s (v%d, %d rows)", m.Name, v.Version, v.Rows),
		Messages: []*mcp.PromptMessage{
			userText(sb.String()),
			link(tools.DatasetURI(m.Name), m.Name, "the manifest as JSON and a CSV sample"),
		},
	}, nil
}

// suggestedQueries are queries that fit the dataset's columns: a summary,
// counts by a text column, the range of a number, rows over time.
func suggestedQueries(table string, cols []catalog.Column) []string {
	qs := []string{"SUMMARIZE " + table, fmt.Sprintf("SELECT count(*) AS rows FROM %s", table)}
	var text, num, when string
	for _, c := range cols {
		t := strings.ToUpper(c.Type)
		col := fmt.Sprintf("%q", c.Name)
		switch {
		case text == "" && (t == "VARCHAR" || strings.HasPrefix(t, "ENUM")):
			text = col
		case num == "" && isNumeric(t):
			num = col
		case when == "" && (t == "DATE" || strings.HasPrefix(t, "TIMESTAMP")):
			when = col
		}
	}
	if text != "" {
		qs = append(qs, fmt.Sprintf("SELECT %s, count(*) AS n FROM %s GROUP BY ALL ORDER BY n DESC LIMIT 10", text, table))
	}
	if num != "" {
		qs = append(qs, fmt.Sprintf("SELECT min(%[1]s), max(%[1]s), avg(%[1]s), count(*) - count(%[1]s) AS nulls FROM %[2]s", num, table))
	}
	if when != "" {
		qs = append(qs, fmt.Sprintf("SELECT date_trunc('month', %s) AS month, count(*) AS n FROM %s GROUP BY ALL ORDER BY month", when, table))
	}
	return qs
}

func isNumeric(t string) bool {
	for _, p := range []string{"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}
