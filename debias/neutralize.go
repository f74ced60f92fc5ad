package debias

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/mechlens/mechlens/audit"
	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/gpt2"
)

// NeutralizeOptions configure Neutralize.
type NeutralizeOptions struct {
	Anchor    int    // the anchor letter's token id
	ModelName string // recorded in the edit set
	// Fallback names the groups whose anchor rate the search brings to chance; nil chooses
	// the groups answered with the anchor at least 90% of the time on the fit split (every
	// item when the data has no groups).
	Fallback []string
	// Tol is the accuracy loss tolerated on the fit split in each other group (default 0.01).
	Tol float64
	// Trace, if set, is the fit split's trace (else Neutralize traces the fit split).
	Trace *TraceResult
	// Progress, if set, is told what is being done.
	Progress func(step string)
}

// GroupStat is the plain counts of one group (no intervals): what the search compares.
type GroupStat struct {
	Group      string  `json:"group"`
	N          int     `json:"n"`
	Accuracy   float64 `json:"accuracy"`
	ARate      float64 `json:"a_rate"` // answered with the anchor
	Chance     float64 `json:"chance"` // mean of 1/options
	Anchored   float64 `json:"anchored"`
	EvenSpread float64 `json:"even_spread"`
	AAccuracy  float64 `json:"a_accuracy"` // accuracy on items whose answer is the anchor
	RStd       float64 `json:"rstd"`
}

// Candidate is one edit set the search tried, with its numbers on the fit split (and on the
// eval split for the best of each family and the chosen one).
type Candidate struct {
	Family    string      `json:"family"`
	Name      string      `json:"name"`
	Edits     []edit.Edit `json:"edits"`
	Objective float64     `json:"objective"` // on the fit split; lower is better
	Fit       []GroupStat `json:"fit"`
	Eval      []GroupStat `json:"eval,omitempty"`
}

// Search is what Neutralize found.
type Search struct {
	Fallback   []string    `json:"fallback_groups"`
	Kept       []string    `json:"kept_groups"`
	Tol        float64     `json:"tol"`
	FitBefore  []GroupStat `json:"fit_before"`
	EvalBefore []GroupStat `json:"eval_before"`
	Candidates []Candidate `json:"candidates"`
	Best       int         `json:"best"` // index into Candidates
	// Route is the component patching found carrying the fallback (the candidates' target),
	// Neurons the scan's most flagged neurons.
	// NeuronRule says how they were chosen: "flagged" (the paper's rule), or "summed gap"
	// when the scan flags none (the neurons with the largest gap among the top by score).
	Route      string   `json:"route"`
	Neurons    []string `json:"neurons"`
	NeuronRule string   `json:"neuron_rule"`
	// Gates are the head sets the gated families read (gateHeadSets).
	Gates []GateHeads `json:"gates"`
	// Set is the chosen edit set.
	Set *edit.Set `json:"-"`
}

// Tally counts the records of prompts per group ("" is every item), anchor at option a of
// each prompt.
func Tally(ps []Prompt, recs []audit.Record, anchorAt []int) []GroupStat {
	type acc struct {
		n, correct, ansA, notA, notAA, isA, isAok int
		chance, even                              float64
		atPos, hitAt                              []float64
	}
	by := map[string]*acc{}
	get := func(g string) *acc {
		if by[g] == nil {
			by[g] = &acc{}
		}
		return by[g]
	}
	for i, r := range recs {
		a := anchorAt[i]
		groups := []string{""}
		if g := ps[i].Group; g != "" {
			groups = append(groups, g)
		}
		for _, g := range groups {
			s := get(g)
			k := len(r.Logits)
			s.n++
			s.chance += 1 / float64(k)
			for len(s.atPos) < k {
				s.atPos, s.hitAt = append(s.atPos, 0), append(s.hitAt, 0)
			}
			s.atPos[r.Answer]++
			if r.CorrectLetters {
				s.correct++
				s.hitAt[r.Answer]++
			}
			if r.PredLetters == a {
				s.ansA++
			}
			if r.Answer != a {
				s.notA++
				if r.PredLetters == a {
					s.notAA++
				}
				if !r.CorrectLetters {
					s.even += 1 / float64(k-1)
				}
			} else {
				s.isA++
				if r.CorrectLetters {
					s.isAok++
				}
			}
		}
	}
	names := make([]string, 0, len(by))
	for g := range by {
		names = append(names, g)
	}
	sort.Strings(names)
	out := make([]GroupStat, 0, len(names))
	for _, g := range names {
		s := by[g]
		var recall []float64
		for k, n := range s.atPos {
			if n > 0 {
				recall = append(recall, s.hitAt[k]/n)
			}
		}
		out = append(out, GroupStat{Group: g, N: s.n, Accuracy: frac(s.correct, s.n), ARate: frac(s.ansA, s.n),
			Chance: s.chance / float64(s.n), Anchored: frac(s.notAA, s.notA), EvenSpread: ratio(s.even, s.notA),
			AAccuracy: frac(s.isAok, s.isA), RStd: popSD(recall)})
	}
	return out
}

