package tools

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/tools/txtar"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the code")

// TestRender checks the text copy of outputs against testdata/render.txtar:
// each "name.json" file is an output, the "name.txt" after it its text.
// With -update the text files are rewritten from the code.
func TestRender(t *testing.T) {
	path := filepath.Join("testdata", "render.txtar")
	ar, err := txtar.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(ar.Files); i += 2 {
		in, want := ar.Files[i], &ar.Files[i+1]
		got := render(bytes.TrimSpace(in.Data)) + "\n"
		if *update {
			want.Data = []byte(got)
			continue
		}
		if got != string(want.Data) {
			t.Errorf("%s:\ngot:\n%s\nwant:\n%s", in.Name, got, want.Data)
		}
	}
	if *update {
		if err := os.WriteFile(path, txtar.Format(ar), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The text copy of a listing is much shorter than its JSON.
func TestRender_Shorter(t *testing.T) {
	type obj struct {
		Key      string `json:"key"`
		Size     int    `json:"size"`
		ETag     string `json:"etag"`
		Modified string `json:"modified"`
	}
	var out struct {
		Objects []obj `json:"objects"`
	}
	for i := range 50 {
		out.Objects = append(out.Objects, obj{fmt.Sprintf("runs/%03d/result.json", i), 1000 + i, fmt.Sprintf("%08x", i*7919), "2026-12-02T10:00:00Z"})
	}
	in, _ := json.Marshal(out)
	if got := render(in); len(got) > len(in)*3/4 {
		t.Errorf("text is %d bytes, its JSON %d:\n%s", len(got), len(in), got)
	}
}
