package gpt2

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mechlens/mechlens/internal/tensor"
)

// bf16Logits runs every reference prompt of dir through the model loaded with float32 and
// with bfloat16 weights (processed by steps) and returns the largest |Δlogit| over all
// positions and prompts, and how many positions agree on the top token out of how many.
func bf16Logits(t *testing.T, dir string, steps ...string) (worst, scale float64, agree, positions int) {
	t.Helper()
	var models [2]*Model
	for i, wt := range []tensor.WeightType{tensor.F32, tensor.BF16} {
		m, err := LoadDirWith(context.Background(), dir, LoadOptions{Weights: wt})
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) > 0 {
			if err := m.Process(steps...); err != nil {
				t.Fatal(err)
			}
		}
		if m.WeightType() != wt || m.Unembedding().Type() != wt || m.WOut(0).Type() != wt {
			t.Fatalf("%s loaded as %s keeps %s matrices", dir, wt, m.WOut(0).Type())
		}
		models[i] = m
	}
	V := models[0].Config.DVocab
	for _, p := range readPrompts(t, dir) {
		var logits [2][]float32
		for i, m := range models {
			res, err := m.Run([][]int{p.IDs}, RunOptions{Logits: LogitsAll})
			if err != nil {
				t.Fatal(err)
			}
			logits[i] = res.Logits[0]
		}
		d, _ := maxAbsDiff(logits[1], logits[0])
		worst = max(worst, d)
		for _, v := range logits[0] {
			scale = max(scale, math.Abs(float64(v)))
		}
		for pos := range len(p.IDs) {
			row := func(i int) []float32 { return logits[i][pos*V : (pos+1)*V] }
			if tensor.Argmax(row(0)) == tensor.Argmax(row(1)) {
				agree++
			}
			positions++
		}
	}
	return worst, scale, agree, positions
}

// Half-size weights change the logits of the fixtures by at most the bounds below (the
// README quotes the measured figures, which -v prints), with every kernel set of this CPU.
// Where the products widen the weights (every set but avx512bf16), a model whose file
// already holds bfloat16 weights gives exactly its float32 logits: rounding them is exact,
// and the kernels widen them to the same float32 values. avx512bf16 also rounds the
// activations entering those products (VDPBF16PS), so it has bounds of its own.
func TestBF16WeightsLogits(t *testing.T) {
	defer tensor.SetKernel(tensor.Kernel())
	analysis := []string{FoldLN, CenterWritingWeights, CenterUnembed}
	for _, k := range tensor.Kernels() {
		if err := tensor.SetKernel(k); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			dir             string
			steps           []string
			widened, paired float64
		}{
			{fixtureModels[0], nil, 0.15, 0.2},
			{fixtureModels[0], analysis, 0.15, 0.2},
			{fixtureModels[1], nil, 0, 0.15},
			{fixtureModels[1], analysis, 0.1, 0.15},
		} {
			bound := c.widened
			if tensor.RoundsActivations(k) {
				bound = c.paired
			}
			worst, scale, agree, n := bf16Logits(t, c.dir, c.steps...)
			name := fmt.Sprintf("%s: %s %v", k, filepath.Base(c.dir), c.steps)
			t.Logf("%s: max |Δlogit| %.3g (largest |logit| %.3g), top-1 agreement %d/%d", name, worst, scale, agree, n)
			if !(worst <= bound) {
				t.Errorf("%s: bf16 logits differ from f32 by %.3g, bound %g", name, worst, bound)
			}
			if bound == 0 && agree != n {
				t.Errorf("%s: top-1 differs at %d of %d positions", name, n-agree, n)
			}
		}
	}
}

// A model stored as bfloat16 from the start and one converted after loading hold the same
// bits; Weights, saving and cloning see the widened values; processing keeps the type.
func TestSetWeightType(t *testing.T) {
	dir := fixtureModels[0]
	loaded, err := LoadDirWith(context.Background(), dir, LoadOptions{Weights: tensor.BF16})
	if err != nil {
		t.Fatal(err)
	}
	converted := loadFixture(t, dir)
	f32 := converted.Clone()
	converted.SetWeightType(tensor.BF16)
	if converted.WeightType() != tensor.BF16 || f32.WeightType() != tensor.F32 || f32.WOut(0).Type() != tensor.F32 {
		t.Fatal("SetWeightType changed a clone, or not the model")
	}
	lw, cw := loaded.Weights(), converted.Weights()
	_, _, ld := lw.Named(loaded.Config)
	_, _, cd := cw.Named(converted.Config)
	for i := range ld {
		if !slices.Equal(ld[i], cd[i]) {
			t.Fatalf("tensor %d differs between loading as bf16 and converting", i)
		}
		for _, v := range ld[i] {
			if tensor.FromBF16(tensor.ToBF16(v)) != v && len(ld[i]) > converted.Config.NCtx*converted.Config.DModel {
				t.Fatalf("tensor %d holds %v, not a bfloat16 value", i, v)
			}
		}
	}
	if loaded.Hash != f32.Hash {
		t.Error("the hash names the weights loaded, whatever they are stored as")
	}
	if err := converted.Process(FoldLN); err != nil {
		t.Fatal(err)
	}
	if converted.WIn(1).Type() != tensor.BF16 || converted.Unembedding().Type() != tensor.BF16 {
		t.Error("processing repacked a bf16 model as f32")
	}
	if w := converted.WithWeights(converted.Weights()); w.WeightType() != tensor.BF16 {
		t.Error("WithWeights dropped the weight type")
	}
	// Half the bytes for every matrix.
	for l := range f32.Config.NLayers {
		if 2*loaded.WOut(l).Bytes() != f32.WOut(l).Bytes() {
			t.Errorf("layer %d: W_out takes %d bytes as bf16, %d as f32", l, loaded.WOut(l).Bytes(), f32.WOut(l).Bytes())
		}
	}
}
