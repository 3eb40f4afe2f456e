package main

import "testing"

// TestLoadConfig_VectorBackend checks vector.backend, which follows the
// rule of observer.backend (backend.go): auto by default, shared with a
// PostgreSQL catalog, local when asked, and an error naming the key.
func TestLoadConfig_VectorBackend(t *testing.T) {
	pg := map[string]string{"HOME": "/h", "LAKEHOUSE_CATALOG_BACKEND": "postgres", "LAKEHOUSE_CATALOG_DSN": "postgres://lake:pw@127.0.0.1:5432/lake"}
	if cfg, err := loadConfig("", envOf(map[string]string{"HOME": "/h"})); err != nil || cfg.vectorsShared() {
		t.Errorf("by default: shared %v, %v; want local", cfg.vectorsShared(), err)
	}
	if cfg, err := loadConfig("", envOf(pg)); err != nil || !cfg.vectorsShared() {
		t.Errorf("with a PostgreSQL catalog: shared %v, %v; want shared", cfg.vectorsShared(), err)
	}
	pg["LAKEHOUSE_VECTOR_BACKEND"] = "local"
	if cfg, err := loadConfig("", envOf(pg)); err != nil || cfg.vectorsShared() {
		t.Errorf("vector.backend = local: shared %v, %v; want local", cfg.vectorsShared(), err)
	}
	wantConfigErrors(t, "", []configCase{
		{"[vector]\nbackend = \"s3\"", `vector.backend = "s3": use "auto"`},
		{"[vector]\nbackend = \"postgres\"", "keeps the vector indexes in the PostgreSQL of catalog.dsn, which is empty"},
	})
}
