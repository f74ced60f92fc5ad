package edit

import (
	"fmt"
	"math"

	"github.com/mechlens/mechlens/gpt2"
)

// KindClamp is a run-time intervention that sets the projection of an activation on a
// direction to a fixed value: what later layers read along that direction no longer depends
// on the input (debias uses it on a head's output when a fallback is carried by a direction
// that weight edits cannot remove without removing knowledge).
//
// Fields: Hook (and Head for head hooks, whose slice is clamped), Positions (all when
// empty), Vector the direction (normalized when applied), Alpha the value the projection is
// set to, Factor the strength s (default 1): the projection p becomes p + s·(Alpha − p).
const KindClamp = "clamp"

// Clamp sets the projection of hook (head's slice when head ≥ 0) on dir to value at
// positions, with strength s (1: fully).
func Clamp(hook string, head int, positions []int, dir []float32, value, s float64) Edit {
	return Edit{Kind: KindClamp, Hook: hook, Head: optHead(head), Positions: positions, Vector: dir, Alpha: value, Factor: &s}
}

// checkClamp checks a clamp's own fields.
func (e Edit) checkClamp() error {
	switch {
	case e.Hook == "":
		return fmt.Errorf("%s: hook is missing", e.Kind)
	case len(e.Vector) == 0:
		return fmt.Errorf("%s: vector (the direction) is missing", e.Kind)
	case !isFinite(e.Alpha):
		return fmt.Errorf("%s: alpha (the value) must be a finite number in float32's range", e.Kind)
	case e.Factor != nil && !isFinite(*e.Factor):
		return fmt.Errorf("%s: factor (the strength) must be a finite number in float32's range", e.Kind)
	}
	var n float64
	for i, x := range e.Vector {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("%s: vector[%d] is not finite", e.Kind, i)
		}
		n += float64(x) * float64(x)
	}
	if n == 0 {
		return fmt.Errorf("%s: the direction is zero", e.Kind)
	}
	return nil
}

func (e Edit) clampHooks() []gpt2.Hook {
	var n float64
	for _, x := range e.Vector {
		n += float64(x) * float64(x)
	}
	n = math.Sqrt(n)
	d := make([]float64, len(e.Vector))
	for j, x := range e.Vector {
		d[j] = float64(x) / n
	}
	s := 1.0
	if e.Factor != nil {
		s = *e.Factor
	}
	return []gpt2.Hook{{Name: e.Hook, Fn: func(a gpt2.Activation) {
		forRows(a, e.Head, e.Positions, func(row []float32) {
			var p float64
			for j, x := range row {
				p += float64(x) * d[j]
			}
			delta := s * (e.Alpha - p)
			for j := range row {
				row[j] += float32(delta * d[j])
			}
		})
	}}}
}

func (e Edit) clampString() string {
	s := fmt.Sprintf(" %s", e.Hook)
	if e.Head != nil {
		s += fmt.Sprintf(" head %d", *e.Head)
	}
	s += fmt.Sprintf(" to %g", e.Alpha)
	if e.Factor != nil && *e.Factor != 1 {
		s += fmt.Sprintf(" ×%g", *e.Factor)
	}
	return s + posText(e.Positions)
}
