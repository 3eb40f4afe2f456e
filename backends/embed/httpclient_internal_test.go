package embed

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse/backends/errs"
)

// Helpers shared by the tests of the remote providers.

// newWireServer starts h on a loopback httptest server closed with the test.
func newWireServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// wireVec is the vector the fake servers return for text: deterministic,
// different for different texts, never zero.
func wireVec(text string, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(i + 1)
	}
	v[0] += float32(len(text))
	for i, r := range text {
		v[(i+1)%dim] += float32(r % 17)
	}
	return v
}

// shrinkRetries makes a client's backoff short enough for tests.
func shrinkRetries(c *remoteClient) {
	c.retryBase = time.Millisecond
	c.retryMax = 4 * time.Millisecond
	c.retryAfterCap = 40 * time.Millisecond
}

// fastOllama returns an ollama provider for url with test timings.
func fastOllama(t *testing.T, cfg Config) *ollama {
	t.Helper()
	if cfg.Model == "" {
		cfg.Model = "nomic-embed-text"
	}
	p, err := newOllama(cfg)
	if err != nil {
		t.Fatalf("newOllama: %v", err)
	}
	shrinkRetries(p.client)
	return p
}

// fastOpenAI returns an openai provider with test timings.
func fastOpenAI(t *testing.T, cfg Config) *openai {
	t.Helper()
	if cfg.Model == "" {
		cfg.Model = "text-embedding-3-small"
	}
	p, err := newOpenAI(cfg)
	if err != nil {
		t.Fatalf("newOpenAI: %v", err)
	}
	shrinkRetries(p.client)
	return p
}

// scripted answers the i-th request with answers[i] (the last one
// repeating) and counts requests.
type scripted struct {
	mu      sync.Mutex
	answers []func(w http.ResponseWriter, r *http.Request)
	n       atomic.Int32
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := int(s.n.Add(1)) - 1
	s.mu.Lock()
	a := s.answers[min(i, len(s.answers)-1)]
	s.mu.Unlock()
	a(w, r)
}

func status(code int, body string, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		w.Write([]byte(body))
	}
}

// ollamaOK answers /api/embed properly with dim-long vectors.
func ollamaOK(dim int) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		resp := map[string]any{"model": req.Model, "embeddings": [][]float32{}}
		vecs := make([][]float32, len(req.Input))
		for i, s := range req.Input {
			vecs[i] = wireVec(s, dim)
		}
		resp["embeddings"] = vecs
		json.NewEncoder(w).Encode(resp)
	}
}

// blockUntilGone holds the request until the client goes away. It reads
// the body first: only then does the server watch the connection and
// cancel r.Context when the client hangs up.
func blockUntilGone(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
	}
}

func TestRemote_RetryThenSuccess(t *testing.T) {
	t.Parallel()
	s := &scripted{answers: []func(http.ResponseWriter, *http.Request){
		status(500, `{"error":"loading model"}`),
		status(502, `bad gateway`),
		ollamaOK(3),
	}}
	srv := newWireServer(t, s)
	p := fastOllama(t, Config{URL: srv.URL})
	vecs, err := p.Embed(context.Background(), []string{"a", "b"})
	if err != nil {
		t.Fatalf("Embed: %v", err)
	}
	if len(vecs) != 2 || len(vecs[0]) != 3 {
		t.Fatalf("got %d vectors of %d", len(vecs), len(vecs[0]))
	}
	if got := s.n.Load(); got != 3 {
		t.Fatalf("requests = %d, want 3 (two failures, then success)", got)
	}
}

func TestRemote_RetryAfter(t *testing.T) {
	t.Parallel()
	s := &scripted{answers: []func(http.ResponseWriter, *http.Request){
		status(429, `{"error":{"message":"rate limited"}}`, "Retry-After", "1"),
		ollamaOK(3),
	}}
	srv := newWireServer(t, s)
	p := fastOllama(t, Config{URL: srv.URL})
	start := time.Now()
	if _, err := p.Embed(context.Background(), []string{"a"}); err != nil {
		t.Fatalf("Embed: %v", err)
	}
	// Retry-After: 1 is capped at 40ms in tests; the computed backoff is
	// at most 4ms, so waiting 40ms shows the header was honoured.
	if el := time.Since(start); el < 40*time.Millisecond || el > time.Second {
		t.Fatalf("took %v, want the capped Retry-After of 40ms", el)
	}
	if got := s.n.Load(); got != 2 {
		t.Fatalf("requests = %d, want 2", got)
	}
}

