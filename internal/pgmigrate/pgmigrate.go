// Package pgmigrate applies the versioned schema migrations of the engines
// that keep state in PostgreSQL (the catalog, the change feeds, the
// observer), so that each does it the same way and they share one record.
//
// Each engine is a component of schema_migrations, (component, version):
// a component's migration i takes its schema from version i to i+1, and is
// applied in a transaction of its own that also records it. Nodes starting
// at once take turns under one advisory lock, so a migration runs once.
package pgmigrate

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Lock is the key of the advisory lock that every component migrates
// under. It is the key the catalog used before it had company, so that
// nodes of either age take turns.
const Lock int64 = 0x6c616b6563617431 // "lakecat1"

// NewerError is the error of a database whose schema a newer mcpd made.
type NewerError struct {
	Component string
	Have      int // the version in the database
	Know      int // the versions this binary knows
}

func (e *NewerError) Error() string {
	return fmt.Sprintf("the %s schema in PostgreSQL is at version %d, newer than this mcpd knows (%d); run a newer mcpd", e.Component, e.Have, e.Know)
}

// Apply brings component's schema up to date with migrations, which are in
// order and never change once released (a change of schema is a new one at
// the end). It returns the number applied now. Its errors are the
// database's, wrapped with the step, or a *NewerError.
func Apply(ctx context.Context, pool *pgxpool.Pool, component string, migrations []string) (int, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", Lock); err != nil {
		return 0, fmt.Errorf("lock the schema for migration: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", Lock)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component text NOT NULL,
		version integer NOT NULL,
		applied timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (component, version)
	)`); err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", err)
	}
	var have int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations WHERE component = $1", component).Scan(&have); err != nil {
		return 0, fmt.Errorf("read schema_migrations: %w", err)
	}
	if have > len(migrations) {
		return 0, &NewerError{Component: component, Have: have, Know: len(migrations)}
	}
	for v := have; v < len(migrations); v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (component, version) VALUES ($1, $2)", component, v+1)
			return err
		})
		if err != nil {
			return v - have, fmt.Errorf("apply %s schema migration %d: %w", component, v+1, err)
		}
	}
	return len(migrations) - have, nil
}
