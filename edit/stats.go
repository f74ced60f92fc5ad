package edit

import (
	"context"
	"fmt"
	"strconv"

	"gonum.org/v1/gonum/mat"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/tensor"
	"github.com/mechlens/mechlens/weights"
)

// Cov is the uncentred second moment C = E[k kᵀ] of one layer's MLP keys (mlp.hook_post,
// the input of mlp.c_proj) over every token of a corpus: ROME's "mom2", which makes u
// = C⁻¹k* change the key k* most and the keys seen in ordinary text least. A nil *Cov
// stands for C = I (ROME without mom2_adjustment, weaker: the edit leaks into other keys).
type Cov struct {
	Layer     int
	M         int
	Count     int64     // tokens averaged over
	Mom2      []float64 // [M, M]
	ModelHash string    // the model it was measured on
	DataHash  string    // the corpus it was measured on

	chol *mat.Cholesky
}

// statsBatch is the number of tokens per forward pass of Stats.
const statsBatch = 4096

// Stats measures C at layer over texts (token ids; each cut into windows of the model's
// context), calling progress after each batch.
func Stats(ctx context.Context, m *gpt2.Model, layer int, texts [][]int, progress func(done, total int)) (*Cov, error) {
	c := m.Config
	if layer < 0 || layer >= c.NLayers {
		return nil, fmt.Errorf("edit: layer %d outside the model's %d layers", layer, c.NLayers)
	}
	var windows [][]int
	total := 0
	for _, t := range texts {
		for len(t) > 0 {
			n := min(len(t), c.NCtx)
			windows = append(windows, t[:n])
			total += n
			t = t[n:]
		}
	}
	if total == 0 {
		return nil, fmt.Errorf("edit: no tokens to measure the covariance on")
	}
	M := c.DMLP
	acc := make([]float32, M*M) // one batch's Kᵀ K
	cov := &Cov{Layer: layer, M: M, Mom2: make([]float64, M*M)}
	done := 0
	for len(windows) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var batch [][]int
		n := 0
		for len(windows) > 0 && (n == 0 || n+len(windows[0]) <= statsBatch) {
			batch = append(batch, windows[0])
			n += len(windows[0])
			windows = windows[1:]
		}
		res, err := m.Run(batch, gpt2.RunOptions{Logits: gpt2.LogitsNone, StopLayer: stopAfter(c, layer), Cache: []string{gpt2.MLPPost(layer)}})
		if err != nil {
			return nil, err
		}
		keys := make([]float32, 0, n*M)
		for s := range batch {
			keys = append(keys, res.Cache[s][gpt2.MLPPost(layer)].Data...)
		}
		res.Release()
		tensor.Gemm(true, false, M, M, n, 1, keys, M, keys, M, 0, acc, M)
		for i, v := range acc {
			cov.Mom2[i] += float64(v)
		}
		done += n
		if progress != nil {
			progress(done, total)
		}
	}
	cov.Count = int64(done)
	for i := range cov.Mom2 {
		cov.Mom2[i] /= float64(done)
	}
	return cov, nil
}

// check errors unless cov (when not nil) was measured at layer l of a model of shape c.
func (cov *Cov) check(c gpt2.Config, l int) error {
	if cov == nil {
		return nil
	}
	if cov.M != c.DMLP || cov.Layer != l {
		return fmt.Errorf("edit: the covariance is of layer %d with d_mlp %d, the edit needs layer %d with d_mlp %d", cov.Layer, cov.M, l, c.DMLP)
	}
	return nil
}

// solve returns C⁻¹k (k itself for a nil cov). A C that is not positive definite (a
// corpus with fewer distinct keys than dimensions) is refused with the fix.
func (cov *Cov) solve(k []float64) ([]float64, error) {
	if cov == nil {
		return append([]float64(nil), k...), nil
	}
	if cov.chol == nil {
		var ch mat.Cholesky
		if ok := ch.Factorize(mat.NewSymDense(cov.M, cov.Mom2)); !ok {
			return nil, fmt.Errorf("edit: the covariance of layer %d (%d tokens) is singular: measure it on more text (edit stats --data) or edit without it (--no-cov)", cov.Layer, cov.Count)
		}
		cov.chol = &ch
	}
	var x mat.VecDense
	if err := cov.chol.SolveVecTo(&x, mat.NewVecDense(len(k), append([]float64(nil), k...))); err != nil {
		return nil, fmt.Errorf("edit: solving with the covariance of layer %d: %v", cov.Layer, err)
	}
	return x.RawVector().Data, nil
}

// Save writes cov to path (safetensors, F32 as ROME keeps it, with the model hash, layer,
// data hash and token count as metadata), atomically.
func (cov *Cov) Save(path string) error {
	return weights.WriteSafetensors(path, []weights.Tensor{{Name: "mom2", Shape: []int{cov.M, cov.M}, F32: toF32(cov.Mom2)}},
		map[string]string{"model_hash": cov.ModelHash, "layer": strconv.Itoa(cov.Layer), "data_hash": cov.DataHash,
			"count": strconv.FormatInt(cov.Count, 10)})
}

// LoadCov reads a covariance written by Save and checks that it belongs to the model
// modelHash and to layer.
func LoadCov(path, modelHash string, layer int) (*Cov, error) {
	f, err := weights.OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	meta := f.Metadata()
	if meta["model_hash"] != modelHash {
		return nil, fmt.Errorf("edit: %s holds statistics of another model (hash %.12s, this model's is %.12s)", path, meta["model_hash"], modelHash)
	}
	l, err := strconv.Atoi(meta["layer"])
	if err != nil || l != layer {
		return nil, fmt.Errorf("edit: %s holds statistics of layer %q, not %d", path, meta["layer"], layer)
	}
	info, ok := f.Info("mom2")
	if !ok || len(info.Shape) != 2 || info.Shape[0] != info.Shape[1] {
		return nil, fmt.Errorf("edit: %s has no square mom2 tensor", path)
	}
	x, err := f.Float32("mom2")
	if err != nil {
		return nil, err
	}
	count, _ := strconv.ParseInt(meta["count"], 10, 64)
	return &Cov{Layer: l, M: info.Shape[0], Count: count, Mom2: toF64(x), ModelHash: modelHash, DataHash: meta["data_hash"]}, nil
}
