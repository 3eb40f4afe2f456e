package ingest

// Format detection. A source is recognised, in this order, by
//
//  1. its first bytes, when they are a magic number: compressed (gzip,
//     zstd), columnar (Parquet, Arrow IPC file or stream), or a kind of file
//     ingest cannot read (PNG, JPEG, GIF, PDF, zip, SQLite, ELF), which is
//     refused before DuckDB sees it, whatever the name or format says;
//  2. the format asked for, or else the name's extension (after .gz, .zst);
//  3. the (decompressed) first bytes: a JSON bracket, a tab-separated first
//     line, other text as CSV, and anything else refused as binary data.
//
// The magic numbers are checked first so that a PNG named data.csv is
// refused with "unsupported format: a PNG image" instead of a CSV sniffing
// error, and so that compression is known without trusting the name.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/klauspost/compress/zstd"

	"lakehouse/backends/errs"
)

// Formats that Ingest reads.
var formats = []string{"auto", "csv", "tsv", "json", "ndjson", "parquet", "arrow"}

// supported is how errors list what ingest reads.
const supported = "csv, tsv, json, ndjson (each optionally gzip- or zstd-compressed), parquet and arrow (Arrow IPC file or stream, .arrow/.feather/.arrows/.ipc)"

// Compressions of text sources, as DuckDB's readers name them.
const (
	compressionGzip = "gzip"
	compressionZstd = "zstd"
)

// headBytes is how much of a source detection looks at.
const headBytes = 64 << 10

// detected is what detection found out about a source.
type detected struct {
	format      string // csv, tsv, json, ndjson, parquet or arrow
	compression string // "", gzip or zstd (text formats only)
}

// magic names what the first bytes of a file are, when they are a magic
// number it knows: gzip, zstd, parquet, arrow-file, arrow-stream, or a
// description of an unsupported kind ("a PNG image"); "" when none.
func magic(head []byte) string {
	for _, m := range magics {
		if bytes.HasPrefix(head, m.prefix) {
			return m.kind
		}
	}
	// An Arrow IPC stream starts with a continuation marker (0xFFFFFFFF)
	// and the length of the schema message; decoding the schema from the
	// head tells it from other bytes that happen to start alike.
	// A schema too big for the head is taken on the word of its length;
	// the reader checks it when it converts the stream.
	if len(head) >= 8 && binary.LittleEndian.Uint32(head) == 0xFFFFFFFF {
		n := int64(binary.LittleEndian.Uint32(head[4:]))
		if n > 0 && n+8 > int64(len(head)) && len(head) == headBytes && n < 64<<20 {
			return "arrow-stream"
		}
		if r, err := ipc.NewReader(bytes.NewReader(head)); err == nil {
			r.Release()
			return "arrow-stream"
		}
	}
	return ""
}

var magics = []struct {
	prefix []byte
	kind   string
}{
	{[]byte{0x1f, 0x8b}, compressionGzip},
	{[]byte{0x28, 0xb5, 0x2f, 0xfd}, compressionZstd},
	{[]byte("PAR1"), "parquet"},
	{[]byte("ARROW1"), "arrow-file"},
	{[]byte("\x89PNG\r\n\x1a\n"), "a PNG image"},
	{[]byte{0xff, 0xd8, 0xff}, "a JPEG image"},
	{[]byte("GIF87a"), "a GIF image"},
	{[]byte("GIF89a"), "a GIF image"},
	{[]byte("%PDF-"), "a PDF document"},
	{[]byte("PK\x03\x04"), "a zip archive (an .xlsx workbook is one: save it as CSV)"},
	{[]byte("PK\x05\x06"), "a zip archive (empty)"},
	{[]byte("SQLite format 3\x00"), "an SQLite database"},
	{[]byte("\x7fELF"), "an ELF executable"},
	{[]byte("FEA1"), "a Feather v1 file (rewrite it as Feather v2, which is Arrow IPC)"},
	{[]byte("BZh"), "bzip2-compressed data"},
	{[]byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, "xz-compressed data"},
	{[]byte("7z\xbc\xaf\x27\x1c"), "a 7z archive"},
}

// columnar reports whether a magic kind is a format read as it is.
func columnar(kind string) bool {
	return kind == "parquet" || kind == "arrow-file" || kind == "arrow-stream"
}

// unsupported is the error for a source whose bytes are what.
func unsupported(s *source, what string) error {
	return errs.New(errs.Invalid, "unsupported format: the source (%s) looks like %s; ingest reads %s", s.desc, what, supported)
}

// looksLike describes bytes that are no known magic: "text" or "binary data".
func looksLike(head []byte) string {
	switch {
	case isText(head):
		return "text"
	case bytes.IndexByte(head, 0) < 0:
		return "binary data (or text that is not UTF-8: convert it to UTF-8)"
	}
	return "binary data"
}

// describe says what bytes of no known magic look like, as decompressed
// from compression ("" for none): "text", "gzip-compressed binary data"...
func describe(head []byte, compression string) string {
	if compression != "" {
		return compression + "-compressed " + looksLike(head)
	}
	return looksLike(head)
}

