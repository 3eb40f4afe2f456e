package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/tools"
)

// toolServer is an MCP server with every tool of the table and no engines:
// enough to list tools and to be refused one.
func toolServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "mcpd"}, nil)
	tools.Register(s, tools.All(nil))
	return s
}

// listNames connects to endpoint and returns the names tools/list gives.
func listNames(t *testing.T, endpoint string) (*mcp.ClientSession, []string) {
	t.Helper()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test"}, nil).Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: endpoint}, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", endpoint, err)
	}
	t.Cleanup(func() { cs.Close() })
	var names []string
	for tool, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return cs, names
}

// namesOf are the sorted names of the tools of toolsets.
func namesOf(toolsets ...string) []string {
	var names []string
	for _, t := range tools.InToolsets(tools.All(nil), toolsets) {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	return names
}

// TestToolsets_Path: /mcp/sql is a server of the sql tools alone, which
// refuses the others with where to find them; /mcp keeps every tool.
func TestToolsets_Path(t *testing.T) {
	base := serve(t, httpConfig(t), toolServer())
	cs, names := listNames(t, base+"/mcp/sql")
	if want := []string{"export_query", "query_sql"}; !slices.Equal(names, want) {
		t.Errorf("/mcp/sql lists %v, want %v", names, want)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "put_object", Arguments: map[string]any{"key": "a", "content": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if text := res.Content[0].(*mcp.TextContent).Text; !res.IsError || !strings.Contains(text, "toolset storage") || !strings.Contains(text, "/mcp/storage") {
		t.Errorf("put_object on /mcp/sql: error %v, %q", res.IsError, text)
	}
	if _, all := listNames(t, base+"/mcp"); len(all) != len(tools.All(nil)) {
		t.Errorf("/mcp lists %d tools, want all %d", len(all), len(tools.All(nil)))
	}
	for _, set := range tools.Toolsets {
		if _, names := listNames(t, base+"/mcp/"+set); len(names) == 0 || !slices.Equal(names, namesOf(set)) {
			t.Errorf("/mcp/%s lists %v, want %v", set, names, namesOf(set))
		}
	}
}

// TestToolsets_Config: mcp.toolsets = ["sql"] limits /mcp to the sql tools,
// and serves no other toolset's path.
func TestToolsets_Config(t *testing.T) {
	cfg := httpConfig(t)
	cfg.MCP.Toolsets = []string{"sql"}
	base := serve(t, cfg, toolServer())
	if _, names := listNames(t, base+"/mcp"); !slices.Equal(names, namesOf("sql")) {
		t.Errorf("/mcp with toolsets [sql] lists %v", names)
	}
	if _, names := listNames(t, base+"/mcp/sql"); !slices.Equal(names, namesOf("sql")) {
		t.Errorf("/mcp/sql lists %v", names)
	}
	if _, err := mcp.NewClient(&mcp.Implementation{Name: "test"}, nil).Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp/vectors"}, nil); err == nil {
		t.Error("/mcp/vectors answered, though vectors is not among the toolsets")
	}
}

// TestToolsets_ConfigKeys: LAKEHOUSE_MCP_TOOLSETS is split on commas, and
// an unknown toolset is an error that lists the toolsets.
func TestToolsets_ConfigKeys(t *testing.T) {
	cfg, err := loadConfig("", envOf(map[string]string{"HOME": "/h", "LAKEHOUSE_MCP_TOOLSETS": "sql, vectors"}))
	if err != nil || !slices.Equal(cfg.MCP.Toolsets, []string{"sql", "vectors"}) {
		t.Errorf("LAKEHOUSE_MCP_TOOLSETS=sql, vectors: %v, %v", cfg.MCP.Toolsets, err)
	}
	if cfg, _ := loadConfig("", envOf(map[string]string{"HOME": "/h"})); !slices.Equal(cfg.MCP.Toolsets, tools.Toolsets) {
		t.Errorf("default toolsets %v, want all %v", cfg.MCP.Toolsets, tools.Toolsets)
	}
	_, err = loadConfig("", envOf(map[string]string{"HOME": "/h", "LAKEHOUSE_MCP_TOOLSETS": "sql,nope"}))
	if err == nil || !strings.Contains(err.Error(), `mcp.toolsets: no toolset "nope"; the toolsets are storage, datasets, sql`) {
		t.Errorf("unknown toolset: %v", err)
	}
}
