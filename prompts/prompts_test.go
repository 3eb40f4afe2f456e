package prompts_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/catalog"
	"lakehouse/backends/embed"
	"lakehouse/backends/ingest"
	"lakehouse/backends/observer"
	"lakehouse/backends/pathway"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/store"
	"lakehouse/backends/vector"
	"lakehouse/prompts"
	"lakehouse/tools"
)

// openBackends opens every engine the prompts read over a temp folder.
func openBackends(t *testing.T) *tools.Backends {
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
	views := ingest.Views(cat, st)
	sql, err := sqlengine.New(sqlengine.Config{TempDir: filepath.Join(dir, "duckdb")}, st.Path(strings.TrimSuffix(catalog.DataPrefix, "/")), views)
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
	pw, err := pathway.Open(filepath.Join(dir, "pathway"), emb, pathway.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pw.Close() })
	obs, err := observer.Open(filepath.Join(dir, "observer"), observer.Config{EscalateAt: 2, OnEscalate: tools.Escalate})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { obs.Close() })
	return &tools.Backends{Store: st, Catalog: cat, Views: views, Ingest: in, SQL: sql, Vectors: vec, Embed: emb, Pathway: pw, Observer: obs}
}

// connect serves b as mcpd's newServer does (tools, resources, prompts,
// completions, the observer) to an in-memory client.
func connect(t *testing.T, b *tools.Backends) *mcp.ClientSession {
	t.Helper()
	res := tools.NewResources(b)
	s := mcp.NewServer(&mcp.Implementation{Name: "test"}, &mcp.ServerOptions{
		PageSize: tools.ResourcePageSize, CompletionHandler: prompts.Complete(b, res.Complete),
		SubscribeHandler: res.Subscribe, UnsubscribeHandler: res.Unsubscribe,
	})
	tools.Register(s, tools.All(b))
	res.Register(s)
	prompts.Register(s, b)
	tools.Observe(s, b.Observer)
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := s.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close(); ss.Wait() })
	return cs
}

// text joins the text of a prompt's messages, and lists the resources they link.
func text(res *mcp.GetPromptResult) (string, []string) {
	var sb strings.Builder
	var links []string
	for _, m := range res.Messages {
		switch c := m.Content.(type) {
		case *mcp.TextContent:
			sb.WriteString(c.Text + "\n")
		case *mcp.ResourceLink:
			links = append(links, c.URI)
		}
	}
	return sb.String(), links
}

// Every prompt is listed with described arguments, and gets; those that
// read the lakehouse show what is in it now.
func TestPrompts(t *testing.T) {
	b := openBackends(t)
	ctx := context.Background()
	cs := connect(t, b)
	if _, err := b.Ingest.Ingest(ctx, ingest.Request{Name: "movies", Format: "csv",
		Content: "title,genre,year,released\nSeven Samurai,Drama,1954,1954-04-26\nRan,Drama,1985,1985-06-01\n"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Vectors.Create(ctx, "docs", vector.Spec{Dim: 4, Metric: vector.Cosine}); err != nil {
		t.Fatal(err)
	}

	var names []string
	for p, err := range cs.Prompts(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, p.Name)
		if p.Description == "" {
			t.Errorf("%s has no description", p.Name)
		}
		for _, a := range p.Arguments {
			if a.Description == "" {
				t.Errorf("%s argument %s has no description", p.Name, a.Name)
			}
		}
	}
	if want := prompts.Names(); !slices.Equal(names, want) || len(want) != 5 {
		t.Errorf("prompts = %v, want %v", names, want)
	}

	get := func(name string, args map[string]string) (string, []string) {
		t.Helper()
		res, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return text(res)
	}
	got, links := get("explore_dataset", map[string]string{"name": "movies"})
	for _, want := range []string{"| title | VARCHAR |", "| year | BIGINT |", "Seven Samurai", "SUMMARIZE \"movies\"", `SELECT "title", count(*)`, "date_trunc('month', \"released\")", "query_sql"} {
		if !strings.Contains(got, want) {
			t.Errorf("explore_dataset lacks %q:\n%s", want, got)
		}
	}
	if !slices.Equal(links, []string{tools.DatasetURI("movies")}) {
		t.Errorf("explore_dataset links %v", links)
	}

	got, _ = get("answer_from_data", map[string]string{"question": "Which genre is oldest?"})
	for _, want := range []string{"Which genre is oldest?", "movies (2 rows, 4 columns, v1)", "list_datasets", "get_manifest", "query_sql", "name@vN"} {
		if !strings.Contains(got, want) {
			t.Errorf("answer_from_data lacks %q:\n%s", want, got)
		}
	}
	got, _ = get("semantic_lookup", map[string]string{"question": "samurai films", "corpora": "docs"})
	for _, want := range []string{"samurai films", `corpora: ["docs"]`, "matrix_search", "record_playbook"} {
		if !strings.Contains(got, want) {
			t.Errorf("semantic_lookup lacks %q:\n%s", want, got)
		}
	}
	got, _ = get("remember_outcome", map[string]string{"task": "ingest_dataset", "outcome": "failure: the header was missing"})
	for _, want := range []string{"add_trace", "record_event", "record_playbook", "success: false", `"outcome:failure"`} {
		if !strings.Contains(got, want) {
			t.Errorf("remember_outcome lacks %q:\n%s", want, got)
		}
	}

	got, _ = get("review_failures", nil)
	if !strings.Contains(got, "No failures") {
		t.Errorf("review_failures with none:\n%s", got)
	}
	for range 2 {
		if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_manifest", Arguments: map[string]any{"name": "nope"}}); err != nil || !res.IsError {
			t.Fatalf("get_manifest nope: %v %+v", err, res)
		}
	}
	got, links = get("review_failures", nil)
	for _, want := range []string{"| get_manifest | 2 | true |", `dataset "nope" not found`, "list_events", "search_traces"} {
		if !strings.Contains(got, want) {
			t.Errorf("review_failures lacks %q:\n%s", want, got)
		}
	}
	if !slices.Equal(links, []string{tools.EscalationsURI}) {
		t.Errorf("review_failures links %v", links)
	}

	// Mistakes come back as errors that say what to do.
	for _, c := range []struct {
		name string
		args map[string]string
		want string
	}{
		{"explore_dataset", nil, `needs argument "name"`},
		{"explore_dataset", map[string]string{"name": "nope"}, "movies"},
		{"explore_dataset", map[string]string{"name": "movies", "x": "1"}, `no argument "x"`},
		{"semantic_lookup", map[string]string{"question": "q", "corpora": "docs,nope"}, `corpus "nope" does not exist; list_corpora shows docs`},
	} {
		_, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: c.name, Arguments: c.args})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: %v, want %q", c.name, c.args, err, c.want)
		}
	}
}

