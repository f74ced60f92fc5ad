package edit

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/mechlens/mechlens/gpt2"
)

// The kinds of edit.
const (
	KindValueVector = "value_vector" // set or add to neuron i's value vector W_out[i]
	KindScaleNeuron = "scale_neuron" // W_out[i] ← f·W_out[i] (0 ablates the neuron)
	KindScaleHead   = "scale_head"   // head h's W_O rows ← f·rows (b_O, shared by all heads, untouched)
	KindProjectOut  = "project_out"  // rows ← rows·(I − d dᵀ): the component no longer writes along d
	KindRankOne     = "rank_one"     // W += u·vᵀ, the form ROME writes
	KindSteer       = "steer"        // run time: add α·v at a hook point
	KindAblate      = "ablate"       // run time: zero or mean-ablate an activation (or one head's slice)
	KindAttention   = "attention"    // run time: rescale or swap one head's attention at the query
)

// Kinds lists the edit kinds: weight edits first, then run-time interventions.
var Kinds = []string{KindValueVector, KindScaleNeuron, KindScaleHead, KindProjectOut, KindRankOne, KindSteer, KindAblate, KindAttention, KindClamp}

// Edit is one edit. Which fields count depends on Kind; check documents each. Positions
// count from the start of the sequence, negative ones from its end (−1 is the last).
type Edit struct {
	Kind    string `json:"kind"`
	Layer   int    `json:"layer"`
	Neurons []int  `json:"neurons,omitempty"` // value_vector, scale_neuron: one; project_out: the set
	Head    *int   `json:"head,omitempty"`    // scale_head, project_out, ablate, attention
	// Factor scales (scale_neuron, scale_head) or, for attention, multiplies the chosen
	// keys' weights before the row is renormalized.
	Factor *float64 `json:"factor,omitempty"`
	// Mode: value_vector "set" (the row becomes Vector) or "add" (Vector is added); ablate
	// "zero" or "mean" (the mean over the sequence's positions); attention "scale" or
	// "swap" (the first two keys exchange their weights).
	Mode string `json:"mode,omitempty"`
	// Vector: value_vector's row or addend [D]; steer's vector (the hook's last dimension);
	// project_out's direction [D] (centered and normalized when applied).
	Vector []float32 `json:"vector,omitempty"`
	Matrix string    `json:"matrix,omitempty"` // rank_one: gpt2.MatrixWOut, MatrixWIn or MatrixWO
	U      []float32 `json:"u,omitempty"`      // rank_one [K]
	V      []float32 `json:"v,omitempty"`      // rank_one [N]
	Hook   string    `json:"hook,omitempty"`   // steer, ablate: a hook point's full name
	Alpha  float64   `json:"alpha,omitempty"`  // steer
	// Positions: steer and ablate act there (all positions when empty); attention
	// recalibrates these key positions.
	Positions []int `json:"positions,omitempty"`
	Query     *int  `json:"query,omitempty"` // attention: the query position (default −1)
	// Letters: attention acts on the answer options' letter tokens (found after Marker, as
	// `heads` finds them) instead of Positions.
	Letters bool   `json:"letters,omitempty"`
	Marker  string `json:"marker,omitempty"`
	// Gate: steer only; scales α by what heads of an earlier layer attend to (see Gate).
	Gate *Gate `json:"gate,omitempty"`
	// Note says in words where the edit came from (the anchored-bias rule with its tokens
	// and alphas, ROME's request), Provenance the command and data that made it.
	Note       string `json:"note,omitempty"`
	Provenance string `json:"provenance,omitempty"`
}

// IsRuntime reports whether the edit is a run-time intervention (not a weight edit).
func (e Edit) IsRuntime() bool { return e.runtime() }

func (e Edit) runtime() bool {
	return e.Kind == KindSteer || e.Kind == KindAblate || e.Kind == KindAttention || e.Kind == KindClamp
}

