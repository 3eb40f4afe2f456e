package tools

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/catalog"
	"lakehouse/backends/embed"
	"lakehouse/backends/ingest"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/store"
	"lakehouse/backends/vector"
)

// datasetBackends opens the engines index_dataset uses over a temp folder,
// embedding with the hash embedder.
func datasetBackends(t *testing.T) *Backends {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenFS(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat, err := catalog.Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ingest.Config{TempDir: filepath.Join(st.TempDir(), "ingest"), ObjectsDir: st.DataDir()}, cat, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	sql, err := sqlengine.New(sqlengine.Config{TempDir: filepath.Join(dir, "duckdb")}, st.Path(strings.TrimSuffix(catalog.DataPrefix, "/")), ingest.Views(cat, st))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sql.Close() })
	vec, err := vector.Open(filepath.Join(dir, "vectors"), vector.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vec.Close() })
	emb, err := embed.New(embed.Config{Provider: "hash"})
	if err != nil {
		t.Fatal(err)
	}
	return &Backends{Store: st, Catalog: cat, Views: ingest.Views(cat, st), Ingest: in, SQL: sql, Vectors: vec, Embed: emb}
}

// index_dataset over MCP: a template and no id column; progress carries the
// version's row count as total; text_column and text_columns together are
// the caller's mistake.
func TestIndexDataset_Session(t *testing.T) {
	b := datasetBackends(t)
	progress := make(chan *mcp.ProgressNotificationParams, 10)
	cs := connect(t, vectorTools(b), &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) { progress <- req.Params },
	})
	ctx := context.Background()
	csv := "Title,Major Genre\nSeven Samurai,Drama\nRan,Drama\nRan,Drama\n"
	if _, err := b.Ingest.Ingest(ctx, ingest.Request{Name: "movies", Content: csv, Format: "csv"}, nil); err != nil {
		t.Fatal(err)
	}
	params := &mcp.CallToolParams{Name: "index_dataset", Arguments: map[string]any{"dataset": "movies", "text_template": "{Title} ({Major Genre})"}}
	params.SetProgressToken("ix")
	res, err := cs.CallTool(ctx, params)
	if err != nil || res.IsError {
		t.Fatalf("index_dataset: %v %v", err, res)
	}
	out := res.StructuredContent.(map[string]any)
	if out["rows"] != 3.0 || out["embedded"] != 3.0 || out["count"] != 3.0 || out["version"] != 1.0 {
		t.Errorf("index_dataset = %v", out)
	}
	select {
	case p := <-progress:
		if p.Progress != 3 || p.Total != 3 || p.ProgressToken != "ix" {
			t.Errorf("progress = %+v", p)
		}
	case <-time.After(10 * time.Second):
		t.Error("no progress notification")
	}

	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "index_dataset", Arguments: map[string]any{"dataset": "movies", "text_column": "Title", "text_columns": []string{"Title"}}})
	if err != nil || !res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "not both") {
		t.Errorf("text_column with text_columns: %v %v", err, res)
	}
}
