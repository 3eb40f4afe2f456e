package tools

// Resources: what an MCP client can read without calling a tool.
//
// Datasets and vector indexes are registered on the server one resource
// each, so resources/list pages through them (ServerOptions.PageSize) and the
// SDK sends notifications/resources/list_changed when one is added or
// removed. Objects and traces are too many to list: they are reached through
// their templates, whose variables complete.
//
// How the server learns of changes, the cheapest honest way we have:
//
//   - After every call of a tool that changes data, refresh compares the catalog
//     and the vector indexes with what is registered. Both are in memory;
//     the catalog's Generation counter (when the engine has one) makes an
//     unchanged catalog one read lock.
//   - Changes made through another front door (the REST gateway, or any
//     other caller of the engines) are found by the same refresh on a
//     ticker, which runs only while the server has a session and stops with
//     the last one.
//   - Escalations come from the observer's OnEscalate hook (Escalate), which
//     tells every Resources of the process.
//
// A dataset's new version (or an index's new item count) is sent as
// notifications/resources/updated to the sessions subscribed to it; the SDK
// sends it only to them.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"weak"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/errs"
	"lakehouse/backends/observer"
	"lakehouse/backends/pathway"
	"lakehouse/backends/sqlengine"
	"lakehouse/backends/store"
)

// The URIs and URI templates of the resources.
const (
	DatasetsURI     = "lakehouse://datasets"
	EscalationsURI  = "lakehouse://observer/escalations"
	DatasetTemplate = "lakehouse://datasets/{name}"
	ObjectTemplate  = "lakehouse://objects/{+key}"
	IndexTemplate   = "lakehouse://indexes/{name}"
	TraceTemplate   = "lakehouse://traces/{uid}"

	datasetPrefix = "lakehouse://datasets/"
	objectPrefix  = "lakehouse://objects/"
	indexPrefix   = "lakehouse://indexes/"
	tracePrefix   = "lakehouse://traces/"
)

// Sizes of what the resources return.
const (
	// ResourcePageSize is the page size for resources/list (and the other
	// lists) that mcpd's server uses.
	ResourcePageSize = 100
	// ResourceObjectBytes caps the content of an object resource: larger
	// objects are cut, and the content's _meta says so.
	ResourceObjectBytes = 1 << 20
	// resourceSampleRows is the size of a dataset resource's CSV sample.
	resourceSampleRows = 20
	// resourceEscalations caps the escalations resource.
	resourceEscalations = 50
	// DefaultPollEvery is how often Resources looks for changes made by
	// other front doors while the server has a session.
	DefaultPollEvery = 2 * time.Second
)

// DatasetURI is the URI of dataset name's resource.
func DatasetURI(name string) string { return datasetPrefix + name }

// IndexURI is the URI of vector index name's resource.
func IndexURI(name string) string { return indexPrefix + url.PathEscape(name) }

// ObjectURI is the URI of the object with key, each segment escaped.
func ObjectURI(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return objectPrefix + strings.Join(segs, "/")
}

// TraceURI is the URI of the trace uid.
func TraceURI(uid string) string { return tracePrefix + url.PathEscape(uid) }

// generational is implemented by a catalog whose Generation changes
// whenever a dataset is created, changed or dropped (catalog.Catalog).
type generational interface{ Generation() uint64 }

// Resources serves the lakehouse's resources on one MCP server: make it with
// NewResources, pass its Subscribe, Unsubscribe and Complete to the server's
// options, and Register it once the server exists.
type Resources struct {
	b *Backends
	s *mcp.Server

	// PollEvery is how often changes are looked for while the server has
	// a session; 0 means DefaultPollEvery. Set it before Register.
	PollEvery time.Duration

	mu       sync.Mutex     // held by changes
	gen      uint64         // the catalog generation last seen
	seen     bool           // whether gen and datasets are known
	datasets map[string]int // dataset name -> current version, as registered
	indexes  map[string]int // index name -> item count, as registered
	polling  atomic.Bool
	readOnly map[string]bool // tools that change nothing: no refresh after them
}