// String is the one-line description recorded in gpt2.Model.Edits and shown by `edit show`.
func (e Edit) String() string {
	var b strings.Builder
	b.WriteString(e.Kind)
	switch e.Kind {
	case KindValueVector:
		fmt.Fprintf(&b, " L%d N%d %s", e.Layer, e.Neurons[0], e.Mode)
	case KindScaleNeuron:
		fmt.Fprintf(&b, " L%d N%d ×%g", e.Layer, e.Neurons[0], *e.Factor)
	case KindScaleHead:
		fmt.Fprintf(&b, " L%dH%d ×%g", e.Layer, *e.Head, *e.Factor)
	case KindProjectOut:
		if e.Head != nil {
			fmt.Fprintf(&b, " L%dH%d", e.Layer, *e.Head)
		} else {
			fmt.Fprintf(&b, " L%d neurons %s", e.Layer, joinInts(e.Neurons))
		}
	case KindRankOne:
		fmt.Fprintf(&b, " L%d %s", e.Layer, e.Matrix)
	case KindSteer:
		fmt.Fprintf(&b, " %s α=%g%s", e.Hook, e.Alpha, posText(e.Positions))
		if e.Gate != nil {
			b.WriteString(e.Gate.String())
		}
	case KindAblate:
		fmt.Fprintf(&b, " %s", e.Hook)
		if e.Head != nil {
			fmt.Fprintf(&b, " head %d", *e.Head)
		}
		fmt.Fprintf(&b, " %s%s", e.Mode, posText(e.Positions))
	case KindClamp:
		b.WriteString(e.clampString())
	case KindAttention:
		fmt.Fprintf(&b, " L%dH%d %s", e.Layer, *e.Head, e.Mode)
		if e.Mode == "scale" {
			fmt.Fprintf(&b, " ×%g", *e.Factor)
		}
		if e.Letters {
			b.WriteString(" on the option letters")
		} else {
			fmt.Fprintf(&b, " keys %s", joinInts(e.Positions))
		}
	}
	if e.Note != "" {
		fmt.Fprintf(&b, " (%s)", e.Note)
	}
	return b.String()
}

func posText(p []int) string {
	if len(p) == 0 {
		return ""
	}
	return " at " + joinInts(p)
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}

// check validates the fields a kind needs, without a model.
func (e Edit) check() error {
	need := func(ok bool, field, why string) error {
		if !ok {
			return fmt.Errorf("%s: %s %s", e.Kind, field, why)
		}
		return nil
	}
	finite := func(xs []float32, field string) error {
		for i, x := range xs {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("%s: %s[%d] is not finite", e.Kind, field, i)
			}
		}
		return nil
	}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	switch e.Kind {
	case KindValueVector:
		add(need(len(e.Neurons) == 1, "neurons", "must name one neuron"))
		add(need(e.Mode == "set" || e.Mode == "add", "mode", `must be "set" or "add"`))
		add(need(len(e.Vector) > 0, "vector", "is missing"))
		add(finite(e.Vector, "vector"))
	case KindScaleNeuron:
		add(need(len(e.Neurons) == 1, "neurons", "must name one neuron"))
		add(need(e.Factor != nil && isFinite(*e.Factor), "factor", "must be a finite number in float32's range"))
	case KindScaleHead:
		add(need(e.Head != nil, "head", "is missing"))
		add(need(e.Factor != nil && isFinite(*e.Factor), "factor", "must be a finite number in float32's range"))
	case KindProjectOut:
		add(need((e.Head != nil) != (len(e.Neurons) > 0), "head or neurons", "must be given, not both"))
		add(need(len(e.Vector) > 0, "vector", "(the direction) is missing"))
		add(finite(e.Vector, "vector"))
		// A constant vector centers to zero: projecting it out would change nothing.
		add(need(len(e.Vector) == 0 || slices.ContainsFunc(e.Vector, func(x float32) bool { return x != e.Vector[0] }),
			"vector", "(the direction) is zero once centered"))
	case KindRankOne:
		add(need(slices.Contains([]string{gpt2.MatrixWOut, gpt2.MatrixWIn, gpt2.MatrixWO}, e.Matrix), "matrix",
			fmt.Sprintf("must be %s, %s or %s", gpt2.MatrixWOut, gpt2.MatrixWIn, gpt2.MatrixWO)))
		add(need(len(e.U) > 0 && len(e.V) > 0, "u and v", "are needed"))
		add(finite(e.U, "u"))
		add(finite(e.V, "v"))
	case KindSteer:
		add(need(e.Hook != "", "hook", "is missing"))
		add(need(len(e.Vector) > 0, "vector", "is missing"))
		add(need(isFinite(e.Alpha), "alpha", "must be a finite number in float32's range"))
		add(finite(e.Vector, "vector"))
		// What steer adds, float32(α)·v, must be finite too.
		add(need(!slices.ContainsFunc(e.Vector, func(x float32) bool { return math.IsInf(float64(float32(e.Alpha)*x), 0) }),
			"alpha", "times the vector passes float32's range"))
	case KindAblate:
		add(need(e.Hook != "", "hook", "is missing"))
		add(need(e.Mode == "zero" || e.Mode == "mean", "mode", `must be "zero" or "mean"`))
	case KindAttention:
		add(need(e.Head != nil, "head", "is missing"))
		add(need(e.Mode == "scale" || e.Mode == "swap", "mode", `must be "scale" or "swap"`))
		add(need(e.Mode != "scale" || (e.Factor != nil && isFinite(*e.Factor) && *e.Factor >= 0), "factor", "must be a number ≥ 0 in float32's range"))
		add(need(e.Letters || len(e.Positions) > 0, "positions", "are needed (or letters)"))
		add(need(e.Mode != "swap" || e.Letters || len(e.Positions) == 2, "positions", "must be two keys to swap"))
	case KindClamp:
		add(e.checkClamp())
	default:
		return fmt.Errorf("kind %q is not known (known: %s)", e.Kind, strings.Join(Kinds, ", "))
	}
	add(e.checkGate())
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// isFinite reports whether x is finite as the float32 an edit applies it as: 1e39 would
// scale weights or add to activations as +Inf, and every output would be NaN.
func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(float64(float32(x)), 0) }

