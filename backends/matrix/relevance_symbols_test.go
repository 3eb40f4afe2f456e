package matrix

import (
	"slices"
	"strings"
	"testing"
)

const goSource = `// Package config loads settings. func NotInComment() {}
package config

import (
	"errors"
	"fmt"
	toml "github.com/pelletier/go-toml/v2"
	_ "embed"
	"gopkg.in/yaml.v3"
)

// Config is what the file holds.
type Config struct {
	Path string
}

type (
	Mode   int
	Loader interface{ Load() error }
)

const DefaultPath = "lakehouse.toml"

const (
	ModeA Mode = iota
	ModeB
)

var ErrMissing = errors.New("func NotInString() {}")
var _ = fmt.Sprintf

func init() {}

func ParseConfig(path string) (*Config, error) {
	var local int
	_ = local
	return nil, toml.Unmarshal(nil, nil)
}

func (c *Config) Validate() error { return yaml.Unmarshal(nil, c) }
`

const rustSource = `//! Crate docs: fn fake() and struct Fake live in a comment.
use std::collections::HashMap;
use serde::{Deserialize, Serialize as Ser};
use crate::config::{self, Config};
extern crate log as logging;

/// A parser. Not fn parse_doc.
#[derive(Debug, Clone)]
pub struct Parser<'a> {
    input: &'a str,
}

pub(crate) enum Token { Ident(String), Brace }

pub trait Visitor {
    fn visit(&mut self, t: &Token);
    fn done(&self) -> bool { true }
}

impl<'a> Parser<'a> {
    pub const MAX_DEPTH: usize = 64;
    pub fn new(input: &'a str) -> Self {
        let s = "fn not_a_fn() {";
        let r = r#"struct NotAStruct { "#;
        let c = '{';
        fn inner_helper() {}
        /* a { brace /* nested */ in a comment */
        Parser { input }
    }
    async fn next_token(&mut self) -> Option<Token> { None }
}

static mut COUNTER: u32 = 0;
const _: () = ();
type Result<T> = std::result::Result<T, Error>;
pub const fn limit() -> usize { 1 }
macro_rules! my_macro { () => {} }
mod tests { fn helper() { let x = 1; } }
mod external;
unsafe extern "C" { fn c_call(); }
`

const tsSource = "import React, { useState, useEffect as useFx } from \"react\";\n" +
	"import * as path from \"node:path\";\n" +
	"import type { Config } from \"./config\";\n" +
	"import \"./polyfill\";\n" +
	"import fs = require(\"fs\");\n" +
	"const { readFile, writeFile: write } = require(\"fs/promises\");\n" +
	"export { helper as publicHelper } from \"./helpers\";\n" +
	"export * from \"./types\";\n" +
	`
/* function commentedOut() {} */
// class NotAClass {}
const re = /function fake\(\) \{/g;
const tpl = ` + "`class InTemplate { ${ \"}\" } ${`nested ${1}`} }`" + `;
const ratio = total / count / 2;

export interface Props { title: string; onClick(): void }
export type Mode = "a" | "b";
enum Color { Red, Green }
export const enum Dir { Up }
export const DEFAULT_TIMEOUT = 30_000, RETRIES = 3;
let counter: Map<string, number> = new Map<string, number>(), second = 2;
export default function App(props: Props) {
  const inner = 1;
  function nested() {}
  return null;
}
export async function fetchData(url: string): Promise<Response> { return fetch(url); }
export function* ids() { yield 1; }
@Injectable()
export abstract class Store<T> extends Base implements IStore {
  private items: T[] = [];
  static create(): Store<any> { return null as any; }
  constructor() { super(); }
  get size(): number { return this.items.length; }
  async load(id: string) { const x = () => {}; }
  @memo() compute() {}
  #secret() {}
  handler = () => { this.load("x"); };
}
namespace Utils { export function clamp(x: number) { return x; } }
const [first, , third] = [1, 2, 3];
`

