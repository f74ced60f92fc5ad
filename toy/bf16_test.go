package toy

import (
	"math"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/tensor"
)

// The embedded model with bfloat16 weights answers the held-out questions as with float32
// ones, on every kernel set of this CPU (avx512bf16 rounds the activations too): the README
// quotes what -v prints (the change of the answer letters' logits and the answers that
// differ).
func TestOrganismBF16(t *testing.T) {
	m, err := Organism()
	if err != nil {
		t.Fatal(err)
	}
	half := m.Clone()
	half.SetWeightType(gpt2.BF16)
	var items []EvalMCQ // one held-out question in four: the test stays quick
	for i, it := range HeldOut(NewWorld(), EvalVariants).MCQ {
		if i%4 == 0 {
			items = append(items, it)
		}
	}
	defer tensor.SetKernel(tensor.Kernel())
	for _, k := range tensor.Kernels() {
		if err := tensor.SetKernel(k); err != nil {
			t.Fatal(err)
		}
		a, err := AnswerMCQ(m, items)
		if err != nil {
			t.Fatal(err)
		}
		b, err := AnswerMCQ(half, items)
		if err != nil {
			t.Fatal(err)
		}
		worst, scale, differ := 0.0, 0.0, 0
		for i := range a {
			if a[i].Choice != b[i].Choice {
				differ++
			}
			for j, v := range a[i].Letters {
				worst = max(worst, math.Abs(float64(b[i].Letters[j]-v)))
				scale = max(scale, math.Abs(float64(v)))
			}
		}
		t.Logf("%s: bf16 weights: %d items, %d answers differ from f32, max |Δ letter logit| %.3g (largest |letter logit| %.3g)", k, len(items), differ, worst, scale)
		if differ > len(items)/100 || worst > 0.25 {
			t.Errorf("%s: bf16 weights change %d of %d answers (max |Δ letter logit| %.3g); want ≤ 1%% and ≤ 0.25", k, differ, len(items), worst)
		}
	}
}
