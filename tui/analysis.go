package tui

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/lens"
	"github.com/mechlens/mechlens/view"
)

// Request is what one analysis is asked for: everything the panes show for one prompt.
type Request struct {
	IDs []int
	// Pos is the cursor: the position whose next token is predicted and attributed.
	Pos int
	// Target and Distractor are token ids; −1 lets Analyze choose (see defaultPair).
	Target, Distractor int
	// Lens computes the logit lens over positions [LensFrom, LensTo) with Norm.
	Lens             bool
	LensFrom, LensTo int
	Norm             lens.Norm
	// Head and Neuron are the unit the heads and neurons panes show; Value computes the
	// neuron's value vector and activation (the neurons pane).
	Head, Neuron Unit
	Value        bool
}

// Unit names a head (layer, head) or a neuron (layer, index).
type Unit struct{ Layer, Index int }

// Analysis is one model's answer to a Request.
type Analysis struct {
	Tokens []lens.Token
	Pos    int
	// Target and Distractor as chosen; LogitDiff is the model's logit(target) − logit(distractor) at Pos.
	Target, Distractor lens.Token
	LogitDiff          float64
	// Candidates are the most likely next tokens at Pos.
	Candidates []lens.TokenProb
	// Attribution of the logit difference at Pos to every part; Neurons to the top neurons
	// of every layer.
	Attribution *lens.Attribution
	Neurons     *lens.NeuronAttribution
	// Lens is the logit lens of the requested window (nil unless asked).
	Lens *lens.LogitLens
	// Pattern is Head's attention, [query][key] (0 above the diagonal).
	Pattern [][]float64
	// FromCursor is every head's attention from Pos to each position, [layer·H + head][key].
	FromCursor [][]float64
	// Options are the prompt's answer letters (nil when it has none).
	Options []lens.Option
	// Value is Neuron's value vector; Activation its mlp.hook_post over the prompt.
	Value      *lens.ValueVector
	Activation []float64
}

// candidates and neuronsPerSide are how many next tokens and attributed neurons are kept.
const (
	candidates     = 10
	neuronsPerSide = 8
	neuronLayers   = 4
	valueTokens    = 8
)

// Analyze runs m over the request's prompt and computes every pane's data. A cancelled ctx
// stops the forward pass between blocks and the analyses between steps.
func Analyze(ctx context.Context, m *gpt2.Model, r Request) (*Analysis, error) {
	a := lens.New(m)
	a.Context = ctx // a cancelled request stops its forward pass between blocks
	c := m.Config
	pos, err := resolve(r.Pos, len(r.IDs))
	if err != nil {
		return nil, err
	}
	// Every position's logits only when the cursor is not on the last: the unembedding of a
	// whole prompt costs a third of a forward pass.
	all := pos != len(r.IDs)-1
	tr, err := a.Trace(r.IDs, lens.TraceOptions{AllLogits: all, Heads: true, Patterns: true})
	if err != nil {
		return nil, err
	}
	out := &Analysis{Tokens: a.Tokens(r.IDs), Pos: pos}
	logits := tr.Logits
	if all {
		logits = tr.Logits[pos*c.DVocab : (pos+1)*c.DVocab]
	}
	out.Candidates = topTokens(a, logits, candidates)
	if opts, err := a.FindOptions(r.IDs, lens.DefaultMarker); err == nil && len(opts) > 1 {
		out.Options = opts
	}
	t, d := r.Target, r.Distractor
	if t < 0 || d < 0 || t == d {
		t, d = defaultPair(out.Candidates, out.Options, logits)
	}
	out.Target, out.Distractor = a.Token(t), a.Token(d)
	out.LogitDiff = float64(logits[t]) - float64(logits[d])
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if out.Attribution, err = a.Attribute(tr, pos, t, d); err != nil {
		return nil, err
	}
	if out.Neurons, err = a.AttributeNeurons(tr, strongestMLPs(out.Attribution, neuronLayers), pos, t, d, neuronsPerSide); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if out.Pattern, out.FromCursor, err = patterns(tr, c, r.Head, pos); err != nil {
		return nil, err
	}
	if r.Value {
		if out.Value, err = a.ValueVector(r.Neuron.Layer, r.Neuron.Index, valueTokens); err != nil {
			return nil, err
		}
		post := tr.Cache[gpt2.MLPPost(r.Neuron.Layer)].Data // [T, M]
		out.Activation = make([]float64, tr.T())
		for p := range out.Activation {
			out.Activation[p] = float64(post[p*c.DMLP+r.Neuron.Index])
		}
	}
	if r.Lens {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var positions []int
		for p := max(r.LensFrom, 0); p < min(r.LensTo, tr.T()); p++ {
			positions = append(positions, p)
		}
		if out.Lens, err = a.LogitLens(tr, lens.LensOptions{Norm: r.Norm, TopK: 3, Targets: []int{t, d}, Positions: positions}); err != nil {
			return nil, err
		}
	}
	return out, ctx.Err()
}

