package edit

import (
	"context"
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/mechlens/mechlens/gpt2"
)

// MEMITConfig holds MEMIT's hyperparameters (hparams/MEMIT/*.json): ROME's optimisation
// settings for z, the layers written and the weight λ of the covariance.
type MEMITConfig struct {
	ROMEConfig
	Layers []int   `json:"layers"`
	Lambda float64 `json:"mom2_update_weight"`
}

// MEMITDefaults returns MEMIT's hyperparameters for a model of shape c: gpt2-xl's published
// ones (layers 13–17, clamp 0.75, λ 20000); other shapes write the five layers ending at
// ROME's layer (fewer when the model is shallower).
func MEMITDefaults(c gpt2.Config) MEMITConfig {
	r := ROMEDefaults(c)
	r.Clamp = 0.75
	mc := MEMITConfig{ROMEConfig: r, Lambda: 20000}
	for l := max(0, r.Layer-4); l <= r.Layer; l++ {
		mc.Layers = append(mc.Layers, l)
	}
	return mc
}

// MEMIT computes the edits that write all of reqs at once (Meng et al. 2023): for each
// request z, the residual stream after the last layer of cfg.Layers at the fact token
// that makes the model say the new target (ROME's optimisation on hook_resid_post); then,
// layer by layer, the keys K [M, n] (mlp.hook_post averaged over the prefixed prompts, or
// the bare prompt's with UKey KeyBare)
// and the remaining residuals R = (z − z_now)/(layers left) give ΔW = (λC + K Kᵀ)⁻¹ K Rᵀ,
// solved in float64 and written as one rank-one edit per request; each layer's update is
// applied before the next layer's keys are read, and all are reverted at the end, so m is
// unchanged. covs[l] is layer l's covariance (a missing one: C = I).
func MEMIT(ctx context.Context, m *gpt2.Model, g *gpt2.ModelGrad, reqs []Request, cfg MEMITConfig, covs map[int]*Cov, prefixes []string) ([]Edit, error) {
	c := m.Config
	if len(cfg.Layers) == 0 {
		return nil, fmt.Errorf("edit: MEMIT needs at least one layer")
	}
	for i, l := range cfg.Layers {
		if l < 0 || l >= c.NLayers || (i > 0 && l <= cfg.Layers[i-1]) {
			return nil, fmt.Errorf("edit: MEMIT layers %v: want increasing layers of the model's %d", cfg.Layers, c.NLayers)
		}
		if err := covs[l].check(c, l); err != nil {
			return nil, err
		}
	}
	if !(cfg.Lambda > 0) {
		return nil, fmt.Errorf("edit: λ %g must be positive", cfg.Lambda)
	}
	r := cfg.ROMEConfig
	r.Layer = cfg.Layers[len(cfg.Layers)-1]
	if err := r.check(c); err != nil {
		return nil, err
	}
	zl := r.Layer
	n, D, M := len(reqs), c.DModel, c.DMLP
	fs := make([]*facts, n)
	zs := make([][]float64, n)
	for i, q := range reqs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var err error
		if fs[i], err = factPrompts(m, r, q, prefixes); err != nil {
			return nil, fmt.Errorf("request %d (%s): %w", i+1, q.Subject, err)
		}
		z, err := optimize(m, g, r, fs[i], zl, gpt2.ResidPost(zl))
		if err != nil {
			return nil, err
		}
		zs[i] = z.target
	}
	var edits []Edit
	var applied []*Applied
	defer func() {
		for i := len(applied) - 1; i >= 0; i-- {
			_ = applied[i].Revert() // each was applied last-first, so none can fail
		}
	}()
	for li, l := range cfg.Layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		K, err := memitKeys(m, fs, l, r.UKey == KeyBare)
		if err != nil {
			return nil, err
		}
		now, err := bareValues(m, fs, zl)
		if err != nil {
			return nil, err
		}
		// A = λC + K Kᵀ, then X = A⁻¹K [M, n].
		A := mat.NewSymDense(M, nil)
		if cov := covs[l]; cov != nil {
			for i := range M {
				for j := i; j < M; j++ {
					A.SetSym(i, j, cfg.Lambda*cov.Mom2[i*M+j])
				}
			}
		} else {
			for i := range M {
				A.SetSym(i, i, cfg.Lambda)
			}
		}
		Km := mat.NewDense(M, n, K)
		A.SymRankK(A, 1, Km)
		var ch mat.Cholesky
		if !ch.Factorize(A) {
			return nil, fmt.Errorf("edit: λC + K Kᵀ of layer %d is not positive definite: measure the covariance on more text (edit stats) or edit without it (--no-cov)", l)
		}
		var X mat.Dense
		if err := ch.SolveTo(&X, Km); err != nil {
			return nil, fmt.Errorf("edit: MEMIT solve at layer %d: %v", l, err)
		}
		left := float64(len(cfg.Layers) - li)
		var layerEdits []Edit
		for j := range n {
			u := make([]float32, M)
			for i := range M {
				u[i] = float32(X.At(i, j))
			}
			v := make([]float32, D)
			for d := range D {
				v[d] = float32((zs[j][d] - now[j][d]) / left)
			}
			e := RankOne(l, gpt2.MatrixWOut, u, v)
			e.Note = fmt.Sprintf("MEMIT: %s → %q", reqs[j].Text(), reqs[j].TargetNew)
			layerEdits = append(layerEdits, e)
		}
		for _, e := range layerEdits {
			a, err := ApplyEdit(m, e)
			if err != nil {
				return nil, err
			}
			applied = append(applied, a)
		}
		edits = append(edits, layerEdits...)
	}
	return edits, nil
}