func frac(a, b int) float64 { return ratio(float64(a), b) }

func ratio(a float64, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / float64(b)
}

func popSD(x []float64) float64 {
	if len(x) < 2 {
		return math.NaN()
	}
	var m, ss float64
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	for _, v := range x {
		ss += (v - m) * (v - m)
	}
	return math.Sqrt(ss / float64(len(x)))
}

// find returns the stat of group g ("" every item).
func find(st []GroupStat, g string) GroupStat {
	for _, s := range st {
		if s.Group == g {
			return s
		}
	}
	return GroupStat{Group: g, Accuracy: math.NaN(), ARate: math.NaN()}
}

// objective scores a candidate's fit numbers against the fit baseline (lower is better):
// the fallback groups' anchor rate away from chance and their RStd, plus, in every other group, the
// anchored rate above its even spread, and a heavy price on accuracy lost beyond the
// tolerance (tol, or one item of the group if larger) and, in the groups answered well
// before (accuracy ≥ 0.9: what the model knows), on accuracy lost on anchor-answer items.
// Without groups the one group "" is both fallback and kept, its anchored rate replaces the
// distance to chance and its accuracy on anchor-answer items is always held.
func objective(before, after []GroupStat, fallback, kept []string, tol float64) float64 {
	var fa, fc float64
	var fn int
	for _, g := range fallback {
		s := find(after, g)
		fa += s.ARate * float64(s.N)
		fc += s.Chance * float64(s.N)
		fn += s.N
	}
	j := 0.0
	noGroups := slices.Equal(fallback, []string{""})
	switch {
	case noGroups:
		// No groups: nothing says which items the model cannot know, so the anchored rate
		// itself is what comes down (on the paper's IOI items, whose answer is never the
		// anchor, the error rate), held by the price on accuracy lost on anchor-answer items.
		if a := find(after, ""); !math.IsNaN(a.Anchored) {
			j = a.Anchored
		}
	case fn > 0:
		j = math.Abs(fa-fc) / float64(fn)
	}
	// Positional spread of the fallback groups: a fallback removed by moving every answer
	// to one other letter is no fix.
	for _, g := range fallback {
		if s := find(after, g); fn > 0 && !math.IsNaN(s.RStd) {
			j += s.RStd * float64(s.N) / float64(fn)
		}
	}
	var kn int
	for _, g := range kept {
		kn += find(after, g).N
	}
	pen := func(x float64) float64 {
		if math.IsNaN(x) {
			return 0
		}
		return max(0, x)
	}
	for _, g := range kept {
		b, a := find(before, g), find(after, g)
		t := max(tol, 1/float64(max(a.N, 1)))
		if kn > 0 && !noGroups {
			j += float64(a.N) / float64(kn) * pen(a.Anchored-a.EvenSpread)
		}
		j += 10 * pen(b.Accuracy-a.Accuracy-t)
		if b.Accuracy >= 0.9 || noGroups {
			j += 10 * pen(b.AAccuracy-a.AAccuracy-t)
		}
	}
	return j
}

// anchorIndices returns each prompt's anchor option.
func anchorIndices(ps []Prompt, anchor int) ([]int, error) {
	out := make([]int, len(ps))
	for i := range ps {
		k, err := anchorIndex(&ps[i], anchor)
		if err != nil {
			return nil, err
		}
		out[i] = k
	}
	return out, nil
}

// runEdits scores prompts with edits applied to m, then reverts them (bit-exact).
func runEdits(ctx context.Context, m *gpt2.Model, name string, edits []edit.Edit, ps []Prompt) ([]audit.Record, error) {
	if len(edits) == 0 {
		return Score(ctx, m, ps, nil)
	}
	s := edit.NewSet(m, name)
	if err := s.Append(m, edits...); err != nil {
		return nil, err
	}
	ap, err := s.Apply(m)
	if err != nil {
		return nil, err
	}
	recs, err := Score(ctx, m, ps, nil)
	if rerr := ap.Revert(); err == nil {
		err = rerr
	}
	return recs, err
}

