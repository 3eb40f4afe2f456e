package vector

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"unique"

	"lakehouse/backends/errs"
)

// A filter is a Filter parsed and checked once per search: one condition
// per key, all of which an item's metadata must meet.
type filter struct {
	conds []cond
}

type condKind uint8

const (
	condEq    condKind = iota // the value equals vals[0]
	condIn                    // the value equals one of vals
	condRange                 // the value is a number within the bounds
)

type cond struct {
	key  string
	kind condKind
	vals []any // scalars in canonical form (see canonScalar)

	lo, hi             float64
	hasLo, hasHi       bool
	loStrict, hiStrict bool
}

const filterShapes = `a filter maps a metadata key to a value (exact match), a list of values (any of them), or a range object such as {"gte": 1, "lt": 5}`

// compileFilter parses f, or returns an errs.Invalid error saying what in it
// is malformed. A nil or empty Filter gives a nil *filter, which matches
// everything.
func compileFilter(f Filter) (*filter, error) {
	if len(f) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := &filter{conds: make([]cond, 0, len(keys))}
	for _, k := range keys {
		if k == "" {
			return nil, errs.New(errs.Invalid, "filter has an empty key; %s", filterShapes)
		}
		c, err := compileCond(k, f[k])
		if err != nil {
			return nil, err
		}
		out.conds = append(out.conds, c)
	}
	return out, nil
}

func compileCond(key string, v any) (cond, error) {
	c := cond{key: key}
	if s, ok := canonScalar(v); ok {
		c.kind, c.vals = condEq, []any{s}
		return c, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		if rv.Len() == 0 {
			return c, errs.New(errs.Invalid, "filter key %q: the list of values is empty; give at least one value to match", key)
		}
		c.kind = condIn
		for i := range rv.Len() {
			e := rv.Index(i).Interface()
			s, ok := canonScalar(e)
			if !ok {
				return c, errs.New(errs.Invalid, "filter key %q: list element %d is %s; a list may hold only strings, numbers, booleans or null", key, i, describe(e))
			}
			c.vals = append(c.vals, s)
		}
		return c, nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		if rv.Len() == 0 {
			return c, errs.New(errs.Invalid, "filter key %q: the range object is empty; give at least one of gt, gte, lt, lte", key)
		}
		c.kind = condRange
		ops := make([]string, 0, rv.Len())
		for _, k := range rv.MapKeys() {
			ops = append(ops, k.String())
		}
		slices.Sort(ops)
		for _, op := range ops {
			raw := rv.MapIndex(reflect.ValueOf(op).Convert(rv.Type().Key())).Interface()
			bound, ok := canonScalar(raw)
			num, isNum := bound.(float64)
			if op != "gt" && op != "gte" && op != "lt" && op != "lte" {
				return c, errs.New(errs.Invalid, "filter key %q: unknown range operator %q; use gt, gte, lt or lte (to match an object value exactly is not supported)", key, op)
			}
			if !ok || !isNum {
				return c, errs.New(errs.Invalid, "filter key %q: range operator %q needs a number, not %s", key, op, describe(raw))
			}
			switch op {
			case "gt", "gte":
				if c.hasLo {
					return c, errs.New(errs.Invalid, "filter key %q: give only one of gt and gte", key)
				}
				c.lo, c.hasLo, c.loStrict = num, true, op == "gt"
			case "lt", "lte":
				if c.hasHi {
					return c, errs.New(errs.Invalid, "filter key %q: give only one of lt and lte", key)
				}
				c.hi, c.hasHi, c.hiStrict = num, true, op == "lt"
			}
		}
		return c, nil
	}
	return c, errs.New(errs.Invalid, "filter key %q: %s is not a supported filter value; %s", key, describe(v), filterShapes)
}

// describe names a value's type for an error message.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", x)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprintf("the non-finite number %v", x)
		}
	}
	return fmt.Sprintf("a value of type %T", v)
}

// canonScalar returns v as one of nil, string, bool or a finite float64, so
// that values from JSON and from Go callers compare equal with ==.
func canonScalar(v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case string, bool:
		return x, true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
		return x, true
	case float32:
		return canonScalar(float64(x))
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil, false
		}
		return canonScalar(f)
	}
	return nil, false
}

// Match reports whether an item with metadata meets f, as a search's
// filter decides; an invalid f is an errs.Invalid error. An empty f matches
// every item.
func (f Filter) Match(metadata map[string]any) (bool, error) {
	cf, err := compileFilter(f)
	if err != nil || cf == nil {
		return err == nil, err
	}
	var e extra
	if metadata != nil {
		b, err := json.Marshal(metadata)
		if err != nil {
			return false, err
		}
		if err := e.setMeta(b); err != nil {
			return false, err
		}
	}
	return cf.match(&e), nil
}

// match reports whether an item with extra e meets every condition.
func (f *filter) match(e *extra) bool {
	if e == nil || e.attrs == nil {
		return false
	}
	for i := range f.conds {
		c := &f.conds[i]
		v, ok := e.attr(c.key)
		if !ok || !c.matchValue(v) {
			return false
		}
	}
	return true
}

// matchValue tests one metadata value. A list value matches when any of
// its elements does, so {"tags": "a"} finds items tagged ["a", "b"].
func (c *cond) matchValue(v any) bool {
	if list, ok := v.([]any); ok {
		for _, e := range list {
			if c.matchScalar(e) {
				return true
			}
		}
		return false
	}
	return c.matchScalar(v)
}

