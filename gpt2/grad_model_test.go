package gpt2

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestModelGradMatchesParams: gradients on a packed model equal those on its Params, and
// starting at block 1 from the cached residual gives block 1's resid_pre gradient.
func TestModelGradMatchesParams(t *testing.T) {
	for _, untied := range []bool{false, true} {
		cfg := Config{NLayers: 2, DModel: 32, NHeads: 4, DHead: 8, DMLP: 64, NCtx: 16, DVocab: 40, LNEps: 1e-5, Activation: "gelu_new"}
		p := RandomParams(cfg, 3)
		if untied {
			p.LMHead = RandomParams(cfg, 4).WTE
			p.LMHeadB = make([]float32, cfg.DVocab)
			p.LMHeadB[3] = 0.5
		}
		rows := gradTestRows(cfg, 4)
		acts := []string{MLPOut(0), ResidPre(1), MLPPost(1)}
		want, err := Gradients(cfg, p, rows, GradOptions{ActGrads: acts, NoParamGrads: true})
		if err != nil {
			t.Fatal(err)
		}
		m := NewModel(cfg, p, nil)
		g := NewModelGrad(m)
		got, err := g.Gradients(rows, GradOptions{ActGrads: acts, NoParamGrads: true})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got.Loss-want.Loss) > 1e-5*want.Loss {
			t.Errorf("untied=%v: loss %.9g, on Params %.9g", untied, got.Loss, want.Loss)
		}
		for s := range rows {
			for _, name := range acts {
				closeSlices(t, name, got.ActGrads[s][name].Data, want.ActGrads[s][name].Data, 1e-4)
			}
		}
		// Start at block 1 from the residual Model.Run computes.
		seqs := make([][]int, len(rows))
		for i, r := range rows {
			seqs[i] = r.IDs
		}
		res, err := m.Run(seqs, RunOptions{Cache: []string{ResidPre(1)}, Logits: LogitsNone})
		if err != nil {
			t.Fatal(err)
		}
		start := make([][]float32, len(rows))
		for i := range rows {
			start[i] = res.Cache[i][ResidPre(1)].Data
		}
		part, err := g.Gradients(rows, GradOptions{NoParamGrads: true, StartLayer: 1, StartResid: start})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(part.Loss-want.Loss) > 1e-5*want.Loss {
			t.Errorf("untied=%v: loss from block 1 %.9g, whole %.9g", untied, part.Loss, want.Loss)
		}
		for s := range rows {
			closeSlices(t, "start grad", part.StartGrad[s], want.ActGrads[s][ResidPre(1)].Data, 1e-4)
		}
		if _, err := g.Gradients(rows, GradOptions{}); err == nil {
			t.Error("parameter gradients on a packed model: no error")
		}
	}
}

func closeSlices(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var scale float64
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > tol*scale+1e-9 {
			t.Fatalf("%s[%d] = %g, want %g", what, i, got[i], want[i])
		}
	}
}

// TestKLGradient checks the KL loss and its gradient against finite differences in
// float64, through an activation gradient at the last block's output.
func TestKLGradient(t *testing.T) {
	cfg := gradTestConfig("gelu_new")
	p64 := paramsAs[float64](cfg, gradTestParams(cfg, false, 1), true)
	r := rand.New(rand.NewPCG(9, 9))
	ref := make([]float32, cfg.DVocab)
	var z float64
	for j := range ref {
		ref[j] = float32(r.NormFloat64())
		z += math.Exp(float64(ref[j]))
	}
	for j := range ref {
		ref[j] -= float32(math.Log(z))
	}
	row := TrainRow{IDs: []int{1, 2, 3}, Target: []int{2, 3, 4}, Weight: []float32{0.5, 0, 2}, KLRef: [][]float32{nil, nil, ref}}
	name := ResidPost(cfg.NLayers - 1)
	res, err := gradients(cfg, p64, []TrainRow{row}, GradOptions{ActGrads: []string{name}, NoParamGrads: true})
	if err != nil {
		t.Fatal(err)
	}
	g := res.ActGrads[0][name].Data
	const h = 1e-2
	for j := range g {
		loss := func(d float32) float64 {
			r, err := gradients(cfg, p64, []TrainRow{row}, GradOptions{NoParamGrads: true, Hooks: []Hook{{Name: name, Fn: func(a Activation) { a.Data[j] += d }}}})
			if err != nil {
				t.Fatal(err)
			}
			return r.Loss
		}
		want := (loss(h) - loss(-h)) / (2 * h)
		if math.Abs(float64(g[j])-want) > 2e-4+1e-3*math.Abs(want) {
			t.Errorf("%s[%d]: gradient %.6g, finite difference %.6g", name, j, g[j], want)
		}
	}
}

