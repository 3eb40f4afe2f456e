package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadConfig_Playbook checks [matrix.playbook]: the environment sets
// its numbers, and a bad value is an error naming key and value.
func TestLoadConfig_Playbook(t *testing.T) {
	cfg, err := loadConfig("", envOf(map[string]string{"HOME": "/h", "LAKEHOUSE_MATRIX_PLAYBOOK_BOOST_DISTANCE": "0.4", "LAKEHOUSE_MATRIX_PLAYBOOK_CORPUS": "playbook_team"}))
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Matrix.Playbook; p.BoostDistance != 0.4 || p.InjectDistance != 0.2 || p.Corpus != "playbook_team" {
		t.Errorf("playbook config = %+v", p)
	}
	for _, c := range []struct{ toml, env, want string }{
		{"inject_distance = 0.6", "", "matrix.playbook.inject_distance = 0.6"},
		{"boost_distance = 0", "", "matrix.playbook.boost_distance = 0"},
		{"boost_distance = 2.5", "", "matrix.playbook.boost_distance = 2.5"},
		{`corpus = "memory"`, "", `matrix.playbook.corpus = "memory"`},
		{`corpus = ""`, "", "matrix.playbook.corpus is empty"},
		{"", "near", `LAKEHOUSE_MATRIX_PLAYBOOK_INJECT_DISTANCE="near"`},
	} {
		path := filepath.Join(t.TempDir(), "lakehouse.toml")
		if err := os.WriteFile(path, []byte("[matrix.playbook]\n"+c.toml+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"HOME": "/h"}
		if c.env != "" {
			env["LAKEHOUSE_MATRIX_PLAYBOOK_INJECT_DISTANCE"] = c.env
		}
		if _, err := loadConfig(path, envOf(env)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q, env %q: %v, want %q", c.toml, c.env, err, c.want)
		}
	}
}
