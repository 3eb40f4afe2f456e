// Package debian reads the package descriptions of apt's Translation-en
// lists (bench/debian.sh unpacks them), the real texts the retrieval
// benchmarks search.
package debian

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// Descriptions calls each with the summary line and the lines of the first
// paragraph of every description in the files at paths, in order.
func Descriptions(paths []string, each func(summary string, para []string)) error {
	return read(paths, func(summary string, paras [][]string) {
		var first []string
		if len(paras) > 0 {
			first = paras[0]
		}
		each(summary, first)
	})
}

// read calls each with the summary line and the paragraphs (their lines)
// of every description in the files at paths, in order.
func read(paths []string, each func(summary string, paras [][]string)) error {
	for _, path := range paths {
		if err := descriptions(path, each); err != nil {
			return err
		}
	}
	return nil
}

func descriptions(path string, each func(string, [][]string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var (
		summary string
		paras   [][]string
		inDesc  bool // between a Description-en line and the blank line after it
		fresh   bool // the next line starts a paragraph
	)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Description-en: "):
			if inDesc {
				each(summary, paras)
			}
			summary, paras, inDesc, fresh = strings.TrimPrefix(line, "Description-en: "), nil, true, true
		case inDesc && strings.HasPrefix(line, " "):
			switch t := strings.TrimSpace(line); {
			case t == ".":
				fresh = true
			case fresh:
				paras, fresh = append(paras, []string{t}), false
			default:
				paras[len(paras)-1] = append(paras[len(paras)-1], t)
			}
		case line == "":
			if inDesc {
				each(summary, paras)
			}
			inDesc = false
		}
	}
	if inDesc {
		each(summary, paras)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Paragraphs returns every paragraph of every description in the files at
// paths, once each, of at least minWords words: the texts of a corpus the
// size of Debian's (about 100k).
func Paragraphs(paths []string, minWords int) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	err := read(paths, func(_ string, paras [][]string) {
		for _, p := range paras {
			t := strings.Join(p, " ")
			if !seen[t] && len(strings.Fields(t)) >= minWords {
				seen[t] = true
				out = append(out, t)
			}
		}
	})
	return out, err
}

// Texts reads the descriptions of Translation-en files: each text is a
// package's summary followed by the first paragraph of its long
// description, cut to maxWords words; texts of fewer than 8 words are left
// out. Texts repeating a summary or a paragraph already seen are dropped,
// so that sister packages (foo, foo-dev, foo-doc) do not make every query
// ambiguous.
func Texts(paths []string, maxWords int) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(summary string, para []string) {
		p := strings.Join(para, " ")
		if summary == "" || p == "" || seen[summary] || seen[p] {
			return
		}
		seen[summary], seen[p] = true, true
		f := strings.Fields(strings.TrimRight(summary, ".") + ". " + p)
		if len(f) < 8 {
			return
		}
		if len(f) > maxWords {
			f = f[:maxWords]
		}
		out = append(out, strings.Join(f, " "))
	}
	if err := Descriptions(paths, add); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no descriptions in %s", strings.Join(paths, ", "))
	}
	return out, nil
}
