package prompts

import (
	"encoding/json"
	"fmt"
	"strings"
)

// maxCell is the most characters a table cell shows.
const maxCell = 160

var cellEscaper = strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ")

// table renders a markdown table.
func table(header []string, rows [][]any) string {
	var sb strings.Builder
	sb.WriteString("|")
	for _, h := range header {
		fmt.Fprintf(&sb, " %s |", cell(h))
	}
	sb.WriteString("\n|")
	for range header {
		sb.WriteString("---|")
	}
	for _, row := range rows {
		sb.WriteString("\n|")
		for _, v := range row {
			fmt.Fprintf(&sb, " %s |", cell(v))
		}
	}
	return sb.String()
}

// cell shows one value in a table cell: NULL for nil, JSON for nested
// values, pipes and newlines escaped, long text cut.
func cell(v any) string {
	var s string
	switch v := v.(type) {
	case nil:
		s = "NULL"
	case string:
		s = v
	case map[string]any, []any:
		b, _ := json.Marshal(v)
		s = string(b)
	default:
		s = fmt.Sprint(v)
	}
	s = cellEscaper.Replace(s)
	if r := []rune(s); len(r) > maxCell {
		s = string(r[:maxCell-1]) + "…"
	}
	return s
}
