package debias

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/audit"
	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/toy"
)

var ctx = context.Background()

// organism returns the embedded model processed as the analyses are, and n of its own
// held-out fact questions formatted for it.
func organism(t testing.TB, n int) (*gpt2.Model, []Prompt, int) {
	t.Helper()
	m, err := toy.Organism()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Process(gpt2.FoldLN, gpt2.CenterWritingWeights, gpt2.CenterUnembed); err != nil {
		t.Fatal(err)
	}
	g, err := audit.LookupGenerator("organism")
	if err != nil {
		t.Fatal(err)
	}
	items, err := g.Generate(n, 3)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := Prepare(m, items, audit.Format{BOS: true})
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.Tokenizer.TokenID(" A")
	if err != nil {
		t.Fatal(err)
	}
	return m, ps, a
}

func TestSplitKeepsGroupProportions(t *testing.T) {
	var items []audit.Item
	for i := range 30 {
		g := "F"
		if i%3 == 0 {
			g = "U"
		}
		items = append(items, audit.Item{ID: string(rune('a' + i)), Group: g})
	}
	fit, eval := Split(items, 0.5, 7)
	fit2, _ := Split(items, 0.5, 7)
	if len(fit)+len(eval) != 30 || len(fit) != 15 {
		t.Fatalf("fit %d eval %d, want 15 and 15", len(fit), len(eval))
	}
	count := func(xs []audit.Item, g string) (n int) {
		for _, x := range xs {
			if x.Group == g {
				n++
			}
		}
		return n
	}
	if count(fit, "U") != 5 || count(fit, "F") != 10 {
		t.Errorf("fit has %d U and %d F, want 5 and 10", count(fit, "U"), count(fit, "F"))
	}
	seen := map[string]bool{}
	for i, x := range fit {
		if fit2[i].ID != x.ID {
			t.Fatalf("the same seed split differently")
		}
		seen[x.ID] = true
	}
	for _, x := range eval {
		if seen[x.ID] {
			t.Fatalf("item %s is in both splits", x.ID)
		}
	}
}

// The calibration steer lowers the anchor's logit by exactly α and leaves the other
// letters' logits where they were.
func TestAnchorReadoutMovesOnlyTheAnchor(t *testing.T) {
	m, ps, a := organism(t, 20)
	others := ps[0].Letters[1:]
	for _, p := range ps {
		if len(p.Letters) == 4 {
			others = p.Letters[1:]
		}
	}
	r, err := anchorReadout(m, a, others)
	if err != nil {
		t.Fatal(err)
	}
	before, err := Score(ctx, m, ps, nil)
	if err != nil {
		t.Fatal(err)
	}
	after, err := runEdits(ctx, m, "organism", []edit.Edit{edit.Steer(gpt2.HookLnFinalNormed, -1, []int{-1}, -1.5, r)}, ps)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ps {
		for k := range ps[i].Letters {
			want := float64(before[i].Logits[k])
			if k == 0 {
				want -= 1.5
			}
			if d := math.Abs(float64(after[i].Logits[k]) - want); d > 1e-3 {
				t.Fatalf("item %d letter %d: logit %g, want %g", i, k, after[i].Logits[k], want)
			}
		}
	}
	if len(m.Edits) != 0 || len(m.Interventions) != 0 {
		t.Errorf("the model keeps edits after the run: %q", m.Edits)
	}
}

// Tally counts by hand: two items of group U answered A (one whose answer is B), one of F.
func TestTally(t *testing.T) {
	ps := []Prompt{{Item: audit.Item{Group: "U"}}, {Item: audit.Item{Group: "U"}}, {Item: audit.Item{Group: "F"}}}
	recs := []audit.Record{
		{Answer: 1, PredLetters: 0, Logits: make([]float32, 3)},
		{Answer: 0, PredLetters: 0, CorrectLetters: true, Logits: make([]float32, 2)},
		{Answer: 1, PredLetters: 1, CorrectLetters: true, Logits: make([]float32, 2)},
	}
	st := Tally(ps, recs, []int{0, 0, 0})
	u, all := find(st, "U"), find(st, "")
	if u.N != 2 || u.ARate != 1 || u.Anchored != 1 || u.EvenSpread != 0.5 || u.Accuracy != 0.5 || u.AAccuracy != 1 {
		t.Errorf("U %+v", u)
	}
	if all.N != 3 || math.Abs(all.Chance-(1.0/3+0.5+0.5)/3) > 1e-12 || math.Abs(all.ARate-2.0/3) > 1e-12 {
		t.Errorf("all %+v", all)
	}
}

