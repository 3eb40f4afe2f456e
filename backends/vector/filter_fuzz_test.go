package vector

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"lakehouse/backends/errs"
)

// FuzzCompileFilter checks compileFilter against the Filter contract (see
// the Filter doc comment), using a reference evaluator written from that
// contract alone. For any JSON filter object (decoded as a JSON caller's
// map[string]any, or with json.Number, or with its lists and range objects
// retyped as a Go caller would pass them: []string, []int64, [2]bool,
// map[string]float64 and the like):
//
//   - compileFilter accepts it exactly when the reference says it is valid,
//     and otherwise returns an error of kind errs.Invalid and no filter;
//   - compiling is deterministic: the same filter or the same error twice;
//   - an empty filter compiles to nil, which matches everything;
//   - the compiled filter, matched against any item metadata (stored as
//     extra.setMeta stores it), never panics, gives the same answer twice,
//     and agrees with the reference; an item without metadata never matches.
func FuzzCompileFilter(f *testing.F) {
	for _, s := range []struct {
		filter, meta string
		mode         uint8
	}{
		{`{"lang": "en"}`, `{"lang": "en"}`, 0},
		{`{"lang": "en"}`, `{"lang": ["de", "en"]}`, 0},
		{`{"lang": ["en", "de"]}`, `{"lang": "de", "year": 2021}`, 2},
		{`{"year": {"gte": 2020, "lt": 2024}}`, `{"year": 2023.5}`, 2},
		{`{"year": {"gt": 2020, "lte": 2024}}`, `{"year": 2020}`, 1},
		{`{"year": {"gt": 1e308}}`, `{"year": 1.7976931348623157e308}`, 0},
		{`{"n": 9007199254740993}`, `{"n": 9007199254740992}`, 1},
		{`{"n": -0}`, `{"n": 0}`, 0},
		{`{"n": 1}`, `{"n": "1"}`, 0},
		{`{"ok": true, "x": null}`, `{"ok": true, "x": null}`, 2},
		{`{"x": null}`, `{}`, 0},
		{`{"tags": ["a", 1, true, null]}`, `{"tags": [{"a": 1}, "a"]}`, 2},
		{`{"a": {"b": 1}}`, `{"a": {"b": 1}}`, 0},
		{`{"a": {"eq": 1}}`, `{"a": 1}`, 0},
		{`{"a": {"gt": 1, "gte": 2}}`, `{"a": 3}`, 2},
		{`{"a": {"lt": "5"}}`, `{"a": 3}`, 0},
		{`{"a": {}}`, `{"a": 3}`, 0},
		{`{"a": []}`, `{"a": []}`, 2},
		{`{"a": [[1]]}`, `{"a": [[1]]}`, 0},
		{`{"": 1}`, `{"": 1}`, 0},
		{`{"a": 1e400}`, `{"a": 1}`, 1},
		{`{}`, `{"a": 1}`, 0},
		{`null`, `null`, 0},
		{`[1]`, `{"a": 1}`, 0},
		{`{"a": 1, "a": 2}`, `{"a": 2, "a": 1}`, 0},
	} {
		f.Add([]byte(s.filter), []byte(s.meta), s.mode)
	}
	f.Fuzz(func(t *testing.T, filterJSON, metaJSON []byte, mode uint8) {
		var generic map[string]any
		dec := json.NewDecoder(bytes.NewReader(filterJSON))
		if mode&1 != 0 {
			dec.UseNumber()
		}
		if dec.Decode(&generic) != nil {
			return // not a JSON object: the tools refuse it before a filter is made
		}
		flt := Filter(generic)
		if mode&2 != 0 {
			flt = make(Filter, len(generic))
			for k, v := range generic {
				flt[k] = retype(v)
			}
		}

		got, err := compileFilter(flt)
		again, err2 := compileFilter(flt)
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() || !reflect.DeepEqual(got, again) {
			t.Fatalf("compileFilter(%v) is not deterministic: %v, %v then %v, %v", flt, got, err, again, err2)
		}
		wantErr := refValidate(generic)
		if err != nil {
			if !errors.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "filter") {
				t.Fatalf("compileFilter(%v): error %v is not an errs.Invalid error about the filter", flt, err)
			}
			if got != nil {
				t.Fatalf("compileFilter(%v) returned a filter with its error %v", flt, err)
			}
			if wantErr == "" {
				t.Fatalf("compileFilter(%v) refused a valid filter: %v", flt, err)
			}
			return
		}
		if wantErr != "" {
			t.Fatalf("compileFilter(%v) accepted a filter that is invalid: %s", flt, wantErr)
		}
		if len(flt) == 0 {
			if got != nil {
				t.Fatalf("compileFilter(%v) = %v, want nil for an empty filter", flt, got)
			}
			return
		}
		if got.match(nil) || got.match(&extra{text: "t"}) {
			t.Fatalf("filter %v matches an item without metadata", flt)
		}

		ex := &extra{}
		var meta map[string]any
		if ex.setMeta(append([]byte(nil), metaJSON...)) != nil {
			return
		}
		if err := json.Unmarshal(metaJSON, &meta); err != nil {
			t.Fatalf("setMeta took %q, which does not decode: %v", metaJSON, err)
		}
		m := got.match(ex)
		if m != got.match(ex) {
			t.Fatalf("filter %v on %s: match is not deterministic", flt, metaJSON)
		}
		if want := refMatch(generic, meta); m != want {
			t.Fatalf("filter %s on metadata %s: match = %v, the contract says %v", filterJSON, metaJSON, m, want)
		}
	})
}

