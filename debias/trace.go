package debias

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/mechlens/mechlens/audit"
	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/lens"
)

// TraceOptions configure Trace.
type TraceOptions struct {
	// Anchor is the letter the model falls back on; it must be one option's letter token.
	Anchor int
	// Scan is the neuron scan's top neurons per layer and gap (the paper: 10 and 4).
	TopNeurons int
	Gap        float64
	// Neurons is how many neurons the result lists (by |mean direct effect|).
	Neurons int
	// Format, when set, is the items' prompt format: the fallback items are then run again
	// with their options rotated (Rotation).
	Format *audit.Format
}

// Stat is a mean over items with its normal-approximation 95% interval.
type Stat struct {
	Mean float64 `json:"mean"`
	Lo   float64 `json:"lo"`
	Hi   float64 `json:"hi"`
	N    int     `json:"n"`
}

func stat(xs []float64) Stat {
	s := Stat{N: len(xs), Mean: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	if len(xs) == 0 {
		return s
	}
	var m float64
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	s.Mean, s.Lo, s.Hi = m, m, m
	if len(xs) > 1 {
		var ss float64
		for _, x := range xs {
			ss += (x - m) * (x - m)
		}
		h := 1.96 * math.Sqrt(ss/float64(len(xs)-1)/float64(len(xs)))
		s.Lo, s.Hi = m-h, m+h
	}
	return s
}

// Component is one head, MLP or neuron with its effects on logit(anchor) − mean
// logit(other options) at the last position.
type Component struct {
	Name   string `json:"name"` // L1H2, L2.mlp, L2N301
	Kind   string `json:"kind"` // head, mlp, neuron
	Layer  int    `json:"layer"`
	Head   int    `json:"head"`   // −1 unless a head
	Neuron int    `json:"neuron"` // −1 unless a neuron
	// Direct is the direct logit attribution over every item, then over the items
	// answered correctly and incorrectly (letters rule).
	Direct    Stat `json:"direct"`
	Correct   Stat `json:"direct_correct"`
	Incorrect Stat `json:"direct_incorrect"`
	// Patch (heads and MLPs) is the change of the difference on the fallback items when the
	// component's output at the last position is set to its mean over the known items: its
	// total effect. Path patching splits it: PathDirect is the change when only the final
	// residual stream receives the patched output (sender → logits), PathLater when only the
	// later components do (sender → every later head and MLP, the final residual keeping its
	// own output). The two need not add up to Patch: ln_final's scale is not linear.
	Patch      *Stat `json:"patch,omitempty"`
	PathDirect *Stat `json:"path_direct,omitempty"`
	PathLater  *Stat `json:"path_later,omitempty"`
	// Groups is the direct effect per group of items, when they carry one.
	Groups []Stat `json:"groups,omitempty"`
}

// ScanNeuron is how often the paper's scan flags a neuron over the non-anchor items.
type ScanNeuron struct {
	Layer   int     `json:"layer"`
	Neuron  int     `json:"neuron"`
	Flagged int     `json:"flagged"`  // items where it is among the top and its gap exceeds the threshold
	Rate    float64 `json:"rate"`     // Flagged / non-anchor items
	MeanGap float64 `json:"mean_gap"` // over the flagged items (NaN, null in JSON, when none)
	// Top is how many non-anchor items have it among its layer's top neurons by score, and
	// TopGap its mean gap over them: what the threshold is applied to.
	Top    int     `json:"top"`
	TopGap float64 `json:"top_gap"`
}

// TraceResult is Trace's answer.
type TraceResult struct {
	Anchor    lens.Token `json:"anchor"`
	Items     int        `json:"items"`
	NonAnchor int        `json:"non_anchor"` // items whose answer is not the anchor
	Correct   int        `json:"correct"`    // answered correctly (letters rule)
	// Known and Fallback are the items patching reads and changes: answered correctly with
	// an answer other than the anchor, and answered with the anchor when it is wrong.
	Known    int `json:"known"`
	Fallback int `json:"fallback"`
	// Diff is logit(anchor) − mean logit(other options) over every item.
	Diff       Stat         `json:"diff"`
	Components []Component  `json:"components"` // heads then MLP of each layer
	Neurons    []Component  `json:"neurons"`    // the strongest by |mean direct effect|
	Scan       []ScanNeuron `json:"scan"`       // most often flagged first
	// ScanByGap are the Neurons neurons with the largest summed gap over the items where
	// they are among the top, flagged or not: on a model whose gaps stay under the threshold
	// (random weights) they are what the value-vector rule edits.
	ScanByGap  []ScanNeuron `json:"scan_by_gap"`
	GroupNames []string     `json:"group_names,omitempty"` // the groups of Component.Groups, in order
	ScanTop    int          `json:"scan_top"`
	ScanGap    float64      `json:"scan_gap"`
	// Rotation is the fallback items run again with their options rotated by one position.
	Rotation *Rotation `json:"rotation,omitempty"`
}

// anchorIndex returns the option whose letter is the anchor, or an error.
func anchorIndex(p *Prompt, anchor int) (int, error) {
	for k, id := range p.Letters {
		if id == anchor {
			return k, nil
		}
	}
	return -1, fmt.Errorf("debias: item %s: the anchor is none of its %d options' letters", p.ID, len(p.Letters))
}

// Trace aggregates, over prompts, where logit(anchor) − mean logit(other options) comes
// from: direct attribution to every head, MLP and neuron, the neuron scan on the items
// whose answer is not the anchor, and mean-patching from known items into fallback items.
// The model should be processed as the paper's analyses are (lens works either way).
func Trace(ctx context.Context, m *gpt2.Model, ps []Prompt, o TraceOptions) (*TraceResult, error) {
	if len(ps) == 0 {
		return nil, fmt.Errorf("debias: no items to trace")
	}
	c := m.Config
	L, H, M := c.NLayers, c.NHeads, c.DMLP
	an := lens.New(m)
	anchorAt := make([]int, len(ps))
	nonAnchor := 0
	for i := range ps {
		k, err := anchorIndex(&ps[i], o.Anchor)
		if err != nil {
			return nil, err
		}
		anchorAt[i] = k
		if ps[i].Answer != k {
			nonAnchor++
		}
	}
	if nonAnchor == 0 {
		return nil, fmt.Errorf("debias: every item's answer is the anchor %q: the scan needs items whose answer is another option", an.Token(o.Anchor).Text)
	}
	res := &TraceResult{Anchor: an.Token(o.Anchor), Items: len(ps), NonAnchor: nonAnchor, ScanTop: o.TopNeurons, ScanGap: o.Gap}
	nComp := L*H + L
	direct := make([][]float64, nComp) // [component][item]
	neuron := make([]float64, L*M)     // Σ over items
	neuronSq := make([]float64, L*M)
	flags := make([]int, L*M)
	gaps := make([]float64, L*M)
	tops := make([]int, L*M)
	topGaps := make([]float64, L*M)
	correct := make([]bool, len(ps))
	pred := make([]int, len(ps))
	var diffs []float64
	layers := make([]int, L)
	for l := range layers {
		layers[l] = l
	}
	for i := range ps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := &ps[i]
		tr, err := an.Trace(p.IDs, lens.TraceOptions{Heads: true})
		if err != nil {
			return nil, err
		}
		a := anchorAt[i]
		rec := record(i, p, tr.Logits)
		correct[i], pred[i] = rec.CorrectLetters, rec.PredLetters
		if correct[i] {
			res.Correct++
		}
		diffs = append(diffs, anchorDiff(rec.Logits, a))
		comp := make([]float64, nComp)
		per := make([]float64, L*M)
		others := float64(len(p.Letters) - 1)
		for k, other := range p.Letters {
			if k == a {
				continue
			}
			at, err := an.Attribute(tr, -1, o.Anchor, other)
			if err != nil {
				return nil, err
			}
			for _, part := range at.Parts {
				switch part.Kind {
				case lens.PartHead:
					comp[part.Layer*H+part.Head] += part.Value / others
				case lens.PartMLP:
					comp[L*H+part.Layer] += part.Value / others
				}
			}
			na, err := an.AttributeNeurons(tr, layers, -1, o.Anchor, other, L*M)
			if err != nil {
				return nil, err
			}
			for _, list := range [][]lens.NeuronContribution{na.Promoters, na.Suppressors} {
				for _, n := range list {
					per[n.Layer*M+n.Neuron] += n.Contribution / others
				}
			}
		}
		for j, v := range comp {
			direct[j] = append(direct[j], v)
		}
		for j, v := range per {
			neuron[j] += v
			neuronSq[j] += v * v
		}
		if p.Answer != a {
			sc, err := an.Scan(tr, lens.ScanOptions{Anchor: o.Anchor, Correct: p.Letters[p.Answer], Pos: -1, TopNeurons: o.TopNeurons, Gap: o.Gap})
			if err != nil {
				return nil, err
			}
			for _, ly := range sc.Layers {
				for _, n := range ly.Neurons {
					tops[ly.Layer*M+n.Neuron]++
					topGaps[ly.Layer*M+n.Neuron] += n.Diff
					if n.Flagged {
						flags[ly.Layer*M+n.Neuron]++
						gaps[ly.Layer*M+n.Neuron] += n.Diff
					}
				}
			}
		}
	}
	res.Diff = stat(diffs)
	for i := range ps {
		if g := ps[i].Group; g != "" && !slices.Contains(res.GroupNames, g) {
			res.GroupNames = append(res.GroupNames, g)
		}
	}
	slices.Sort(res.GroupNames)
	split := func(xs []float64, want bool) []float64 {
		var out []float64
		for i, x := range xs {
			if correct[i] == want {
				out = append(out, x)
			}
		}
		return out
	}
	for j := range nComp {
		cp := Component{Kind: "head", Layer: j / H, Head: j % H, Neuron: -1}
		cp.Name = fmt.Sprintf("L%dH%d", cp.Layer, cp.Head)
		if j >= L*H {
			cp = Component{Kind: "mlp", Layer: j - L*H, Head: -1, Neuron: -1, Name: fmt.Sprintf("L%d.mlp", j-L*H)}
		}
		cp.Direct, cp.Correct, cp.Incorrect = stat(direct[j]), stat(split(direct[j], true)), stat(split(direct[j], false))
		for _, g := range res.GroupNames {
			var xs []float64
			for i, x := range direct[j] {
				if ps[i].Group == g {
					xs = append(xs, x)
				}
			}
			cp.Groups = append(cp.Groups, stat(xs))
		}
		res.Components = append(res.Components, cp)
	}
	n := float64(len(ps))
	order := make([]int, L*M)
	for j := range order {
		order[j] = j
	}
	slices.SortFunc(order, func(x, y int) int { return cmp.Compare(math.Abs(neuron[y]), math.Abs(neuron[x])) })
	for _, j := range order[:min(o.Neurons, len(order))] {
		mean := neuron[j] / n
		sd := math.Sqrt(max(0, neuronSq[j]/n-mean*mean))
		h := 1.96 * sd / math.Sqrt(n)
		res.Neurons = append(res.Neurons, Component{Name: fmt.Sprintf("L%dN%d", j/M, j%M), Kind: "neuron", Layer: j / M, Head: -1, Neuron: j % M,
			Direct: Stat{Mean: mean, Lo: mean - h, Hi: mean + h, N: len(ps)}, Correct: Stat{Mean: math.NaN()}, Incorrect: Stat{Mean: math.NaN()}})
	}
	scanNeuron := func(j int) ScanNeuron {
		s := ScanNeuron{Layer: j / M, Neuron: j % M, Flagged: flags[j], Rate: float64(flags[j]) / float64(nonAnchor),
			MeanGap: math.NaN(), Top: tops[j], TopGap: topGaps[j] / float64(tops[j])}
		if flags[j] > 0 {
			s.MeanGap = gaps[j] / float64(flags[j])
		}
		return s
	}
	var inTop []int
	for j, f := range flags {
		if f > 0 {
			res.Scan = append(res.Scan, scanNeuron(j))
		}
		if tops[j] > 0 {
			inTop = append(inTop, j)
		}
	}
	slices.SortStableFunc(res.Scan, func(x, y ScanNeuron) int { return cmp.Compare(y.Flagged, x.Flagged) })
	slices.SortStableFunc(inTop, func(x, y int) int { return cmp.Compare(topGaps[y], topGaps[x]) })
	for _, j := range inTop[:min(o.Neurons, len(inTop))] {
		res.ScanByGap = append(res.ScanByGap, scanNeuron(j))
	}
	if err := patchRoutes(ctx, m, ps, anchorAt, pred, res); err != nil {
		return nil, err
	}
	if o.Format != nil {
		rot, err := rotate(ctx, m, ps, anchorAt, pred, *o.Format)
		if err != nil {
			return nil, err
		}
		res.Rotation = rot
	}
	return res, nil
}