// NewResources returns the resources of b; nil b serves none.
func NewResources(b *Backends) *Resources {
	if b == nil {
		b = &Backends{}
	}
	r := &Resources{b: b, datasets: map[string]int{}, indexes: map[string]int{}, readOnly: map[string]bool{}}
	for _, t := range All(nil) {
		r.readOnly[t.Name] = t.ReadOnly()
	}
	return r
}

// Register adds the resources and templates to s, and the middleware that
// keeps the per-dataset and per-index resources in step with the engines.
func (r *Resources) Register(s *mcp.Server) {
	r.s = s
	s.AddResource(&mcp.Resource{
		URI: DatasetsURI, Name: "datasets", Title: "Datasets", MIMEType: "application/json",
		Description: "Every dataset: name, rows, column count, current version, last update (as list_datasets). Subscribe to hear when one is added, dropped or gets a new version.",
	}, r.readDatasets)
	s.AddResource(&mcp.Resource{
		URI: EscalationsURI, Name: "escalations", Title: "Observer escalations", MIMEType: "application/json",
		Description: fmt.Sprintf("Failure clusters that reached the escalation threshold (equal errors of one tool, repeated), newest last, at most %d. Subscribe to hear when a new one escalates.", resourceEscalations),
	}, r.readEscalations)
	s.AddResourceTemplate(&mcp.ResourceTemplate{
		URITemplate: DatasetTemplate, Name: "dataset", Title: "Dataset", MIMEType: "application/json",
		Description: fmt.Sprintf("A dataset's manifest as JSON (as get_manifest), then a CSV sample of up to %d rows. Subscribe to hear of new versions.", resourceSampleRows),
	}, r.readDataset)
	s.AddResourceTemplate(&mcp.ResourceTemplate{
		URITemplate: ObjectTemplate, Name: "object", Title: "Object",
		Description: fmt.Sprintf("An object of the store by key, with its content type: UTF-8 text as text, anything else as a blob. At most the first %d bytes; a cut content says truncated in _meta, and get_object with max_bytes reads more.", ResourceObjectBytes),
	}, r.readObject)
	s.AddResourceTemplate(&mcp.ResourceTemplate{
		URITemplate: IndexTemplate, Name: "index", Title: "Vector index", MIMEType: "application/json",
		Description: "A vector index: dims, metric, embedding model, item count, engine, creation time (as list_indexes).",
	}, r.readIndex)
	s.AddResourceTemplate(&mcp.ResourceTemplate{
		URITemplate: TraceTemplate, Name: "trace", Title: "Trace", MIMEType: "application/json",
		Description: "A pathway trace by uid, whole, whatever its state (as get_trace).",
	}, r.readTrace)
	r.refresh(context.Background())
	s.AddReceivingMiddleware(r.middleware)
	register(r)
}

// middleware refreshes after each call of a tool that changes data (which
// may have made, changed or dropped a dataset or an index) and before
// resources/list, and keeps the poll running while a session sends requests.
func (r *Resources) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		r.poll()
		if method == "resources/list" {
			r.refresh(ctx)
		}
		res, err := next(ctx, method, req)
		if call, ok := req.(*mcp.CallToolRequest); ok && method == "tools/call" && !r.readOnly[call.Params.Name] {
			r.refresh(ctx)
		}
		return res, err
	}
}

// poll starts the ticker unless it runs. It stops by itself when the server
// has no session left.
func (r *Resources) poll() {
	if !r.polling.CompareAndSwap(false, true) {
		return
	}
	every := r.PollEvery
	if every <= 0 {
		every = DefaultPollEvery
	}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for range t.C {
			if !r.hasSessions() {
				r.polling.Store(false)
				return
			}
			r.refresh(context.Background())
		}
	}()
}

func (r *Resources) hasSessions() bool {
	for range r.s.Sessions() {
		return true
	}
	return false
}

