package matrix

import (
	"strings"
	"unicode/utf8"
)

// pyLine is one logical line of Python: its tokens and the column its first
// token starts at (a tab advances to the next multiple of 8, as Python reads it).
type pyLine struct {
	indent int
	toks   []tok
}

// pyOperators are Python's operators of more than one character, longest first.
var pyOperators = []string{"**=", "//=", ">>=", "<<=", "->", ":=", "==", "!=", "<=", ">=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@=", "**", "//", "<<", ">>"}

// lexPython splits Python source into logical lines, joining lines inside
// brackets and after a backslash, and dropping comments and blank lines.
// String literals (any prefix, triple-quoted or not) become one token each.
func lexPython(src string) []pyLine {
	var lines []pyLine
	var cur []tok
	indent, depth, lineStart := 0, 0, true
	flush := func() {
		if len(cur) > 0 {
			lines = append(lines, pyLine{indent: indent, toks: cur})
		}
		cur = nil
	}
	for i := 0; i < len(src); {
		if lineStart {
			col := 0
			for ; i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\f'); i++ {
				if src[i] == '\t' {
					col = col/8*8 + 8
				} else {
					col++
				}
			}
			indent, lineStart = col, false
			continue
		}
		c := src[i]
		q := pyStringAt(src, i)
		switch r, n := utf8.DecodeRuneInString(src[i:]); {
		case c == '\n':
			i++
			if depth == 0 {
				flush()
				lineStart = true
			}
		case c == '\\' && strings.HasPrefix(src[i+1:], "\n"):
			i += 2
		case c == '\\' && strings.HasPrefix(src[i+1:], "\r\n"):
			i += 3
		case c == ' ' || c == '\t' || c == '\r' || c == '\f':
			i++
		case c == '#':
			i = lineEnd(src, i)
		case q >= 0:
			cur = append(cur, tok{kind: tString})
			i = pyScanString(src, q)
		case isIdentStart(r):
			end := scanIdent(src, i)
			cur = append(cur, tok{kind: tIdent, text: src[i:end]})
			i = end
		case c >= '0' && c <= '9':
			end := scanIdent(src, i)
			cur = append(cur, tok{kind: tNumber, text: src[i:end]})
			i = end
		default:
			op := src[i : i+n]
			for _, o := range pyOperators {
				if strings.HasPrefix(src[i:], o) {
					op = o
					break
				}
			}
			switch op {
			case "(", "[", "{":
				depth++
			case ")", "]", "}":
				depth = max(depth-1, 0)
			}
			cur = append(cur, tok{kind: tPunct, text: op})
			i += len(op)
		}
	}
	flush()
	return lines
}

// pyStringAt returns the index of the opening quote of a string literal
// that starts at src[i], after a prefix of up to two letters (r, b, f, u, t
// in either case: rb"", F”), or -1.
func pyStringAt(src string, i int) int {
	for j := i; j < len(src) && j <= i+2; j++ {
		switch src[j] {
		case '"', '\'':
			return j
		case 'r', 'R', 'b', 'B', 'f', 'F', 'u', 'U', 't', 'T':
			continue
		}
		return -1
	}
	return -1
}

// pyScanString returns the index past the string literal whose opening
// quote is at src[q]. A single-quoted string ends at the end of its line if
// not closed before.
func pyScanString(src string, q int) int {
	triple := src[q : q+1]
	triple += triple + triple
	if !strings.HasPrefix(src[q:], triple) {
		_, end := scanQuoted(src, q, src[q], true)
		return end
	}
	for j := q + 3; j < len(src); j++ {
		if src[j] == '\\' {
			j++
		} else if strings.HasPrefix(src[j:], triple) {
			return j + 3
		}
	}
	return len(src)
}

// pythonSymbols reads the definitions of Python source: at indentation
// zero, functions, classes, type aliases and assigned names; directly in the
// body of a top-level class, its methods. Imports count at any depth (a
// lazy import inside a function is still an import). Dunder names
// (__init__, __all__) are not symbols: no one mentions them to mean this file.
func pythonSymbols(src string) extraction {
	var e extraction
	type block struct {
		indent int
		class  bool
	}
	var open []block // the compound statements whose bodies the line is in
	for _, l := range lexPython(src) {
		for len(open) > 0 && open[len(open)-1].indent >= l.indent {
			open = open[:len(open)-1]
		}
		ts := &tokens{list: l.toks}
		first := ts.peek(0)
		switch {
		case first.is(tIdent, "import") || first.is(tIdent, "from"):
			pyImport(ts, &e.imported)
		case len(open) == 0:
			pyTopLevel(ts, &e.defined)
		case len(open) == 1 && open[0].class:
			if first.is(tIdent, "async") {
				ts.next()
			}
			if ts.next().is(tIdent, "def") {
				e.defined.add(pyName(ts.next()))
			}
		}
		if l.toks[len(l.toks)-1].is(tPunct, ":") { // a compound statement's header
			open = append(open, block{indent: l.indent, class: first.is(tIdent, "class")})
		}
	}
	return e
}

