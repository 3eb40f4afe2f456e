package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse/backends/errs"
	"lakehouse/backends/ingest"
)

// streamed adds the routes whose bodies or results are streamed: object
// bodies in and out, ingest bodies, and query results in other formats
// than JSON (see sql). Each is checked and observed as the tool it stands
// for (put_object, get_object, ingest_dataset, query_sql).
func (g *Gateway) streamed(r chi.Router) {
	r.Put("/storage/put/*", g.putObject)
	r.Get("/storage/get/*", g.getObject)
	r.Head("/storage/get/*", g.getObject)
	r.Post("/ingest", g.ingest)
	r.Post("/sql", g.sql)
}

// streamedRoutes are the streamed routes, for the OpenAPI document.
var streamedRoutes = []route{
	{"PUT", "/storage/put/{key}", "put_object", "store the raw body as an object (streamed; gateway.max_body_bytes)"},
	{"GET", "/storage/get/{key}", "get_object", "an object's raw bytes, with ETag, If-None-Match and Range"},
	{"POST", "/ingest", "ingest_dataset", "ingest the raw or multipart body as a dataset: ?name=&format=&mode=&options={json}"},
	{"POST", "/sql", "query_sql", "run a read-only query: JSON rows, or with Accept: text/csv, application/x-ndjson, application/vnd.apache.arrow.stream or application/vnd.apache.parquet the whole result, streamed"},
}

// begin takes what a streamed call of tool needs: its permission, a place
// among the writes when it writes, a deadline and its record (args
// summarise it for the observer). end releases them with the call's error.
func (g *Gateway) begin(r *http.Request, tool string, args any) (ctx context.Context, end func(error), err error) {
	_, release, err := g.tool(r, tool)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), cmp.Or(g.RequestTimeout, DefaultRequestTimeout))
	raw, _ := json.Marshal(args)
	ctx, done := g.watch(ctx, tool, raw)
	return ctx, func(err error) {
		done(err)
		cancel()
		release()
	}, nil
}

// longBody lets the body of r arrive for as long as the call may take,
// rather than the server's read timeout, which is sized for JSON.
func (g *Gateway) longBody(w http.ResponseWriter) {
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(cmp.Or(g.RequestTimeout, DefaultRequestTimeout)))
}

func (g *Gateway) putObject(w http.ResponseWriter, r *http.Request) {
	g.longBody(w)
	key := chi.URLParam(r, "*")
	ctx, end, err := g.begin(r, "put_object", map[string]any{"key": key, "content_type": r.Header.Get("Content-Type")})
	if err != nil {
		writeError(w, err)
		return
	}
	max := cmp.Or(g.MaxBodyBytes, DefaultMaxBodyBytes)
	if r.ContentLength > max {
		err = errs.New(errs.TooLarge, "the body is %d bytes, over the %d-byte limit (gateway.max_body_bytes)", r.ContentLength, max)
	} else {
		info, perr := g.Backends.PutStream(ctx, key, r.Body, mediaType(r.Header.Get("Content-Type")), max)
		if err = perr; err == nil {
			end(nil)
			writeJSON(w, http.StatusOK, info)
			return
		}
		err = bodyLimit(err)
	}
	end(err)
	writeError(w, err)
}

// mediaType is a Content-Type header's media type, or "" (the store then
// guesses from the key) for none or the generic ones curl and clients send.
func mediaType(header string) string {
	mt, _, err := mime.ParseMediaType(header)
	if err != nil || mt == "application/octet-stream" || mt == "application/x-www-form-urlencoded" {
		return ""
	}
	return header
}