// refresh registers the datasets and indexes that appeared, removes those
// that went, and tells subscribers of those that changed.
func (r *Resources) refresh(ctx context.Context) {
	if r.s == nil {
		return
	}
	for _, uri := range r.changes() { // sent unlocked: a slow client must not hold up the next refresh
		_ = r.s.ResourceUpdated(context.WithoutCancel(ctx), &mcp.ResourceUpdatedNotificationParams{URI: uri})
	}
}

// changes brings the registered resources up to date and returns the URIs
// of the resources that changed.
func (r *Resources) changes() (updated []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.b.Catalog != nil {
		g, hasGen := r.b.Catalog.(generational)
		if !hasGen || !r.seen || g.Generation() != r.gen {
			if hasGen {
				r.gen = g.Generation() // before List: a change meanwhile is seen next time
			}
			now := map[string]int{}
			for _, m := range r.b.Catalog.List() {
				now[m.Name] = m.Current().Version
			}
			changed, moved := r.sync(r.datasets, now, DatasetURI, func(name string) *mcp.Resource {
				return &mcp.Resource{URI: DatasetURI(name), Name: name, Title: "Dataset " + name, MIMEType: "application/json",
					Description: fmt.Sprintf("Dataset %s: its manifest (JSON), then a CSV sample of up to %d rows.", name, resourceSampleRows)}
			}, r.readDataset)
			updated = append(updated, changed...)
			if moved {
				updated = append(updated, DatasetsURI)
			}
			r.datasets, r.seen = now, true
		}
	}
	if r.b.Vectors != nil {
		now := map[string]int{}
		for _, ix := range r.b.Vectors.List() {
			now[ix.Name] = ix.Count
		}
		changed, _ := r.sync(r.indexes, now, IndexURI, func(name string) *mcp.Resource {
			return &mcp.Resource{URI: IndexURI(name), Name: name, Title: "Vector index " + name, MIMEType: "application/json",
				Description: fmt.Sprintf("Vector index %s: dims, metric, model, item count, engine.", name)}
		}, r.readIndex)
		updated = append(updated, changed...)
		r.indexes = now
	}
	return updated
}

// sync brings the resources registered for old (name -> a version or
// count) to now. It returns the URIs of the ones that changed or went, and
// whether any changed, went or came.
func (r *Resources) sync(old, now map[string]int, uri func(string) string, resource func(string) *mcp.Resource, h mcp.ResourceHandler) (updated []string, moved bool) {
	var gone []string
	for name := range old {
		if _, ok := now[name]; !ok {
			gone = append(gone, uri(name))
		}
	}
	if len(gone) > 0 {
		slices.Sort(gone)
		r.s.RemoveResources(gone...)
		updated = append(updated, gone...)
	}
	for _, name := range sortedKeys(now) {
		v, ok := old[name]
		switch {
		case !ok:
			r.s.AddResource(resource(name), h)
			moved = true
		case v != now[name]:
			updated = append(updated, uri(name))
		}
	}
	return updated, moved || len(updated) > 0
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Subscribe accepts subscriptions to the lakehouse's resources. Updates
// are sent for the dataset list, a dataset, an index and the escalations;
// a subscription to an object or a trace is accepted but hears nothing.
// It is not refused: under protocol 2026-07-28 a client does not see the
// refusal, and go-sdk v1.8.0 then also ends the session's list_changed
// subscription (the deferred cleanup in Server.subscriptionsListen).
func (r *Resources) Subscribe(_ context.Context, req *mcp.SubscribeRequest) error {
	if !strings.HasPrefix(req.Params.URI, "lakehouse://") {
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf(
			"%s is not a resource of this server; subscribe to %s, %s, %s or %s", req.Params.URI, DatasetsURI, DatasetTemplate, IndexTemplate, EscalationsURI)}
	}
	r.poll()
	return nil
}

// Unsubscribe ends a subscription; the SDK keeps the list of subscribers.
func (r *Resources) Unsubscribe(context.Context, *mcp.UnsubscribeRequest) error { return nil }

// Escalations: every Resources of the process hears of each escalation (a
// process has one observer).
var resourceSets struct {
	sync.Mutex
	list []weak.Pointer[Resources]
}

