package embed

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"lakehouse/backends/errs"
)

// fakeOpenAI speaks OpenAI's POST /v1/embeddings. It answers in reverse
// order, each item with its index, as servers may, and checks the bearer
// key when key is set.
type fakeOpenAI struct {
	key  string
	dim  int
	n    atomic.Int32
	seen atomic.Value // map[string]any: the last request body
}

func (f *fakeOpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.n.Add(1)
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/v1/embeddings" {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":{"message":"Unknown request URL","type":"invalid_request_error"}}`))
		return
	}
	if f.key != "" && r.Header.Get("Authorization") != "Bearer "+f.key {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`))
		return
	}
	var raw map[string]any
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	f.seen.Store(raw)
	var input []string
	for _, s := range raw["input"].([]any) {
		input = append(input, s.(string))
	}
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	data := make([]item, 0, len(input))
	for i := len(input) - 1; i >= 0; i-- {
		data = append(data, item{"embedding", i, wireVec(input[i], f.dim)})
	}
	json.NewEncoder(w).Encode(map[string]any{
		"object": "list",
		"data":   data,
		"model":  raw["model"],
		"usage":  map[string]int{"prompt_tokens": 3, "total_tokens": 3},
	})
}

func TestOpenAI_Embed_OutOfOrder(t *testing.T) {
	t.Parallel()
	f := &fakeOpenAI{dim: 5}
	srv := newWireServer(t, f)
	p := fastOpenAI(t, Config{URL: srv.URL + "/v1", Dims: 5})
	if p.Model() != "openai:text-embedding-3-small" {
		t.Fatalf("Model = %q", p.Model())
	}
	texts := []string{"first", "second text", "third"}
	vecs, err := p.Embed(context.Background(), texts)
	if err != nil {
		t.Fatalf("Embed: %v", err)
	}
	for i, s := range texts {
		if !sameVec(vecs[i], wireVec(s, 5)) {
			t.Fatalf("vector %d = %v, want the one of %q", i, vecs[i], s)
		}
	}
	req := f.seen.Load().(map[string]any)
	if req["model"] != "text-embedding-3-small" {
		t.Fatalf("sent model %v", req["model"])
	}
	if _, ok := req["dimensions"]; ok {
		t.Fatal(`sent "dimensions", which not every server accepts`)
	}
	if f.n.Load() != 1 {
		t.Fatalf("requests = %d, want 1", f.n.Load())
	}
}

func TestOpenAI_BearerFromEnv(t *testing.T) {
	t.Setenv("LAKEHOUSE_TEST_EMBED_KEY", "sk-test-123")
	f := &fakeOpenAI{key: "sk-test-123", dim: 2}
	srv := newWireServer(t, f)
	p := fastOpenAI(t, Config{URL: srv.URL + "/v1", APIKeyEnv: "LAKEHOUSE_TEST_EMBED_KEY"})
	if _, err := p.Embed(context.Background(), []string{"a"}); err != nil {
		t.Fatalf("Embed with the key: %v", err)
	}

	// No key configured: the server's 401 comes back with its message and
	// a hint, as a fault (an operator fixes it, not the caller).
	p = fastOpenAI(t, Config{URL: srv.URL + "/v1"})
	_, err := p.Embed(context.Background(), []string{"a"})
	if err == nil || !strings.Contains(err.Error(), "Incorrect API key provided") || !strings.Contains(err.Error(), "api_key_env") {
		t.Fatalf("err = %v, want the server's message and a hint", err)
	}
	if f.n.Load() != 2 {
		t.Fatalf("requests = %d, want 2: a 401 is not retried", f.n.Load())
	}

	// The variable named but unset: refused at construction.
	t.Setenv("LAKEHOUSE_TEST_EMBED_KEY", "")
	_, err = New(Config{Provider: "openai", URL: srv.URL, Model: "m", APIKeyEnv: "LAKEHOUSE_TEST_EMBED_KEY"})
	if !errors.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "LAKEHOUSE_TEST_EMBED_KEY") {
		t.Fatalf("err = %v, want errs.Invalid naming the variable", err)
	}
}

func TestOpenAI_ErrorBody(t *testing.T) {
	t.Parallel()
	srv := newWireServer(t, http.HandlerFunc(status(400,
		`{"error":{"message":"This model's maximum context length is 8192 tokens","type":"invalid_request_error"}}`)))
	p := fastOpenAI(t, Config{URL: srv.URL})
	_, err := p.Embed(context.Background(), []string{"a"})
	if !errors.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "maximum context length is 8192 tokens") {
		t.Fatalf("err = %v, want errs.Invalid with the server's message", err)
	}
}

func TestOpenAI_BadAnswers(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		`{"data":[{"index":0,"embedding":[1,2]}]}`:                                 "1 vectors for 2 texts",
		`{"data":[{"index":0,"embedding":[1,2]},{"index":0,"embedding":[1,2]}]}`:   "index 0 twice",
		`{"data":[{"index":0,"embedding":[1,2]},{"index":7,"embedding":[1,2]}]}`:   "index 7 for 2 texts",
		`{"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[1,2,3]}]}`: "different lengths",
		`{"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[]}]}`:      "empty vector",
		`{"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":"AAAA"}]}`:  "malformed JSON",
		`{"object":"list","data":[{"index":0,"embedding":[1,2]},{"index":1,"embe`:  "malformed JSON",
	} {
		srv := newWireServer(t, http.HandlerFunc(status(200, body)))
		p := fastOpenAI(t, Config{URL: srv.URL})
		_, err := p.Embed(context.Background(), []string{"a", "b"})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("answer %s: err = %v, want %q", body, err, want)
		}
	}
}

func TestOpenAI_NotFound(t *testing.T) {
	t.Parallel()
	// A model the server does not have: the caller's choice, errs.NotFound.
	srv := newWireServer(t, http.HandlerFunc(status(404,
		`{"error":{"message":"The model `+"`nope`"+` does not exist or you do not have access to it.","type":"invalid_request_error","code":"model_not_found"}}`)))
	p := fastOpenAI(t, Config{URL: srv.URL, Model: "nope"})
	_, err := p.Embed(context.Background(), []string{"a"})
	if !errors.Is(err, errs.NotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("err = %v, want errs.NotFound naming the model", err)
	}

	// A wrong base URL: a fault of the configuration, with a hint.
	f := &fakeOpenAI{dim: 2}
	srv = newWireServer(t, f)
	p = fastOpenAI(t, Config{URL: srv.URL}) // missing /v1
	_, err = p.Embed(context.Background(), []string{"a"})
	if err == nil || errs.KindOf(err) != nil || !strings.Contains(err.Error(), "check the embed url") {
		t.Fatalf("err = %v, want a fault that points at the url", err)
	}
}