// TestModelGradKeepsTransposes: the backward pass's packed transposes, kept or packed at
// each use (CacheBytes 0), give the same gradients, and a write to the weights drops the
// kept ones.
func TestModelGradKeepsTransposes(t *testing.T) {
	cfg := Config{NLayers: 2, DModel: 32, NHeads: 4, DHead: 8, DMLP: 64, NCtx: 16, DVocab: 40, LNEps: 1e-5, Activation: "gelu_new"}
	m := NewModel(cfg, RandomParams(cfg, 3), nil)
	rows := gradTestRows(cfg, 4)
	o := GradOptions{ActGrads: []string{ResidPre(0)}, NoParamGrads: true}
	grad := func(g *ModelGrad) []float32 {
		t.Helper()
		r, err := g.Gradients(rows, o)
		if err != nil {
			t.Fatal(err)
		}
		return r.ActGrads[1][ResidPre(0)].Data
	}
	kept := NewModelGrad(m)
	bare := NewModelGrad(m)
	bare.CacheBytes = 0
	before := grad(kept)
	closeSlices(t, "packed at each use", grad(bare), before, 0)
	if len(kept.kept) != cfg.NLayers || len(bare.kept) != 0 {
		t.Errorf("kept %d and %d blocks, want %d and 0", len(kept.kept), len(bare.kept), cfg.NLayers)
	}
	w, err := m.WritableMatrix(1, MatrixWOut)
	if err != nil {
		t.Fatal(err)
	}
	u, v := make([]float32, cfg.DMLP), make([]float32, cfg.DModel)
	for i := range u {
		u[i] = 0.1
	}
	for i := range v {
		v[i] = float32(i%3) - 1
	}
	w.AddOuter(u, v)
	after := grad(kept)
	closeSlices(t, "after an edit", after, grad(NewModelGrad(m)), 0)
	if d, _ := maxAbsDiff(after, before); d == 0 {
		t.Error("the edit did not change the gradient")
	}
}

// TestGradientsOverAPrefix: rows cut after a KV cache of their first positions
// (GradOptions.Prefix), with the loss on the kept positions only, give the whole rows'
// loss and gradients there, from the embeddings and from a later block.
func TestGradientsOverAPrefix(t *testing.T) {
	cfg := Config{NLayers: 2, DModel: 32, NHeads: 4, DHead: 8, DMLP: 64, NCtx: 16, DVocab: 40, LNEps: 1e-5, Activation: "gelu_new"}
	m := NewModel(cfg, RandomParams(cfg, 3), nil)
	g := NewModelGrad(m)
	D := cfg.DModel
	rows := gradTestRows(cfg, 5)[:2] // 16 and 3 tokens
	cut := []int{9, 1}
	var tails []TrainRow
	var seqs [][]int
	prefix := make([]*KVCache, len(rows))
	for s, r := range rows {
		p := cut[s]
		clear(r.Weight[:p])
		tails = append(tails, TrainRow{IDs: r.IDs[p:], Target: r.Target[p:], Weight: r.Weight[p:]})
		seqs = append(seqs, r.IDs)
		prefix[s] = m.NewKVCache()
	}
	full, err := m.Run(seqs, RunOptions{Logits: LogitsNone, Past: prefix, Cache: []string{ResidPre(1)}})
	if err != nil {
		t.Fatal(err)
	}
	for s := range prefix {
		prefix[s] = prefix[s].Head(cut[s])
	}
	acts := []string{MLPOut(0), ResidPre(1)}
	want, err := g.Gradients(rows, GradOptions{ActGrads: acts, NoParamGrads: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := g.Gradients(tails, GradOptions{ActGrads: acts, NoParamGrads: true, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	start := make([][]float32, len(rows))
	for s := range rows {
		start[s] = full.Cache[s][ResidPre(1)].Data[cut[s]*D:]
	}
	late, err := g.Gradients(tails, GradOptions{NoParamGrads: true, Prefix: prefix, StartLayer: 1, StartResid: start})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*GradResult{got, late} {
		if math.Abs(r.Loss-want.Loss) > 1e-5*want.Loss {
			t.Errorf("loss over the prefix %.9g, whole rows %.9g", r.Loss, want.Loss)
		}
	}
	for s := range rows {
		for _, name := range acts {
			closeSlices(t, name, got.ActGrads[s][name].Data, want.ActGrads[s][name].Data[cut[s]*D:], 1e-4)
		}
		closeSlices(t, "start grad", late.StartGrad[s], want.ActGrads[s][ResidPre(1)].Data[cut[s]*D:], 1e-4)
	}
	if _, err := g.Gradients(tails, GradOptions{NoParamGrads: true, Prefix: prefix[:1]}); err == nil {
		t.Error("one prefix for two rows: no error")
	}
}
