package lens

import (
	"fmt"
	"github.com/mechlens/mechlens/internal/tensor"

	"github.com/mechlens/mechlens/gpt2"
)

// Part kinds of a direct logit attribution.
const (
	PartEmbed       = "embed"         // token embedding W_E[token]
	PartPosEmbed    = "pos_embed"     // positional embedding W_pos[pos]
	PartHead        = "head"          // one head's output, attn.hook_result (without b_O)
	PartAttnBias    = "attn_bias"     // the attention output bias b_O of a block
	PartMLP         = "mlp"           // a block's MLP output, hook_mlp_out (with b_out)
	PartLnFinalBias = "ln_final_bias" // ln_final.b through W_U (0 after fold_ln)
	PartUnembedBias = "unembed_bias"  // b_U (absent before fold_ln)
)

// Part is one term of a direct logit attribution.
type Part struct {
	Name  string  `json:"name"` // embed, pos_embed, L3H5, L3.b_O, L3.mlp, ln_final.b, b_U
	Kind  string  `json:"kind"`
	Layer int     `json:"layer"` // −1 when the part belongs to no block
	Head  int     `json:"head"`  // −1 unless Kind is head
	Value float64 `json:"value"`
}

// Attribution decomposes the logit of a target token (minus that of a baseline token) at one
// position into the direct contributions of everything written to the residual stream.
type Attribution struct {
	Pos      int    `json:"pos"`
	Target   Token  `json:"target"`
	Baseline *Token `json:"baseline"` // nil: the target's logit alone
	// Logit is the model's own logit (difference) at Pos.
	Logit float64 `json:"logit"`
	// Scale is ln_final's scale at Pos, √(var + eps) of the final residual, by which every
	// part is divided.
	Scale float64 `json:"scale"`
	Parts []Part  `json:"parts"`
	Sum   float64 `json:"sum"` // Σ parts: equals Logit up to float32 rounding
}

// Attribute computes the direct logit attribution of target (minus baseline when baseline
// ≥ 0) at position pos (negative counts from the end). With the final residual x = Σ parts
// and ln_final(x) = w∘(x − mean x)/s + b, the logit difference is
//
//	Σ_parts c·part/s + (W_U[:,t] − W_U[:,b])·b + b_U[t] − b_U[b],  c = w∘(W_U[:,t] − W_U[:,b]) centered,
//
// so the parts, with the two constants, sum to the model's logit difference exactly up to
// rounding, on raw and processed weights alike. The trace must keep the heads.
func (a *Analyzer) Attribute(tr *Trace, pos, target, baseline int) (*Attribution, error) {
	c := a.Model.Config
	D, V := c.DModel, c.DVocab
	if err := a.checkPair(target, baseline); err != nil {
		return nil, err
	}
	pos, err := tr.Position(pos)
	if err != nil {
		return nil, err
	}
	logits, err := tr.logitsAt(pos, V)
	if err != nil {
		return nil, err
	}
	dir, lnBias, ubias := a.direction(target, baseline)
	s := tr.finalScale(pos, c)
	at := &Attribution{Pos: pos, Target: a.Token(target), Scale: s, Logit: float64(logits[target])}
	if baseline >= 0 {
		b := a.Token(baseline)
		at.Baseline = &b
		at.Logit -= float64(logits[baseline])
	}
	add := func(name, kind string, layer, head int, v []float32) {
		at.Parts = append(at.Parts, Part{name, kind, layer, head, dotMixed(v, dir) / s})
	}
	for _, h := range []struct{ name, kind string }{{gpt2.HookEmbed, PartEmbed}, {gpt2.HookPosEmbed, PartPosEmbed}} {
		v, err := tr.row(h.name, pos, D)
		if err != nil {
			return nil, err
		}
		add(h.kind, h.kind, -1, -1, v)
	}
	for l := 0; l < c.NLayers; l++ {
		res, err := tr.row(gpt2.HeadResult(l), pos, c.NHeads*D) // [H, D]
		if err != nil {
			return nil, err
		}
		for h := 0; h < c.NHeads; h++ {
			add(fmt.Sprintf("L%dH%d", l, h), PartHead, l, h, res[h*D:(h+1)*D])
		}
		add(fmt.Sprintf("L%d.b_O", l), PartAttnBias, l, -1, a.Model.Params.Blocks[l].AttnProjB)
		mlp, err := tr.row(gpt2.MLPOut(l), pos, D)
		if err != nil {
			return nil, err
		}
		add(fmt.Sprintf("L%d.mlp", l), PartMLP, l, -1, mlp)
	}
	at.Parts = append(at.Parts,
		Part{"ln_final.b", PartLnFinalBias, -1, -1, lnBias},
		Part{"b_U", PartUnembedBias, -1, -1, ubias})
	for _, p := range at.Parts {
		at.Sum += p.Value
	}
	return at, nil
}

