package store

// Design notes.
//
// Layout. An object of key k is the bucket's object Prefix+k, its content
// as stored. The store's own metadata rides on the object as user metadata:
// the hex sha256 of the content (S3's ETag is an MD5, or not even that for a
// multipart upload) and the time of the Put, with nanoseconds. An object that
// lacks them was written by something else: its sha256 is worked out from
// its content, its time is S3's, and its content type is guessed from the
// key when it has none.
//
// Atomic replace. S3 itself replaces an object in one step: a reader gets
// the old content or the new one with the headers of the same version. Get
// takes its Info from the headers of the very response it streams.
//
// Folders. S3 lets "a" and "a/b" both exist; a filesystem, versitygw's posix
// backend among them, cannot. The store refuses both as FS does: before
// uploading, Put looks for an object at each folder of the key and for keys
// under it, and a 409 or 412 from the server (versitygw's ObjectParentIsFile,
// ExistingObjectIsDirectory) is a Conflict too. Two Puts of clashing keys
// at the same moment on a server that allows both may both succeed.
//
// Bodies. Put reads the whole body first into a spool (see spool.go): that
// caps its size before anything is sent, gives the sha256 to store with it,
// and gives the SDK the seekable body it needs over plain http.
//
// Failures. Every request has a deadline (Timeout for a request without a
// body, more for one with, see transferTimeout); the SDK retries a failed
// attempt a few times, without its retry quota, which would otherwise stop
// retrying for a while after an outage. An unreachable server is an error
// naming the endpoint and the bucket (ErrUnavailable); the next call tries
// afresh, so the store works again as soon as the server answers.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Defaults of S3Config.
const (
	// DefaultS3Region is the region when S3Config.Region is "".
	DefaultS3Region = "us-east-1"

	// DefaultS3Timeout bounds a request without a body to send or read.
	DefaultS3Timeout = 30 * time.Second
)

// S3Config says where an [S3] store keeps its objects.
type S3Config struct {
	// Endpoint is the server's base URL, such as "http://127.0.0.1:7070";
	// "" means AWS's own endpoint for Region.
	Endpoint string
	// Region signs requests; "" means DefaultS3Region.
	Region string
	// Bucket holds the objects; it must exist.
	Bucket string
	// Prefix is put before every key in the bucket, so that several stores
	// can share one bucket; "" means none. It is a folder: a "/" is added
	// when it lacks one.
	Prefix string
	// PathStyle puts the bucket in the URL's path rather than its host
	// name, as MinIO and versitygw need unless their DNS is set up for it.
	PathStyle bool
	// TempDir is where Put spools a body too large to keep in memory; ""
	// means os.TempDir().
	TempDir string
	// Timeout bounds each request without a body; 0 means DefaultS3Timeout.
	// A request with a body gets one second more per MiB.
	Timeout time.Duration
	// Credentials sign requests; nil means the SDK's default chain
	// (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, shared files, ...).
	Credentials aws.CredentialsProvider
}

// Validate reports the first setting of c that cannot work, naming it.
func (c S3Config) Validate() error {
	if c.Bucket == "" {
		return errors.New("bucket is empty: name the bucket that holds the objects")
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("endpoint %q is not a server URL: want http(s)://host[:port], e.g. http://127.0.0.1:7070", c.Endpoint)
		}
	}
	if c.Prefix != "" {
		if rule := keyRule(strings.TrimSuffix(c.Prefix, "/")); rule != "" {
			return fmt.Errorf("prefix %q: %s (give a folder such as \"lakehouse/\", or \"\" for the whole bucket)", c.Prefix, rule)
		}
	}
	return nil
}

// S3 is a [Store] in a bucket of an S3-compatible server. It is safe for
// use by many goroutines, and by many processes on one bucket.
type S3 struct {
	client  *s3.Client
	bucket  string
	prefix  string        // "" or ending in "/"
	where   string        // the endpoint and bucket, for errors
	tempDir string        // for spools
	timeout time.Duration // of a request without a body
}

var _ Store = (*S3)(nil)