// Rotation contrasts each fallback item with the same item whose options moved one position
// on (the last to the first): a fallback that is about the position stays on the anchor's
// position; one that is about the option shown there follows the option.
type Rotation struct {
	Items int `json:"items"` // fallback items with at least two options
	// StillAnchor is the share answered with the anchor's position again, FollowsOption the
	// share answered with the position the option chosen before moved to.
	StillAnchor   float64 `json:"still_anchor"`
	FollowsOption float64 `json:"follows_option"`
}

func rotate(ctx context.Context, m *gpt2.Model, ps []Prompt, anchorAt, pred []int, f audit.Format) (*Rotation, error) {
	var items []audit.Item
	var at []int
	for i := range ps {
		n := len(ps[i].Choices)
		if pred[i] != anchorAt[i] || ps[i].Answer == anchorAt[i] || n < 2 {
			continue
		}
		it := ps[i].Item
		it.Choices = append([]string{it.Choices[n-1]}, it.Choices[:n-1]...)
		it.Answer = (it.Answer + 1) % n
		items, at = append(items, it), append(at, anchorAt[i])
	}
	if len(items) == 0 {
		return &Rotation{}, nil
	}
	rot, err := Prepare(m, items, f)
	if err != nil {
		return nil, err
	}
	recs, err := Score(ctx, m, rot, nil)
	if err != nil {
		return nil, err
	}
	r := &Rotation{Items: len(items)}
	for i, rec := range recs {
		if rec.PredLetters == at[i] {
			r.StillAnchor++
		}
		if rec.PredLetters == (at[i]+1)%len(rec.Logits) {
			r.FollowsOption++
		}
	}
	r.StillAnchor /= float64(len(items))
	r.FollowsOption /= float64(len(items))
	return r, nil
}

