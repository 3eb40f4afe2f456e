package tools

import (
	"context"
	"fmt"
	"strings"

	"lakehouse/backends/matrix"
)

// Gate is what downgrade_gate needs of the downgrade gate: its rules.
type Gate interface {
	Decide(mode, model, forcedMode string) (matrix.Decision, error)
	FullMode() string
	IsolationMode() string
	Modes() []string
}

var _ Gate = (*matrix.Gate)(nil)

type focusIn struct {
	Path            string   `json:"path" jsonschema:"path of the file under review, repository-relative, e.g. backends/matrix/gate.go"`
	Content         string   `json:"content,omitempty" jsonschema:"its text, up to 1 MiB: the words chunks are compared with and, unless given below, where its symbols are read from (Go, Rust, TypeScript/JavaScript, Python)"`
	DefinedSymbols  []string `json:"defined_symbols,omitempty" jsonschema:"names it defines (functions, types, classes, methods, consts, vars), up to 1000; empty = read from content"`
	ImportedSymbols []string `json:"imported_symbols,omitempty" jsonschema:"modules and names it imports, up to 1000; empty = read from content"`
}

// focus is f in the engine's terms.
func (f focusIn) focus() matrix.Focus {
	return matrix.Focus{Path: f.Path, Content: f.Content, DefinedSymbols: f.DefinedSymbols, ImportedSymbols: f.ImportedSymbols}
}

type chunkIn struct {
	Source string   `json:"source" jsonschema:"where the chunk comes from: a file path, URL or corpus name"`
	DocID  string   `json:"doc_id" jsonschema:"its id there, often a path with a #fragment or :line"`
	Text   string   `json:"text" jsonschema:"its text, up to 64 KiB"`
	Score  *float64 `json:"score,omitempty" jsonschema:"the retriever's score, echoed back but not used: retrievers' scales differ in range and direction"`
}

type scoreRelevanceIn struct {
	Focus     focusIn   `json:"focus" jsonschema:"the file under review"`
	Chunks    []chunkIn `json:"chunks" jsonschema:"retrieved chunks to score, 1 to 1000, 8 MiB of text in all"`
	Threshold *float64  `json:"threshold,omitempty" jsonschema:"relevance below which a chunk is dropped, -0.5 to 2.6; default 0.3"`
}

type focusOut struct {
	Path            string `json:"path"`
	Language        string `json:"language,omitempty" jsonschema:"the language its symbols were read in, from the path's extension"`
	DefinedSymbols  int    `json:"defined_symbols" jsonschema:"symbols it defines that chunks were matched against"`
	ImportedSymbols int    `json:"imported_symbols" jsonschema:"symbols it imports that chunks were matched against"`
}

type scoreRelevanceOut struct {
	Kept      []matrix.Scored `json:"kept" jsonschema:"chunks at or above the threshold, best first; index is the chunk's position in chunks, and reasons add up to relevance"`
	Dropped   int             `json:"dropped" jsonschema:"chunks below the threshold"`
	Threshold float64         `json:"threshold"`
	Focus     focusOut        `json:"focus"`
}

type downgradeGateIn struct {
	Mode       string `json:"mode" jsonschema:"the review mode asked for"`
	Model      string `json:"model" jsonschema:"the model that will do the review, as its provider names it, e.g. qwen3:latest or meta-llama/llama-3.3-70b-instruct:free"`
	ForcedMode string `json:"forced_mode,omitempty" jsonschema:"a mode to keep whatever the model, when the user chose it on purpose"`
}

type downgradeGateOut struct {
	matrix.Decision
}

