package embed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync/atomic"

	"lakehouse/backends/errs"
)

// DefaultOllamaURL is where an Ollama server listens unless configured.
const DefaultOllamaURL = "http://127.0.0.1:11434"

// ollama embeds with an Ollama server.
//
// It speaks POST /api/embed (Ollama 0.3.4 and later: a batch per request,
// vectors normalised to unit length). An older server answers that path
// with a plain 404; the provider then switches, for good, to the legacy
// POST /api/embeddings (one text per request, raw vectors), and normalises
// those vectors itself so that both endpoints give the same vectors and the
// model name need not change. Ollama also answers 404 when the model is not
// pulled; that 404 carries a message naming the model and is reported as
// such, not mistaken for an old server.
type ollama struct {
	model  string
	url    string // base URL without trailing slash
	client *remoteClient
	dims   remoteDims
	legacy atomic.Bool // the server has no /api/embed
}

// NewOllama returns a provider for the Ollama server at cfg.URL
// (default [DefaultOllamaURL]) serving cfg.Model. Its Model is
// "ollama:" + cfg.Model.
func NewOllama(cfg Config) (Provider, error) {
	return newOllama(cfg)
}

func newOllama(cfg Config) (*ollama, error) {
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, errs.New(errs.Invalid, "embed provider ollama needs a model, e.g. model = \"nomic-embed-text\"")
	}
	if cfg.Dims < 0 {
		return nil, errs.New(errs.Invalid, "embed dims %d is negative; use 0 to learn it from the model", cfg.Dims)
	}
	base, err := remoteBaseURL("ollama", cfg.URL, DefaultOllamaURL)
	if err != nil {
		return nil, err
	}
	client, err := newRemoteClient("ollama", cfg)
	if err != nil {
		return nil, err
	}
	p := &ollama{model: cfg.Model, url: base, client: client}
	p.dims = remoteDims{name: p.Model(), want: cfg.Dims}
	return p, nil
}

func (p *ollama) Model() string { return "ollama:" + p.model }
func (p *ollama) Dim() int      { return p.dims.Dim() }

// Embed returns one vector per text, in order.
func (p *ollama) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return [][]float32{}, nil
	}
	if !p.legacy.Load() {
		vecs, err := p.embedBatch(ctx, texts)
		if !p.endpointMissing(err) {
			return vecs, err
		}
		if p.legacy.CompareAndSwap(false, true) {
			slog.Info("embed: ollama has no /api/embed (older than 0.3.4); using /api/embeddings, one text per request", "url", p.url)
		}
	}
	return p.embedLegacy(ctx, texts)
}

// embedBatch uses POST /api/embed.
func (p *ollama) embedBatch(ctx context.Context, texts []string) ([][]float32, error) {
	req := struct {
		Model string   `json:"model"`
		Input []string `json:"input"`
	}{p.model, texts}
	var resp struct {
		Embeddings [][]float32 `json:"embeddings"`
	}
	if err := p.client.post(ctx, p.url+"/api/embed", req, &resp); err != nil {
		return nil, p.explain(err)
	}
	if err := p.dims.check(resp.Embeddings, len(texts)); err != nil {
		return nil, err
	}
	return resp.Embeddings, nil
}

// embedLegacy uses POST /api/embeddings, one text per request.
func (p *ollama) embedLegacy(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, text := range texts {
		req := struct {
			Model  string `json:"model"`
			Prompt string `json:"prompt"`
		}{p.model, text}
		var resp struct {
			Embedding []float32 `json:"embedding"`
		}
		if err := p.client.post(ctx, p.url+"/api/embeddings", req, &resp); err != nil {
			return nil, p.explain(err)
		}
		out[i] = resp.Embedding
	}
	if err := p.dims.check(out, len(texts)); err != nil {
		return nil, err
	}
	for _, v := range out {
		unitLength(v)
	}
	return out, nil
}

// endpointMissing reports whether err is the 404 of a server without
// /api/embed, as opposed to the 404 of a model that is not pulled.
func (p *ollama) endpointMissing(err error) bool {
	var se *remoteStatusError
	return errors.As(err, &se) && se.Status == http.StatusNotFound && !modelNotFound(se.Message)
}

// modelNotFound reports whether an Ollama error message says the model is
// missing: `model "x" not found, try pulling it first` (and its variants).
func modelNotFound(msg string) bool {
	msg = strings.ToLower(msg)
	return strings.Contains(msg, "model") && strings.Contains(msg, "not found")
}

// explain rewrites the error of a missing model into one that says what to do.
func (p *ollama) explain(err error) error {
	var se *remoteStatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound && modelNotFound(se.Message) {
		return errs.New(errs.NotFound, "ollama at %s has no model %q; run `ollama pull %s` there or configure another embed model (server said: %w)",
			p.url, p.model, p.model, se)
	}
	if errors.As(err, &se) && se.Status == http.StatusNotFound && strings.HasSuffix(se.URL, "/api/embeddings") {
		return fmt.Errorf("ollama at %s answers 404 for both /api/embed and /api/embeddings; is it an Ollama server? (%w)", p.url, se)
	}
	return err
}

// unitLength scales v in place to length 1; a zero vector stays zero.
func unitLength(v []float32) {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return
	}
	inv := 1 / math.Sqrt(sum)
	for i, x := range v {
		v[i] = float32(float64(x) * inv)
	}
}