// validate checks the edit against m: layers, neurons and heads in range, vectors of the
// right size, hook points that exist.
func (e Edit) validate(m *gpt2.Model) error {
	if err := e.check(); err != nil {
		return err
	}
	c := m.Config
	if !e.runtime() || e.Kind == KindAttention {
		if e.Layer < 0 || e.Layer >= c.NLayers {
			return fmt.Errorf("%s: layer %d is outside [0, %d)", e.Kind, e.Layer, c.NLayers)
		}
	}
	for _, n := range e.Neurons {
		if n < 0 || n >= c.DMLP {
			return fmt.Errorf("%s: neuron %d is outside [0, %d)", e.Kind, n, c.DMLP)
		}
	}
	if e.Head != nil && (*e.Head < 0 || *e.Head >= c.NHeads) {
		return fmt.Errorf("%s: head %d is outside [0, %d)", e.Kind, *e.Head, c.NHeads)
	}
	size := func(field string, xs []float32, want int) error {
		if len(xs) != want {
			return fmt.Errorf("%s: %s has %d values, want %d", e.Kind, field, len(xs), want)
		}
		return nil
	}
	switch e.Kind {
	case KindValueVector, KindProjectOut:
		return size("vector", e.Vector, c.DModel)
	case KindRankOne:
		p, err := m.Matrix(e.Layer, e.Matrix)
		if err != nil {
			return err
		}
		if err := size("u", e.U, p.K); err != nil {
			return err
		}
		return size("v", e.V, p.N)
	case KindSteer, KindAblate, KindClamp:
		names, err := gpt2.MatchHooks(c, e.Hook)
		if err != nil || len(names) != 1 || names[0] != e.Hook || e.Hook == gpt2.HookLogits {
			return fmt.Errorf("%s: hook %q is not one writable hook point of this model (e.g. %s)", e.Kind, e.Hook, gpt2.ResidPost(0))
		}
		if e.Head != nil && !headHook(e.Hook) {
			return fmt.Errorf("%s: head %d given, but %s has no head dimension", e.Kind, *e.Head, e.Hook)
		}
		if e.Kind == KindSteer || e.Kind == KindClamp {
			if headHook(e.Hook) && e.Head == nil {
				return fmt.Errorf("%s: %s needs a head", e.Kind, e.Hook)
			}
			if w := hookWidth(c, e.Hook); len(e.Vector) != w {
				return fmt.Errorf("%s: vector has %d values, want %d (the last dimension of %s)", e.Kind, len(e.Vector), w, e.Hook)
			}
		}
		return e.validateGate(c)
	case KindAttention:
		if e.Letters && m.Tokenizer == nil {
			return fmt.Errorf("%s: letters: the model has no tokenizer to find the options with", e.Kind)
		}
	}
	return nil
}