// OpenS3 returns the store that cfg describes, after checking that the
// bucket answers, so that a wrong endpoint, bucket or credentials stop the
// start rather than the first call.
func OpenS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open S3 store: %w", err)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultS3Timeout
	}
	region := cfg.Region
	if region == "" {
		region = DefaultS3Region
	}
	prefix := cfg.Prefix
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("open S3 store: load AWS settings: %w", err)
	}
	if cfg.Credentials != nil {
		awsCfg.Credentials = cfg.Credentials
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// Checksums beyond what an operation requires break uploads to
		// servers that do not know the newer headers, and over plain http.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.HTTPClient = newHTTPClient(timeout)
		o.Retryer = retry.NewStandard(func(r *retry.StandardOptions) {
			r.MaxAttempts = 3
			r.MaxBackoff = time.Second
			r.RateLimiter = ratelimit.None
		})
	})
	where := fmt.Sprintf("S3 endpoint %s, bucket %q", cmpEndpoint(cfg.Endpoint, region), cfg.Bucket)
	s := &S3{client: client, bucket: cfg.Bucket, prefix: prefix, where: where, tempDir: cfg.TempDir, timeout: timeout}
	if err := s.Check(ctx); err != nil {
		return nil, fmt.Errorf("open S3 store: %w", err)
	}
	return s, nil
}

// cmpEndpoint names the endpoint for errors: the URL, or AWS's for region.
func cmpEndpoint(endpoint, region string) string {
	if endpoint != "" {
		return endpoint
	}
	return "of AWS in " + region
}

// newHTTPClient is the SDK's HTTP client, with deadlines on connecting and
// on waiting for an answer, which the default transport leaves open.
func newHTTPClient(timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = timeout
	t.TLSHandshakeTimeout = min(timeout, 10*time.Second)
	t.MaxIdleConnsPerHost = 32
	return &http.Client{Transport: t}
}

// Check asks the server for the bucket: nil when it answers that the
// bucket is there, else an error saying what is wrong.
func (s *S3) Check(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.client.HeadBucket(rctx, &s3.HeadBucketInput{Bucket: &s.bucket})
	if isMissing(err) {
		return fmt.Errorf("%s: the bucket does not exist; create it, or name another in storage.bucket", s.where)
	}
	return s.fail(ctx, "check bucket", "", err)
}

// Close releases nothing: the store holds only idle connections.
func (s *S3) Close() error { return nil }

// name is the bucket's name of a key, or of a prefix of keys.
func (s *S3) name(key string) string { return s.prefix + key }

// transferTimeout bounds a request that sends or reads size bytes: the
// timeout of any request, and a second more per MiB.
func (s *S3) transferTimeout(size int64) time.Duration {
	return s.timeout + time.Duration(size>>20)*time.Second
}

// Put implements [Store.Put].
func (s *S3) Put(ctx context.Context, key string, r io.Reader, contentType string, maxBytes int64) (Info, error) {
	if err := checkKey(ctx, key); err != nil {
		return Info{}, err
	}
	contentType = typeOf(key, contentType)
	// Refuse a clashing key before reading what may be a large body.
	if err := s.checkClash(ctx, key); err != nil {
		return Info{}, err
	}
	sp, err := newSpool(ctx, r, maxBytes, s.tempDir)
	if errors.Is(err, errTooLarge) {
		return Info{}, tooLargeError(key, maxBytes)
	}
	if err != nil {
		return Info{}, fmt.Errorf("put %q: read content: %w", key, err)
	}
	defer sp.Close()

	return s.put(ctx, key, sp, sp.size, sp.sha, contentType)
}

