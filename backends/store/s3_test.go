package store

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"lakehouse/backends/errs"
	"lakehouse/internal/s3test"
)

// s3Config is the configuration of a store in bucket of srv, under prefix,
// spooling to a folder of t's.
func s3Config(t *testing.T, srv *s3test.Server, bucket, prefix string) S3Config {
	return S3Config{
		Endpoint: srv.Endpoint, Bucket: bucket, Prefix: prefix, PathStyle: true,
		TempDir: t.TempDir(), Credentials: s3test.Credentials(), Timeout: 10 * time.Second,
	}
}

// mustOpenS3 opens the store that cfg describes.
func mustOpenS3(t *testing.T, cfg S3Config) *S3 {
	t.Helper()
	st, err := OpenS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestS3_Contract(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket()
	var n atomic.Int32
	runContract(t, contractEnv{
		// Each case in a prefix of its own, in one bucket: the prefix is
		// what keeps stores apart.
		open: func(t *testing.T) Store {
			return mustOpenS3(t, s3Config(t, srv, bucket, "case"+string(rune('a'+n.Add(1)))))
		},
		check: func(t *testing.T, st Store) {
			if entries, _ := os.ReadDir(st.(*S3).tempDir); len(entries) != 0 {
				t.Errorf("spool files left: %v", entries)
			}
		},
	})
}

// TestS3_Layout checks what lands in the bucket: the key under the prefix,
// the content as put, the sha256 in its metadata.
func TestS3_Layout(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket()
	a := mustOpenS3(t, s3Config(t, srv, bucket, "team-a")) // a "/" is added
	b := mustOpenS3(t, s3Config(t, srv, bucket, "team-b/"))
	mustPut(t, a, "notes/x.md", "from a")
	mustPut(t, b, "notes/x.md", "from b")
	if got, _ := mustGet(t, a, "notes/x.md"); got != "from a" {
		t.Errorf("a reads %q", got)
	}
	items, _, err := b.List(context.Background(), "", "", 10)
	if err != nil || len(items) != 1 || items[0].ETag != sha("from b") {
		t.Errorf("b lists %+v, %v", items, err)
	}
	out, err := srv.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("team-a/notes/x.md")})
	if err != nil {
		t.Fatal(err)
	}
	if out.Metadata[metaSHA256] != sha("from a") || aws.ToString(out.ContentType) != "text/markdown; charset=utf-8" {
		t.Errorf("object in the bucket: metadata %v, type %q", out.Metadata, aws.ToString(out.ContentType))
	}
}

// TestS3_ForeignObject reads an object that another client wrote, without
// the store's metadata: its etag is still the sha256 of its content.
func TestS3_ForeignObject(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket()
	st := mustOpenS3(t, s3Config(t, srv, bucket, ""))
	_, err := srv.Client().PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &bucket, Key: aws.String("dropped/in.csv"), Body: strings.NewReader("a,b\n1,2\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, info := mustGet(t, st, "dropped/in.csv")
	stat, err := st.Stat(context.Background(), "dropped/in.csv")
	if err != nil {
		t.Fatal(err)
	}
	if got != "a,b\n1,2\n" || info.ETag != sha(got) || stat != info || info.Modified.IsZero() {
		t.Errorf("Get = %q %+v, Stat %+v; want the sha256 of the content", got, info, stat)
	}
	// A marker of a folder ("dir/") and keys the store refuses are not objects.
	for _, key := range []string{"marker/", `back\slash`} {
		if _, err := srv.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key), Body: strings.NewReader("")}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	items, _, err := st.List(context.Background(), "", "", 10)
	if err != nil || len(items) != 1 || items[0].Key != "dropped/in.csv" {
		t.Errorf("List = %v, %v; want only dropped/in.csv", keysOf(items), err)
	}
}

