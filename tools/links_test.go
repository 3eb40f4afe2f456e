package tools

import (
	"context"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestResultLinks: a tool that makes or names a dataset, an index, an
// object or a trace links to it in its result, and the client can follow
// the link: reading it gives the thing the call made.
func TestResultLinks(t *testing.T) {
	b := resourceBackends(t)
	cs := connectResources(t, b, 0, nil)
	ctx := context.Background()
	for _, c := range []struct {
		tool string
		args map[string]any
		uri  string
		has  string // in the resource's content
	}{
		{"put_object", map[string]any{"key": "notes/a b.md", "content": "hello, link"}, ObjectURI("notes/a b.md"), "hello, link"},
		{"ingest_dataset", map[string]any{"name": "sales", "source": map[string]any{"content": "region,amount\nnorth,10\n"}}, DatasetURI("sales"), "region"},
		{"create_index", map[string]any{"name": "notes"}, IndexURI("notes"), "notes"},
		{"add_trace", map[string]any{"uid": "3f9b1c1e-0000-4000-8000-000000000001", "content": map[string]any{"tried": "links"}, "text": "followed a link"}, TraceURI("3f9b1c1e-0000-4000-8000-000000000001"), "followed a link"},
	} {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: c.tool, Arguments: c.args})
		if err != nil || res.IsError {
			t.Fatalf("%s: %v %v", c.tool, err, res)
		}
		var link *mcp.ResourceLink
		for _, content := range res.Content {
			if l, ok := content.(*mcp.ResourceLink); ok {
				link = l
			}
		}
		if link == nil || link.URI != c.uri {
			t.Errorf("%s: link %+v, want %s", c.tool, link, c.uri)
			continue
		}
		read, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: link.URI})
		if err != nil || len(read.Contents) == 0 || !strings.Contains(read.Contents[0].Text, c.has) {
			t.Errorf("%s: reading its link %s: %v %+v, want it to hold %q", c.tool, link.URI, err, read, c.has)
		}
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_objects", Arguments: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, content := range res.Content {
		if _, ok := content.(*mcp.ResourceLink); ok {
			t.Errorf("list_objects, which names no one thing, links %+v", content)
		}
	}
}
