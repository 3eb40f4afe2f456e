package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"

	"lakehouse/tools"
)

// listTools prints the tool table: a line a tool, or with asJSON every
// tool with its schemas.
func listTools(w io.Writer, asJSON bool) error {
	all := tools.All(nil)
	if asJSON {
		infos := make([]tools.Info, len(all))
		for i, t := range all {
			infos[i] = t.Info()
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(infos)
	}
	for _, t := range all {
		first, _, _ := strings.Cut(t.Description, ". ")
		fmt.Fprintf(w, "%-16s %s\n", t.Name, strings.TrimSuffix(first, ".")+".")
	}
	return nil
}

// toolHelp prints tool name's description and arguments, as docs/TOOLS.md
// shows them.
func toolHelp(w io.Writer, name string) error {
	all := tools.All(nil)
	i := slices.IndexFunc(all, func(t tools.Tool) bool { return t.Name == name })
	if i < 0 {
		return usageError(fmt.Sprintf("no tool %q; mcpd tools lists them", name))
	}
	_, err := io.WriteString(w, toolDoc(all[i]))
	return err
}

// toolDoc is the markdown of one tool: what it does, whether it changes
// data, and a table of its arguments.
func toolDoc(t tools.Tool) string {
	var b strings.Builder
	kind := "changes data"
	if t.ReadOnly() {
		kind = "read-only"
	}
	fmt.Fprintf(&b, "## %s\n\n%s (%s)\n\n", t.Name, t.Description, kind)
	s := t.InputSchema
	if len(s.Properties) == 0 {
		b.WriteString("No arguments.\n\n")
		return b.String()
	}
	b.WriteString("| argument | type | required | description |\n|---|---|---|---|\n")
	for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
		p := s.Properties[name]
		req := ""
		if slices.Contains(s.Required, name) {
			req = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", name, typeOf(p), req, strings.ReplaceAll(p.Description, "|", `\|`))
	}
	b.WriteString("\n")
	return b.String()
}

// typeOf names the JSON type of schema p, as the argument tables show it.
func typeOf(p *jsonschema.Schema) string {
	switch {
	case p.Type == "array" && p.Items != nil && p.Items.Type != "":
		return "array of " + p.Items.Type
	case p.Type != "":
		return p.Type
	}
	return "any"
}

// toolsDoc is docs/TOOLS.md: every tool, from the tool table.
func toolsDoc() string {
	var b strings.Builder
	b.WriteString("# Tools\n\nGenerated from the tool table by `go test ./mcpd -run TestToolsDoc -update`; `mcpd help TOOL` prints one of them. Over MCP each is a tool; over HTTP, `POST /v1/tools/{name}` with the arguments as the JSON body; on the command line, `mcpd call TOOL '{json}'`.\n\n")
	for _, t := range tools.All(nil) {
		b.WriteString(toolDoc(t))
	}
	return strings.TrimSuffix(b.String(), "\n")
}