// anchorReadout is the vector v of the final layer norm's output space whose addition
// lowers the anchor's logit by exactly 1 and leaves every other option letter's logit
// unchanged: the part of W_U[:, anchor] orthogonal to the other letters' columns, scaled.
func anchorReadout(m *gpt2.Model, anchor int, others []int) ([]float32, error) {
	D := m.Config.DModel
	var basis [][]float64
	for _, t := range others {
		u := m.UnembeddingVector(t)
		v := make([]float64, D)
		for j := range v {
			v[j] = float64(u[j])
		}
		orthogonalize(v, basis)
		if n := norm(v); n > 1e-9 {
			for j := range v {
				v[j] /= n
			}
			basis = append(basis, v)
		}
	}
	ua := m.UnembeddingVector(anchor)
	r := make([]float64, D)
	for j := range r {
		r[j] = float64(ua[j])
	}
	orthogonalize(r, basis)
	var dot float64
	for j := range r {
		dot += r[j] * float64(ua[j])
	}
	if dot < 1e-9 {
		return nil, fmt.Errorf("debias: the anchor's unembedding lies in the span of the other letters': no readout changes it alone")
	}
	out := make([]float32, D)
	for j := range r {
		out[j] = float32(r[j] / dot)
	}
	return out, nil
}

func orthogonalize(v []float64, basis [][]float64) {
	for _, b := range basis {
		var d float64
		for j := range v {
			d += v[j] * b[j]
		}
		for j := range v {
			v[j] -= d * b[j]
		}
	}
}

func norm(v []float64) float64 {
	var n float64
	for _, x := range v {
		n += x * x
	}
	return math.Sqrt(n)
}

// anchorDirection is W_U[:, anchor] − mean of the other letters' columns: the direct
// readout of "anchor against the others".
func anchorDirection(m *gpt2.Model, anchor int, others []int) []float32 {
	ua := m.UnembeddingVector(anchor)
	d := make([]float32, len(ua))
	for j := range d {
		d[j] = ua[j]
	}
	for _, t := range others {
		u := m.UnembeddingVector(t)
		for j := range d {
			d[j] -= u[j] / float32(len(others))
		}
	}
	return d
}

