package prompts

import (
	"context"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/tools"
)

// outcomes are what remember_outcome's outcome completes with.
var outcomes = []string{"success", "failure", "partial success"}

func rememberOutcome() definition {
	return definition{
		prompt: &mcp.Prompt{
			Name:        "remember_outcome",
			Title:       "Remember an outcome",
			Description: "Record what came of a task so that later sessions can find it: a trace (add_trace), an event the observer counts (record_event) and, for a search answer, a playbook entry (record_playbook).",
			Arguments: []*mcp.PromptArgument{
				{Name: "task", Title: "Task", Description: "what was attempted: a tool, workflow or goal (completes with tool names)", Required: true},
				{Name: "outcome", Title: "Outcome", Description: "what came of it: success, failure or partial success, then what happened", Required: true},
			},
		},
		complete: map[string]completer{"task": toolNames, "outcome": fixed(outcomes...)},
		get:      getRememberOutcome,
	}
}

// toolNames completes a task with the names of the tools.
func toolNames(_ context.Context, _ *tools.Backends, value string, _ map[string]string) (mcp.CompletionResultDetails, error) {
	var names []string
	for _, t := range tools.All(nil) {
		names = append(names, t.Name)
	}
	return prefixed(names, value), nil
}

func getRememberOutcome(_ context.Context, _ *tools.Backends, args map[string]string) (*mcp.GetPromptResult, error) {
	task, outcome := strings.TrimSpace(args["task"]), strings.TrimSpace(args["outcome"])
	success := !strings.HasPrefix(strings.ToLower(outcome), "fail")
	tag := "outcome:success"
	if !success {
		tag = "outcome:failure"
	}
	errField := ""
	if !success {
		errField = `, error: "<the error, verbatim: equal errors are clustered>"`
	}
	text := fmt.Sprintf(`Record the outcome of a task so that later sessions can learn from it.
Task: %s
Outcome: %s

1. search_traces {query: %q} first: if a trace already covers this task, revise_trace {predecessor_uid, content} rather than add a duplicate.
2. Otherwise add_trace {content: {"task": ..., "outcome": ..., "what_worked": ..., "what_failed": ..., "next_time": ...}, text: "<one sentence to find it by>", tags: [%q, "<topic>"]}. Keep the content factual: inputs, the tools called, results.
3. record_event {endpoint: %q, success: %t%s, input_summary, output_summary}: the observer counts it (observer_stats).
4. If a matrix_search hit gave the answer, record_playbook {query_text, answer_id, answer_corpus, score: 0 to 1} (or put query_text, answer_id and answer_corpus in record_event's fields), so that use_playbook ranks it next time.
Reply with the trace uid and the event id.`, task, outcome, task, tag, task, success, errField)
	return &mcp.GetPromptResult{Description: "Remember the outcome of " + task, Messages: []*mcp.PromptMessage{userText(text)}}, nil
}
