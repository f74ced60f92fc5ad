package lens

import (
	"fmt"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
)

// attrCase is a model, a prompt and a logit difference to attribute.
type attrCase struct {
	name             string
	m                *gpt2.Model
	ids              []int
	target, baseline int
}

// attributionCases are prompts of both fixtures: the GPT-2-vocabulary one (tied W_U) and the
// small-vocabulary one (untied lm_head), each raw and processed.
func attributionCases(t *testing.T) []attrCase {
	var out []attrCase
	for _, w := range weightings {
		m := loadModel(t, tinyDir, w.steps...)
		out = append(out, attrCase{"tiny/" + w.name, m, mcqIDs(t, m), tokenID(t, m, " A"), tokenID(t, m, " B")})
		sv := loadModel(t, smallVocabDir, w.steps...)
		out = append(out, attrCase{"small-vocab/" + w.name, sv, []int{5, 900, 17, 42, 999, 0, 311}, 7, 123})
	}
	return out
}

// TestAttributionSumsToLogit: the parts of the direct logit attribution sum to the model's
// own logit difference (and logit) to 1e-4, at the last and an earlier position, on raw and
// processed weights.
func TestAttributionSumsToLogit(t *testing.T) {
	for _, c := range attributionCases(t) {
		a := New(c.m)
		tr := trace(t, a, c.ids, TraceOptions{AllLogits: true, Heads: true})
		cfg := c.m.Config
		for _, pos := range []int{-1, 3} {
			for _, baseline := range []int{c.baseline, -1} {
				name := fmt.Sprintf("%s/pos%d/baseline%d", c.name, pos, baseline)
				at, err := a.Attribute(tr, pos, c.target, baseline)
				if err != nil {
					t.Fatal(err)
				}
				if n := 2 + cfg.NLayers*(cfg.NHeads+2) + 2; len(at.Parts) != n {
					t.Fatalf("%s: %d parts, want %d", name, len(at.Parts), n)
				}
				var sum float64
				for _, p := range at.Parts {
					sum += p.Value
				}
				closeTo(t, name+" Σ parts", sum, at.Sum, 1e-12)
				closeTo(t, name+" Σ parts vs the model's logit (difference)", at.Sum, at.Logit, 1e-4)
				if at.Logit == 0 {
					t.Errorf("%s: logit difference is 0: the test proves nothing", name)
				}
				if c.m.Processing != nil {
					if lnb := at.Parts[len(at.Parts)-2]; lnb.Kind != PartLnFinalBias || lnb.Value != 0 {
						t.Errorf("%s: processed weights have ln_final bias part %+v, want 0", name, lnb)
					}
				}
			}
		}
	}
}

// TestAttributionMatchesReference compares the parts with the same projection computed
// from the stored activations (raw weights): embeddings, each block's attention (its heads
// and b_O together: the reference has no per-head output) and MLP.
func TestAttributionMatchesReference(t *testing.T) {
	m := loadModel(t, tinyDir)
	a := New(m)
	ids := mcqIDs(t, m)
	ref := reference(t, "mcq")
	tr := trace(t, a, ids, TraceOptions{Heads: true})
	A, B := tokenID(t, m, " A"), tokenID(t, m, " B")
	at, err := a.Attribute(tr, -1, A, B)
	if err != nil {
		t.Fatal(err)
	}
	last := len(ids) - 1
	L := m.Config.NLayers
	s := refScale(m, refRow(t, ref, gpt2.ResidPost(L-1), last))
	closeTo(t, "scale", at.Scale, s, 1e-5)
	// The part of v: logit difference of ln_final(v) at the final scale, minus the same of 0
	// (which holds the bias terms).
	zero := make([]float64, m.Config.DModel)
	part := func(v []float64) float64 {
		lv, l0 := refLnFinal(m, v, s), refLnFinal(m, zero, s)
		return (refLogit(m, lv, A) - refLogit(m, lv, B)) - (refLogit(m, l0, A) - refLogit(m, l0, B))
	}
	got := map[string]float64{}
	for _, p := range at.Parts {
		key := p.Name
		if p.Kind == PartHead || p.Kind == PartAttnBias {
			key = fmt.Sprintf("L%d.attn", p.Layer)
		}
		got[key] += p.Value
	}
	want := map[string]float64{
		"embed":     part(refRow(t, ref, gpt2.HookEmbed, last)),
		"pos_embed": part(refRow(t, ref, gpt2.HookPosEmbed, last)),
	}
	for l := range L {
		want[fmt.Sprintf("L%d.attn", l)] = part(refRow(t, ref, gpt2.AttnOut(l), last))
		want[fmt.Sprintf("L%d.mlp", l)] = part(refRow(t, ref, gpt2.MLPOut(l), last))
	}
	for k, w := range want {
		closeTo(t, k, got[k], w, 1e-4)
	}
	refLast, _ := ref.Float32("logits_last")
	closeTo(t, "logit difference", at.Logit, float64(refLast[A])-float64(refLast[B]), 2e-4)
}

