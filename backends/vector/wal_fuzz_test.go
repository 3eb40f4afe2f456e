package vector

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"testing"

	"lakehouse/internal/disk"
)

// frame returns payload framed as a log record.
func frame(payload []byte) []byte {
	var fr [8]byte
	binary.LittleEndian.PutUint32(fr[:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(fr[4:], crc32.Update(crc32.Checksum(fr[:4], castagnoli), castagnoli, payload))
	return append(fr[:], payload...)
}

// FuzzWALReplay opens a log of generation 1 whose bytes after a good header
// are arbitrary. openWAL must not fail or allocate beyond the file's size;
// every record it applies has a good checksum; and the repaired file
// replays the same records again with nothing left to repair, then takes
// an append.
func FuzzWALReplay(f *testing.F) {
	good := append(frame([]byte("one")), frame([]byte("two"))...)
	for _, tail := range [][]byte{
		nil,
		good,
		good[:len(good)-2],
		append(append(frame([]byte("one")), 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0), frame([]byte("two"))...),
		append(bytes.Clone(good), make([]byte, 64)...),
		{0x10, 0, 0, 0},
	} {
		f.Add(tail)
	}
	f.Fuzz(func(t *testing.T, tail []byte) {
		d, err := disk.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if err := os.WriteFile(d.Path(walName(1)), append(walHeader(1), tail...), 0o644); err != nil {
			t.Fatal(err)
		}
		var first [][]byte
		w, st, err := openWAL(d, 1, func(p []byte) error {
			if !bytes.Contains(tail, frame(p)) {
				t.Fatalf("applied a record %q that is not framed in the file", p)
			}
			first = append(first, bytes.Clone(p))
			return nil
		})
		if err != nil {
			t.Fatalf("openWAL: %v", err)
		}
		if st.Records != len(first) {
			t.Fatalf("stats say %d records, %d applied", st.Records, len(first))
		}
		seq, err := w.add([]byte("appended"))
		if err == nil {
			err = w.sync(seq)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := w.close(); err != nil {
			t.Fatal(err)
		}
		var second [][]byte
		w, st2, err := openWAL(d, 1, func(p []byte) error { second = append(second, bytes.Clone(p)); return nil })
		if err != nil {
			t.Fatal(err)
		}
		w.close()
		if st2.TornBytes != 0 || st2.Skipped != st.Skipped {
			t.Fatalf("second open repaired again: %+v after %+v", st2, st)
		}
		if len(second) != len(first)+1 || string(second[len(first)]) != "appended" {
			t.Fatalf("second open replayed %q, first %q", second, first)
		}
		for i := range first {
			if !bytes.Equal(first[i], second[i]) {
				t.Fatalf("record %d: %q then %q", i, first[i], second[i])
			}
		}
	})
}
