package matrix

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Languages ExtractSymbols reads.
const (
	LangGo         = "go"
	LangRust       = "rust"
	LangTypeScript = "typescript" // JavaScript too
	LangPython     = "python"
)

// Symbols are the names a source file defines and the names it imports.
type Symbols struct {
	Language string   `json:"language,omitempty"` // one of the Lang constants; "" when the extension is none of them
	Defined  []string `json:"defined"`            // in source order, without repeats
	Imported []string `json:"imported"`           // in source order, without repeats
}

// extensions maps file extensions to the language of the file.
var extensions = map[string]string{
	".go": LangGo,
	".rs": LangRust,
	".ts": LangTypeScript, ".tsx": LangTypeScript, ".mts": LangTypeScript, ".cts": LangTypeScript,
	".js": LangTypeScript, ".jsx": LangTypeScript, ".mjs": LangTypeScript, ".cjs": LangTypeScript,
	".py": LangPython, ".pyi": LangPython,
}

// ExtractSymbols returns the symbols of content, read in the language that
// the extension of filePath names. Defined are top-level functions, types
// (classes, structs, enums, traits, interfaces, type aliases), constants and
// variables, and methods; Imported are the modules imported and the names
// taken from them, aliases included. It reads what it can of a fragment or
// a file with syntax errors and never fails; for an unknown extension both
// lists are empty.
//
// Go is read with go/parser (a snippet without a package clause is read as
// if it had one); the other languages by small scanners that skip comments
// and string literals and follow nesting: items inside a Rust mod, impl or
// trait, a TypeScript namespace, and methods of a class count; bodies of
// functions do not. Python's top level is indentation zero.
func ExtractSymbols(filePath, content string) Symbols {
	lang := languageOf(filePath)
	s := Symbols{Language: lang}
	var e extraction
	switch lang {
	case LangGo:
		e = goSymbols(content)
	case LangRust:
		e = rustSymbols(content)
	case LangTypeScript:
		e = tsSymbols(content)
	case LangPython:
		e = pythonSymbols(content)
	}
	s.Defined, s.Imported = e.defined.list, e.imported.list
	return s
}

