// Package embed turns texts into vectors for the vector indexes and pathway
// memory. A Provider does the embedding; an Embedder puts batching, retries
// and an LRU cache in front of one and is what the rest of the server uses.
//
// Providers:
//
//	hybrid  offline default: GloVe word vectors (a 50k-word table embedded in
//	        the binary) joined with signed feature hashing; semantic and lexical
//	hash    the feature-hashing half alone: lexical, no word table
//	ollama  an Ollama server (POST /api/embed, falling back to /api/embeddings)
//	openai  any OpenAI-compatible POST /embeddings (OpenAI, vLLM, llama.cpp, ...)
//
// Every provider names a model that changes whenever its vectors would, so
// an index records exactly what built it.
package embed

import (
	"context"
	"time"
)

// Provider embeds texts with one model.
type Provider interface {
	// Model names the model; it changes whenever the vectors would.
	Model() string
	// Dim is the length of the vectors, or 0 while unknown (a remote model
	// that has not answered yet).
	Dim() int
	// Embed returns one vector per text, in order.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Config chooses and tunes the provider. Zero values mean the defaults.
type Config struct {
	Provider  string        // hybrid (default), hash, ollama, openai
	URL       string        // ollama: server URL (default http://127.0.0.1:11434); openai: base URL ending before /embeddings
	Model     string        // ollama/openai model name
	APIKeyEnv string        // openai: environment variable holding the bearer key ("" = none)
	Dims      int           // ollama/openai: expected dimension; 0 = whatever the first answer has
	BatchSize int           // texts per request; 0 = 64
	Timeout   time.Duration // per request; 0 = 30s
	Retries   int           // retries on 429/5xx and network errors; 0 = 3, negative = none
	CacheSize int           // cached vectors (LRU on model + sha256 of text); 0 = off
}