func reviewTools(b *Backends) []Tool {
	g := b.gate()
	return []Tool{
		define("score_relevance",
			"Score chunks you retrieved (code or prose) for relevance to one file under review, the focus, and keep those at or above threshold (default 0.3), best first, each with the reasons its score adds up from. "+
				"Signals: +1.0 source or doc_id names the focus path; +0.6 text mentions its file name; +0.6 text mentions a symbol it defines; +0.4 x word overlap with its content (Jaccard; stopwords and language keywords ignored); +0.3 under the same first two folders; -0.5 text mentions only symbols it imports. "+
				"Give focus.content, or defined_symbols and imported_symbols: symbols are read from Go, Rust, TypeScript/JavaScript and Python content. Use it to choose what context goes into a code review. Reads nothing on the server; up to 1000 chunks.",
			readOnly("Score relevance to a file"), b.scoreRelevance),
		define("downgrade_gate",
			fmt.Sprintf("Decide the code-review mode a model should run in before starting a review. A strong model asking for %s (full enrichment with retrieved context) is switched to %s, because extra context measurably hurt strong models; a weak model (a :free tier, or one of the server's weak models), a forced_mode, or the server's LAKEHOUSE_FORCE_FULL_ENRICHMENT keeps the mode asked for. Modes: %s. Returns mode, downgraded_from when switched, rule and reason.",
				g.FullMode(), g.IsolationMode(), strings.Join(g.Modes(), ", ")),
			readOnly("Review mode for a model"), b.downgradeGate),
	}
}

// gate is b's downgrade gate: the configured one, or the default rules.
func (b *Backends) gate() Gate {
	if b != nil && b.Gate != nil {
		return b.Gate
	}
	g, err := matrix.NewGate(matrix.GateConfig{})
	if err != nil {
		panic(fmt.Sprintf("the default downgrade gate: %v", err)) // a programming error, caught by every test
	}
	return g
}

func (b *Backends) scoreRelevance(ctx context.Context, in scoreRelevanceIn) (scoreRelevanceOut, error) {
	s, err := matrix.NewScorer(in.Focus.focus())
	if err != nil {
		return scoreRelevanceOut{}, err
	}
	chunks := make([]matrix.Chunk, len(in.Chunks))
	for i, c := range in.Chunks {
		chunks[i] = matrix.Chunk{Source: c.Source, DocID: c.DocID, Text: c.Text, Score: c.Score}
	}
	threshold := matrix.DefaultThreshold
	if in.Threshold != nil {
		threshold = *in.Threshold
	}
	kept, err := s.Rank(ctx, chunks, threshold)
	if err != nil {
		return scoreRelevanceOut{}, err
	}
	syms := s.Symbols()
	return scoreRelevanceOut{
		Kept: kept, Dropped: len(chunks) - len(kept), Threshold: threshold,
		Focus: focusOut{Path: in.Focus.Path, Language: syms.Language, DefinedSymbols: len(syms.Defined), ImportedSymbols: len(syms.Imported)},
	}, nil
}

func (b *Backends) downgradeGate(_ context.Context, in downgradeGateIn) (downgradeGateOut, error) {
	d, err := b.gate().Decide(in.Mode, in.Model, in.ForcedMode)
	return downgradeGateOut{d}, err
}

// Text renders the kept chunks as a markdown table, each with its reasons.
func (o scoreRelevanceOut) Text() string {
	var sb strings.Builder
	sb.WriteString("| index | source | doc_id | relevance | reasons |\n|---|---|---|---|---|")
	for _, k := range o.Kept {
		reasons := make([]string, len(k.Reasons))
		for i, r := range k.Reasons {
			reasons[i] = fmt.Sprintf("%s %+.4g: %s", r.Signal, r.Weight, r.Detail)
		}
		fmt.Fprintf(&sb, "\n| %d | %s | %s | %.4g | %s |", k.Index, cell(k.Source), cell(k.DocID), k.Relevance, cellEscaper.Replace(strings.Join(reasons, "; ")))
	}
	f := o.Focus
	fmt.Fprintf(&sb, "\n\n%d chunk(s) kept, %d dropped below %.4g; focus %s", len(o.Kept), o.Dropped, o.Threshold, f.Path)
	if f.Language != "" {
		fmt.Fprintf(&sb, " (%s)", f.Language)
	}
	fmt.Fprintf(&sb, " with %d defined and %d imported symbols", f.DefinedSymbols, f.ImportedSymbols)
	return sb.String()
}

// Text is the decision in a line.
func (o downgradeGateOut) Text() string {
	if o.DowngradedFrom != "" {
		return fmt.Sprintf("mode %s (downgraded from %s; rule %s): %s", o.Mode, o.DowngradedFrom, o.Rule, o.Reason)
	}
	return fmt.Sprintf("mode %s (rule %s): %s", o.Mode, o.Rule, o.Reason)
}
