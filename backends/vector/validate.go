package vector

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"

	"lakehouse/backends/errs"
)

// Limits on what callers may store.
const (
	MaxDim         = 16384   // dimensions of a vector
	MaxID          = 256     // bytes of an item id
	MaxText        = 1 << 20 // bytes of an item's text
	MaxMetadata    = 1 << 16 // bytes of an item's metadata, as JSON
	MaxModel       = 256     // bytes of an index's model name
	MaxBatch       = 1000    // items per Upsert, ids per Delete or Get
	MaxK           = 1000    // results per Search
	MaxEf          = 10000   // breadth of a graph search
	DefaultK       = 10
	DefaultEf      = 64
	maxNameLen     = 63
	nameRuleString = "index names are lowercase letters, digits and _, starting with a letter or _, at most 63 characters (e.g. docs_minilm)"
)

var namePattern = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func validateName(name string) error {
	switch {
	case name == "":
		return errs.New(errs.Invalid, "index name is empty; %s", nameRuleString)
	case len(name) > maxNameLen || !namePattern.MatchString(name):
		return errs.New(errs.Invalid, "invalid index name %q; %s", name, nameRuleString)
	}
	return nil
}

func parseMetric(m Metric) (Metric, error) {
	switch m {
	case "":
		return Cosine, nil
	case Cosine, L2, Dot:
		return m, nil
	}
	return "", errs.New(errs.Invalid, "unknown metric %q; use cosine (the default), l2 or dot", string(m))
}

func validateID(id string, i int) error {
	switch {
	case id == "":
		return errs.New(errs.Invalid, "item %d has an empty id; every item needs an id of 1 to %d bytes", i, MaxID)
	case len(id) > MaxID:
		return errs.New(errs.Invalid, "item %d has an id of %d bytes (%q...); ids are at most %d bytes", i, len(id), id[:32], MaxID)
	}
	return nil
}

// checkVector tests v against an index of dimension dim and metric m; what
// names v in the message ("the query", "the vector of item \"a\"").
func checkVector(v []float32, dim int, m Metric, what string) error {
	if len(v) != dim {
		if len(v) == 0 {
			return errs.New(errs.Invalid, "%s has no vector; give %d numbers", what, dim)
		}
		return errs.New(errs.Invalid, "%s has %d dimensions but the index has %d; use vectors from the index's embedding model, or create another index with dims %d", what, len(v), dim, len(v))
	}
	zero := true
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return errs.New(errs.Invalid, "%s has %v at position %d; every component must be a finite number", what, x, i)
		}
		if x != 0 {
			zero = false
		}
	}
	if zero && m == Cosine {
		return errs.New(errs.Invalid, "%s is all zeros, which has no cosine similarity to anything; give a non-zero vector (or use an index with metric l2 or dot)", what)
	}
	return nil
}

// prepared is an Item checked and converted for storage: its vector copied
// (and normalised under cosine), its metadata encoded, its text split into
// words.
type prepared struct {
	id  string
	vec []float32
	ex  *extra
	doc document // the text analysed for the lexical index
}

// prepareItems checks a batch for an index and converts it. Of items with
// the same id, the last wins.
func prepareItems(items []Item, dim int, m Metric) ([]prepared, error) {
	if len(items) > MaxBatch {
		return nil, errs.New(errs.Invalid, "%d items in one upsert; send at most %d items per call", len(items), MaxBatch)
	}
	last := make(map[string]int, len(items))
	for i, it := range items {
		if err := validateID(it.ID, i); err != nil {
			return nil, err
		}
		last[it.ID] = i
	}
	out := make([]prepared, 0, len(last))
	flat := make([]float32, 0, len(last)*dim)
	for i, it := range items {
		if last[it.ID] != i {
			continue
		}
		if len(it.Vector) == 0 {
			return nil, errs.New(errs.Invalid, "item %q has no vector; give %d numbers (embed its text first if you have only text)", it.ID, dim)
		}
		if err := checkVector(it.Vector, dim, m, fmt.Sprintf("the vector of item %q", it.ID)); err != nil {
			return nil, err
		}
		if len(it.Text) > MaxText {
			return nil, errs.New(errs.Invalid, "item %q has %d bytes of text; the limit is %d", it.ID, len(it.Text), MaxText)
		}
		ex, err := makeExtra(it.ID, it.Text, it.Metadata)
		if err != nil {
			return nil, err
		}
		start := len(flat)
		flat = append(flat, it.Vector...)
		v := flat[start:len(flat):len(flat)]
		if m == Cosine {
			normalize(v)
		}
		out = append(out, prepared{id: it.ID, vec: v, ex: ex, doc: analyze(it.Text)})
	}
	return out, nil
}

// makeExtra encodes an item's text and metadata, or returns nil when it has
// neither.
func makeExtra(id, text string, meta map[string]any) (*extra, error) {
	if text == "" && len(meta) == 0 {
		return nil, nil
	}
	ex := &extra{text: text}
	if len(meta) > 0 {
		b, err := json.Marshal(meta)
		if err != nil {
			return nil, errs.New(errs.Invalid, "metadata of item %q is not JSON-compatible: %v; use strings, numbers, booleans, null, lists and objects", id, err)
		}
		if len(b) > MaxMetadata {
			return nil, errs.New(errs.Invalid, "metadata of item %q is %d bytes as JSON; the limit is %d", id, len(b), MaxMetadata)
		}
		if err := ex.setMeta(b); err != nil {
			return nil, fmt.Errorf("decode metadata of item %q: %w", id, err)
		}
	}
	return ex, nil
}
