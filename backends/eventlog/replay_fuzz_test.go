package eventlog

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReplay opens a log file of arbitrary bytes. Open must not fail; the
// records it applies are valid JSON objects whose lines were whole; the
// repaired file ends where the good records end, so a second Open replays
// the same records and repairs nothing; and an append after the first Open
// is replayed after them.
func FuzzReplay(f *testing.F) {
	for _, seed := range []string{
		"",
		"{\"n\":1}\n{\"n\":2}\n",
		"{\"n\":1}\n{\"n\":2",
		"{\"n\":1}\nnot json\n{\"n\":2}\n",
		"\n\n{\"n\":1}\n\n",
		"{\"n\":1}\n\x00\x00\x00",
		"[1,2]\n{\"n\":-1}\n{}\n",
		"{\"n\":1}\r\n{\"n\":2}\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "events.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ahead := filepath.Join(t.TempDir(), "events.jsonl")
		if err := os.WriteFile(ahead, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var first [][]byte
		l, st, err := Open(path, func(line []byte) error {
			var v map[string]any
			if err := json.Unmarshal(line, &v); err != nil {
				return err
			}
			if !bytes.Contains(data, line) {
				t.Fatalf("applied %q, which is not in the file", line)
			}
			first = append(first, bytes.Clone(line))
			return nil
		})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if st.Records != len(first) {
			t.Fatalf("stats say %d records, %d applied", st.Records, len(first))
		}
		sameDecoded(t, ahead, first, st)
		if err := l.Append(map[string]int{"appended": 1}); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		var second [][]byte
		_, st2, err := Open(path, func(line []byte) error {
			var v map[string]any
			if err := json.Unmarshal(line, &v); err != nil {
				return err
			}
			second = append(second, bytes.Clone(line))
			return nil
		})
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		if st2.TornBytes != 0 || st2.Skipped != st.Skipped {
			t.Fatalf("second Open repaired again: %+v after %+v", st2, st)
		}
		if len(second) != len(first)+1 || string(second[len(second)-1]) != `{"appended":1}` {
			t.Fatalf("second Open replayed %q, first %q", second, first)
		}
		for i := range first {
			if !bytes.Equal(first[i], second[i]) {
				t.Fatalf("record %d: %q then %q", i, first[i], second[i])
			}
		}
	})
}

// sameDecoded opens the log at path with OpenDecoded, which decodes
// records ahead of applying them, and checks that it applies the records
// want, with the stats st, that Open gave for the same file.
func sameDecoded(t *testing.T, path string, want [][]byte, st ReplayStats) {
	t.Helper()
	var got [][]byte
	l, gst, err := OpenDecoded(path, 0, func(line []byte) ([]byte, error) {
		var v map[string]any
		if err := json.Unmarshal(line, &v); err != nil {
			return nil, err
		}
		return bytes.Clone(line), nil
	}, func(line []byte) error {
		got = append(got, line)
		return nil
	})
	if err != nil {
		t.Fatalf("OpenDecoded: %v", err)
	}
	l.Close()
	if gst != st || len(got) != len(want) {
		t.Fatalf("OpenDecoded: %d records, stats %+v; Open: %d, %+v", len(got), gst, len(want), st)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d: OpenDecoded %q, Open %q", i, got[i], want[i])
		}
	}
}