// Neutralize searches, on the fit prompts, the strengths of candidate edits built from the
// fit split's trace, picks the candidate with the lowest objective, and measures every
// family's best and the chosen one on the eval prompts. m is left as it was.
func Neutralize(ctx context.Context, m *gpt2.Model, fit, eval []Prompt, o NeutralizeOptions) (*Search, error) {
	if o.Tol == 0 {
		o.Tol = 0.01
	}
	progress := func(s string) {
		if o.Progress != nil {
			o.Progress(s)
		}
	}
	fitA, err := anchorIndices(fit, o.Anchor)
	if err != nil {
		return nil, err
	}
	evalA, err := anchorIndices(eval, o.Anchor)
	if err != nil {
		return nil, err
	}
	progress("baseline")
	r0, err := Score(ctx, m, fit, nil)
	if err != nil {
		return nil, err
	}
	e0, err := Score(ctx, m, eval, nil)
	if err != nil {
		return nil, err
	}
	sr := &Search{Tol: o.Tol, FitBefore: Tally(fit, r0, fitA), EvalBefore: Tally(eval, e0, evalA)}
	items := make([]audit.Item, len(fit))
	for i := range fit {
		items[i] = fit[i].Item
	}
	if err := CheckFallback(items, o.Fallback); err != nil {
		return nil, err
	}
	sr.Fallback, sr.Kept = chooseGroups(sr.FitBefore, o.Fallback)
	if len(sr.Fallback) == 0 {
		return nil, fmt.Errorf("debias: no group of the fit split is answered with the anchor at least 90%% of the time: name the fallback groups")
	}
	tr := o.Trace
	if tr == nil {
		progress("trace")
		if tr, err = Trace(ctx, m, fit, TraceOptions{Anchor: o.Anchor, TopNeurons: 10, Gap: 4, Neurons: 10}); err != nil {
			return nil, err
		}
	}
	route := routeHead(tr)
	sr.Route = route.Name
	flagged, rule := valueNeurons(tr, 3)
	sr.NeuronRule = rule
	for _, n := range flagged {
		sr.Neurons = append(sr.Neurons, fmt.Sprintf("L%dN%d", n.Layer, n.Neuron))
	}
	try := func(family, name string, edits ...edit.Edit) (*Candidate, error) {
		recs, err := runEdits(ctx, m, o.ModelName, edits, fit)
		if err != nil {
			return nil, err
		}
		st := Tally(fit, recs, fitA)
		c := Candidate{Family: family, Name: name, Edits: edits, Fit: st, Objective: objective(sr.FitBefore, st, sr.Fallback, sr.Kept, o.Tol)}
		sr.Candidates = append(sr.Candidates, c)
		return &sr.Candidates[len(sr.Candidates)-1], nil
	}
	// The other letters: every label of the widest item but the anchor.
	var others []int
	for _, p := range fit {
		if len(p.Letters) > len(others)+1 {
			others = others[:0]
			for _, id := range p.Letters {
				if id != o.Anchor {
					others = append(others, id)
				}
			}
		}
	}
	readout, err := anchorReadout(m, o.Anchor, others)
	if err != nil {
		return nil, err
	}
	calibrate := func(alpha float64) edit.Edit {
		e := edit.Steer(gpt2.HookLnFinalNormed, -1, []int{-1}, -alpha, readout)
		e.Note = fmt.Sprintf("anchor calibration: logit(anchor) − %.3g at the last position, other letters unchanged", alpha)
		return e
	}
	// Search a strength on a coarse grid, then finely around the best; return the best of all.
	search := func(family, label string, grid []float64, build func(a float64) []edit.Edit) (float64, error) {
		best, bestAlpha := math.Inf(1), 0.0
		one := func(a float64) error {
			c, err := try(family, fmt.Sprintf("%s%.2f", label, a), build(a)...)
			if err == nil && c.Objective < best {
				best, bestAlpha = c.Objective, a
			}
			return err
		}
		for _, a := range grid {
			if err := one(a); err != nil {
				return 0, err
			}
		}
		step := (grid[1] - grid[0]) / 5
		center := bestAlpha
		for _, d := range []float64{-3, -2, -1, 1, 2, 3} {
			if a := center + d*step; a > 0 {
				if err := one(a); err != nil {
					return 0, err
				}
			}
		}
		return bestAlpha, nil
	}
	searchCalibration := func(family string, extra []edit.Edit, label string) error {
		_, err := search(family, label+"calibrate α=", []float64{0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4}, func(a float64) []edit.Edit {
			return append(slices.Clone(extra), calibrate(a))
		})
		return err
	}
	// No edit is a candidate too, and the first: when nothing beats it (ties included),
	// the chosen set is empty.
	if _, err := try("none", "no edit"); err != nil {
		return nil, err
	}
	// Shrink: the anchor's private readout (the part of the final layer norm's output along
	// r) pulled toward its level on the items answered with another letter, by a share s:
	// a constant fallback shrinks with everything else, and a large known margin keeps most
	// of itself.
	if level, ok := readoutLevel(fit, r0, fitA, m, readout); ok {
		_, err := search("shrink", "shrink the anchor readout ×", []float64{0.25, 0.5, 0.75, 1}, func(a float64) []edit.Edit {
			e := edit.Clamp(gpt2.HookLnFinalNormed, -1, []int{-1}, readout, level, a)
			e.Note = fmt.Sprintf("anchor readout pulled %.0f%% of the way to its level on items answered with another letter", 100*a)
			return []edit.Edit{e}
		})
		if err != nil {
			return nil, err
		}
	}
	progress("calibration")
	if err := searchCalibration("calibrate", nil, ""); err != nil {
		return nil, err
	}
	letters, err := letterCalibration(m, fit, r0, sr.Fallback)
	if err != nil {
		return nil, err
	}
	if letters != nil {
		_, err := search("calibrate letters", "calibrate every letter ×", []float64{0.5, 0.75, 1, 1.25, 1.5, 1.75, 2}, func(a float64) []edit.Edit {
			e := edit.Steer(gpt2.HookLnFinalNormed, -1, []int{-1}, a, letters)
			e.Note = fmt.Sprintf("letter calibration ×%.2f: each letter's logit at the last position moved by minus its mean offset on the fallback items", a)
			return []edit.Edit{e}
		})
		if err != nil {
			return nil, err
		}
	}
	// Gated calibration: the same steer, scaled by how much heads of one layer concentrate
	// the last position's attention on one token (the organism's layer-1 heads, and two of
	// layer 2's, look at an unknown entity and nothing else): a calibration for the items
	// the model reads as unknown, none for the others. The heads are the ones whose focus
	// separates the fallback items from the known ones on the fit split, per layer up to the
	// one after the route head's (what reads the route can gate it too).
	if route.Kind == "head" {
		progress("gates")
		gates, err := gateHeadSets(ctx, m, fit, r0, fitA, sr.Fallback, route.Layer+1)
		if err != nil {
			return nil, err
		}
		sr.Gates = gates
		for _, g := range gates {
			progress("gated calibration " + g.String())
			if err := searchGated(g, try, search, readout, letters); err != nil {
				return nil, err
			}
		}
	}
	if route.Kind == "head" {
		progress("clamp " + route.Name)
		clamp, canClamp, err := fallbackClamp(ctx, m, fit, fitA, r0, route)
		if err != nil {
			return nil, err
		}
		bestS, bestJ := 0.0, math.Inf(1)
		for _, s := range []float64{0.25, 0.5, 0.75, 1} {
			if !canClamp {
				break
			}
			e := clamp
			e.Factor = &s
			c, err := try("clamp", fmt.Sprintf("clamp %s ×%.2f", route.Name, s), e)
			if err != nil {
				return nil, err
			}
			if c.Objective < bestJ {
				bestS, bestJ = s, c.Objective
			}
		}
		for _, f := range []float64{0, 0.5} {
			if _, err := try("scale_head", fmt.Sprintf("scale %s ×%.1f", route.Name, f), edit.ScaleHead(route.Layer, route.Head, f)); err != nil {
				return nil, err
			}
		}
		dir := anchorDirection(m, o.Anchor, others)
		if _, err := try("project_out", fmt.Sprintf("project anchor direction out of %s", route.Name), edit.ProjectOutHead(route.Layer, route.Head, dir)); err != nil {
			return nil, err
		}
		for _, f := range []float64{0} {
			if _, err := try("attention", fmt.Sprintf("%s attention to the letters ×%.0f", route.Name, f), edit.AttentionScale(route.Layer, route.Head, -1, nil, true, f)); err != nil {
				return nil, err
			}
		}
		if canClamp {
			progress("clamp + calibration")
			e := clamp
			e.Factor = &bestS
			if err := searchCalibration("clamp+calibrate", []edit.Edit{e}, fmt.Sprintf("clamp %s ×%.2f + ", route.Name, bestS)); err != nil {
				return nil, err
			}
		}
	}
	if len(flagged) > 0 {
		progress("value vectors")
		add := others[0]
		for _, al := range valueVectorGrid() {
			var edits []edit.Edit
			for _, n := range flagged {
				e, err := edit.ValueVectorRule(m, n.Layer, n.Neuron, m.Tokenizer.Decode([]int{o.Anchor}), m.Tokenizer.Decode([]int{add}), al[0], al[1])
				if err != nil {
					return nil, err
				}
				edits = append(edits, e)
			}
			if _, err := try("value_vector", fmt.Sprintf("paper's rule on %s α1=%g α2=%g", strings.Join(sr.Neurons, ","), al[0], al[1]), edits...); err != nil {
				return nil, err
			}
		}
		dir := anchorDirection(m, o.Anchor, others)
		var edits []edit.Edit
		byLayer := map[int][]int{}
		var layers []int
		for _, n := range flagged {
			if byLayer[n.Layer] == nil {
				layers = append(layers, n.Layer)
			}
			byLayer[n.Layer] = append(byLayer[n.Layer], n.Neuron)
		}
		for _, l := range layers {
			edits = append(edits, edit.ProjectOutNeurons(l, byLayer[l], dir))
		}
		if _, err := try("project_out", fmt.Sprintf("project anchor direction out of %s (label-free)", strings.Join(sr.Neurons, ",")), edits...); err != nil {
			return nil, err
		}
	}
	sr.Best = 0
	for i, c := range sr.Candidates {
		if c.Objective < sr.Candidates[sr.Best].Objective {
			sr.Best = i
		}
	}
	// Eval numbers for the best of each family and the chosen one.
	progress("eval")
	bestOf := map[string]int{}
	for i, c := range sr.Candidates {
		if j, ok := bestOf[c.Family]; !ok || c.Objective < sr.Candidates[j].Objective {
			bestOf[c.Family] = i
		}
	}
	for _, i := range bestOf {
		c := &sr.Candidates[i]
		recs, err := runEdits(ctx, m, o.ModelName, c.Edits, eval)
		if err != nil {
			return nil, err
		}
		c.Eval = Tally(eval, recs, evalA)
	}
	sr.Set = edit.NewSet(m, o.ModelName)
	if err := sr.Set.Append(m, sr.Candidates[sr.Best].Edits...); err != nil {
		return nil, err
	}
	return sr, nil
}

