// Package pgpool holds what the engines that keep state in PostgreSQL
// (the catalog, the observer, the vector indexes) do alike with a
// database: say where it is without the DSN's password, open a pool whose
// connects are bounded, and tell a database that does not answer from one
// that refused a statement.
package pgpool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"lakehouse/backends/errs"
)

// Parse parses dsn, the DSN of the PostgreSQL of whose ("the observer's").
// Its error never quotes the DSN, which may hold a password; it says how
// to write one.
func Parse(dsn, whose string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil { // not err, whose text may quote the DSN
		return nil, fmt.Errorf("%s PostgreSQL DSN cannot be parsed; write it as postgres://user:password@host:5432/database or as key=value pairs", whose)
	}
	return cfg, nil
}

// Where returns "host:port/database" of cfg, for messages: never the DSN,
// which may hold a password.
func Where(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))) + "/" + c.Database
}

// Open opens a pool of cfg, at most maxConns connections (0 leaves pgx's
// default), each connect bounded by timeout.
func Open(ctx context.Context, cfg *pgxpool.Config, maxConns int32, timeout time.Duration) (*pgxpool.Pool, error) {
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	if cfg.ConnConfig.ConnectTimeout <= 0 || cfg.ConnConfig.ConnectTimeout > timeout {
		cfg.ConnConfig.ConnectTimeout = timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return pgxpool.NewWithConfig(ctx, cfg)
}

// Unreachable reports whether err says that the server could not be
// reached or went away: a failed connect, a connection cut, or a server
// shutting down (SQLSTATE class 57P).
func Unreachable(err error) bool {
	var connect *pgconn.ConnectError
	var pe *pgconn.PgError
	var ne net.Error
	switch {
	case errors.As(err, &connect), errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &pe):
		return strings.HasPrefix(pe.Code, "57P")
	}
	return false
}

// Fault wraps err, a failure of the database at where (see Where) met
// while doing op, in an error of kind errs.Unavailable whose text names
// the database as whose ("the observer's") and says whether it could not
// be reached.
func Fault(op, whose, where string, err error) error {
	msg := fmt.Sprintf("%s: %s PostgreSQL at %s: %v", op, whose, where, err)
	if Unreachable(err) {
		msg = fmt.Sprintf("%s: %s PostgreSQL at %s is unreachable (%v)", op, whose, where, err)
	}
	return &errs.Error{Kind: errs.Unavailable, Msg: msg, Err: err}
}