// Upload stores the local file at localPath under key, as Put would, but
// sends the file itself rather than a spooled copy of it: how dataset
// files reach the bucket. The file is fsynced too, for whoever keeps it
// afterwards. contentType "" means guess from the key.
func (s *S3) Upload(ctx context.Context, key, localPath, contentType string) (Info, error) {
	if err := checkKey(ctx, key); err != nil {
		return Info{}, err
	}
	contentType = typeOf(key, contentType)
	if err := s.checkClash(ctx, key); err != nil {
		return Info{}, err
	}
	f, err := os.Open(localPath)
	if err != nil {
		return Info{}, fmt.Errorf("upload %q: %w", key, err)
	}
	defer f.Close()
	h := sha256.New()
	size, err := copyContext(ctx, h, f)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		return Info{}, fmt.Errorf("upload %q: read %s: %w", key, localPath, err)
	}
	return s.put(ctx, key, f, size, hex.EncodeToString(h.Sum(nil)), contentType)
}

// put sends the size bytes of body, of hex sha256 sha, as key's object. S3
// makes an object visible only once all of it has arrived, so an upload
// cut off leaves nothing.
func (s *S3) put(ctx context.Context, key string, body io.ReadSeeker, size int64, sha, contentType string) (Info, error) {
	info := Info{Key: key, Size: size, ETag: sha, ContentType: contentType, Modified: nsTime(time.Now())}
	pctx, cancel := context.WithTimeout(ctx, s.transferTimeout(size))
	defer cancel()
	_, err := s.client.PutObject(pctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: aws.String(s.name(key)),
		Body: body, ContentLength: aws.Int64(size), ContentType: &contentType,
		Metadata: newMeta(info),
	})
	if isConflict(err) {
		return Info{}, clashError(key)
	}
	if err != nil {
		return Info{}, s.fail(ctx, "put", key, err)
	}
	return info, nil
}

// Get implements [Store.Get]. The body is read under ctx, within a deadline
// that grows with its size.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := checkKey(ctx, key); err != nil {
		return nil, Info{}, err
	}
	gctx, cancel := context.WithCancel(ctx)
	stop := time.AfterFunc(s.timeout, cancel) // until the headers are in
	out, err := s.client.GetObject(gctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.name(key))})
	if !stop.Stop() && err == nil { // the deadline passed as the answer came
		out.Body.Close()
		err = context.Canceled
	}
	if err != nil {
		cancel()
		if isMissing(err) {
			return nil, Info{}, notFound(key)
		}
		return nil, Info{}, s.fail(ctx, "get", key, err)
	}
	h := headOfGet(out)
	body := &deadlineBody{ReadCloser: out.Body, timer: time.AfterFunc(s.transferTimeout(h.size), cancel), cancel: cancel}
	info, err := s.describe(ctx, key, h)
	if err != nil {
		body.Close()
		return nil, Info{}, err
	}
	return body, info, nil
}

// deadlineBody is the body of a GET, which its request's context ends when
// its deadline passes or the body is closed.
type deadlineBody struct {
	io.ReadCloser
	timer  *time.Timer
	cancel context.CancelFunc
}

func (b *deadlineBody) Close() error {
	err := b.ReadCloser.Close()
	b.timer.Stop()
	b.cancel()
	return err
}

// Stat implements [Store.Stat].
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := checkKey(ctx, key); err != nil {
		return Info{}, err
	}
	h, err := s.head(ctx, key)
	if err != nil {
		return Info{}, err
	}
	return s.describe(ctx, key, h)
}

// head asks for the headers of key's object: errs.NotFound when there is none.
func (s *S3) head(ctx context.Context, key string) (objectHead, error) {
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	out, err := s.client.HeadObject(rctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.name(key))})
	if isMissing(err) {
		return objectHead{}, notFound(key)
	}
	if err != nil {
		return objectHead{}, s.fail(ctx, "stat", key, err)
	}
	return headOfHead(out), nil
}

// Delete implements [Store.Delete]. S3 deletes a missing object without
// complaint, so Delete first looks for it; of two Deletes at once, both may
// then succeed.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(ctx, key); err != nil {
		return err
	}
	if _, err := s.head(ctx, key); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.client.DeleteObject(rctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.name(key))})
	if isMissing(err) { // versitygw says so when another Delete got there first
		return notFound(key)
	}
	return s.fail(ctx, "delete", key, err)
}
