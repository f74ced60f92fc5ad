package lens

import (
	"fmt"
	"math"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/tensor"
)

// Norm is how the logit lens normalizes a residual-stream vector before the unembedding.
type Norm string

const (
	// NormOwn passes each vector through ln_final with its own mean and variance: the usual
	// logit lens, what the model would predict if the stream stopped there.
	NormOwn Norm = "own"
	// NormFinalScale centers each vector and divides it by the scale ln_final applies to the
	// final residual at that position: the lens is then affine in the stream, so the
	// changes from one layer to the next are exactly the contributions of the blocks
	// between them (the direct logit attribution's normalization).
	NormFinalScale Norm = "final-scale"
)

// ParseNorm checks a normalization's name.
func ParseNorm(s string) (Norm, error) {
	switch n := Norm(s); n {
	case NormOwn, NormFinalScale:
		return n, nil
	}
	return "", fmt.Errorf("lens: unknown normalization %q (own, final-scale)", s)
}

// LensOptions choose what the logit lens reports.
type LensOptions struct {
	Norm Norm // "" is NormOwn
	// TopK tokens of highest probability are listed per vector.
	TopK int
	// Targets are tokens whose logit, probability and rank are reported per vector.
	Targets []int
	// Positions to read (negative counts from the end); nil reads every position.
	Positions []int
	// Mid adds each block's resid_mid (after attention, before the MLP) to its resid_pre.
	Mid bool
}

// TokenProb is a token with its logit and probability under one distribution.
type TokenProb struct {
	Token
	Logit float64 `json:"logit"`
	Prob  float64 `json:"prob"`
}

// TargetStat is a chosen token's logit, probability and rank (1 = most likely).
type TargetStat struct {
	Token
	Logit float64 `json:"logit"`
	Prob  float64 `json:"prob"`
	Rank  int     `json:"rank"`
}

// LensRow is the lens of one residual-stream vector.
type LensRow struct {
	Point   string       `json:"point"` // the hook point read
	Layer   int          `json:"layer"` // its block; n_layers for the final residual
	Pos     int          `json:"pos"`
	Top     []TokenProb  `json:"top"`
	Targets []TargetStat `json:"targets"`
	Entropy float64      `json:"entropy"`     // nats
	KL      float64      `json:"kl_to_final"` // KL(final ‖ this) in nats
}

// LogitLens is the lens of every chosen point and position.
type LogitLens struct {
	Norm Norm `json:"norm"`
	// Points in forward order: blocks.L.hook_resid_pre (and hook_resid_mid) of each block,
	// then the final residual blocks.{n_layers-1}.hook_resid_post.
	Points    []string  `json:"points"`
	Positions []int     `json:"positions"`
	Rows      []LensRow `json:"rows"` // point-major: Rows[i·len(Positions)+j]
}

// lensPoint is one place of the residual stream the lens reads.
type lensPoint struct {
	name  string
	layer int
	data  []float32 // [T, D]
}

// maxLensFloats bounds the logits buffer of one batched projection (64 MB).
const maxLensFloats = 1 << 24