// opName is a named key type, as a Go caller's own map type might use.
type opName string

// retype turns a JSON value into what a Go caller might pass instead: a list
// of strings as []string, of whole numbers as []int64, of two booleans as
// [2]bool, a range object of numbers as map[string]float64 or
// map[opName]int. Other values are left as they are.
func retype(v any) any {
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			return []string{}
		}
		if ss, ok := all[string](x); ok {
			return ss
		}
		if bs, ok := all[bool](x); ok && len(bs) == 2 {
			return [2]bool{bs[0], bs[1]}
		}
		if fs, ok := numbers(x); ok {
			ints := make([]int64, len(fs))
			for i, f := range fs {
				if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
					return fs
				}
				ints[i] = int64(f)
			}
			return ints
		}
	case map[string]any:
		fs := make(map[string]float64, len(x))
		for k, e := range x {
			n, ok := numbers([]any{e})
			if !ok {
				return v
			}
			fs[k] = n[0]
		}
		ints := make(map[opName]int, len(fs))
		for k, f := range fs {
			if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return fs
			}
			ints[opName(k)] = int(f)
		}
		return ints
	}
	return v
}

// all returns xs as a []T if every element is a T.
func all[T any](xs []any) ([]T, bool) {
	out := make([]T, len(xs))
	for i, x := range xs {
		t, ok := x.(T)
		if !ok {
			return nil, false
		}
		out[i] = t
	}
	return out, true
}

// numbers returns xs as finite float64s if every element is a JSON number.
func numbers(xs []any) ([]float64, bool) {
	out := make([]float64, len(xs))
	for i, x := range xs {
		n, ok := refNumber(x)
		if !ok {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// The reference: the Filter contract written out plainly, for JSON values
// (numbers as float64 or json.Number).

// refNumber returns the finite value of a JSON number.
func refNumber(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case json.Number:
		var err error
		if f, err = strconv.ParseFloat(string(x), 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

// refScalar reports whether v is a value a filter can compare: a string,
// a finite number, a boolean or null.
func refScalar(v any) bool {
	switch v.(type) {
	case nil, string, bool:
		return true
	}
	_, ok := refNumber(v)
	return ok
}

// refValidate returns why a filter is invalid, or "".
func refValidate(flt map[string]any) string {
	for k, v := range flt {
		if k == "" {
			return "empty key"
		}
		switch x := v.(type) {
		case []any:
			if len(x) == 0 {
				return "empty list"
			}
			for _, e := range x {
				if !refScalar(e) {
					return "list element that is not a scalar"
				}
			}
		case map[string]any:
			if len(x) == 0 {
				return "empty range"
			}
			for op, b := range x {
				if op != "gt" && op != "gte" && op != "lt" && op != "lte" {
					return "unknown range operator " + strconv.Quote(op)
				}
				if _, ok := refNumber(b); !ok {
					return "range bound that is not a number"
				}
			}
			if _, gt := x["gt"]; gt {
				if _, gte := x["gte"]; gte {
					return "both gt and gte"
				}
			}
			if _, lt := x["lt"]; lt {
				if _, lte := x["lte"]; lte {
					return "both lt and lte"
				}
			}
		default:
			if !refScalar(v) {
				return "value that is not a scalar"
			}
		}
	}
	return ""
}

// refMatch reports whether metadata meta meets every condition of flt.
func refMatch(flt, meta map[string]any) bool {
	for k, want := range flt {
		v, ok := meta[k]
		if !ok {
			return false
		}
		hit := false
		if list, isList := v.([]any); isList {
			for _, e := range list {
				hit = hit || refMatchOne(want, e)
			}
		} else {
			hit = refMatchOne(want, v)
		}
		if !hit {
			return false
		}
	}
	return true
}

// refMatchOne reports whether one metadata value v meets the condition want.
func refMatchOne(want, v any) bool {
	switch w := want.(type) {
	case []any:
		for _, e := range w {
			if refEqual(e, v) {
				return true
			}
		}
		return false
	case map[string]any:
		x, ok := v.(float64)
		if !ok {
			return false
		}
		for op, b := range w {
			n, _ := refNumber(b)
			switch op {
			case "gt":
				ok = x > n
			case "gte":
				ok = x >= n
			case "lt":
				ok = x < n
			case "lte":
				ok = x <= n
			}
			if !ok {
				return false
			}
		}
		return true
	}
	return refEqual(want, v)
}

// refEqual compares a filter scalar with a metadata value: numbers by value,
// other scalars exactly. Objects and lists equal nothing.
func refEqual(want, v any) bool {
	if n, ok := refNumber(want); ok {
		x, isNum := v.(float64)
		return isNum && x == n
	}
	switch w := want.(type) {
	case nil:
		return v == nil
	case string:
		s, ok := v.(string)
		return ok && s == w
	case bool:
		b, ok := v.(bool)
		return ok && b == w
	}
	return false
}