// readoutLevel is the mean projection of the final layer norm's output at the last position
// on the unit direction of r, over the fit items answered with another letter than the
// anchor (false when there are none).
func readoutLevel(fit []Prompt, recs []audit.Record, anchorAt []int, m *gpt2.Model, r []float32) (float64, bool) {
	var ps []Prompt
	for i, rec := range recs {
		if rec.PredLetters != anchorAt[i] {
			ps = append(ps, fit[i])
		}
	}
	if len(ps) == 0 {
		return 0, false
	}
	rows, err := lastRows(context.Background(), m, ps, gpt2.HookLnFinalNormed)
	if err != nil {
		return 0, false
	}
	dir := unit(meanVec([][]float32{r}))
	var mean float64
	for _, p := range projections(rows, -1, dir) {
		mean += p / float64(len(rows))
	}
	return mean, true
}

// letterCalibration is the steer vector that moves each option letter's logit at the
// last position by minus its mean offset (its logit minus the mean of the item's letters)
// over the fit items of the fallback groups: contextual calibration, fitted without labels
// on what the model does when it does not know. nil when no fallback item has two letters.
func letterCalibration(m *gpt2.Model, fit []Prompt, recs []audit.Record, fallback []string) ([]float32, error) {
	var letters []int
	for _, p := range fit {
		if len(p.Letters) > len(letters) {
			letters = p.Letters
		}
	}
	sum := make([]float64, len(letters))
	n := make([]int, len(letters))
	for i, r := range recs {
		if !slices.Contains(fallback, fit[i].Group) && !slices.Equal(fallback, []string{""}) {
			continue
		}
		var mean float64
		for _, v := range r.Logits {
			mean += float64(v) / float64(len(r.Logits))
		}
		for k, v := range r.Logits {
			sum[k] += float64(v) - mean
			n[k]++
		}
	}
	D := m.Config.DModel
	vec := make([]float32, D)
	any := false
	for k, id := range letters {
		if n[k] == 0 {
			continue
		}
		var others []int
		for j, o := range letters {
			if j != k {
				others = append(others, o)
			}
		}
		r, err := anchorReadout(m, id, others)
		if err != nil {
			return nil, err
		}
		c := sum[k] / float64(n[k])
		for j := range vec {
			vec[j] -= float32(c) * r[j]
		}
		any = true
	}
	if !any {
		return nil, nil
	}
	return vec, nil
}

