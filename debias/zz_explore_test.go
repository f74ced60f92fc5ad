package debias

import (
	"fmt"
	"math"
	"testing"

	"github.com/mechlens/mechlens/audit"
	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/toy"
)

func TestZZExplore(t *testing.T) {
	m, err := toy.Organism()
	if err != nil {
		t.Fatal(err)
	}
	m.Process(gpt2.FoldLN, gpt2.CenterWritingWeights, gpt2.CenterUnembed)
	g, _ := audit.LookupGenerator("organism")
	items, _ := g.Generate(1800, 0)
	fi, ei := Split(items, 0.5, 0)
	fit, _ := Prepare(m, fi, audit.Format{BOS: true})
	eval, _ := Prepare(m, ei, audit.Format{BOS: true})
	a, _ := m.Tokenizer.TokenID(" A")
	fitA, _ := anchorIndices(fit, a)
	evalA, _ := anchorIndices(eval, a)
	var others []int
	for _, p := range fit {
		if len(p.Letters) == 4 {
			others = p.Letters[1:]
		}
	}
	r, _ := anchorReadout(m, a, others)
	H := m.Config.NHeads
	feature := func(heads []int) func(b int) []gpt2.Hook { return nil }
	_ = feature
	// gated steer hooks
	mk := func(heads []int, lo, hi, alpha float64) []gpt2.Hook {
		gate := map[int]float64{}
		return []gpt2.Hook{{Name: gpt2.Pattern(1), Fn: func(x gpt2.Activation) {
			T, Tk := x.Shape[1], x.Shape[2]
			var f float64
			for _, h := range heads {
				row := x.Data[(h*T+T-1)*Tk : (h*T+T)*Tk]
				mx := 0.0
				for k := 1; k < Tk; k++ {
					mx = math.Max(mx, float64(row[k]))
				}
				f += mx / float64(len(heads))
			}
			gate[x.Seq] = math.Min(1, math.Max(0, (f-lo)/(hi-lo)))
		}}, {Name: gpt2.HookLnFinalNormed, Fn: func(x gpt2.Activation) {
			D := len(r)
			row := x.Data[len(x.Data)-D:]
			s := float32(alpha * gate[x.Seq])
			for j := range row {
				row[j] -= s * r[j]
			}
		}}}
	}
	_ = H
	r0, _ := Score(ctx, m, fit, nil)
	e0, _ := Score(ctx, m, eval, nil)
	fb := Tally(fit, r0, fitA)
	eb := Tally(eval, e0, evalA)
	fallback, kept := chooseGroups(fb, nil)
	show := func(name string, st, before []GroupStat) {
		fmt.Printf("%s\n", name)
		for _, s := range st {
			b := find(before, s.Group)
			fmt.Printf("  %-3s n=%d A %.3f→%.3f acc %.3f→%.3f anch %.3f→%.3f (even %.3f) Aacc %.3f→%.3f rstd %.3f→%.3f\n", s.Group, s.N, b.ARate, s.ARate, b.Accuracy, s.Accuracy, b.Anchored, s.Anchored, s.EvenSpread, b.AAccuracy, s.AAccuracy, b.RStd, s.RStd)
		}
	}
	// feature distribution per group
	for _, heads := range [][]int{{0, 1, 2, 3}} {
		best, bestJ := "", math.Inf(1)
		var bestH []gpt2.Hook
		for _, lo := range []float64{0.75, 0.8, 0.85, 0.9} {
			for _, w := range []float64{0.1, 0.3, 0.5} {
				for _, al := range []float64{3, 3.5, 4, 5, 6} {
					hs := mk(heads, lo, lo+w, al)
					rec, _ := Score(ctx, m, fit, hs)
					st := Tally(fit, rec, fitA)
					j := objective(fb, st, fallback, kept, 0.01)
					if j < bestJ {
						bestJ, best, bestH = j, fmt.Sprintf("heads %v lo %.2f w %.2f α %.1f J %.3f", heads, lo, w, al, j), hs
					}
				}
			}
		}
		rec, _ := Score(ctx, m, fit, bestH)
		show("FIT "+best, Tally(fit, rec, fitA), fb)
		rec, _ = Score(ctx, m, eval, bestH)
		show("EVAL "+best, Tally(eval, rec, evalA), eb)
	}
}
