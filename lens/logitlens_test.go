package lens

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
)

// mcqIDs tokenizes the reference prompt and checks it against the stored tokens.
func mcqIDs(t testing.TB, m *gpt2.Model) []int {
	t.Helper()
	ids := m.Tokenizer.Encode(mcqText)
	toks, err := reference(t, "mcq").Int64("tokens")
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != len(ids) {
		t.Fatalf("prompt has %d tokens, reference %d", len(ids), len(toks))
	}
	for i, v := range toks {
		if int(v) != ids[i] {
			t.Fatalf("token %d is %d, reference %d", i, ids[i], v)
		}
	}
	return ids
}

// TestLogitLensMatchesReference recomputes the lens in float64 from the stored activations
// of the mcq prompt (raw weights) and compares every reported number: top tokens, targets'
// logits, probabilities and ranks, entropy and KL to the final distribution, for both
// normalizations.
func TestLogitLensMatchesReference(t *testing.T) {
	m := loadModel(t, tinyDir)
	a := New(m)
	ids := mcqIDs(t, m)
	ref := reference(t, "mcq")
	tr := trace(t, a, ids, TraceOptions{})
	targets := []int{tokenID(t, m, " A"), tokenID(t, m, " B")}
	positions := []int{0, 17, -1}
	L := m.Config.NLayers
	final := gpt2.ResidPost(L - 1)
	for _, norm := range []Norm{NormOwn, NormFinalScale} {
		t.Run(string(norm), func(t *testing.T) {
			ll, err := a.LogitLens(tr, LensOptions{Norm: norm, TopK: 3, Targets: targets, Positions: positions, Mid: true})
			if err != nil {
				t.Fatal(err)
			}
			wantPoints := []string{gpt2.ResidPre(0), gpt2.ResidMid(0), gpt2.ResidPre(1), gpt2.ResidMid(1), final}
			if !slices.Equal(ll.Points, wantPoints) {
				t.Fatalf("points %v, want %v", ll.Points, wantPoints)
			}
			if !slices.Equal(ll.Positions, []int{0, 17, len(ids) - 1}) {
				t.Fatalf("positions %v", ll.Positions)
			}
			for i, point := range ll.Points {
				for j, pos := range ll.Positions {
					row := ll.Rows[i*len(ll.Positions)+j]
					name := fmt.Sprintf("%s@%d", point, pos)
					if row.Point != point || row.Pos != pos {
						t.Fatalf("row %d is %s@%d, want %s", i*len(ll.Positions)+j, row.Point, row.Pos, name)
					}
					scale := 0.0
					if norm == NormFinalScale {
						scale = refScale(m, refRow(t, ref, final, pos))
					}
					want := refLogSoftmax(refLogits(m, refLnFinal(m, refRow(t, ref, point, pos), scale)))
					wantFinal := refLogSoftmax(refLogits(m, refLnFinal(m, refRow(t, ref, final, pos), 0)))
					checkLensRow(t, name, row, want, wantFinal, refLogits(m, refLnFinal(m, refRow(t, ref, point, pos), scale)))
				}
			}
		})
	}
}

// refScale is ln_final's own scale of a vector.
func refScale(m *gpt2.Model, v []float64) float64 {
	var mean, ss float64
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return math.Sqrt(ss/float64(len(v)) + float64(m.Config.LNEps))
}

func checkLensRow(t *testing.T, name string, row LensRow, logp, finalLogp, logits []float64) {
	t.Helper()
	var entropy, kl float64
	for i, lp := range logp {
		entropy -= math.Exp(lp) * lp
		kl += math.Exp(finalLogp[i]) * (finalLogp[i] - lp)
	}
	closeTo(t, name+" entropy", row.Entropy, entropy, 2e-4)
	closeTo(t, name+" kl", row.KL, kl, 2e-4)
	if len(row.Top) != 3 {
		t.Fatalf("%s: %d top tokens, want 3", name, len(row.Top))
	}
	for k, tp := range row.Top {
		closeTo(t, fmt.Sprintf("%s top %d logit", name, k), tp.Logit, logits[tp.ID], 2e-4)
		closeTo(t, fmt.Sprintf("%s top %d prob", name, k), tp.Prob, math.Exp(logp[tp.ID]), 1e-5)
		// Nothing outside the list beats it by more than rounding.
		higher := 0
		for _, l := range logits {
			if l > logits[tp.ID]+1e-4 {
				higher++
			}
		}
		if higher > k {
			t.Errorf("%s: top %d token %q has %d tokens above it", name, k, tp.Text, higher)
		}
	}
	for _, ts := range row.Targets {
		closeTo(t, name+" target "+ts.Text+" logit", ts.Logit, logits[ts.ID], 2e-4)
		closeTo(t, name+" target "+ts.Text+" prob", ts.Prob, math.Exp(logp[ts.ID]), 1e-5)
		// Logits within rounding of the target's may fall either side.
		lo, hi := 1, 1
		for _, l := range logits {
			if l > logits[ts.ID]+2e-4 {
				lo++
			}
			if l > logits[ts.ID]-2e-4 {
				hi++
			}
		}
		if ts.Rank < lo || ts.Rank > hi-1 {
			t.Errorf("%s: target %q rank %d, want in [%d, %d]", name, ts.Text, ts.Rank, lo, hi-1)
		}
	}
}

