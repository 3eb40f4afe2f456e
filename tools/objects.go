package tools

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"lakehouse/backends/errs"
	"lakehouse/backends/store"
)

// ObjectStore is what the tools need of the object store.
type ObjectStore interface {
	Put(ctx context.Context, key string, r io.Reader, contentType string, maxBytes int64) (store.Info, error)
	Get(ctx context.Context, key string) (io.ReadCloser, store.Info, error)
	Stat(ctx context.Context, key string) (store.Info, error)
	List(ctx context.Context, prefix, after string, limit int) (items []store.Info, next string, err error)
	Delete(ctx context.Context, key string) error
}

var (
	_ ObjectStore = (*store.FS)(nil)
	_ ObjectStore = (*store.S3)(nil)
)

// Paging and size defaults of the object tools.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
	defaultGetBytes  = 1 << 20
)

type putObjectIn struct {
	Key         string `json:"key" jsonschema:"e.g. notes/a.md"`
	Content     string `json:"content"`
	Encoding    string `json:"encoding,omitempty" jsonschema:"utf8 or base64"`
	ContentType string `json:"content_type,omitempty"`
}

type getObjectIn struct {
	Key      string `json:"key"`
	Encoding string `json:"encoding,omitempty" jsonschema:"utf8 or base64"`
	MaxBytes int64  `json:"max_bytes,omitempty" jsonschema:"default 1048576"`
}

type getObjectOut struct {
	store.Info
	Content   string `json:"content"`
	Encoding  string `json:"encoding"`
	Returned  int64  `json:"returned_bytes"`
	Truncated bool   `json:"truncated"`
}

type listObjectsIn struct {
	Prefix string `json:"prefix,omitempty"`
	Cursor string `json:"cursor,omitempty"`
	Limit  int    `json:"limit,omitempty" jsonschema:"default 100, max 1000"`
}

type listObjectsOut struct {
	Objects    []store.Info `json:"objects"`
	NextCursor string       `json:"next_cursor,omitempty"`
	Truncated  bool         `json:"truncated"`
}

type deleteObjectIn struct {
	Key string `json:"key"`
}

type deleteObjectOut struct {
	Key     string `json:"key"`
	Deleted bool   `json:"deleted"`
}

func objectTools(b *Backends) []Tool {
	return []Tool{
		define("put_object",
			"Store a file under key, replacing any object there. Data files can then be loaded with ingest_dataset.",
			destructive("Put object"), b.putObject),
		fromOutside(define("get_object",
			"Read an object: text as UTF-8, binary as base64; truncated=true past max_bytes.",
			readOnly("Get object"), b.getObject)),
		define("list_objects",
			"List objects (key, size, etag, type, modified) in key order; page with cursor.",
			readOnly("List objects"), b.listObjects),
		define("delete_object",
			"Delete an object. Cannot be undone.",
			destructive("Delete object"), b.deleteObject),
	}
}

func writableKey(key string) error {
	if err := store.ValidateKey(key); err != nil {
		return err
	}
	if store.IsReserved(key) {
		first, _, _ := strings.Cut(key, "/")
		return errs.New(errs.Invalid, "key %q is in the system area %q, which is read-only here (keys whose first segment starts with _ belong to the lakehouse); choose a key without the leading _", key, first+"/")
	}
	return nil
}

func (b *Backends) putObject(ctx context.Context, in putObjectIn) (store.Info, error) {
	if err := writableKey(in.Key); err != nil {
		return store.Info{}, err
	}
	var data []byte
	switch strings.ToLower(in.Encoding) {
	case "", "utf8", "utf-8", "text":
		data = []byte(in.Content)
	case "base64":
		var err error
		if data, err = base64.StdEncoding.DecodeString(in.Content); err != nil {
			return store.Info{}, errs.New(errs.Invalid, "content is not valid base64 (standard alphabet, with padding): %v", err)
		}
	default:
		return store.Info{}, errs.New(errs.Invalid, "unknown encoding %q; use utf8 or base64", in.Encoding)
	}
	if max := b.maxObjectBytes(); int64(len(data)) > max {
		return store.Info{}, errs.New(errs.TooLarge, "object is %d bytes, over the %d-byte cap (objects.max_bytes in lakehouse.toml)", len(data), max)
	}
	info, err := b.Store.Put(ctx, in.Key, bytes.NewReader(data), in.ContentType, b.maxObjectBytes())
	return info, err
}