// TestS3_ClashingPutsAtOnce races Puts of "r" and "r/x": versitygw cannot
// hold both, and refuses the loser with a 409 that the store's own checks,
// made before, could not foresee. Every refusal is a Conflict, and one key
// at most is stored.
func TestS3_ClashingPutsAtOnce(t *testing.T) {
	srv := s3test.Start(t)
	st := mustOpenS3(t, s3Config(t, srv, srv.Bucket(), ""))
	ctx := context.Background()
	for round := range 10 {
		var wg sync.WaitGroup
		for _, key := range []string{"r", "r/x"} {
			wg.Go(func() {
				_, err := st.Put(ctx, key, strings.NewReader(key), "", 0)
				if err != nil && !errors.Is(err, errs.Conflict) {
					t.Errorf("round %d: Put %s: %v, want success or a Conflict", round, key, err)
				}
			})
		}
		wg.Wait()
		items, _, err := st.List(ctx, "", "", 10)
		if err != nil || len(items) != 1 {
			t.Fatalf("round %d: stored %v (%v), want one of the keys", round, keysOf(items), err)
		}
		if err := st.Delete(ctx, items[0].Key); err != nil {
			t.Fatal(err)
		}
	}
}

// TestS3_ServerDown stops the server under a working store: every call
// fails with an error that says what is down, and works again once the
// server is back.
func TestS3_ServerDown(t *testing.T) {
	srv := s3test.Start(t)
	cfg := s3Config(t, srv, srv.Bucket(), "p")
	st := mustOpenS3(t, cfg)
	mustPut(t, st, "k", "before")

	srv.Stop()
	ctx := context.Background()
	_, putErr := st.Put(ctx, "k", strings.NewReader("during"), "", 0)
	_, _, getErr := st.Get(ctx, "k")
	_, statErr := st.Stat(ctx, "k")
	_, _, listErr := st.List(ctx, "", "", 10)
	for name, err := range map[string]error{
		"Put": putErr, "Get": getErr, "Stat": statErr, "List": listErr,
		"Delete": st.Delete(ctx, "k"), "DeletePrefix": st.DeletePrefix(ctx, "x/"),
	} {
		wantUnavailable(t, name, err, cfg)
	}

	srv.Start()
	if got, _ := mustGet(t, st, "k"); got != "before" {
		t.Errorf("after the restart: %q, want the object put before", got)
	}
	mustPut(t, st, "k", "after")
	if got, _ := mustGet(t, st, "k"); got != "after" {
		t.Errorf("after the restart: %q", got)
	}
}

