package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadConfig_Storage checks [storage]: local by default, every key set
// by the environment, and a setting that cannot work an error naming it.
func TestLoadConfig_Storage(t *testing.T) {
	cfg, err := loadConfig("", envOf(map[string]string{"HOME": "/h"}))
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Storage; s.Backend != "local" || s.Region != "us-east-1" || s.Bucket != "" {
		t.Errorf("default storage = %+v", s)
	}
	cfg, err = loadConfig("", envOf(map[string]string{
		"HOME": "/h", "LAKEHOUSE_STORAGE_BACKEND": "s3", "LAKEHOUSE_STORAGE_ENDPOINT": "http://127.0.0.1:7070",
		"LAKEHOUSE_STORAGE_REGION": "eu-west-3", "LAKEHOUSE_STORAGE_BUCKET": "lake", "LAKEHOUSE_STORAGE_PREFIX": "team/",
		"LAKEHOUSE_STORAGE_PATH_STYLE": "true", "LAKEHOUSE_STORAGE_CACHE_BYTES": "1048576",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := StorageConfig{Backend: "s3", Endpoint: "http://127.0.0.1:7070", Region: "eu-west-3", Bucket: "lake", Prefix: "team/", PathStyle: true, CacheBytes: 1 << 20}
	if cfg.Storage != want {
		t.Errorf("storage from the environment = %+v, want %+v", cfg.Storage, want)
	}

	for _, c := range []struct{ toml, want string }{
		{`backend = "minio"`, `storage.backend = "minio": use "local"`},
		{`backend = "s3"`, "storage.bucket is empty"},
		{"backend = \"s3\"\nbucket = \"b\"\nendpoint = \"127.0.0.1:7070\"", `storage.endpoint "127.0.0.1:7070" is not a server URL`},
		{"backend = \"s3\"\nbucket = \"b\"\nendpoint = \"ftp://host\"", `storage.endpoint "ftp://host" is not a server URL`},
		{"backend = \"s3\"\nbucket = \"b\"\nprefix = \"a//b\"", `storage.prefix "a//b": empty segments`},
		{"backend = \"s3\"\nbucket = \"b\"\ncache_bytes = -1", "storage.cache_bytes = -1"},
		{`access_key = "AK"`, "unknown key storage.access_key"},
	} {
		path := filepath.Join(t.TempDir(), "lakehouse.toml")
		if err := os.WriteFile(path, []byte("[storage]\n"+c.toml+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := loadConfig(path, envOf(map[string]string{"HOME": "/h"})); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.toml, err, c.want)
		}
	}
	// The keys of S3 are not checked while the backend is local.
	if _, err := loadConfig("", envOf(map[string]string{"HOME": "/h", "LAKEHOUSE_STORAGE_ENDPOINT": "nonsense"})); err != nil {
		t.Errorf("local backend with an S3 endpoint set: %v", err)
	}
}
