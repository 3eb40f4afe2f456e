package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/ingest"
	"lakehouse/backends/observer"
	"lakehouse/backends/pathway"
	"lakehouse/backends/vector"
)

// resourceBackends are datasetBackends with pathway memory and an observer
// that escalates a cluster at its second failure.
func resourceBackends(t *testing.T) *Backends {
	t.Helper()
	b := datasetBackends(t)
	pw, err := pathway.Open(t.TempDir(), b.Embed, pathway.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pw.Close() })
	obs, err := observer.Open(t.TempDir(), observer.Config{EscalateAt: 2, OnEscalate: Escalate})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { obs.Close() })
	b.Pathway, b.Observer = pw, obs
	return b
}

// connectResources serves b's tools and resources as mcpd does, with
// resources/list pages of pageSize and a fast poll, to a client made with
// opts.
func connectResources(t *testing.T, b *Backends, pageSize int, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	res := NewResources(b)
	res.PollEvery = 20 * time.Millisecond
	s := mcp.NewServer(&mcp.Implementation{Name: "test"}, &mcp.ServerOptions{
		PageSize: pageSize, CompletionHandler: res.Complete,
		SubscribeHandler: res.Subscribe, UnsubscribeHandler: res.Unsubscribe,
	})
	Register(s, All(b))
	res.Register(s)
	Observe(s, b.Observer)
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := s.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c"}, opts).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close(); ss.Wait() })
	return cs
}

func mustIngest(t *testing.T, b *Backends, name, csv, mode string) {
	t.Helper()
	if _, err := b.Ingest.Ingest(context.Background(), ingest.Request{Name: name, Content: csv, Format: "csv", Mode: mode}, nil); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, cs *mcp.ClientSession, uri string) []*mcp.ResourceContents {
	t.Helper()
	res, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: uri})
	if err != nil {
		t.Fatalf("read %s: %v", uri, err)
	}
	return res.Contents
}

// Every kind of resource, read over MCP: text, binary and cut objects, a
// dataset's manifest and CSV sample, the dataset list, an index, a trace,
// the escalations; and what a missing one says.
func TestResources_Read(t *testing.T) {
	b := resourceBackends(t)
	ctx := context.Background()
	cs := connectResources(t, b, 0, nil)

	mustIngest(t, b, "sales", "region,amount\nnorth,10\nsouth,20\n", "")
	if _, err := b.Store.Put(ctx, "notes/a.md", strings.NewReader("# héllo"), "text/markdown", 0); err != nil {
		t.Fatal(err)
	}
	binary := []byte{0x89, 'P', 'N', 'G', 0, 0xff, 0xfe}
	if _, err := b.Store.Put(ctx, "img/x.png", bytes.NewReader(binary), "", 0); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("é", ResourceObjectBytes) // 2 bytes a rune: the cut falls mid-rune or on one
	if _, err := b.Store.Put(ctx, "big.txt", strings.NewReader(big), "", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Vectors.Create(ctx, "docs", vector.Spec{Dim: 4, Metric: vector.Cosine}); err != nil {
		t.Fatal(err)
	}
	tr, _, err := b.Pathway.Add(ctx, json.RawMessage(`{"tried":"x"}`), "tried x", []string{"t"}, "")
	if err != nil {
		t.Fatal(err)
	}

	if _, err := b.Store.Put(ctx, "odd keys/100% done?.txt", strings.NewReader("odd"), "", 0); err != nil {
		t.Fatal(err)
	}
	if c := read(t, cs, ObjectURI("odd keys/100% done?.txt")); c[0].Text != "odd" {
		t.Errorf("object with an escaped key = %+v", c[0])
	}
	c := read(t, cs, ObjectURI("notes/a.md"))
	if len(c) != 1 || c[0].Text != "# héllo" || c[0].Blob != nil || !strings.HasPrefix(c[0].MIMEType, "text/markdown") {
		t.Errorf("text object = %+v", c[0])
	}
	c = read(t, cs, ObjectURI("img/x.png"))
	if len(c) != 1 || !bytes.Equal(c[0].Blob, binary) || c[0].Text != "" || c[0].MIMEType != "image/png" {
		t.Errorf("binary object = %+v", c[0])
	}
	c = read(t, cs, ObjectURI("big.txt"))
	if n := len(c[0].Text); n > ResourceObjectBytes || n < ResourceObjectBytes-4 || c[0].Meta["truncated"] != true || c[0].Meta["size"] != float64(len(big)) {
		t.Errorf("cut object: %d bytes, meta %v", n, c[0].Meta)
	}

	c = read(t, cs, DatasetURI("sales"))
	if len(c) != 2 || c[0].MIMEType != "application/json" || c[1].MIMEType != "text/csv" {
		t.Fatalf("dataset contents = %+v", c)
	}
	var m manifestOut
	if err := json.Unmarshal([]byte(c[0].Text), &m); err != nil || m.Name != "sales" || len(m.Columns) != 2 || m.Columns[0].Name != "region" || m.Rows != 2 {
		t.Errorf("manifest = %+v (%v)", m, err)
	}
	if !strings.HasPrefix(c[1].Text, "region,amount\n") || !strings.Contains(c[1].Text, "south,20") {
		t.Errorf("CSV sample = %q", c[1].Text)
	}

	c = read(t, cs, DatasetsURI)
	if !strings.Contains(c[0].Text, `"name": "sales"`) {
		t.Errorf("datasets = %s", c[0].Text)
	}
	c = read(t, cs, IndexURI("docs"))
	if !strings.Contains(c[0].Text, `"dims": 4`) || !strings.Contains(c[0].Text, `"metric": "cosine"`) {
		t.Errorf("index = %s", c[0].Text)
	}
	c = read(t, cs, TraceURI(tr.UID))
	if !strings.Contains(c[0].Text, `"tried x"`) || !strings.Contains(c[0].Text, tr.UID) {
		t.Errorf("trace = %s", c[0].Text)
	}
	c = read(t, cs, EscalationsURI)
	if !strings.Contains(c[0].Text, `"escalations": []`) {
		t.Errorf("escalations = %s", c[0].Text)
	}

	for _, uri := range []string{DatasetURI("nope"), ObjectURI("no/such.txt"), IndexURI("nope"), TraceURI("nope")} {
		_, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
		var je *jsonrpc.Error
		if !errors.As(err, &je) || je.Code != mcp.CodeResourceNotFound {
			t.Errorf("read %s: %v, want resource not found", uri, err)
		}
	}
	if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: DatasetURI("nope")}); err == nil || !strings.Contains(err.Error(), "sales") {
		t.Errorf("a missing dataset's error names none there are: %v", err)
	}
}

