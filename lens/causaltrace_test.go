package lens

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/procstat"
)

func TestSubjectRange(t *testing.T) {
	m := loadModel(t, tinyDir)
	prompt := "The Space Needle is in downtown"
	ids := m.Tokenizer.Encode(prompt)
	s, e, err := SubjectRange(m.Tokenizer, prompt, "Space Needle", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Tokenizer.Decode(ids[s-1 : e-1]); got != " Space Needle" {
		t.Errorf("tokens [%d, %d) are %q, want \" Space Needle\"", s, e, got)
	}
	// Part of a token takes the whole token.
	if s2, e2, _ := SubjectRange(m.Tokenizer, prompt, "pace Needle", 0); s2 != s-1 || e2 != e-1 {
		t.Errorf("partial subject: [%d, %d), want [%d, %d)", s2, e2, s-1, e-1)
	}
	_, _, err = SubjectRange(m.Tokenizer, prompt, "Eiffel", 0)
	if want := `lens: the subject "Eiffel" is not in the prompt "The Space Needle is in downtown"`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

func TestCausalTrace(t *testing.T) {
	m := loadModel(t, tinyDir)
	a := New(m)
	prompt := "The Space Needle is in downtown"
	ids := m.Tokenizer.Encode(prompt)
	s, e, err := SubjectRange(m.Tokenizer, prompt, "Space Needle", 0)
	if err != nil {
		t.Fatal(err)
	}
	o := CausalTraceOptions{SubjectStart: s, SubjectEnd: e, Target: -1, Samples: 4, Window: 1, Seed: 7}
	ct, err := a.CausalTrace(ids, o)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Run([][]int{ids}, gpt2.RunOptions{Logits: gpt2.LogitsLast})
	if err != nil {
		t.Fatal(err)
	}
	if top := topK(res.Logits[0], 1, false)[0]; ct.Target.ID != top {
		t.Errorf("target %d, want the clean top token %d", ct.Target.ID, top)
	}
	if want := probOf(res.Logits[0], ct.Target.ID); math.Abs(ct.Clean-want) > 1e-7 {
		t.Errorf("clean %g, want %g", ct.Clean, want)
	}
	if want := 3 * NoiseStd(m); ct.Noise != want {
		t.Errorf("noise %g, want 3 × std = %g", ct.Noise, want)
	}
	T, L := len(ids), m.Config.NLayers
	if len(ct.Panels) != 3 {
		t.Fatalf("%d panels, want 3", len(ct.Panels))
	}
	for _, pn := range ct.Panels {
		for p := range s {
			for l := range L {
				// Before the subject the clean and corrupted states are the same.
				if d := math.Abs(pn.Scores[p][l] - ct.Corrupt); d > 1e-6 {
					t.Errorf("%s pos %d layer %d: %g, want the corrupted %g", pn.Kind, p, l, pn.Scores[p][l], ct.Corrupt)
				}
			}
		}
	}
	// The last block's output at the last position decides the answer alone.
	if got := ct.Panels[0].Scores[T-1][L-1]; math.Abs(got-ct.Clean) > 1e-6 {
		t.Errorf("hidden, last position, last layer: %g, want the clean %g", got, ct.Clean)
	}
	again, err := a.CausalTrace(ids, o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ct, again) {
		t.Error("the same seed gave another trace")
	}
	o.Seed++
	other, err := a.CausalTrace(ids, o)
	if err != nil {
		t.Fatal(err)
	}
	if other.Corrupt == ct.Corrupt {
		t.Error("another seed gave the same corrupted probability")
	}
	o.SubjectEnd = T + 1
	if _, err := a.CausalTrace(ids, o); err == nil {
		t.Error("subject past the prompt: no error")
	}
}

// TestCausalTraceDirect checks the batched trace, which runs only the positions from the
// restored one on over the corrupted runs' keys and values, against the definition: one
// full run per kind, layer, position and sample, noise and restoring done by hooks.
func TestCausalTraceDirect(t *testing.T) {
	m := loadModel(t, tinyDir)
	a := New(m)
	ids := m.Tokenizer.Encode("The Space Needle is in downtown Seattle")
	const S, window, subStart, subEnd = 3, 2, 1, 3
	o := CausalTraceOptions{SubjectStart: subStart, SubjectEnd: subEnd, Target: -1, Samples: S, Window: window, Seed: 11}
	ct, err := a.CausalTrace(ids, o)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	T, D, L := len(ids), c.DModel, c.NLayers
	r := rand.New(rand.NewPCG(o.Seed, 0x636175736174))
	noise := make([][]float32, S)
	for s := range noise {
		noise[s] = make([]float32, (subEnd-subStart)*D)
		for i := range noise[s] {
			noise[s][i] = float32(ct.Noise * r.NormFloat64())
		}
	}
	var keep []string
	for l := range L {
		keep = append(keep, gpt2.ResidPost(l), gpt2.MLPOut(l), gpt2.AttnOut(l))
	}
	clean, err := m.Run([][]int{ids}, gpt2.RunOptions{Logits: gpt2.LogitsLast, Cache: keep})
	if err != nil {
		t.Fatal(err)
	}
	for _, pn := range ct.Panels {
		for l := range L {
			lo, hi, point := l, l+1, gpt2.ResidPost
			if pn.Kind != TraceHidden {
				lo, hi, point = max(0, l-window/2), min(L, l+(window+1)/2), gpt2.MLPOut
				if pn.Kind == TraceAttn {
					point = gpt2.AttnOut
				}
			}
			for p := range T {
				var want float64
				for s := range S {
					hooks := []gpt2.Hook{{Name: gpt2.HookEmbed, Fn: func(act gpt2.Activation) {
						for i, v := range noise[s] {
							act.Data[subStart*D+i] += v
						}
					}}}
					for w := lo; w < hi; w++ {
						src := clean.Cache[0][point(w)].Data[p*D : (p+1)*D]
						hooks = append(hooks, gpt2.Hook{Name: point(w), Fn: func(act gpt2.Activation) { copy(act.Data[p*D:], src) }})
					}
					res, err := m.Run([][]int{ids}, gpt2.RunOptions{Logits: gpt2.LogitsLast, Hooks: hooks})
					if err != nil {
						t.Fatal(err)
					}
					want += probOf(res.Logits[0], ct.Target.ID) / S
				}
				// Float rounding only: a restoring run of one token (the last position) takes
				// the decode path's dot products instead of the GEMM.
				if got := pn.Scores[p][l]; math.Abs(got-want) > 1e-5*want {
					t.Errorf("%s layer %d position %d: %g, want %g", pn.Kind, l, p, got, want)
				}
			}
		}
	}
}

func TestCausalTraceErrors(t *testing.T) {
	m := loadModel(t, tinyDir)
	a := New(m)
	ids := m.Tokenizer.Encode("The Space Needle is in downtown")
	ok := CausalTraceOptions{SubjectStart: 1, SubjectEnd: 3, Target: -1, Samples: 2, Window: 1}
	for _, c := range []struct {
		edit func(o *CausalTraceOptions)
		want string
	}{
		{func(o *CausalTraceOptions) { o.SubjectEnd = 99 }, "lens: subject tokens [1, 99) outside the prompt's 7 tokens"},
		{func(o *CausalTraceOptions) { o.Samples = 0 }, "lens: causal tracing needs at least one corrupted run, got 0"},
		{func(o *CausalTraceOptions) { o.Noise = math.NaN() }, "lens: noise NaN is not a standard deviation"},
		{func(o *CausalTraceOptions) { o.Noise = 1e39 }, "lens: noise 1e+39 overflows float32, the type of the embeddings"},
		{func(o *CausalTraceOptions) { o.Noise = 1e300 }, "lens: noise 1e+300 overflows float32, the type of the embeddings"},
	} {
		o := ok
		c.edit(&o)
		ct, err := a.CausalTrace(ids, o)
		if err == nil || err.Error() != c.want {
			t.Errorf("%+v: error %v, want %q", o, err, c.want)
			if err == nil && math.IsNaN(ct.Corrupt) {
				t.Errorf("%+v: the corrupted probability is NaN", o)
			}
		}
	}
	// A sample count past the machine's memory is refused before anything is allocated.
	if procstat.AvailableMiB() > 0 {
		o := ok
		o.Samples = 1 << 40
		want := "lens: 1099511627776 samples need 9.85e+06 GB for the corrupted runs' states; this machine has "
		if _, err := a.CausalTrace(ids, o); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("2⁴⁰ samples: error %v, want %q…", err, want)
		}
	}
}