func register(r *Resources) {
	resourceSets.Lock()
	defer resourceSets.Unlock()
	resourceSets.list = slices.DeleteFunc(resourceSets.list, func(p weak.Pointer[Resources]) bool { return p.Value() == nil })
	resourceSets.list = append(resourceSets.list, weak.Make(r))
}

// escalated tells the subscribers of the escalations resource, on every
// server, that a failure cluster has escalated.
func escalated(ctx context.Context) {
	resourceSets.Lock()
	var live []*Resources
	for _, p := range resourceSets.list {
		if r := p.Value(); r != nil {
			live = append(live, r)
		}
	}
	resourceSets.Unlock()
	for _, r := range live {
		_ = r.s.ResourceUpdated(context.WithoutCancel(ctx), &mcp.ResourceUpdatedNotificationParams{URI: EscalationsURI})
	}
}

// resourceError turns an engine's error into the JSON-RPC error a client
// reads: a missing thing is "resource not found" with the engine's words.
func resourceError(uri string, err error) error {
	switch errs.KindOf(err) {
	case errs.NotFound:
		return &jsonrpc.Error{Code: mcp.CodeResourceNotFound, Message: err.Error(), Data: json.RawMessage(fmt.Sprintf(`{"uri":%q}`, uri))}
	case nil, errs.Busy, errs.Unavailable: // not the caller's mistake
		return err
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}
}

// variable returns the part of uri after prefix, unescaped.
func variable(uri, prefix, what string) (string, error) {
	raw, ok := strings.CutPrefix(uri, prefix)
	if raw, _, _ = strings.Cut(raw, "?"); !ok || raw == "" {
		return "", &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("%s names no %s; write %s<%s>", uri, what, prefix, what)}
	}
	v, err := url.PathUnescape(raw)
	if err != nil {
		return "", &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("%s: the %s is not validly percent-encoded: %v", uri, what, err)}
	}
	return v, nil
}

func jsonContents(uri string, v any) (*mcp.ReadResourceResult, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", uri, err)
	}
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, MIMEType: "application/json", Text: string(data)}}}, nil
}

func (r *Resources) readDatasets(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	if r.b.Catalog == nil {
		return nil, mcp.ResourceNotFoundError(req.Params.URI)
	}
	out, err := r.b.listDatasets(ctx, listDatasetsIn{Limit: maxListLimit})
	if err != nil {
		return nil, resourceError(req.Params.URI, err)
	}
	res, err := jsonContents(req.Params.URI, out)
	if err == nil && out.Truncated {
		res.Contents[0].Meta = mcp.Meta{"truncated": true, "hint": "list_datasets with cursor pages through the rest"}
	}
	return res, err
}