func TestRemote_PersistentFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		retries int
		want    int32
	}{
		{"default", 0, 1 + DefaultRetries},
		{"two", 2, 3},
		{"none", -1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &scripted{answers: []func(http.ResponseWriter, *http.Request){status(500, `{"error":"boom"}`)}}
			srv := newWireServer(t, s)
			p := fastOllama(t, Config{URL: srv.URL, Retries: tc.retries})
			_, err := p.Embed(context.Background(), []string{"a"})
			if err == nil {
				t.Fatal("Embed succeeded against a failing server")
			}
			if got := s.n.Load(); got != tc.want {
				t.Fatalf("requests = %d, want %d", got, tc.want)
			}
			if !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "boom") {
				t.Fatalf("error %q should name the status and the server's message", err)
			}
			if errs.KindOf(err) != nil {
				t.Fatalf("a server fault was classed as a caller's mistake: %v", err)
			}
		})
	}
}

func TestRemote_RateLimitedIsBusy(t *testing.T) {
	t.Parallel()
	s := &scripted{answers: []func(http.ResponseWriter, *http.Request){status(429, `{"error":"slow down"}`)}}
	srv := newWireServer(t, s)
	p := fastOllama(t, Config{URL: srv.URL, Retries: 1})
	_, err := p.Embed(context.Background(), []string{"a"})
	if !errors.Is(err, errs.Busy) {
		t.Fatalf("err = %v, want errs.Busy", err)
	}
	if s.n.Load() != 2 {
		t.Fatalf("requests = %d, want 2", s.n.Load())
	}
}

