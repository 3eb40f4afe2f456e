package main

import "testing"

// TestLoadConfig_ObserverBackend checks observer.backend: auto by default,
// so local with a local catalog and shared with a PostgreSQL one; set by
// the environment; and a setting that cannot work an error naming the key.
func TestLoadConfig_ObserverBackend(t *testing.T) {
	dsn := "postgres://lake:pw@127.0.0.1:5432/lake"
	for _, c := range []struct {
		env    map[string]string
		shared bool
	}{
		{map[string]string{}, false},
		{map[string]string{"LAKEHOUSE_CATALOG_BACKEND": "postgres", "LAKEHOUSE_CATALOG_DSN": dsn}, true},
		{map[string]string{"LAKEHOUSE_CATALOG_BACKEND": "postgres", "LAKEHOUSE_CATALOG_DSN": dsn, "LAKEHOUSE_OBSERVER_BACKEND": "local"}, false},
		{map[string]string{"LAKEHOUSE_CATALOG_DSN": dsn, "LAKEHOUSE_OBSERVER_BACKEND": "postgres"}, true},
	} {
		c.env["HOME"] = "/h"
		cfg, err := loadConfig("", envOf(c.env))
		if err != nil {
			t.Fatalf("%v: %v", c.env, err)
		}
		if cfg.observerShared() != c.shared {
			t.Errorf("%v: observer shared = %v, want %v", c.env, cfg.observerShared(), c.shared)
		}
	}
	wantConfigErrors(t, "", []configCase{
		{"[observer]\nbackend = \"redis\"", `observer.backend = "redis": use "auto"`},
		{"[observer]\nbackend = \"postgres\"", "catalog.dsn, which is empty"},
		{"[observer]\nbackend = \"postgres\"\n[catalog]\ndsn = \"postgres://lake:s3cret-pw@host:notaport/db\"", "catalog.dsn, which observer.backend"},
	})
}
