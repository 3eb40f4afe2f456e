package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lakehouse/tools"
)

// errToolFailed marks a tool error, already printed; mcpd exits 1.
var errToolFailed = errors.New("tool failed")

// callCommand runs one tool through an MCP client session, in process when
// this process owns the data directory, else through the owner's socket, and
// prints its structured result as JSON.
func callCommand(ctx context.Context, cfg Config, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 1 || len(args) > 2 {
		return usageError("call wants a tool name and its arguments: mcpd call TOOL '{json}' (or @file, or - for stdin)")
	}
	name, raw := args[0], "{}"
	if len(args) == 2 {
		raw = args[1]
	}
	argsJSON, err := readArgs(raw, stdin)
	if err != nil {
		return err
	}
	n, err := attach(ctx, cfg)
	if err != nil {
		return err
	}
	defer n.Close()
	cs, err := n.connect(ctx, cfg, tools.CLIClient, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: argsJSON})
	if err != nil {
		return err
	}
	if res.IsError {
		fmt.Fprintln(stderr, contentText(res))
		return errToolFailed
	}
	if res.StructuredContent == nil {
		_, err := fmt.Fprintln(stdout, contentText(res))
		return err
	}
	// The text content is the result as the server encoded it, unless the
	// tool renders a table there. Indenting that text, rather than encoding
	// the decoded structured content again, keeps big integers exact.
	var out bytes.Buffer
	if err := json.Indent(&out, []byte(contentText(res)), "", "  "); err != nil {
		out.Reset()
		b, err := json.MarshalIndent(res.StructuredContent, "", "  ")
		if err != nil {
			return err
		}
		out.Write(b)
	}
	_, err = fmt.Fprintf(stdout, "%s\n", out.Bytes())
	return err
}

// readArgs reads a tool's JSON arguments from the command line: inline,
// "@file", or "-" for standard input.
func readArgs(raw string, stdin io.Reader) (json.RawMessage, error) {
	var data []byte
	switch {
	case raw == "-":
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, err
		}
		data = b
	case strings.HasPrefix(raw, "@"):
		b, err := os.ReadFile(raw[1:])
		if err != nil {
			return nil, usageError(fmt.Sprintf("read arguments: %v", err))
		}
		data = b
	default:
		data = []byte(raw)
	}
	// Only the shape is checked here; the server decodes the values and
	// explains what is wrong with them.
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, usageError(fmt.Sprintf("tool arguments must be a JSON object: %v", err))
	}
	return data, nil
}

func contentText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, "\n")
}