// CheckFallback says which of the fallback groups given no item of the fit split carries;
// nil when every one is there (or none is given).
func CheckFallback(fit []audit.Item, given []string) error {
	if len(given) == 0 {
		return nil
	}
	var groups []string
	for _, it := range fit {
		if it.Group != "" && !slices.Contains(groups, it.Group) {
			groups = append(groups, it.Group)
		}
	}
	if len(groups) == 0 {
		return fmt.Errorf("debias: the items carry no group, so %q cannot be a fallback group", given[0])
	}
	slices.Sort(groups)
	for _, g := range given {
		if !slices.Contains(groups, g) {
			return fmt.Errorf("debias: no item of the fit split is in group %q (its groups: %s)", g, strings.Join(groups, ", "))
		}
	}
	return nil
}

// chooseGroups splits the groups into fallback (given, or answered with the anchor ≥ 90%)
// and kept (the rest); without groups every item is both.
func chooseGroups(before []GroupStat, given []string) (fallback, kept []string) {
	if len(before) == 1 { // only "" (every item): no groups
		return []string{""}, []string{""}
	}
	for _, s := range before {
		if s.Group == "" {
			continue
		}
		if given != nil && slices.Contains(given, s.Group) || given == nil && s.ARate >= 0.9 {
			fallback = append(fallback, s.Group)
		} else {
			kept = append(kept, s.Group)
		}
	}
	return fallback, kept
}

// routeHead is the head whose patching from known items lowers the anchor difference of
// the fallback items most (else the head with the largest mean direct effect on the
// incorrect items).
func routeHead(tr *TraceResult) Component {
	var best Component
	score := math.Inf(1)
	for _, c := range tr.Components {
		if c.Kind != "head" {
			continue
		}
		s := -math.Abs(c.Incorrect.Mean)
		if c.Patch != nil {
			s = c.Patch.Mean
		}
		if math.IsNaN(s) {
			continue
		}
		if s < score {
			best, score = c, s
		}
	}
	return best
}

// valueNeurons returns the scan's n most often flagged neurons, or, when it flags none, the
// n with the largest summed gap where they are among the top, and which rule chose them.
func valueNeurons(tr *TraceResult, n int) ([]ScanNeuron, string) {
	if len(tr.Scan) > 0 {
		return tr.Scan[:min(n, len(tr.Scan))], "flagged"
	}
	return tr.ScanByGap[:min(n, len(tr.ScanByGap))], "summed gap"
}

// valueVectorGrid is the (α1, α2) sweep of the paper's rule: the anchor's unembedding taken
// out of the value vectors α1 times, another letter's added α2 times.
func valueVectorGrid() [][2]float64 {
	var g [][2]float64
	for _, a1 := range []float64{1, 2, 4, 8} {
		for _, a2 := range []float64{0, 1, 4, 8} {
			g = append(g, [2]float64{a1, a2})
		}
	}
	return g
}

