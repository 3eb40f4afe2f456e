package catalog

// The catalog in PostgreSQL, for several nodes over one database.
//
// Each dataset is a row of catalog_datasets and its entries, the same
// deltas as the store's log, rows of catalog_entries (see pg_schema.go). A
// commit is one transaction: it locks the dataset's row, reads the entries
// other nodes added since this node last looked, works out its own entry
// against them (rebasing an append made on a stale version), and inserts
// it. So two nodes committing to one dataset at once take turns on the row
// lock, and each commit follows the one before it.
//
// Every change also takes the next number of catalog_clock, the one row of
// which each writer updates last in its transaction; the row lock makes the
// numbers follow the order of the commits, and the dataset's row records
// the number of its last change (a drop marks the row dropped rather than
// deleting it). Before a read answers, a node compares the clock with the
// number it has seen, one indexed read of one row, and on a change reads in
// one snapshot the datasets changed since and their new entries. A read that
// starts after a commit returned on any node therefore sees it. Concurrent
// reads share one such check. While the database cannot be reached, reads
// answer from memory (what this node last saw) and the check is retried at
// most once a second; writes fail, naming the database.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"lakehouse/backends/errs"
	"lakehouse/internal/pgpool"
)

// Defaults of PostgresConfig.
const (
	DefaultPostgresTimeout = 10 * time.Second
	DefaultPostgresConns   = 4
)

// Bounds of reads that answer from memory when the database is slow or down.
const (
	// refreshTimeout bounds the check a read makes before answering.
	refreshTimeout = 2 * time.Second
	// refreshRetry is how long reads answer from memory, without asking,
	// after a check failed.
	refreshRetry = time.Second
)

// PostgresConfig says how to reach the catalog's database.
type PostgresConfig struct {
	// DSN is a PostgreSQL connection string, as a URL or key=value pairs.
	DSN string
	// Timeout bounds each write and the start-up; 0 means
	// DefaultPostgresTimeout.
	Timeout time.Duration
	// MaxConns bounds the pool; 0 means DefaultPostgresConns.
	MaxConns int32
}

// ParsePostgres checks dsn and returns where it points, "host:port/database",
// for messages. Its error never holds the DSN, which may hold a password.
func ParsePostgres(dsn string) (*pgxpool.Config, string, error) {
	if dsn == "" {
		return nil, "", errors.New("the catalog's PostgreSQL DSN is empty; give one such as postgres://user@host:5432/lakehouse")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// Not err: its text may quote the DSN, password and all.
		return nil, "", errors.New("the catalog's PostgreSQL DSN cannot be parsed; write it as postgres://user:password@host:5432/database?sslmode=disable or as key=value pairs (host=... dbname=...)")
	}
	return cfg, pgpool.Where(cfg), nil
}

// pgJournal is the journal in PostgreSQL.
type pgJournal struct {
	pool    *pgxpool.Pool
	where   string // host:port/database, for messages
	timeout time.Duration

	seen int64 // the clock this node's memory is up to; guarded by the catalog's lock

	// Coalescing of the checks reads make (see refresh).
	ticks    atomic.Uint64
	follow   sync.Mutex
	covered  uint64    // the tick at which the last finished check started
	failedAt time.Time // when the last check failed; zero after a success
}

var _ journal = (*pgJournal)(nil)

// OpenPostgres opens the catalog kept in the PostgreSQL database of cfg,
// whose dataset files are in st. It brings the database's schema up to
// date first (see migrate).
func OpenPostgres(ctx context.Context, st Files, cfg PostgresConfig) (*Catalog, error) {
	pcfg, where, err := ParsePostgres(cfg.DSN)
	if err != nil {
		return nil, err
	}
	j := &pgJournal{where: where, timeout: cfg.Timeout}
	if j.timeout <= 0 {
		j.timeout = DefaultPostgresTimeout
	}
	maxConns := cfg.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultPostgresConns
	}
	if j.pool, err = pgpool.Open(ctx, pcfg, maxConns, j.timeout); err != nil {
		return nil, j.fault("connect", err)
	}
	ctx, cancel := context.WithTimeout(ctx, j.timeout)
	defer cancel()
	if err := j.migrate(ctx); err != nil {
		j.pool.Close()
		return nil, err
	}
	c, err := open(ctx, st, j)
	if err != nil {
		j.pool.Close()
		return nil, err
	}
	return c, nil
}

// fault wraps err, a failure of the database, in a message that names it.
// A database that does not answer is of kind errs.Unavailable (the call
// may be made again once it does), which reaches err and each of also.
func (j *pgJournal) fault(op string, err error, also ...error) error {
	var msg string
	switch {
	case pgpool.Unreachable(err):
		msg = fmt.Sprintf("%s: the catalog's PostgreSQL at %s is unreachable (%v); the catalog recovers by itself once it answers again", op, j.where, err)
	case errors.Is(err, context.DeadlineExceeded):
		msg = fmt.Sprintf("%s: the catalog's PostgreSQL at %s did not answer in time (%v)", op, j.where, err)
	default:
		return fmt.Errorf("%s: the catalog's PostgreSQL at %s: %v", op, j.where, err)
	}
	return &errs.Error{Kind: errs.Unavailable, Msg: msg, Err: errors.Join(append([]error{err}, also...)...)}
}

// ErrMaybeCommitted is reachable (errors.Is) from the error of a commit
// whose outcome is not known: the database went away as it committed. The
// version may have landed, so what it refers to must stay.
var ErrMaybeCommitted = errors.New("the commit may have landed")

// health pings the database.
func (j *pgJournal) health(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	if err := j.pool.Ping(ctx); err != nil {
		return j.fault("ping", err)
	}
	return nil
}

func (j *pgJournal) close() { j.pool.Close() }

func (j *pgJournal) shared() bool { return true }

// inTx runs f in a transaction of the given options, bounded by j.timeout,
// and commits it when f succeeds.
func (j *pgJournal) inTx(ctx context.Context, opts pgx.TxOptions, f func(ctx context.Context, tx pgx.Tx) error) error {
	ctx, cancel := context.WithTimeout(ctx, j.timeout)
	defer cancel()
	tx, err := j.pool.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := f(ctx, tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// isCaller reports whether err is the caller's mistake, to return as it is.
func isCaller(err error) bool { return errs.KindOf(err) != nil || errors.Is(err, errNoDataset) }

// logRecovery logs when reads start and stop answering from memory.
func (j *pgJournal) logRecovery(err error, wasFailing bool) {
	switch {
	case err != nil && !wasFailing:
		slog.Warn("catalog database unreachable; reads answer from memory until it is back", "database", j.where, "err", err)
	case err == nil && wasFailing:
		slog.Info("catalog database reachable again", "database", j.where)
	}
}