// pyName is the name in t, or "" when t is not an identifier a symbol can
// be named (a keyword, a dunder).
func pyName(t tok) string {
	if t.kind != tIdent || pythonKeywords[t.text] || (len(t.text) > 4 && strings.HasPrefix(t.text, "__") && strings.HasSuffix(t.text, "__")) {
		return ""
	}
	return t.text
}

// pyTopLevel reads a statement at indentation zero: def, async def, class,
// type X = ..., or an assignment (a = b = 1, x: int = 0, a, b = pair).
func pyTopLevel(ts *tokens, defined *nameList) {
	first := ts.peek(0)
	switch {
	case first.is(tIdent, "async") && ts.peek(1).is(tIdent, "def"):
		defined.add(pyName(ts.peek(2)))
		return
	case first.is(tIdent, "def") || first.is(tIdent, "class"):
		defined.add(pyName(ts.peek(1)))
		return
	case first.is(tIdent, "type") && ts.peek(1).kind == tIdent && (ts.peek(2).is(tPunct, "=") || ts.peek(2).is(tPunct, "[")):
		defined.add(pyName(ts.peek(1)))
		return
	}
	// The targets are what comes before each "=" outside brackets.
	var targets [][]tok
	start, depth := 0, 0
	for i, t := range ts.list {
		switch {
		case t.kind != tPunct:
		case strings.Contains("([{", t.text):
			depth++
		case strings.Contains(")]}", t.text):
			depth--
		case t.text == "=" && depth == 0:
			targets = append(targets, ts.list[start:i])
			start = i + 1
		}
	}
	annotated := func(target []tok) bool {
		return len(target) >= 2 && target[0].kind == tIdent && target[1].is(tPunct, ":")
	}
	if len(targets) == 0 { // no assignment; a bare annotation (x: int) still declares
		if annotated(ts.list) {
			defined.add(pyName(ts.list[0]))
		}
		return
	}
	for _, target := range targets {
		if annotated(target) {
			defined.add(pyName(target[0]))
		} else {
			defined.add(pyTargets(target)...)
		}
	}
}

// pyTargets returns the names an assignment target binds: a name, or names
// separated by commas, optionally in brackets or starred; nil for anything
// else (an attribute, a subscript).
func pyTargets(target []tok) []string {
	var names []string
	for _, t := range target {
		switch {
		case t.kind == tIdent:
			names = append(names, pyName(t))
		case t.kind == tPunct && strings.Contains("()[],*", t.text):
		default:
			return nil
		}
	}
	for i := 1; i < len(target); i++ { // two names in a row, or a name then a bracket, is not a target list
		if target[i-1].kind == tIdent && (target[i].kind == tIdent || strings.Contains("([", target[i].text)) {
			return nil
		}
	}
	return names
}

// pyImport reads `import a.b as c, d` or `from .m import (x, y as z)`,
// adding the modules (without leading dots), the names and the aliases.
func pyImport(ts *tokens, imported *nameList) {
	if ts.next().text == "from" {
		for ts.peek(0).is(tPunct, ".") {
			ts.next()
		}
		imported.add(pyDotted(ts))
		if !ts.next().is(tIdent, "import") {
			return
		}
	}
	for !ts.done() {
		switch t := ts.peek(0); {
		case t.kind == tIdent && t.text != "import" && t.text != "as":
			imported.add(pyDotted(ts))
		case t.is(tIdent, "as"):
			ts.next()
			imported.add(pyName(ts.next()))
		default: // "(", ")", ",", "*", or a stray import
			ts.next()
		}
	}
}

// pyDotted reads a dotted name (os.path) at the cursor.
func pyDotted(ts *tokens) string {
	var parts []string
	for ts.peek(0).kind == tIdent && ts.peek(0).text != "import" && ts.peek(0).text != "as" {
		parts = append(parts, ts.next().text)
		if !ts.peek(0).is(tPunct, ".") {
			break
		}
		ts.next()
	}
	return strings.Join(parts, ".")
}