// memitKeys returns K [M, n] row-major: column j is request j's key at layer l, averaged
// over its prefixed prompts (bare: its bare prompt's).
func memitKeys(m *gpt2.Model, fs []*facts, l int, bare bool) ([]float64, error) {
	c := m.Config
	M, n := c.DMLP, len(fs)
	K := make([]float64, M*n)
	for j, f := range fs {
		rewrite := f.rewrite
		if bare {
			rewrite = rewrite[:1]
		}
		seqs := make([][]int, len(rewrite))
		for i, p := range rewrite {
			seqs[i] = p.ids[:p.lookup+1]
		}
		res, err := m.Run(seqs, gpt2.RunOptions{Logits: gpt2.LogitsNone, StopLayer: stopAfter(c, l), Cache: []string{gpt2.MLPPost(l)}})
		if err != nil {
			return nil, err
		}
		for i, p := range rewrite {
			k := res.Cache[i][gpt2.MLPPost(l)].Data[p.lookup*M : (p.lookup+1)*M]
			for r, v := range k {
				K[r*n+j] += float64(v) / float64(len(seqs))
			}
		}
		res.Release()
	}
	return K, nil
}

// bareValues returns each request's hook_resid_post of layer l at the fact token of its
// bare prompt.
func bareValues(m *gpt2.Model, fs []*facts, l int) ([][]float64, error) {
	c := m.Config
	D := c.DModel
	seqs := make([][]int, len(fs))
	for j, f := range fs {
		seqs[j] = f.rewrite[0].ids[:f.rewrite[0].lookup+1]
	}
	res, err := m.Run(seqs, gpt2.RunOptions{Logits: gpt2.LogitsNone, StopLayer: stopAfter(c, l), Cache: []string{gpt2.ResidPost(l)}})
	if err != nil {
		return nil, err
	}
	defer res.Release()
	out := make([][]float64, len(fs))
	for j, f := range fs {
		p := f.rewrite[0].lookup
		out[j] = toF64(res.Cache[j][gpt2.ResidPost(l)].Data[p*D : (p+1)*D])
	}
	return out, nil
}
