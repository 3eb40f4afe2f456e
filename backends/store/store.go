// Package store is the object store of Lakehouse MCP. Agents put, get, list
// and delete objects by key; other backends keep their files in it too, under
// reserved prefixes such as "_catalog/" and "_datasets/".
//
// Keys are hierarchical, "/"-separated paths such as "reports/2024/q1.csv";
// [ValidateKey] states the rules. A key whose first segment starts with "_"
// belongs to the system (see [IsReserved]). The store itself lets any caller
// write there; the tools that face agents refuse it.
//
// [Store] is the interface the rest of the server depends on. [FS], the
// default, keeps objects on the local filesystem; [S3] keeps them in a
// bucket of an S3-compatible server. One suite of tests holds both to the
// same contract (contract_test.go).
package store

import (
	"context"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"lakehouse/backends/errs"
)

// Info describes a stored object.
type Info struct {
	Key         string    `json:"key"`
	Size        int64     `json:"size"`
	ETag        string    `json:"etag"` // hex sha256 of the content
	ContentType string    `json:"content_type"`
	Modified    time.Time `json:"modified"`
}

// Store is the object store interface, of [FS] and [S3]. Every method
// checks its key with [ValidateKey] and reports a bad key as an
// [errs.Invalid] error.
type Store interface {
	// Put stores the content read from r under key, atomically replacing any
	// old object: readers see the old object or the new one, never a mix.
	// contentType "" means guess from the key's extension
	// (mime.TypeByExtension), else "application/octet-stream".
	// maxBytes > 0 caps the size: reading more returns an errs.TooLarge error
	// and stores nothing. A key that is the folder of other keys, or has an
	// object as its folder ("a" and "a/b"), cannot be stored: errs.Conflict.
	Put(ctx context.Context, key string, r io.Reader, contentType string, maxBytes int64) (Info, error)

	// Get opens the object for reading; the caller closes it. The Info
	// describes the content being read even if the object is replaced
	// meanwhile. A missing object is an errs.NotFound error.
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)

	// Stat describes the object; errs.NotFound if there is none.
	Stat(ctx context.Context, key string) (Info, error)

	// List returns objects whose key starts with prefix, in ascending key
	// order, starting after the key `after` ("" = from the start), at most
	// limit of them (limit <= 0 means DefaultListLimit); next is the key to
	// pass as `after` for the next page, "" when there are no more.
	List(ctx context.Context, prefix, after string, limit int) (items []Info, next string, err error)

	// Delete removes the object; errs.NotFound if it is absent.
	Delete(ctx context.Context, key string) error

	// DeletePrefix removes every object under prefix, which must end in "/".
	// Nothing there is fine.
	DeletePrefix(ctx context.Context, prefix string) error
}

// Limits of keys and listings.
const (
	// MaxKeyBytes is the longest key, in bytes.
	MaxKeyBytes = 1024

	// MaxSegmentBytes is the longest segment of a key, in bytes. File
	// systems refuse names over 255 bytes, and a sidecar adds ".json".
	MaxSegmentBytes = 250

	// DefaultListLimit is the page size of List when its limit is <= 0.
	DefaultListLimit = 1000
)

// ValidateKey reports whether key may name an object. The error, of kind
// [errs.Invalid], names the key and the rule it breaks. The rules: a key is not
// empty, at most [MaxKeyBytes] bytes, valid UTF-8, without NUL or other
// control characters and without backslashes; it does not start with "/", has
// no empty segment ("a//b") and no trailing "/", no "." or ".." segment, and
// no segment over [MaxSegmentBytes] bytes.
func ValidateKey(key string) error {
	if rule := keyRule(key); rule != "" {
		return errs.New(errs.Invalid, "invalid key %q: %s", shorten(key), rule)
	}
	return nil
}

// keyRule returns the rule that key breaks, or "" if it is a valid key.
func keyRule(key string) string {
	switch {
	case key == "":
		return "a key must not be empty"
	case len(key) > MaxKeyBytes:
		return fmt.Sprintf("a key is at most %d bytes, this one has %d", MaxKeyBytes, len(key))
	}
	if rule := charRule(key); rule != "" {
		return rule
	}
	if strings.HasPrefix(key, "/") {
		return `a key must not start with "/"`
	}
	for seg := range strings.SplitSeq(key, "/") {
		if rule := segmentRule(seg); rule != "" {
			return rule
		}
	}
	return ""
}

