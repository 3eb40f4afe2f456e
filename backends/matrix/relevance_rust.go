package matrix

import (
	"strings"
	"unicode/utf8"
)

// lexRust turns Rust source into tokens, skipping comments (block comments
// nest), lifetimes and the insides of char literals; string literals of
// every form (b"", c"", r"", r#""#, br#""#) become one token each, and a
// raw identifier r#type is the identifier type.
func lexRust(src string) []tok {
	var out []tok
	for i := 0; ; {
		var nl bool
		if i, nl = skipSpace(src, i, true); i >= len(src) {
			return out
		}
		c := src[i]
		t := tok{nl: nl || len(out) == 0}
		raw := rawStringAt(src, i)
		switch r, n := utf8.DecodeRuneInString(src[i:]); {
		case raw >= 0:
			t.kind = tString
			t.text, i = scanRawString(src, raw)
		case (c == 'b' || c == 'c') && i+1 < len(src) && src[i+1] == '"':
			t.kind = tString
			t.text, i = scanQuoted(src, i+1, '"', false)
		case c == 'b' && i+1 < len(src) && src[i+1] == '\'':
			t.kind = tString
			_, i = scanQuoted(src, i+1, '\'', true)
		case c == 'r' && strings.HasPrefix(src[i:], "r#") && i+2 < len(src) && isIdentStartAt(src, i+2):
			t.kind = tIdent
			end := scanIdent(src, i+2)
			t.text, i = src[i+2:end], end
		case c == '"':
			t.kind = tString
			t.text, i = scanQuoted(src, i, '"', false)
		case c == '\'':
			i = skipCharOrLifetime(src, i)
			continue
		case isIdentStart(r) || c >= '0' && c <= '9':
			i = t.word(src, i, r)
		case strings.HasPrefix(src[i:], "::"):
			t.kind, t.text = tPunct, "::"
			i += 2
		default:
			t.kind, t.text = tPunct, src[i:i+n]
			i += n
		}
		out = append(out, t)
	}
}

func isIdentStartAt(src string, i int) bool {
	r, _ := utf8.DecodeRuneInString(src[i:])
	return isIdentStart(r)
}

// rawStringAt returns the index of the r of a raw string literal starting at
// src[i] (r"", r#""#, br"", cr#""#), or -1.
func rawStringAt(src string, i int) int {
	j := i
	if src[j] == 'b' || src[j] == 'c' {
		j++
	}
	if j >= len(src) || src[j] != 'r' {
		return -1
	}
	k := j + 1
	for k < len(src) && src[k] == '#' {
		k++
	}
	if k < len(src) && src[k] == '"' {
		return j
	}
	return -1
}

// scanRawString returns the contents of the raw string whose r is at
// src[i], and the index past its end: the quote and as many #s as opened it.
func scanRawString(src string, i int) (string, int) {
	j := i + 1
	for src[j] == '#' {
		j++
	}
	closing := `"` + strings.Repeat("#", j-i-1)
	start := j + 1
	if k := strings.Index(src[start:], closing); k >= 0 {
		return src[start : start+k], start + k + len(closing)
	}
	return src[start:], len(src)
}

// skipCharOrLifetime returns the index past the char literal ('a', '\n',
// '\u{1F600}') or the lifetime ('a, 'static) whose quote is at src[i].
func skipCharOrLifetime(src string, i int) int {
	if i+1 >= len(src) {
		return len(src)
	}
	if src[i+1] == '\\' {
		_, end := scanQuoted(src, i, '\'', true)
		return end
	}
	_, n := utf8.DecodeRuneInString(src[i+1:])
	if i+1+n < len(src) && src[i+1+n] == '\'' {
		return i + 2 + n
	}
	return scanIdent(src, i+1)
}

