package lens

import (
	"fmt"
	"math"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
)

// valueVector returns W_out_L[i] in float64.
func valueVector(m *gpt2.Model, l, i int) []float64 {
	v := make([]float32, m.Config.DModel)
	m.WOut(l).Row(i, v)
	return f64(v)
}

// TestValueVector compares the value vector's projections with float64 ones: every listed
// score, the order, and that no unlisted token beats the last listed one.
func TestValueVector(t *testing.T) {
	for _, w := range weightings {
		m := loadModel(t, tinyDir, w.steps...)
		a := New(m)
		l, i := 1, 77
		vv, err := a.ValueVector(l, i, 5)
		if err != nil {
			t.Fatal(err)
		}
		v := valueVector(m, l, i)
		var norm float64
		for _, x := range v {
			norm += x * x
		}
		closeTo(t, w.name+" norm", vv.Norm, math.Sqrt(norm), 1e-6)
		raw := make([]float64, m.Config.DVocab)
		for tok := range raw {
			u := f64(m.UnembeddingVector(tok))
			for k := range u {
				raw[tok] += u[k] * v[k]
			}
		}
		lens := refLogits(m, refLnFinal(m, v, 0))
		for _, c := range []struct {
			name   string
			list   []TokenScore
			want   []float64
			bottom bool
		}{{"top", vv.Top, raw, false}, {"bottom", vv.Bottom, raw, true}, {"lens_top", vv.LensTop, lens, false}, {"lens_bottom", vv.LensBottom, lens, true}} {
			name := w.name + " " + c.name
			if len(c.list) != 5 {
				t.Fatalf("%s: %d tokens, want 5", name, len(c.list))
			}
			sign := 1.0
			if c.bottom {
				sign = -1
			}
			for k, ts := range c.list {
				closeTo(t, fmt.Sprintf("%s %d (%q)", name, k, ts.Text), ts.Score, c.want[ts.ID], 1e-4)
				if k > 0 && sign*ts.Score > sign*c.list[k-1].Score {
					t.Errorf("%s: entry %d out of order", name, k)
				}
			}
			last := c.list[4].Score
			beyond := 0
			for _, s := range c.want {
				if sign*s > sign*last+1e-4 {
					beyond++
				}
			}
			if beyond > 4 {
				t.Errorf("%s: %d tokens beat the fifth listed", name, beyond)
			}
		}
	}
}

func TestValueVectorErrors(t *testing.T) {
	a := New(loadModel(t, tinyDir))
	for _, c := range []struct {
		l, i int
		want string
	}{
		{2, 0, "lens: neuron 2.0: the model has layers 0..1"},
		{0, 128, "lens: neuron 0.128: layer 0 has neurons 0..127"},
		{-1, 3, "lens: neuron -1.3: the model has layers 0..1"},
	} {
		if _, err := a.ValueVector(c.l, c.i, 5); err == nil || err.Error() != c.want {
			t.Errorf("neuron %d.%d: error %v, want %q", c.l, c.i, err, c.want)
		}
	}
}

// TestPromoters checks the reverse search against a brute-force float64 scan of every value
// vector, for both scores and both directions, raw and processed.
func TestPromoters(t *testing.T) {
	for _, w := range weightings {
		m := loadModel(t, tinyDir, w.steps...)
		a := New(m)
		A := tokenID(t, m, " A")
		c := m.Config
		u := f64(m.UnembeddingVector(A))
		type score struct{ logit, lens float64 }
		want := map[[2]int]score{}
		for l := range c.NLayers {
			for i := range c.DMLP {
				v := valueVector(m, l, i)
				var s score
				for k := range v {
					s.logit += u[k] * v[k]
				}
				s.lens = refLogit(m, refLnFinal(m, v, 0), A)
				want[[2]int{l, i}] = s
			}
		}
		for _, by := range []string{"logit", "lens"} {
			for _, suppress := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/suppress=%v", w.name, by, suppress)
				ps, err := a.Promoters(A, 10, by, suppress)
				if err != nil {
					t.Fatal(err)
				}
				if len(ps.Neurons) != 10 || ps.By != by || ps.Suppress != suppress || ps.Token.ID != A {
					t.Fatalf("%s: %+v", name, ps)
				}
				key := func(s score) float64 {
					if by == "lens" {
						return s.lens
					}
					return s.logit
				}
				sign := 1.0
				if suppress {
					sign = -1
				}
				for k, p := range ps.Neurons {
					ws := want[[2]int{p.Layer, p.Neuron}]
					closeTo(t, fmt.Sprintf("%s %d.%d logit", name, p.Layer, p.Neuron), p.Logit, ws.logit, 1e-5)
					closeTo(t, fmt.Sprintf("%s %d.%d lens", name, p.Layer, p.Neuron), p.Lens, ws.lens, 1e-4)
					if k > 0 && sign*key(ws) > sign*key(want[[2]int{ps.Neurons[k-1].Layer, ps.Neurons[k-1].Neuron}])+1e-5 {
						t.Errorf("%s: entry %d out of order", name, k)
					}
				}
				best := math.Inf(-1)
				for _, s := range want {
					best = math.Max(best, sign*key(s))
				}
				closeTo(t, name+" best", sign*key(want[[2]int{ps.Neurons[0].Layer, ps.Neurons[0].Neuron}]), best, 1e-4)
			}
		}
	}
	a := New(loadModel(t, tinyDir))
	if _, err := a.Promoters(1, 3, "norm", false); err == nil || err.Error() != `lens: unknown score "norm" (logit, lens)` {
		t.Errorf("unknown score: error %v", err)
	}
}