const pythonSource = `"""Module docstring with def fake(): and class Fake: inside."""
from __future__ import annotations

import os
import os.path as osp, sys
from collections import OrderedDict, defaultdict as dd
from .models import (
    User,
    Group as G,
)
from . import utils
from typing import *

__all__ = ["load_config"]
DEFAULT_PATH = os.path.join("a", "b")
MAX_RETRIES: int = 3
x, y = 1, 2
a = b = None
timeout: float
CONFIG["key"] = 1
obj.attr = 2
print("not = a definition")

type Vector = list[float]

def load_config(path: str = DEFAULT_PATH) -> dict:
    local_var = 1
    def inner():
        pass
    import json
    return {}

async def fetch(url):
    pass

@dataclass
class Loader(Base):
    '''Docstring: def not_method():'''
    attr = 1

    def __init__(self):
        self.x = 1

    def load(self, path):
        def helper():
            pass
        return helper

    @property
    async def ready(self):
        return True

class Empty: pass

if __name__ == "__main__":
    main_var = 1
`

// TestExtractSymbols reads a realistic file of each language: what it
// defines and imports, in source order, and nothing from comments, strings,
// function bodies or nested functions.
func TestExtractSymbols(t *testing.T) {
	cases := []struct {
		path, src         string
		lang              string
		defined, imported []string
	}{
		{"config/config.go", goSource, LangGo,
			[]string{"Config", "Mode", "Loader", "DefaultPath", "ModeA", "ModeB", "ErrMissing", "ParseConfig", "Validate"},
			[]string{"errors", "fmt", "github.com/pelletier/go-toml/v2", "toml", "embed", "gopkg.in/yaml.v3", "yaml"}},
		{"src/parser.rs", rustSource, LangRust,
			[]string{"Parser", "Token", "Visitor", "visit", "done", "MAX_DEPTH", "new", "next_token", "COUNTER", "Result", "limit", "my_macro", "tests", "helper", "external", "c_call"},
			[]string{"std", "HashMap", "serde", "Deserialize", "Serialize", "Ser", "config", "Config", "log", "logging"}},
		{"web/src/store.tsx", tsSource, LangTypeScript,
			[]string{"re", "tpl", "ratio", "Props", "Mode", "Color", "Dir", "DEFAULT_TIMEOUT", "RETRIES", "counter", "second", "App", "fetchData", "ids", "Store", "create", "size", "load", "compute", "Utils", "clamp", "first", "third"},
			[]string{"react", "React", "useState", "useEffect", "useFx", "node:path", "path", "./config", "Config", "./polyfill", "fs", "fs/promises", "readFile", "write", "./helpers", "helper", "publicHelper", "./types"}},
		{"pkg/loader.py", pythonSource, LangPython,
			[]string{"DEFAULT_PATH", "MAX_RETRIES", "x", "y", "a", "b", "timeout", "Vector", "load_config", "fetch", "Loader", "load", "ready", "Empty"},
			[]string{"__future__", "annotations", "os", "os.path", "osp", "sys", "collections", "OrderedDict", "defaultdict", "dd", "models", "User", "Group", "G", "utils", "typing", "json"}},
	}
	for _, c := range cases {
		t.Run(c.lang, func(t *testing.T) {
			got := ExtractSymbols(c.path, c.src)
			if got.Language != c.lang {
				t.Errorf("language = %q, want %q", got.Language, c.lang)
			}
			if !slices.Equal(got.Defined, c.defined) {
				t.Errorf("defined =\n%q\nwant\n%q", got.Defined, c.defined)
			}
			if !slices.Equal(got.Imported, c.imported) {
				t.Errorf("imported =\n%q\nwant\n%q", got.Imported, c.imported)
			}
		})
	}
}

// TestExtractSymbols_KeywordsAreNotSymbols feeds each language's scanner
// declarations whose "names" are keywords, among code full of keywords:
// only the real names come out, and no keyword.
func TestExtractSymbols_KeywordsAreNotSymbols(t *testing.T) {
	cases := []struct {
		path, src string
		keywords  map[string]bool
		defined   []string
	}{
		{"k.go", "package k\nfunc (s *S) Do() { for { select {} } }\ntype S struct{}\nvar _ = 1\n", goKeywords, []string{"Do", "S"}},
		{"k.rs", "impl Self { fn r#match() {} }\nconst fn f() {}\nconst _: u8 = 0;\nstatic mut S: u8 = 0;\nextern \"C\" fn g() {}\nunsafe impl Send for S {}\nfn type() {}\n", rustKeywords, []string{"f", "S", "g"}},
		{"k.ts", "export default class extends Base { constructor() {} get() {} static async *gen() {} }\nexport const enum E {}\nfunction () {}\nconst { default: d } = x;\nlet async = 1, await = 2;\n", tsKeywords, []string{"gen", "E", "d"}},
		{"k.py", "class None: pass\ndef True(): pass\nelse: x = 1\ntry:\n    pass\nlambda: 0\nself = 1\nasync def await(): pass\ntype = 3\ndef real(): pass\n", pythonKeywords, []string{"real"}},
	}
	for _, c := range cases {
		got := ExtractSymbols(c.path, c.src)
		for _, s := range slices.Concat(got.Defined, got.Imported) {
			if c.keywords[s] {
				t.Errorf("%s: keyword %q extracted as a symbol", c.path, s)
			}
		}
		if !slices.Equal(got.Defined, c.defined) {
			t.Errorf("%s: defined %q, want %q", c.path, got.Defined, c.defined)
		}
	}
}

