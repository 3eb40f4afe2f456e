package matrix

import (
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"lakehouse/backends/errs"
)

// plainFocus has words (alpha, beta) that no symbol shares, so that each
// signal can be made to fire alone.
var plainFocus = Focus{Path: "backends/matrix/gate.go", Content: "alpha beta", DefinedSymbols: []string{"Decide"}, ImportedSymbols: []string{"json"}}

// weights renders reasons as signal=weight, in order.
func weights(reasons []Reason) string {
	var parts []string
	for _, r := range reasons {
		parts = append(parts, r.Signal+"="+strconv.FormatFloat(r.Weight, 'f', -1, 64))
	}
	return strings.Join(parts, " ")
}

func newScorer(t *testing.T, f Focus) *Scorer {
	t.Helper()
	s, err := NewScorer(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestScore_Signals scores chunks that set off each signal alone, then
// several at once, against numbers worked out by hand. Words of the focus
// are {alpha, beta}; "go", "the", "and", "of" are stopwords.
func TestScore_Signals(t *testing.T) {
	s := newScorer(t, plainFocus)
	cases := []struct {
		name  string
		chunk Chunk
		want  float64
		sigs  string
	}{
		{"names_path by source", Chunk{Source: "backends/matrix/gate.go", Text: "the of and"}, 1, "names_path=1"},
		{"names_path by doc_id", Chunk{Source: "code", DocID: "repo/backends/matrix/gate.go#L10-L20"}, 1, "names_path=1"},
		{"mentions_file", Chunk{Source: "notes", Text: "see gate.go."}, 0.6, "mentions_file=0.6"},
		{"defines_symbol", Chunk{Source: "notes", Text: "call Decide()"}, 0.6, "defines_symbol=0.6"},
		// {alpha, gamma} against {alpha, beta}: 1 shared of 3, times 0.4.
		{"token_overlap", Chunk{Source: "notes", Text: "alpha gamma"}, 0.1333, "token_overlap=0.1333"},
		{"same_area", Chunk{Source: "backends/matrix/merge.go"}, 0.3, "same_area=0.3"},
		{"imports_only", Chunk{Source: "notes", Text: "uses json"}, -0.5, "imports_only=-0.5"},
		{"nothing", Chunk{Source: "notes", Text: "unrelated words"}, 0, ""},
		// The focus itself: {gate, decide, uses, json, alpha} shares alpha,
		// 1 of 6, so 0.0667; it mentions Decide, so imports_only does not
		// apply, and naming the path leaves out same_area.
		{"the focus file", Chunk{Source: "backends/matrix/gate.go", DocID: "gate.go#2", Text: "gate.go: Decide uses json and alpha"},
			2.2667, "names_path=1 mentions_file=0.6 defines_symbol=0.6 token_overlap=0.0667"},
		// A neighbour about a dependency: {json, beta} shares beta, 1 of 3.
		{"a neighbour using an import", Chunk{Source: "backends/matrix/merge.go", Text: "json beta"},
			-0.0667, "token_overlap=0.1333 same_area=0.3 imports_only=-0.5"},
		// Every positive signal that can go together: {gate, decide, alpha, beta} shares 2 of 4.
		{"the most", Chunk{Source: "backends/matrix/gate.go", Text: "gate.go Decide alpha beta"},
			2.4, "names_path=1 mentions_file=0.6 defines_symbol=0.6 token_overlap=0.2"},
	}
	for _, c := range cases {
		got, reasons := s.Score(c.chunk)
		if got != c.want || weights(reasons) != c.sigs {
			t.Errorf("%s: %v [%s], want %v [%s]", c.name, got, weights(reasons), c.want, c.sigs)
		}
	}
}

// TestScore_Reasons checks what reasons say, for a person and a program.
func TestScore_Reasons(t *testing.T) {
	s := newScorer(t, Focus{Path: "backends/matrix/gate.go", Content: "alpha beta", DefinedSymbols: []string{"Decide", "NewGate", "Gate", "Rule"}, ImportedSymbols: []string{"json"}})
	// Words {gate, rule, decide, alpha} ("new" is a stopword) share alpha: 1 of 5.
	_, reasons := s.Score(Chunk{Source: "backends/matrix/gate.go", Text: "Gate, NewGate, Rule and Decide with alpha"})
	want := []Reason{
		{SignalNamesPath, "source backends/matrix/gate.go names the focus path", 1},
		{SignalDefinesSymbol, "mentions Decide, NewGate, Gate and 1 more", 0.6},
		{SignalTokenOverlap, "shares 1 word(s) with the focus (jaccard 0.200): alpha", 0.08},
	}
	if !slices.Equal(reasons, want) {
		t.Errorf("reasons =\n%+v\nwant\n%+v", reasons, want)
	}
	_, reasons = s.Score(Chunk{DocID: "backends/matrix/merge.go#3", Text: "json"})
	if got := reasons[len(reasons)-1]; got.Detail != "mentions only what the focus imports (json), nothing it defines" {
		t.Errorf("imports_only detail = %q", got.Detail)
	}
	if got := reasons[0]; got.Detail != "doc_id backends/matrix/merge.go#3 is under backends/matrix, like the focus" {
		t.Errorf("same_area detail = %q", got.Detail)
	}
}

// TestScore_FromContent takes the focus's symbols and words from real Go
// content: it defines Decide and imports encoding/json, and its words are
// {matrix, encoding, json, decide}.
func TestScore_FromContent(t *testing.T) {
	s := newScorer(t, Focus{Path: "backends/matrix/gate.go", Content: "package matrix\n\nimport \"encoding/json\"\n\nfunc Decide() {}\n"})
	if syms := s.Symbols(); !slices.Equal(syms.Defined, []string{"Decide"}) || !slices.Equal(syms.Imported, []string{"encoding/json", "json"}) || syms.Language != LangGo {
		t.Fatalf("symbols = %+v", syms)
	}
	cases := []struct {
		text string
		want float64
		sigs string
	}{
		// {decide, parses, json, encoding}: 3 shared of 5 is 0.6, times 0.4.
		{"Decide parses the JSON encoding", 0.84, "defines_symbol=0.6 token_overlap=0.24"},
		// {json, marshal, called}: 1 of 6.
		{"json.Marshal is called", -0.4333, "token_overlap=0.0667 imports_only=-0.5"},
		{"encoding/json is the import", -0.3, "token_overlap=0.2 imports_only=-0.5"},
	}
	for _, c := range cases {
		if got, reasons := s.Score(Chunk{Source: "docs", Text: c.text}); got != c.want || weights(reasons) != c.sigs {
			t.Errorf("%q: %v [%s], want %v [%s]", c.text, got, weights(reasons), c.want, c.sigs)
		}
	}
}

// TestScore_FocusWithoutContent compares chunks with the words of the path
// and given symbols: {backends, matrix, gate} ("go" and "new" are stopwords).
func TestScore_FocusWithoutContent(t *testing.T) {
	s := newScorer(t, Focus{Path: "backends/matrix/gate.go", DefinedSymbols: []string{"NewGate"}})
	got, reasons := s.Score(Chunk{Source: "notes", Text: "the gate of the matrix"})
	if got != 0.2667 || weights(reasons) != "token_overlap=0.2667" {
		t.Errorf("score %v [%s], want 0.2667 (2 of 3 words)", got, weights(reasons))
	}
}

// TestScore_ShortSymbols: symbols under three characters match nothing, and
// are not reported as matched against.
func TestScore_ShortSymbols(t *testing.T) {
	s := newScorer(t, Focus{Path: "a/b/c.go", Content: "x", DefinedSymbols: []string{"T", "io", "Run", " Run "}, ImportedSymbols: []string{"os"}})
	if got := s.Symbols(); !slices.Equal(got.Defined, []string{"Run"}) || len(got.Imported) != 0 {
		t.Errorf("symbols = %+v", got)
	}
	if got, _ := s.Score(Chunk{Text: "T io os"}); got != 0 {
		t.Errorf("short symbols scored %v", got)
	}
}

// TestNamesPath is what "names the focus path" means.
func TestNamesPath(t *testing.T) {
	s := newScorer(t, Focus{Path: "backends/matrix/gate.go"})
	for ref, want := range map[string]bool{
		"backends/matrix/gate.go":                                      true,
		"./backends/matrix/gate.go":                                    true,
		"/home/u/repo/backends/matrix/gate.go":                         true,
		"file://backends/matrix/gate.go":                               true,
		`backends\matrix\gate.go`:                                      true,
		"backends/matrix/gate.go:42":                                   true,
		"backends/matrix/gate.go:42:7":                                 true,
		"backends/matrix/gate.go:L10-L20":                              true,
		"https://github.com/o/r/blob/main/backends/matrix/gate.go#L10": true,
		"matrix/gate.go":                                               true,  // a suffix of two segments
		"gate.go":                                                      false, // one segment: too many folders hold a gate.go
		"other/matrix/gate.go":                                         false,
		"backends/matrix/Gate.go":                                      false, // case counts
		"backends/matrix/gate.go.bak":                                  false,
		"backends/matrix":                                              false,
		"":                                                             false,
	} {
		if got := s.namesPath(ref); got != want {
			t.Errorf("namesPath(%q) = %v, want %v", ref, got, want)
		}
	}
	root := newScorer(t, Focus{Path: "main.go"})
	if !root.namesPath("main.go") || !root.namesPath("/src/main.go") || root.namesPath("main.go.orig") {
		t.Error("a focus at the root is named by its whole path, at the end of a reference")
	}
}

// TestInArea is what "the same first two path segments" means.
func TestInArea(t *testing.T) {
	deep := newScorer(t, Focus{Path: "backends/matrix/sub/gate.go"})
	shallow := newScorer(t, Focus{Path: "tools/review.go"})
	root := newScorer(t, Focus{Path: "main.go"})
	cases := []struct {
		s    *Scorer
		ref  string
		want bool
	}{
		{deep, "backends/matrix/merge.go", true},
		{deep, "backends/matrix/other/x.go", true},
		{deep, "backends/vector/x.go", false},
		{deep, "/abs/backends/matrix/merge.go", false}, // compared from the start
		{shallow, "tools/matrix.go", true},
		{shallow, "tools/sub/x.go", true},
		{shallow, "tools", false},
		{shallow, "mcpd/tools/x.go", false},
		{root, "other.go", false},
	}
	for _, c := range cases {
		if got := c.s.inArea(c.ref); got != c.want {
			t.Errorf("area %v: inArea(%q) = %v, want %v", c.s.area, c.ref, got, c.want)
		}
	}
}

// TestMentions is what "mentions" means for symbols and file names.
func TestMentions(t *testing.T) {
	cases := []struct {
		text, word string
		class      wordClass
		want       bool
	}{
		{"cfg.Load()", "Load", identClass, true},
		{"Load", "Load", identClass, true},
		{"Loader", "Load", identClass, false},
		{"load it", "Load", identClass, false},
		{"_Load", "Load", identClass, false},
		{"$Load", "Load", identClass, false},
		{"ünLoad", "Load", identClass, false},
		{"ReLoad Load", "Load", identClass, true}, // the second occurrence
		{"x := config.Load(p)", "config.Load", identClass, true},
		{"myconfig.Load", "config.Load", identClass, false},
		{"import './util'", "./util", identClass, true},
		{"see gate.go.", "gate.go", nameClass, true},
		{"gate.go:12", "gate.go", nameClass, true},
		{"(gate.go)", "gate.go", nameClass, true},
		{"backends/matrix/gate.go", "gate.go", nameClass, true},
		{"my-gate.go", "gate.go", nameClass, false},
		{"agate.go", "gate.go", nameClass, false},
		{"gate.go.bak", "gate.go", nameClass, false},
		{"gate.golang", "gate.go", nameClass, false},
		{"Gate.go", "gate.go", nameClass, false},
		{"", "gate.go", nameClass, false},
	}
	for _, c := range cases {
		if got := mentions(c.text, c.word, c.class); got != c.want {
			t.Errorf("mentions(%q, %q) = %v, want %v", c.text, c.word, got, c.want)
		}
	}
}

func TestWords(t *testing.T) {
	got := map[string]struct{}{}
	addWords(got, "parseHTTPConfig utf8Decode HTTPServer __init__ x 42 the func Self None")
	want := []string{"config", "decode", "http", "init", "parse", "server", "utf8"}
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, want) {
		t.Errorf("words = %q, want %q", keys, want)
	}
	if j, shared := jaccard(map[string]struct{}{}, "the of"); j != 0 || shared != nil {
		t.Errorf("jaccard of nothing = %v %v", j, shared)
	}
}

// TestRank_Threshold drops chunks under the threshold (keeping one equal to
// it), orders the rest best first with ties in their given order, and
// echoes incoming scores without using them.
func TestRank_Threshold(t *testing.T) {
	s := newScorer(t, plainFocus)
	score := func(x float64) *float64 { return &x }
	chunks := []Chunk{
		{Source: "notes", Text: "alpha gamma", Score: score(0.99)},  // 0.1333: dropped
		{Source: "backends/matrix/merge.go"},                        // 0.3: kept, at the threshold
		{Source: "notes", Text: "uses json"},                        // -0.5: dropped
		{Source: "notes", Text: "Decide", Score: score(0.1)},        // 0.6
		{Source: "backends/matrix/gate.go", Text: "gate.go Decide"}, // 2.2
		{Source: "notes", Text: "and Decide", Score: score(0.9)},    // 0.6, after the other 0.6
	}
	kept, err := s.Rank(context.Background(), chunks, DefaultThreshold)
	if err != nil {
		t.Fatal(err)
	}
	var order []int
	var rels []float64
	for _, k := range kept {
		order, rels = append(order, k.Index), append(rels, k.Relevance)
	}
	if !slices.Equal(order, []int{4, 3, 5, 1}) || !slices.Equal(rels, []float64{2.2, 0.6, 0.6, 0.3}) {
		t.Errorf("kept %v with %v, want [4 3 5 1] with [2.2 0.6 0.6 0.3]", order, rels)
	}
	if kept[1].Score == nil || *kept[1].Score != 0.1 || kept[0].Score != nil || kept[0].Source != "backends/matrix/gate.go" {
		t.Errorf("incoming scores or sources not echoed: %+v", kept[:2])
	}
	all, err := s.Rank(context.Background(), chunks, MinRelevance)
	if err != nil || len(all) != len(chunks) {
		t.Errorf("threshold %v kept %d of %d (%v)", MinRelevance, len(all), len(chunks), err)
	}
	none, err := s.Rank(context.Background(), chunks, MaxRelevance)
	if err != nil || len(none) != 0 || none == nil {
		t.Errorf("threshold %v kept %v (%v), want an empty list", MaxRelevance, none, err)
	}
}

// TestScorer_BadInput: every bound and required field gives a caller's
// mistake of the right kind, with a message that says what to do.
func TestScorer_BadInput(t *testing.T) {
	many := func(n int, s string) []string { return slices.Repeat([]string{s}, n) }
	focusCases := []struct {
		focus Focus
		kind  *errs.Kind
		want  string
	}{
		{Focus{}, errs.Invalid, "focus.path is required"},
		{Focus{Path: " "}, errs.Invalid, "focus.path is required"},
		{Focus{Path: "/"}, errs.Invalid, "names no file"},
		{Focus{Path: strings.Repeat("a", MaxPathBytes+1)}, errs.TooLarge, "focus.path is 4097 bytes; the limit is 4096"},
		{Focus{Path: "a.go", Content: strings.Repeat("x", MaxContentBytes+1)}, errs.TooLarge, "focus.content is 1048577 bytes"},
		{Focus{Path: "a.go", DefinedSymbols: many(MaxSymbols+1, "Foo")}, errs.TooLarge, "focus.defined_symbols has 1001 symbols"},
		{Focus{Path: "a.go", ImportedSymbols: []string{"ok", strings.Repeat("s", MaxSymbolBytes+1)}}, errs.TooLarge, "focus.imported_symbols[1] is 257 bytes"},
	}
	for _, c := range focusCases {
		_, err := NewScorer(c.focus)
		if !errors.Is(err, c.kind) || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewScorer(path %.20q): %v, want %v containing %q", c.focus.Path, err, c.kind, c.want)
		}
	}

	s := newScorer(t, plainFocus)
	big := strings.Repeat("x", MaxChunkTextBytes)
	chunkCases := []struct {
		chunks    []Chunk
		threshold float64
		kind      *errs.Kind
		want      string
	}{
		{nil, 0.3, errs.Invalid, "chunks is empty"},
		{make([]Chunk, MaxChunks+1), 0.3, errs.TooLarge, "1001 chunks; the limit is 1000"},
		{[]Chunk{{}, {Text: big + "x"}}, 0.3, errs.TooLarge, "chunks[1].text is 65537 bytes"},
		{slices.Repeat([]Chunk{{Text: big}}, MaxTotalTextBytes/MaxChunkTextBytes+1), 0.3, errs.TooLarge, "bytes of text together"},
		{[]Chunk{{DocID: strings.Repeat("d", MaxPathBytes+1)}}, 0.3, errs.TooLarge, "chunks[0]: source and doc_id"},
		{[]Chunk{{}}, math.NaN(), errs.Invalid, "threshold = NaN"},
		{[]Chunk{{}}, 3, errs.Invalid, "threshold = 3: must be between -0.5 and 2.6"},
		{[]Chunk{{}}, -1, errs.Invalid, "threshold = -1"},
	}
	for _, c := range chunkCases {
		_, err := s.Rank(context.Background(), c.chunks, c.threshold)
		if !errors.Is(err, c.kind) || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Rank(%d chunks, %v): %v, want %v containing %q", len(c.chunks), c.threshold, err, c.kind, c.want)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Rank(ctx, []Chunk{{}}, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Rank with a cancelled context: %v", err)
	}
}
