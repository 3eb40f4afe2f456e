package matrix

import (
	"strings"
	"unicode/utf8"
)

// lexTS turns TypeScript or JavaScript into tokens, skipping comments;
// string, template and regular-expression literals become one token each
// (a template's ${...} expressions are read to find where it ends, then
// dropped).
func lexTS(src string) []tok {
	out, _ := lexTSFrom(src, 0, false)
	return out
}

// lexTSFrom lexes src from i. In a template expression (inExpr) it stops
// past the "}" that closes the expression and returns the index there.
func lexTSFrom(src string, i int, inExpr bool) ([]tok, int) {
	var out []tok
	depth := 0 // braces opened inside a template expression
	for {
		var nl bool
		if i, nl = skipSpace(src, i, false); i >= len(src) {
			return out, i
		}
		c := src[i]
		t := tok{nl: nl || len(out) == 0}
		switch r, n := utf8.DecodeRuneInString(src[i:]); {
		case c == '"' || c == '\'':
			t.kind = tString
			t.text, i = scanQuoted(src, i, c, true)
		case c == '`':
			t.kind = tString
			i = skipTemplate(src, i)
		case c == '/' && regexMayStart(out):
			end := skipRegex(src, i)
			if end < 0 { // not a regular expression after all
				t.kind, t.text = tPunct, "/"
				i++
			} else {
				t.kind, i = tString, end
			}
		case isIdentStart(r) || c >= '0' && c <= '9':
			i = t.word(src, i, r)
		case strings.HasPrefix(src[i:], "=>"):
			t.kind, t.text = tPunct, "=>"
			i += 2
		default:
			t.kind, t.text = tPunct, src[i:i+n]
			i += n
			switch {
			case !inExpr:
			case c == '{':
				depth++
			case c == '}' && depth == 0:
				return out, i
			case c == '}':
				depth--
			}
		}
		out = append(out, t)
	}
}

// skipTemplate returns the index past the template literal whose backquote
// is at src[i].
func skipTemplate(src string, i int) int {
	for j := i + 1; j < len(src); j++ {
		switch {
		case src[j] == '\\':
			j++
		case src[j] == '`':
			return j + 1
		case strings.HasPrefix(src[j:], "${"):
			_, end := lexTSFrom(src, j+2, true)
			j = end - 1
		}
	}
	return len(src)
}

// regexBefore are the keywords after which a "/" starts a regular
// expression, not a division.
var regexBefore = wordSet("return typeof instanceof in of new delete void throw case do else yield await")

// regexMayStart reports whether a "/" after the tokens so far starts a
// regular expression: it does after an operator, an opening bracket, a
// keyword such as return, or at the start; after a name, a number, a
// literal or a closing bracket it divides.
func regexMayStart(before []tok) bool {
	if len(before) == 0 {
		return true
	}
	switch p := before[len(before)-1]; p.kind {
	case tIdent:
		return regexBefore[p.text]
	case tPunct:
		return p.text != ")" && p.text != "]" && p.text != "}"
	}
	return false
}

// skipRegex returns the index past the regular expression (and its flags)
// whose "/" is at src[i], or -1 when the line ends first.
func skipRegex(src string, i int) int {
	inClass := false
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case '[':
			inClass = true
		case ']':
			inClass = false
		case '\n':
			return -1
		case '/':
			if !inClass {
				return scanIdent(src, j+1)
			}
		}
	}
	return -1
}

// Kinds of TypeScript block.
const (
	tsContainer = iota // the file, a namespace or module: items inside count
	tsClass            // a class body: its methods count
	tsOpaque           // anything else
)

type tsBlock struct {
	kind   int
	parens int // open ( and [ when the block opened
}

// tsModifiers may come before a class member's name.
var tsModifiers = wordSet("static async get set public private protected readonly override abstract declare accessor")

// tsStatementWords start a new declaration; one at the start of a line ends
// a declaration before it whose semicolon was left out.
var tsStatementWords = wordSet("const let var function class export import interface type enum declare namespace module abstract async")