// patchRoutes sets each head's and MLP's last-position output (the sender), on the fallback
// items, to its mean over the known items, and records the change of the anchor difference
// along every path and along two: into the final residual only, and into the later
// components only. One run per sender gives the three: a hook patches the sender, and a hook
// on the last block's output removes the sender's own change δ from the final residual R and
// keeps what is left, R0 + λ (R0 the unpatched residual, λ what later components changed).
// Then the total is read from R0 + λ + δ, the later path from R0 + λ and the direct path
// from R0 + δ, each through ln_final and the letters' unembedding as the model's last step.
func patchRoutes(ctx context.Context, m *gpt2.Model, ps []Prompt, anchorAt, pred []int, res *TraceResult) error {
	c := m.Config
	D, Dh := c.DModel, c.DHead
	var known, fallback []Prompt
	var fAnchor []int
	for i := range ps {
		a := anchorAt[i]
		switch {
		case ps[i].Answer == a:
		case pred[i] == ps[i].Answer:
			known = append(known, ps[i])
		case pred[i] == a:
			fallback, fAnchor = append(fallback, ps[i]), append(fAnchor, a)
		}
	}
	res.Known, res.Fallback = len(known), len(fallback)
	if len(known) == 0 || len(fallback) == 0 {
		return nil
	}
	// One run of the known items and one of the fallback items keep every output. The patch
	// is at the last position, which no earlier position reads: the fallback items' prefixes
	// run once into KV caches, and each patched run computes the last token only.
	var outs []string
	for l := range c.NLayers {
		outs = append(outs, gpt2.Z(l), gpt2.MLPOut(l))
	}
	final := gpt2.ResidPost(c.NLayers - 1)
	knownRows, err := cacheRows(ctx, m, known, outs, true)
	if err != nil {
		return err
	}
	orig, err := cacheRows(ctx, m, fallback, append(outs, final), true)
	if err != nil {
		return err
	}
	prefixes, err := prefixCaches(ctx, m, fallback)
	if err != nil {
		return err
	}
	rd := newLetterReader(m, fallback)
	base := make([]float64, len(fallback))
	for i, r := range orig[final] {
		base[i] = rd.diff(i, fAnchor[i], r)
	}
	deltas := make([][]float32, len(fallback)) // δ of each fallback item, in the residual stream
	kept := make([][]float32, len(fallback))   // R0 + λ of each fallback item
	for i := range deltas {
		deltas[i], kept[i] = make([]float32, D), make([]float32, D)
	}
	for j := range res.Components {
		cp := &res.Components[j]
		hook := gpt2.MLPOut(cp.Layer)
		if cp.Kind == "head" {
			hook = gpt2.Z(cp.Layer)
		}
		mean := meanVec(knownRows[hook])
		lo, hi := 0, len(mean)
		if cp.Kind == "head" {
			lo, hi = cp.Head*Dh, (cp.Head+1)*Dh
		}
		set := make([]float32, hi-lo)
		for k := range set {
			set[k] = float32(mean[lo+k])
		}
		var wo [][]float32 // the head's rows of W_O
		if cp.Kind == "head" {
			for k := lo; k < hi; k++ {
				w := make([]float32, D)
				m.WO(cp.Layer).Row(k, w)
				wo = append(wo, w)
			}
		}
		for i, row := range orig[hook] {
			d := deltas[i]
			if cp.Kind != "head" {
				for k := range d {
					d[k] = set[k] - row[k]
				}
				continue
			}
			clear(d)
			for k, v := range set {
				dz := v - row[lo+k]
				for e, w := range wo[k] {
					d[e] += dz * w
				}
			}
		}
		hooks := func(b int) []gpt2.Hook {
			return []gpt2.Hook{{Name: hook, Fn: func(a gpt2.Activation) {
				T := a.Shape[0]
				row := a.Data[(T-1)*len(a.Data)/T:]
				copy(row[lo:hi], set)
			}}, {Name: final, Fn: func(a gpt2.Activation) {
				row := a.Data[len(a.Data)-D:]
				i := b + a.Seq
				for e, d := range deltas[i] {
					row[e] -= d
				}
				copy(kept[i], row)
			}}}
		}
		if err := lastTokenRuns(ctx, m, fallback, prefixes, hooks); err != nil {
			return err
		}
		total, direct, later := make([]float64, len(fallback)), make([]float64, len(fallback)), make([]float64, len(fallback))
		sum := make([]float32, D)
		for i := range fallback {
			later[i] = rd.diff(i, fAnchor[i], kept[i]) - base[i]
			for e := range sum {
				sum[e] = kept[i][e] + deltas[i][e]
			}
			total[i] = rd.diff(i, fAnchor[i], sum) - base[i]
			for e := range sum {
				sum[e] = orig[final][i][e] + deltas[i][e]
			}
			direct[i] = rd.diff(i, fAnchor[i], sum) - base[i]
		}
		st, sd, sl := stat(total), stat(direct), stat(later)
		cp.Patch, cp.PathDirect, cp.PathLater = &st, &sd, &sl
	}
	return nil
}

