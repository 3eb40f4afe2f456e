package gateway

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"lakehouse/backends/errs"
	"lakehouse/backends/sqlengine"
)

// streamFormat is the streamed result format the request's Accept names
// (the first it names that there is), if any.
func (g *Gateway) streamFormat(r *http.Request) (sqlengine.Format, bool) {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if f, ok := sqlengine.FormatFor(mt); ok {
			return f, true
		}
	}
	return "", false
}

// exportArgs are POST /v1/sql's arguments for a streamed result; max_rows
// is taken, and ignored, since the whole result is sent.
type exportArgs struct {
	SQL     string `json:"sql"`
	MaxRows int    `json:"max_rows"`
}

// export streams the whole result of body's statement in format f, with
// bounded memory, as the SQL engine writes it (sqlengine.Engine.Export).
// The row count comes in the trailer Lakehouse-Rows. A failure before the
// first byte is an error answer; after it, the stream is cut, so that a
// client cannot take a part for the whole.
func (g *Gateway) export(w http.ResponseWriter, r *http.Request, body json.RawMessage, f sqlengine.Format) {
	var in exportArgs
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeError(w, errs.New(errs.Invalid, "the body of POST /v1/sql must be {\"sql\": \"...\"}: %v", err))
		return
	}
	ctx, end, err := g.begin(r, "query_sql", map[string]any{"sql": in.SQL, "format": f})
	if err != nil {
		writeError(w, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ContentType())
	h.Set("Trailer", "Lakehouse-Rows")
	out := &started{ResponseWriter: w}
	res, err := g.Backends.SQL.Export(ctx, in.SQL, f, out)
	end(err)
	switch {
	case err == nil:
		h.Set("Lakehouse-Rows", strconv.FormatInt(res.Rows, 10))
	case !out.wrote:
		h.Del("Trailer")
		writeError(w, err)
	default:
		panic(http.ErrAbortHandler) // cut the stream: the client sees it end early
	}
}

// started is a ResponseWriter that knows whether anything was written.
type started struct {
	http.ResponseWriter
	wrote bool
}

func (s *started) Write(p []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *started) Unwrap() http.ResponseWriter { return s.ResponseWriter }
