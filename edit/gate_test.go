package edit_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/gpt2"
)

// A gated steer is the plain steer scaled by g = clamp((f − lo)/(hi − lo), 0, 1), f the
// mean over the gate's heads of the largest attention weight of the last position on one
// key after the first: g = 1 below every f, 0 above, and in between the steer of α·g.
func TestGatedSteer(t *testing.T) {
	m := load(t, tiny, analysis...)
	r := rand.New(rand.NewPCG(3, 4))
	v := vec(r, m.Config.DModel)
	heads := []int{0, 2}
	ids := [][]int{m.Tokenizer.Encode("When Mary and John went to the store, John gave"), m.Tokenizer.Encode("The cat sat")}
	res, err := m.Run(ids, gpt2.RunOptions{Logits: gpt2.LogitsLast, Cache: []string{gpt2.Pattern(1)}})
	if err != nil {
		t.Fatal(err)
	}
	var f []float64
	for s := range ids {
		p := res.Cache[s][gpt2.Pattern(1)]
		T := p.Shape[1]
		var x float64
		for _, h := range heads {
			row := p.Data[(h*T+T-1)*T : (h*T+T)*T]
			mx := float32(0)
			for _, w := range row[1:] {
				mx = max(mx, w)
			}
			x += float64(mx) / 2
		}
		f = append(f, x)
	}
	run := func(edits ...edit.Edit) [][]float32 {
		s := edit.NewSet(m, "tiny")
		s.Edits = edits
		ap, err := s.Apply(m)
		if err != nil {
			t.Fatal(err)
		}
		defer ap.Revert()
		res, err := m.Run(ids, gpt2.RunOptions{Logits: gpt2.LogitsLast})
		if err != nil {
			t.Fatal(err)
		}
		return res.Logits
	}
	near := func(what string, a, b [][]float32) {
		for s := range a {
			for j := range a[s] {
				if math.Abs(float64(a[s][j]-b[s][j])) > 1e-4 {
					t.Fatalf("%s: sequence %d token %d: %g, want %g", what, s, j, a[s][j], b[s][j])
				}
			}
		}
	}
	hook := gpt2.HookLnFinalNormed
	gated := func(lo, hi float64) edit.Edit {
		return edit.GatedSteer(hook, -1, 2, v, edit.Gate{Layer: 1, Heads: heads, Lo: lo, Hi: hi})
	}
	near("always open", run(gated(-2, -1)), run(edit.Steer(hook, -1, []int{-1}, 2, v)))
	near("always shut", run(gated(1, 2)), run())
	// Half open on the first sequence: lo and hi around its f; the second's f decides its own.
	lo, hi := f[0]-0.5, f[0]+0.5
	got := run(gated(lo, hi))
	for s := range ids {
		g := math.Min(1, math.Max(0, (f[s]-lo)/(hi-lo)))
		want := run(edit.Steer(hook, -1, []int{-1}, 2*g, v))
		near("sequence's own gate", got[s:s+1], want[s:s+1])
	}
	for _, tc := range []struct {
		e    edit.Edit
		want string
	}{
		{edit.GatedSteer(hook, -1, 1, v, edit.Gate{Layer: 1, Heads: heads, Lo: 0.5, Hi: 0.5}), "lo < hi"},
		{edit.GatedSteer(hook, -1, 1, v, edit.Gate{Layer: 1, Lo: 0, Hi: 1}), "heads are missing"},
		{edit.GatedSteer(hook, -1, 1, v, edit.Gate{Layer: 1, Heads: []int{4}, Lo: 0, Hi: 1}), "head 4 is outside [0, 4)"},
		{edit.GatedSteer(gpt2.ResidPost(0), -1, 1, v, edit.Gate{Layer: 1, Heads: heads, Lo: 0, Hi: 1}), "comes before the gate's blocks.1.attn.hook_pattern"},
		{edit.Edit{Kind: edit.KindSteer, Hook: hook, Alpha: 1, Vector: v, Gate: &edit.Gate{Layer: 1, Heads: heads, Lo: 0, Hi: 1}}, "acts at one position"},
	} {
		s := edit.NewSet(m, "tiny")
		s.Edits = append(s.Edits, tc.e)
		if _, err := s.Apply(m); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.e, err, tc.want)
		}
	}
	if s := gated(0.1, 0.9).String(); !strings.Contains(s, "gated by L1 heads 0,2 attention to one token in [0.1, 0.9]") {
		t.Errorf("String: %s", s)
	}
}