func (b *Backends) getObject(ctx context.Context, in getObjectIn) (getObjectOut, error) {
	limit := in.MaxBytes
	switch {
	case limit < 0:
		return getObjectOut{}, errs.New(errs.Invalid, "max_bytes must be positive")
	case limit == 0:
		limit = defaultGetBytes
	case limit > b.maxObjectBytes():
		limit = b.maxObjectBytes()
	}
	r, info, err := b.Store.Get(ctx, in.Key)
	if err != nil {
		return getObjectOut{}, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, limit))
	if err != nil {
		return getObjectOut{}, fmt.Errorf("read object %q: %w", in.Key, err)
	}
	out := getObjectOut{Info: info, Truncated: int64(len(data)) < info.Size}
	enc := strings.ToLower(in.Encoding)
	if out.Truncated && enc != "base64" {
		data = trimPartialRune(data)
	}
	switch enc {
	case "":
		enc = "utf8"
		if !utf8.Valid(data) {
			enc = "base64"
		}
	case "utf8", "utf-8", "text":
		enc = "utf8"
		if !utf8.Valid(data) {
			return getObjectOut{}, errs.New(errs.Invalid, "object %q is not UTF-8 text; ask for encoding base64", in.Key)
		}
	case "base64":
	default:
		return getObjectOut{}, errs.New(errs.Invalid, "unknown encoding %q; use utf8 or base64", in.Encoding)
	}
	out.Encoding = enc
	out.Returned = int64(len(data))
	if enc == "base64" {
		out.Content = base64.StdEncoding.EncodeToString(data)
	} else {
		out.Content = string(data)
	}
	return out, nil
}

// trimPartialRune drops an incomplete UTF-8 sequence that a size cut left at
// the end of data.
func trimPartialRune(data []byte) []byte {
	for i := 1; i <= utf8.UTFMax && i <= len(data); i++ {
		if utf8.RuneStart(data[len(data)-i]) {
			if !utf8.FullRune(data[len(data)-i:]) {
				return data[:len(data)-i]
			}
			break
		}
	}
	return data
}

func (b *Backends) listObjects(ctx context.Context, in listObjectsIn) (listObjectsOut, error) {
	limit, err := pageLimit(in.Limit)
	if err != nil {
		return listObjectsOut{}, err
	}
	items, next, err := b.Store.List(ctx, in.Prefix, in.Cursor, limit)
	if err != nil {
		return listObjectsOut{}, err
	}
	if items == nil {
		items = []store.Info{}
	}
	return listObjectsOut{Objects: items, NextCursor: next, Truncated: next != ""}, nil
}

func (b *Backends) deleteObject(ctx context.Context, in deleteObjectIn) (deleteObjectOut, error) {
	if err := writableKey(in.Key); err != nil {
		return deleteObjectOut{}, err
	}
	if err := b.Store.Delete(ctx, in.Key); err != nil {
		return deleteObjectOut{}, err
	}
	return deleteObjectOut{Key: in.Key, Deleted: true}, nil
}

// pageLimit applies the default and the cap of a listing's limit.
func pageLimit(limit int) (int, error) {
	switch {
	case limit < 0:
		return 0, errs.New(errs.Invalid, "limit must be positive")
	case limit == 0:
		return defaultListLimit, nil
	case limit > maxListLimit:
		return 0, errs.New(errs.Invalid, "limit %d is over the maximum of %d; page with cursor instead", limit, maxListLimit)
	}
	return limit, nil
}