// readDataset returns the manifest and a CSV sample of the current version.
func (r *Resources) readDataset(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	name, err := variable(uri, datasetPrefix, "dataset name")
	if err != nil {
		return nil, err
	}
	if r.b.Catalog == nil {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	m, err := r.b.getManifest(ctx, getManifestIn{Name: name})
	if err != nil {
		return nil, resourceError(uri, err)
	}
	res, err := jsonContents(uri, m)
	if err != nil || r.b.SQL == nil {
		return res, err
	}
	var sample bytes.Buffer
	exp, err := r.b.SQL.Export(ctx, fmt.Sprintf("SELECT * FROM %q LIMIT %d", name, resourceSampleRows), sqlengine.CSV, &sample)
	if err != nil {
		return nil, resourceError(uri, fmt.Errorf("sample of dataset %q: %w", name, err))
	}
	res.Contents = append(res.Contents, &mcp.ResourceContents{URI: uri, MIMEType: "text/csv", Text: sample.String(),
		Meta: mcp.Meta{"sample_rows": exp.Rows, "rows": m.Rows, "version": m.Version}})
	return res, nil
}

// readObject returns an object's content, cut at ResourceObjectBytes: text
// when it is UTF-8, else a blob.
func (r *Resources) readObject(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	key, err := variable(uri, objectPrefix, "key")
	if err != nil {
		return nil, err
	}
	if r.b.Store == nil {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	if err := store.ValidateKey(key); err != nil {
		return nil, resourceError(uri, err)
	}
	rc, info, err := r.b.Store.Get(ctx, key)
	if err != nil {
		return nil, resourceError(uri, err)
	}
	defer rc.Close()
	limit := min(int64(ResourceObjectBytes), r.b.maxObjectBytes())
	data, err := io.ReadAll(io.LimitReader(rc, limit))
	if err != nil {
		return nil, fmt.Errorf("read object %q: %w", key, err)
	}
	truncated := int64(len(data)) < info.Size
	c := &mcp.ResourceContents{URI: uri, MIMEType: info.ContentType}
	if text := trimIf(truncated, data); utf8.Valid(text) {
		c.Text = string(text)
	} else {
		c.Blob = data
	}
	if truncated {
		c.Meta = mcp.Meta{"truncated": true, "size": info.Size, "returned_bytes": len(c.Text) + len(c.Blob),
			"hint": fmt.Sprintf("the object is %d bytes and this resource returns the first %d; get_object with max_bytes reads more", info.Size, limit)}
	}
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{c}}, nil
}

// trimIf drops a rune a cut left incomplete, when the data was cut.
func trimIf(cut bool, data []byte) []byte {
	if cut {
		return trimPartialRune(data)
	}
	return data
}

func (r *Resources) readIndex(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	name, err := variable(uri, indexPrefix, "index name")
	if err != nil {
		return nil, err
	}
	if r.b.Vectors == nil {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	info, err := r.b.Vectors.Info(name)
	if err != nil {
		return nil, resourceError(uri, err)
	}
	return jsonContents(uri, info)
}

func (r *Resources) readTrace(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	uid, err := variable(uri, tracePrefix, "trace uid")
	if err != nil {
		return nil, err
	}
	if r.b.Pathway == nil {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	t, err := r.b.Pathway.Get(ctx, uid)
	if err != nil {
		return nil, resourceError(uri, err)
	}
	return jsonContents(uri, t)
}

// escalationsOut is the escalations resource.
type escalationsOut struct {
	Escalations []observer.Cluster `json:"escalations"`
	Count       int                `json:"escalation_count"`
	Truncated   bool               `json:"truncated"`
}

func (r *Resources) readEscalations(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	if r.b.Observer == nil {
		return nil, mcp.ResourceNotFoundError(req.Params.URI)
	}
	st := r.b.Observer.Stats(time.Time{})
	out := escalationsOut{Escalations: st.Escalations, Count: st.EscalationCount}
	if out.Escalations == nil {
		out.Escalations = []observer.Cluster{}
	}
	slices.SortStableFunc(out.Escalations, func(a, b observer.Cluster) int { return a.LastSeen.Compare(b.LastSeen) })
	if n := len(out.Escalations); n > resourceEscalations {
		out.Escalations, out.Truncated = out.Escalations[n-resourceEscalations:], true
	}
	out.Truncated = out.Truncated || out.Count > len(out.Escalations)
	return jsonContents(req.Params.URI, out)
}

// A Suggestion is a kind of value that completes: the names of datasets,
// of indexes (corpora), object keys and trace uids.
type Suggestion int

// The kinds of suggestion.
const (
	SuggestNone Suggestion = iota
	SuggestDatasets
	SuggestIndexes
	SuggestObjectKeys
	SuggestTraces
)

// maxCompletions is the most values a completion returns, as the protocol allows.
const maxCompletions = 100

// Suggest returns values of kind that start with prefix, in order: at most
// 100, with the total when it is known and whether there are more. Object
// keys complete a segment at a time ("reports/" before "reports/q1.csv"),
// leaving out the system areas unless prefix starts with "_"; trace uids are
// those of the 200 newest traces.
func (b *Backends) Suggest(ctx context.Context, kind Suggestion, prefix string) (mcp.CompletionResultDetails, error) {
	var all []string
	switch kind {
	case SuggestDatasets:
		if b.Catalog == nil {
			break
		}
		for _, m := range b.Catalog.List() {
			all = append(all, m.Name)
		}
	case SuggestIndexes:
		if b.Vectors == nil {
			break
		}
		for _, ix := range b.Vectors.List() {
			all = append(all, ix.Name)
		}
	case SuggestObjectKeys:
		if b.Store == nil {
			break
		}
		return b.suggestKeys(ctx, prefix)
	case SuggestTraces:
		if b.Pathway == nil {
			break
		}
		res, err := b.Pathway.Search(ctx, pathway.SearchOptions{Limit: 200, IncludeRetired: true, IncludeSuperseded: true})
		if err != nil {
			return mcp.CompletionResultDetails{Values: []string{}}, err
		}
		for _, t := range res.Traces {
			all = append(all, t.UID)
		}
		d := complete(all, prefix)
		d.HasMore = d.HasMore || res.NextCursor != ""
		if d.HasMore {
			d.Total = 0 // older traces were not looked at
		}
		return d, nil
	}
	return complete(all, prefix), nil
}

// complete keeps the values of all that start with prefix.
func complete(all []string, prefix string) mcp.CompletionResultDetails {
	d := mcp.CompletionResultDetails{Values: []string{}}
	for _, v := range all {
		if strings.HasPrefix(v, prefix) {
			d.Total++
			if len(d.Values) < maxCompletions {
				d.Values = append(d.Values, v)
			}
		}
	}
	d.HasMore = d.Total > len(d.Values)
	return d
}

// suggestKeys completes object keys one segment at a time. Having seen a
// key in folder "a/", it lists on after every key of that folder, so a
// folder of a million keys costs one key's work.
func (b *Backends) suggestKeys(ctx context.Context, prefix string) (mcp.CompletionResultDetails, error) {
	const batch, maxCalls = 50, 20
	d := mcp.CompletionResultDetails{Values: []string{}}
	showSystem := strings.HasPrefix(prefix, "_")
	after, done := "", false
	for calls := 0; calls < maxCalls && len(d.Values) < maxCompletions && !done; calls++ {
		items, next, err := b.Store.List(ctx, prefix, after, batch)
		if err != nil {
			if errs.KindOf(err) == errs.Invalid {
				return d, nil // no key starts with what is not a valid prefix
			}
			return d, err
		}
		jumped := false
		for _, it := range items {
			v := it.Key
			if i := strings.IndexByte(it.Key[len(prefix):], '/'); i >= 0 {
				v = it.Key[:len(prefix)+i+1]
			}
			if strings.HasSuffix(v, "/") {
				after, jumped = v+"\U0010FFFF", true // past every key of the folder
			} else {
				after = it.Key
			}
			if !showSystem && store.IsReserved(v) {
				if jumped {
					break
				}
				continue
			}
			d.Values = append(d.Values, v)
			if jumped || len(d.Values) == maxCompletions {
				break
			}
		}
		done = !jumped && next == "" && len(d.Values) < maxCompletions
	}
	d.HasMore = !done
	if done {
		d.Total = len(d.Values)
	}
	return d, nil
}

// Complete answers completion requests for the variables of the resource
// templates; anything else gets no values.
func (r *Resources) Complete(ctx context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	kind := SuggestNone
	if ref := req.Params.Ref; ref != nil && ref.Type == "ref/resource" {
		kind = TemplateSuggestion(ref.URI, req.Params.Argument.Name)
	}
	d, err := r.b.Suggest(ctx, kind, req.Params.Argument.Value)
	if err != nil {
		return nil, err
	}
	return &mcp.CompleteResult{Completion: d}, nil
}

// TemplateSuggestion is what variable of the resource template uriTemplate
// completes with.
func TemplateSuggestion(uriTemplate, variable string) Suggestion {
	switch {
	case uriTemplate == DatasetTemplate && variable == "name":
		return SuggestDatasets
	case uriTemplate == IndexTemplate && variable == "name":
		return SuggestIndexes
	case uriTemplate == ObjectTemplate && variable == "key":
		return SuggestObjectKeys
	case uriTemplate == TraceTemplate && variable == "uid":
		return SuggestTraces
	}
	return SuggestNone
}