func (c *cond) matchScalar(v any) bool {
	switch c.kind {
	case condEq:
		return v == c.vals[0]
	case condIn:
		for _, w := range c.vals {
			if v == w {
				return true
			}
		}
		return false
	default:
		x, ok := v.(float64)
		if !ok {
			return false
		}
		if c.hasLo && (x < c.lo || c.loStrict && x == c.lo) {
			return false
		}
		if c.hasHi && (x > c.hi || c.hiStrict && x == c.hi) {
			return false
		}
		return true
	}
}

// An attr is a metadata value that filters can test, under its key.
type attr struct {
	key string
	val any
}

// attrsOf keeps the parts of a metadata object that filters can test: its
// top-level scalars and lists of scalars, in canonical form, sorted by key.
// Nested objects are left out. A slice rather than a map: an item has a
// handful of keys, which a map would spend over 300 bytes on, and the keys
// are interned, since items of an index mostly share them.
func attrsOf(meta map[string]any) []attr {
	if len(meta) == 0 {
		return nil
	}
	attrs := make([]attr, 0, len(meta))
	for k, v := range meta {
		if s, ok := canonScalar(v); ok {
			attrs = append(attrs, attr{unique.Make(k).Value(), s})
			continue
		}
		if list, ok := v.([]any); ok {
			var keep []any
			for _, e := range list {
				if s, ok := canonScalar(e); ok {
					keep = append(keep, s)
				}
			}
			attrs = append(attrs, attr{unique.Make(k).Value(), keep})
		}
	}
	slices.SortFunc(attrs, func(a, b attr) int { return strings.Compare(a.key, b.key) })
	return attrs
}

// attr returns the value of e's metadata that filters test under key.
func (e *extra) attr(key string) (any, bool) {
	i, ok := slices.BinarySearchFunc(e.attrs, key, func(a attr, k string) int { return strings.Compare(a.key, k) })
	if !ok {
		return nil, false
	}
	return e.attrs[i].val, true
}

// The filterable values of an item's metadata (attrsOf), as a snapshot
// stores them beside the JSON, so that opening an index need not parse
// the JSON again: count+1 uvarint (0: none), then per attr its key (uvarint
// length, bytes) and its value: a kind byte, then for a number its float64
// bits (8 bytes), for a string its length (uvarint) and bytes, for a list
// its length (uvarint) and its elements, each a kind and a scalar value.
const (
	attrNull = iota
	attrFalse
	attrTrue
	attrNumber
	attrString
	attrList
)

func appendAttrs(b []byte, attrs []attr) []byte {
	if attrs == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(attrs))+1)
	for _, a := range attrs {
		b = appendString(b, a.key)
		b = appendAttrValue(b, a.val)
	}
	return b
}

func appendAttrValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case bool:
		if x {
			return append(b, attrTrue)
		}
		return append(b, attrFalse)
	case float64:
		return binary.LittleEndian.AppendUint64(append(b, attrNumber), math.Float64bits(x))
	case string:
		return appendString(append(b, attrString), x)
	case []any:
		b = binary.AppendUvarint(append(b, attrList), uint64(len(x)))
		for _, e := range x {
			b = appendAttrValue(b, e)
		}
		return b
	}
	return append(b, attrNull)
}

// interner hands out one copy of the metadata keys and of the short
// string values met while decoding many items (keys, and values such as a
// state or a tag, mostly repeat), so that most need neither an allocation
// nor a lookup of the process-wide table. One decoding goroutine uses it.
type interner struct {
	keys map[string]string
	vals map[string]any // boxed, as filters hold them
}

func newInterner() *interner {
	return &interner{keys: map[string]string{}, vals: map[string]any{}}
}

// Bounds of what an interner keeps of values: short ones, so many.
const (
	internLen  = 64
	internVals = 1 << 14
)

func (in *interner) key(k []byte) string {
	key, ok := in.keys[string(k)]
	if !ok {
		key = unique.Make(string(k)).Value()
		in.keys[key] = key
	}
	return key
}

func (in *interner) val(b []byte) any {
	if v, ok := in.vals[string(b)]; ok {
		return v
	}
	var v any = string(b)
	if len(b) <= internLen && len(in.vals) < internVals {
		in.vals[string(b)] = v
	}
	return v
}

// attrs decodes what appendAttrs wrote, its keys and short strings
// through in.
func (r *reader) attrs(in *interner) []attr {
	n := r.uvarint()
	if n == 0 || r.err != nil {
		return nil
	}
	if n-1 > uint64(len(r.b)) { // an attr takes at least two bytes
		r.fail(errShort)
		return nil
	}
	attrs := make([]attr, n-1)
	for i := range attrs {
		key := in.key(r.bytes(r.uvarint(), MaxMetadata))
		attrs[i] = attr{key, r.attrValue(in, true)}
		if i > 0 && attrs[i-1].key >= attrs[i].key {
			r.fail(errors.New("metadata keys out of order"))
		}
	}
	return attrs
}

func (r *reader) attrValue(in *interner, listOK bool) any {
	switch k := r.byte(); k {
	case attrNull:
		return nil
	case attrFalse, attrTrue:
		return k == attrTrue
	case attrNumber:
		b := r.bytes(8, 8)
		if b == nil {
			return nil
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	case attrString:
		return in.val(r.bytes(r.uvarint(), MaxMetadata))
	case attrList:
		n := r.uvarint()
		if !listOK || n > uint64(len(r.b)) {
			r.fail(errors.New("bad metadata list"))
			return nil
		}
		var list []any // nil when empty, as attrsOf makes it
		if n > 0 {
			list = make([]any, 0, n)
		}
		for range n {
			list = append(list, r.attrValue(in, false))
		}
		return list
	}
	r.fail(errors.New("bad metadata value"))
	return nil
}