// On the organism, patching from known items finds L1H2 as the head that carries the
// fallback to " A" (the README's finding), and the counts add up.
func TestTraceFindsTheRouteHead(t *testing.T) {
	m, ps, a := organism(t, 120)
	tr, err := Trace(ctx, m, ps, TraceOptions{Anchor: a, TopNeurons: 10, Gap: 4, Neurons: 5})
	if err != nil {
		t.Fatal(err)
	}
	nonA := 0
	for _, p := range ps {
		if p.Answer != 0 {
			nonA++
		}
	}
	if tr.Items != 120 || tr.NonAnchor != nonA || tr.Known == 0 || tr.Fallback == 0 || len(tr.Components) != 3*4+3 || len(tr.Neurons) != 5 {
		t.Fatalf("trace counts: %d items, %d non-anchor (want %d), %d known, %d fallback, %d components, %d neurons",
			tr.Items, tr.NonAnchor, nonA, tr.Known, tr.Fallback, len(tr.Components), len(tr.Neurons))
	}
	if r := routeHead(tr); r.Name != "L1H2" {
		t.Errorf("route head %s, want L1H2", r.Name)
	}
	// Path patching: the last MLP has no later component, so its later path is nothing and
	// its direct path is all of it. L1H2's patched output lowers the difference mostly by
	// its path straight to the logits (the README's numbers).
	last := tr.Components[len(tr.Components)-1]
	if last.Name != "L2.mlp" || math.Abs(last.PathLater.Mean) > 1e-4 || math.Abs(last.Patch.Mean-last.PathDirect.Mean) > 1e-4 {
		t.Errorf("%s: patched %g, direct path %g, later path %g; want later 0 and direct = patched", last.Name, last.Patch.Mean, last.PathDirect.Mean, last.PathLater.Mean)
	}
	for _, c := range tr.Components {
		if c.Name == "L1H2" && !(c.Patch.Mean < -1 && c.PathDirect.Mean < -1 && math.Abs(c.PathLater.Mean) < math.Abs(c.PathDirect.Mean)) {
			t.Errorf("L1H2: patched %g, direct path %g, later path %g", c.Patch.Mean, c.PathDirect.Mean, c.PathLater.Mean)
		}
	}
	if len(tr.GroupNames) == 0 || len(tr.Components[0].Groups) != len(tr.GroupNames) {
		t.Errorf("no per-group effects: %v", tr.GroupNames)
	}
	var allA []Prompt
	for _, p := range ps {
		if p.Answer == 0 {
			allA = append(allA, p)
		}
	}
	if _, err := Trace(ctx, m, allA, TraceOptions{Anchor: a, TopNeurons: 10, Gap: 4}); err == nil || !strings.Contains(err.Error(), "every item's answer is the anchor") {
		t.Errorf("items all answered A: error %v", err)
	}
	b, _ := m.Tokenizer.TokenID(" E")
	if _, err := Trace(ctx, m, ps, TraceOptions{Anchor: b, TopNeurons: 10, Gap: 4}); err == nil || !strings.Contains(err.Error(), "the anchor is none of its") {
		t.Errorf("anchor not a letter: error %v", err)
	}
}

// AnchorGradients is the gradient of logit(anchor) − mean logit(others): a central
// difference along its direction at the last position of blocks.1.hook_resid_post moves
// the difference by ‖g‖ per unit step.
func TestAnchorGradientsMatchAFiniteDifference(t *testing.T) {
	m, ps, _ := organism(t, 4)
	hook := gpt2.ResidPost(1)
	anchorAt := make([]int, len(ps))
	g, err := AnchorGradients(ctx, m, ps, anchorAt, hook)
	if err != nil {
		t.Fatal(err)
	}
	const delta = 0.25 // the residual stream's norm is in the tens: a small, well-resolved step
	for i := range ps {
		var n2 float64
		for _, x := range g[i] {
			n2 += float64(x) * float64(x)
		}
		norm := math.Sqrt(n2)
		at := func(s float64) float64 {
			step := gpt2.Hook{Name: hook, Fn: func(a gpt2.Activation) {
				T := a.Shape[0]
				row := a.Data[(T-1)*len(a.Data)/T:]
				for j, x := range g[i] {
					row[j] += float32(s * float64(x) / norm)
				}
			}}
			r, err := Score(ctx, m, ps[i:i+1], []gpt2.Hook{step})
			if err != nil {
				t.Fatal(err)
			}
			return anchorDiff(r[0].Logits, anchorAt[i])
		}
		if got := (at(delta) - at(-delta)) / (2 * delta); math.Abs(got-norm) > 0.02*norm+1e-3 {
			t.Errorf("item %d: the difference moved %g per unit step, want ‖g‖ = %g", i, got, norm)
		}
	}
}

// auc by hand: of the six pairs, 3 > 2, 3 > 0, 2 > 0 and 1 > 0 order a above b, 2 = 2
// counts half, 1 < 2 nothing: 4.5/6.
func TestAUC(t *testing.T) {
	if got := auc([]float64{1, 2, 3}, []float64{2, 0}); got != 0.75 {
		t.Errorf("auc %g, want 0.75", got)
	}
	if got := auc(nil, []float64{1}); !math.IsNaN(got) {
		t.Errorf("auc of nothing %g, want NaN", got)
	}
}

// On the organism the gates read from the trace are every head of layer 1 and L2H2, L2H3:
// the heads that look at an unknown entity (the README's trace), found without labels.
func TestGateHeadSetsOnTheOrganism(t *testing.T) {
	m, ps, a := organism(t, 300)
	at, err := anchorIndices(ps, a)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := Score(ctx, m, ps, nil)
	if err != nil {
		t.Fatal(err)
	}
	fallback, _ := chooseGroups(Tally(ps, recs, at), nil)
	gates, err := gateHeadSets(ctx, m, ps, recs, at, fallback, 2)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range gates {
		if !(g.AUC > gateAUC && g.AUC <= 1) {
			t.Errorf("%s: auc %g", g, g.AUC)
		}
		got = append(got, g.String())
	}
	if want := []string{"L1 heads 0,1,2,3", "L2 heads 2,3"}; !slices.Equal(got, want) {
		t.Errorf("gates %q (fallback groups %q), want %q", got, fallback, want)
	}
}
