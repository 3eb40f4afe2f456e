package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
)

// errTooLarge is newSpool's error for a body over its cap.
var errTooLarge = errors.New("body over the size limit")

// spoolMemory is the most of a body that a spool keeps in memory; past it,
// the body goes to a temp file.
const spoolMemory = 1 << 20

// A spool holds a whole request body before it is uploaded. An upload over
// plain http needs a body it can seek (the SDK reads it once to sign it and
// again to send it, and rewinds it to retry), and reading the body first is
// also how its size is capped and its sha256 known before anything is sent.
type spool struct {
	io.ReadSeeker
	size int64
	sha  string   // hex sha256 of the content
	file *os.File // the temp file, if the body outgrew memory; nil otherwise
}

// newSpool reads r to its end, at most maxBytes of it when maxBytes > 0,
// into memory or, past spoolMemory, a temp file in dir ("" = os.TempDir()).
// Reading more than maxBytes is an errTooLarge. The caller closes the spool.
func newSpool(ctx context.Context, r io.Reader, maxBytes int64, dir string) (_ *spool, err error) {
	if maxBytes > 0 {
		// One byte over the cap is enough to know it is too large.
		r = io.LimitReader(r, maxBytes+1)
	}
	h := sha256.New()
	var mem bytes.Buffer
	n, err := copyContext(ctx, io.MultiWriter(&mem, h), io.LimitReader(r, spoolMemory))
	if err != nil {
		return nil, err
	}
	sp := &spool{size: n}
	defer func() {
		if err != nil {
			sp.Close()
		}
	}()
	if n == spoolMemory {
		// The body may go on: continue in a file, after what is in memory.
		if sp.file, err = os.CreateTemp(dir, "s3-put-*"); err != nil {
			return nil, err
		}
		if _, err := sp.file.Write(mem.Bytes()); err != nil {
			return nil, err
		}
		mem = bytes.Buffer{}
		more, err := copyContext(ctx, io.MultiWriter(sp.file, h), r)
		if err != nil {
			return nil, err
		}
		sp.size += more
	}
	if maxBytes > 0 && sp.size > maxBytes {
		return nil, errTooLarge
	}
	sp.sha = hex.EncodeToString(h.Sum(nil))
	if sp.file != nil {
		sp.ReadSeeker = sp.file
		_, err = sp.file.Seek(0, io.SeekStart)
		return sp, err
	}
	sp.ReadSeeker = bytes.NewReader(mem.Bytes())
	return sp, nil
}

// Close removes the spool's temp file, if it has one.
func (sp *spool) Close() error {
	if sp.file == nil {
		return nil
	}
	sp.file.Close()
	return os.Remove(sp.file.Name())
}
