package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/observer"
)

// CLIClient is the client name `mcpd call` connects with; the observer
// records its calls with source "cli".
const CLIClient = "mcpd-call"

// Observe records every tool call that reaches s with obs: endpoint, source,
// outcome, duration and summaries of arguments and result that leave out
// contents, vectors and secrets.
func Observe(s *mcp.Server, obs Operations) {
	s.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			call, ok := req.(*mcp.CallToolRequest)
			if !ok || method != "tools/call" {
				return next(ctx, method, req)
			}
			c := &observedCall{session: call.Session, start: time.Now()}
			ctx = context.WithValue(ctx, observedKey{}, c)
			res, err := next(ctx, method, req)
			failure := ""
			switch r, _ := res.(*mcp.CallToolResult); {
			case err != nil:
				failure = err.Error()
			case r != nil && r.IsError:
				failure = toolErrorText(r)
			}
			c.record(ctx, obs, call.Params.Name, sourceOf(call.Session), call.Session.ID(), call.Params.Arguments, failure)
			return res, err
		}
	})
}

// Watch starts recording, with obs, one call of tool with args from a
// front door other than MCP (whose calls Observe records), such as "rest".
// The call runs with the returned context; done records it with its error,
// nil when it succeeded.
func Watch(ctx context.Context, obs Operations, source, tool string, args json.RawMessage) (_ context.Context, done func(error)) {
	c := &observedCall{start: time.Now()}
	ctx = context.WithValue(ctx, observedKey{}, c)
	return ctx, func(err error) {
		failure := ""
		if err != nil {
			failure = err.Error()
		}
		c.record(ctx, obs, tool, source, "", args, failure)
	}
}

// record records the call c watched: of tool, from source, in session, with
// raw arguments; failure is its error's text, "" when it succeeded.
func (c *observedCall) record(ctx context.Context, obs Operations, tool, source, session string, raw json.RawMessage, failure string) {
	op := observer.Op{
		Endpoint:     tool,
		Source:       source,
		DurationMS:   float64(time.Since(c.start).Microseconds()) / 1000,
		InputSummary: c.inputSummary(raw),
		SessionID:    session,
		Error:        failure,
		Success:      failure == "",
	}
	if op.Success {
		op.OutputSummary = summarizeOutput(c.out)
	}
	obs.Record(context.WithoutCancel(ctx), op)
}

// observedKey holds an *observedCall in the context of a call Observe sees.
type observedKey struct{}

// observedCall is what Observe learns of a call besides its request and
// result: the session, for Escalate, and the handler's typed output, which
// define leaves here so that summaries need not decode the result's JSON.
type observedCall struct {
	session *mcp.ServerSession // nil for a call that came another way
	start   time.Time
	args    any // the arguments as generic JSON, when define decoded them
	out     any
}

// keepArgs leaves the decoded arguments for Observe, which would otherwise
// decode them again.
func keepArgs(ctx context.Context, args any) {
	if c, ok := ctx.Value(observedKey{}).(*observedCall); ok {
		c.args = args
	}
}

// keepOutput leaves a handler's output for Observe, when it watches the call.
func keepOutput(ctx context.Context, out any) {
	if c, ok := ctx.Value(observedKey{}).(*observedCall); ok {
		c.out = out
	}
}

// inputSummary summarizes the call's arguments, decoding raw only when
// define did not.
func (c *observedCall) inputSummary(raw json.RawMessage) string {
	if c.args != nil {
		return summarizeValue(c.args)
	}
	return summarize(raw)
}

// Escalate tells the client whose call made a failure cluster reach the
// threshold, as an MCP logging notification (warning), when it listens,
// and the subscribers of EscalationsURI, on every server, that it changed.
func Escalate(ctx context.Context, c observer.Cluster, op observer.Op) {
	escalated(ctx)
	call, _ := ctx.Value(observedKey{}).(*observedCall)
	if call == nil || call.session == nil {
		return
	}
	_ = call.session.Log(ctx, &mcp.LoggingMessageParams{Level: "warning", Logger: "observer", Data: map[string]any{
		"message":  fmt.Sprintf("%s has failed %d times the same way: %s", c.Endpoint, c.Count, c.Example),
		"sig_hash": c.SigHash, "endpoint": c.Endpoint, "count": c.Count, "first_seen": c.FirstSeen, "example_error": c.Example,
	}})
}

