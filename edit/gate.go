package edit

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/mechlens/mechlens/gpt2"
)

// Gate makes a steer conditional on what heads of an earlier layer attend to: the steer's
// α is multiplied by g = clamp((f − Lo)/(Hi − Lo), 0, 1), f the mean over Heads of the
// largest attention weight, from the steered position, on one key other than the first
// (where heads park their attention, <|endoftext|> when the prompt starts with it). debias
// uses it to calibrate only where the model reads "this entity is unknown": on the
// organism, f of L2H2 and L2H3 is 0.96–0.99 on average on entities it never saw stated, and
// 0.71–0.88 on ones it knows.
type Gate struct {
	Layer int     `json:"layer"`
	Heads []int   `json:"heads"`
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
}

// GatedSteer is Steer at one position, scaled by the gate.
func GatedSteer(hook string, position int, alpha float64, vec []float32, g Gate) Edit {
	e := Steer(hook, -1, []int{position}, alpha, vec)
	e.Gate = &g
	return e
}

// checkGate checks a steer's gate without a model.
func (e Edit) checkGate() error {
	g := e.Gate
	switch {
	case g == nil:
		return nil
	case e.Kind != KindSteer:
		return fmt.Errorf("%s: gate: only a steer can be gated", e.Kind)
	case len(g.Heads) == 0:
		return fmt.Errorf("%s: gate: heads are missing", e.Kind)
	case !isFinite(g.Lo) || !isFinite(g.Hi) || g.Hi <= g.Lo:
		return fmt.Errorf("%s: gate: lo and hi must be finite numbers in float32's range with lo < hi", e.Kind)
	case len(e.Positions) != 1:
		return fmt.Errorf("%s: gate: a gated steer acts at one position (positions: [-1] for the last)", e.Kind)
	}
	return nil
}

// validateGate checks the gate against the model's shape: heads in range, and the gate's
// attention computed before the steered hook point.
func (e Edit) validateGate(c gpt2.Config) error {
	g := e.Gate
	if g == nil {
		return nil
	}
	if g.Layer < 0 || g.Layer >= c.NLayers {
		return fmt.Errorf("%s: gate: layer %d is outside [0, %d)", e.Kind, g.Layer, c.NLayers)
	}
	for _, h := range g.Heads {
		if h < 0 || h >= c.NHeads {
			return fmt.Errorf("%s: gate: head %d is outside [0, %d)", e.Kind, h, c.NHeads)
		}
	}
	names := gpt2.HookNames(c)
	if slices.Index(names, e.Hook) <= slices.Index(names, gpt2.Pattern(g.Layer)) {
		return fmt.Errorf("%s: gate: %s comes before the gate's %s", e.Kind, e.Hook, gpt2.Pattern(g.Layer))
	}
	return nil
}

// gatedSteerHooks reads the gate at the pattern hook and steers by α·g at the steer's hook.
// The gate of a sequence is kept under the address of its token slice, which both hooks of
// one run see and concurrent runs do not share.
func (e Edit) gatedSteerHooks() []gpt2.Hook {
	g := e.Gate
	var mu sync.Mutex
	gates := map[*int]float64{}
	return []gpt2.Hook{{Name: gpt2.Pattern(g.Layer), Fn: func(a gpt2.Activation) {
		T, Tk := a.Shape[1], a.Shape[2]
		p := e.Positions[0]
		if p < 0 {
			p += T
		}
		if p < 0 || p >= T || Tk < 2 {
			return
		}
		var f float64
		for _, h := range g.Heads {
			f += Focus(a.Data, T, Tk, h, p) / float64(len(g.Heads))
		}
		mu.Lock()
		gates[&a.IDs[0]] = math.Min(1, math.Max(0, (f-g.Lo)/(g.Hi-g.Lo)))
		mu.Unlock()
	}}, {Name: e.Hook, Fn: func(a gpt2.Activation) {
		mu.Lock()
		s, ok := gates[&a.IDs[0]]
		delete(gates, &a.IDs[0])
		mu.Unlock()
		if !ok || s == 0 {
			return
		}
		e.steer(a, e.Alpha*s)
	}}}
}

// Focus is what a gate reads of one head: the largest attention weight from query position
// p to one key other than the first, in a pattern of shape [heads, T, Tk] (Tk ≥ 2).
func Focus(pattern []float32, T, Tk, head, p int) float64 {
	return float64(slices.Max(pattern[(head*T+p)*Tk+1 : (head*T+p+1)*Tk]))
}

func (g *Gate) String() string {
	hs := make([]string, len(g.Heads))
	for i, h := range g.Heads {
		hs[i] = fmt.Sprint(h)
	}
	return fmt.Sprintf(" gated by L%d heads %s attention to one token in [%g, %g]", g.Layer, strings.Join(hs, ","), g.Lo, g.Hi)
}