// letterReader reads the anchor difference of a final residual vector: ln_final and the
// unembedding of the item's letters, through lens.LensLogit (the model's own last step).
type letterReader struct {
	an      *lens.Analyzer
	ps      []Prompt
	u       map[int][]float32 // W_U[:, letter]
	scratch []float32
	logits  []float32
}

func newLetterReader(m *gpt2.Model, ps []Prompt) *letterReader {
	r := &letterReader{an: lens.New(m), ps: ps, u: map[int][]float32{}, scratch: make([]float32, m.Config.DModel)}
	for _, p := range ps {
		for _, id := range p.Letters {
			if r.u[id] == nil {
				r.u[id] = m.UnembeddingVector(id)
			}
		}
	}
	return r
}

// diff is prompt i's logit(anchor) − mean logit(other options) from the final residual v.
func (r *letterReader) diff(i, a int, v []float32) float64 {
	r.logits = r.logits[:0]
	for _, id := range r.ps[i].Letters {
		r.logits = append(r.logits, float32(r.an.LensLogit(v, id, r.u[id], r.scratch)))
	}
	return anchorDiff(r.logits, a)
}

// anchorDiff is logit(anchor) − mean logit(other options) from the options' logits.
func anchorDiff(letters []float32, a int) float64 {
	d := float64(letters[a])
	for k, v := range letters {
		if k != a {
			d -= float64(v) / float64(len(letters)-1)
		}
	}
	return d
}

