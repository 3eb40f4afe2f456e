package matrix

// Relevance scoring for code review: how much a retrieved chunk (a passage of
// code or prose) has to do with the file under review, the focus.
//
// A chunk's relevance is a sum of fixed signals, each reported as a Reason:
//
//	names_path      +1.0  its source or doc_id names the focus path
//	mentions_file   +0.6  its text mentions the focus file name
//	defines_symbol  +0.6  its text mentions a symbol the focus defines
//	token_overlap   +0.4 × Jaccard overlap of the words of its text and of the focus
//	same_area       +0.3  its source or doc_id lies under the focus's first two folders
//	imports_only    −0.5  its text mentions symbols the focus imports, none it defines
//
// What the words mean, exactly:
//
//   - A path is split on "/" (and "\"), after cutting a file:// scheme, a
//     #fragment and a :line, :line:col or :start-end suffix. A reference
//     names the focus path when one is a suffix of the other on whole
//     segments and the shorter has at least two segments or is the whole
//     focus path: "repo/backends/matrix/gate.go#L10" and "matrix/gate.go"
//     name "backends/matrix/gate.go"; "gate.go" alone does not, as many
//     folders hold a gate.go. Paths are compared case-sensitively, as git
//     and most file systems do.
//   - same_area compares from the start of both paths: the focus's first two
//     folders (its one folder, when it has one) must begin the reference's
//     folders, so give repository-relative paths. The folders are compared,
//     not the first two segments of the whole path, which for a file one
//     folder deep would include its own name. A chunk that names the focus
//     path does not also get same_area: it is the focus, not a neighbour, and
//     its score must not depend on how its path was spelled.
//   - Text mentions a symbol when the symbol occurs with no identifier
//     character (letter, digit, _ or $) just before or after it, case
//     included: "Load" is mentioned by "cfg.Load()" but not by "Loader" or
//     "load". A qualified symbol ("os.path", "config.Load") is matched whole.
//     Symbols shorter than three characters are not matched: "x", "T" or
//     "io" turn up in too much unrelated text to say anything.
//   - Text mentions the file name under the same rule, with - and . also
//     counting as part of a name (so "my-gate.go" and "gate.go.bak" do not
//     mention gate.go, while "gate.go:12" and a sentence ending "gate.go." do).
//   - Words are runs of letters and digits, split at _ and at camelCase
//     humps, lower-cased; single letters, numbers and stopwords (English
//     function words, and keywords and primitive names of Go, Rust,
//     TypeScript/JavaScript and Python) are dropped. The focus's words are
//     those of its content; without content, those of its path (folders and
//     file stem) and given symbols.
//   - Symbols are the ones given; a list left empty is read from the
//     content (see ExtractSymbols).
//
// The Max constants bound what one call takes (chunks, their text, the
// content, symbols), so that one call stays under a second: about 0.5 s for
// the full 8 MiB of chunk text against a 1 MiB focus of 10,000 symbols, 0.2 s
// for 1000 chunks of 2 KB, measured on a shared 2-core machine. More is an
// errs.TooLarge error that says how to split the work.
//
// An incoming chunk score is echoed back but takes no part in relevance:
// retrievers score on scales that differ in range and even direction
// (cosine distance falls as a match improves, BM25 and RRF rise), so no fixed
// weight could add one in and keep the threshold meaning the same thing. Ties
// keep the order the chunks were given in, which is the caller's own ranking.

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"lakehouse/backends/errs"
)

// Signals, as a Reason names them.
const (
	SignalNamesPath     = "names_path"
	SignalMentionsFile  = "mentions_file"
	SignalDefinesSymbol = "defines_symbol"
	SignalTokenOverlap  = "token_overlap"
	SignalSameArea      = "same_area"
	SignalImportsOnly   = "imports_only"
)

// The weight of each signal; token_overlap's is multiplied by the overlap.
const (
	weightNamesPath     = 1.0
	weightMentionsFile  = 0.6
	weightDefinesSymbol = 0.6
	weightTokenOverlap  = 0.4
	weightSameArea      = 0.3
	weightImportsOnly   = -0.5
)

