package tools

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// maxToolsListBytes bounds what tools/list costs an agent's context: the
// JSON of every tool, as an MCP client receives it, on every session.
const maxToolsListBytes = 20 << 10

// TestToolsList_ContextBill measures tools/list as a client receives it and
// fails above maxToolsListBytes, logging the size by part. Before the budget
// it was 77,315 bytes: input schemas 26,077, output schemas 32,072,
// descriptions 12,366, annotations 3,583.
func TestToolsList_ContextBill(t *testing.T) {
	s := mcp.NewServer(&mcp.Implementation{Name: "test"}, nil)
	Register(s, All(nil))
	ct, st := mcp.NewInMemoryTransports()
	ctx := context.Background()
	if _, err := s.Connect(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "client"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	total, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	size := func(v any) int {
		if v == nil {
			return 0
		}
		b, _ := json.Marshal(v)
		return len(b)
	}
	var in, out, desc, ann int
	for _, tool := range res.Tools {
		in += size(tool.InputSchema)
		out += size(tool.OutputSchema)
		desc += len(tool.Description)
		ann += size(tool.Annotations)
		t.Logf("%-16s in %5d  out %4d  desc %4d", tool.Name, size(tool.InputSchema), size(tool.OutputSchema), len(tool.Description))
	}
	t.Logf("tools/list: %d tools, %d bytes (input schemas %d, output schemas %d, descriptions %d, annotations %d)", len(res.Tools), len(total), in, out, desc, ann)
	if len(total) > maxToolsListBytes {
		t.Errorf("tools/list is %d bytes, over the %d-byte budget", len(total), maxToolsListBytes)
	}
}

// TestToolsets_EveryToolInOne: each tool is in exactly one toolset, and
// every toolset has tools.
func TestToolsets_EveryToolInOne(t *testing.T) {
	count := map[string]int{}
	for _, tool := range All(nil) {
		if err := CheckToolsets([]string{tool.Toolset}); err != nil {
			t.Errorf("%s: %v", tool.Name, err)
		}
		count[tool.Toolset]++
	}
	n := 0
	for _, set := range Toolsets {
		if count[set] == 0 {
			t.Errorf("toolset %s has no tools", set)
		}
		n += len(InToolsets(All(nil), []string{set}))
	}
	if n != len(All(nil)) {
		t.Errorf("toolsets hold %d tools, the table %d", n, len(All(nil)))
	}
}
