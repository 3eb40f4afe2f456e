package matrix

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"lakehouse/backends/errs"
)

// Defaults of a GateConfig.
const (
	DefaultFullMode      = "codereview_lakehouse"
	DefaultIsolationMode = "codereview_isolation"
)

// DefaultWeakModels are the models that keep the full-enrichment mode when
// no list is configured: local models that gain from the extra context.
var DefaultWeakModels = []string{"qwen3.5:latest", "qwen3:latest"}

// GateConfig sets the rules of a Gate. The zero value is the default rules.
type GateConfig struct {
	FullMode      string   // the full-enrichment mode strong models are moved off; "" = DefaultFullMode
	IsolationMode string   // the mode they get instead; "" = DefaultIsolationMode
	Modes         []string // every mode a caller may ask for; nil = the full and isolation modes
	WeakModels    []string // models that keep the full mode; nil = DefaultWeakModels, empty = none
	ForceFull     bool     // no model is ever moved off the full mode
}

// Gate decides which review mode a model runs in. Extra retrieved context
// measurably hurt strong models in code review, while weak ones gained from
// it, so a strong model asking for the full-enrichment mode is moved to
// isolation. A Gate is read-only and safe for concurrent use.
type Gate struct {
	full, isolation string
	modes           []string
	weak            map[string]bool // normalised names, see modelKey
	forceFull       bool
}

// Rules a Decision can come from.
const (
	RuleForced      = "forced"       // the caller forced the mode
	RuleNotFull     = "not_full"     // the mode asked for is not the full-enrichment one
	RuleForceFull   = "force_full"   // the server forces full enrichment for every model
	RuleWeakModel   = "weak_model"   // the model is weak, so it keeps full enrichment
	RuleStrongModel = "strong_model" // the model is strong, so it is moved to isolation
)

// Decision is the mode a Gate chose, and why.
type Decision struct {
	Mode           string `json:"mode"`                      // the mode to run in
	DowngradedFrom string `json:"downgraded_from,omitempty"` // the mode asked for, when the Gate moved a strong model off it
	Rule           string `json:"rule"`                      // one of the Rule constants
	Reason         string `json:"reason"`                    // the rule in a sentence
}

// NewGate returns the Gate of cfg. Its errors name the setting at fault by
// its configuration key (full_mode, isolation_mode, modes, weak_models).
func NewGate(cfg GateConfig) (*Gate, error) {
	g := &Gate{
		full:      cmp.Or(cfg.FullMode, DefaultFullMode),
		isolation: cmp.Or(cfg.IsolationMode, DefaultIsolationMode),
		modes:     cfg.Modes,
		forceFull: cfg.ForceFull,
	}
	if g.modes == nil {
		g.modes = []string{g.full, g.isolation}
	}
	for _, m := range g.modes {
		if strings.TrimSpace(m) == "" || m != strings.TrimSpace(m) {
			return nil, fmt.Errorf("modes: %q is not a mode name (no spaces around it, not empty)", m)
		}
	}
	if g.full == g.isolation {
		return nil, fmt.Errorf("isolation_mode = %q: must differ from full_mode", g.isolation)
	}
	for _, k := range []struct{ key, mode string }{{"full_mode", g.full}, {"isolation_mode", g.isolation}} {
		if !slices.Contains(g.modes, k.mode) {
			return nil, fmt.Errorf("%s = %q: must be one of modes (%s)", k.key, k.mode, strings.Join(g.modes, ", "))
		}
	}
	weak := cfg.WeakModels
	if weak == nil {
		weak = DefaultWeakModels
	}
	g.weak = map[string]bool{}
	for _, m := range weak {
		if strings.TrimSpace(m) == "" {
			return nil, fmt.Errorf("weak_models: an entry is empty; give model names such as %q", DefaultWeakModels[0])
		}
		g.weak[modelKey(m)] = true
	}
	return g, nil
}

// Decide returns the mode model runs in when it asks for mode. A forced
// mode, when not empty, is kept as it is. Its errors are caller's mistakes:
// an empty mode or model, or a mode the Gate does not know.
func (g *Gate) Decide(mode, model, forcedMode string) (Decision, error) {
	if mode == "" {
		return Decision{}, errs.New(errs.Invalid, "mode is required: the review mode asked for, one of %s", g.modeList())
	}
	for _, m := range []struct{ arg, mode string }{{"mode", mode}, {"forced_mode", forcedMode}} {
		if m.mode != "" && !slices.Contains(g.modes, m.mode) {
			return Decision{}, errs.New(errs.Invalid, "%s %q is not a review mode of this server; use one of %s (the server's [matrix] modes)", m.arg, m.mode, g.modeList())
		}
	}
	if strings.TrimSpace(model) == "" {
		return Decision{}, errs.New(errs.Invalid, "model is required: the name of the model that will do the review, e.g. %q", DefaultWeakModels[0])
	}
	keep := func(m, rule, reason string, args ...any) (Decision, error) {
		return Decision{Mode: m, Rule: rule, Reason: fmt.Sprintf(reason, args...)}, nil
	}
	switch {
	case forcedMode != "":
		return keep(forcedMode, RuleForced, "forced_mode %s is kept as given, whatever the model", forcedMode)
	case mode != g.full:
		return keep(mode, RuleNotFull, "%s is kept: only %s is ever downgraded", mode, g.full)
	case g.forceFull:
		return keep(mode, RuleForceFull, "%s is kept: the server forces full enrichment for every model (LAKEHOUSE_FORCE_FULL_ENRICHMENT)", mode)
	case isFreeTier(model):
		return keep(mode, RuleWeakModel, "%s is kept: %s is a free-tier model, which gains from the extra context", mode, model)
	case g.weak[modelKey(model)]:
		return keep(mode, RuleWeakModel, "%s is kept: %s is one of the server's weak models, which gain from the extra context", mode, model)
	}
	return Decision{
		Mode: g.isolation, DowngradedFrom: mode, Rule: RuleStrongModel,
		Reason: fmt.Sprintf("%s is a strong model, and extra context measurably hurt strong models in review: it runs %s instead of %s (send forced_mode to keep a mode)", model, g.isolation, mode),
	}, nil
}

// FullMode returns the full-enrichment mode, the one strong models are moved off.
func (g *Gate) FullMode() string { return g.full }

// IsolationMode returns the mode strong models are moved to.
func (g *Gate) IsolationMode() string { return g.isolation }

// Modes returns every mode a caller may ask for.
func (g *Gate) Modes() []string { return slices.Clone(g.modes) }

func (g *Gate) modeList() string { return strings.Join(g.modes, ", ") }

// isFreeTier reports whether model names a free tier: a ":free" suffix
// ("meta-llama/llama-3.3-70b-instruct:free") or a ":free/" infix.
func isFreeTier(model string) bool {
	m := strings.ToLower(strings.TrimSpace(model))
	return strings.HasSuffix(m, ":free") || strings.Contains(m, ":free/")
}

// modelKey is the name a model is matched by in the weak list: trimmed,
// lower-cased, and with the ":latest" tag that Ollama gives an untagged name
// ("Qwen3" is qwen3:latest).
func modelKey(model string) string {
	m := strings.ToLower(strings.TrimSpace(model))
	if !strings.Contains(m[strings.LastIndexByte(m, '/')+1:], ":") {
		m += ":latest"
	}
	return m
}