// defaultPair chooses the target and distractor: on a multiple-choice prompt " A" against
// the most likely other option's letter (the anchored-bias setting), otherwise the two most
// likely next tokens.
func defaultPair(cands []lens.TokenProb, opts []lens.Option, logits []float32) (int, int) {
	if len(opts) > 1 {
		best := opts[1].Token.ID
		for _, o := range opts[2:] {
			if logits[o.Token.ID] > logits[best] {
				best = o.Token.ID
			}
		}
		return opts[0].Token.ID, best
	}
	return cands[0].ID, cands[1].ID
}

// topTokens returns the k most likely tokens of one logit row, with their probabilities.
func topTokens(a *lens.Analyzer, logits []float32, k int) []lens.TokenProb {
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int {
		switch {
		case logits[x] > logits[y]:
			return -1
		case logits[x] < logits[y]:
			return 1
		}
		return 0
	})
	hi := float64(logits[idx[0]])
	var z float64
	for _, l := range logits {
		z += math.Exp(float64(l) - hi)
	}
	out := make([]lens.TokenProb, min(k, len(idx)))
	for i := range out {
		l := float64(logits[idx[i]])
		out[i] = lens.TokenProb{Token: a.Token(idx[i]), Logit: l, Prob: math.Exp(l-hi) / z}
	}
	return out
}

// patterns reads head u's whole pattern and every head's attention from position q.
func patterns(tr *lens.Trace, c gpt2.Config, u Unit, q int) (pattern, from [][]float64, err error) {
	T := tr.T()
	for l := range c.NLayers {
		pat, ok := tr.Cache[gpt2.Pattern(l)] // [H, T, T]
		if !ok {
			return nil, nil, fmt.Errorf("tui: the trace did not keep %s", gpt2.Pattern(l))
		}
		for h := range c.NHeads {
			row := make([]float64, T)
			for k := range row {
				row[k] = float64(pat.Data[(h*T+q)*T+k])
			}
			from = append(from, row)
			if l == u.Layer && h == u.Index {
				pattern = make([][]float64, T)
				for qq := range pattern {
					pattern[qq] = make([]float64, T)
					for k := range pattern[qq] {
						pattern[qq][k] = float64(pat.Data[(h*T+qq)*T+k])
					}
				}
			}
		}
	}
	return pattern, from, nil
}

// strongestMLPs lists the layers of the k MLPs with the largest direct effect, in model
// order: the neurons attributed are theirs, since splitting every layer into neurons reads
// every value vector (a sixth of a recompute on gpt2-small).
func strongestMLPs(at *lens.Attribution, k int) []int {
	var mlps []lens.Part
	for _, p := range at.Parts {
		if p.Kind == lens.PartMLP {
			mlps = append(mlps, p)
		}
	}
	mlps = view.SortParts(mlps, true)[:min(k, len(mlps))]
	layers := make([]int, len(mlps))
	for i, p := range mlps {
		layers[i] = p.Layer
	}
	slices.Sort(layers)
	return layers
}

// resolve turns a position counted from the end (negative) into one from the start.
func resolve(pos, T int) (int, error) {
	p := pos
	if p < 0 {
		p += T
	}
	if p < 0 || p >= T {
		return 0, fmt.Errorf("position %d is outside the prompt's %d tokens", pos, T)
	}
	return p, nil
}
