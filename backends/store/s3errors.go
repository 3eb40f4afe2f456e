package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"lakehouse/backends/errs"
)

// ErrUnavailable is the error of a call that could not reach the object
// store's server. It is a fault of the server's surroundings, not of the
// call: the same call works once the server answers again. Such errors
// are of kind errs.Unavailable too.
var ErrUnavailable = errors.New("object store unavailable")

// statusOf returns the HTTP status of an error the server answered with, or
// 0 when no answer came.
func statusOf(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// isMissing reports whether err says the object (or bucket) is not there.
func isMissing(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchBucket":
			return true
		}
	}
	return statusOf(err) == http.StatusNotFound
}

// isConflict reports whether err is a write refused for the state of the
// bucket: 409 (versitygw's ObjectParentIsFile, ExistingObjectIsDirectory)
// or 412 (a condition that no longer holds).
func isConflict(err error) bool {
	st := statusOf(err)
	return st == http.StatusConflict || st == http.StatusPreconditionFailed
}

// fail turns err, from a request made for a call with context ctx, into
// the error of operation op on key ("" for none): nil stays nil; the
// caller's own cancellation is returned as it is; no answer, or none in
// time, is ErrUnavailable naming the endpoint and bucket; refused
// credentials and other answers say what the server said.
func (s *S3) fail(ctx context.Context, op, key string, err error) error {
	if err == nil {
		return nil
	}
	what := op
	if key != "" {
		what = fmt.Sprintf("%s %q", op, key)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	st := statusOf(err)
	var ae smithy.APIError
	switch {
	case st == 0 && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)):
		return errs.New(errs.Unavailable, "%s: %w: the %s did not answer in time; check that the server is up; the next call tries again", what, ErrUnavailable, s.where)
	case st == 0:
		return errs.New(errs.Unavailable, "%s: %w: cannot reach the %s (%s); check that the server is up and storage.endpoint is right; the next call tries again", what, ErrUnavailable, s.where, rootCause(err))
	case st == http.StatusForbidden || st == http.StatusUnauthorized:
		return fmt.Errorf("%s: the %s refused the credentials (%s); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and that they may use the bucket", what, s.where, apiText(err, st))
	case st >= 500:
		return errs.New(errs.Unavailable, "%s: %w: the %s failed (%s); the next call tries again", what, ErrUnavailable, s.where, apiText(err, st))
	case errors.As(err, &ae):
		return fmt.Errorf("%s: the %s answered %s", what, s.where, apiText(err, st))
	}
	return fmt.Errorf("%s: %s: %w", what, s.where, err)
}

// apiText is the status, code and message of an error the server answered.
func apiText(err error, status int) string {
	text := "HTTP " + strconv.Itoa(status)
	var ae smithy.APIError
	if errors.As(err, &ae) {
		text += " " + ae.ErrorCode()
		if m := ae.ErrorMessage(); m != "" {
			text += ": " + m
		}
	}
	return text
}

// rootCause is the network error under the SDK's wrappings, such as "dial
// tcp 127.0.0.1:9000: connect: connection refused", or err itself.
func rootCause(err error) string {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Error()
	}
	return err.Error()
}
