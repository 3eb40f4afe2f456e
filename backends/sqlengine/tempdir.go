package sqlengine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// makeTempDir makes dir afresh for DuckDB to spill to and returns its
// absolute path.
//
// DuckDB lets every query read and write its temp folder, whatever
// allowed_directories says, and it resolves links before it compares paths:
// a temp folder that is a link opens the folder the link points to. So
// whatever is at dir is removed (a link itself, not what it points to), the
// folder is made again, readable by the server's user only, and Lstat must
// then find a real folder there, or the database does not open.
func makeTempDir(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("sqlengine: config temp_dir is empty: DuckDB needs a temp folder of its own, inside the data directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("sqlengine: temp folder %q: %w", dir, err)
	}
	if err := os.RemoveAll(abs); err != nil {
		return "", fmt.Errorf("sqlengine: empty temp folder: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return "", fmt.Errorf("sqlengine: make temp folder: %w", err)
	}
	if err := os.Mkdir(abs, 0o700); err != nil {
		return "", fmt.Errorf("sqlengine: make temp folder: %w", err)
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		return "", fmt.Errorf("sqlengine: check temp folder: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("sqlengine: temp folder %s is not a folder but %v; something replaced it while it was made: check who else writes to the data directory", abs, fi.Mode().Type())
	}
	return abs, nil
}