func sourceOf(ss *mcp.ServerSession) string {
	if ss != nil {
		if p := ss.InitializeParams(); p != nil && p.ClientInfo != nil && p.ClientInfo.Name == CLIClient {
			return "cli"
		}
	}
	return "mcp"
}

func toolErrorText(r *mcp.CallToolResult) string {
	for _, c := range r.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			return t.Text
		}
	}
	return "tool error"
}

// isSecret tells names whose values are never recorded.
func isSecret(name string) bool {
	name = strings.ToLower(name)
	for _, w := range []string{"secret", "passw", "token", "apikey", "api_key", "auth", "credential", "bearer"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// isBulk tells names that carry contents or vectors: recorded as sizes.
func isBulk(name string) bool {
	switch strings.ToLower(name) {
	case "content", "text", "texts", "vector", "vectors", "query_vector", "items", "source", "rows", "hits", "events":
		return true
	}
	return false
}

// summarize renders tool arguments as `name=value` pairs in name order,
// with secrets redacted and contents replaced by their size, cut to the
// summary length.
func summarize(args json.RawMessage) string {
	var v any
	if len(args) == 0 || json.Unmarshal(args, &v) != nil {
		return observer.Cut(string(args))
	}
	return summarizeValue(v)
}

func summarizeValue(v any) string {
	var sb strings.Builder
	writeSummary(&sb, "", v, 0)
	return observer.Cut(sb.String())
}

// rendered is a summary part written as it is.
type rendered string

// summarizeOutput renders the top-level fields of a tool's output struct
// the way summarize renders arguments, without encoding the whole output
// (which may hold an object's contents or many rows).
func summarizeOutput(out any) string {
	v := reflect.ValueOf(out)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return ""
	}
	fields := map[string]any{}
	outputFields(v, fields)
	return summarizeValue(fields)
}

// outputFields puts the fields of struct v, as JSON names them, into
// fields, rendering lists and nested objects by their size.
func outputFields(v reflect.Value, fields map[string]any) {
	for sf, f := range v.Fields() {
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		switch {
		case sf.Anonymous && name == "" && f.Kind() == reflect.Struct:
			outputFields(f, fields)
			continue
		case name == "" || name == "-" || !sf.IsExported():
			continue
		case strings.Contains(opts, "omit") && f.IsZero(): // as JSON leaves it out
			continue
		}
		switch f.Kind() {
		case reflect.Slice, reflect.Array:
			fields[name] = rendered(fmt.Sprintf("[%d items]", f.Len()))
		case reflect.Struct:
			if t, ok := f.Interface().(time.Time); ok {
				fields[name] = t
			} else {
				fields[name] = rendered("{…}")
			}
		case reflect.Map:
			fields[name] = rendered(fmt.Sprintf("{%d keys}", f.Len()))
		case reflect.Pointer, reflect.Interface:
			fields[name] = rendered("{…}")
		default:
			fields[name] = f.Interface()
		}
	}
}

func writeSummary(sb *strings.Builder, name string, v any, depth int) {
	switch {
	case name != "" && isSecret(name):
		sb.WriteString("[redacted]")
		return
	case name != "" && isBulk(name):
		sb.WriteString(sizeOf(v))
		return
	}
	switch x := v.(type) {
	case map[string]any:
		if depth > 1 {
			fmt.Fprintf(sb, "{%d keys}", len(x))
			return
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if depth > 0 {
			sb.WriteByte('{')
		}
		for i, k := range keys {
			if i > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(k + "=")
			writeSummary(sb, k, x[k], depth+1)
			if sb.Len() > 2*observer.MaxSummary {
				break
			}
		}
		if depth > 0 {
			sb.WriteByte('}')
		}
	case rendered:
		sb.WriteString(string(x))
	case []any:
		fmt.Fprintf(sb, "[%d items]", len(x))
	case string:
		fmt.Fprintf(sb, "%q", observer.CutTo(x, 80))
	default:
		b, _ := json.Marshal(x)
		sb.Write(b)
	}
}

// sizeOf describes a content or vector argument without its value.
func sizeOf(v any) string {
	switch x := v.(type) {
	case rendered:
		return string(x)
	case string:
		return fmt.Sprintf("<%d bytes>", len(x))
	case []any:
		return fmt.Sprintf("<%d items>", len(x))
	case map[string]any:
		b, _ := json.Marshal(x)
		return fmt.Sprintf("<%d bytes>", len(b))
	case nil:
		return "null"
	}
	return "<value>"
}