// fallbackClamp builds the clamp of the route head's output at the last position along the
// direction later layers read the anchor from (the mean gradient of the anchor difference
// over the fit items answered with the anchor wrongly, or else over all items answered with
// the anchor), to the mean projection of the items answered correctly with another letter;
// false when the fit split lacks either kind of item.
func fallbackClamp(ctx context.Context, m *gpt2.Model, fit []Prompt, anchorAt []int, recs []audit.Record, route Component) (edit.Edit, bool, error) {
	var fb, fbAll, known []Prompt
	var fbA, fbAllA []int
	for i, r := range recs {
		a := anchorAt[i]
		switch {
		case r.PredLetters == a && r.Answer != a:
			fb, fbA = append(fb, fit[i]), append(fbA, a)
		case r.PredLetters == a:
			fbAll, fbAllA = append(fbAll, fit[i]), append(fbAllA, a)
		case r.CorrectLetters:
			known = append(known, fit[i])
		}
	}
	if len(fb) < 10 {
		fb, fbA = append(fb, fbAll...), append(fbA, fbAllA...)
	}
	if len(fb) == 0 || len(known) == 0 {
		return edit.Edit{}, false, nil
	}
	hook := gpt2.Z(route.Layer)
	dh := m.Config.DHead
	g, err := AnchorGradients(ctx, m, fb, fbA, hook)
	if err != nil {
		return edit.Edit{}, false, err
	}
	dir := meanDir(g, route.Head, dh)
	if dir == nil {
		return edit.Edit{}, false, nil
	}
	rows, err := lastRows(ctx, m, known, hook)
	if err != nil {
		return edit.Edit{}, false, err
	}
	var mean float64
	for _, p := range projections(rows, route.Head, dir) {
		mean += p / float64(len(rows))
	}
	e := edit.Clamp(hook, route.Head, []int{-1}, dir, mean, 1)
	e.Note = fmt.Sprintf("%s's output along the anchor gradient set to the known items' mean", route.Name)
	return e, true, nil
}

// GateHeads is one gate the search tries: heads of one layer whose focus (edit.Focus at the
// last position) separates the items read as unknown from the others, AUC the smallest of
// their heads' (auc of the fallback items' focus against the known items').
type GateHeads struct {
	Layer int     `json:"layer"`
	Heads []int   `json:"heads"`
	AUC   float64 `json:"auc"`
}

func (g GateHeads) String() string {
	hs := make([]string, len(g.Heads))
	for i, h := range g.Heads {
		hs[i] = fmt.Sprint(h)
	}
	return fmt.Sprintf("L%d heads %s", g.Layer, strings.Join(hs, ","))
}

// gateAUC is how well a head's focus must order the fallback items above the known ones to
// read a gate: in three pairs of one of each out of four. It is a rank, not a difference of
// means, because what a gate reads is the top of the range: on the organism every head of
// layer 1 focuses on one token on known items too (mean 0.90–0.96 against 0.97–0.99), yet
// orders the two kinds right in 0.81–0.89 of the pairs, and L2H2 and L2H3 in 0.90 and 0.92,
// while the other heads stay at 0.55 or under.
const gateAUC = 0.75

// gateHeadSets picks the gates from the fit split without labels: per layer up to maxLayer,
// the heads whose focus orders the fallback items (in a fallback group, answered with the
// anchor) above the known ones (in a kept group, answered with another letter; without
// groups, every item answered with the anchor against every other) with an auc above
// gateAUC. One gate per layer that has such heads; none when no head separates them or
// either side is empty.
func gateHeadSets(ctx context.Context, m *gpt2.Model, fit []Prompt, recs []audit.Record, anchorAt []int, fallback []string, maxLayer int) ([]GateHeads, error) {
	noGroups := slices.Equal(fallback, []string{""})
	side := make([]int, len(fit)) // 1 fallback, 2 known, 0 neither
	var nf, nk int
	for i, r := range recs {
		inFallback := noGroups || slices.Contains(fallback, fit[i].Group)
		switch {
		case inFallback && r.PredLetters == anchorAt[i]:
			side[i], nf = 1, nf+1
		case (noGroups || !inFallback) && r.PredLetters != anchorAt[i]:
			side[i], nk = 2, nk+1
		}
	}
	if nf == 0 || nk == 0 {
		return nil, nil
	}
	maxLayer = min(maxLayer, m.Config.NLayers-1)
	H := m.Config.NHeads
	var names []string
	for l := 0; l <= maxLayer; l++ {
		names = append(names, gpt2.Pattern(l))
	}
	// f[l*H+h][side]: each item's focus on that head.
	f := make([][3][]float64, (maxLayer+1)*H)
	err := inBatches(ctx, m, fit, wholePrompt,
		func(b, n int) gpt2.RunOptions { return gpt2.RunOptions{Logits: gpt2.LogitsNone, Cache: names} },
		func(i int, res *gpt2.Result, s int) {
			if side[i] == 0 {
				return
			}
			for l, n := range names {
				t := res.Cache[s][n]
				T, Tk := t.Shape[1], t.Shape[2]
				if Tk < 2 {
					continue
				}
				for h := range H {
					f[l*H+h][side[i]] = append(f[l*H+h][side[i]], edit.Focus(t.Data, T, Tk, h, T-1))
				}
			}
		})
	if err != nil {
		return nil, err
	}
	var gates []GateHeads
	for l := 0; l <= maxLayer; l++ {
		g := GateHeads{Layer: l, AUC: math.Inf(1)}
		for h := range H {
			d := auc(f[l*H+h][1], f[l*H+h][2])
			if d > gateAUC {
				g.Heads = append(g.Heads, h)
				g.AUC = min(g.AUC, d)
			}
		}
		if len(g.Heads) > 0 {
			gates = append(gates, g)
		}
	}
	return gates, nil
}

