package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenEngines_PlantedFolderLinks plants a link to a folder outside the
// data directory at each of the engines' own folders. The server must
// refuse to open (naming the link), and leave the outside folder as it was:
// before, a linked vectors/ let drop_index delete outside, a linked objects/
// served its files and emptied its tmp/, and a linked tmp/ lost files to
// DuckDB's fresh temp folder.
func TestOpenEngines_PlantedFolderLinks(t *testing.T) {
	for _, folder := range []string{"objects", "vectors", "pathway", "observer", "tmp", "pathway/index", "objects/data"} {
		t.Run(folder, func(t *testing.T) {
			data := t.TempDir()
			outside := t.TempDir()
			// What each engine would find, make or empty there.
			for _, f := range []string{"data/x.txt", "tmp/keep/f", "duckdb-sql/f", "projects/important.txt", "traces/snapshot", "index/traces/snapshot", "pathway.log", "ops.jsonl"} {
				p := filepath.Join(outside, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("outside"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := tree(t, outside)
			link := filepath.Join(data, filepath.FromSlash(folder))
			if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, link); err != nil {
				t.Fatal(err)
			}
			cfg := defaultConfig()
			cfg.DataDir = data
			e, err := openEngines(context.Background(), cfg)
			if err == nil {
				e.Close()
				t.Fatalf("openEngines with %s a link succeeded", folder)
			}
			if !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("openEngines with %s a link: %v, want an error naming the link", folder, err)
			}
			if after := tree(t, outside); after != before {
				t.Errorf("the folder outside changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// tree lists every path beneath dir with its content, for comparisons.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b.WriteString(rel)
		if !d.IsDir() {
			c, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b.WriteString("=" + string(c))
		}
		b.WriteString(" ")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
