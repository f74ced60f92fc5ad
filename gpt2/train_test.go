package gpt2

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mechlens/mechlens/internal/tensor"
)

// gradTestConfig is small enough for a finite-difference check of every parameter.
func gradTestConfig(act string) Config {
	return Config{NLayers: 2, DModel: 8, NHeads: 2, DHead: 4, DMLP: 12, NCtx: 6, DVocab: 7, LNEps: 1e-5, Activation: act}
}

// gradTestParams draws weights large enough that every path carries gradient (the
// 0.02-scale initialisation leaves attention nearly uniform).
func gradTestParams(cfg Config, untied bool, seed uint64) *Params {
	p := RandomParams(cfg, seed)
	r := rand.New(rand.NewPCG(seed, 99))
	if untied {
		p.LMHead = make([]float32, cfg.DVocab*cfg.DModel)
		p.LMHeadB = make([]float32, cfg.DVocab)
	}
	for _, f := range p.fields() {
		for i := range *f {
			(*f)[i] += float32(r.NormFloat64() * 0.5)
		}
	}
	return p
}

func gradTestRows(cfg Config, seed uint64) []TrainRow {
	r := rand.New(rand.NewPCG(seed, 7))
	var rows []TrainRow
	for _, T := range []int{cfg.NCtx, 3, 1} {
		row := TrainRow{IDs: make([]int, T), Target: make([]int, T), Weight: make([]float32, T)}
		for t := range T {
			row.IDs[t] = r.IntN(cfg.DVocab)
			row.Target[t] = r.IntN(cfg.DVocab)
			if r.IntN(4) != 0 {
				row.Weight[t] = float32(0.25 + r.Float64())
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// TestGradientsFiniteDifferences checks, in float64, every element of every parameter
// tensor and of every supported activation gradient against central differences.
func TestGradientsFiniteDifferences(t *testing.T) {
	for _, tc := range []struct {
		act    string
		untied bool
	}{{"gelu_new", false}, {"gelu", true}} {
		t.Run(fmt.Sprintf("%s/untied=%v", tc.act, tc.untied), func(t *testing.T) {
			cfg := gradTestConfig(tc.act)
			p64 := paramsAs[float64](cfg, gradTestParams(cfg, tc.untied, 1), true)
			rows := gradTestRows(cfg, 2)
			var acts []string
			for l := range cfg.NLayers {
				for _, s := range trainHookSuffix {
					acts = append(acts, BlockHook(l, s))
				}
			}
			res, err := gradients(cfg, p64, rows, GradOptions{ActGrads: acts})
			if err != nil {
				t.Fatal(err)
			}
			loss := func(o GradOptions) float64 {
				o.NoParamGrads = true
				r, err := gradients(cfg, p64, rows, o)
				if err != nil {
					t.Fatal(err)
				}
				return r.Loss
			}
			const h = 1e-5
			check := func(what string, got, want float64) {
				t.Helper()
				if math.Abs(got-want) > 1e-6+1e-5*math.Abs(want) {
					t.Errorf("%s: gradient %.9g, finite difference %.9g", what, got, want)
				}
			}
			names, _, _ := res.Grads.Named(cfg)
			gf, pf := res.Grads.fields(), p64.fields()
			ni := 0
			checked := 0
			for i, f := range pf {
				if *f == nil {
					continue
				}
				name := names[ni]
				ni++
				for j := range *f {
					old := (*f)[j]
					(*f)[j] = old + h
					up := loss(GradOptions{})
					(*f)[j] = old - h
					down := loss(GradOptions{})
					(*f)[j] = old
					check(fmt.Sprintf("%s[%d]", name, j), float64((*gf[i])[j]), (up-down)/(2*h))
					checked++
				}
			}
			if want := len(names); ni != want {
				t.Fatalf("checked %d tensors, want %d", ni, want)
			}
			// Activation gradients: perturb one element of one row through a hook. The
			// hook sees float32 copies, so the step is larger and the tolerance looser.
			const ha = 1e-2
			for _, name := range acts {
				g := res.ActGrads[1][name]
				for j := range g.Data {
					nudge := func(d float32) GradOptions {
						return GradOptions{Hooks: []Hook{{Name: name, Fn: func(a Activation) {
							if a.Seq == 1 {
								a.Data[j] += d
							}
						}}}}
					}
					want := (loss(nudge(ha)) - loss(nudge(-ha))) / (2 * ha)
					if math.Abs(float64(g.Data[j])-want) > 2e-4+1e-3*math.Abs(want) {
						t.Errorf("%s[%d]: gradient %.6g, finite difference %.6g", name, j, g.Data[j], want)
					}
				}
			}
			t.Logf("checked %d parameters and %d activation gradients", checked, len(acts))
		})
	}
}

// TestGradientsFloat32 compares the float32 pass (tensor kernels) with the float64 one.
func TestGradientsFloat32(t *testing.T) {
	cfg := Config{NLayers: 2, DModel: 32, NHeads: 4, DHead: 8, DMLP: 64, NCtx: 16, DVocab: 40, LNEps: 1e-5, Activation: "gelu_new"}
	p := RandomParams(cfg, 3)
	rows := gradTestRows(cfg, 4)
	got, err := Gradients(cfg, p, rows, GradOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := gradients(cfg, paramsAs[float64](cfg, p, true), rows, GradOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.Loss-want.Loss) > 1e-5*want.Loss {
		t.Errorf("loss %.9g, float64 %.9g", got.Loss, want.Loss)
	}
	gf, wf := got.Grads.fields(), want.Grads.fields()
	for i := range gf {
		var maxAbs, maxErr float64
		for j, v := range *wf[i] {
			maxAbs = max(maxAbs, math.Abs(float64(v)))
			maxErr = max(maxErr, math.Abs(float64((*gf[i])[j]-v)))
		}
		if maxErr > 1e-3*maxAbs+1e-7 {
			t.Errorf("tensor %d: float32 differs from float64 by %.3g (largest gradient %.3g)", i, maxErr, maxAbs)
		}
	}
}

// TestGradientsThreads: the gradients are bitwise the same with 1 and 2 threads.
func TestGradientsThreads(t *testing.T) {
	cfg := Config{NLayers: 2, DModel: 64, NHeads: 4, DHead: 16, DMLP: 256, NCtx: 32, DVocab: 50, LNEps: 1e-5, Activation: "gelu_new"}
	p := RandomParams(cfg, 5)
	var rows []TrainRow
	for s := range 8 {
		rows = append(rows, gradTestRows(cfg, uint64(10+s))...)
	}
	run := func(n int) *GradResult {
		old := tensor.Threads()
		tensor.SetThreads(n)
		defer tensor.SetThreads(old)
		r, err := Gradients(cfg, p, rows, GradOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := run(1), run(2)
	if a.Loss != b.Loss {
		t.Errorf("loss %v with 1 thread, %v with 2", a.Loss, b.Loss)
	}
	af, bf := a.Grads.fields(), b.Grads.fields()
	for i := range af {
		for j, v := range *af[i] {
			if math.Float32bits(v) != math.Float32bits((*bf[i])[j]) {
				t.Fatalf("tensor %d element %d: %v with 1 thread, %v with 2", i, j, v, (*bf[i])[j])
			}
		}
	}
}

// TestGradientsLossMatchesForward: the training forward computes the same next-token
// probabilities as Model.Run.
func TestGradientsLossMatchesForward(t *testing.T) {
	cfg := Config{NLayers: 2, DModel: 32, NHeads: 4, DHead: 8, DMLP: 64, NCtx: 16, DVocab: 40, LNEps: 1e-5, Activation: "gelu_new"}
	p := RandomParams(cfg, 6)
	ids := []int{3, 9, 27, 1, 0, 39}
	row := TrainRow{IDs: ids, Target: []int{9, 27, 1, 0, 39, 5}, Weight: []float32{1, 1, 1, 1, 1, 1}}
	got, err := Gradients(cfg, p, []TrainRow{row}, GradOptions{NoParamGrads: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := NewModel(cfg, p, nil).Run([][]int{ids}, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	V := cfg.DVocab
	for pos, tg := range row.Target {
		lg := res.Logits[0][pos*V : (pos+1)*V]
		m := math.Inf(-1)
		for _, v := range lg {
			m = max(m, float64(v))
		}
		var s float64
		for _, v := range lg {
			s += math.Exp(float64(v) - m)
		}
		want += m + math.Log(s) - float64(lg[tg])
	}
	if math.Abs(got.Loss-want) > 1e-5*want {
		t.Errorf("loss %.9g, from Model.Run %.9g", got.Loss, want)
	}
}

func TestGradientsErrors(t *testing.T) {
	cfg := gradTestConfig("gelu_new")
	p := RandomParams(cfg, 1)
	ok := TrainRow{IDs: []int{1, 2}, Target: []int{2, 3}, Weight: []float32{1, 1}}
	for _, tc := range []struct {
		rows []TrainRow
		o    GradOptions
		want string
	}{
		{nil, GradOptions{}, "gpt2: no rows to train on"},
		{[]TrainRow{ok, {}}, GradOptions{}, "gpt2: row 1 is empty"},
		{[]TrainRow{{IDs: make([]int, 7), Target: make([]int, 7), Weight: make([]float32, 7)}}, GradOptions{}, "gpt2: row 0 has 7 tokens, more than the context of 6"},
		{[]TrainRow{{IDs: []int{1}, Target: []int{1, 2}, Weight: []float32{1}}}, GradOptions{}, "gpt2: row 0 has 1 tokens, 2 targets and 1 weights"},
		{[]TrainRow{{IDs: []int{1, 7}, Target: []int{1, 2}, Weight: []float32{1, 1}}}, GradOptions{}, "gpt2: row 0 position 1: token id 7 outside the vocabulary [0, 7)"},
		{[]TrainRow{{IDs: []int{1, 2}, Target: []int{1, -1}, Weight: []float32{1, 1}}}, GradOptions{}, "gpt2: row 0 position 1: target -1 outside the vocabulary [0, 7)"},
		{[]TrainRow{ok}, GradOptions{ActGrads: []string{"blocks.2.hook_resid_pre"}}, `gpt2: hook point "blocks.2.hook_resid_pre" is not supported by the training pass (resid_pre, attn.hook_z, attn_out, resid_mid, mlp.hook_pre, mlp.hook_post, mlp_out, resid_post of a block)`},
		{[]TrainRow{ok}, GradOptions{Hooks: []Hook{{Name: "blocks.0.attn.hook_pattern"}}}, `gpt2: hook point "blocks.0.attn.hook_pattern" is not supported by the training pass (resid_pre, attn.hook_z, attn_out, resid_mid, mlp.hook_pre, mlp.hook_post, mlp_out, resid_post of a block)`},
	} {
		_, err := Gradients(cfg, p, tc.rows, tc.o)
		if err == nil || err.Error() != tc.want {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
	// A target outside the vocabulary is fine where the weight is 0.
	if _, err := Gradients(cfg, p, []TrainRow{{IDs: []int{1, 2}, Target: []int{1, -1}, Weight: []float32{1, 0}}}, GradOptions{}); err != nil {
		t.Errorf("unweighted target: %v", err)
	}
}

// BenchmarkGradients is one training step's pass at the organism's shape: 128 rows of 20
// tokens, 3 layers, d_model 128.
func BenchmarkGradients(b *testing.B) {
	cfg := Config{NLayers: 3, DModel: 128, NHeads: 4, DHead: 32, DMLP: 512, NCtx: 32, DVocab: 1186, LNEps: 1e-5, Activation: "gelu_new"}
	p := RandomParams(cfg, 1)
	r := rand.New(rand.NewPCG(1, 2))
	rows := make([]TrainRow, 128)
	for i := range rows {
		row := TrainRow{IDs: make([]int, 20), Target: make([]int, 20), Weight: make([]float32, 20)}
		for t := range 20 {
			row.IDs[t], row.Target[t], row.Weight[t] = r.IntN(cfg.DVocab), r.IntN(cfg.DVocab), 1
		}
		rows[i] = row
	}
	b.ResetTimer()
	for range b.N {
		if _, err := Gradients(cfg, p, rows, GradOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