// Every kind of prompt argument completes.
func TestComplete(t *testing.T) {
	b := openBackends(t)
	ctx := context.Background()
	cs := connect(t, b)
	for _, name := range []string{"sales", "salaries"} {
		if _, err := b.Ingest.Ingest(ctx, ingest.Request{Name: name, Format: "csv", Content: "a\n1\n"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"docs", "code"} {
		if _, err := b.Vectors.Create(ctx, name, vector.Spec{Dim: 4, Metric: vector.Cosine}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Store.Put(ctx, "reports/q1.csv", strings.NewReader("x"), "", 0); err != nil {
		t.Fatal(err)
	}
	tr, _, err := b.Pathway.Add(ctx, json.RawMessage(`{}`), "t", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	complete := func(ref *mcp.CompleteReference, arg, value string) []string {
		t.Helper()
		res, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: ref, Argument: mcp.CompleteParamsArgument{Name: arg, Value: value}})
		if err != nil {
			t.Fatalf("complete %v %s=%q: %v", ref, arg, value, err)
		}
		return res.Completion.Values
	}
	prompt := func(name string) *mcp.CompleteReference {
		return &mcp.CompleteReference{Type: "ref/prompt", Name: name}
	}
	resource := func(uri string) *mcp.CompleteReference { return &mcp.CompleteReference{Type: "ref/resource", URI: uri} }
	for _, c := range []struct {
		ref        *mcp.CompleteReference
		arg, value string
		want       []string
	}{
		{prompt("explore_dataset"), "name", "sal", []string{"salaries", "sales"}},
		{prompt("semantic_lookup"), "corpora", "d", []string{"docs"}},
		{prompt("semantic_lookup"), "corpora", "docs,", []string{"docs,code"}},
		{prompt("semantic_lookup"), "question", "what does c", []string{"What does code say about "}},
		{prompt("answer_from_data"), "question", "what does sales", []string{"What does sales hold?"}},
		{prompt("remember_outcome"), "task", "ingest_", []string{"ingest_dataset"}},
		{prompt("remember_outcome"), "outcome", "f", []string{"failure"}},
		{prompt("review_failures"), "x", "", []string{}},
		{resource(tools.DatasetTemplate), "name", "sa", []string{"salaries", "sales"}},
		{resource(tools.IndexTemplate), "name", "c", []string{"code"}},
		{resource(tools.ObjectTemplate), "key", "re", []string{"reports/"}},
		{resource(tools.TraceTemplate), "uid", tr.UID[:6], []string{tr.UID}},
	} {
		if got := complete(c.ref, c.arg, c.value); !slices.Equal(got, c.want) {
			t.Errorf("complete %s%s %s=%q = %v, want %v", c.ref.Name, c.ref.URI, c.arg, c.value, got, c.want)
		}
	}
}
