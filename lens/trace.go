package lens

import (
	"fmt"

	"github.com/mechlens/mechlens/gpt2"
)

// TraceOptions choose what a Trace keeps beyond the embeddings, the residual stream and the
// MLP activations, which every trace keeps.
type TraceOptions struct {
	// AllLogits keeps the logits of every position (otherwise only the last one's): needed
	// to attribute the logit of an earlier position.
	AllLogits bool
	// Heads keeps each head's output (attn.hook_result), for direct logit attribution and the
	// head lens.
	Heads bool
	// Patterns keeps the attention patterns.
	Patterns bool
}

// Trace is one forward pass over one prompt with the activations the analyses read.
type Trace struct {
	IDs []int
	// Logits are [T, V] with AllLogits, else [V] of the last position.
	Logits    []float32
	AllLogits bool
	// Resid is the final residual stream [T, D], the input of ln_final.
	Resid []float32
	// Cache holds hook_embed, hook_pos_embed and, per block,
	// hook_resid_pre, hook_resid_mid, mlp.hook_post and hook_mlp_out; attn.hook_result and
	// attn.hook_pattern when asked for.
	Cache gpt2.Cache
}

// Trace runs the model over ids and keeps what the analyses need.
func (a *Analyzer) Trace(ids []int, o TraceOptions) (*Trace, error) {
	c := a.Model.Config
	names := []string{gpt2.HookEmbed, gpt2.HookPosEmbed}
	for l := 0; l < c.NLayers; l++ {
		names = append(names, gpt2.ResidPre(l), gpt2.ResidMid(l), gpt2.MLPPost(l), gpt2.MLPOut(l))
		if o.Heads {
			names = append(names, gpt2.HeadResult(l))
		}
		if o.Patterns {
			names = append(names, gpt2.Pattern(l))
		}
	}
	mode := gpt2.LogitsLast
	if o.AllLogits {
		mode = gpt2.LogitsAll
	}
	res, err := a.Model.Run([][]int{ids}, gpt2.RunOptions{Logits: mode, Cache: names, Context: a.Context})
	if err != nil {
		return nil, err
	}
	return &Trace{IDs: ids, Logits: res.Logits[0], AllLogits: o.AllLogits, Resid: res.Resid[0], Cache: res.Cache[0]}, nil
}

// T is the number of positions.
func (tr *Trace) T() int { return len(tr.IDs) }

// logitsAt returns the model's logits [V] at position pos.
func (tr *Trace) logitsAt(pos, V int) ([]float32, error) {
	if tr.AllLogits {
		return tr.Logits[pos*V : (pos+1)*V], nil
	}
	if pos != tr.T()-1 {
		return nil, fmt.Errorf("lens: the trace kept the logits of the last position only, not of position %d", pos)
	}
	return tr.Logits, nil
}

// get returns a cached activation or an error naming it.
func (tr *Trace) get(name string) ([]float32, error) {
	t, ok := tr.Cache[name]
	if !ok {
		return nil, fmt.Errorf("lens: the trace did not keep %s", name)
	}
	return t.Data, nil
}

// row returns row pos of a cached [T, w] activation.
func (tr *Trace) row(name string, pos, w int) ([]float32, error) {
	d, err := tr.get(name)
	if err != nil {
		return nil, err
	}
	return d[pos*w : (pos+1)*w], nil
}

// finalScale returns ln_final's scale at pos, √(var + eps) of the final residual, in
// float64 as the forward pass computes it (the cached hook_scale is rounded to float32).
func (tr *Trace) finalScale(pos int, c gpt2.Config) float64 {
	x := tr.Resid[pos*c.DModel : (pos+1)*c.DModel]
	var sum float64
	for _, v := range x {
		sum += float64(v)
	}
	return ownScale(x, sum/float64(len(x)), c.LNEps)
}

// Position resolves pos (negative counts from the end: −1 is the last) against the trace.
func (tr *Trace) Position(pos int) (int, error) {
	return resolvePos(pos, tr.T())
}

func resolvePos(pos, T int) (int, error) {
	p := pos
	if p < 0 {
		p += T
	}
	if p < 0 || p >= T {
		return 0, fmt.Errorf("lens: position %d is outside the prompt's %d tokens", pos, T)
	}
	return p, nil
}