// MinRelevance and MaxRelevance bound the relevance a chunk can score
// (same_area never adds to names_path).
const (
	MinRelevance = weightImportsOnly
	MaxRelevance = weightNamesPath + weightMentionsFile + weightDefinesSymbol + weightTokenOverlap
)

// DefaultThreshold is the relevance below which a chunk is dropped when the
// caller sets none: same_area alone is just kept, while word overlap alone
// needs a Jaccard overlap of 0.75.
const DefaultThreshold = 0.3

// Bounds of what a Scorer takes, so that one call's work stays small. A
// bigger input is a caller's mistake of kind errs.TooLarge.
const (
	MaxChunks         = 1000     // chunks in one Rank
	MaxChunkTextBytes = 64 << 10 // text of one chunk
	MaxTotalTextBytes = 8 << 20  // text of all chunks of one Rank
	MaxContentBytes   = 1 << 20  // the focus content
	MaxPathBytes      = 4096     // the focus path, a chunk's source or doc_id
	MaxSymbols        = 1000     // given defined or imported symbols, each list
	MaxSymbolBytes    = 256      // one given symbol
)

// minSymbolLen is the length, in characters, below which a symbol is not matched.
const minSymbolLen = 3

// Focus is the file under review.
type Focus struct {
	Path    string // its path, repository-relative for same_area to work
	Content string // its text, optional: the source of its words and, when not given, its symbols
	// DefinedSymbols and ImportedSymbols, when empty, are extracted from
	// Content in the language of Path's extension (see ExtractSymbols).
	DefinedSymbols  []string
	ImportedSymbols []string
}

// Chunk is a retrieved passage to score.
type Chunk struct {
	Source string // where it came from: a file path, a URL, a corpus name
	DocID  string // its id there, often a path with a fragment
	Text   string
	Score  *float64 // the retriever's score, echoed back; see the notes at the top of this file
}

// Reason is one signal that moved a chunk's relevance.
type Reason struct {
	Signal string  `json:"signal"` // one of the Signal constants
	Detail string  `json:"detail"` // what matched, for a person: "mentions ParseConfig"
	Weight float64 `json:"weight"` // what it added (or took away)
}

// Scored is a chunk kept by Rank, with the reasons its relevance adds up from.
type Scored struct {
	Index     int      `json:"index"` // the chunk's position in what Rank was given
	Source    string   `json:"source,omitempty"`
	DocID     string   `json:"doc_id,omitempty"`
	Score     *float64 `json:"score,omitempty"` // the incoming score, as given
	Relevance float64  `json:"relevance"`
	Reasons   []Reason `json:"reasons"`
}

// Scorer scores chunks against one focus. It reads the focus once, in
// NewScorer; Score and Rank are then safe to call from several goroutines.
type Scorer struct {
	segs     []string // the focus path's segments
	name     string   // its file name
	area     []string // its first two folders, or its one
	defined  symbolSet
	imported symbolSet
	words    map[string]struct{}
	symbols  Symbols // the names of defined and imported
}

// NewScorer returns a Scorer for f. Its errors are caller's mistakes: an
// empty path, or a part of f larger than its bound.
func NewScorer(f Focus) (*Scorer, error) {
	if err := checkFocus(f); err != nil {
		return nil, err
	}
	s := &Scorer{segs: pathSegments(f.Path)}
	if len(s.segs) == 0 {
		return nil, errs.New(errs.Invalid, "focus.path %q names no file: give the path of the file under review, e.g. \"backends/matrix/gate.go\"", f.Path)
	}
	s.name = s.segs[len(s.segs)-1]
	dir := s.segs[:len(s.segs)-1]
	s.area = dir[:min(2, len(dir))]

	s.symbols = Symbols{Language: languageOf(f.Path)}
	if len(f.DefinedSymbols) == 0 || len(f.ImportedSymbols) == 0 {
		s.symbols = ExtractSymbols(f.Path, f.Content)
	}
	if len(f.DefinedSymbols) > 0 {
		s.symbols.Defined = f.DefinedSymbols
	}
	if len(f.ImportedSymbols) > 0 {
		s.symbols.Imported = f.ImportedSymbols
	}
	s.defined = newSymbolSet(s.symbols.Defined)
	s.imported = newSymbolSet(s.symbols.Imported)
	s.symbols.Defined, s.symbols.Imported = s.defined.names, s.imported.names

	s.words = map[string]struct{}{}
	if f.Content != "" {
		addWords(s.words, f.Content)
	} else {
		addWords(s.words, strings.Join(dir, " ")+" "+strings.TrimSuffix(s.name, pathExt(s.name)))
		for _, sym := range slices.Concat(f.DefinedSymbols, f.ImportedSymbols) {
			addWords(s.words, sym)
		}
	}
	return s, nil
}