// resources/list pages through the datasets and indexes; the templates
// are listed beside them.
func TestResources_ListPages(t *testing.T) {
	b := resourceBackends(t)
	ctx := context.Background()
	for _, name := range []string{"a1", "a2", "a3", "a4", "a5"} {
		mustIngest(t, b, name, "x\n1\n", "")
	}
	if _, err := b.Vectors.Create(ctx, "docs", vector.Spec{Dim: 4, Metric: vector.Cosine}); err != nil {
		t.Fatal(err)
	}
	cs := connectResources(t, b, 2, nil)

	var uris []string
	pages := 0
	params := &mcp.ListResourcesParams{}
	for {
		res, err := cs.ListResources(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(res.Resources) > 2 {
			t.Errorf("page of %d resources", len(res.Resources))
		}
		for _, r := range res.Resources {
			uris = append(uris, r.URI)
		}
		if res.NextCursor == "" {
			break
		}
		params.Cursor = res.NextCursor
	}
	want := []string{DatasetsURI, EscalationsURI, DatasetURI("a1"), DatasetURI("a2"), DatasetURI("a3"), DatasetURI("a4"), DatasetURI("a5"), IndexURI("docs")}
	slices.Sort(uris)
	slices.Sort(want)
	if !slices.Equal(uris, want) || pages != 4 {
		t.Errorf("%d pages: %v\nwant %v", pages, uris, want)
	}
	var templates []string
	for rt, err := range cs.ResourceTemplates(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		templates = append(templates, rt.URITemplate)
	}
	slices.Sort(templates)
	if want := []string{DatasetTemplate, IndexTemplate, ObjectTemplate, TraceTemplate}; !slices.Equal(templates, want) {
		t.Errorf("templates = %v", templates)
	}
}

// wait returns the next value of ch that ok accepts, failing after 10 s.
func wait[T any](t *testing.T, ch <-chan T, what string, ok func(T) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case v := <-ch:
			if ok(v) {
				return
			}
		case <-deadline:
			t.Fatalf("no %s", what)
		}
	}
}