// LogitLens projects the residual stream at every layer boundary and chosen position onto
// the vocabulary. All vectors are normalized, then multiplied by W_U in batched GEMMs of up
// to maxLensFloats logits (one GEMM for short prompts).
func (a *Analyzer) LogitLens(tr *Trace, o LensOptions) (*LogitLens, error) {
	c := a.Model.Config
	D, V := c.DModel, c.DVocab
	norm := o.Norm
	if norm == "" {
		norm = NormOwn
	}
	if _, err := ParseNorm(string(norm)); err != nil {
		return nil, err
	}
	for _, t := range o.Targets {
		if err := a.checkToken("target", t); err != nil {
			return nil, err
		}
	}
	var points []lensPoint
	for l := 0; l < c.NLayers; l++ {
		for _, name := range []string{gpt2.ResidPre(l), gpt2.ResidMid(l)} {
			if name == gpt2.ResidMid(l) && !o.Mid {
				continue
			}
			d, err := tr.get(name)
			if err != nil {
				return nil, err
			}
			points = append(points, lensPoint{name, l, d})
		}
	}
	points = append(points, lensPoint{gpt2.ResidPost(c.NLayers - 1), c.NLayers, tr.Resid})
	final := len(points) - 1
	positions := o.Positions
	if positions == nil {
		for t := range tr.T() {
			positions = append(positions, t)
		}
	}
	pos := make([]int, len(positions))
	for j, p := range positions {
		var err error
		if pos[j], err = tr.Position(p); err != nil {
			return nil, err
		}
	}
	out := &LogitLens{Norm: norm, Positions: pos, Rows: make([]LensRow, len(points)*len(pos))}
	for _, p := range points {
		out.Points = append(out.Points, p.name)
	}
	P := len(points)
	us := make([][]float32, len(o.Targets)) // W_U[:, t] of each target
	for k, t := range o.Targets {
		us[k] = a.Model.UnembeddingVector(t)
	}
	// Rows are position-major inside a batch, so that each position's final distribution,
	// which the KL of its other rows needs, is computed in the same batch.
	perBatch := max(1, maxLensFloats/(V*P))
	vecs := make([]float32, min(perBatch, len(pos))*P*D)   // [R, D]
	logits := make([]float32, min(perBatch, len(pos))*P*V) // [R, V]
	scratch := make([][]float32, tensor.Workers(len(pos)*P))
	for i := range scratch {
		scratch[i] = make([]float32, V)
	}
	for j0 := 0; j0 < len(pos); j0 += perBatch {
		js := pos[j0:min(j0+perBatch, len(pos))]
		R := len(js) * P
		for jj, t := range js {
			s := 0.0
			if norm == NormFinalScale {
				s = tr.finalScale(t, c)
			}
			for i, p := range points {
				r := jj*P + i
				a.lnFinal(vecs[r*D:(r+1)*D], p.data[t*D:(t+1)*D], s)
			}
		}
		a.project(logits, vecs, R, true)
		finals := make([]finalDist, len(js))
		tensor.ParallelWorkers(len(js), func(w, jj int) {
			r := jj*P + final
			row := &out.Rows[final*len(pos)+j0+jj]
			finals[jj] = a.lensRow(row, logits[r*V:(r+1)*V], vecs[r*D:(r+1)*D], scratch[w], us, o, nil)
		})
		tensor.ParallelWorkers(len(js)*(P-1), func(w, k int) {
			jj, i := k/(P-1), k%(P-1)
			r := jj*P + i
			a.lensRow(&out.Rows[i*len(pos)+j0+jj], logits[r*V:(r+1)*V], vecs[r*D:(r+1)*D], scratch[w], us, o, &finals[jj])
		})
		for jj, t := range js {
			for i, p := range points {
				row := &out.Rows[i*len(pos)+j0+jj]
				row.Point, row.Layer, row.Pos = p.name, p.layer, t
			}
		}
	}
	return out, nil
}

// finalDist is the final distribution at one position, which each layer's KL compares to.
type finalDist struct {
	probs []float32 // [V] pf
	pf    float64   // Σ pf·f, f the final logits
	lse   float64   // log Σ exp f
}

// lensRow fills row's statistics from the logits x [V] of one vector y [D] (already through
// ln_final), using p [V] as scratch; us are the targets' unembedding columns. With final nil,
// x is the final distribution itself (KL 0), which is returned. Target logits are computed
// from y in float64 (LensLogit's arithmetic, so the audit's lens reproduces them exactly);
// the batched product's float32 logits, which rank every token, can differ from them in the
// seventh digit.
func (a *Analyzer) lensRow(row *LensRow, x, y, p []float32, us [][]float32, o LensOptions, final *finalDist) finalDist {
	top := topK(x, max(o.TopK, 1), false)
	m := float64(x[top[0]])
	lse := tensor.Softmax(p, x)
	logZ := lse - m
	// Σ p·(x − m) = Σ p·x − m·Σ p, and Σ pf·(f − x) = Σ pf·f − Σ pf·x: products of two
	// float32 are exact in float64, so the sums lose nothing worth mentioning and each is one
	// simple pass over the vocabulary.
	row.Entropy = logZ - (dot64(p, x) - m*tensor.Sum64(p))
	if final != nil {
		// KL(final ‖ this) = Σ pf·(f − x) − lse_f + lse.
		row.KL = max(0, final.pf-dot64(final.probs, x)-final.lse+lse)
	}
	top = top[:min(o.TopK, len(top))]
	row.Top = make([]TokenProb, 0, len(top))
	for _, t := range top {
		row.Top = append(row.Top, TokenProb{a.Token(t), float64(x[t]), math.Exp(float64(x[t]) - lse)})
	}
	row.Targets = make([]TargetStat, 0, len(o.Targets))
	for k, t := range o.Targets {
		logit := a.unembedLogit(y, t, us[k])
		row.Targets = append(row.Targets, TargetStat{a.Token(t), logit, math.Exp(logit - lse), rank(x, t)})
	}
	if final != nil {
		return finalDist{}
	}
	// The final row's KL to itself is 0 by definition (the formula would leave rounding).
	probs := append([]float32(nil), p...)
	return finalDist{probs: probs, pf: dot64(probs, x), lse: lse}
}

// rank returns 1 + the number of logits larger than x[t]: 1 is the most likely token.
func rank(x []float32, t int) int {
	v, r := x[t], 1
	for _, y := range x {
		if y > v {
			r++
		}
	}
	return r
}