// wantUnavailable fails t unless err is ErrUnavailable, names the endpoint
// and bucket of cfg, and is one line an agent can read.
func wantUnavailable(t *testing.T, what string, err error, cfg S3Config) {
	t.Helper()
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("%s: %v, want ErrUnavailable", what, err)
		return
	}
	if errs.KindOf(err) != errs.Unavailable {
		t.Errorf("%s: %v is of kind %v, want %v (503 on the gateway)", what, err, errs.KindOf(err), errs.Unavailable)
	}
	msg := err.Error()
	for _, want := range []string{cfg.Endpoint, `bucket "` + cfg.Bucket + `"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("%s: %q does not name %s", what, msg, want)
		}
	}
	if strings.Contains(msg, "\n") || strings.Contains(msg, "goroutine") || strings.Contains(msg, ".go:") {
		t.Errorf("%s: %q is not one plain line", what, msg)
	}
}

// TestS3_SilentServer points a store at a server that accepts connections
// and never answers: calls end within the timeout, with an error naming
// the endpoint.
func TestS3_SilentServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Go(func() { <-stop; c.Close() })
		}
	}()
	t.Cleanup(func() { l.Close(); close(stop); conns.Wait() })

	cfg := S3Config{Endpoint: "http://" + l.Addr().String(), Bucket: "b", PathStyle: true,
		Credentials: s3test.Credentials(), Timeout: 200 * time.Millisecond}
	start := time.Now()
	_, err = OpenS3(context.Background(), cfg)
	wantUnavailable(t, "OpenS3", err, cfg)
	if !strings.Contains(err.Error(), "in time") {
		t.Errorf("OpenS3: %v, want it to say the server did not answer in time", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("OpenS3 took %s against a timeout of %s", d, cfg.Timeout)
	}
}

func TestOpenS3_Errors(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket()
	down := freeEndpoint(t)
	tests := []struct {
		name string
		edit func(*S3Config)
		want string
	}{
		{"no bucket", func(c *S3Config) { c.Bucket = "" }, "bucket is empty"},
		{"bad endpoint", func(c *S3Config) { c.Endpoint = "127.0.0.1:7070" }, "is not a server URL"},
		{"bad prefix", func(c *S3Config) { c.Prefix = "a/../b" }, `"." and ".." segments`},
		{"root prefix", func(c *S3Config) { c.Prefix = "/" }, `prefix "/": a key must not be empty`},
		{"missing bucket", func(c *S3Config) { c.Bucket = "no-such-bucket" }, "the bucket does not exist"},
		{"wrong secret", func(c *S3Config) {
			c.Credentials = credentials.NewStaticCredentialsProvider(s3test.AccessKey, "wrong", "")
		}, "refused the credentials"},
		{"server down", func(c *S3Config) { c.Endpoint = down }, "cannot reach the S3 endpoint " + down},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := s3Config(t, srv, bucket, "")
			tt.edit(&cfg)
			_, err := OpenS3(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("OpenS3 = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// freeEndpoint is the URL of a loopback port where nothing listens.
func freeEndpoint(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestS3_PutRetriedAfterPassingConflict: a 409 for a Put of a key that
// clashes with nothing in the bucket (versitygw's answer to two Puts of
// one key at once) is sent again, with the whole body; a 409 for a key that
// does clash is a Conflict at once.
func TestS3_PutRetriedAfterPassingConflict(t *testing.T) {
	var puts atomic.Int32
	var got atomic.Value
	var raced atomic.Bool // "clash/x" appeared after Put's own check
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut:
			body, _ := io.ReadAll(r.Body)
			if strings.HasSuffix(r.URL.Path, "/clash") {
				raced.Store(true)
			}
			if puts.Add(1) == 1 || raced.Load() {
				w.WriteHeader(http.StatusConflict)
				io.WriteString(w, `<Error><Code>ExistingObjectIsDirectory</Code></Error>`)
				return
			}
			got.Store(string(body))
			w.Header().Set("ETag", `"x"`)
		case r.Method == http.MethodHead && strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 0:
			// the bucket
		case r.Method == http.MethodHead:
			w.WriteHeader(http.StatusNotFound)
		case r.URL.Query().Get("list-type") == "2" && strings.HasSuffix(r.URL.Query().Get("prefix"), "clash/") && raced.Load():
			io.WriteString(w, `<ListBucketResult><KeyCount>1</KeyCount><Contents><Key>clash/x</Key><Size>1</Size></Contents></ListBucketResult>`)
		case r.URL.Query().Get("list-type") == "2":
			io.WriteString(w, `<ListBucketResult><KeyCount>0</KeyCount></ListBucketResult>`)
		default:
			w.WriteHeader(http.StatusNotImplemented)
		}
	}))
	t.Cleanup(srv.Close)
	st := mustOpenS3(t, S3Config{Endpoint: srv.URL, Bucket: "b", PathStyle: true, TempDir: t.TempDir(),
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("AK", "SK", "")), Timeout: 5 * time.Second})
	ctx := context.Background()
	if _, err := st.Put(ctx, "k", strings.NewReader("the whole body"), "", 0); err != nil {
		t.Fatalf("Put after a passing 409: %v", err)
	}
	if puts.Load() != 2 || got.Load() != "the whole body" {
		t.Errorf("%d sends, the last with %q; want 2, the whole body", puts.Load(), got.Load())
	}
	puts.Store(1)
	if _, err := st.Put(ctx, "clash", strings.NewReader("x"), "", 0); !errors.Is(err, errs.Conflict) || puts.Load() != 2 {
		t.Errorf("Put of a key that came to clash: %v after %d sends, want a Conflict after one", err, puts.Load()-1)
	}
}
