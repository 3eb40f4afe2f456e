package embed

// The HTTP plumbing that the ollama and openai providers share.
//
// One call to post is one logical request: it marshals the body once, then
// makes up to 1+retries attempts. Each attempt has its own deadline
// (Config.Timeout), so a hung server costs one timeout, not the caller's
// whole budget. Attempts are retried on network errors, on timeouts of the
// attempt and on 429 and 5xx answers, after an exponential backoff with
// jitter, or after the server's Retry-After when it sends one (capped, so a
// server cannot park us for an hour). The caller's own context ends the
// loop at once, also while waiting between attempts.
//
// Answers are read through a size cap before decoding, and a non-2xx answer
// becomes a *remoteStatusError (status and the server's own message) wrapped
// in an error whose class says who can fix it: errs.Invalid for a rejected
// request, errs.TooLarge for a 413, errs.Busy for a rate limit that outlasted
// the retries, a plain error (a fault) for the rest, 401 and 404 included:
// credentials and URLs are the operator's to fix, not the caller's.
//
// The vectors themselves are checked by remoteDims: the count matches the
// texts, every vector is finite, and every vector has the same length as the
// configured dimension and as every earlier answer.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"lakehouse/backends/errs"
)

// Defaults of the remote providers.
const (
	DefaultTimeout   = 30 * time.Second // per request
	DefaultRetries   = 3                // retries after the first attempt
	DefaultBatchSize = 64               // texts per request

	// DefaultMaxResponseBytes caps one answer of an embedding server.
	DefaultMaxResponseBytes = 256 << 20
)

// Retry timings; a remoteClient copies them at construction, so tests shrink
// the fields of one client rather than these.
const (
	defaultRetryBase     = 250 * time.Millisecond // wait before the first retry
	defaultRetryMax      = 8 * time.Second        // longest computed backoff
	defaultRetryAfterCap = 30 * time.Second       // longest Retry-After honoured
)

// remoteHTTP is the client of every remote provider. Its transport is the
// default one (proxies from the environment, keep-alives); deadlines come
// from each attempt's context, not from a client-wide timeout.
var remoteHTTP = &http.Client{Transport: http.DefaultTransport}

// remoteClient posts JSON to one embedding server with timeouts and retries.
type remoteClient struct {
	name    string      // provider name for messages: "ollama", "openai"
	header  http.Header // sent with every request (e.g. Authorization)
	hint401 string      // appended to 401/403 errors, e.g. which env var holds the key

	timeout       time.Duration // per attempt
	retries       int           // attempts after the first
	retryBase     time.Duration
	retryMax      time.Duration
	retryAfterCap time.Duration
	maxBody       int64

	http *http.Client
}

// newRemoteClient applies the defaults of cfg's Timeout and Retries.
func newRemoteClient(name string, cfg Config) (*remoteClient, error) {
	if cfg.Timeout < 0 {
		return nil, errs.New(errs.Invalid, "embed timeout %v is negative; use 0 for the default %v", cfg.Timeout, DefaultTimeout)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	retries := cfg.Retries
	switch {
	case retries == 0:
		retries = DefaultRetries
	case retries < 0:
		retries = 0
	}
	return &remoteClient{
		name:          name,
		header:        http.Header{},
		timeout:       timeout,
		retries:       retries,
		retryBase:     defaultRetryBase,
		retryMax:      defaultRetryMax,
		retryAfterCap: defaultRetryAfterCap,
		maxBody:       DefaultMaxResponseBytes,
		http:          remoteHTTP,
	}, nil
}

// remoteBaseURL checks a configured server URL and trims its trailing slash.
func remoteBaseURL(provider, raw, def string) (string, error) {
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errs.New(errs.Invalid, "embed url %q for provider %s is not an http(s) URL; e.g. %s", raw, provider, def)
	}
	return strings.TrimRight(raw, "/"), nil
}

// remoteStatusError is a non-2xx answer of an embedding server.
type remoteStatusError struct {
	Provider string
	URL      string
	Status   int
	Message  string // the server's message, from its JSON error body or its text
}

func (e *remoteStatusError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s: POST %s: %d: %s", e.Provider, e.URL, e.Status, msg)
}

