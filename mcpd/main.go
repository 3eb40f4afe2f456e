// Command mcpd is Lakehouse MCP: one binary that gives an AI agent object
// storage, datasets and read-only SQL as MCP tools, over stdio (the default),
// streamable HTTP and SSE, and from the command line with `mcpd call`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"lakehouse/tools"
)

const usage = `mcpd: Lakehouse MCP, object storage, datasets and SQL as MCP tools.

Usage:
  mcpd [flags]                      serve MCP on stdio (what MCP clients launch)
  mcpd [flags] --http 127.0.0.1:3110
                                    serve streamable HTTP at /mcp, SSE at /sse, the REST
                                    gateway at /v1 (GET /v1/openapi.json), GET /health
  mcpd tools [--json]               list the tools (--json: with their schemas)
  mcpd help TOOL                    show one tool's description and arguments
  mcpd [flags] call TOOL [ARGS]     run one tool and print its result as JSON; ARGS is
                                    '{json}', @file or - (stdin); default {}. A tool error
                                    exits 1 with the message on stderr.
  mcpd version                      print the version
  mcpd help                         show this help

Flags:
  --config PATH   lakehouse.toml to load (also LAKEHOUSE_CONFIG); every key has a default
  --data DIR      data directory (also LAKEHOUSE_DATA; default $XDG_DATA_HOME/lakehouse,
                  else ~/.local/share/lakehouse)
  --http ADDR     serve HTTP on ADDR instead of stdio (loopback unless a token is required:
                  server.auth_token, [[auth.tokens]] or [auth.oauth])
  --stateless     streamable HTTP without sessions
  --read-only     leave out every tool that changes data, over MCP and /v1 (auth.read_only)

Environment variables LAKEHOUSE_<SECTION>_<KEY> override single config keys, e.g.
LAKEHOUSE_SQL_THREADS=2 or LAKEHOUSE_INGEST_ALLOWED_PATHS=/data/in (see lakehouse.toml).

Several mcpd processes may share a data directory: the first owns it and serves
the others through the unix socket DATA/mcpd.sock; when it exits, one of the
others takes over and the rest forward to it, their clients carrying on.

Examples:
  mcpd call put_object '{"key":"notes/a.txt","content":"hello"}'
  mcpd call ingest_dataset '{"name":"sales","source":{"content":"region,amount\nnorth,10\n"}}'
  mcpd call query_sql '{"sql":"SELECT region, sum(amount) FROM sales GROUP BY ALL"}'
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// usageError is a mistake on the command line; mcpd prints it with a hint.
type usageError string

func (e usageError) Error() string { return string(e) }

// run is mcpd with its inputs made explicit, so tests can drive it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	err := dispatch(ctx, args, stdin, stdout, stderr, env)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0
	case errors.Is(err, errToolFailed):
		return 1
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "mcpd: %v\nRun 'mcpd help' for usage.\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "mcpd: %v\n", err)
		return 1
	}
}

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) error {
	fs := flag.NewFlagSet("mcpd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configPath := fs.String("config", env("LAKEHOUSE_CONFIG"), "")
	dataDir := fs.String("data", "", "")
	httpAddr := fs.String("http", "", "")
	stateless := fs.Bool("stateless", false, "")
	readOnly := fs.Bool("read-only", false, "")
	asJSON := fs.Bool("json", false, "")
	parse := func(args []string) ([]string, error) {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError(err.Error())
		}
		return fs.Args(), nil
	}
	rest, err := parse(args)
	if err != nil {
		return err
	}
	cmd := ""
	if len(rest) > 0 {
		// Flags may also follow the command: mcpd call --data DIR TOOL ARGS.
		cmd = rest[0]
		if rest, err = parse(rest[1:]); err != nil {
			return err
		}
	}
	switch cmd {
	case "help":
		if len(rest) == 1 {
			return toolHelp(stdout, rest[0])
		}
		return flag.ErrHelp
	case "version":
		fmt.Fprintf(stdout, "mcpd %s\n", version)
		return nil
	case "tools":
		return listTools(stdout, *asJSON)
	case "", "call":
	default:
		return usageError(fmt.Sprintf("unknown command %q", cmd))
	}

	cfg, err := loadConfig(*configPath, env)
	if err != nil {
		return err
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *httpAddr != "" {
		cfg.Server.HTTP = *httpAddr
	}
	if *stateless {
		cfg.Server.Stateless = true
	}
	if *readOnly {
		cfg.Auth.ReadOnly = true
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	level := slog.LevelInfo
	if cmd == "call" {
		level = slog.LevelWarn
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})))

	if cfg.Auth.ReadOnly {
		// The sessions this process opens itself (stdio, mcpd call) may only
		// read; HTTP callers get their scope, capped too, from auth.go.
		ctx = withScope(ctx, scopeRead)
		if cmd == "call" && len(rest) > 0 && !readOnlyNames(tools.All(nil))[rest[0]] {
			// Refused here too: an owner of the data directory in another
			// process would not know of this flag.
			return usageError(fmt.Sprintf("--read-only (auth.read_only): tool %q changes data, or does not exist; mcpd tools lists the tools", rest[0]))
		}
	}
	if cmd == "call" {
		return callCommand(ctx, cfg, rest, stdin, stdout, stderr)
	}
	if len(rest) > 0 {
		return usageError(fmt.Sprintf("unexpected arguments %q", rest))
	}
	configName := *configPath
	if configName == "" {
		configName = "(none: defaults and environment)"
	}
	slog.Info("mcpd starting", "version", version, "data_dir", cfg.DataDir, "config", configName)
	if cfg.Server.HTTP != "" {
		ln, err := listen(cfg, cfg.Server.HTTP)
		if err != nil {
			return err
		}
		return serveHTTP(ctx, cfg, ln, func() (*node, error) { return attach(ctx, cfg) })
	}
	n, err := attach(ctx, cfg)
	if err != nil {
		return err
	}
	defer n.Close()
	return serveStdio(ctx, cfg, n)
}
