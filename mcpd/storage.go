package main

import (
	"context"
	"fmt"
	"path/filepath"

	"lakehouse/backends/store"
	"lakehouse/internal/disk"
)

// StorageConfig chooses where the objects of the object tools (put_object,
// get_object, list_objects, delete_object) and the datasets' Parquet files
// live: in the data directory, or in a bucket of an S3-compatible server,
// read by each node's SQL through a cache of its own (CacheBytes). The
// catalog and the vector indexes stay in the data directory either way
// (unless [catalog] puts the catalog in PostgreSQL). The credentials
// come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or
// the SDK's default chain, never from the file. lakehouse.toml gives each
// key's default.
type StorageConfig struct {
	Backend   string `toml:"backend"` // "local" or "s3"
	Endpoint  string `toml:"endpoint"`
	Region    string `toml:"region"`
	Bucket    string `toml:"bucket"`
	Prefix    string `toml:"prefix"`
	PathStyle bool   `toml:"path_style"`
	// CacheBytes bounds this node's copies of the datasets' files in the
	// bucket (the data directory's cache/datasets), which its DuckDB reads.
	CacheBytes int64 `toml:"cache_bytes"`
}

// The values of storage.backend.
const (
	storageLocal = "local"
	storageS3    = "s3"
)

// s3 is the store's form of the [storage] keys, spooling to tempDir.
func (s StorageConfig) s3(tempDir string) store.S3Config {
	return store.S3Config{Endpoint: s.Endpoint, Region: s.Region, Bucket: s.Bucket, Prefix: s.Prefix, PathStyle: s.PathStyle, TempDir: tempDir}
}

// validate checks the [storage] keys; errors name the key and its value.
// The keys of S3 are checked only when backend is "s3".
func (s StorageConfig) validate() error {
	switch s.Backend {
	case storageLocal:
		return nil
	case storageS3:
		if err := s.s3("").Validate(); err != nil {
			return fmt.Errorf("storage.%w", err)
		}
		if s.CacheBytes < 0 {
			return fmt.Errorf("storage.cache_bytes = %d: give the most bytes of dataset files this node keeps copies of (default %d), or 0 for the default", s.CacheBytes, int64(store.DefaultCacheBytes))
		}
		return nil
	}
	return fmt.Errorf("storage.backend = %q: use %q (objects in the data directory) or %q (objects in the bucket storage.bucket)", s.Backend, storageLocal, storageS3)
}

// openBucket returns the S3 store that cfg's [storage] configures, or nil
// when the objects stay in the data directory. It spools uploads to tmp/s3
// in the data directory, emptied here.
func openBucket(ctx context.Context, cfg Config) (*store.S3, error) {
	if cfg.Storage.Backend != storageS3 {
		return nil, nil
	}
	spool, err := disk.Fresh(filepath.Join(cfg.DataDir, "tmp", "s3"))
	if err != nil {
		return nil, fmt.Errorf("open S3 spool folder: %w", err)
	}
	dir := spool.Path(".")
	spool.Close()
	return store.OpenS3(ctx, cfg.Storage.s3(dir))
}
