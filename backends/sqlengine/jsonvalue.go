package sqlengine

// JSON-safe values.
//
// A JSON number is read as a float64 by most clients, so every value leaves
// the engine in a form that encoding/json writes exactly and clients read
// back without loss:
//
//	NULL                         null
//	BOOLEAN                      true / false
//	TINYINT .. INTEGER, U...     number
//	BIGINT, UBIGINT, HUGEINT,    number when |v| <= 2^53, else a decimal string
//	UHUGEINT, BIGNUM
//	DECIMAL(w,s)                 decimal string with all s digits: "12345.678"
//	FLOAT, DOUBLE                number; NaN and ±Infinity become null
//	DATE                         "2024-01-31"
//	TIME                         "15:04:05.999999" (fraction only when present)
//	TIMETZ                       "15:04:05.999999+02:00"
//	TIMESTAMP*, TIMESTAMPTZ      RFC 3339 in UTC, with nanoseconds when present
//	INTERVAL                     {"months": m, "days": d, "micros": us}, the
//	                             three fields DuckDB keeps, so nothing is lost
//	                             to a month or day length
//	BLOB, GEOMETRY               base64 (standard alphabet, padded)
//	UUID                         "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
//	VARCHAR, ENUM, BIT           string (invalid UTF-8 replaced by U+FFFD)
//	LIST, ARRAY                  array, elements converted by their type
//	STRUCT                       object, fields converted by their type
//	MAP                          object; keys that are not strings are
//	                             written with fmt
//	UNION                        the value of its current member
//	JSON                         the decoded JSON value
//	anything else                fmt.Sprint of the value
//
// Some of this needs the column's type: UUIDs and BLOBs both arrive as
// []byte, and DATE, TIME and TIMESTAMP all arrive as time.Time. A converter
// is therefore built once per column from DuckDB's type name (nested types
// included, e.g. STRUCT("a" DATE[], "b" MAP(VARCHAR, UUID))) and applied to
// every value of the column.

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// maxExactInt is the largest integer magnitude a float64 holds exactly, 2^53.
const maxExactInt = 1 << 53

// converter turns one driver value into a JSON-safe one.
type converter func(v any) any

// converterFor returns the converter for values of the DuckDB type typ.
func converterFor(typ string) converter {
	typ = strings.TrimSpace(typ)

	// LIST is "T[]" and ARRAY is "T[n]"; the outermost is the last suffix.
	if strings.HasSuffix(typ, "]") {
		if i := strings.LastIndexByte(typ, '['); i > 0 && isDigits(typ[i+1:len(typ)-1]) {
			return listConverter(converterFor(typ[:i]))
		}
	}
	if args, ok := typeArgs(typ, "STRUCT"); ok {
		fields := make(map[string]converter)
		for _, f := range splitTop(args) {
			name, ftyp := fieldNameAndType(f)
			fields[name] = converterFor(ftyp)
		}
		return structConverter(fields)
	}
	if args, ok := typeArgs(typ, "MAP"); ok {
		parts := splitTop(args)
		if len(parts) == 2 {
			return mapConverter(converterFor(parts[0]), converterFor(parts[1]))
		}
		return jsonValue
	}
	if args, ok := typeArgs(typ, "UNION"); ok {
		members := make(map[string]converter)
		for _, m := range splitTop(args) {
			name, mtyp := fieldNameAndType(m)
			members[name] = converterFor(mtyp)
		}
		return unionConverter(members)
	}

	switch typ {
	case "DATE":
		return timeConverter("2006-01-02")
	case "TIME":
		return timeConverter("15:04:05.999999")
	case "TIMETZ":
		return timeConverter("15:04:05.999999Z07:00")
	case "UUID":
		return uuidValue
	}
	return jsonValue
}

// jsonValue converts v by its Go type alone.
func jsonValue(v any) any {
	switch v := v.(type) {
	case nil:
		return nil
	case bool, int8, int16, int32, uint8, uint16, uint32:
		return v
	case int:
		return exactInt(int64(v))
	case int64:
		return exactInt(v)
	case uint:
		return exactUint(uint64(v))
	case uint64:
		return exactUint(v)
	case float32:
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil
		}
		return v
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return v
	case *big.Int:
		if v == nil {
			return nil
		}
		return exactBig(v)
	case duckdb.Decimal:
		if v.Value == nil {
			return nil
		}
		return formatDecimal(v.Value, int(v.Scale))
	case string:
		return validUTF8(v)
	case []byte:
		return base64.StdEncoding.EncodeToString(v)
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case duckdb.UUID:
		return formatUUID(v[:])
	case *duckdb.UUID:
		if v == nil {
			return nil
		}
		return formatUUID(v[:])
	case [16]byte:
		return formatUUID(v[:])
	case duckdb.Interval:
		return map[string]any{"months": v.Months, "days": v.Days, "micros": exactInt(v.Micros)}
	case duckdb.Union:
		return jsonValue(v.Value)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[validUTF8(k)] = jsonValue(e)
		}
		return out
	case duckdb.OrderedMap:
		return orderedMapValue(v, jsonValue, jsonValue)
	case duckdb.Map:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[mapKey(jsonValue(k))] = jsonValue(e)
		}
		return out
	}
	return validUTF8(fmt.Sprint(v))
}

// exactInt returns v as a number when a float64 holds it exactly, else as a
// decimal string.
func exactInt(v int64) any {
	if v >= -maxExactInt && v <= maxExactInt {
		return v
	}
	return strconv.FormatInt(v, 10)
}

