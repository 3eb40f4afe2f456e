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
	Path            string   `json:"path"`
	Content         string   `json:"content,omitempty" jsonschema:"its text"`
	DefinedSymbols  []string `json:"defined_symbols,omitempty"`
	ImportedSymbols []string `json:"imported_symbols,omitempty"`
}

// focus is f in the engine's terms.
func (f focusIn) focus() matrix.Focus {
	return matrix.Focus{Path: f.Path, Content: f.Content, DefinedSymbols: f.DefinedSymbols, ImportedSymbols: f.ImportedSymbols}
}

type chunkIn struct {
	Source string   `json:"source"`
	DocID  string   `json:"doc_id"`
	Text   string   `json:"text" jsonschema:"up to 64 KiB"`
	Score  *float64 `json:"score,omitempty"`
}

type scoreRelevanceIn struct {
	Focus     focusIn   `json:"focus"`
	Chunks    []chunkIn `json:"chunks" jsonschema:"1 to 1000"`
	Threshold *float64  `json:"threshold,omitempty" jsonschema:"default 0.3"`
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
	Mode       string `json:"mode"`
	Model      string `json:"model" jsonschema:"e.g. qwen3:latest"`
	ForcedMode string `json:"forced_mode,omitempty"`
}

type downgradeGateOut struct {
	matrix.Decision
}

func reviewTools(b *Backends) []Tool {
	g := b.gate()
	return []Tool{
		fromOutside(define("score_relevance",
			"Keep the chunks you retrieved that are relevant to a file under review (focus), best first, with reasons: +1 path named, +0.6 file name or a symbol it defines, +0.4 x word overlap, +0.3 same folders, -0.5 only its imports.",
			readOnly("Score relevance to a file"), b.scoreRelevance)),
		define("downgrade_gate",
			fmt.Sprintf("Decide a model's code-review mode: a strong model asking for %s is switched to %s (extra context hurt strong models); weak ones and forced_mode keep theirs. Modes: %s.",
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
