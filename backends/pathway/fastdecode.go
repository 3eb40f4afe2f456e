package pathway

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// decodeFast decodes a line as the log's encoder writes it: compact JSON,
// exactly the field names of record and Trace (each once, in any order),
// no nulls, times in UTC ("Z"). It reports false for anything else, which
// decodeRecord then leaves to the general decoder, so what it accepts it
// decodes as that decoder does (FuzzDecodeFast holds the two equal). The
// strings of a line share one allocation. Replaying a million traces, the
// general decoder spent most of its time finding fields and allocating.
func decodeFast(line []byte) (*record, bool) {
	d := &fastDecoder{b: line, arena: make([]byte, 0, len(line))}
	r := new(record)
	if !d.object(func(key string) bool { return d.recordField(r, key) }) || d.i != len(d.b) {
		return nil, false
	}
	return r, true
}

type fastDecoder struct {
	b     []byte
	i     int
	arena []byte // the decoded strings, of at most len(b) bytes: it never grows
}

// object reads an object whose fields field reads, refusing a repeated key.
func (d *fastDecoder) object(field func(key string) bool) bool {
	if !d.byte('{') {
		return false
	}
	seen := map[string]bool{}
	if d.peek() == '}' {
		d.i++
		return true
	}
	for {
		key, ok := d.rawKey()
		if !ok || seen[key] || !d.byte(':') || !field(key) {
			return false
		}
		seen[key] = true
		switch d.next() {
		case ',':
		case '}':
			return true
		default:
			return false
		}
	}
}

func (d *fastDecoder) recordField(r *record, key string) bool {
	var ok bool
	switch key {
	case "op":
		r.Op, ok = d.string()
	case "uid":
		r.UID, ok = d.string()
	case "reason":
		r.Reason, ok = d.string()
	case "at":
		r.At, ok = d.time()
	case "traces":
		ok = d.array(func() bool {
			t := new(Trace)
			r.Traces = append(r.Traces, t)
			return d.object(func(key string) bool { return d.traceField(t, key) })
		})
		if ok && r.Traces == nil {
			r.Traces = []*Trace{}
		}
	}
	return ok
}

func (d *fastDecoder) traceField(t *Trace, key string) bool {
	var ok bool
	switch key {
	case "uid":
		t.UID, ok = d.string()
	case "text":
		t.Text, ok = d.string()
	case "predecessor_uid":
		t.PredecessorUID, ok = d.string()
	case "successor_uid":
		t.SuccessorUID, ok = d.string()
	case "retired_reason":
		t.RetiredReason, ok = d.string()
	case "created_at":
		t.CreatedAt, ok = d.time()
	case "updated_at":
		t.UpdatedAt, ok = d.time()
	case "retired":
		t.Retired, ok = d.bool()
	case "replay_count":
		t.ReplayCount, ok = d.int()
	case "content":
		start := d.i
		if ok = d.skipValue(0); ok {
			t.Content = json.RawMessage(d.keep(d.b[start:d.i]))
		}
	case "tags":
		if d.literal("null") { // a trace added without tags
			return true
		}
		t.Tags = []string{}
		ok = d.array(func() bool {
			s, ok := d.string()
			t.Tags = append(t.Tags, s)
			return ok
		})
	}
	return ok
}

func (d *fastDecoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *fastDecoder) next() byte {
	c := d.peek()
	d.i++
	return c
}

func (d *fastDecoder) byte(c byte) bool { return d.next() == c }

// array reads an array whose elements elem reads.
func (d *fastDecoder) array(elem func() bool) bool {
	if !d.byte('[') {
		return false
	}
	if d.peek() == ']' {
		d.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch d.next() {
		case ',':
		case ']':
			return true
		default:
			return false
		}
	}
}

// keep copies b into the arena and returns the copy.
func (d *fastDecoder) keep(b []byte) []byte {
	start := len(d.arena)
	d.arena = append(d.arena, b...)
	return d.arena[start:len(d.arena):len(d.arena)]
}

