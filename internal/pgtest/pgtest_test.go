package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"lakehouse/internal/pgtest"
)

// query runs a one-value query on dsn and returns its answer.
func query(t *testing.T, dsn, sql string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var out string
	err = conn.QueryRow(ctx, sql).Scan(&out)
	return out, err
}

// A committed row survives a SIGKILL of the server and a restart on the
// same port and data; while the server is down, connecting fails.
func TestServer_KillRestart(t *testing.T) {
	s := pgtest.Start(t)
	dsn := s.CreateDatabase()
	if v, err := query(t, dsn, "SHOW server_version"); err != nil || v[:3] != "15." {
		t.Fatalf("server_version = %q, %v; want 15.x", v, err)
	}
	if _, err := query(t, dsn, "CREATE TABLE t AS SELECT 'kept'::text AS v"); err != pgx.ErrNoRows { // a statement without rows
		t.Fatal(err)
	}
	s.Kill()
	if _, err := query(t, dsn, "SELECT 1::text"); err == nil {
		t.Fatal("a query succeeded while the server was killed")
	}
	s.Start()
	if v, err := query(t, dsn, "SELECT v FROM t"); err != nil || v != "kept" {
		t.Fatalf("after kill and restart: %q, %v; want the committed row", v, err)
	}
	s.Restart()
	if v, err := query(t, dsn, "SELECT v FROM t"); err != nil || v != "kept" {
		t.Fatalf("after a clean restart: %q, %v", v, err)
	}
	if other := s.CreateDatabase(); other == dsn {
		t.Errorf("two databases share the DSN %s", dsn)
	}
}