// TestLensOfFinalResidualIsTheModel checks that the lens of the final residual is the
// model's own output at every position: same logits, KL 0, the output's entropy.
func TestLensOfFinalResidualIsTheModel(t *testing.T) {
	for _, w := range weightings {
		t.Run(w.name, func(t *testing.T) {
			m := loadModel(t, tinyDir, w.steps...)
			a := New(m)
			ids := mcqIDs(t, m)
			tr := trace(t, a, ids, TraceOptions{AllLogits: true})
			V := m.Config.DVocab
			targets := []int{tokenID(t, m, " A"), tokenID(t, m, " B"), 0, V - 1}
			ll, err := a.LogitLens(tr, LensOptions{TopK: 5, Targets: targets})
			if err != nil {
				t.Fatal(err)
			}
			if len(ll.Points) != 3 {
				t.Fatalf("points %v: want resid_pre of 2 blocks and the final residual", ll.Points)
			}
			for pos := range ids {
				row := ll.Rows[2*len(ids)+pos]
				logits := f64(tr.Logits[pos*V : (pos+1)*V])
				name := fmt.Sprintf("final@%d", pos)
				if row.KL != 0 {
					t.Errorf("%s: KL to itself %g, want 0", name, row.KL)
				}
				logp := refLogSoftmax(logits)
				var entropy float64
				for _, lp := range logp {
					entropy -= math.Exp(lp) * lp
				}
				closeTo(t, name+" entropy", row.Entropy, entropy, 1e-5)
				for _, ts := range row.Targets {
					closeTo(t, name+" logit "+ts.Text, ts.Logit, logits[ts.ID], 1e-5)
				}
				best := topK(tr.Logits[pos*V:(pos+1)*V], 5, false)
				for k, tp := range row.Top {
					if tp.ID != best[k] {
						t.Errorf("%s: top %d is %d, the model's is %d", name, k, tp.ID, best[k])
					}
				}
			}
		})
	}
}

func TestLogitLensErrors(t *testing.T) {
	m := loadModel(t, tinyDir)
	a := New(m)
	tr := trace(t, a, []int{1, 2, 3}, TraceOptions{})
	for _, c := range []struct {
		o    LensOptions
		want string
	}{
		{LensOptions{Norm: "mean"}, `lens: unknown normalization "mean" (own, final-scale)`},
		{LensOptions{Positions: []int{3}}, "lens: position 3 is outside the prompt's 3 tokens"},
		{LensOptions{Positions: []int{-4}}, "lens: position -4 is outside the prompt's 3 tokens"},
		{LensOptions{Targets: []int{m.Config.DVocab}}, "lens: target token id 50257 is outside the vocabulary [0, 50257)"},
	} {
		_, err := a.LogitLens(tr, c.o)
		if err == nil || err.Error() != c.want {
			t.Errorf("%+v: error %v, want %q", c.o, err, c.want)
		}
	}
}

// A TopK past the vocabulary lists every token; the rows are not sized by TopK (a count
// given on the command line has no upper bound).
func TestLogitLensTopKPastTheVocabulary(t *testing.T) {
	m := loadModel(t, smallVocabDir)
	a := New(m)
	tr := trace(t, a, []int{1, 2, 3}, TraceOptions{})
	for _, k := range []int{m.Config.DVocab, m.Config.DVocab + 1, 1 << 50} {
		ll, err := a.LogitLens(tr, LensOptions{TopK: k, Positions: []int{-1}})
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range ll.Rows {
			if len(row.Top) != m.Config.DVocab || cap(row.Top) != m.Config.DVocab {
				t.Errorf("TopK %d: %d tokens listed (capacity %d), want the %d of the vocabulary", k, len(row.Top), cap(row.Top), m.Config.DVocab)
			}
		}
	}
}

func TestTopK(t *testing.T) {
	x := []float32{3, 1, 4, 1, 5, 9, 2, 6, 5, 3}
	for _, c := range []struct {
		k        int
		smallest bool
		want     []int
	}{
		{3, false, []int{5, 7, 4}},
		{4, false, []int{5, 7, 4, 8}}, // tie 5 = 5: lower index first
		{3, true, []int{1, 3, 6}},
		{0, false, nil},
		{20, false, []int{5, 7, 4, 8, 2, 0, 9, 6, 1, 3}},
	} {
		if got := topK(x, c.k, c.smallest); !slices.Equal(got, c.want) {
			t.Errorf("topK(k=%d, smallest=%v) = %v, want %v", c.k, c.smallest, got, c.want)
		}
	}
}
