package prompts

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/tools"
)

// listedClusters is how many failure clusters review_failures shows.
const listedClusters = 10

func reviewFailures() definition {
	return definition{
		prompt: &mcp.Prompt{
			Name:        "review_failures",
			Title:       "Review failures",
			Description: "Diagnose what keeps failing: the observer's failure clusters (equal errors grouped), read live, with the steps to find causes and record fixes.",
		},
		get: getReviewFailures,
	}
}

func getReviewFailures(_ context.Context, b *tools.Backends, _ map[string]string) (*mcp.GetPromptResult, error) {
	if b.Observer == nil {
		return nil, fmt.Errorf("this server has no observer")
	}
	st := b.Observer.Stats(time.Time{})
	escalated := map[string]bool{}
	for _, c := range st.Escalations {
		escalated[c.SigHash] = true
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "Diagnose what keeps failing in this lakehouse. The observer has recorded %d operations, %d of them failures, in %d failure clusters; %d reached the escalation threshold.\n\n",
		st.Total, st.Failures, st.ClusterCount, st.EscalationCount)
	if len(st.Clusters) == 0 {
		sb.WriteString("No failures are recorded: nothing to diagnose. observer_stats shows the totals by tool.")
		return &mcp.GetPromptResult{Description: "Review failures: none", Messages: []*mcp.PromptMessage{userText(sb.String())}}, nil
	}
	rows := [][]any{}
	for i, c := range st.Clusters {
		if i == listedClusters {
			break
		}
		rows = append(rows, []any{c.Endpoint, c.Count, escalated[c.SigHash], c.LastSeen.UTC().Format(time.RFC3339), c.Example, c.SigHash})
	}
	fmt.Fprintf(&sb, "Failure clusters (%d of %d):\n%s\n", len(rows), st.ClusterCount, tools.MarkdownTable([]string{"tool", "failures", "escalated", "last seen", "example error", "sig_hash"}, rows))
	sb.WriteString(`
For each cluster, escalated and most frequent first:
1. list_events {tool, success: false, limit: 5} shows the inputs that failed and when.
2. Decide what it is: a caller's mistake (the error says what to send instead: fix the calls), a data problem (query_sql or get_manifest the data it names), or a server fault (say so; it is logged).
3. search_traces {query: "<the error>"} finds what was learned about it before.
4. Record the diagnosis: add_trace {content: {cluster: sig_hash, tool, cause, fix}, text, tags: ["failure", "<tool>"]}; once a fix works, record_event {endpoint: "<tool>", success: true}.
Report per cluster: cause, fix, and whether it is fixed.`)
	return &mcp.GetPromptResult{
		Description: fmt.Sprintf("Review %d failure clusters", st.ClusterCount),
		Messages:    []*mcp.PromptMessage{userText(sb.String()), link(tools.EscalationsURI, "escalations", "failure clusters that reached the threshold; subscribe for new ones")},
	}, nil
}
