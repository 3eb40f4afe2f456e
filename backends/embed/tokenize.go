package embed

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokenize appends the words of text to dst and returns the extended slice.
//
// A word is a run of letters, digits and combining marks, lower-cased. An
// apostrophe (' or ’) between two such characters stays inside the word
// ("o'neill", "it's"); anywhere else it separates words, like every other
// character. A word ending in "n't" becomes two words, its stem and "not",
// as GloVe's tokenizer split it: "don't" → "do", "not". The stems GloVe
// would spell oddly are mapped to the verb they stand for: "can't" → "can",
// "won't" → "will", "shan't" → "shall", "ain't" → "is" (each followed by
// "not"), rather than GloVe's "ca", "wo", "sha" and "ai".
func tokenize(dst []string, text string) []string {
	var buf []byte
	emit := func() {
		if len(buf) > 0 {
			dst = appendWord(dst, string(buf))
			buf = buf[:0]
		}
	}
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		i += n
		switch {
		case r < utf8.RuneSelf && ('a' <= r && r <= 'z' || '0' <= r && r <= '9'):
			buf = append(buf, byte(r))
		case r < utf8.RuneSelf && 'A' <= r && r <= 'Z':
			buf = append(buf, byte(r-'A'+'a'))
		case r == '\'' || r == '’':
			if len(buf) > 0 && i < len(text) {
				if next, _ := utf8.DecodeRuneInString(text[i:]); wordRune(next) {
					buf = append(buf, '\'')
					continue
				}
			}
			emit()
		case r >= utf8.RuneSelf && wordRune(r):
			buf = utf8.AppendRune(buf, unicode.ToLower(r))
		default:
			emit()
		}
	}
	emit()
	return dst
}

// Words appends the words of text to dst, as the offline embedders (hash
// and hybrid) split it, and returns the extended slice. The lexical index
// of package vector uses it, so that a word matches by the same rules
// whichever side of a hybrid search finds it.
func Words(dst []string, text string) []string { return tokenize(dst, text) }

// wordRune reports whether r can be part of a word.
func wordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// negStems maps the stems of the "n't" contractions whose stem is not a word
// of its own to the word it stands for.
var negStems = map[string]string{"ca": "can", "wo": "will", "sha": "shall", "ai": "is"}

// appendWord appends w to dst, split in two if it is an "n't" contraction.
func appendWord(dst []string, w string) []string {
	stem, ok := strings.CutSuffix(w, "n't")
	if !ok {
		return append(dst, w)
	}
	stem = strings.TrimRight(stem, "'") // "o'n't"
	if s, ok := negStems[stem]; ok {
		stem = s
	}
	if stem != "" {
		dst = append(dst, stem)
	}
	return append(dst, "not")
}
