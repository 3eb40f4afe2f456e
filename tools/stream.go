package tools

import (
	"context"
	"io"

	"lakehouse/backends/ingest"
	"lakehouse/backends/store"
)

// The streamed forms of tools, for front doors that carry bytes rather than
// JSON (the REST gateway's uploads and downloads). Each checks what its tool
// checks, so that no front door gets a weaker rule.

// PutStream stores r as the object key, as put_object stores content: at
// most max bytes, the system area refused.
func (b *Backends) PutStream(ctx context.Context, key string, r io.Reader, contentType string, max int64) (store.Info, error) {
	if err := writableKey(key); err != nil {
		return store.Info{}, err
	}
	return b.Store.Put(ctx, key, r, contentType, max)
}

// IngestStream is ingest_dataset with body, at most max bytes of it, as the
// source; format, mode and options are as the tool takes them.
func (b *Backends) IngestStream(ctx context.Context, name, format, mode string, options ingest.Options, body io.Reader, max int64) (*ingest.Result, error) {
	return b.Ingest.Ingest(ctx, ingest.Request{
		Name: name, Body: body, MaxBody: max, Format: format, Mode: mode, Options: options,
	}, progressOf(ctx))
}
