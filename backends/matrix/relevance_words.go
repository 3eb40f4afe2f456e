package matrix

import (
	"slices"
	"strings"
	"unicode"
)

// addWords adds the words of s to set: runs of letters and digits, split at
// camelCase humps ("parseHTTPConfig" is parse, http, config), lower-cased,
// without single letters, numbers and stopwords.
func addWords(set map[string]struct{}, s string) {
	runs := strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for _, run := range runs {
		for _, w := range camelSplit([]rune(run)) {
			w = strings.ToLower(w)
			if len([]rune(w)) < 2 || isNumber(w) || stopwords[w] {
				continue
			}
			set[w] = struct{}{}
		}
	}
}

// camelSplit splits an identifier before an upper-case letter that follows a
// lower-case letter or digit, and before the last of a run of capitals that
// a lower-case letter follows (HTTPServer is HTTP, Server).
func camelSplit(r []rune) []string {
	var out []string
	start := 0
	for i := 1; i < len(r); i++ {
		if !unicode.IsUpper(r[i]) {
			continue
		}
		prev := r[i-1]
		nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
		if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
			out = append(out, string(r[start:i]))
			start = i
		}
	}
	return append(out, string(r[start:]))
}

func isNumber(w string) bool {
	return strings.IndexFunc(w, func(r rune) bool { return !unicode.IsDigit(r) }) < 0
}

// jaccard returns the Jaccard overlap of focus and the words of text
// (|A∩B| / |A∪B|, 0 when both are empty), and the shared words in order.
func jaccard(focus map[string]struct{}, text string) (float64, []string) {
	words := map[string]struct{}{}
	addWords(words, text)
	var shared []string
	for w := range words {
		if _, ok := focus[w]; ok {
			shared = append(shared, w)
		}
	}
	union := len(focus) + len(words) - len(shared)
	if union == 0 {
		return 0, nil
	}
	slices.Sort(shared)
	return float64(len(shared)) / float64(union), shared
}

// Keywords of each language, as written. A name extracted from source is
// never one of its language's keywords; lower-cased, all of them are stopwords.
var (
	goKeywords = wordSet(`break case chan const continue default defer else fallthrough for func go goto if
		import interface map package range return select struct switch type var`)
	// goPredeclared are Go's predeclared names: types, constants, nil and
	// built-in functions. go/parser keeps them apart already; they are stopwords.
	goPredeclared = wordSet(`any bool byte comparable complex64 complex128 error float32 float64 int int8 int16
		int32 int64 rune string uint uint8 uint16 uint32 uint64 uintptr true false iota nil append cap clear
		close complex copy delete imag len make max min new panic print println real recover`)
	rustKeywords = wordSet(`as async await break const continue crate dyn else enum extern false fn for if impl
		in let loop match mod move mut pub ref return self Self static struct super trait true type unsafe use
		where while abstract become box do final macro override priv typeof unsized virtual yield try
		macro_rules bool char str i8 i16 i32 i64 i128 isize u8 u16 u32 u64 u128 usize f32 f64`)
	tsKeywords = wordSet(`break case catch class const continue debugger default delete do else enum export
		extends false finally for function if import in instanceof new null return super switch this throw
		true try typeof var void while with yield let static implements interface package private protected
		public as async await of get set from type declare namespace module abstract readonly keyof infer is
		never unknown any boolean number string symbol bigint object undefined satisfies override accessor
		constructor require`)
	pythonKeywords = wordSet(`False None True and as assert async await break class continue def del elif
		else except finally for from global if import in is lambda nonlocal not or pass raise return try while
		with yield match case type self cls print len str int float dict list tuple set bool object bytes`)
	englishStopwords = wordSet(`a about above after again against all also am an and any are as at be
		because been before being below between both but by can could did do does doing down during each
		either else ever every few for from further had has have having he her here hers herself him himself
		his how however i if in into is it its itself just may me might more most must my myself neither no
		nor not now of off on once one only or other otherwise our ours ourselves out over own per same shall
		she should since so some such than that the their theirs them themselves then there therefore these
		they this those though through thus to too under until up upon us very via was we were what whatever
		when whenever where whether which while who whom whose why will with within without would yet you
		your yours yourself yourselves`)
)

// stopwords are the words token_overlap ignores.
var stopwords = func() map[string]bool {
	all := map[string]bool{}
	for _, set := range []map[string]bool{goKeywords, goPredeclared, rustKeywords, tsKeywords, pythonKeywords, englishStopwords} {
		for w := range set {
			all[strings.ToLower(w)] = true
		}
	}
	return all
}()

func wordSet(s string) map[string]bool {
	set := map[string]bool{}
	for _, w := range strings.Fields(s) {
		set[w] = true
	}
	return set
}