// post sends in as JSON to url and decodes a 2xx answer into out.
func (c *remoteClient) post(ctx context.Context, url string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", c.name, err)
	}
	for attempt := 0; ; attempt++ {
		data, retryAfter, err := c.attempt(ctx, url, body)
		if err == nil {
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("%s: POST %s: malformed JSON answer (%w): %s", c.name, url, err, snippet(data))
			}
			return nil
		}
		// The caller gave up: stop now, whatever the attempt said.
		if ctx.Err() != nil {
			return fmt.Errorf("%s: POST %s: %w", c.name, url, context.Cause(ctx))
		}
		if !retryable(err) || attempt >= c.retries {
			return c.classify(err, attempt+1)
		}
		wait := c.backoff(attempt)
		if retryAfter > 0 {
			wait = min(retryAfter, c.retryAfterCap)
		}
		slog.Debug("embed: retrying", "provider", c.name, "url", url, "attempt", attempt+1, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: POST %s: %w (while waiting to retry after: %v)", c.name, url, context.Cause(ctx), err)
		case <-t.C:
		}
	}
}

// errAttemptTimeout marks an attempt that outlived Config.Timeout.
var errAttemptTimeout = errors.New("no answer within the timeout")

// attempt makes one request. It returns the body of a 2xx answer, or an
// error and the wait the server asked for in Retry-After, if any.
func (c *remoteClient) attempt(ctx context.Context, url string, body []byte) ([]byte, time.Duration, error) {
	actx, cancel := context.WithTimeoutCause(ctx, c.timeout, errAttemptTimeout)
	defer cancel()

	req, err := http.NewRequestWithContext(actx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", c.name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	for k, v := range c.header {
		req.Header[k] = v
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, c.netError(actx, url, err)
	}
	defer resp.Body.Close()

	// Read at most maxBody+1 bytes: one more than allowed tells an
	// oversized answer from one of exactly the cap.
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, 0, c.netError(actx, url, err)
	}
	if int64(len(data)) > c.maxBody {
		return nil, 0, fmt.Errorf("%s: POST %s: answer larger than %d bytes", c.name, url, c.maxBody)
	}
	if resp.StatusCode/100 == 2 {
		return data, 0, nil
	}
	return nil, retryAfter(resp.Header.Get("Retry-After")), &remoteStatusError{
		Provider: c.name,
		URL:      url,
		Status:   resp.StatusCode,
		Message:  serverMessage(data),
	}
}

// remoteNetError is a transport failure or a timed-out attempt; both are
// worth retrying.
type remoteNetError struct {
	msg string
	err error
}

func (e *remoteNetError) Error() string { return e.msg }
func (e *remoteNetError) Unwrap() error { return e.err }

func (c *remoteClient) netError(actx context.Context, url string, err error) error {
	if errors.Is(context.Cause(actx), errAttemptTimeout) {
		return &remoteNetError{
			msg: fmt.Sprintf("%s: POST %s: no answer within %v (embed timeout)", c.name, url, c.timeout),
			err: errAttemptTimeout,
		}
	}
	return &remoteNetError{msg: fmt.Sprintf("%s: POST %s: %v", c.name, url, err), err: err}
}

// retryable reports whether another attempt may succeed.
func retryable(err error) bool {
	var ne *remoteNetError
	if errors.As(err, &ne) {
		return true
	}
	var se *remoteStatusError
	if errors.As(err, &se) {
		switch {
		case se.Status == http.StatusTooManyRequests:
			return true
		case se.Status == http.StatusNotImplemented, se.Status == http.StatusHTTPVersionNotSupported:
			return false
		case se.Status >= 500:
			return true
		}
	}
	return false
}

