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
	for _, path := range paths {
		if err := descriptions(path, each); err != nil {
			return err
		}
	}
	return nil
}

func descriptions(path string, each func(string, []string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var (
		summary string
		para    []string
		inDesc  bool // between a Description-en line and the blank line after it
		done    bool // its first paragraph is over
	)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Description-en: "):
			if inDesc {
				each(summary, para)
			}
			summary, para, inDesc, done = strings.TrimPrefix(line, "Description-en: "), nil, true, false
		case inDesc && strings.HasPrefix(line, " "):
			if strings.TrimSpace(line) == "." {
				done = true
			} else if !done {
				para = append(para, strings.TrimSpace(line))
			}
		case line == "":
			if inDesc {
				each(summary, para)
			}
			inDesc = false
		}
	}
	if inDesc {
		each(summary, para)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
