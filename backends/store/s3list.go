package store

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"lakehouse/backends/errs"
)

// Bounds of the S3 store's listings.
const (
	// s3PageKeys is the most keys one ListObjectsV2 request asks for, S3's
	// own maximum.
	s3PageKeys = 1000

	// s3ScanKeys is the most keys one List reads from the server. Keys that
	// are not the store's (a "dir/" marker, "a//b") are passed over; past
	// this many, List returns the page it has with a cursor to go on.
	s3ScanKeys = 20 * s3PageKeys

	// s3StatWorkers is how many objects of a page List describes at once.
	s3StatWorkers = 8
)

// List implements [Store.List]. ListObjectsV2 gives keys in ascending
// order of their UTF-8 bytes, which is Go's order of strings, but neither
// the store's sha256 nor the content type: each key of the page is then
// described by a HEAD, several at a time.
func (s *S3) List(ctx context.Context, prefix, after string, limit int) ([]Info, string, error) {
	limit, err := checkList(ctx, prefix, limit)
	if err != nil {
		return nil, "", err
	}
	keys, next, err := s.listKeys(ctx, prefix, after, limit)
	if err != nil {
		return nil, "", err
	}
	items, err := s.describeAll(ctx, keys)
	return items, next, err
}

// listKeys returns the first limit keys of the store under prefix after
// after, and the cursor of the rest ("" when there is none).
func (s *S3) listKeys(ctx context.Context, prefix, after string, limit int) (keys []string, next string, err error) {
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.name(prefix))}
	if after != "" {
		in.StartAfter = aws.String(s.name(after))
	}
	for scanned := 0; ; {
		in.MaxKeys = aws.Int32(int32(min(limit+1-len(keys), s3PageKeys)))
		out, err := s.listPage(ctx, in)
		if err != nil {
			return nil, "", s.fail(ctx, "list", prefix, err)
		}
		for _, o := range out.Contents {
			key := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			if keyRule(key) != "" {
				continue
			}
			if len(keys) == limit {
				return keys, keys[limit-1], nil // one more exists
			}
			keys = append(keys, key)
		}
		scanned += len(out.Contents)
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			return keys, "", nil
		}
		if scanned >= s3ScanKeys {
			last := strings.TrimPrefix(aws.ToString(out.Contents[len(out.Contents)-1].Key), s.prefix)
			return keys, last, nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// listPage runs one ListObjectsV2 request within the store's timeout.
func (s *S3) listPage(ctx context.Context, in *s3.ListObjectsV2Input) (*s3.ListObjectsV2Output, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.client.ListObjectsV2(ctx, in)
}

// describeAll stats keys, s3StatWorkers at a time, and returns their Infos
// in the same order; a key deleted since it was listed is left out.
func (s *S3) describeAll(ctx context.Context, keys []string) ([]Info, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	infos := make([]Info, len(keys))
	found := make([]bool, len(keys))
	errc := make(chan error, 1)
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(s3StatWorkers, len(keys)) {
		wg.Go(func() {
			for i := range work {
				info, err := s.Stat(ctx, keys[i])
				switch {
				case err == nil:
					infos[i], found[i] = info, true
				case !errors.Is(err, errs.NotFound):
					select {
					case errc <- err:
						cancel() // the first error is the answer
					default:
					}
				}
			}
		})
	}
	for i := range keys {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errc:
		return nil, err
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	items := make([]Info, 0, len(keys))
	for i, ok := range found {
		if ok {
			items = append(items, infos[i])
		}
	}
	return items, nil
}

// DeletePrefix implements [Store.DeletePrefix], a page of keys at a time.
// Unlike FS's, it is not one step: a reader may see some of the objects
// gone and others not yet, and an interrupted call leaves the rest, which
// a second call removes.
func (s *S3) DeletePrefix(ctx context.Context, prefix string) error {
	if err := validateFolder(prefix); err != nil {
		return err
	}
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.name(prefix)), MaxKeys: aws.Int32(s3PageKeys)}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		out, err := s.listPage(ctx, in)
		if err != nil {
			return s.fail(ctx, "delete prefix", prefix, err)
		}
		if err := s.deleteAll(ctx, prefix, out.Contents); err != nil {
			return err
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			return nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// deleteAll deletes the listed objects in one DeleteObjects request.
func (s *S3) deleteAll(ctx context.Context, prefix string, objects []types.Object) error {
	if len(objects) == 0 {
		return nil
	}
	ids := make([]types.ObjectIdentifier, len(objects))
	for i, o := range objects {
		ids[i] = types.ObjectIdentifier{Key: o.Key}
	}
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	out, err := s.client.DeleteObjects(rctx, &s3.DeleteObjectsInput{Bucket: &s.bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
	if err != nil {
		return s.fail(ctx, "delete prefix", prefix, err)
	}
	for _, e := range out.Errors {
		if aws.ToString(e.Code) != "NoSuchKey" {
			return s.fail(ctx, "delete prefix", prefix, errors.New(aws.ToString(e.Key)+": "+aws.ToString(e.Code)+": "+aws.ToString(e.Message)))
		}
	}
	return nil
}

// checkClash returns an errs.Conflict error when key cannot be stored
// beside the keys stored already: an object stands at one of its folders
// ("a" exists, key is "a/b"), or key is the folder of other keys ("a/b"
// exists, key is "a").
func (s *S3) checkClash(ctx context.Context, key string) error {
	for i := range len(key) {
		if key[i] != '/' {
			continue
		}
		_, err := s.head(ctx, key[:i])
		if err == nil {
			return parentObjectError(key, key[:i])
		}
		if !errors.Is(err, errs.NotFound) {
			return err
		}
	}
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.name(key) + "/"), MaxKeys: aws.Int32(1)}
	out, err := s.listPage(ctx, in)
	if err != nil {
		return s.fail(ctx, "put", key, err)
	}
	if len(out.Contents) > 0 {
		return folderError(key)
	}
	return nil
}
