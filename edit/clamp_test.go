package edit_test

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/gpt2"
)

// A clamp sets the projection of one head's z on a direction to its value at the chosen
// position, leaves the other positions alone, survives a JSON round trip, and reverts.
func TestClampSetsTheProjection(t *testing.T) {
	m := load(t, tiny)
	c := m.Config
	r := rand.New(rand.NewPCG(1, 2))
	dir := vec(r, c.DHead)
	seq := []int{10, 20, 30, 40}
	z := func() []float32 {
		res, err := m.Run([][]int{seq}, gpt2.RunOptions{Logits: gpt2.LogitsNone, Cache: []string{gpt2.Z(1)}})
		if err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), res.Cache[0][gpt2.Z(1)].Data...)
	}
	before := z()
	proj := func(data []float32, pos int) float64 {
		var p, n float64
		row := data[(pos*c.NHeads+2)*c.DHead:]
		for j, d := range dir {
			p += float64(row[j]) * float64(d)
			n += float64(d) * float64(d)
		}
		return p / math.Sqrt(n)
	}
	set := edit.NewSet(m, "tiny")
	if err := set.Append(m, edit.Clamp(gpt2.Z(1), 2, []int{-1}, dir, 0.75, 1)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "edits.json")
	if err := set.Save(path); err != nil {
		t.Fatal(err)
	}
	b, err := edit.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ap, err := b.Apply(m)
	if err != nil {
		t.Fatal(err)
	}
	after := z()
	if p := proj(after, len(seq)-1); math.Abs(p-0.75) > 1e-5 {
		t.Errorf("projection at the last position %g, want 0.75", p)
	}
	if p, q := proj(after, 0), proj(before, 0); p != q {
		t.Errorf("position 0 changed: %g, was %g", p, q)
	}
	if len(m.Edits) != 1 || m.Edits[0] != "clamp blocks.1.attn.hook_z head 2 to 0.75 at -1" {
		t.Errorf("model edits %q", m.Edits)
	}
	if err := ap.Revert(); err != nil {
		t.Fatal(err)
	}
	if p, q := proj(z(), len(seq)-1), proj(before, len(seq)-1); p != q {
		t.Errorf("after revert the projection is %g, was %g", p, q)
	}
	if err := set.Append(m, edit.Clamp(gpt2.Z(1), 2, nil, make([]float32, c.DHead), 0, 1)); err == nil || err.Error() != "clamp: the direction is zero" {
		t.Errorf("zero direction: error %v", err)
	}
}