// checkPair checks a target token and an optional baseline (−1 for none).
func (a *Analyzer) checkPair(target, baseline int) error {
	if err := a.checkToken("target", target); err != nil {
		return err
	}
	if baseline == -1 {
		return nil
	}
	if err := a.checkToken("baseline", baseline); err != nil {
		return err
	}
	if baseline == target {
		return fmt.Errorf("lens: the baseline is the target token %d: their difference is 0", target)
	}
	return nil
}

// NeuronContribution is one MLP neuron's exact direct contribution to a logit (difference).
type NeuronContribution struct {
	Layer  int `json:"layer"`
	Neuron int `json:"neuron"`
	// Activation is the neuron's post-GELU activation at the position, the coefficient of
	// its value vector W_out[i].
	Activation float64 `json:"activation"`
	// Effect is the contribution per unit of activation, c·W_out[i]/s.
	Effect float64 `json:"effect"`
	// Contribution = Activation·Effect.
	Contribution float64 `json:"contribution"`
}

// LayerNeurons sums one block's neuron contributions.
type LayerNeurons struct {
	Layer int `json:"layer"`
	// MLP is the whole MLP output's direct contribution (the "L.mlp" part of Attribute).
	MLP float64 `json:"mlp"`
	// Bias is b_out's part; Neurons + Bias = MLP up to rounding.
	Bias    float64 `json:"bias"`
	Neurons float64 `json:"neurons"`
}

// NeuronAttribution lists the neurons that push a logit difference most either way.
type NeuronAttribution struct {
	Pos         int                  `json:"pos"`
	Target      Token                `json:"target"`
	Baseline    *Token               `json:"baseline"`
	Layers      []LayerNeurons       `json:"layers"`
	Promoters   []NeuronContribution `json:"promoters"`   // largest contributions first
	Suppressors []NeuronContribution `json:"suppressors"` // most negative first
}

// AttributeNeurons splits the MLP part of the direct logit attribution of the given layers
// into neurons: neuron i of block L contributes post_L[i]·(c·W_out_L[i])/s, with c and s as in
// Attribute. It returns the k strongest promoters and suppressors over all those layers.
func (a *Analyzer) AttributeNeurons(tr *Trace, layers []int, pos, target, baseline, k int) (*NeuronAttribution, error) {
	c := a.Model.Config
	D, M := c.DModel, c.DMLP
	if err := a.checkPair(target, baseline); err != nil {
		return nil, err
	}
	pos, err := tr.Position(pos)
	if err != nil {
		return nil, err
	}
	if len(layers) == 0 {
		return nil, fmt.Errorf("lens: no layer to attribute to neurons")
	}
	dir, _, _ := a.direction(target, baseline)
	s := tr.finalScale(pos, c)
	na := &NeuronAttribution{Pos: pos, Target: a.Token(target), Promoters: []NeuronContribution{}, Suppressors: []NeuronContribution{}}
	if baseline >= 0 {
		b := a.Token(baseline)
		na.Baseline = &b
	}
	var all []NeuronContribution
	for _, l := range layers {
		if l < 0 || l >= c.NLayers {
			return nil, fmt.Errorf("lens: layer %d is outside the model's %d layers", l, c.NLayers)
		}
		post, err := tr.row(gpt2.MLPPost(l), pos, M)
		if err != nil {
			return nil, err
		}
		mlp, err := tr.row(gpt2.MLPOut(l), pos, D)
		if err != nil {
			return nil, err
		}
		b := &a.Model.Params.Blocks[l]
		ln := LayerNeurons{Layer: l, MLP: dotMixed(mlp, dir) / s, Bias: dotMixed(b.ProjB, dir) / s}
		cs := make([]NeuronContribution, M)
		tensor.ParallelFor(M, func(i int) {
			v := make([]float32, D)
			a.Model.WOut(l).Row(i, v)
			eff := dotMixed(v, dir) / s
			cs[i] = NeuronContribution{l, i, float64(post[i]), eff, float64(post[i]) * eff}
		})
		for _, n := range cs {
			ln.Neurons += n.Contribution
		}
		na.Layers = append(na.Layers, ln)
		all = append(all, cs...)
	}
	contrib := make([]float64, len(all))
	for i, n := range all {
		contrib[i] = n.Contribution
	}
	for _, i := range topK(contrib, k, false) {
		if contrib[i] > 0 {
			na.Promoters = append(na.Promoters, all[i])
		}
	}
	for _, i := range topK(contrib, k, true) {
		if contrib[i] < 0 {
			na.Suppressors = append(na.Suppressors, all[i])
		}
	}
	return na, nil
}
