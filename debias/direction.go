package debias

import (
	"context"
	"fmt"
	"math"

	"github.com/mechlens/mechlens/gpt2"
)

// gradBatch is how many prompts one backward pass takes (each runs once per option).
const gradBatch = 32

// AnchorGradients returns, per prompt, the gradient of logit(anchor) − mean logit(other
// options) at the last position with respect to the activation at hook (a [T, D] point, or
// attn.hook_z: then the [H·Dh] row), read at the last position: the direction the later
// layers read "answer the anchor" from; anchorAt[i] is prompt i's anchor option. It is exact: the softmax terms of
// the cross-entropies cancel, −∇CE(A) + mean ∇CE(other) = ∇(logit A − mean logit other).
func AnchorGradients(ctx context.Context, m *gpt2.Model, ps []Prompt, anchorAt []int, hook string) ([][]float32, error) {
	w := m.Weights()
	out := make([][]float32, len(ps))
	for b := 0; b < len(ps); b += gradBatch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch := ps[b:min(b+gradBatch, len(ps))]
		var rows []gpt2.TrainRow
		var owner []int
		for i, p := range batch {
			T, k := len(p.IDs), len(p.Letters)
			for j, id := range p.Letters {
				r := gpt2.TrainRow{IDs: p.IDs, Target: make([]int, T), Weight: make([]float32, T)}
				r.Target[T-1] = id
				if j == anchorAt[b+i] {
					r.Weight[T-1] = -1
				} else {
					r.Weight[T-1] = 1 / float32(k-1)
				}
				rows = append(rows, r)
				owner = append(owner, i)
			}
		}
		g, err := gpt2.Gradients(m.Config, w, rows, gpt2.GradOptions{ActGrads: []string{hook}, NoParamGrads: true})
		if err != nil {
			return nil, fmt.Errorf("debias: gradients at %s: %w", hook, err)
		}
		for r, i := range owner {
			t := g.ActGrads[r][hook]
			T := len(batch[i].IDs)
			width := len(t.Data) / T
			last := t.Data[(T-1)*width:]
			if out[b+i] == nil {
				out[b+i] = make([]float32, width)
			}
			for j, v := range last {
				out[b+i][j] += v
			}
		}
	}
	return out, nil
}

// meanVec is the mean of vectors, nil when there are none.
func meanVec(vs [][]float32) []float64 {
	if len(vs) == 0 {
		return nil
	}
	out := make([]float64, len(vs[0]))
	for _, v := range vs {
		for j, x := range v {
			out[j] += float64(x)
		}
	}
	for j := range out {
		out[j] /= float64(len(vs))
	}
	return out
}

// unit returns v/‖v‖ as float32 (nil for a zero vector).
func unit(v []float64) []float32 {
	var n float64
	for _, x := range v {
		n += x * x
	}
	if n == 0 {
		return nil
	}
	n = math.Sqrt(n)
	out := make([]float32, len(v))
	for j, x := range v {
		out[j] = float32(x / n)
	}
	return out
}

// slice returns the part of a last-position row a clamp on head reads (dh wide), or all of it.
func slice(row []float32, head, dh int) []float32 {
	if head < 0 {
		return row
	}
	return row[head*dh : (head+1)*dh]
}

// meanDir is the unit mean of rows (restricted to head's dh-wide slice when head ≥ 0).
func meanDir(rows [][]float32, head, dh int) []float32 {
	vs := make([][]float32, len(rows))
	for i, r := range rows {
		vs[i] = slice(r, head, dh)
	}
	return unit(meanVec(vs))
}

// lastRows returns each prompt's activation at hook, at the last position.
func lastRows(ctx context.Context, m *gpt2.Model, ps []Prompt, hook string) ([][]float32, error) {
	rows, err := cacheRows(ctx, m, ps, []string{hook}, true)
	if err != nil {
		return nil, err
	}
	return rows[hook], nil
}

// cacheRows runs the prompts once and returns, per hook name, each prompt's activation:
// its last position's row when last, else the whole [T, …] tensor.
func cacheRows(ctx context.Context, m *gpt2.Model, ps []Prompt, names []string, last bool) (map[string][][]float32, error) {
	out := map[string][][]float32{}
	for _, n := range names {
		out[n] = make([][]float32, len(ps))
	}
	err := inBatches(ctx, m, ps, wholePrompt,
		func(b, n int) gpt2.RunOptions { return gpt2.RunOptions{Logits: gpt2.LogitsNone, Cache: names} },
		func(i int, res *gpt2.Result, s int) {
			for _, n := range names {
				d := res.Cache[s][n].Data
				if last {
					T := len(ps[i].IDs)
					d = d[(T-1)*len(d)/T:]
				}
				out[n][i] = append([]float32(nil), d...)
			}
		})
	return out, err
}

// projections are the rows' projections on dir (head's slice when head ≥ 0).
func projections(rows [][]float32, head int, dir []float32) []float64 {
	out := make([]float64, len(rows))
	for i, r := range rows {
		var p float64
		for j, x := range slice(r, head, len(dir)) {
			p += float64(x) * float64(dir[j])
		}
		out[i] = p
	}
	return out
}
