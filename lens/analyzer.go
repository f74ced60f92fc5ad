package lens

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/tensor"
)

// Analyzer runs the analyses of one model. It measures value vectors on first use and keeps
// them until the model's weights change (gpt2.Model.Version), so several analyses of one
// model pay for that once and none sees stale numbers after an edit. Its methods are safe
// for concurrent use; the model's weights must not change while one runs.
type Analyzer struct {
	Model *gpt2.Model
	// Context, when set, cancels the analyses' forward passes (checked between blocks): they
	// then return its error.
	Context context.Context

	statsMu      sync.Mutex
	statsVersion uint64      // the model's Version when norms and scales were measured
	norms        [][]float64 // [L][M] ‖W_out_L[i]‖₂
	scales       [][]float64 // [L][M] √(var(W_out_L[i]) + eps)
}

// New returns an Analyzer of m.
func New(m *gpt2.Model) *Analyzer { return &Analyzer{Model: m} }

// project sets logits [R, V] = vecs [R, D]·W_U (+ b_U when withBias), all rows in one
// product with the model's packed unembedding.
func (a *Analyzer) project(logits, vecs []float32, R int, withBias bool) {
	c := a.Model.Config
	var bias []float32
	if withBias {
		bias = a.Model.Params.LMHeadB
	}
	tensor.MatMul(logits[:R*c.DVocab], vecs[:R*c.DModel], R, a.Model.Unembedding(), bias)
}

// valueStats returns, for every layer and neuron, ‖W_out_L[i]‖₂ and the scale ln_final
// gives the value vector alone, √(var(W_out_L[i]) + eps).
func (a *Analyzer) valueStats() (norms, scales [][]float64) {
	a.statsMu.Lock()
	defer a.statsMu.Unlock()
	if a.norms == nil || a.statsVersion != a.Model.Version() {
		a.statsVersion = a.Model.Version()
		c := a.Model.Config
		D := c.DModel
		a.norms = make([][]float64, c.NLayers)
		a.scales = make([][]float64, c.NLayers)
		tensor.ParallelFor(c.NLayers, func(l int) {
			n, s := make([]float64, c.DMLP), make([]float64, c.DMLP)
			v := make([]float32, D)
			for i := range n {
				a.Model.WOut(l).Row(i, v)
				n[i] = math.Sqrt(dot64(v, v))
				var sum float64
				for _, x := range v {
					sum += float64(x)
				}
				s[i] = ownScale(v, sum/float64(D), c.LNEps)
			}
			a.norms[l], a.scales[l] = n, s
		})
	}
	return a.norms, a.scales
}

// Token is a vocabulary entry: its id and its text (e.g. " A").
type Token struct {
	ID   int    `json:"id"`
	Text string `json:"text"`
}

// Token returns id with its text ("#id" when the model has no tokenizer).
func (a *Analyzer) Token(id int) Token {
	if a.Model.Tokenizer == nil {
		return Token{ID: id, Text: fmt.Sprintf("#%d", id)}
	}
	return Token{ID: id, Text: a.Model.Tokenizer.TokenText(id)}
}

// Tokens returns the tokens of ids.
func (a *Analyzer) Tokens(ids []int) []Token {
	out := make([]Token, len(ids))
	for i, id := range ids {
		out[i] = a.Token(id)
	}
	return out
}

// checkToken errors unless id is in the vocabulary.
func (a *Analyzer) checkToken(what string, id int) error {
	if id < 0 || id >= a.Model.Config.DVocab {
		return fmt.Errorf("lens: %s token id %d is outside the vocabulary [0, %d)", what, id, a.Model.Config.DVocab)
	}
	return nil
}

// unembedRow returns W_U[:, t] ([D], a copy).
func (a *Analyzer) unembedRow(t int) []float32 { return a.Model.UnembeddingVector(t) }

// unembedBias returns b_U[t], 0 when the model has no unembedding bias (raw weights).
func (a *Analyzer) unembedBias(t int) float64 {
	if b := a.Model.Params.LMHeadB; b != nil {
		return float64(b[t])
	}
	return 0
}

