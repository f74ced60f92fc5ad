package lens

import (
	"math"
	"reflect"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
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
