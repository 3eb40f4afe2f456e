package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadConfig_Catalog checks [catalog]: local by default, its keys set
// by the environment, and a setting that cannot work an error naming the
// key but never the password.
func TestLoadConfig_Catalog(t *testing.T) {
	cfg, err := loadConfig("", envOf(map[string]string{"HOME": "/h"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Catalog != (CatalogConfig{Backend: "local"}) {
		t.Errorf("default catalog = %+v", cfg.Catalog)
	}
	dsn := "postgres://lake:pw@127.0.0.1:5432/lake"
	cfg, err = loadConfig("", envOf(map[string]string{"HOME": "/h", "LAKEHOUSE_CATALOG_BACKEND": "postgres", "LAKEHOUSE_CATALOG_DSN": dsn}))
	if err != nil {
		t.Fatal(err)
	}
	if want := (CatalogConfig{Backend: "postgres", DSN: dsn}); cfg.Catalog != want {
		t.Errorf("catalog from the environment = %+v, want %+v", cfg.Catalog, want)
	}

	wantConfigErrors(t, "[catalog]\n", []configCase{
		{`backend = "mysql"`, `catalog.backend = "mysql": use "local"`},
		{`backend = "postgres"`, "catalog.dsn is empty"},
		{"backend = \"postgres\"\ndsn = \"postgres://lake:s3cret-pw@host:notaport/db\"", "catalog.dsn: the catalog's PostgreSQL DSN cannot be parsed"},
		{`password = "x"`, "unknown key catalog.password"},
	})
}

// configCase is a lakehouse.toml that cannot work, and what its error says.
type configCase struct{ toml, want string }

// wantConfigErrors loads each case's toml after head, and checks that it
// fails saying want and never the password "s3cret-pw".
func wantConfigErrors(t *testing.T, head string, cases []configCase) {
	t.Helper()
	for _, c := range cases {
		path := filepath.Join(t.TempDir(), "lakehouse.toml")
		if err := os.WriteFile(path, []byte(head+c.toml+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := loadConfig(path, envOf(map[string]string{"HOME": "/h"}))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.toml, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("%q: the error %q shows the password", c.toml, err)
		}
	}
}