// list_changed after an ingest and a drop through a tool; updated after a
// subscriber's dataset gets a new version through the tool, and through the
// engine directly (another front door: found by the poll).
func TestResources_Notifications(t *testing.T) {
	b := resourceBackends(t)
	ctx := context.Background()
	listChanged := make(chan struct{}, 100)
	updated := make(chan string, 100)
	cs := connectResources(t, b, 0, &mcp.ClientOptions{
		ResourceListChangedHandler: func(context.Context, *mcp.ResourceListChangedRequest) { listChanged <- struct{}{} },
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			updated <- req.Params.URI
		},
	})
	call := func(name string, args map[string]any) {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil || res.IsError {
			t.Fatalf("%s: %v %+v", name, err, res)
		}
	}
	hasSales := func() bool {
		for r, err := range cs.Resources(ctx, nil) {
			if err == nil && r.URI == DatasetURI("sales") {
				return true
			}
		}
		return false
	}

	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: DatasetsURI}); err != nil {
		t.Fatal(err)
	}
	call("ingest_dataset", map[string]any{"name": "sales", "source": map[string]any{"content": "a,b\n1,2\n"}, "format": "csv"})
	wait(t, listChanged, "list_changed after ingest_dataset", func(struct{}) bool { return true })
	wait(t, updated, "the dataset list updated after ingest_dataset", func(uri string) bool { return uri == DatasetsURI })
	if !hasSales() {
		t.Error("sales is not listed after its ingest")
	}

	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: DatasetURI("sales")}); err != nil {
		t.Fatal(err)
	}
	call("ingest_dataset", map[string]any{"name": "sales", "source": map[string]any{"content": "a,b\n3,4\n"}, "format": "csv", "mode": "append"})
	wait(t, updated, "updated after a new version", func(uri string) bool { return uri == DatasetURI("sales") })

	mustIngest(t, b, "sales", "a,b\n5,6\n", "append") // not through this server: the poll finds it
	wait(t, updated, "updated after a new version from elsewhere", func(uri string) bool { return uri == DatasetURI("sales") })

	// A subscription that will hear nothing is accepted, and leaves the
	// list_changed subscription alone.
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: ObjectURI("a.txt")}); err != nil {
		t.Error(err)
	}
	if err := NewResources(b).Subscribe(ctx, &mcp.SubscribeRequest{Params: &mcp.SubscribeParams{URI: "file:///etc/passwd"}}); err == nil {
		t.Error("a subscription to another server's URI is accepted")
	}

	call("drop_dataset", map[string]any{"name": "sales"})
	wait(t, listChanged, "list_changed after drop_dataset", func(struct{}) bool { return !hasSales() })

	// An index comes (list_changed) and, subscribed to, tells of new items.
	call("create_index", map[string]any{"name": "docs"})
	wait(t, listChanged, "list_changed after create_index", func(struct{}) bool { return true })
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: IndexURI("docs")}); err != nil {
		t.Fatal(err)
	}
	call("upsert_vectors", map[string]any{"index": "docs", "items": []map[string]any{{"id": "1", "text": "hello"}}})
	wait(t, updated, "updated after upsert_vectors", func(uri string) bool { return uri == IndexURI("docs") })
}

// A failure cluster that reaches the threshold updates the escalations
// resource for its subscribers, and is in it.
func TestResources_Escalations(t *testing.T) {
	b := resourceBackends(t)
	ctx := context.Background()
	updated := make(chan string, 100)
	cs := connectResources(t, b, 0, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			updated <- req.Params.URI
		},
	})
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: EscalationsURI}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_object", Arguments: map[string]any{"key": "missing.txt"}})
		if err != nil || !res.IsError {
			t.Fatalf("get_object of a missing key: %v %+v", err, res)
		}
	}
	wait(t, updated, "escalations updated", func(uri string) bool { return uri == EscalationsURI })
	var out escalationsOut
	if err := json.Unmarshal([]byte(read(t, cs, EscalationsURI)[0].Text), &out); err != nil {
		t.Fatal(err)
	}
	if out.Count != 1 || len(out.Escalations) != 1 || out.Escalations[0].Endpoint != "get_object" || out.Escalations[0].Count != 2 {
		t.Errorf("escalations = %+v", out)
	}
}

// The variables of every template complete: dataset and index names,
// object keys a segment at a time (system areas only when asked), trace uids.
func TestResources_Complete(t *testing.T) {
	b := resourceBackends(t)
	ctx := context.Background()
	cs := connectResources(t, b, 0, nil)
	mustIngest(t, b, "sales", "a\n1\n", "")
	mustIngest(t, b, "salaries", "a\n1\n", "")
	mustIngest(t, b, "other", "a\n1\n", "")
	if _, err := b.Vectors.Create(ctx, "docs", vector.Spec{Dim: 4, Metric: vector.Cosine}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"reports/q1.csv", "reports/q2.csv", "reports/old/q0.csv", "readme.md", "x.txt"} {
		if _, err := b.Store.Put(ctx, key, strings.NewReader("x"), "", 0); err != nil {
			t.Fatal(err)
		}
	}
	tr, _, err := b.Pathway.Add(ctx, json.RawMessage(`{}`), "t", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	complete := func(template, arg, value string) []string {
		t.Helper()
		res, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/resource", URI: template}, Argument: mcp.CompleteParamsArgument{Name: arg, Value: value}})
		if err != nil {
			t.Fatalf("complete %s %s=%q: %v", template, arg, value, err)
		}
		return res.Completion.Values
	}
	for _, c := range []struct {
		template, arg, value string
		want                 []string
	}{
		{DatasetTemplate, "name", "sa", []string{"salaries", "sales"}},
		{DatasetTemplate, "name", "", []string{"other", "salaries", "sales"}},
		{IndexTemplate, "name", "d", []string{"docs"}},
		{ObjectTemplate, "key", "", []string{"readme.md", "reports/", "x.txt"}},
		{ObjectTemplate, "key", "rep", []string{"reports/"}},
		{ObjectTemplate, "key", "reports/", []string{"reports/old/", "reports/q1.csv", "reports/q2.csv"}},
		{ObjectTemplate, "key", "_cat", []string{"_catalog/"}},
		{TraceTemplate, "uid", tr.UID[:4], []string{tr.UID}},
		{TraceTemplate, "nope", "", []string{}},
	} {
		if got := complete(c.template, c.arg, c.value); !slices.Equal(got, c.want) {
			t.Errorf("complete %s %s=%q = %v, want %v", c.template, c.arg, c.value, got, c.want)
		}
	}
}