func checkFocus(f Focus) error {
	switch {
	case strings.TrimSpace(f.Path) == "":
		return errs.New(errs.Invalid, "focus.path is required: the path of the file under review, e.g. \"backends/matrix/gate.go\"")
	case len(f.Path) > MaxPathBytes:
		return errs.New(errs.TooLarge, "focus.path is %d bytes; the limit is %d", len(f.Path), MaxPathBytes)
	case len(f.Content) > MaxContentBytes:
		return errs.New(errs.TooLarge, "focus.content is %d bytes; the limit is %d: send the part under review, or leave content out and give defined_symbols and imported_symbols", len(f.Content), MaxContentBytes)
	}
	for _, l := range []struct {
		name string
		syms []string
	}{{"defined_symbols", f.DefinedSymbols}, {"imported_symbols", f.ImportedSymbols}} {
		if len(l.syms) > MaxSymbols {
			return errs.New(errs.TooLarge, "focus.%s has %d symbols; the limit is %d: keep the ones the review is about", l.name, len(l.syms), MaxSymbols)
		}
		for i, sym := range l.syms {
			if len(sym) > MaxSymbolBytes {
				return errs.New(errs.TooLarge, "focus.%s[%d] is %d bytes; the limit is %d", l.name, i, len(sym), MaxSymbolBytes)
			}
		}
	}
	return nil
}

// symbolSet holds symbols to look for in text. A plain identifier is looked
// up among a chunk's identifiers, so that a focus defining thousands of
// names costs no more per chunk than the chunk's own words; anything else
// (a qualified name, an import path) is searched for.
type symbolSet struct {
	names []string       // trimmed, long enough to match, without repeats, in the order given
	ident map[string]int // the plain identifiers among names, to their index
	other []int          // the indexes of the rest
}

func newSymbolSet(given []string) symbolSet {
	s := symbolSet{names: []string{}, ident: map[string]int{}}
	seen := map[string]bool{}
	for _, n := range given {
		n = strings.TrimSpace(n)
		if utf8.RuneCountInString(n) < minSymbolLen || seen[n] {
			continue
		}
		seen[n] = true
		if strings.IndexFunc(n, func(r rune) bool { return !isIdentRune(r) }) < 0 {
			s.ident[n] = len(s.names)
		} else {
			s.other = append(s.other, len(s.names))
		}
		s.names = append(s.names, n)
	}
	return s
}

// in returns the symbols that text, whose identifiers are idents, mentions,
// in the order given.
func (s symbolSet) in(text string, idents map[string]struct{}) []string {
	var found []int
	if len(idents) < len(s.ident) {
		for id := range idents {
			if i, ok := s.ident[id]; ok {
				found = append(found, i)
			}
		}
	} else {
		for name, i := range s.ident {
			if _, ok := idents[name]; ok {
				found = append(found, i)
			}
		}
	}
	for _, i := range s.other {
		if mentions(text, s.names[i], identClass) {
			found = append(found, i)
		}
	}
	slices.Sort(found)
	names := make([]string, len(found))
	for j, i := range found {
		names[j] = s.names[i]
	}
	return names
}

// Symbols returns the focus's symbols the Scorer matches against: the ones
// given, or else those extracted from its content, less those too short to
// match.
func (s *Scorer) Symbols() Symbols { return s.symbols }