// rawKey reads a key without escapes, as the encoder writes field names.
func (d *fastDecoder) rawKey() (string, bool) {
	if !d.byte('"') {
		return "", false
	}
	start := d.i
	for d.i < len(d.b) && d.b[d.i] != '"' && d.b[d.i] != '\\' {
		d.i++
	}
	if !d.byte('"') {
		return "", false
	}
	return string(d.b[start : d.i-1]), true
}

// string reads a string into the arena: valid UTF-8, with the escapes
// JSON has but those of UTF-16 surrogates, which the encoder writes for no
// character (it writes characters beyond the BMP as themselves).
func (d *fastDecoder) string() (string, bool) {
	if !d.byte('"') {
		return "", false
	}
	start := len(d.arena)
	ascii := true
	for {
		if d.i >= len(d.b) {
			return "", false
		}
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			s := d.arena[start:]
			if !ascii && !utf8.Valid(s) {
				return "", false
			}
			return unsafe.String(unsafe.SliceData(s), len(s)), true
		case c < 0x20:
			return "", false
		case c != '\\':
			ascii = ascii && c < utf8.RuneSelf
			d.arena = append(d.arena, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.b) {
			return "", false
		}
		e := d.b[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			d.arena = append(d.arena, e)
		case 'b':
			d.arena = append(d.arena, '\b')
		case 'f':
			d.arena = append(d.arena, '\f')
		case 'n':
			d.arena = append(d.arena, '\n')
		case 'r':
			d.arena = append(d.arena, '\r')
		case 't':
			d.arena = append(d.arena, '\t')
		case 'u':
			if d.i+4 > len(d.b) {
				return "", false
			}
			n, err := strconv.ParseUint(string(d.b[d.i:d.i+4]), 16, 16)
			if err != nil || n >= 0xd800 && n < 0xe000 {
				return "", false
			}
			d.i += 4
			d.arena = utf8.AppendRune(d.arena, rune(n))
			ascii = ascii && n < utf8.RuneSelf
		default:
			return "", false
		}
	}
}

// time reads a time in UTC as RFC 3339 writes it, with up to 9 digits of
// fraction.
func (d *fastDecoder) time() (time.Time, bool) {
	s, ok := d.string()
	if !ok || len(s) < 20 || s[len(s)-1] != 'Z' {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

func (d *fastDecoder) bool() (bool, bool) {
	switch {
	case d.literal("true"):
		return true, true
	case d.literal("false"):
		return false, true
	}
	return false, false
}

// literal passes over lit if it comes next.
func (d *fastDecoder) literal(lit string) bool {
	if len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
		d.i += len(lit)
		return true
	}
	return false
}

// int reads an integer without sign, fraction or exponent.
func (d *fastDecoder) int() (int, bool) {
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	if d.i == start || d.b[start] == '0' && d.i-start > 1 {
		return 0, false
	}
	n, err := strconv.Atoi(string(d.b[start:d.i]))
	return n, err == nil
}

// skipValue passes over one compact JSON value, checking it, at most 64
// containers deep.
func (d *fastDecoder) skipValue(depth int) bool {
	if depth > 64 {
		return false
	}
	switch c := d.peek(); {
	case c == '{':
		return d.object(func(string) bool { return d.skipValue(depth + 1) })
	case c == '[':
		return d.array(func() bool { return d.skipValue(depth + 1) })
	case c == '"':
		mark := len(d.arena)
		_, ok := d.string()
		d.arena = d.arena[:mark] // only checked
		return ok
	case c == 't' || c == 'f':
		_, ok := d.bool()
		return ok
	case c == 'n':
		return d.literal("null")
	default:
		return d.number()
	}
}

// number passes over a JSON number.
func (d *fastDecoder) number() bool {
	start := d.i
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.peek() == '-' {
		d.i++
	}
	lead := d.i
	if n := digits(); n == 0 || n > 1 && d.b[lead] == '0' {
		return false
	}
	if d.peek() == '.' {
		d.i++
		if digits() == 0 {
			return false
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.i++
		if c := d.peek(); c == '+' || c == '-' {
			d.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return d.i > start
}
