package prompts

import (
	"context"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/tools"
)

// listedDatasets is how many datasets answer_from_data names.
const listedDatasets = 30

func answerFromData() definition {
	return definition{
		prompt: &mcp.Prompt{
			Name:        "answer_from_data",
			Title:       "Answer a question from data",
			Description: "Answer a question from the lakehouse's datasets: find the data, query it with SQL, and cite datasets, versions and queries.",
			Arguments: []*mcp.PromptArgument{
				{Name: "question", Title: "Question", Description: "the question to answer, in words (completes to questions about the datasets there are)", Required: true},
			},
		},
		complete: map[string]completer{"question": datasetQuestions},
		get:      getAnswerFromData,
	}
}

// datasetQuestions completes a question with questions about the datasets.
func datasetQuestions(ctx context.Context, b *tools.Backends, value string, _ map[string]string) (mcp.CompletionResultDetails, error) {
	var qs []string
	if b.Catalog != nil {
		for _, m := range b.Catalog.List() {
			qs = append(qs, "What does "+m.Name+" hold?", "How many rows of "+m.Name+" are there by ")
		}
	}
	return prefixed(qs, value), nil
}

func getAnswerFromData(ctx context.Context, b *tools.Backends, args map[string]string) (*mcp.GetPromptResult, error) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Answer from the lakehouse's data: %s\n\n", strings.TrimSpace(args["question"]))
	sb.WriteString(datasetsNow(b))
	sb.WriteString(`
1. Find the data: list_datasets, then get_manifest {name, sample_rows: 5} for the columns, types and example values of the likely ones. If the answer may sit in text rather than tables, matrix_search {query_text} looks across the vector indexes.
2. Query: query_sql runs ONE read-only DuckDB statement; every dataset is a table under its name. Let SQL aggregate, filter and join rather than reading rows; DESCRIBE or SUMMARIZE a table first when unsure. A result with truncated: true is partial.
3. Check: run a second query that would expose a wrong answer (row counts, NULLs, duplicates of a key).
4. Cite: for every figure name the dataset and its version (current_version from get_manifest, or "name@vN") and give the SQL you ran, so the answer can be re-run. If the data cannot answer, say so and say what is missing.`)
	return &mcp.GetPromptResult{
		Description: "Answer a question from the datasets",
		Messages:    []*mcp.PromptMessage{userText(sb.String()), link(tools.DatasetsURI, "datasets", "every dataset, as list_datasets")},
	}, nil
}

// datasetsNow names the datasets there are, live.
func datasetsNow(b *tools.Backends) string {
	if b.Catalog == nil {
		return "This server has no datasets.\n"
	}
	list := b.Catalog.List()
	if len(list) == 0 {
		return "There are no datasets yet: ingest_dataset loads CSV, JSON or Parquet into one.\n"
	}
	var parts []string
	for i, m := range list {
		if i == listedDatasets {
			parts = append(parts, fmt.Sprintf("and %d more (list_datasets pages through them)", len(list)-i))
			break
		}
		v := m.Current()
		parts = append(parts, fmt.Sprintf("%s (%d rows, %d columns, v%d)", m.Name, v.Rows, len(v.Columns), v.Version))
	}
	return fmt.Sprintf("Datasets now (%d): %s.\n", len(list), strings.Join(parts, ", "))
}
