package toy

import (
	"math"

	"github.com/mechlens/mechlens/gpt2"
)

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter), a linear warm-up, cosine
// decay to a floor, and clipping of the global gradient norm. Its state is float32, in the
// layout of the parameters; every reduction runs in a fixed order, so a step is
// deterministic.
type AdamW struct {
	LR           float64 // peak learning rate
	Beta1, Beta2 float64
	Eps          float64
	WeightDecay  float64 // applied to matrices and embeddings, not to biases and layer norms
	Warmup       int     // steps of linear warm-up
	Steps        int     // total steps; the cosine ends there
	MinLRFrac    float64 // the cosine decays to MinLRFrac·LR
	Clip         float64 // global gradient norm limit; 0: none

	m, v [][]float32
	t    int
}

// LRAt returns the learning rate of step (0-based).
func (o *AdamW) LRAt(step int) float64 {
	if step < o.Warmup {
		return o.LR * float64(step+1) / float64(o.Warmup)
	}
	span := max(o.Steps-o.Warmup, 1)
	frac := min(float64(step-o.Warmup)/float64(span), 1)
	floor := o.MinLRFrac * o.LR
	return floor + (o.LR-floor)*0.5*(1+math.Cos(math.Pi*frac))
}

// decayed reports whether a parameter tensor gets weight decay: only matrices do.
func decayed(name string, shape []int) bool { return len(shape) == 2 }

// Step updates p from the gradients g (same layout) and returns the gradient norm before
// clipping.
func (o *AdamW) Step(cfg gpt2.Config, p, g *gpt2.Params) float64 {
	names, shapes, ps := p.Named(cfg)
	_, _, gs := g.Named(cfg)
	if o.m == nil {
		o.m, o.v = make([][]float32, len(ps)), make([][]float32, len(ps))
		for i := range ps {
			o.m[i], o.v[i] = make([]float32, len(ps[i])), make([]float32, len(ps[i]))
		}
	}
	var ss float64
	for _, gi := range gs {
		for _, x := range gi {
			ss += float64(x) * float64(x)
		}
	}
	norm := math.Sqrt(ss)
	scale := 1.0
	if o.Clip > 0 && norm > o.Clip {
		scale = o.Clip / norm
	}
	lr := o.LRAt(o.t)
	o.t++
	bc1 := 1 - math.Pow(o.Beta1, float64(o.t))
	bc2 := 1 - math.Pow(o.Beta2, float64(o.t))
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	for i := range ps {
		wd := 0.0
		if decayed(names[i], shapes[i]) {
			wd = o.WeightDecay
		}
		pi, gi, mi, vi := ps[i], gs[i], o.m[i], o.v[i]
		for j := range pi {
			gj := gi[j] * float32(scale)
			mi[j] = b1*mi[j] + (1-b1)*gj
			vi[j] = b2*vi[j] + (1-b2)*gj*gj
			mh := float64(mi[j]) / bc1
			vh := float64(vi[j]) / bc2
			pi[j] = float32(float64(pi[j]) - lr*(mh/(math.Sqrt(vh)+o.Eps)+wd*float64(pi[j])))
		}
	}
	return norm
}
