package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfig_Defaults(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"LAKEHOUSE_DATA": "/srv/lh", "XDG_DATA_HOME": "/x", "HOME": "/home/u"}, "/srv/lh"},
		{map[string]string{"XDG_DATA_HOME": "/x", "HOME": "/home/u"}, "/x/lakehouse"},
		{map[string]string{"HOME": "/home/u"}, "/home/u/.local/share/lakehouse"},
	}
	for _, c := range cases {
		cfg, err := loadConfig("", envOf(c.env))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.DataDir != c.want {
			t.Errorf("env %v: data dir %q, want %q", c.env, cfg.DataDir, c.want)
		}
		if cfg.Objects.MaxBytes != 64<<20 || cfg.SQL.MaxConns != 4 || cfg.Vector.MaxMemory != 0 {
			t.Errorf("defaults = %+v", cfg)
		}
	}
}

// TestLoadConfig_ShippedFile checks that lakehouse.toml parses and states
// exactly the defaults.
func TestLoadConfig_ShippedFile(t *testing.T) {
	env := envOf(map[string]string{"HOME": "/home/u"})
	fromFile, err := loadConfig(filepath.Join("..", "lakehouse.toml"), env)
	if err != nil {
		t.Fatal(err)
	}
	defaults, _ := loadConfig("", env)
	fromFile.Ingest.AllowedPaths = nil // [] in the file, nil by default: the same
	if !reflect.DeepEqual(fromFile, defaults) {
		t.Errorf("lakehouse.toml = %+v\ndefaults     = %+v", fromFile, defaults)
	}
}

func TestLoadConfig_FileAndEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lakehouse.toml")
	os.WriteFile(path, []byte("data_dir = \"/d\"\n[sql]\nthreads = 2\nmemory_limit = \"1GB\"\n[ingest]\nallowed_paths = [\"/in\"]\n[vector]\nmax_memory = 1073741824\n"), 0o644)
	cfg, err := loadConfig(path, envOf(map[string]string{"LAKEHOUSE_SQL_THREADS": "3", "LAKEHOUSE_INGEST_ALLOWED_PATHS": "/a:/b", "LAKEHOUSE_SERVER_STATELESS": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/d" || cfg.SQL.Threads != 3 || cfg.SQL.MemoryLimit != "1GB" || !cfg.Server.Stateless ||
		!reflect.DeepEqual(cfg.Ingest.AllowedPaths, []string{"/a", "/b"}) || cfg.Vector.MaxMemory != 1<<30 {
		t.Errorf("config = %+v", cfg)
	}
	cfg, err = loadConfig(path, envOf(map[string]string{"LAKEHOUSE_VECTOR_MAX_MEMORY": "2147483648"}))
	if err != nil || cfg.Vector.MaxMemory != 2<<30 {
		t.Errorf("LAKEHOUSE_VECTOR_MAX_MEMORY=2147483648: max_memory = %d, %v", cfg.Vector.MaxMemory, err)
	}
}

func TestLoadConfig_Errors(t *testing.T) {
	env := envOf(map[string]string{"HOME": "/home/u"})
	write := func(s string) string {
		p := filepath.Join(t.TempDir(), "lakehouse.toml")
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	cases := []struct {
		path string
		env  map[string]string
		want string
	}{
		{write("[sql]\nthreds = 2\n"), nil, "unknown key sql.threds"},
		{write("[objects]\nmax_bytes = -1\n"), nil, "objects.max_bytes = -1"},
		{write("data_dir = \"relative\"\n"), nil, "must be an absolute path"},
		{write("[sql\n"), nil, "lakehouse.toml"},
		{write("[observer]\nring_size = 5000000\n"), nil, "observer.ring_size must be 1 to 100000"},
		{write("[observer]\nretain = 10\n"), nil, "observer.retain = 10: must be at least ring_size (2000)"},
		{write("[mcp]\nfence_data = \"yes\"\n"), nil, `mcp.fence_data is "yes": use auto`},
		{"/does/not/exist.toml", nil, "read config"},
		{"", map[string]string{"HOME": "/h", "LAKEHOUSE_SQL_THREADS": "many"}, `LAKEHOUSE_SQL_THREADS="many"`},
		{write("[vector]\nmax_memory = -1\n"), nil, "vector.max_memory = -1: give bytes"},
		{write("[vector]\nmax_memory = \"1GiB\"\n"), nil, "lakehouse.toml"},
		{"", map[string]string{"HOME": "/h", "LAKEHOUSE_VECTOR_MAX_MEMORY": "1GiB"}, `LAKEHOUSE_VECTOR_MAX_MEMORY="1GiB": want a whole number`},
	}
	for _, c := range cases {
		e := env
		if c.env != nil {
			e = envOf(c.env)
		}
		if _, err := loadConfig(c.path, e); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("loadConfig(%s): %v, want an error containing %q", c.path, err, c.want)
		}
	}
}
