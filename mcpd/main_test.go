package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain removes what the tests and benchmarks leave outside t.TempDir():
// the built binary and the generated benchmark CSV.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, p := range []string{binPath, benchCSVPath} {
		if p != "" {
			os.RemoveAll(filepath.Dir(p))
		}
	}
	os.Exit(code)
}
