package tools

import (
	"encoding/json"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// resultLinks gives, for the tools whose results name a thing that is also
// a resource (see resources.go), the URIs of those resources, read from the
// structured result; Register adds them to the result as resource links, so
// that a client can follow one to read or subscribe to what the call made.
var resultLinks = map[string]func(out map[string]any) []string{
	"put_object":      field("key", ObjectURI),
	"export_query":    field("key", ObjectURI),
	"ingest_dataset":  field("name", DatasetURI),
	"refresh_dataset": field("name", DatasetURI),
	"get_manifest":    field("name", DatasetURI),
	"create_index":    field("name", IndexURI),
	"add_trace":       field("uid", TraceURI),
	"update_trace":    field("uid", TraceURI),
	"revise_trace":    field("uid", TraceURI),
	"get_trace":       field("uid", TraceURI),
}

// field reads the string field name of a result as the URI uri makes of it.
func field(name string, uri func(string) string) func(map[string]any) []string {
	return func(out map[string]any) []string {
		if v, ok := out[name].(string); ok && v != "" {
			return []string{uri(v)}
		}
		return nil
	}
}

// links are the resource links of tool's result, whose structured content
// is structured.
func links(tool string, structured json.RawMessage) []mcp.Content {
	uris := resultLinks[tool]
	if uris == nil {
		return nil
	}
	var out map[string]any
	if json.Unmarshal(structured, &out) != nil {
		return nil
	}
	var content []mcp.Content
	for _, uri := range uris(out) {
		content = append(content, &mcp.ResourceLink{URI: uri, Name: uri})
	}
	return content
}
