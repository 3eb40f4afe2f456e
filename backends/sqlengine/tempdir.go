package sqlengine

import (
	"errors"
	"fmt"

	"lakehouse/internal/disk"
)

// makeTempDir makes dir afresh for DuckDB to spill to and returns its
// absolute path.
//
// DuckDB lets every query read and write its temp folder, whatever
// allowed_directories says, and it resolves links before it compares paths:
// a temp folder that is a link opens the folder the link points to. So
// whatever is at dir is removed (a link itself, not what it points to) and
// the folder is made again beneath its parent, refusing links on the way
// (disk.Fresh), or the database does not open.
func makeTempDir(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("sqlengine: config temp_dir is empty: DuckDB needs a temp folder of its own, inside the data directory")
	}
	d, err := disk.Fresh(dir)
	if err != nil {
		return "", fmt.Errorf("sqlengine: make temp folder: %w", err)
	}
	abs := d.Path(".")
	if err := d.Close(); err != nil {
		return "", fmt.Errorf("sqlengine: make temp folder: %w", err)
	}
	return abs, nil
}