// tsSymbols reads the declarations of TypeScript or JavaScript source.
// Items are recorded at the top level and in namespaces; methods in the
// bodies of classes recorded there. A statement starts after ";", "{" or
// "}", or on a new line, outside any parentheses.
func tsSymbols(src string) extraction {
	var e extraction
	ts := &tokens{list: lexTS(src)}
	blocks := []tsBlock{{kind: tsContainer}}
	others := 0 // blocks that are not containers
	parens := 0
	stmtStart := true
	header := "" // the keyword whose block the next "{" opens
	// level is where the current token is: items (all blocks containers),
	// members (a class body inside those), or neither.
	level := func() int {
		top := blocks[len(blocks)-1].kind
		below := others // blocks under the top one that are not containers
		if top != tsContainer {
			below--
		}
		if below > 0 {
			return tsOpaque
		}
		return top
	}
	for !ts.done() {
		t := ts.next()
		top := blocks[len(blocks)-1]
		atStart := (stmtStart || t.nl) && parens == top.parens
		stmtStart = false
		switch {
		case t.is(tPunct, "(") || t.is(tPunct, "["):
			parens++
			continue
		case t.is(tPunct, ")") || t.is(tPunct, "]"):
			parens = max(parens-1, top.parens)
			continue
		case t.is(tPunct, "{"):
			kind := tsOpaque
			if level() == tsContainer && parens == top.parens {
				switch header {
				case "class":
					kind = tsClass
				case "namespace", "module", "global":
					kind = tsContainer
				}
			}
			blocks = append(blocks, tsBlock{kind: kind, parens: parens})
			if kind != tsContainer {
				others++
			}
			stmtStart, header = true, ""
			continue
		case t.is(tPunct, "}"):
			if len(blocks) > 1 {
				if top.kind != tsContainer {
					others--
				}
				parens = top.parens
				blocks = blocks[:len(blocks)-1]
			}
			stmtStart, header = true, ""
			continue
		case t.is(tPunct, ";"):
			stmtStart, header = true, ""
			continue
		case t.is(tPunct, "@") && atStart: // a decorator: @name, @a.b, @name(args)
			for ts.next(); ts.peek(0).is(tPunct, "."); ts.i += 2 {
			}
			if ts.peek(0).is(tPunct, "(") {
				ts.skipGroup("(", ")")
			}
			stmtStart = true
			continue
		case t.is(tPunct, "*") && atStart: // a generator method
			stmtStart = true
			continue
		}
		if !atStart || t.kind != tIdent {
			continue
		}
		switch level() {
		case tsContainer:
			stmtStart = tsItem(ts, t, &e, &header)
		case tsClass:
			switch next := ts.peek(0); {
			case tsModifiers[t.text] && (next.kind == tIdent || next.is(tPunct, "*") || next.is(tPunct, "#") || next.is(tPunct, "[")):
				stmtStart = true
			case next.is(tPunct, "(") || next.is(tPunct, "<"):
				e.defined.add(tsName(t))
			}
		}
	}
	return e
}

// tsItem reads the item that starts with t at the top level or in a
// namespace, and reports whether the statement start carries on past t
// (t was a modifier such as export).
func tsItem(ts *tokens, t tok, e *extraction, header *string) bool {
	next := ts.peek(0)
	switch t.text {
	case "export":
		switch {
		case next.is(tPunct, "{") || next.is(tPunct, "*") || (next.is(tIdent, "type") && (ts.peek(1).is(tPunct, "{") || ts.peek(1).is(tPunct, "*"))):
			if next.kind == tIdent {
				ts.next()
			}
			names := tsClause(ts)
			if mod, ok := tsFrom(ts); ok { // a re-export
				e.imported.add(mod)
				e.imported.add(names...)
			}
			return false
		case next.is(tPunct, "=") || next.is(tIdent, "as"): // export = x; export as namespace X
			return false
		}
		return true
	case "default", "declare", "abstract":
		return true
	case "async":
		return next.is(tIdent, "function")
	case "function":
		if next.is(tPunct, "*") {
			ts.next()
		}
		e.defined.add(tsName(ts.peek(0)))
	case "class", "interface", "enum":
		*header = t.text
		e.defined.add(tsName(next))
	case "type":
		if next.kind == tIdent && (ts.peek(1).is(tPunct, "=") || ts.peek(1).is(tPunct, "<")) {
			e.defined.add(tsName(next))
		}
	case "namespace", "module":
		if next.kind == tIdent || next.kind == tString {
			*header = "namespace"
			if next.kind == tIdent {
				e.defined.add(tsName(next))
			}
		}
	case "global": // declare global { ... }
		if next.is(tPunct, "{") {
			*header = "global"
		}
	case "const", "let", "var":
		if next.is(tIdent, "enum") {
			return true
		}
		tsDeclarators(ts, e)
	case "import":
		tsImport(ts, e)
	}
	return false
}

// tsName is the name in t, or "" when t is not an identifier a symbol can
// be named (a keyword).
func tsName(t tok) string {
	if t.kind != tIdent || tsKeywords[t.text] {
		return ""
	}
	return t.text
}