// Score returns c's relevance to the focus and the reasons it adds up from,
// in the order of the table at the top of this file. It applies no bounds:
// Rank checks them for chunks from a caller.
func (s *Scorer) Score(c Chunk) (float64, []Reason) {
	reasons := []Reason{}
	add := func(signal string, weight float64, detail string, args ...any) {
		reasons = append(reasons, Reason{Signal: signal, Detail: fmt.Sprintf(detail, args...), Weight: round4(weight)})
	}
	refs := []struct{ field, value string }{{"source", c.Source}, {"doc_id", c.DocID}}
	named := false
	for _, r := range refs {
		if s.namesPath(r.value) {
			add(SignalNamesPath, weightNamesPath, "%s %s names the focus path", r.field, r.value)
			named = true
			break
		}
	}
	if mentions(c.Text, s.name, nameClass) {
		add(SignalMentionsFile, weightMentionsFile, "mentions %s", s.name)
	}
	idents := identifiers(c.Text)
	defined := s.defined.in(c.Text, idents)
	if len(defined) > 0 {
		add(SignalDefinesSymbol, weightDefinesSymbol, "mentions %s", listSome(defined))
	}
	if j, shared := jaccard(s.words, c.Text); j > 0 {
		add(SignalTokenOverlap, weightTokenOverlap*j, "shares %d word(s) with the focus (jaccard %.3f): %s", len(shared), j, listSome(shared))
	}
	if !named {
		for _, r := range refs {
			if s.inArea(r.value) {
				add(SignalSameArea, weightSameArea, "%s %s is under %s, like the focus", r.field, r.value, strings.Join(s.area, "/"))
				break
			}
		}
	}
	if len(defined) == 0 {
		if imported := s.imported.in(c.Text, idents); len(imported) > 0 {
			add(SignalImportsOnly, weightImportsOnly, "mentions only what the focus imports (%s), nothing it defines", listSome(imported))
		}
	}
	var sum float64
	for _, r := range reasons {
		sum += r.Weight
	}
	return round4(sum), reasons
}

// Rank scores chunks and returns those whose relevance is at least
// threshold, best first; equal ones keep their order. Its errors are
// caller's mistakes (too many or too big chunks, a threshold out of range)
// or ctx's.
func (s *Scorer) Rank(ctx context.Context, chunks []Chunk, threshold float64) ([]Scored, error) {
	if err := checkChunks(chunks, threshold); err != nil {
		return nil, err
	}
	kept := []Scored{}
	for i, c := range chunks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rel, reasons := s.Score(c)
		if rel < threshold {
			continue
		}
		kept = append(kept, Scored{Index: i, Source: c.Source, DocID: c.DocID, Score: c.Score, Relevance: rel, Reasons: reasons})
	}
	slices.SortStableFunc(kept, func(a, b Scored) int { return cmp.Compare(b.Relevance, a.Relevance) })
	return kept, nil
}

func checkChunks(chunks []Chunk, threshold float64) error {
	switch {
	case math.IsNaN(threshold) || threshold < MinRelevance || threshold > MaxRelevance:
		return errs.New(errs.Invalid, "threshold = %v: must be between %v and %v, the lowest and highest relevance a chunk can score (default %v)", threshold, MinRelevance, MaxRelevance, DefaultThreshold)
	case len(chunks) == 0:
		return errs.New(errs.Invalid, "chunks is empty: give the retrieved chunks to score, each with source, doc_id and text")
	case len(chunks) > MaxChunks:
		return errs.New(errs.TooLarge, "%d chunks; the limit is %d: score them in several calls", len(chunks), MaxChunks)
	}
	total := 0
	for i, c := range chunks {
		switch {
		case len(c.Text) > MaxChunkTextBytes:
			return errs.New(errs.TooLarge, "chunks[%d].text is %d bytes; the limit is %d: split it into smaller chunks", i, len(c.Text), MaxChunkTextBytes)
		case len(c.Source) > MaxPathBytes || len(c.DocID) > MaxPathBytes:
			return errs.New(errs.TooLarge, "chunks[%d]: source and doc_id are limited to %d bytes each", i, MaxPathBytes)
		}
		total += len(c.Text)
	}
	if total > MaxTotalTextBytes {
		return errs.New(errs.TooLarge, "the chunks hold %d bytes of text together; the limit is %d: score them in several calls", total, MaxTotalTextBytes)
	}
	return nil
}

