package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"

	"lakehouse/tools"
)

var update = flag.Bool("update", false, "rewrite docs/TOOLS.md from the tool table")

// TestToolsDoc: docs/TOOLS.md is what the tool table says; -update
// rewrites it.
func TestToolsDoc(t *testing.T) {
	const path = "../docs/TOOLS.md"
	want := toolsDoc()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("docs/TOOLS.md is stale: run go test ./mcpd -run TestToolsDoc -update")
	}
	for _, tool := range tools.All(nil) {
		if !strings.Contains(want, "## "+tool.Name+"\n") {
			t.Errorf("docs/TOOLS.md lacks %s", tool.Name)
		}
	}
}

// TestHelpCommands: mcpd tools --json lists every tool with its schemas,
// mcpd help TOOL shows its arguments, and an unknown tool is a usage error.
func TestHelpCommands(t *testing.T) {
	env := func(string) string { return "" }
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"tools", "--json"}, nil, &out, &errOut, env); code != 0 {
		t.Fatalf("mcpd tools --json: exit %d: %s", code, errOut.String())
	}
	var infos []map[string]any
	if err := json.Unmarshal(out.Bytes(), &infos); err != nil || len(infos) != len(tools.All(nil)) {
		t.Fatalf("mcpd tools --json: %v, %d tools", err, len(infos))
	}
	for _, info := range infos {
		if info["input_schema"] == nil || info["output_schema"] == nil {
			t.Errorf("mcpd tools --json: %v has no schemas", info["name"])
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"help", "query_sql"}, nil, &out, &errOut, env); code != 0 || !strings.Contains(out.String(), "| `max_rows` | integer |") || !strings.Contains(out.String(), "| `sql` | string | yes |") {
		t.Errorf("mcpd help query_sql: exit %d:\n%s", code, out.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"help", "query_sq"}, nil, &out, &errOut, env); code != 2 || !strings.Contains(errOut.String(), `no tool "query_sq"`) {
		t.Errorf("mcpd help query_sq: exit %d: %s", code, errOut.String())
	}
}