// languageOf returns the language of a file by its extension, or "".
func languageOf(filePath string) string {
	return extensions[strings.ToLower(path.Ext(strings.ReplaceAll(filePath, `\`, "/")))]
}

// extraction collects what a scanner finds.
type extraction struct {
	defined, imported nameList
}

// nameList is a list of names without repeats, in the order first added.
type nameList struct {
	list []string
	seen map[string]bool
}

func (l *nameList) add(names ...string) {
	for _, n := range names {
		if n == "" || l.seen[n] {
			continue
		}
		if l.seen == nil {
			l.seen = map[string]bool{}
		}
		l.seen[n] = true
		l.list = append(l.list, n)
	}
}

// goSymbols reads Go source with go/parser. AllErrors keeps the parser from
// giving up, with what it parsed, after ten errors.
func goSymbols(src string) extraction {
	var e extraction
	fset := token.NewFileSet()
	const mode = parser.SkipObjectResolution | parser.AllErrors
	f, _ := parser.ParseFile(fset, "", src, mode)
	if f == nil || f.Name == nil || f.Name.Name == "" { // no package clause: a fragment
		f, _ = parser.ParseFile(fset, "", "package p;"+src, mode)
	}
	if f == nil {
		return e
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			// init and main are never called by name from other code.
			if n := d.Name.Name; n != "_" && !(d.Recv == nil && (n == "init" || n == "main")) {
				e.defined.add(n)
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch spec := spec.(type) {
				case *ast.TypeSpec:
					e.defined.add(spec.Name.Name)
				case *ast.ValueSpec:
					for _, n := range spec.Names {
						if n.Name != "_" {
							e.defined.add(n.Name)
						}
					}
				case *ast.ImportSpec:
					p, err := strconv.Unquote(spec.Path.Value)
					if err != nil {
						continue
					}
					e.imported.add(p)
					switch {
					case spec.Name == nil:
						e.imported.add(goPackageName(p))
					case spec.Name.Name != "_" && spec.Name.Name != ".":
						e.imported.add(spec.Name.Name)
					}
				}
			}
		}
	}
	return e
}

// goPackageName guesses the name a Go import path is used by, with the rule
// goimports applies without reading the package: the last element (the one
// before it, when that is a major version such as v2), less a "go-" prefix,
// up to its first character that cannot be in an identifier
// ("github.com/pelletier/go-toml/v2" is toml, "gopkg.in/yaml.v3" is yaml).
func goPackageName(importPath string) string {
	base := path.Base(importPath)
	if len(base) > 1 && base[0] == 'v' && isNumber(base[1:]) && path.Dir(importPath) != "." {
		base = path.Base(path.Dir(importPath))
	}
	base = strings.TrimPrefix(base, "go-")
	if i := strings.IndexFunc(base, func(r rune) bool { return r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) }); i >= 0 {
		base = base[:i]
	}
	return base
}

// The scanners of Rust, TypeScript and Python turn source into tokens.
type tokKind int

const (
	tIdent  tokKind = iota
	tString         // a string literal; text is its contents, escapes left as written
	tNumber
	tPunct // one character, or a few that the language reads as one ("::", "=>")
)

type tok struct {
	kind tokKind
	text string
	nl   bool // the first token on its line
}

func (t tok) is(kind tokKind, text string) bool { return t.kind == kind && t.text == text }

// tokens is a token list with a cursor; reading past the end gives a
// punctuation token of no text, which matches nothing.
type tokens struct {
	list []tok
	i    int
}

func (ts *tokens) peek(ahead int) tok {
	if j := ts.i + ahead; j < len(ts.list) {
		return ts.list[j]
	}
	return tok{kind: tPunct}
}

func (ts *tokens) next() tok {
	t := ts.peek(0)
	ts.i++
	return t
}

func (ts *tokens) done() bool { return ts.i >= len(ts.list) }

// skipGroup moves past the bracketed group that starts at the cursor
// ("(" ... ")" and the like), counting nested groups of the same kind.
func (ts *tokens) skipGroup(open, close string) {
	depth := 0
	for !ts.done() {
		t := ts.next()
		switch {
		case t.is(tPunct, open):
			depth++
		case t.is(tPunct, close):
			depth--
			if depth <= 0 {
				return
			}
		}
	}
}

func isIdentStart(r rune) bool { return r == '_' || r == '$' || unicode.IsLetter(r) }

// word reads into t the identifier or number that starts at src[i] with
// rune r, and returns the index past it.
func (t *tok) word(src string, i int, r rune) int {
	t.kind = tNumber
	if isIdentStart(r) {
		t.kind = tIdent
	}
	end := scanIdent(src, i)
	t.text = src[i:end]
	return end
}

// scanIdent returns the end of the identifier that starts at src[i].
func scanIdent(src string, i int) int {
	for i < len(src) {
		r, n := utf8.DecodeRuneInString(src[i:])
		if !isIdentRune(r) {
			break
		}
		i += n
	}
	return i
}

// scanQuoted returns the contents of the string literal whose opening quote
// is at src[i], and the index past its closing quote. A backslash escapes
// the next byte. When stopAtNewline is set (a language whose strings cannot
// span lines), an unclosed string ends at the end of its line, which keeps
// a stray quote from swallowing the file.
func scanQuoted(src string, i int, quote byte, stopAtNewline bool) (string, int) {
	start := i + 1
	for j := start; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case quote:
			return src[start:j], j + 1
		case '\n':
			if stopAtNewline {
				return src[start:j], j
			}
		}
	}
	return src[start:], len(src)
}

// skipBlockComment returns the index past the comment that starts with
// "/*" at src[i]; nested comments count when nested is set (Rust).
func skipBlockComment(src string, i int, nested bool) int {
	depth := 0
	for i < len(src) {
		switch {
		case strings.HasPrefix(src[i:], "/*"):
			if depth > 0 && !nested {
				i += 2
				continue
			}
			depth++
			i += 2
		case strings.HasPrefix(src[i:], "*/"):
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return i
}

// skipSpace returns the index of the next token of C-like source (Rust,
// TypeScript) at or after src[i], past white space and // and /* */
// comments, and whether it passed a line break. Block comments nest when
// nested is set.
func skipSpace(src string, i int, nested bool) (int, bool) {
	nl := false
	for i < len(src) {
		switch c := src[i]; {
		case c == '\n':
			nl = true
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			i++
		case strings.HasPrefix(src[i:], "//"):
			i = lineEnd(src, i)
		case strings.HasPrefix(src[i:], "/*"):
			end := skipBlockComment(src, i, nested)
			nl = nl || strings.Contains(src[i:end], "\n")
			i = end
		default:
			return i, nl
		}
	}
	return i, nl
}

// lineEnd returns the index of the newline that ends the line holding
// src[i], or len(src).
func lineEnd(src string, i int) int {
	if j := strings.IndexByte(src[i:], '\n'); j >= 0 {
		return i + j
	}
	return len(src)
}