// exactUint is exactInt for unsigned values.
func exactUint(v uint64) any {
	if v <= maxExactInt {
		return v
	}
	return strconv.FormatUint(v, 10)
}

// exactBig is exactInt for big integers (HUGEINT, UHUGEINT, BIGNUM).
func exactBig(v *big.Int) any {
	if v.IsInt64() {
		return exactInt(v.Int64())
	}
	return v.String()
}

// formatDecimal writes the unscaled value v with scale digits after the
// point, keeping trailing zeros as DuckDB prints them: 12345678 with scale 3
// is "12345.678", -5 with scale 2 is "-0.05".
func formatDecimal(v *big.Int, scale int) string {
	digits := new(big.Int).Abs(v).String()
	sign := ""
	if v.Sign() < 0 {
		sign = "-"
	}
	if scale <= 0 {
		return sign + digits
	}
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	return sign + digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
}

// formatUUID writes 16 bytes in the canonical 8-4-4-4-12 form.
func formatUUID(b []byte) string {
	var buf [36]byte
	hex.Encode(buf[0:8], b[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], b[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], b[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], b[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], b[10:16])
	return string(buf[:])
}

// uuidValue converts a UUID column value, which the driver gives as 16 bytes.
func uuidValue(v any) any {
	if b, ok := v.([]byte); ok && len(b) == 16 {
		return formatUUID(b)
	}
	return jsonValue(v)
}

// timeConverter formats time values with layout.
func timeConverter(layout string) converter {
	return func(v any) any {
		if t, ok := v.(time.Time); ok {
			return t.Format(layout)
		}
		return jsonValue(v)
	}
}

// listConverter converts each element of a LIST or ARRAY with elem.
func listConverter(elem converter) converter {
	return func(v any) any {
		list, ok := v.([]any)
		if !ok {
			return jsonValue(v)
		}
		out := make([]any, len(list))
		for i, e := range list {
			out[i] = elem(e)
		}
		return out
	}
}

// structConverter converts each field of a STRUCT with its own converter.
func structConverter(fields map[string]converter) converter {
	return func(v any) any {
		m, ok := v.(map[string]any)
		if !ok {
			return jsonValue(v)
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			conv, ok := fields[k]
			if !ok {
				conv = jsonValue
			}
			out[validUTF8(k)] = conv(e)
		}
		return out
	}
}

// mapConverter converts a MAP into an object, keys and values by their types.
func mapConverter(key, val converter) converter {
	return func(v any) any {
		switch m := v.(type) {
		case duckdb.OrderedMap:
			return orderedMapValue(m, key, val)
		case duckdb.Map:
			out := make(map[string]any, len(m))
			for k, e := range m {
				out[mapKey(key(k))] = val(e)
			}
			return out
		}
		return jsonValue(v)
	}
}

// unionConverter converts a UNION to the value of its current member.
func unionConverter(members map[string]converter) converter {
	return func(v any) any {
		u, ok := v.(duckdb.Union)
		if !ok {
			return jsonValue(v)
		}
		if conv, ok := members[u.Tag]; ok {
			return conv(u.Value)
		}
		return jsonValue(u.Value)
	}
}

// orderedMapValue converts a MAP value into an object.
func orderedMapValue(m duckdb.OrderedMap, key, val converter) map[string]any {
	keys, vals := m.Keys(), m.Values()
	out := make(map[string]any, len(keys))
	for i, k := range keys {
		out[mapKey(key(k))] = val(vals[i])
	}
	return out
}

// mapKey turns a converted MAP key into an object key.
func mapKey(k any) string {
	if s, ok := k.(string); ok {
		return s
	}
	return validUTF8(fmt.Sprint(k))
}

// validUTF8 replaces invalid UTF-8 in s, which encoding/json would otherwise
// change silently.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// typeArgs returns what is inside the parentheses of typ when typ is
// "name(...)"; e.g. `"a" INTEGER, "b" VARCHAR` for STRUCT("a" INTEGER, "b" VARCHAR).
func typeArgs(typ, name string) (string, bool) {
	if len(typ) < len(name)+2 || !strings.EqualFold(typ[:len(name)], name) || typ[len(name)] != '(' || typ[len(typ)-1] != ')' {
		return "", false
	}
	return typ[len(name)+1 : len(typ)-1], true
}

// splitTop splits s at the commas that are outside parentheses, brackets and
// double quotes, trimming the parts.
func splitTop(s string) []string {
	var parts []string
	depth, start, quoted := 0, 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			quoted = !quoted // a doubled quote toggles twice, staying inside
		case quoted:
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			depth--
		case c == ',' && depth == 0:
			parts = append(parts, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	if rest := strings.TrimSpace(s[start:]); rest != "" || len(parts) > 0 {
		parts = append(parts, rest)
	}
	return parts
}

// fieldNameAndType splits a STRUCT field or UNION member, `"name" TYPE` or
// `name TYPE`, into its unquoted name and its type.
func fieldNameAndType(f string) (string, string) {
	f = strings.TrimSpace(f)
	if strings.HasPrefix(f, `"`) {
		var name strings.Builder
		for i := 1; i < len(f); i++ {
			if f[i] != '"' {
				name.WriteByte(f[i])
				continue
			}
			if i+1 < len(f) && f[i+1] == '"' {
				name.WriteByte('"')
				i++
				continue
			}
			return name.String(), strings.TrimSpace(f[i+1:])
		}
		return name.String(), ""
	}
	name, typ, _ := strings.Cut(f, " ")
	return name, strings.TrimSpace(typ)
}

// isDigits reports whether s holds only ASCII digits (or nothing).
func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
