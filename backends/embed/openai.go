package embed

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"lakehouse/backends/errs"
)

// DefaultOpenAIURL is the base URL of the OpenAI API.
const DefaultOpenAIURL = "https://api.openai.com/v1"

// openai embeds with any server that speaks OpenAI's POST /embeddings:
// OpenAI itself, vLLM, llama.cpp's server, LocalAI, text-embeddings-inference
// and others. It never sends "dimensions": servers differ in whether they
// accept it, and Config.Dims is checked against the answers instead.
type openai struct {
	model  string
	url    string // base URL without trailing slash
	client *remoteClient
	dims   remoteDims
}

// NewOpenAI returns a provider for the OpenAI-compatible server whose base
// URL is cfg.URL (default [DefaultOpenAIURL]; requests go to URL +
// "/embeddings"), serving cfg.Model. When cfg.APIKeyEnv names an environment
// variable, its value is sent as a bearer token; an unset or empty variable
// is an error here rather than a 401 later. Its Model is "openai:" + cfg.Model.
func NewOpenAI(cfg Config) (Provider, error) {
	return newOpenAI(cfg)
}

func newOpenAI(cfg Config) (*openai, error) {
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, errs.New(errs.Invalid, "embed provider openai needs a model, e.g. model = \"text-embedding-3-small\"")
	}
	if cfg.Dims < 0 {
		return nil, errs.New(errs.Invalid, "embed dims %d is negative; use 0 to learn it from the model", cfg.Dims)
	}
	base, err := remoteBaseURL("openai", cfg.URL, DefaultOpenAIURL)
	if err != nil {
		return nil, err
	}
	client, err := newRemoteClient("openai", cfg)
	if err != nil {
		return nil, err
	}
	if cfg.APIKeyEnv != "" {
		key := strings.TrimSpace(os.Getenv(cfg.APIKeyEnv))
		if key == "" {
			return nil, errs.New(errs.Invalid, "embed api_key_env names %s, but that environment variable is unset or empty; export the key in it or clear api_key_env", cfg.APIKeyEnv)
		}
		client.header.Set("Authorization", "Bearer "+key)
		client.hint401 = fmt.Sprintf("check the key in $%s", cfg.APIKeyEnv)
	} else {
		client.hint401 = "the server wants a key: set embed api_key_env to the environment variable that holds it"
	}
	p := &openai{model: cfg.Model, url: base, client: client}
	p.dims = remoteDims{name: p.Model(), want: cfg.Dims}
	return p, nil
}

func (p *openai) Model() string { return "openai:" + p.model }
func (p *openai) Dim() int      { return p.dims.Dim() }

// Embed returns one vector per text, in order.
func (p *openai) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return [][]float32{}, nil
	}
	req := struct {
		Model string   `json:"model"`
		Input []string `json:"input"`
	}{p.model, texts}
	var resp struct {
		Data []struct {
			Index     *int      `json:"index"`
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if err := p.client.post(ctx, p.url+"/embeddings", req, &resp); err != nil {
		return nil, p.explain(err)
	}
	if len(resp.Data) != len(texts) {
		return nil, fmt.Errorf("%s returned %d vectors for %d texts", p.Model(), len(resp.Data), len(texts))
	}
	// The answer need not be in input order; each item says where it goes.
	// A server that omits every index means input order.
	out := make([][]float32, len(texts))
	for i, d := range resp.Data {
		at := i
		if d.Index != nil {
			at = *d.Index
		}
		if at < 0 || at >= len(texts) {
			return nil, fmt.Errorf("%s returned index %d for %d texts", p.Model(), at, len(texts))
		}
		if out[at] != nil {
			return nil, fmt.Errorf("%s returned index %d twice", p.Model(), at)
		}
		if d.Embedding == nil {
			d.Embedding = []float32{} // let check name the empty vector
		}
		out[at] = d.Embedding
	}
	if err := p.dims.check(out, len(texts)); err != nil {
		return nil, err
	}
	return out, nil
}

// explain rewrites the error of a missing model into one that names it.
// OpenAI answers 404 "The model `x` does not exist or you do not have
// access to it"; other servers say "model x not found".
func (p *openai) explain(err error) error {
	var se *remoteStatusError
	if !errors.As(err, &se) || se.Status != http.StatusNotFound {
		return err
	}
	msg := strings.ToLower(se.Message)
	if strings.Contains(msg, "model") && (strings.Contains(msg, "not found") || strings.Contains(msg, "does not exist")) {
		return errs.New(errs.NotFound, "the embedding server at %s has no model %q; configure one it serves (server said: %w)", p.url, p.model, se)
	}
	return err
}
