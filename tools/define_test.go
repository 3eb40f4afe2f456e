package tools

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type echoIO struct {
	N int `json:"n"`
}

type infOut struct {
	X float64 `json:"x"`
}

// TestDefineContainsFailures drives define's handlers through an MCP
// session: a panic and an output JSON cannot hold come back as tool errors,
// and the server goes on serving.
func TestDefineContainsFailures(t *testing.T) {
	s := mcp.NewServer(&mcp.Implementation{Name: "test"}, nil)
	Register(s, []Tool{
		define("boom", "panics", readOnly("Boom"), func(context.Context, struct{}) (struct{}, error) {
			panic("kaboom")
		}),
		define("inf", "returns infinity", readOnly("Inf"), func(context.Context, struct{}) (infOut, error) {
			return infOut{X: math.Inf(1)}, nil
		}),
		define("echo", "echoes n", readOnly("Echo"), func(_ context.Context, in echoIO) (echoIO, error) {
			return in, nil
		}),
	})
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := s.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	callText := func(name string, args any) (string, bool) {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return res.Content[0].(*mcp.TextContent).Text, res.IsError
	}
	for _, c := range []struct {
		tool string
		args any
		want string
	}{
		{"boom", nil, "kaboom"},
		{"inf", nil, "cannot be encoded"},
		{"echo", map[string]any{"n": 1, "m": 2}, "m"},
		{"echo", map[string]any{"n": "one"}, "n"},
		{"echo", map[string]any{"n": 1e20}, "argument n must be an integer in range"},
	} {
		if text, isErr := callText(c.tool, c.args); !isErr || !strings.Contains(text, c.want) {
			t.Errorf("%s(%v) = %q (error %v), want a tool error mentioning %q", c.tool, c.args, text, isErr, c.want)
		}
	}
	if text, isErr := callText("echo", map[string]any{"n": 7}); isErr || text != "n: 7" {
		t.Errorf("echo after the failures = %q (error %v)", text, isErr)
	}
}