// lnFinal sets dst [D] = ln_final(v) = (v − mean(v))/s·w + b with ln_final's weight w and
// bias b (1 and 0 after fold_ln). With s = 0 the vector is normalized by its own statistics,
// s = √(var(v) + eps), the usual logit lens; otherwise by the given scale. The arithmetic is
// the forward pass's, so the final residual's lens is bitwise the model's normalized stream.
func (a *Analyzer) lnFinal(dst, v []float32, s float64) {
	p := a.Model.Params
	var sum float64
	for _, x := range v {
		sum += float64(x)
	}
	mean := sum / float64(len(v))
	if s == 0 {
		s = ownScale(v, mean, a.Model.Config.LNEps)
	}
	inv := 1 / s
	for j, x := range v {
		dst[j] = float32((float64(x)-mean)*inv)*p.LnFW[j] + p.LnFB[j]
	}
}

// ownScale returns √(var(v) + eps) of v with mean mean, in the forward pass's arithmetic.
func ownScale(v []float32, mean float64, eps float32) float64 {
	var ss float64
	for _, x := range v {
		d := float64(x) - mean
		ss += d * d
	}
	return math.Sqrt(ss/float64(len(v)) + float64(eps))
}

// lensLogit returns the logit lens of v for token t with ln_final's own statistics:
// W_U[:, t]·ln_final(v) + b_U[t], given u = W_U[:, t]. This is the anchored-bias paper's
// "MLP lens" when v is an MLP output, and its neuron and head lens for a neuron's or a
// head's output.
func (a *Analyzer) lensLogit(v []float32, t int, u, scratch []float32) float64 {
	a.lnFinal(scratch, v, 0)
	return dot64(u, scratch) + a.unembedBias(t)
}

// direction returns the vector c [D] such that a residual-stream part p contributes c·p/s to
// the logit of target (minus baseline when baseline ≥ 0) through ln_final at scale s:
// c = w∘(W_U[:, target] − W_U[:, baseline]) centered over d_model, since ln_final subtracts
// the mean of the whole stream and the mean of a sum is the sum of the means. It also
// returns the constant the parts leave out: (W_U[:, t] − W_U[:, b])·ln_final.b + b_U[t] − b_U[b].
func (a *Analyzer) direction(target, baseline int) (c []float64, lnBias, unembedBias float64) {
	p, D := a.Model.Params, a.Model.Config.DModel
	c = make([]float64, D)
	ut := a.unembedRow(target)
	var ub []float32
	if baseline >= 0 {
		ub = a.unembedRow(baseline)
	}
	var mean float64
	for k := range c {
		d := float64(ut[k])
		if ub != nil {
			d -= float64(ub[k])
		}
		lnBias += d * float64(p.LnFB[k])
		c[k] = d * float64(p.LnFW[k])
		mean += c[k]
	}
	mean /= float64(D)
	for k := range c {
		c[k] -= mean
	}
	unembedBias = a.unembedBias(target)
	if baseline >= 0 {
		unembedBias -= a.unembedBias(baseline)
	}
	return c, lnBias, unembedBias
}

// dot64 returns Σ a[i]·b[i] accumulated in float64 (each product of two float32 is exact).
func dot64(a, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += float64(a[i]) * float64(b[i])
		s1 += float64(a[i+1]) * float64(b[i+1])
		s2 += float64(a[i+2]) * float64(b[i+2])
		s3 += float64(a[i+3]) * float64(b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += float64(a[i]) * float64(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// dotMixed returns Σ a[i]·c[i] for a float32 vector and a float64 direction.
func dotMixed(a []float32, c []float64) float64 {
	c = c[:len(a)]
	var s float64
	for i, v := range a {
		s += float64(v) * c[i]
	}
	return s
}

// topK returns the indices of the k largest values of x (the k smallest when smallest),
// best first; ties go to the lower index.
func topK[F float32 | float64](x []F, k int, smallest bool) []int {
	k = min(k, len(x))
	if k <= 0 {
		return nil
	}
	sign := F(1)
	if smallest {
		sign = -1
	}
	top := make([]int, 0, k) // indices, best first
	// A value enters the list only if it beats the worst kept one: one compare per element
	// for all but a few.
	for i, v := range x {
		v *= sign
		if len(top) == k && v <= sign*x[top[k-1]] {
			continue
		}
		// Insert after every kept value at least as good (ties keep index order).
		j := len(top)
		for j > 0 && v > sign*x[top[j-1]] {
			j--
		}
		if len(top) < k {
			top = append(top, 0)
		}
		copy(top[j+1:], top[j:len(top)-1])
		top[j] = i
	}
	return top
}