func (g *Gateway) getObject(w http.ResponseWriter, r *http.Request) {
	key := chi.URLParam(r, "*")
	ctx, end, err := g.begin(r, "get_object", map[string]any{"key": key})
	if err != nil {
		writeError(w, err)
		return
	}
	body, info, err := g.Backends.Store.Get(ctx, key)
	end(err)
	if err != nil {
		writeError(w, err)
		return
	}
	defer body.Close()
	h := w.Header()
	h.Set("Content-Type", info.ContentType)
	h.Set("ETag", strconv.Quote(info.ETag))
	if rs, ok := body.(io.ReadSeeker); ok {
		if f, ok := body.(interface{ OSFile() *os.File }); ok {
			rs = f.OSFile() // sent with sendfile
		}
		// Range, If-None-Match, If-Modified-Since and HEAD.
		http.ServeContent(w, r, path.Base(key), info.Modified, rs)
		return
	}
	h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	if r.Method != http.MethodHead {
		io.Copy(w, body)
	}
}

func (g *Gateway) ingest(w http.ResponseWriter, r *http.Request) {
	g.longBody(w)
	q := r.URL.Query()
	name, format, mode := q.Get("name"), q.Get("format"), q.Get("mode")
	ctx, end, err := g.begin(r, "ingest_dataset", map[string]any{"name": name, "format": format, "mode": mode})
	if err != nil {
		writeError(w, err)
		return
	}
	res, err := g.ingestBody(ctx, r, name, format, mode)
	end(err)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// ingestBody ingests the request's body: the raw body, or the first file of
// a multipart form, whose name gives the format when none is asked for.
func (g *Gateway) ingestBody(ctx context.Context, r *http.Request, name, format, mode string) (*ingest.Result, error) {
	var options ingest.Options
	if o := r.URL.Query().Get("options"); o != "" {
		dec := json.NewDecoder(strings.NewReader(o))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&options); err != nil {
			return nil, errs.New(errs.Invalid, "options=%s: want a JSON object of ingest_dataset's options: %v", o, err)
		}
	}
	max := cmp.Or(g.MaxBodyBytes, DefaultMaxBodyBytes)
	if r.ContentLength > max {
		return nil, errs.New(errs.TooLarge, "the body is %d bytes, over the %d-byte limit (gateway.max_body_bytes)", r.ContentLength, max)
	}
	var body io.Reader = r.Body
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		part, err := firstFile(multipart.NewReader(r.Body, params["boundary"]))
		if err != nil {
			return nil, err
		}
		defer part.Close()
		if format == "" {
			format = formatOf(part.FileName())
		}
		body = part
	}
	res, err := g.Backends.IngestStream(ctx, name, format, mode, options, body, max)
	return res, bodyLimit(err)
}

// bodyLimit names the setting in an error about a body over the limit.
func bodyLimit(err error) error {
	if errs.KindOf(err) == errs.TooLarge {
		return errs.New(errs.TooLarge, "%v (gateway.max_body_bytes)", err)
	}
	return err
}

// firstFile returns the first part of a multipart form that is a file.
func firstFile(mr *multipart.Reader) (*multipart.Part, error) {
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, errs.New(errs.Invalid, "the multipart form holds no file: send the data as a file field (curl -F file=@data.csv), or as the raw body")
		}
		if err != nil {
			return nil, errs.New(errs.Invalid, "read the multipart form: %v", err)
		}
		if part.FileName() != "" {
			return part, nil
		}
		part.Close()
	}
}

// formatOf is the ingest format an upload's file name gives, or "" (detect).
func formatOf(name string) string {
	switch ext := strings.ToLower(strings.TrimPrefix(path.Ext(name), ".")); ext {
	case "csv", "tsv", "json", "ndjson", "parquet":
		return ext
	case "jsonl":
		return "ndjson"
	}
	return ""
}

// sql serves POST /v1/sql: query_sql's JSON result, or, when Accept asks
// for a streamed format, the whole result in it (see export).
func (g *Gateway) sql(w http.ResponseWriter, r *http.Request) {
	body, err := g.readJSON(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	if f, ok := g.streamFormat(r); ok {
		g.export(w, r, body, f)
		return
	}
	g.invoke(w, r, "query_sql", body)
}