// searchGated adds the gated families under the heads g: the anchor calibration with the
// gate's threshold and width on a coarse grid, then its strength finely around the best;
// every letter at once under the same gate; and the two together on a grid of both
// strengths and of the threshold ±0.05 around the best (with the letters spreading the
// answers, the anchor needs less, and the gate can open later, on fewer known items).
func searchGated(g GateHeads, try func(family, name string, edits ...edit.Edit) (*Candidate, error),
	search func(family, label string, grid []float64, build func(a float64) []edit.Edit) (float64, error),
	readout, letters []float32) error {
	// On the grid's hundredths, so that edits.json says 0.85, not 0.8500000000000001.
	cents := func(x float64) float64 { return math.Round(100*x) / 100 }
	gate := func(lo, width float64) edit.Gate {
		return edit.Gate{Layer: g.Layer, Heads: g.Heads, Lo: cents(lo), Hi: cents(lo + width)}
	}
	gated := func(lo, width, a float64) edit.Edit {
		e := edit.GatedSteer(gpt2.HookLnFinalNormed, -1, -a, readout, gate(lo, width))
		e.Note = fmt.Sprintf("anchor calibration of up to %.3g logits where %s attend to one token", a, g)
		return e
	}
	label := func(lo, width float64) string {
		return fmt.Sprintf("calibrate gated by %s attention [%.2f, %.2f] α=", g, lo, lo+width)
	}
	bestJ, bestLo, bestW := math.Inf(1), 0.0, 0.0
	for _, lo := range []float64{0.5, 0.6, 0.7, 0.8, 0.9} {
		for _, w := range []float64{0.1, 0.3} {
			for _, a := range []float64{2.5, 3.5} {
				c, err := try("gated calibrate", fmt.Sprintf("%s%.2f", label(lo, w), a), gated(lo, w, a))
				if err != nil {
					return err
				}
				if c.Objective < bestJ {
					bestJ, bestLo, bestW = c.Objective, lo, w
				}
			}
		}
	}
	if _, err := search("gated calibrate", label(bestLo, bestW), []float64{2, 3, 4, 5}, func(a float64) []edit.Edit {
		return []edit.Edit{gated(bestLo, bestW, a)}
	}); err != nil {
		return err
	}
	if letters == nil {
		return nil
	}
	gatedLetters := func(lo, width, a float64) edit.Edit {
		e := edit.GatedSteer(gpt2.HookLnFinalNormed, -1, a, letters, gate(lo, width))
		e.Note = fmt.Sprintf("letter calibration ×%.2f where %s attend to one token", a, g)
		return e
	}
	lettersLabel := fmt.Sprintf("calibrate every letter gated by %s attention [%.2f, %.2f] ×", g, bestLo, bestLo+bestW)
	if _, err := search("gated calibrate letters", lettersLabel, []float64{0.5, 1, 1.5, 2, 2.5}, func(a float64) []edit.Edit {
		return []edit.Edit{gatedLetters(bestLo, bestW, a)}
	}); err != nil {
		return err
	}
	for _, lo := range []float64{bestLo - 0.05, bestLo, bestLo + 0.05} {
		for _, a := range []float64{1.4, 1.8, 2.2, 2.6, 3.0} {
			for _, k := range []float64{0.5, 1, 1.5, 2} {
				if _, err := try("gated calibrate + letters", fmt.Sprintf("%s%.2f + letters ×%.2f", label(lo, bestW), a, k), gated(lo, bestW, a), gatedLetters(lo, bestW, k)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// auc is the probability that a value of a exceeds one of b (ties count half).
func auc(a, b []float64) float64 {
	if len(a) == 0 || len(b) == 0 {
		return math.NaN()
	}
	b = slices.Sorted(slices.Values(b))
	var s float64
	for _, x := range a {
		lo, _ := slices.BinarySearch(b, x)
		hi := lo
		for hi < len(b) && b[hi] == x {
			hi++
		}
		s += float64(lo) + float64(hi-lo)/2
	}
	return s / float64(len(a)) / float64(len(b))
}