// tsImport reads an import declaration after the keyword import:
// import "m"; import X, {a, b as c} from "m"; import * as ns from "m";
// import type {T} from "m"; import X = require("m"); import X = A.B.
func tsImport(ts *tokens, e *extraction) {
	if t := ts.peek(0); t.kind == tString {
		ts.next()
		e.imported.add(t.text)
		return
	}
	if ts.peek(0).is(tIdent, "type") && !ts.peek(1).is(tIdent, "from") && !ts.peek(1).is(tPunct, ",") {
		ts.next()
	}
	if t := ts.peek(0); t.kind == tIdent && ts.peek(1).is(tPunct, "=") { // TypeScript's import X = ...
		ts.i += 2
		e.imported.add(tsName(t))
		if mod, ok := tsRequire(ts); ok {
			e.imported.add(mod)
		}
		return
	}
	names := tsClause(ts)
	if mod, ok := tsFrom(ts); ok {
		e.imported.add(mod)
		e.imported.add(names...)
	}
}

// tsClause reads what an import or export binds, up to its from: a default
// name, "* as ns", and the names (original and alias) of a "{...}" list.
func tsClause(ts *tokens) []string {
	var names []string
	for !ts.done() {
		t := ts.peek(0)
		switch {
		case t.is(tIdent, "from") || t.is(tPunct, ";"):
			return names
		case t.is(tPunct, "{"):
			ts.next()
			for !ts.done() && !ts.peek(0).is(tPunct, "}") {
				if n := tsName(ts.next()); n != "" {
					names = append(names, n)
				}
			}
			ts.next()
		case t.kind == tIdent || t.is(tPunct, ",") || t.is(tPunct, "*"):
			ts.next()
			if n := tsName(t); n != "" {
				names = append(names, n)
			}
		default:
			return names
		}
	}
	return names
}

// tsFrom reads `from "m"` and returns m.
func tsFrom(ts *tokens) (string, bool) {
	if ts.peek(0).is(tIdent, "from") && ts.peek(1).kind == tString {
		ts.i += 2
		return ts.list[ts.i-1].text, true
	}
	return "", false
}

// tsRequire reads `require("m")` and returns m.
func tsRequire(ts *tokens) (string, bool) {
	if ts.peek(0).is(tIdent, "require") && ts.peek(1).is(tPunct, "(") && ts.peek(2).kind == tString {
		ts.i += 3
		return ts.list[ts.i-1].text, true
	}
	return "", false
}

// tsDeclarators reads the declarators after const, let or var: names or
// destructuring patterns, each with an optional type and initializer. A
// declarator initialised by require("m") is an import of m.
func tsDeclarators(ts *tokens, e *extraction) {
	for {
		var names []string
		switch t := ts.peek(0); {
		case t.kind == tIdent:
			ts.next()
			names = []string{tsName(t)}
		case t.is(tPunct, "{") || t.is(tPunct, "["):
			names = tsPattern(ts)
		default:
			return
		}
		module, required := "", false
		nest, angles := 0, 0
	declarator:
		for !ts.done() {
			t := ts.peek(0)
			// A comma inside a type's arguments (Map<K, V>) separates no declarators.
			ends := t.is(tPunct, ";") || t.is(tPunct, "}") || (t.nl && t.kind == tIdent && tsStatementWords[t.text]) || (angles == 0 && t.is(tPunct, ","))
			if nest == 0 && ends {
				break declarator
			}
			if m, ok := tsRequire(ts); ok {
				module, required = m, true
				continue
			}
			ts.next()
			switch {
			case t.is(tPunct, "(") || t.is(tPunct, "[") || t.is(tPunct, "{"):
				nest++
			case t.is(tPunct, ")") || t.is(tPunct, "]") || t.is(tPunct, "}"):
				nest = max(nest-1, 0)
			case t.is(tPunct, "<") && ts.i >= 2 && ts.list[ts.i-2].kind == tIdent: // a type's arguments
				angles++
			case t.is(tPunct, ">") && angles > 0:
				angles--
			}
		}
		if required {
			e.imported.add(module)
			e.imported.add(names...)
		} else {
			e.defined.add(names...)
		}
		if !ts.peek(0).is(tPunct, ",") {
			return
		}
		ts.next()
	}
}

// tsPattern reads a destructuring pattern ({a, b: c, d = 1, ...rest} or
// [x, , y]) and returns the names it binds.
func tsPattern(ts *tokens) []string {
	var names []string
	depth := 0
	for !ts.done() {
		t := ts.next()
		switch {
		case t.is(tPunct, "{") || t.is(tPunct, "["):
			depth++
		case t.is(tPunct, "}") || t.is(tPunct, "]"):
			depth--
		case t.kind == tIdent:
			prev, next := ts.list[ts.i-2], ts.peek(0)
			bindsAfter := prev.kind == tPunct && strings.Contains("{[,:.", prev.text)
			bindsBefore := next.kind == tPunct && strings.Contains(",}]=", next.text)
			if bindsAfter && bindsBefore {
				names = append(names, tsName(t))
			}
		}
		if depth == 0 {
			return names
		}
	}
	return names
}