// TestNeuronAttribution: in every layer the neurons' contributions plus b_out's part equal
// the MLP's direct contribution, which is Attribute's MLP part; promoters are positive and
// decreasing, suppressors negative and increasing.
func TestNeuronAttribution(t *testing.T) {
	for _, c := range attributionCases(t) {
		a := New(c.m)
		tr := trace(t, a, c.ids, TraceOptions{Heads: true})
		at, err := a.Attribute(tr, -1, c.target, c.baseline)
		if err != nil {
			t.Fatal(err)
		}
		mlpPart := map[int]float64{}
		for _, p := range at.Parts {
			if p.Kind == PartMLP {
				mlpPart[p.Layer] = p.Value
			}
		}
		layers := []int{}
		for l := range c.m.Config.NLayers {
			layers = append(layers, l)
		}
		na, err := a.AttributeNeurons(tr, layers, -1, c.target, c.baseline, 5)
		if err != nil {
			t.Fatal(err)
		}
		for _, ln := range na.Layers {
			name := fmt.Sprintf("%s/L%d", c.name, ln.Layer)
			closeTo(t, name+" neurons + bias", ln.Neurons+ln.Bias, ln.MLP, 1e-5)
			closeTo(t, name+" MLP vs attribution's part", ln.MLP, mlpPart[ln.Layer], 1e-9)
		}
		if len(na.Promoters) == 0 || len(na.Suppressors) == 0 {
			t.Fatalf("%s: %d promoters, %d suppressors", c.name, len(na.Promoters), len(na.Suppressors))
		}
		for i, p := range na.Promoters {
			if p.Contribution <= 0 || i > 0 && p.Contribution > na.Promoters[i-1].Contribution {
				t.Errorf("%s: promoter %d %+v out of order", c.name, i, p)
			}
			closeTo(t, "activation·effect", p.Activation*p.Effect, p.Contribution, 1e-12)
		}
		for i, p := range na.Suppressors {
			if p.Contribution >= 0 || i > 0 && p.Contribution < na.Suppressors[i-1].Contribution {
				t.Errorf("%s: suppressor %d %+v out of order", c.name, i, p)
			}
		}
	}
}

// TestValueVectorDirectContribution: on processed weights (value vectors centered, ln_final
// the identity) a neuron's direct contribution to a logit is its activation times its value
// vector's projection on that token (the reverse search's logit score), over the final scale.
func TestValueVectorDirectContribution(t *testing.T) {
	m := loadModel(t, tinyDir, analysisSteps...)
	a := New(m)
	ids := mcqIDs(t, m)
	tr := trace(t, a, ids, TraceOptions{})
	A := tokenID(t, m, " A")
	c := m.Config
	ps, err := a.Promoters(A, c.NLayers*c.DMLP, "logit", false)
	if err != nil {
		t.Fatal(err)
	}
	proj := map[[2]int]float64{}
	for _, p := range ps.Neurons {
		proj[[2]int{p.Layer, p.Neuron}] = p.Logit
	}
	if len(proj) != c.NLayers*c.DMLP {
		t.Fatalf("reverse search scored %d neurons, want %d", len(proj), c.NLayers*c.DMLP)
	}
	s := tr.finalScale(len(ids)-1, c)
	for l := range c.NLayers {
		na, err := a.AttributeNeurons(tr, []int{l}, -1, A, -1, c.DMLP)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range append(na.Promoters, na.Suppressors...) {
			want := n.Activation * proj[[2]int{l, n.Neuron}] / s
			closeTo(t, fmt.Sprintf("neuron %d.%d", l, n.Neuron), n.Contribution, want, 1e-6)
		}
	}
}

func TestAttributionErrors(t *testing.T) {
	m := loadModel(t, tinyDir)
	a := New(m)
	tr := trace(t, a, []int{1, 2, 3}, TraceOptions{Heads: true})
	for _, c := range []struct {
		name string
		f    func() error
		want string
	}{
		{"same tokens", func() error { _, err := a.Attribute(tr, -1, 5, 5); return err },
			"lens: the baseline is the target token 5: their difference is 0"},
		{"bad target", func() error { _, err := a.Attribute(tr, -1, -2, 5); return err },
			"lens: target token id -2 is outside the vocabulary [0, 50257)"},
		{"earlier position without all logits", func() error { _, err := a.Attribute(tr, 0, 1, 2); return err },
			"lens: the trace kept the logits of the last position only, not of position 0"},
		{"no heads", func() error {
			_, err := a.Attribute(trace(t, a, []int{1, 2}, TraceOptions{}), -1, 1, 2)
			return err
		}, "lens: the trace did not keep blocks.0.attn.hook_result"},
		{"bad layer", func() error { _, err := a.AttributeNeurons(tr, []int{2}, -1, 1, 2, 5); return err },
			"lens: layer 2 is outside the model's 2 layers"},
	} {
		if err := c.f(); err == nil || err.Error() != c.want {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}
