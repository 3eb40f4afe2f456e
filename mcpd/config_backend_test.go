package main

import (
	"strings"
	"testing"
)

// TestLoadConfig_SharedBackends checks observer.backend and
// pathway.backend: auto by default, so local with a local catalog and
// shared with a PostgreSQL one; set by the environment; and a setting that
// cannot work an error naming the key.
func TestLoadConfig_SharedBackends(t *testing.T) {
	dsn := "postgres://lake:pw@127.0.0.1:5432/lake"
	for section, shared := range map[string]func(Config) bool{
		"observer": Config.observerShared,
		"pathway":  Config.pathwayShared,
	} {
		env := "LAKEHOUSE_" + strings.ToUpper(section) + "_BACKEND"
		for _, c := range []struct {
			env    map[string]string
			shared bool
		}{
			{map[string]string{}, false},
			{map[string]string{"LAKEHOUSE_CATALOG_BACKEND": "postgres", "LAKEHOUSE_CATALOG_DSN": dsn}, true},
			{map[string]string{"LAKEHOUSE_CATALOG_BACKEND": "postgres", "LAKEHOUSE_CATALOG_DSN": dsn, env: "local"}, false},
			{map[string]string{"LAKEHOUSE_CATALOG_DSN": dsn, env: "postgres"}, true},
		} {
			c.env["HOME"] = "/h"
			cfg, err := loadConfig("", envOf(c.env))
			if err != nil {
				t.Fatalf("%v: %v", c.env, err)
			}
			if shared(cfg) != c.shared {
				t.Errorf("%v: %s shared = %v, want %v", c.env, section, shared(cfg), c.shared)
			}
		}
		wantConfigErrors(t, "", []configCase{
			{"[" + section + "]\nbackend = \"redis\"", section + `.backend = "redis": use "auto"`},
			{"[" + section + "]\nbackend = \"postgres\"", "catalog.dsn, which is empty"},
			{"[" + section + "]\nbackend = \"postgres\"\n[catalog]\ndsn = \"postgres://lake:s3cret-pw@host:notaport/db\"", "catalog.dsn, which " + section + ".backend"},
		})
	}
}
