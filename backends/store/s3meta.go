package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The user metadata that the S3 store keeps on each object (S3 sends it as
// x-amz-meta-* headers, and gives the names in lower case).
const (
	metaSHA256   = "sha256"   // hex sha256 of the content: Info.ETag
	metaModified = "modified" // time of the Put, RFC 3339 with nanoseconds
)

// objectHead is what the headers of a HEAD or GET tell of an object.
type objectHead struct {
	size        int64
	contentType string
	etag        string // S3's, to ask for this very version again
	modified    time.Time
	meta        map[string]string
}

func headOfHead(o *s3.HeadObjectOutput) objectHead {
	return objectHead{aws.ToInt64(o.ContentLength), aws.ToString(o.ContentType), aws.ToString(o.ETag), aws.ToTime(o.LastModified), o.Metadata}
}

func headOfGet(o *s3.GetObjectOutput) objectHead {
	return objectHead{aws.ToInt64(o.ContentLength), aws.ToString(o.ContentType), aws.ToString(o.ETag), aws.ToTime(o.LastModified), o.Metadata}
}

// newMeta is the user metadata of an object that info describes.
func newMeta(info Info) map[string]string {
	return map[string]string{metaSHA256: info.ETag, metaModified: info.Modified.Format(time.RFC3339Nano)}
}

// nsTime is t in UTC without its monotonic reading, as FS gives times, so
// that a time read back from metadata equals the one that was written.
func nsTime(t time.Time) time.Time { return time.Unix(0, t.UnixNano()).UTC() }

// describe returns the Info of key's object from its headers h. An object
// that the store did not write has no sha256 in its metadata: its content
// is read and hashed, the version that h describes and no other.
func (s *S3) describe(ctx context.Context, key string, h objectHead) (Info, error) {
	info := Info{Key: key, Size: h.size, ETag: h.meta[metaSHA256], ContentType: h.contentType, Modified: nsTime(h.modified)}
	if t, err := time.Parse(time.RFC3339Nano, h.meta[metaModified]); err == nil {
		info.Modified = nsTime(t)
	}
	if info.ContentType == "" {
		info.ContentType = guessType(key)
	}
	if validETag(info.ETag) {
		return info, nil
	}
	sum, err := s.hash(ctx, key, h)
	if err != nil {
		return Info{}, err
	}
	info.ETag = sum
	return info, nil
}

// hash reads the version of key's object that h describes and returns its
// hex sha256. A newer version since is errs.NotFound of this one, as if the
// object had been replaced between a listing and its Stat.
func (s *S3) hash(ctx context.Context, key string, h objectHead) (string, error) {
	rctx, cancel := context.WithTimeout(ctx, s.transferTimeout(h.size))
	defer cancel()
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.name(key))}
	if h.etag != "" {
		in.IfMatch = &h.etag
	}
	out, err := s.client.GetObject(rctx, in)
	if isMissing(err) || isConflict(err) {
		return "", notFound(key)
	}
	if err != nil {
		return "", s.fail(ctx, "hash", key, err)
	}
	defer out.Body.Close()
	sum := sha256.New()
	if _, err := copyContext(rctx, sum, out.Body); err != nil {
		return "", s.fail(ctx, "hash", key, fmt.Errorf("read content: %w", err))
	}
	return hex.EncodeToString(sum.Sum(nil)), nil
}
