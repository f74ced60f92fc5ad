package lens

import (
	"fmt"
	"slices"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
)

// TestPatch checks activation patching against what it must give exactly: patching the
// one corrupted token's residual stream at block 0 restores the clean run (recovered 1),
// positions before it change nothing at any block (recovered 0), the last block's MLP output
// reaches the logits directly, so its patched metric is the lens of the corrupted final
// residual with that output swapped for the clean one, and patching a head's hook_z equals
// patching its hook_result.
func TestPatch(t *testing.T) {
	for _, w := range weightings {
		t.Run(w.name, func(t *testing.T) {
			m := loadModel(t, tinyDir, w.steps...)
			a := New(m)
			clean := mcqIDs(t, m)
			corrupt := slices.Clone(clean)
			const changed = 27 // " Lindsey" after "A:" becomes " Kristen"
			corrupt[changed] = tokenID(t, m, " Kristen")
			A, B := tokenID(t, m, " A"), tokenID(t, m, " B")
			pt, err := a.Patch(clean, corrupt, PatchOptions{Target: A, Baseline: B, Resid: true, Heads: true, MLP: true})
			if err != nil {
				t.Fatal(err)
			}
			c := m.Config
			T := len(clean)
			if n := c.NLayers * (T + c.NHeads + 1); len(pt.Sites) != n {
				t.Fatalf("%d sites, want %d", len(pt.Sites), n)
			}
			ct := trace(t, a, clean, TraceOptions{Heads: true})
			xt := trace(t, a, corrupt, TraceOptions{Heads: true})
			metric := func(logits []float32) float64 { return float64(logits[A]) - float64(logits[B]) }
			closeTo(t, "clean", pt.Clean, metric(ct.Logits), 1e-6)
			closeTo(t, "corrupt", pt.Corrupt, metric(xt.Logits), 1e-6)
			D, H, L := c.DModel, c.NHeads, c.NLayers
			last := T - 1
			// lensDiff is the own-normalized lens of the corrupted final residual with part
			// old replaced by part new.
			lensDiff := func(oldPart, newPart []float32) float64 {
				x := add(sub(f64(xt.Resid[last*D:(last+1)*D]), f64(oldPart)), f64(newPart))
				ln := refLnFinal(m, x, 0)
				return refLogit(m, ln, A) - refLogit(m, ln, B)
			}
			for _, s := range pt.Sites {
				name := fmt.Sprintf("%s L%d pos %d head %d", s.Site, s.Layer, s.Pos, s.Head)
				closeTo(t, name+" recovered", s.Recovered, (s.Patched-pt.Corrupt)/(pt.Clean-pt.Corrupt), 1e-12)
				switch {
				case s.Site == SiteResid && s.Layer == 0 && s.Pos == changed:
					closeTo(t, name, s.Recovered, 1, 1e-9)
				case s.Site == SiteResid && s.Pos < changed:
					closeTo(t, name, s.Recovered, 0, 1e-9)
				case s.Site == SiteMLP && s.Layer == L-1:
					mo := gpt2.MLPOut(L - 1)
					closeTo(t, name, s.Patched, lensDiff(xt.Cache[mo].Data[last*D:(last+1)*D], ct.Cache[mo].Data[last*D:(last+1)*D]), 1e-4)
				case s.Site == SiteHead:
					// Patching a head's z is patching its output, hook_result, at every position.
					hr := gpt2.HeadResult(s.Layer)
					res, err := m.Run([][]int{corrupt}, gpt2.RunOptions{Logits: gpt2.LogitsLast, Hooks: []gpt2.Hook{{Name: hr, Fn: func(act gpt2.Activation) {
						for p := range T {
							off := (p*H + s.Head) * D
							copy(act.Data[off:off+D], ct.Cache[hr].Data[off:off+D])
						}
					}}}})
					if err != nil {
						t.Fatal(err)
					}
					closeTo(t, name, s.Patched, metric(res.Logits[0]), 1e-4)
				}
			}
		})
	}
}

func TestPatchPositionsAndErrors(t *testing.T) {
	m := loadModel(t, tinyDir)
	a := New(m)
	clean, corrupt := []int{1, 2, 3, 4}, []int{1, 2, 9, 4}
	pt, err := a.Patch(clean, corrupt, PatchOptions{Target: 5, Baseline: -1, Resid: true, Positions: []int{2, -1}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range pt.Sites {
		got = append(got, fmt.Sprintf("%s/%d/%d", s.Site, s.Layer, s.Pos))
	}
	want := []string{"resid_pre/0/2", "resid_pre/0/3", "resid_pre/1/2", "resid_pre/1/3"}
	if !slices.Equal(got, want) {
		t.Errorf("sites %v, want %v", got, want)
	}
	if pt.Baseline != nil {
		t.Errorf("baseline %+v, want none", pt.Baseline)
	}
	for _, c := range []struct {
		name           string
		clean, corrupt []int
		o              PatchOptions
		want           string
	}{
		{"lengths", clean, corrupt[:3], PatchOptions{Target: 5, Baseline: 6, Resid: true},
			"lens: the clean prompt has 4 tokens and the corrupted one 3: patching needs the same number"},
		{"same prompt", clean, clean, PatchOptions{Target: 5, Baseline: 6, MLP: true},
			"lens: the clean and corrupted prompts give the same metric"},
		{"no site", clean, corrupt, PatchOptions{Target: 5, Baseline: 6},
			"lens: no patch site chosen (resid_pre, head, mlp)"},
		{"position", clean, corrupt, PatchOptions{Target: 5, Baseline: 6, Resid: true, Positions: []int{4}},
			"lens: position 4 is outside the prompt's 4 tokens"},
	} {
		_, err := a.Patch(c.clean, c.corrupt, c.o)
		if err == nil || len(err.Error()) < len(c.want) || err.Error()[:len(c.want)] != c.want {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}
