package edit

import (
	"math"

	"github.com/mechlens/mechlens/gpt2"
)

// Size is how much one edit changes: the weight rows it writes and the Frobenius norm of
// the change (for steer, α‖v‖; for ablate and attention, 0: they depend on the input).
type Size struct {
	Rows int
	Norm float64
}

// Sizes measures each edit of the set on m by applying the set to a clone of m, one edit
// after another, as Apply would; m is left as it was.
func (s *Set) Sizes(m *gpt2.Model) ([]Size, error) {
	c := m.Clone()
	if _, err := s.Apply(c); err != nil { // checks everything first
		return nil, err
	}
	c = m.Clone()
	out := make([]Size, len(s.Edits))
	for i, e := range s.Edits {
		switch {
		case e.Kind == KindSteer:
			out[i].Norm = math.Abs(e.Alpha) * norm(e.Vector)
		case e.runtime():
		case e.Kind == KindRankOne:
			w, _ := c.Matrix(e.Layer, e.Matrix)
			out[i] = Size{w.K, norm(e.U) * norm(e.V)}
		default:
			name, rows := e.target(c.Config)
			w, _ := c.Matrix(e.Layer, name)
			before := make([][]float32, len(rows))
			for j, r := range rows {
				before[j] = make([]float32, w.N)
				w.Row(r, before[j])
			}
			e.applyWeights(c)
			w, _ = c.Matrix(e.Layer, name)
			after := make([]float32, w.N)
			var ss float64
			for j, r := range rows {
				w.Row(r, after)
				for k := range after {
					d := float64(after[k]) - float64(before[j][k])
					ss += d * d
				}
			}
			out[i] = Size{len(rows), math.Sqrt(ss)}
			continue
		}
		if !e.runtime() {
			e.applyWeights(c)
		}
	}
	return out, nil
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}