// rustSymbols reads the items of Rust source. Items are recorded at the top
// level and directly inside the blocks of mod, impl, trait and extern;
// every other block (a function body, a struct's fields, a macro) is opaque.
func rustSymbols(src string) extraction {
	var e extraction
	ts := &tokens{list: lexRust(src)}
	var blocks []bool // per open brace: whether items inside it are recorded
	opaque := 0       // open braces whose items are not
	recording := func() bool { return opaque == 0 }
	itemStart := true // no token of the current item read yet, other than modifiers
	header := ""      // the keyword of the current item, which decides what its block is
	for !ts.done() {
		t := ts.next()
		switch {
		case t.is(tPunct, "{"):
			container := recording() && (header == "mod" || header == "impl" || header == "trait" || header == "extern")
			blocks = append(blocks, container)
			if !container {
				opaque++
			}
			itemStart, header = true, ""
			continue
		case t.is(tPunct, "}"):
			if n := len(blocks); n > 0 {
				if !blocks[n-1] {
					opaque--
				}
				blocks = blocks[:n-1]
			}
			itemStart, header = true, ""
			continue
		case t.is(tPunct, ";"):
			itemStart, header = true, ""
			continue
		case t.is(tPunct, "#") && (ts.peek(0).is(tPunct, "[") || ts.peek(0).is(tPunct, "!")):
			if ts.peek(0).is(tPunct, "!") {
				ts.next()
			}
			ts.skipGroup("[", "]") // an attribute leaves the item start where it was
			continue
		}
		if !itemStart || !recording() || t.kind != tIdent {
			itemStart = false
			continue
		}
		switch t.text {
		case "pub":
			if ts.peek(0).is(tPunct, "(") { // pub(crate), pub(in path)
				ts.skipGroup("(", ")")
			}
			continue
		case "unsafe", "async", "default", "auto":
			continue
		case "extern":
			switch next := ts.peek(0); {
			case next.kind == tString: // extern "C" fn, or an extern "C" block
				ts.next()
				header = "extern"
				continue
			case next.is(tIdent, "crate"): // extern crate name [as alias];
				ts.next()
				e.imported.add(rustName(ts.next()))
				if ts.peek(0).is(tIdent, "as") {
					ts.next()
					e.imported.add(rustName(ts.next()))
				}
			default:
				header = "extern"
				continue
			}
		case "const":
			if next := ts.peek(0); next.kind == tIdent && (next.text == "fn" || next.text == "unsafe" || next.text == "async" || next.text == "extern") {
				continue // const fn
			}
			e.defined.add(rustName(ts.next()))
		case "static":
			if ts.peek(0).is(tIdent, "mut") {
				ts.next()
			}
			e.defined.add(rustName(ts.next()))
		case "fn", "struct", "enum", "trait", "type", "mod":
			header = t.text
			e.defined.add(rustName(ts.next()))
		case "union":
			if ts.peek(0).kind == tIdent { // union is a keyword only before a name
				header = t.text
				e.defined.add(rustName(ts.next()))
			}
		case "impl":
			header = t.text
		case "macro_rules":
			if ts.peek(0).is(tPunct, "!") {
				ts.next()
				e.defined.add(rustName(ts.next()))
			}
		case "use":
			rustUse(ts, &e.imported) // reads through the ";" that ends it
			header = ""
			continue
		}
		itemStart = false
	}
	return e
}

// rustName is the name in t, or "" when t is not an identifier that a
// symbol can be named (a keyword, or _).
func rustName(t tok) string {
	if t.kind != tIdent || t.text == "_" || rustKeywords[t.text] {
		return ""
	}
	return t.text
}

// rustUse reads the use tree after the keyword use, up to its ";", adding
// the crate it starts from (unless crate, self or super), each name it
// brings in and each alias: use serde::{Deserialize, ser::Error as SerError}
// adds serde, Deserialize, Error and SerError.
func rustUse(ts *tokens, imported *nameList) {
	if ts.peek(0).is(tPunct, "::") {
		ts.next()
	}
	if root := ts.peek(0); root.kind == tIdent && root.text != "crate" && root.text != "self" && root.text != "super" && (ts.peek(1).is(tPunct, "::") || ts.peek(1).is(tPunct, ";")) {
		imported.add(root.text)
	}
	rustUseTree(ts, imported, "")
	for !ts.done() && !ts.next().is(tPunct, ";") {
	}
}

// rustUseTree reads one tree: a path, then "::*", "::{tree, ...}", or an
// optional "as alias". parent is the module a nested tree is in, which a
// self in it names.
func rustUseTree(ts *tokens, imported *nameList, parent string) {
	last := parent
	for {
		t := ts.peek(0)
		switch {
		case t.kind == tIdent && t.text != "as":
			ts.next()
			if t.text != "self" {
				last = t.text
			}
			if ts.peek(0).is(tPunct, "::") {
				ts.next()
				continue
			}
			if last != "crate" && last != "super" {
				imported.add(last)
			}
			if ts.peek(0).is(tIdent, "as") {
				ts.next()
				imported.add(rustName(ts.next()))
			}
			return
		case t.is(tPunct, "*"):
			ts.next()
			return
		case t.is(tPunct, "{"):
			ts.next()
			for !ts.done() && !ts.peek(0).is(tPunct, "}") && !ts.peek(0).is(tPunct, ";") {
				at := ts.i
				rustUseTree(ts, imported, last)
				if ts.peek(0).is(tPunct, ",") || ts.i == at { // a separator, or a token no tree starts with
					ts.next()
				}
			}
			if ts.peek(0).is(tPunct, "}") {
				ts.next()
			}
			return
		default:
			return
		}
	}
}
