package prompts

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/tools"
)

func semanticLookup() definition {
	return definition{
		prompt: &mcp.Prompt{
			Name:        "semantic_lookup",
			Title:       "Look up by meaning",
			Description: "Find what the vector indexes (corpora) hold about a question, by meaning and exact words, and answer citing the hits.",
			Arguments: []*mcp.PromptArgument{
				{Name: "question", Title: "Question", Description: "what to look up, in words", Required: true},
				{Name: "corpora", Title: "Corpora", Description: "comma-separated names of the indexes to search; default all but playbooks (list_corpora; completes)"},
			},
		},
		complete: map[string]completer{"question": corpusQuestions, "corpora": completeCorpora},
		get:      getSemanticLookup,
	}
}

// corpusQuestions completes a question with what the corpora are about.
func corpusQuestions(ctx context.Context, b *tools.Backends, value string, _ map[string]string) (mcp.CompletionResultDetails, error) {
	var qs []string
	for _, name := range corpusNames(b) {
		qs = append(qs, "What does "+name+" say about ")
	}
	return prefixed(qs, value), nil
}

// completeCorpora completes the last name of a comma-separated list,
// keeping the names before it and leaving out those already given.
func completeCorpora(ctx context.Context, b *tools.Backends, value string, _ map[string]string) (mcp.CompletionResultDetails, error) {
	head, last := "", value
	if i := strings.LastIndex(value, ","); i >= 0 {
		head, last = value[:i+1], value[i+1:]
	}
	given := splitList(head)
	d, err := b.Suggest(ctx, tools.SuggestIndexes, strings.TrimSpace(last))
	if err != nil {
		return d, err
	}
	out := mcp.CompletionResultDetails{Values: []string{}, HasMore: d.HasMore}
	for _, v := range d.Values {
		if !slices.Contains(given, v) {
			out.Values = append(out.Values, head+v)
		}
	}
	if !out.HasMore {
		out.Total = len(out.Values)
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func corpusNames(b *tools.Backends) []string {
	var names []string
	if b.Vectors != nil {
		for _, ix := range b.Vectors.List() {
			names = append(names, ix.Name)
		}
	}
	return names
}

func getSemanticLookup(ctx context.Context, b *tools.Backends, args map[string]string) (*mcp.GetPromptResult, error) {
	question := strings.TrimSpace(args["question"])
	names := corpusNames(b)
	asked := splitList(args["corpora"])
	for _, c := range asked {
		if !slices.Contains(names, c) {
			return nil, invalid("corpus %q does not exist; list_corpora shows %s", c, orNone(names))
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "Find what the lakehouse's corpora hold about: %s\n\n", question)
	if len(names) == 0 {
		sb.WriteString("There are no vector indexes yet, so nothing to search by meaning: index_dataset embeds a dataset's rows into one, and upsert_vectors adds texts to an index made with create_index. Until then list_datasets and query_sql (the answer_from_data prompt) are the way in.")
		return &mcp.GetPromptResult{Description: "Look up by meaning: no corpora", Messages: []*mcp.PromptMessage{userText(sb.String())}}, nil
	}
	switch {
	case len(asked) > 0:
		fmt.Fprintf(&sb, "Search these corpora: %s.\n", strings.Join(asked, ", "))
	default:
		fmt.Fprintf(&sb, "Corpora now (list_corpora has their models and sizes): %s.\n", strings.Join(names, ", "))
	}
	corpora := ""
	if len(asked) > 0 {
		corpora = fmt.Sprintf(", corpora: [%s]", quoted(asked))
	}
	fmt.Fprintf(&sb, `
1. matrix_search {query_text: %q%s, k: 10} searches them at once and merges the hits (mode hybrid, the default: meaning and exact words; mode lexical for identifiers, error codes and names). For one index, search_vectors {index, query_text}.
2. Read the hits: corpus, id, score, text and metadata. Weak scores mean the corpora do not hold the answer; say so rather than stretch. Metadata may point to a dataset row or an object: query_sql or get_object reads the source.
3. Answer, citing corpus:id for every claim.
4. When a hit answered the question, record_playbook {query_text, answer_id, answer_corpus, score: 1} so that matrix_search with use_playbook: true ranks it higher next time (score 0 for a wrong one).`, question, corpora)
	return &mcp.GetPromptResult{Description: "Look up by meaning", Messages: []*mcp.PromptMessage{userText(sb.String())}}, nil
}

func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
