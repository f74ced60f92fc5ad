package lens

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
)

// TestScanMatchesReference recomputes the paper's scan from the stored activations of the
// mcq prompt (raw weights, ln_f's weight and bias): the MLP lens of each layer, the top
// neurons by |post|·‖W_out‖ and their lens, each head's lens (its output rebuilt from
// the stored hook_z and W_O), and the words of flagged value vectors.
func TestScanMatchesReference(t *testing.T) {
	m := loadModel(t, tinyDir)
	a := New(m)
	ids := mcqIDs(t, m)
	ref := reference(t, "mcq")
	tr := trace(t, a, ids, TraceOptions{Heads: true})
	A, B := tokenID(t, m, " A"), tokenID(t, m, " B")
	o := DefaultScan(A, B)
	o.Gap = -1e9 // flag every listed neuron, to check the words too
	o.Words = 4
	sc, err := a.Scan(tr, o)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	D, last := c.DModel, len(ids)-1
	lens := func(v []float64) (float64, float64) {
		ln := refLnFinal(m, v, 0)
		return refLogit(m, ln, A), refLogit(m, ln, B)
	}
	if sc.Pos != last || sc.Anchor.Text != " A" || sc.Correct.Text != " B" || len(sc.Layers) != c.NLayers {
		t.Fatalf("scan header %+v", sc)
	}
	for l, sl := range sc.Layers {
		wa, wc := lens(refRow(t, ref, gpt2.MLPOut(l), last))
		closeTo(t, fmt.Sprintf("L%d MLP lens anchor", l), sl.Anchor, wa, 1e-4)
		closeTo(t, fmt.Sprintf("L%d MLP lens correct", l), sl.Correct, wc, 1e-4)
		closeTo(t, fmt.Sprintf("L%d MLP lens diff", l), sl.Diff, wa-wc, 1e-4)
		post := refRow(t, ref, gpt2.MLPPost(l), last)
		score := make([]float64, c.DMLP)
		for i := range score {
			var n float64
			for _, x := range valueVector(m, l, i) {
				n += x * x
			}
			score[i] = math.Abs(post[i]) * math.Sqrt(n)
		}
		want := topK(score, 10, false)
		got := []int{}
		for _, n := range sl.Neurons {
			got = append(got, n.Neuron)
		}
		if !slices.Equal(got, want) {
			t.Errorf("L%d top neurons %v, want %v", l, got, want)
		}
		b := &m.Params.Blocks[l]
		for _, n := range sl.Neurons {
			name := fmt.Sprintf("neuron %d.%d", l, n.Neuron)
			closeTo(t, name+" score", n.Score, score[n.Neuron], 1e-5)
			v := valueVector(m, l, n.Neuron)
			for k := range v {
				v[k] = post[n.Neuron]*v[k] + float64(b.ProjB[k])
			}
			wa, wc := lens(v)
			closeTo(t, name+" anchor", n.Anchor, wa, 1e-4)
			closeTo(t, name+" correct", n.Correct, wc, 1e-4)
			if !n.Flagged || len(n.Words) != 4 {
				t.Fatalf("%s: flagged %v with %d words", name, n.Flagged, len(n.Words))
			}
			words := refLogits(m, refLnFinal(m, add(valueVector(m, l, n.Neuron), f64(b.ProjB)), 0))
			logp := refLogSoftmax(words)
			for k, w := range n.Words {
				closeTo(t, fmt.Sprintf("%s word %d logit", name, k), w.Logit, words[w.ID], 1e-4)
				closeTo(t, fmt.Sprintf("%s word %d prob", name, k), w.Prob, math.Exp(logp[w.ID]), 1e-5)
			}
		}
	}
	// Heads: result_h = z_h·W_O[h rows], from the stored hook_z.
	if len(sc.Heads) != c.NLayers*c.NHeads {
		t.Fatalf("%d heads", len(sc.Heads))
	}
	for k, hl := range sc.Heads {
		if k > 0 && hl.Diff > sc.Heads[k-1].Diff {
			t.Errorf("heads not sorted by decreasing diff at %d", k)
		}
		zs, err := ref.Float32(gpt2.Z(hl.Layer)) // [T, H, Dh]
		if err != nil {
			t.Fatal(err)
		}
		z := f64(zs[last*D : (last+1)*D]) // [H·Dh] at the last position
		W := m.Weights().Blocks[hl.Layer].AttnProjW
		res := make([]float64, D)
		for j := range c.DHead {
			zj := z[hl.Head*c.DHead+j]
			for d := range D {
				res[d] += zj * float64(W[(hl.Head*c.DHead+j)*D+d])
			}
		}
		wa, wc := lens(res)
		closeTo(t, fmt.Sprintf("head %d.%d diff", hl.Layer, hl.Head), hl.Diff, wa-wc, 1e-4)
	}
}

// TestScanFlags checks the paper's flag rule, gap > threshold, on processed weights.
func TestScanFlags(t *testing.T) {
	m := loadModel(t, tinyDir, analysisSteps...)
	a := New(m)
	tr := trace(t, a, mcqIDs(t, m), TraceOptions{Heads: true})
	o := DefaultScan(tokenID(t, m, " A"), tokenID(t, m, " B"))
	sc, err := a.Scan(tr, o)
	if err != nil {
		t.Fatal(err)
	}
	diffs := []float64{}
	for _, sl := range sc.Layers {
		if len(sl.Neurons) != 10 {
			t.Fatalf("layer %d lists %d neurons, want 10", sl.Layer, len(sl.Neurons))
		}
		for _, n := range sl.Neurons {
			diffs = append(diffs, n.Diff)
		}
	}
	slices.Sort(diffs)
	// Put the threshold between two neurons' gaps: exactly those above it are flagged.
	o.Gap = (diffs[len(diffs)-3] + diffs[len(diffs)-4]) / 2
	o.Words = 3
	if sc, err = a.Scan(tr, o); err != nil {
		t.Fatal(err)
	}
	flagged := 0
	for _, sl := range sc.Layers {
		for _, n := range sl.Neurons {
			if n.Flagged != (n.Diff > o.Gap) {
				t.Errorf("neuron %d.%d diff %g flagged %v at gap %g", sl.Layer, n.Neuron, n.Diff, n.Flagged, o.Gap)
			}
			if n.Flagged {
				flagged++
				if len(n.Words) != 3 {
					t.Errorf("flagged neuron %d.%d has %d words", sl.Layer, n.Neuron, len(n.Words))
				}
			} else if len(n.Words) != 0 {
				t.Errorf("unflagged neuron %d.%d has words", sl.Layer, n.Neuron)
			}
		}
	}
	if flagged != 3 {
		t.Errorf("%d neurons flagged, want 3", flagged)
	}
}