// Portable refuses an edit made under processing from that would not give the same function
// applied under processing to. Processing changes what reads the residual stream (fold_ln
// folds each layer norm into W_in, W_QKV and W_U) and moves constants around
// (center_writing_weights removes each written vector's mean, which the next layer norm
// removes anyway; fold_value_biases moves b_V·W_O into b_O); an edit of what a component
// writes survives the first two, not an edit of a reading matrix.
func Portable(e Edit, from, to []string) error {
	differs := func(step string) bool { return slices.Contains(from, step) != slices.Contains(to, step) }
	if !differs(gpt2.FoldLN) && !differs(gpt2.FoldValueBiases) && !differs(gpt2.CenterUnembed) && !differs(gpt2.CenterWritingWeights) {
		return nil
	}
	refuse := func(step, why string) error {
		return fmt.Errorf("%s was made with%s %s and cannot be applied exactly without it: %s",
			e, map[bool]string{true: "", false: "out"}[slices.Contains(from, step)], step, why)
	}
	headWrite := e.Kind == KindScaleHead || (e.Kind == KindProjectOut && e.Head != nil) || (e.Kind == KindRankOne && e.Matrix == gpt2.MatrixWO)
	switch {
	case headWrite && differs(gpt2.FoldValueBiases):
		return refuse(gpt2.FoldValueBiases, "it moves each head's value bias into b_O, which the edit does not touch")
	case e.Kind == KindRankOne && e.Matrix == gpt2.MatrixWIn && differs(gpt2.FoldLN):
		return refuse(gpt2.FoldLN, "W_in reads ln_2's output, which fold_ln folds into it")
	case (e.Kind == KindSteer || e.Kind == KindAblate || e.Kind == KindClamp) && differs(gpt2.FoldLN) && strings.Contains(e.Hook, "hook_normalized"):
		return refuse(gpt2.FoldLN, "a layer norm's output differs by its weight and bias")
	case (e.Kind == KindSteer || e.Kind == KindAblate || e.Kind == KindClamp) && differs(gpt2.FoldValueBiases) && valueHook(e.Hook):
		return refuse(gpt2.FoldValueBiases, "the values and what heads write differ by the value bias")
	}
	return nil
}

// headHook reports whether a hook point has a head dimension ([T, H, …] or [H, T, Tk]).
func headHook(name string) bool {
	for _, s := range []string{"attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_z", "attn.hook_result", "attn.hook_pattern", "attn.hook_attn_scores"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

func valueHook(name string) bool {
	for _, s := range []string{"attn.hook_v", "attn.hook_z", "attn.hook_result", "hook_attn_out"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// hookWidth is the last dimension of a hook point's activation (per head for head hooks).
func hookWidth(c gpt2.Config, name string) int {
	switch {
	case strings.HasSuffix(name, "hook_scale"):
		return 1
	case strings.HasSuffix(name, "mlp.hook_pre"), strings.HasSuffix(name, "mlp.hook_post"):
		return c.DMLP
	case strings.HasSuffix(name, "attn.hook_q"), strings.HasSuffix(name, "attn.hook_k"), strings.HasSuffix(name, "attn.hook_v"), strings.HasSuffix(name, "attn.hook_z"):
		return c.DHead
	case strings.HasSuffix(name, "hook_pattern"), strings.HasSuffix(name, "hook_attn_scores"):
		return -1 // depends on the sequence: steering there is refused
	}
	return c.DModel
}
