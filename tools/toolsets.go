package tools

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Toolsets name groups of tools that an MCP server can offer alone, so that
// an agent that needs only SQL, say, does not pay for every tool in its
// context (see [mcp] toolsets in lakehouse.toml, and /mcp/{toolset}). Every
// tool is in exactly one, set in All.
const (
	ToolsetStorage  = "storage"  // objects: put, get, list, delete
	ToolsetDatasets = "datasets" // ingest, describe, refresh and drop datasets
	ToolsetSQL      = "sql"      // query_sql and export_query
	ToolsetVectors  = "vectors"  // indexes, embeddings, search_vectors, index_dataset
	ToolsetPathway  = "pathway"  // trace memory
	ToolsetMatrix   = "matrix"   // matrix_search, playbooks, code-review helpers
	ToolsetObserver = "observer" // record_event, observer_stats, list_events
)

// Toolsets are every toolset, in the order of the table.
var Toolsets = []string{ToolsetStorage, ToolsetDatasets, ToolsetSQL, ToolsetVectors, ToolsetPathway, ToolsetMatrix, ToolsetObserver}

// inToolset returns tools, each put in toolset set.
func inToolset(set string, tools []Tool) []Tool {
	for i := range tools {
		tools[i].Toolset = set
	}
	return tools
}

// CheckToolsets reports the first of names that is not a toolset, with the
// toolsets there are.
func CheckToolsets(names []string) error {
	for _, n := range names {
		if !slices.Contains(Toolsets, n) {
			return fmt.Errorf("no toolset %q; the toolsets are %s", n, strings.Join(Toolsets, ", "))
		}
	}
	return nil
}

// InToolsets returns the tools of all that are in one of toolsets.
func InToolsets(all []Tool, toolsets []string) []Tool {
	var out []Tool
	for _, t := range all {
		if slices.Contains(toolsets, t.Toolset) {
			out = append(out, t)
		}
	}
	return out
}

type toolsetsKey struct{}

// WithToolsets returns ctx that limits the MCP sessions whose messages it
// carries to the tools of toolsets, where the server has ToolsetFilter. No
// toolsets leave ctx as it is: every tool.
func WithToolsets(ctx context.Context, toolsets []string) context.Context {
	if len(toolsets) == 0 {
		return ctx
	}
	return context.WithValue(ctx, toolsetsKey{}, slices.Clone(toolsets))
}

// ToolsetFilter is the receiving middleware that shows a session only the
// tools of the toolsets its context carries (WithToolsets): tools/list
// leaves out the others and tools/call refuses them. A context without
// toolsets (a guest's socket, mcpd call) sees every tool. The filter goes by
// name, from the table, so that it serves a guest's proxy of the owner's
// tools as well as the owner's own server.
func ToolsetFilter(next mcp.MethodHandler) mcp.MethodHandler {
	toolsetOf := map[string]string{}
	for _, t := range All(nil) {
		toolsetOf[t.Name] = t.Toolset
	}
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		sets, ok := ctx.Value(toolsetsKey{}).([]string)
		if !ok {
			return next(ctx, method, req)
		}
		switch r := req.(type) {
		case *mcp.ListToolsRequest:
			res, err := next(ctx, method, req)
			if list, ok := res.(*mcp.ListToolsResult); ok {
				list.Tools = slices.DeleteFunc(slices.Clone(list.Tools), func(t *mcp.Tool) bool { return !slices.Contains(sets, toolsetOf[t.Name]) })
			}
			return res, err
		case *mcp.CallToolRequest:
			if set := toolsetOf[r.Params.Name]; !slices.Contains(sets, set) {
				if set == "" {
					return next(ctx, method, req) // not ours: the server says it has no such tool
				}
				return errorResult(fmt.Errorf("tool %q is in toolset %s, which this endpoint does not serve (it serves %s); it is at /mcp/%s when the server's [mcp] toolsets include it", r.Params.Name, set, strings.Join(sets, ", "), set)), nil
			}
		}
		return next(ctx, method, req)
	}
}