// prefixCaches runs every prompt but its last token into a KV cache of its own.
func prefixCaches(ctx context.Context, m *gpt2.Model, ps []Prompt) ([]*gpt2.KVCache, error) {
	out := make([]*gpt2.KVCache, len(ps))
	for i := range out {
		out[i] = m.NewKVCache()
	}
	err := inBatches(ctx, m, ps, func(p *Prompt) []int { return p.IDs[:len(p.IDs)-1] },
		func(b, n int) gpt2.RunOptions { return gpt2.RunOptions{Logits: gpt2.LogitsNone, Past: out[b : b+n]} },
		func(int, *gpt2.Result, int) {})
	return out, err
}

// lastTokenRuns runs each prompt's last token from a copy of its prefix's cache, with the
// hooks of the batch starting at prompt b (Activation.Seq counts from there), and no
// unembedding: the hooks read what they need.
func lastTokenRuns(ctx context.Context, m *gpt2.Model, ps []Prompt, prefixes []*gpt2.KVCache, hooks func(b int) []gpt2.Hook) error {
	return inBatches(ctx, m, ps, func(p *Prompt) []int { return p.IDs[len(p.IDs)-1:] },
		func(b, n int) gpt2.RunOptions {
			past := make([]*gpt2.KVCache, n)
			for i := range past {
				past[i] = prefixes[b+i].Clone()
			}
			return gpt2.RunOptions{Logits: gpt2.LogitsNone, Past: past, Hooks: hooks(b)}
		},
		func(int, *gpt2.Result, int) {})
}
