// Package prompts holds the MCP prompts of Lakehouse MCP: short texts,
// written for a model, that start a task with the tools (explore a dataset,
// answer from data, look something up by meaning, remember an outcome,
// review failures). Prompts that describe the lakehouse read it live,
// through the same engine interfaces the tools use (tools.Backends).
//
// Register adds them to a server; Complete completes their arguments and,
// through the function it is given, the variables of resource templates.
package prompts

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/backends/errs"
	"lakehouse/tools"
)

// A definition is one prompt: what prompts/list shows, how each argument
// completes, and how prompts/get builds the messages.
type definition struct {
	prompt *mcp.Prompt
	// complete returns the completions of the argument named by key, with
	// value typed so far and the arguments already given.
	complete map[string]completer
	get      func(ctx context.Context, b *tools.Backends, args map[string]string) (*mcp.GetPromptResult, error)
}

// A completer completes one argument.
type completer func(ctx context.Context, b *tools.Backends, value string, given map[string]string) (mcp.CompletionResultDetails, error)

// suggest completes an argument with values of one kind (tools.Suggest).
func suggest(kind tools.Suggestion) completer {
	return func(ctx context.Context, b *tools.Backends, value string, _ map[string]string) (mcp.CompletionResultDetails, error) {
		return b.Suggest(ctx, kind, value)
	}
}

// fixed completes an argument with the values of a short list that start
// with what was typed (any case).
func fixed(values ...string) completer {
	return func(_ context.Context, _ *tools.Backends, value string, _ map[string]string) (mcp.CompletionResultDetails, error) {
		return prefixed(values, value), nil
	}
}

// prefixed keeps the values that start with prefix, in any case.
func prefixed(values []string, prefix string) mcp.CompletionResultDetails {
	d := mcp.CompletionResultDetails{Values: []string{}}
	for _, v := range values {
		if strings.HasPrefix(strings.ToLower(v), strings.ToLower(prefix)) {
			d.Values = append(d.Values, v)
		}
	}
	if len(d.Values) > 100 {
		d.Values, d.HasMore = d.Values[:100], true
	}
	d.Total = len(d.Values)
	return d
}

// all returns the prompts.
func all() []definition {
	return []definition{exploreDataset(), answerFromData(), semanticLookup(), rememberOutcome(), reviewFailures()}
}

// Names lists the prompts' names in order, as prompts/list shows them.
func Names() []string {
	var names []string
	for _, d := range all() {
		names = append(names, d.prompt.Name)
	}
	slices.Sort(names)
	return names
}

// Register adds the prompts to s, reading the lakehouse through b (nil:
// prompts that read it say there is nothing).
func Register(s *mcp.Server, b *tools.Backends) {
	if b == nil {
		b = &tools.Backends{}
	}
	for _, d := range all() {
		s.AddPrompt(d.prompt, func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			args := req.Params.Arguments
			if args == nil {
				args = map[string]string{}
			}
			if err := checkArgs(d.prompt, args); err != nil {
				return nil, err
			}
			res, err := d.get(ctx, b, args)
			if err != nil {
				return nil, promptError(err)
			}
			return res, nil
		})
	}
}

// checkArgs refuses unknown arguments and missing required ones, naming
// the prompt's arguments.
func checkArgs(p *mcp.Prompt, args map[string]string) error {
	var names []string
	known := map[string]bool{}
	for _, a := range p.Arguments {
		names = append(names, a.Name)
		known[a.Name] = true
	}
	for name := range args {
		if !known[name] {
			return invalid("prompt %s has no argument %q; it takes %s", p.Name, name, orNone(names))
		}
	}
	for _, a := range p.Arguments {
		if a.Required && strings.TrimSpace(args[a.Name]) == "" {
			return invalid("prompt %s needs argument %q: %s", p.Name, a.Name, a.Description)
		}
	}
	return nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func invalid(format string, args ...any) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf(format, args...)}
}

// promptError turns a caller's mistake (a dataset that does not exist, say)
// into an invalid-params error with the engine's words; faults stay as they are.
func promptError(err error) error {
	if errs.KindOf(err) != nil {
		return invalid("%s", err.Error())
	}
	return err
}

// Complete returns the server's completion handler: prompt arguments here,
// everything else (resource template variables) by resources.
func Complete(b *tools.Backends, resources func(context.Context, *mcp.CompleteRequest) (*mcp.CompleteResult, error)) func(context.Context, *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	if b == nil {
		b = &tools.Backends{}
	}
	byName := map[string]definition{}
	for _, d := range all() {
		byName[d.prompt.Name] = d
	}
	return func(ctx context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
		ref := req.Params.Ref
		if ref == nil || ref.Type != "ref/prompt" {
			if resources == nil {
				return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{}}}, nil
			}
			return resources(ctx, req)
		}
		d, ok := byName[ref.Name]
		if !ok {
			return nil, invalid("no prompt %q; the prompts are %s", ref.Name, strings.Join(Names(), ", "))
		}
		c := d.complete[req.Params.Argument.Name]
		if c == nil {
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{}}}, nil
		}
		var given map[string]string
		if req.Params.Context != nil {
			given = req.Params.Context.Arguments
		}
		details, err := c(ctx, b, req.Params.Argument.Value, given)
		if err != nil {
			return nil, err
		}
		return &mcp.CompleteResult{Completion: details}, nil
	}
}

// userText is a prompt message from the user.
func userText(text string) *mcp.PromptMessage {
	return &mcp.PromptMessage{Role: "user", Content: &mcp.TextContent{Text: text}}
}

// link is a prompt message pointing at a resource.
func link(uri, name, description string) *mcp.PromptMessage {
	return &mcp.PromptMessage{Role: "user", Content: &mcp.ResourceLink{URI: uri, Name: name, Description: description, MIMEType: "application/json"}}
}