// classify turns the last attempt's error into what the caller sees.
func (c *remoteClient) classify(err error, attempts int) error {
	tries := ""
	if attempts > 1 {
		tries = fmt.Sprintf(" (after %d attempts)", attempts)
	}
	var se *remoteStatusError
	if !errors.As(err, &se) {
		if retryable(err) {
			return fmt.Errorf("%w%s", err, tries)
		}
		return err
	}
	switch s := se.Status; {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		// The server's credentials are an operator's business, not the
		// caller's: a fault, with a hint for whoever reads the log.
		if c.hint401 == "" {
			return fmt.Errorf("%w", se)
		}
		return fmt.Errorf("%w; %s", se, c.hint401)
	case s == http.StatusNotFound:
		// A missing model is the provider's to recognise; any other 404
		// means the configured URL is not the server it should be.
		return fmt.Errorf("%w; check the embed url", se)
	case s == http.StatusTooManyRequests:
		return errs.New(errs.Busy, "%w%s; the embedding server is rate limiting, try again later", se, tries)
	case s == http.StatusRequestEntityTooLarge:
		return errs.New(errs.TooLarge, "%w; send fewer or shorter texts", se)
	case s >= 400 && s < 500:
		return errs.New(errs.Invalid, "%w", se)
	default:
		return fmt.Errorf("%w%s", se, tries)
	}
}

// backoff is the wait before retry n+1: base*2^n, capped, with jitter
// (uniform in its upper half, so retries of many callers spread out).
func (c *remoteClient) backoff(n int) time.Duration {
	d := c.retryBase << min(n, 30)
	if d <= 0 || d > c.retryMax {
		d = c.retryMax
	}
	half := d / 2
	return half + rand.N(half+1)
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
// It returns 0 when the header is absent or useless.
func retryAfter(h string) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(h, 64); err == nil {
		if secs <= 0 || math.IsNaN(secs) || secs > 1e6 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// serverMessage extracts the message of an error body. It knows
// {"error":"..."} (Ollama, llama.cpp), {"error":{"message":"..."}}
// (OpenAI, vLLM), {"message":"..."} and {"detail":"..."}; anything else is
// quoted as text, shortened.
func serverMessage(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  any             `json:"detail"`
	}
	if json.Unmarshal(body, &v) == nil {
		var s string
		if json.Unmarshal(v.Error, &s) == nil && s != "" {
			return s
		}
		var obj struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(v.Error, &obj) == nil && obj.Message != "" {
			return obj.Message
		}
		if v.Message != "" {
			return v.Message
		}
		if s, ok := v.Detail.(string); ok && s != "" {
			return s
		}
	}
	return snippet(body)
}

// snippet is the start of a body, for messages.
func snippet(body []byte) string {
	const limit = 200
	s := strings.TrimSpace(string(body))
	if len(s) > limit {
		s = strings.ToValidUTF8(s[:limit], "") + "..."
	}
	return s
}

// remoteDims checks the vectors of a remote model and learns its dimension.
type remoteDims struct {
	name    string // model name for messages, e.g. "ollama:nomic-embed-text"
	want    int    // Config.Dims; 0 = learn from the first answer
	learned atomic.Int64
}

// Dim is the configured dimension, else the learned one, else 0.
func (d *remoteDims) Dim() int {
	if d.want > 0 {
		return d.want
	}
	return int(d.learned.Load())
}

// check validates one answer of n texts.
func (d *remoteDims) check(vecs [][]float32, n int) error {
	if len(vecs) != n {
		return fmt.Errorf("%s returned %d vectors for %d texts", d.name, len(vecs), n)
	}
	if n == 0 {
		return nil
	}
	dim := len(vecs[0])
	for i, v := range vecs {
		if len(v) == 0 {
			return fmt.Errorf("%s returned an empty vector for text %d; is it an embedding model?", d.name, i)
		}
		if len(v) != dim {
			return fmt.Errorf("%s returned vectors of different lengths in one answer: %d (text 0) and %d (text %d)", d.name, dim, len(v), i)
		}
		for j, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("%s returned a non-finite value (%v) at position %d of the vector of text %d", d.name, x, j, i)
			}
		}
	}
	if d.want > 0 && dim != d.want {
		return fmt.Errorf("%s returned %d-dimensional vectors but embed dims is %d; fix dims in the config or the model", d.name, dim, d.want)
	}
	if d.learned.CompareAndSwap(0, int64(dim)) {
		return nil
	}
	if prev := int(d.learned.Load()); prev != dim {
		return fmt.Errorf("%s returned %d-dimensional vectors but earlier answers had %d; did the model behind the name change?", d.name, dim, prev)
	}
	return nil
}