// isText reports whether head is UTF-8 without NUL bytes (a multi-byte
// character cut off at the end of the head does not count against it).
func isText(head []byte) bool {
	if bytes.IndexByte(head, 0) >= 0 {
		return false
	}
	for i := 0; i < utf8.UTFMax && len(head) > 0; i++ {
		if utf8.Valid(head) {
			return true
		}
		head = head[:len(head)-1]
	}
	return utf8.Valid(head)
}

// extFormat maps a source name's extension, after a compression suffix, to
// a format, or "" when it names none.
func extFormat(desc string) string {
	name := strings.ToLower(desc)
	for _, suffix := range []string{".gz", ".gzip", ".zst", ".zstd"} {
		name = strings.TrimSuffix(name, suffix)
	}
	switch filepath.Ext(name) {
	case ".csv":
		return "csv"
	case ".tsv", ".tab":
		return "tsv"
	case ".json":
		return "json"
	case ".ndjson", ".jsonl":
		return "ndjson"
	case ".parquet":
		return "parquet"
	case ".arrow", ".feather", ".arrows", ".ipc":
		return "arrow"
	}
	return ""
}

// detectFormat resolves the source's format (and compression): see the
// notes at the top of this file.
func detectFormat(s *source) (detected, error) {
	asked := strings.ToLower(s.format)
	if asked == "auto" {
		asked = ""
	}
	if asked != "" && !slices.Contains(formats, asked) {
		return detected{}, errs.New(errs.Invalid, "unknown format %q; use one of %s", s.format, strings.Join(formats, ", "))
	}
	head, err := readHead(s.path, headBytes)
	if err != nil {
		return detected{}, err
	}
	var d detected
	kind := magic(head)
	if kind == compressionGzip || kind == compressionZstd {
		d.compression = kind
		if head, err = decompressHead(s.path, kind, headBytes); err != nil {
			return detected{}, errs.New(errs.Invalid, "the source (%s) starts like %s-compressed data but cannot be decompressed: %v", s.desc, kind, err)
		}
		kind = magic(head)
		switch {
		case columnar(kind):
			return detected{}, unsupported(s, kind+" compressed with "+d.compression+" (decompress it first: "+kind+" compresses its own data)")
		case kind != "":
			return detected{}, unsupported(s, d.compression+"-compressed "+strings.TrimPrefix(strings.TrimPrefix(kind, "a "), "an "))
		}
	}
	switch {
	case kind == "parquet":
		d.format = "parquet"
	case kind == "arrow-file" || kind == "arrow-stream":
		d.format = "arrow"
	case kind != "":
		return detected{}, unsupported(s, kind)
	}
	// Parquet and Arrow are known by their bytes alone; a format asked for
	// must agree with them.
	if asked != "" {
		switch {
		case d.format != "" && asked != d.format:
			return detected{}, errs.New(errs.Invalid, "format %s was asked, but the source (%s) is %s; use format %s or auto", asked, s.desc, d.format, d.format)
		case d.format == "" && (asked == "parquet" || asked == "arrow"):
			return detected{}, errs.New(errs.Invalid, "format %s was asked, but the source (%s) is not %s (it lacks the magic number): it looks like %s; use format auto, or one of %s", asked, s.desc, asked, describe(head, d.compression), supported)
		}
		d.format = asked
		return d, nil
	}
	if d.format != "" {
		return d, nil
	}
	switch f := extFormat(s.desc); f {
	case "parquet", "arrow":
		return detected{}, errs.New(errs.Invalid, "the source (%s) is named as %s but is not %s (it lacks the magic number): it looks like %s; name the format, or send a real %s file", s.desc, f, f, describe(head, d.compression), f)
	case "":
	default:
		d.format = f
		return d, nil
	}
	if !isText(head) {
		return detected{}, unsupported(s, describe(head, d.compression))
	}
	trimmed := bytes.TrimLeft(head, " \t\r\n\ufeff")
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		d.format = "json"
		return d, nil
	}
	first, _, _ := bytes.Cut(head, []byte("\n"))
	if bytes.Contains(first, []byte("\t")) && !bytes.Contains(first, []byte(",")) {
		d.format = "tsv"
		return d, nil
	}
	d.format = "csv"
	return d, nil
}

// checkCompressed decompresses the whole file at p (and throws the bytes
// away) to prove that its compressed stream is complete and intact: DuckDB
// reads a truncated gzip file as far as it goes and reports no error.
func checkCompressed(ctx context.Context, p, compression string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader
	switch compression {
	case compressionGzip:
		zr, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	case compressionZstd:
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	default:
		return fmt.Errorf("unknown compression %q", compression)
	}
	buf := make([]byte, 256<<10)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := r.Read(buf); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// decompressHead returns up to n bytes of the file at p decompressed with
// compression (gzip or zstd). A file shorter than n decompressed is fine.
func decompressHead(p, compression string, n int) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader
	switch compression {
	case compressionGzip:
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	case compressionZstd:
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	default:
		return nil, fmt.Errorf("unknown compression %q", compression)
	}
	buf := make([]byte, n)
	k, err := io.ReadFull(r, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, err
	}
	return buf[:k], nil
}

func readHead(p string, n int) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	k, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return buf[:k], nil
}
