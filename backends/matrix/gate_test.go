package matrix

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"lakehouse/backends/errs"
)

// TestGate_Rules is the downgrade rule table: who is moved off the
// full-enrichment mode, who keeps the mode asked for, and why.
func TestGate_Rules(t *testing.T) {
	const full, iso = DefaultFullMode, DefaultIsolationMode
	def, err := NewGate(GateConfig{})
	if err != nil {
		t.Fatal(err)
	}
	forced, err := NewGate(GateConfig{ForceFull: true})
	if err != nil {
		t.Fatal(err)
	}
	custom, err := NewGate(GateConfig{FullMode: "full", IsolationMode: "bare", Modes: []string{"full", "bare", "plain"}, WeakModels: []string{"tiny", "Local/Small:7B"}})
	if err != nil {
		t.Fatal(err)
	}
	noWeak, err := NewGate(GateConfig{WeakModels: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name               string
		g                  *Gate
		mode, model, force string
		want, from, rule   string
	}{
		{"strong model", def, full, "claude-opus-4", "", iso, full, RuleStrongModel},
		{"strong model with a tag", def, full, "qwen3:8b", "", iso, full, RuleStrongModel},
		{"weak list", def, full, "qwen3:latest", "", full, "", RuleWeakModel},
		{"weak list, other entry", def, full, "qwen3.5:latest", "", full, "", RuleWeakModel},
		{"weak list, any case and no tag", def, full, " Qwen3 ", "", full, "", RuleWeakModel},
		{":free suffix", def, full, "meta-llama/llama-3.3-70b-instruct:free", "", full, "", RuleWeakModel},
		{":free/ infix", def, full, "openrouter:free/deepseek-r1", "", full, "", RuleWeakModel},
		{":FREE in capitals", def, full, "mistral-7b:FREE", "", full, "", RuleWeakModel},
		{"free elsewhere is not a tier", def, full, "freebird-70b", "", iso, full, RuleStrongModel},
		{"forced full for a strong model", def, full, "gpt-5", full, full, "", RuleForced},
		{"forced isolation for a weak model", def, full, "qwen3:latest", iso, iso, "", RuleForced},
		{"env forces full enrichment", forced, full, "claude-opus-4", "", full, "", RuleForceFull},
		{"isolation is never changed", def, iso, "claude-opus-4", "", iso, "", RuleNotFull},
		{"custom modes", custom, "full", "claude-opus-4", "", "bare", "full", RuleStrongModel},
		{"custom other mode", custom, "plain", "claude-opus-4", "", "plain", "", RuleNotFull},
		{"custom weak list", custom, "full", "local/small:7b", "", "full", "", RuleWeakModel},
		{"custom list replaces the default", custom, "full", "qwen3:latest", "", "bare", "full", RuleStrongModel},
		{"empty weak list leaves free tiers", noWeak, full, "x:free", "", full, "", RuleWeakModel},
		{"empty weak list", noWeak, full, "qwen3:latest", "", iso, full, RuleStrongModel},
	}
	for _, c := range cases {
		d, err := c.g.Decide(c.mode, c.model, c.force)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if d.Mode != c.want || d.DowngradedFrom != c.from || d.Rule != c.rule || d.Reason == "" {
			t.Errorf("%s: %+v, want mode %q from %q by %s", c.name, d, c.want, c.from, c.rule)
		}
	}
	d, _ := def.Decide(full, "gpt-5", "")
	if want := "gpt-5 is a strong model, and extra context measurably hurt strong models in review: it runs codereview_isolation instead of codereview_lakehouse (send forced_mode to keep a mode)"; d.Reason != want {
		t.Errorf("reason = %q\nwant     %q", d.Reason, want)
	}
}

// TestGate_BadInput: an empty mode or model, and a mode the gate does not
// know, are a caller's mistakes that name the modes to use.
func TestGate_BadInput(t *testing.T) {
	g, err := NewGate(GateConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		mode, model, force, want string
	}{
		{"", "gpt-5", "", "mode is required: the review mode asked for, one of codereview_lakehouse, codereview_isolation"},
		{"codereview_lakehose", "gpt-5", "", `mode "codereview_lakehose" is not a review mode of this server; use one of codereview_lakehouse, codereview_isolation`},
		{"CODEREVIEW_LAKEHOUSE", "gpt-5", "", `mode "CODEREVIEW_LAKEHOUSE" is not a review mode`},
		{"codereview_lakehouse", "gpt-5", "full", `forced_mode "full" is not a review mode`},
		{"codereview_lakehouse", "", "", "model is required"},
		{"codereview_lakehouse", "  ", "codereview_lakehouse", "model is required"},
	}
	for _, c := range cases {
		_, err := g.Decide(c.mode, c.model, c.force)
		if !errors.Is(err, errs.Invalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decide(%q, %q, %q): %v, want an invalid-input error containing %q", c.mode, c.model, c.force, err, c.want)
		}
	}
}

// TestNewGate_Errors: rules that cannot work fail with the key at fault.
func TestNewGate_Errors(t *testing.T) {
	cases := []struct {
		cfg  GateConfig
		want string
	}{
		{GateConfig{Modes: []string{"a", "b"}}, `full_mode = "codereview_lakehouse": must be one of modes (a, b)`},
		{GateConfig{Modes: []string{"codereview_lakehouse", "b"}}, `isolation_mode = "codereview_isolation": must be one of modes (codereview_lakehouse, b)`},
		{GateConfig{Modes: []string{}}, `full_mode = "codereview_lakehouse": must be one of modes ()`},
		{GateConfig{IsolationMode: DefaultFullMode}, `isolation_mode = "codereview_lakehouse": must differ from full_mode`},
		{GateConfig{Modes: []string{"codereview_lakehouse", "codereview_isolation", " padded"}}, `modes: " padded" is not a mode name`},
		{GateConfig{WeakModels: []string{"qwen3:latest", ""}}, "weak_models: an entry is empty"},
	}
	for _, c := range cases {
		if _, err := NewGate(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewGate(%+v): %v, want an error containing %q", c.cfg, err, c.want)
		}
	}
	g, err := NewGate(GateConfig{})
	if err != nil || g.FullMode() != DefaultFullMode || g.IsolationMode() != DefaultIsolationMode || !slices.Equal(g.Modes(), []string{DefaultFullMode, DefaultIsolationMode}) {
		t.Errorf("the default gate: %v %v", g, err)
	}
	// Without a list of modes, the two the gate names are the ones it knows.
	if g, err := NewGate(GateConfig{FullMode: "rich"}); err != nil || !slices.Equal(g.Modes(), []string{"rich", DefaultIsolationMode}) {
		t.Errorf("NewGate with a full mode only: %v %v", g, err)
	}
}
