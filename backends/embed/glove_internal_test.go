package embed

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math"
	"slices"
	"testing"
)

// gloveDigest is the sha256 of the gunzipped table. The hybrid model's name
// promises its vectors; a new table must come with a new model name.
const gloveDigest = "b4e3a3a4e92fe66e5bdc98277c16c4182cd7cf6003e4820c3f2e95b31622daa2"

func gunzip(t testing.TB, gz []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.NoCompression)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGlove_Pinned(t *testing.T) {
	sum := sha256.Sum256(gunzip(t, gloveGz))
	if got := hex.EncodeToString(sum[:]); got != gloveDigest {
		t.Fatalf("glove/glove50k.bin.gz changed (sha256 of its content %s, want %s): give the hybrid provider a new model name than %q, then update gloveDigest",
			got, gloveDigest, hybridModel)
	}
}

func TestGlove_Load(t *testing.T) {
	tab, err := loadGlove()
	if err != nil {
		t.Fatal(err)
	}
	if tab.n != 50000 || tab.dim != gloveDim {
		t.Fatalf("table is %d × %d, want 50000 × %d", tab.n, tab.dim, gloveDim)
	}
	for r := range tab.n {
		if got := tab.lookup(tab.word(r)); got != r {
			t.Fatalf("lookup(word(%d) = %q) = %d", r, tab.word(r), got)
		}
	}
	for w, want := range map[string]int{
		"the": 0, "of": 1, "marathas": 49999, // first and last rows
		"car": tab.lookup("car"), "john's": tab.lookup("john"), "we're": tab.lookup("we"),
		"o'neill": -1, "zzqxv": -1, "2024": -1, "": -1, "'s": -1,
	} {
		if got := tab.lookup(w); got != want {
			t.Errorf("lookup(%q) = %d, want %d", w, got, want)
		}
	}
	if tab.lookup("car") < 0 || tab.lookup("john") < 0 {
		t.Fatal("car or john missing")
	}
	for _, w := range []string{"the", "car", "marathas"} {
		v := tab.vector(tab.lookup(w))
		if n := norm(v); n < 1 || n > 20 || math.IsNaN(float64(n)) {
			t.Errorf("|%s| = %v", w, n)
		}
	}
}

func TestGlove_Neighbours(t *testing.T) {
	tab, err := loadGlove()
	if err != nil {
		t.Fatal(err)
	}
	cos := func(a, b string) float32 {
		va, vb := tab.vector(tab.lookup(a)), tab.vector(tab.lookup(b))
		var d float32
		for i := range va {
			d += va[i] * vb[i]
		}
		return d / norm(va) / norm(vb)
	}
	for _, c := range [][3]string{
		{"car", "automobile", "banana"},
		{"king", "queen", "carpet"},
		{"doctor", "physician", "guitar"},
		{"january", "february", "volcano"},
	} {
		near, far := cos(c[0], c[1]), cos(c[0], c[2])
		if near < 0.4 || near < far+0.3 {
			t.Errorf("cos(%s, %s) = %.2f, cos(%s, %s) = %.2f", c[0], c[1], near, c[0], c[2], far)
		}
	}
}

// tinyTable writes a table in the documented format: the given words, dim
// dimensions, row r having scale r+1 and every code equal to r.
func tinyTable(words []string, dim int) []byte {
	var b bytes.Buffer
	b.WriteString(tableMagic)
	binary.Write(&b, binary.LittleEndian, uint32(len(words)))
	binary.Write(&b, binary.LittleEndian, uint32(dim))
	for k := range 16 {
		binary.Write(&b, binary.LittleEndian, float32(k)-7.5)
	}
	for _, w := range words {
		b.WriteByte(byte(len(w)))
		b.WriteString(w)
	}
	for r := range words {
		binary.Write(&b, binary.LittleEndian, float32(r+1))
		b.Write(bytes.Repeat([]byte{byte(r) | byte(r)<<4}, dim/2))
	}
	return b.Bytes()
}

func TestDecodeGlove(t *testing.T) {
	tab, err := decodeGlove(gz(t, tinyTable([]string{"alpha", "beta", "gamma"}, 4)))
	if err != nil {
		t.Fatal(err)
	}
	if tab.dim != 4 || tab.lookup("gamma") != 2 || tab.lookup("delta") != -1 {
		t.Fatalf("dim %d, gamma at %d, delta at %d", tab.dim, tab.lookup("gamma"), tab.lookup("delta"))
	}
	// Row 2: scale 3, code 2 = -5.5.
	if v := tab.vector(2); !slices.Equal(v, []float32{-16.5, -16.5, -16.5, -16.5}) {
		t.Errorf("row 2 = %v", v)
	}
	dst := []float32{1, 1, 1, 1}
	tab.addRow(dst, 0, 2) // 1 + 2 × 1 × -7.5
	if !slices.Equal(dst, []float32{-14, -14, -14, -14}) {
		t.Errorf("addRow = %v", dst)
	}
}

func TestDecodeGlove_Corrupt(t *testing.T) {
	good := tinyTable([]string{"alpha", "beta", "gamma"}, 4)
	for name, b := range map[string][]byte{
		"empty":         nil,
		"bad magic":     append([]byte("LHGLOVE0"), good[8:]...),
		"odd dim":       tinyTable([]string{"alpha"}, 3),
		"no rows":       tinyTable(nil, 4),
		"truncated":     good[:len(good)-1],
		"extra bytes":   append(slices.Clone(good), 0),
		"header only":   good[:8+8+64],
		"empty word":    tinyTable([]string{"alpha", ""}, 4),
		"repeated word": tinyTable([]string{"alpha", "beta", "alpha"}, 4),
	} {
		if _, err := decodeGlove(gz(t, b)); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	if _, err := decodeGlove([]byte("not gzip")); err == nil {
		t.Error("not gzip: decoded")
	}
}

// BenchmarkGloveLoad measures decoding the embedded table, which the first
// Embed of a hybrid provider pays once.
func BenchmarkGloveLoad(b *testing.B) {
	for b.Loop() {
		if _, err := decodeGlove(gloveGz); err != nil {
			b.Fatal(err)
		}
	}
}