func TestRemote_MalformedJSON(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{"embeddings": [[1,2,`, `not json`, `{"embeddings":[[NaN, 1]]}`, `{"embeddings":[[1e39, 1]]}`} {
		s := &scripted{answers: []func(http.ResponseWriter, *http.Request){status(200, body)}}
		srv := newWireServer(t, s)
		p := fastOllama(t, Config{URL: srv.URL})
		_, err := p.Embed(context.Background(), []string{"a"})
		if err == nil || !strings.Contains(err.Error(), "malformed JSON") {
			t.Fatalf("body %q: err = %v, want a malformed JSON error", body, err)
		}
		if s.n.Load() != 1 {
			t.Fatalf("body %q: a malformed answer was retried (%d requests)", body, s.n.Load())
		}
	}
}

func TestRemote_WrongDimension(t *testing.T) {
	t.Parallel()
	srv := newWireServer(t, http.HandlerFunc(ollamaOK(3)))
	p := fastOllama(t, Config{URL: srv.URL, Dims: 4})
	if p.Dim() != 4 {
		t.Fatalf("Dim = %d before any answer, want the configured 4", p.Dim())
	}
	_, err := p.Embed(context.Background(), []string{"a"})
	if err == nil || !strings.Contains(err.Error(), "returned 3-dimensional") || !strings.Contains(err.Error(), "dims is 4") {
		t.Fatalf("err = %v, want one naming 3 and 4", err)
	}
}

func TestRemote_DimensionChangesBetweenAnswers(t *testing.T) {
	t.Parallel()
	s := &scripted{answers: []func(http.ResponseWriter, *http.Request){ollamaOK(3), ollamaOK(5)}}
	srv := newWireServer(t, s)
	p := fastOllama(t, Config{URL: srv.URL})
	if p.Dim() != 0 {
		t.Fatalf("Dim = %d before any answer, want 0", p.Dim())
	}
	if _, err := p.Embed(context.Background(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if p.Dim() != 3 {
		t.Fatalf("Dim = %d after the first answer, want 3", p.Dim())
	}
	_, err := p.Embed(context.Background(), []string{"b"})
	if err == nil || !strings.Contains(err.Error(), "returned 5-dimensional") || !strings.Contains(err.Error(), "earlier answers had 3") {
		t.Fatalf("err = %v, want one naming 5 and 3", err)
	}
}

func TestRemote_InconsistentWithinAnswer(t *testing.T) {
	t.Parallel()
	srv := newWireServer(t, http.HandlerFunc(status(200, `{"embeddings":[[1,2,3],[1,2]]}`)))
	p := fastOllama(t, Config{URL: srv.URL})
	_, err := p.Embed(context.Background(), []string{"a", "b"})
	if err == nil || !strings.Contains(err.Error(), "different lengths") || !strings.Contains(err.Error(), "3") || !strings.Contains(err.Error(), "2") {
		t.Fatalf("err = %v, want one naming 3 and 2", err)
	}
}

func TestRemote_CountMismatch(t *testing.T) {
	t.Parallel()
	srv := newWireServer(t, http.HandlerFunc(status(200, `{"embeddings":[[1,2,3]]}`)))
	p := fastOllama(t, Config{URL: srv.URL})
	_, err := p.Embed(context.Background(), []string{"a", "b"})
	if err == nil || !strings.Contains(err.Error(), "1 vectors for 2 texts") {
		t.Fatalf("err = %v, want a count mismatch", err)
	}
}

func TestRemoteDims_NonFinite(t *testing.T) {
	t.Parallel()
	for _, x := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		d := remoteDims{name: "test"}
		err := d.check([][]float32{{1, 2}, {1, x}}, 2)
		if err == nil || !strings.Contains(err.Error(), "non-finite") {
			t.Fatalf("%v: err = %v, want a non-finite error", x, err)
		}
		if d.Dim() != 0 {
			t.Fatalf("a rejected answer taught the dimension %d", d.Dim())
		}
	}
}

func TestRemote_Timeout(t *testing.T) {
	t.Parallel()
	s := &scripted{answers: []func(http.ResponseWriter, *http.Request){blockUntilGone}}
	srv := newWireServer(t, s)
	p := fastOllama(t, Config{URL: srv.URL, Timeout: 50 * time.Millisecond, Retries: 1})
	start := time.Now()
	_, err := p.Embed(context.Background(), []string{"a"})
	if err == nil || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Fatalf("err = %v, want a timeout naming 50ms", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("took %v for two 50ms attempts", el)
	}
	if s.n.Load() != 2 {
		t.Fatalf("requests = %d, want 2 (a timed-out attempt is retried)", s.n.Load())
	}
}

func TestRemote_ContextCancel(t *testing.T) {
	t.Parallel()
	t.Run("during request", func(t *testing.T) {
		t.Parallel()
		s := &scripted{answers: []func(http.ResponseWriter, *http.Request){blockUntilGone}}
		srv := newWireServer(t, s)
		p := fastOllama(t, Config{URL: srv.URL})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := p.Embed(ctx, []string{"a"})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
		if el := time.Since(start); el > time.Second {
			t.Fatalf("took %v after the context ended", el)
		}
		if s.n.Load() != 1 {
			t.Fatalf("requests = %d, want 1: the caller's deadline is not retried", s.n.Load())
		}
	})
	t.Run("during backoff", func(t *testing.T) {
		t.Parallel()
		s := &scripted{answers: []func(http.ResponseWriter, *http.Request){status(503, "down")}}
		srv := newWireServer(t, s)
		p := fastOllama(t, Config{URL: srv.URL})
		p.client.retryBase, p.client.retryMax = time.Minute, time.Minute
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(30*time.Millisecond, cancel)
		start := time.Now()
		_, err := p.Embed(ctx, []string{"a"})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if el := time.Since(start); el > time.Second {
			t.Fatalf("took %v: the backoff ignored the cancel", el)
		}
		if s.n.Load() != 1 {
			t.Fatalf("requests = %d, want 1", s.n.Load())
		}
	})
}

func TestRemote_BodyCap(t *testing.T) {
	t.Parallel()
	srv := newWireServer(t, http.HandlerFunc(ollamaOK(64)))
	p := fastOllama(t, Config{URL: srv.URL})
	p.client.maxBody = 100
	_, err := p.Embed(context.Background(), []string{"a"})
	if err == nil || !strings.Contains(err.Error(), "larger than 100 bytes") {
		t.Fatalf("err = %v, want the size cap", err)
	}
}

func TestRemote_BadConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"no model":         {Provider: "ollama"},
		"bad url":          {Provider: "ollama", Model: "m", URL: "localhost:11434"},
		"negative timeout": {Provider: "ollama", Model: "m", Timeout: -time.Second},
		"negative dims":    {Provider: "openai", Model: "m", Dims: -1},
		"openai no model":  {Provider: "openai"},
	} {
		if _, err := New(cfg); !errors.Is(err, errs.Invalid) {
			t.Errorf("%s: err = %v, want errs.Invalid", name, err)
		}
	}
}

func TestRetryAfterHeader(t *testing.T) {
	t.Parallel()
	for h, want := range map[string]time.Duration{
		"":      0,
		"2":     2 * time.Second,
		"0.5":   500 * time.Millisecond,
		"0":     0,
		"-3":    0,
		"soon":  0,
		"1e300": 0,
	} {
		if got := retryAfter(h); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", h, got, want)
		}
	}
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	if got := retryAfter(future); got < 59*time.Minute || got > time.Hour {
		t.Errorf("retryAfter(date an hour ahead) = %v", got)
	}
}

func TestServerMessage(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		`{"error":"model \"x\" not found, try pulling it first"}`:        `model "x" not found, try pulling it first`,
		`{"error":{"message":"bad key","type":"invalid_request_error"}}`: "bad key",
		`{"detail":"Not Found"}`: "Not Found",
		"404 page not found\n":   "404 page not found",
	} {
		if got := serverMessage([]byte(body)); got != want {
			t.Errorf("serverMessage(%s) = %q, want %q", body, got, want)
		}
	}
}
