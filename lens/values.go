package lens

import (
	"fmt"

	"github.com/mechlens/mechlens/internal/tensor"
)

// TokenScore is a token with a score of some vector's vocabulary projection.
type TokenScore struct {
	Token
	Score float64 `json:"score"`
}

// ValueVector is the vocabulary projection of one MLP neuron's value vector W_out_L[i],
// the direction the neuron writes to the residual stream, scaled by its activation.
type ValueVector struct {
	Layer  int     `json:"layer"`
	Neuron int     `json:"neuron"`
	Norm   float64 `json:"norm"` // ‖W_out_L[i]‖₂
	// Top and Bottom rank tokens by W_U[:, t]·v, the raw projection (LM-Debugger's view).
	Top    []TokenScore `json:"top"`
	Bottom []TokenScore `json:"bottom"`
	// LensTop and LensBottom rank tokens by W_U[:, t]·ln_final(v) + b_U[t], the value
	// vector through the logit lens with its own statistics.
	LensTop    []TokenScore `json:"lens_top"`
	LensBottom []TokenScore `json:"lens_bottom"`
}

// checkNeuron errors unless layer.neuron exists.
func (a *Analyzer) checkNeuron(layer, neuron int) error {
	c := a.Model.Config
	if layer < 0 || layer >= c.NLayers {
		return fmt.Errorf("lens: neuron %d.%d: the model has layers 0..%d", layer, neuron, c.NLayers-1)
	}
	if neuron < 0 || neuron >= c.DMLP {
		return fmt.Errorf("lens: neuron %d.%d: layer %d has neurons 0..%d", layer, neuron, layer, c.DMLP-1)
	}
	return nil
}

// ValueVector projects W_out_L[i] onto the vocabulary and keeps the k top and bottom tokens,
// with and without ln_final.
func (a *Analyzer) ValueVector(layer, neuron, k int) (*ValueVector, error) {
	if err := a.checkNeuron(layer, neuron); err != nil {
		return nil, err
	}
	c := a.Model.Config
	D, V := c.DModel, c.DVocab
	v := make([]float32, D)
	a.Model.WOut(layer).Row(neuron, v)
	vecs := make([]float32, 2*D) // [2, D]: v, ln_final(v)
	copy(vecs, v)
	a.lnFinal(vecs[D:], v, 0)
	logits := make([]float32, 2*V) // [2, V]
	a.project(logits, vecs, 2, false)
	if b := a.Model.Params.LMHeadB; b != nil {
		for t := range V {
			logits[V+t] += b[t]
		}
	}
	norms, _ := a.valueStats()
	vv := &ValueVector{Layer: layer, Neuron: neuron, Norm: norms[layer][neuron]}
	vv.Top = a.tokenScores(logits[:V], k, false)
	vv.Bottom = a.tokenScores(logits[:V], k, true)
	vv.LensTop = a.tokenScores(logits[V:], k, false)
	vv.LensBottom = a.tokenScores(logits[V:], k, true)
	return vv, nil
}

// tokenScores returns the k highest (lowest when bottom) entries of x [V] as tokens.
func (a *Analyzer) tokenScores(x []float32, k int, bottom bool) []TokenScore {
	out := []TokenScore{}
	for _, t := range topK(x, k, bottom) {
		out = append(out, TokenScore{a.Token(t), float64(x[t])})
	}
	return out
}

// Promoter is a value vector scored against one token.
type Promoter struct {
	Layer  int `json:"layer"`
	Neuron int `json:"neuron"`
	// Logit is W_U[:, t]·W_out_L[i], the projection without ln_final.
	Logit float64 `json:"logit"`
	// Lens is W_U[:, t]·ln_final(W_out_L[i]) + b_U[t], the value vector's logit lens.
	Lens float64 `json:"lens"`
}

// PromoterSearch is the reverse search: the value vectors of the whole model that most
// promote (or suppress) one token.
type PromoterSearch struct {
	Token    Token      `json:"token"`
	By       string     `json:"by"`       // the score ranked: logit or lens
	Suppress bool       `json:"suppress"` // true: lowest scores first
	Neurons  []Promoter `json:"neurons"`
}

// Promoters scores every value vector of every layer against token: two dot products of each
// row of W_out (read from its packed panels, one layer per worker) with the directions
// W_U[:, t] and c give both scores, c being w∘W_U[:, t] centered over d_model, so that
// W_U[:, t]·ln_final(v) = c·v/σ(v) + W_U[:, t]·b.
// by is "logit" or "lens"; suppress ranks the lowest scores first.
func (a *Analyzer) Promoters(token, k int, by string, suppress bool) (*PromoterSearch, error) {
	if err := a.checkToken("promoted", token); err != nil {
		return nil, err
	}
	if by != "logit" && by != "lens" {
		return nil, fmt.Errorf("lens: unknown score %q (logit, lens)", by)
	}
	c := a.Model.Config
	D, M := c.DModel, c.DMLP
	dir, lnBias, ubias := a.direction(token, -1)
	dirs := make([]float32, 2*D) // [2, D]
	copy(dirs, a.unembedRow(token))
	for j, x := range dir {
		dirs[D+j] = float32(x)
	}
	_, scales := a.valueStats()
	all := make([]Promoter, c.NLayers*M)
	score := make([]float64, c.NLayers*M)
	tensor.ParallelFor(c.NLayers, func(l int) {
		v := make([]float32, D) // value vector i
		for i := range M {
			a.Model.WOut(l).Row(i, v)
			p := Promoter{l, i, float64(tensor.Dot(v, dirs[:D])), float64(tensor.Dot(v, dirs[D:]))/scales[l][i] + lnBias + ubias}
			all[l*M+i] = p
			score[l*M+i] = p.Logit
			if by == "lens" {
				score[l*M+i] = p.Lens
			}
		}
	})
	ps := &PromoterSearch{Token: a.Token(token), By: by, Suppress: suppress, Neurons: []Promoter{}}
	for _, i := range topK(score, k, suppress) {
		ps.Neurons = append(ps.Neurons, all[i])
	}
	return ps, nil
}