// charRule returns the rule about characters that s breaks, or "".
func charRule(s string) string {
	if !utf8.ValidString(s) {
		return "keys must be valid UTF-8"
	}
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
			return "control characters (NUL, tab, newline and the like) are not allowed"
		case r == '\\':
			return `backslash is not allowed; use "/" between segments`
		}
	}
	return ""
}

// segmentRule returns the rule that the whole segment seg breaks, or "".
func segmentRule(seg string) string {
	switch {
	case seg == "":
		return `empty segments ("a//b") and a trailing "/" are not allowed`
	case seg == "." || seg == "..":
		return `"." and ".." segments are not allowed`
	case len(seg) > MaxSegmentBytes:
		return fmt.Sprintf("a segment is at most %d bytes, one has %d", MaxSegmentBytes, len(seg))
	}
	return ""
}

// validatePrefix checks a prefix for List. It may be "" or end anywhere, even
// inside a segment ("rep" matches "reports/x"), but it obeys the key rules
// about characters and length, must not start with "/", and its whole
// segments (those followed by "/") must be valid segments.
func validatePrefix(prefix string) error {
	if rule := prefixRule(prefix); rule != "" {
		return errs.New(errs.Invalid, "invalid prefix %q: %s", shorten(prefix), rule)
	}
	return nil
}

// prefixRule returns the rule that prefix breaks, or "" if it is a valid prefix.
func prefixRule(prefix string) string {
	if len(prefix) > MaxKeyBytes {
		return fmt.Sprintf("a prefix is at most %d bytes, this one has %d", MaxKeyBytes, len(prefix))
	}
	if rule := charRule(prefix); rule != "" {
		return rule
	}
	if strings.HasPrefix(prefix, "/") {
		return `a prefix must not start with "/"`
	}
	// The last piece may be a partial segment, such as "." of ".config".
	segs := strings.Split(prefix, "/")
	for _, seg := range segs[:len(segs)-1] {
		if rule := segmentRule(seg); rule != "" {
			return rule
		}
	}
	return ""
}

// validateFolder checks the prefix of DeletePrefix: it names a folder of
// keys, so it ends in "/" and what comes before is a valid key.
func validateFolder(prefix string) error {
	rule := ""
	if !strings.HasSuffix(prefix, "/") {
		rule = `DeletePrefix needs a prefix that ends in "/", such as "reports/"`
	} else {
		rule = keyRule(strings.TrimSuffix(prefix, "/"))
	}
	if rule != "" {
		return errs.New(errs.Invalid, "invalid prefix %q: %s", shorten(prefix), rule)
	}
	return nil
}

// IsReserved reports whether key lies in a system area: its first segment
// starts with "_", as in "_catalog/" and "_datasets/".
func IsReserved(key string) bool {
	return strings.HasPrefix(key, "_")
}

// shorten cuts a long key down for an error message, which would otherwise
// repeat up to a kilobyte of it.
func shorten(s string) string {
	const keep = 64
	if len(s) <= keep {
		return s
	}
	return s[:keep] + "..."
}

// checkKey is the check every call on one key starts with: the key is
// valid, and ctx is not done.
func checkKey(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	return ctx.Err()
}

// checkList is the check a List starts with; it returns the page size,
// limit or DefaultListLimit.
func checkList(ctx context.Context, prefix string, limit int) (int, error) {
	if err := validatePrefix(prefix); err != nil {
		return 0, err
	}
	if limit <= 0 {
		limit = DefaultListLimit
	}
	return limit, ctx.Err()
}

// typeOf returns contentType, or when it is "" the type guessed from key.
func typeOf(key, contentType string) string {
	if contentType == "" {
		return guessType(key)
	}
	return contentType
}

// guessType returns the content type of key by its extension, or
// "application/octet-stream".
func guessType(key string) string {
	if t := mime.TypeByExtension(path.Ext(key)); t != "" {
		return t
	}
	return "application/octet-stream"
}