// namesPath reports whether ref names the focus path (see the notes at the
// top of this file).
func (s *Scorer) namesPath(ref string) bool {
	segs := pathSegments(ref)
	n := min(len(segs), len(s.segs))
	if n == 0 || n < min(2, len(s.segs)) {
		return false
	}
	return slices.Equal(segs[len(segs)-n:], s.segs[len(s.segs)-n:])
}

// inArea reports whether ref's folders begin with the focus's area.
func (s *Scorer) inArea(ref string) bool {
	segs := pathSegments(ref)
	if len(s.area) == 0 || len(segs) <= len(s.area) {
		return false
	}
	return slices.Equal(segs[:len(s.area)], s.area)
}

// lineSuffix is a line reference at the end of a path: :12, :12:5, :12-40, :L12-L40.
var lineSuffix = regexp.MustCompile(`(?::L?\d+(?:-L?\d+)?){1,2}$`)

// pathSegments splits a path, or a reference to one, into its segments,
// without a file:// scheme, #fragment, line suffix, "." or empty segments.
func pathSegments(p string) []string {
	p = strings.TrimPrefix(strings.ReplaceAll(p, `\`, "/"), "file://")
	if i := strings.IndexByte(p, '#'); i >= 0 {
		p = p[:i]
	}
	p = lineSuffix.ReplaceAllString(p, "")
	var segs []string
	for _, s := range strings.Split(p, "/") {
		if s != "" && s != "." {
			segs = append(segs, s)
		}
	}
	return segs
}

// pathExt is the extension of a file name, dot included: ".go", or "".
func pathExt(name string) string {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		return name[i:]
	}
	return ""
}

// A wordClass says which characters continue a word, for whole-word matches.
type wordClass struct {
	in func(rune) bool
	// dotEnds: a '.' in the class still ends a match when no word
	// character follows it (a file name at the end of a sentence).
	dotEnds bool
}

var (
	identClass = wordClass{in: isIdentRune}
	nameClass  = wordClass{in: func(r rune) bool { return isIdentRune(r) || r == '-' || r == '.' }, dotEnds: true}
)

// isIdentRune reports whether r can be part of an identifier in any of the
// languages read here.
func isIdentRune(r rune) bool {
	return r == '_' || r == '$' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// mentions reports whether text holds word with no character of class c
// just before or after it. The test is moot on a side where word itself
// starts or ends with a character outside c ("./util", "@scope/pkg").
func mentions(text, word string, c wordClass) bool {
	if word == "" {
		return false
	}
	first, _ := utf8.DecodeRuneInString(word)
	last, _ := utf8.DecodeLastRuneInString(word)
	for from := 0; from < len(text); {
		i := strings.Index(text[from:], word)
		if i < 0 {
			return false
		}
		start, end := from+i, from+i+len(word)
		before, _ := utf8.DecodeLastRuneInString(text[:start])
		if (start == 0 || !c.in(first) || !c.in(before)) && (!c.in(last) || c.endsAt(text[end:])) {
			return true
		}
		from = start + 1
	}
	return false
}

// endsAt reports whether a word of class c ends where rest begins.
func (c wordClass) endsAt(rest string) bool {
	if rest == "" {
		return true
	}
	r, n := utf8.DecodeRuneInString(rest)
	if !c.in(r) {
		return true
	}
	if c.dotEnds && r == '.' {
		next, _ := utf8.DecodeRuneInString(rest[n:])
		return n == len(rest) || !c.in(next)
	}
	return false
}

// identifiers returns the set of maximal runs of identifier characters in text.
func identifiers(text string) map[string]struct{} {
	set := map[string]struct{}{}
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return !isIdentRune(r) }) {
		set[f] = struct{}{}
	}
	return set
}

// listSome lists up to three names, and how many more there are.
func listSome(names []string) string {
	const show = 3
	if len(names) <= show {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:show], ", "), len(names)-show)
}

// round4 rounds to four decimals, so weights and their sum read cleanly.
func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }
