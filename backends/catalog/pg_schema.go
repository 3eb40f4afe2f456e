package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"lakehouse/internal/pgmigrate"
)

// migrationComponent names the catalog's migrations in schema_migrations,
// which other engines may share.
const migrationComponent = "catalog"

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

// migrate brings the schema up to date (see pgmigrate.Apply).
func (j *pgJournal) migrate(ctx context.Context) error {
	n, err := pgmigrate.Apply(ctx, j.pool, migrationComponent, migrations)
	var newer *pgmigrate.NewerError
	switch {
	case errors.As(err, &newer):
		return fmt.Errorf("PostgreSQL at %s: %w", j.where, err)
	case err != nil:
		return j.fault("migrate the catalog's schema", err)
	case n > 0:
		slog.Info("catalog schema migrated", "database", j.where, "version", len(migrations))
	}
	return nil
}
