// Package s3test runs a real S3-compatible server, versitygw, on loopback
// for tests: each [Start] gets a server of its own, on a free port, over a
// folder of the test's, stopped when the test ends. [Server.Stop] and
// [Server.Start] take it down and bring it back, for fault tests.
//
// The binary is found on PATH, in $GOBIN or in $GOPATH/bin (where
// "go install" puts it). When it is missing the test fails, saying how to
// install it, unless LAKEHOUSE_TEST_SKIP_S3=1 skips the S3 tests.
package s3test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"lakehouse/internal/testproc"
)

// The server's fixed settings.
const (
	AccessKey = "lakehouse-test"
	SecretKey = "lakehouse-test-secret"
	Region    = "us-east-1"

	// Install is the command that installs the version the tests are made for.
	Install = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

	// SkipEnv names the variable that, set to 1, skips the S3 tests when
	// the binary is missing.
	SkipEnv = "LAKEHOUSE_TEST_SKIP_S3"

	// readyTimeout bounds the wait for a started server to answer.
	readyTimeout = 30 * time.Second
)

// Server is one versitygw process and the folder it serves.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT

	t    testing.TB
	bin  string
	addr string // 127.0.0.1:PORT, the same across restarts
	dir  string // the posix backend's folder: one subfolder a bucket

	run     testproc.Runner
	mu      sync.Mutex
	buckets int // made so far, to name the next
}

// Start starts a server for t, or fails t (or skips it, see SkipEnv) when
// versitygw is not installed. The server stops when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		testproc.Missing(t, err, Install, SkipEnv, "S3")
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	s.run = testproc.Runner{Name: "versitygw", Spawn: s.spawn, Timeout: readyTimeout, Signal: syscall.SIGTERM, Grace: 10 * time.Second}
	s.addr = testproc.OnFreePort(t, "versitygw", func(addr string) error {
		s.addr, s.Endpoint = addr, "http://"+addr
		return s.run.Up()
	})
	t.Cleanup(s.Stop)
	return s
}

// Binary returns the path of the versitygw binary, or an error saying
// where it was looked for.
func Binary() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	for _, p := range filepath.SplitList(gopath) {
		dirs = append(dirs, filepath.Join(p, "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "versitygw")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("versitygw is not on PATH nor in %v", dirs)
}

// Start starts the server again after Stop, on the same port and folder,
// and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.run.Up(); err != nil {
		s.t.Fatalf("restart versitygw: %v", err)
	}
}

// spawn is the command of a start, ready once it answers HTTP (any
// status: the server refuses unsigned requests).
func (s *Server) spawn() (*exec.Cmd, func() error) {
	cmd := exec.Command(s.bin, "--access", AccessKey, "--secret", SecretKey, "--region", Region, "--port", s.addr, "--quiet", "posix", s.dir)
	client := &http.Client{Timeout: time.Second}
	return cmd, func() error {
		resp, err := client.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
}

// Stop stops the server, if it runs, and waits until it has exited, so
// that its port is closed when Stop returns.
func (s *Server) Stop() { s.run.Down() }

// Client returns an S3 client of the server, signed with its keys.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:                     Region,
		BaseEndpoint:               aws.String(s.Endpoint),
		UsePathStyle:               true,
		Credentials:                Credentials(),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// Credentials are the server's keys.
func Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, "")
}

// Bucket creates a bucket of a new name and returns the name.
func (s *Server) Bucket() string {
	s.t.Helper()
	s.mu.Lock()
	s.buckets++
	name := "bucket-" + strconv.Itoa(s.buckets)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		s.t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}