// TestExtractSymbols_Fragments reads what reviews often carry: a Go snippet
// without its package clause, code cut off mid-declaration, an unknown
// extension, and empty content.
func TestExtractSymbols_Fragments(t *testing.T) {
	cases := []struct {
		path, src string
		defined   []string
	}{
		{"a.go", "func Helper() {}\n\ntype Options struct{ N int }\n", []string{"Helper", "Options"}},
		{"a.go", "package a\n\nfunc First() {}\n\ntype Second struct {\n\tN int\n", []string{"First", "Second"}},
		{"a.rs", "pub fn first() {}\npub fn second(x: u8) {\n    let s = \"unclosed", []string{"first", "second"}},
		{"a.ts", "export function first() {}\nconst s = 'it\\'s';\nconst t = \"don't\nexport function second() {}\n", []string{"first", "s", "t", "second"}},
		{"a.py", "def first():\n    s = '''unclosed\ndef second(): pass\n", []string{"first"}},
		{"A.PY", "def upper(): pass\n", []string{"upper"}},
		{"notes.md", "func NotGo() {}\n", nil},
		{"a.go", "", nil},
	}
	for _, c := range cases {
		if got := ExtractSymbols(c.path, c.src).Defined; !slices.Equal(got, c.defined) {
			t.Errorf("%s %q: defined %q, want %q", c.path, c.src, got, c.defined)
		}
	}
}

// TestExtractSymbols_Nesting reads content of the largest size a focus may
// have, nested as deep as it can be, in each language: reading takes time
// in proportion to the size (a scanner that looked at every open block for
// every token would not finish).
func TestExtractSymbols_Nesting(t *testing.T) {
	for _, open := range []string{"{", "mod m {", "namespace N {", "(", "class A:\n def f():\n  "} {
		src := strings.Repeat(open, MaxContentBytes/len(open))
		for _, path := range []string{"a.go", "a.rs", "a.ts", "a.py"} {
			ExtractSymbols(path, src)
		}
	}
}

func TestGoPackageName(t *testing.T) {
	for path, want := range map[string]string{
		"fmt": "fmt", "encoding/json": "json", "github.com/pelletier/go-toml/v2": "toml",
		"gopkg.in/yaml.v3": "yaml", "github.com/mattn/go-sqlite3": "sqlite3", "github.com/aws/aws-sdk-go": "aws", "example.com/v2": "example",
		"github.com/modelcontextprotocol/go-sdk/mcp": "mcp",
	} {
		if got := goPackageName(path); got != want {
			t.Errorf("goPackageName(%q) = %q, want %q", path, got, want)
		}
	}
}

// FuzzExtractSymbols feeds arbitrary text to every language's reader: it
// never panics, and every name it defines is a name, not empty and not one
// of the language's keywords.
func FuzzExtractSymbols(f *testing.F) {
	for _, s := range []string{goSource, rustSource, tsSource, pythonSource, "", "'", "`${", "r#\"", "/*", "b'", "x = '''", "\\", "use a::{b::{c", "use a::{(", "from x import import", "import {", "const {a: [b, ...c]} = d"} {
		f.Add(s)
	}
	keywords := map[string]map[string]bool{"a.go": goKeywords, "a.rs": rustKeywords, "a.ts": tsKeywords, "a.py": pythonKeywords}
	f.Fuzz(func(t *testing.T, src string) {
		for path, kw := range keywords {
			for _, name := range ExtractSymbols(path, src).Defined {
				if name == "" || kw[name] {
					t.Fatalf("%s: defined name %q from %q", path, name, src)
				}
			}
		}
	})
}
