package debias

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

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
	// component's output at the last position is set to its mean over the known items:
	// its total effect, direct and through later layers. Indirect is Patch minus the gap of
	// its mean direct attribution (known items' minus fallback items'): approximately what
	// it does through later layers.
	Patch    *Stat    `json:"patch,omitempty"`
	Indirect *float64 `json:"indirect,omitempty"`
	// Groups is the direct effect per group of items, when they carry one.
	Groups []Stat `json:"groups,omitempty"`
}

// ScanNeuron is how often the paper's scan flags a neuron over the non-anchor items.
type ScanNeuron struct {
	Layer   int     `json:"layer"`
	Neuron  int     `json:"neuron"`
	Flagged int     `json:"flagged"` // items where it is among the top and its gap exceeds the threshold
	Rate    float64 `json:"rate"`    // Flagged / non-anchor items
	MeanGap float64 `json:"mean_gap"`
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
	Components []Component  `json:"components"`            // heads then MLP of each layer
	Neurons    []Component  `json:"neurons"`               // the strongest by |mean direct effect|
	Scan       []ScanNeuron `json:"scan"`                  // most often flagged first
	GroupNames []string     `json:"group_names,omitempty"` // the groups of Component.Groups, in order
	ScanTop    int          `json:"scan_top"`
	ScanGap    float64      `json:"scan_gap"`
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
	for j, f := range flags {
		if f > 0 {
			res.Scan = append(res.Scan, ScanNeuron{Layer: j / M, Neuron: j % M, Flagged: f, Rate: float64(f) / float64(nonAnchor), MeanGap: gaps[j] / float64(f)})
		}
	}
	slices.SortStableFunc(res.Scan, func(x, y ScanNeuron) int { return cmp.Compare(y.Flagged, x.Flagged) })
	if err := patchRoutes(ctx, m, ps, anchorAt, pred, direct, res); err != nil {
		return nil, err
	}
	return res, nil
}

// patchRoutes sets each head's and MLP's last-position output, on the fallback items, to
// its mean over the known items, and records the change of the anchor difference.
func patchRoutes(ctx context.Context, m *gpt2.Model, ps []Prompt, anchorAt, pred []int, direct [][]float64, res *TraceResult) error {
	Dh := m.Config.DHead
	var known, fallback []Prompt
	var kIdx, fIdx []int
	for i := range ps {
		a := anchorAt[i]
		switch {
		case ps[i].Answer == a:
		case pred[i] == ps[i].Answer:
			known, kIdx = append(known, ps[i]), append(kIdx, i)
		case pred[i] == a:
			fallback, fIdx = append(fallback, ps[i]), append(fIdx, i)
		}
	}
	res.Known, res.Fallback = len(known), len(fallback)
	if len(known) == 0 || len(fallback) == 0 {
		return nil
	}
	fAnchor := make([]int, len(fIdx))
	for k, i := range fIdx {
		fAnchor[k] = anchorAt[i]
	}
	base, err := anchorDiffs(ctx, m, fallback, fAnchor, nil)
	if err != nil {
		return err
	}
	// One run of the known items keeps every output patched. The patch is at the last
	// position, which no earlier position reads: the fallback items' prefixes run once into
	// KV caches, and each patched run computes the last token only.
	c := m.Config
	var outs []string
	for l := range c.NLayers {
		outs = append(outs, gpt2.Z(l), gpt2.MLPOut(l))
	}
	knownRows, err := cacheRows(ctx, m, known, outs, true)
	if err != nil {
		return err
	}
	prefixes, err := prefixCaches(ctx, m, fallback)
	if err != nil {
		return err
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
		h := gpt2.Hook{Name: hook, Fn: func(a gpt2.Activation) {
			T := a.Shape[0]
			row := a.Data[(T-1)*len(a.Data)/T:]
			copy(row[lo:hi], set)
		}}
		after, err := lastTokenDiffs(ctx, m, fallback, fAnchor, prefixes, []gpt2.Hook{h})
		if err != nil {
			return err
		}
		ch := make([]float64, len(after))
		for k := range after {
			ch[k] = after[k] - base[k]
		}
		s := stat(ch)
		cp.Patch = &s
		var dk, df float64
		for _, i := range kIdx {
			dk += direct[j][i] / float64(len(kIdx))
		}
		for _, i := range fIdx {
			df += direct[j][i] / float64(len(fIdx))
		}
		ind := s.Mean - (dk - df)
		cp.Indirect = &ind
	}
	return nil
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

// anchorDiffs runs the prompts (with hooks) and returns each one's anchor difference.
func anchorDiffs(ctx context.Context, m *gpt2.Model, ps []Prompt, anchorAt []int, hooks []gpt2.Hook) ([]float64, error) {
	recs, err := Score(ctx, m, ps, hooks)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(recs))
	for i, r := range recs {
		out[i] = anchorDiff(r.Logits, anchorAt[i])
	}
	return out, nil
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

// lastTokenDiffs runs each prompt's last token from a copy of its prefix's cache (with
// hooks) and returns its anchor difference.
func lastTokenDiffs(ctx context.Context, m *gpt2.Model, ps []Prompt, anchorAt []int, prefixes []*gpt2.KVCache, hooks []gpt2.Hook) ([]float64, error) {
	out := make([]float64, len(ps))
	err := inBatches(ctx, m, ps, func(p *Prompt) []int { return p.IDs[len(p.IDs)-1:] },
		func(b, n int) gpt2.RunOptions {
			past := make([]*gpt2.KVCache, n)
			for i := range past {
				past[i] = prefixes[b+i].Clone()
			}
			return gpt2.RunOptions{Logits: gpt2.LogitsLast, Past: past, Hooks: hooks}
		},
		func(i int, res *gpt2.Result, s int) {
			out[i] = anchorDiff(record(i, &ps[i], res.Logits[s]).Logits, anchorAt[i])
		})
	return out, err
}
