package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"lakehouse/backends/errs"
	"lakehouse/backends/store"
)

// source is a resolved ingest source: a local file DuckDB can read, its
// sha256, and a description for the manifest.
type source struct {
	path    string
	sha     func() (string, error) // waits for the hash when it is computed in the background
	desc    string                 // "content", "object:<key>" or "path:<path>"
	format  string                 // as asked; detectFormat resolves it
	release func()                 // of a file the store holds for the ingest; nil for others
}

// done releases what the store holds of the source.
func (s *source) done() {
	if s.release != nil {
		s.release()
	}
}

// known returns a sha func for a hash already at hand.
func known(sha string) func() (string, error) {
	return func() (string, error) { return sha, nil }
}

// resolveSource checks that exactly one source is given and makes it a local
// file. Inline content is written to the folder scratch of the temp folder.
func (in *Ingester) resolveSource(ctx context.Context, req *Request, scratch string) (*source, error) {
	given := 0
	for _, s := range []string{req.Content, req.ObjectKey, req.Path} {
		if s != "" {
			given++
		}
	}
	if req.Body != nil {
		given++
	}
	if given != 1 {
		return nil, errs.New(errs.Invalid, "give exactly one source: content (inline text), object_key (an object put earlier) or path (a local file under ingest.allowed_paths); got %d", given)
	}
	switch {
	case req.Body != nil && req.Lineage != nil:
		return in.streamSource(req.Body, req.MaxBody, scratch, "sql", req.Format)
	case req.Body != nil:
		return in.streamSource(req.Body, req.MaxBody, scratch, "upload", req.Format)
	case req.Content != "":
		return in.contentSource(req, scratch)
	case req.ObjectKey != "":
		return in.objectSource(ctx, req, scratch)
	default:
		return in.pathSource(req)
	}
}

// objectSource is the object req.ObjectKey: its content file in the store,
// read in place, or, when object_key sources come from elsewhere
// (Config.Objects), a copy of it in the folder scratch of the temp folder.
func (in *Ingester) objectSource(ctx context.Context, req *Request, scratch string) (*source, error) {
	key := req.ObjectKey
	var body io.ReadCloser // the content to copy, from Config.Objects
	var info store.Info
	var err error
	if in.objects != nil {
		body, info, err = in.objects.Get(ctx, key)
	} else {
		info, err = in.store.Stat(ctx, key)
	}
	if err != nil {
		return nil, err
	}
	if body != nil {
		defer body.Close()
	}
	if info.Size == 0 {
		return nil, errs.New(errs.Invalid, "object %q is empty: there is nothing to ingest", key)
	}
	if body == nil {
		paths, release, err := in.store.Hold(ctx, []string{key})
		if err != nil {
			return nil, err
		}
		return &source{path: paths[0], sha: known(info.ETag), desc: "object:" + key, format: req.Format, release: release}, nil
	}
	src, err := in.streamSource(body, info.Size, scratch, "object", req.Format)
	if err != nil {
		return nil, fmt.Errorf("copy object %q: %w", key, err)
	}
	src.desc = "object:" + key
	return src, nil
}

func (in *Ingester) contentSource(req *Request, scratch string) (*source, error) {
	if strings.TrimSpace(req.Content) == "" {
		return nil, errs.New(errs.Invalid, "content is empty: there is nothing to ingest")
	}
	if !utf8.ValidString(req.Content) {
		return nil, errs.New(errs.Invalid, "content is not valid UTF-8; put binary data (such as Parquet) with put_object encoding=base64 and ingest it by object_key")
	}
	return in.streamSource(strings.NewReader(req.Content), 0, scratch, "content", req.Format)
}

// streamSource writes r, at most max bytes of it (0: no limit), to a file
// of the folder scratch of the temp folder, hashing it on the way.
func (in *Ingester) streamSource(r io.Reader, max int64, scratch, desc, format string) (*source, error) {
	name := path.Join(scratch, desc)
	f, err := in.tmp.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if max > 0 {
		r = io.LimitReader(r, max+1)
	}
	// The result of a SQL statement is known by its checksum (see
	// Request.Lineage), not by the hash of its bytes.
	h := sha256.New()
	var w io.Writer = io.MultiWriter(f, h)
	if desc == "sql" {
		w = f
	}
	n, err := io.Copy(w, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("receive the %s: %w", desc, err)
	case max > 0 && n > max:
		return nil, errs.New(errs.TooLarge, "the %s is over %d bytes, the limit", desc, max)
	case n == 0:
		return nil, errs.New(errs.Invalid, "the %s is empty: there is nothing to ingest", desc)
	}
	return &source{path: in.tmp.Path(name), sha: known(hex.EncodeToString(h.Sum(nil))), desc: desc, format: format}, nil
}

// pathSource accepts a local file only under one of the allowed paths, after
// resolving symbolic links so a link cannot lead outside them.
func (in *Ingester) pathSource(req *Request) (*source, error) {
	if len(in.allowedPaths) == 0 {
		return nil, errs.New(errs.Invalid, "ingest from a local path is off: list the folder in ingest.allowed_paths in lakehouse.toml (or set LAKEHOUSE_INGEST_ALLOWED_PATHS=/some/dir), or send the data as content or object_key")
	}
	if !filepath.IsAbs(req.Path) {
		return nil, errs.New(errs.Invalid, "path %q must be absolute", req.Path)
	}
	real, err := filepath.EvalSymlinks(req.Path)
	if err != nil {
		return nil, errs.New(errs.NotFound, "path %q cannot be read: %v", req.Path, err)
	}
	if !in.allowed(real) {
		return nil, errs.New(errs.Invalid, "path %q is outside ingest.allowed_paths (%s); add its folder there to allow it", req.Path, strings.Join(in.allowedPaths, ", "))
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, errs.New(errs.NotFound, "path %q cannot be read: %v", req.Path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errs.New(errs.Invalid, "path %q is not a regular file", req.Path)
	}
	if fi.Size() == 0 {
		return nil, errs.New(errs.Invalid, "file %q is empty: there is nothing to ingest", req.Path)
	}
	return &source{path: real, sha: hashInBackground(real), desc: "path:" + req.Path, format: req.Format}, nil
}

func (in *Ingester) allowed(p string) bool {
	for _, dir := range in.allowedPaths {
		if rel, err := filepath.Rel(dir, p); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return true
		}
	}
	return false
}

// hashInBackground starts hashing the file at p and returns a func that
// waits for the result. A large local file is hashed while DuckDB converts
// it, unless the hash is needed first (to compare with an existing version).
func hashInBackground(p string) func() (string, error) {
	var sha string
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		sha, err = hashFile(p)
	}()
	return func() (string, error) {
		<-done
		return sha, err
	}
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
