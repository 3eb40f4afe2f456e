package catalog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
)

// migrationComponent names the catalog's migrations in schema_migrations,
// which other engines may share.
const migrationComponent = "catalog"

// migrationLock is the key of the advisory lock that makes nodes starting at
// once migrate one after another.
const migrationLock int64 = 0x6c616b6563617431 // "lakecat1"

// migrations are the catalog's schema changes, in order: migration i takes
// the schema from version i to i+1. Once released, one is never changed;
// a change of schema is a new one at the end.
var migrations = []string{
	// 1: the clock, datasets and their entries.
	`CREATE TABLE catalog_clock (
		one boolean PRIMARY KEY DEFAULT true CHECK (one),
		seq bigint NOT NULL
	);
	INSERT INTO catalog_clock (seq) VALUES (0);
	CREATE TABLE catalog_datasets (
		id bigserial PRIMARY KEY,
		name text NOT NULL,
		uuid text NOT NULL,
		created timestamptz NOT NULL,
		entries integer NOT NULL DEFAULT 0,
		dropped boolean NOT NULL DEFAULT false,
		changed bigint NOT NULL
	);
	CREATE UNIQUE INDEX catalog_datasets_live ON catalog_datasets (name) WHERE NOT dropped;
	CREATE INDEX catalog_datasets_changed ON catalog_datasets (changed);
	CREATE TABLE catalog_entries (
		dataset bigint NOT NULL REFERENCES catalog_datasets (id),
		seq integer NOT NULL,
		version integer,
		layout integer,
		keep integer NOT NULL,
		add_files text[] NOT NULL,
		meta jsonb,
		rows bigint GENERATED ALWAYS AS ((meta->>'rows')::bigint) STORED,
		bytes bigint GENERATED ALWAYS AS ((meta->>'bytes')::bigint) STORED,
		columns jsonb GENERATED ALWAYS AS (meta->'columns') STORED,
		lineage jsonb GENERATED ALWAYS AS (meta->'lineage') STORED,
		PRIMARY KEY (dataset, seq),
		CHECK ((version IS NULL) <> (layout IS NULL)),
		CHECK ((version IS NULL) = (meta IS NULL))
	);`,
}

// migrate brings the schema up to date: under an advisory lock, so that
// nodes starting at once take turns, it applies each migration not yet in
// schema_migrations in a transaction of its own that also records it.
func (j *pgJournal) migrate(ctx context.Context) error {
	conn, err := j.pool.Acquire(ctx)
	if err != nil {
		return j.fault("connect", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return j.fault("lock the schema for migration", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component text NOT NULL,
		version integer NOT NULL,
		applied timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (component, version)
	)`); err != nil {
		return j.fault("create schema_migrations", err)
	}
	var have int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations WHERE component = $1", migrationComponent).Scan(&have); err != nil {
		return j.fault("read schema_migrations", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("the catalog's schema in PostgreSQL at %s is at version %d, newer than this mcpd knows (%d); run a newer mcpd", j.where, have, len(migrations))
	}
	for v := have; v < len(migrations); v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (component, version) VALUES ($1, $2)", migrationComponent, v+1)
			return err
		})
		if err != nil {
			return j.fault(fmt.Sprintf("apply catalog schema migration %d", v+1), err)
		}
		slog.Info("catalog schema migrated", "database", j.where, "version", v+1)
	}
	return nil
}
