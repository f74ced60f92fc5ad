package lens

import (
	"cmp"
	"math"
	"slices"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/tensor"
)

// ScanOptions are the anchored-bias paper's parameters.
type ScanOptions struct {
	// Anchor is the token the model is biased toward (" A"), Correct the right answer's.
	Anchor, Correct int
	// Pos is the position read (negative counts from the end); the paper reads the last.
	Pos int
	// TopNeurons per layer by contribution score (paper: 10).
	TopNeurons int
	// Gap flags a neuron whose lens gap anchor − correct exceeds it (paper: 4).
	Gap float64
	// Words are the top tokens listed for each flagged value vector (paper: 20).
	Words int
}

// DefaultScan returns the paper's parameters for anchor and correct tokens.
func DefaultScan(anchor, correct int) ScanOptions {
	return ScanOptions{Anchor: anchor, Correct: correct, Pos: -1, TopNeurons: 10, Gap: 4, Words: 20}
}

// ScanNeuron is one of a layer's top neurons by contribution score.
type ScanNeuron struct {
	Neuron     int     `json:"neuron"`
	Activation float64 `json:"activation"` // post_L[i], the value vector's coefficient
	Score      float64 `json:"score"`      // |post_L[i]|·‖W_out_L[i]‖₂
	// Anchor and Correct are the lens of post_L[i]·W_out_L[i] + b_out_L for the two tokens;
	// Diff = Anchor − Correct.
	Anchor  float64 `json:"anchor"`
	Correct float64 `json:"correct"`
	Diff    float64 `json:"diff"`
	Flagged bool    `json:"flagged"` // Diff > Gap
	// Words are, for flagged neurons, the top tokens of ln_final(W_out_L[i] + b_out_L)·W_U
	// + b_U, as the paper lists them (empty otherwise).
	Words []TokenProb `json:"words"`
}

// ScanLayer is one block's MLP lens and its top neurons.
type ScanLayer struct {
	Layer int `json:"layer"`
	// Anchor and Correct are the MLP lens W_U[:, t]·ln_final(mlp_out_L) + b_U[t];
	// Diff = Anchor − Correct.
	Anchor  float64      `json:"anchor"`
	Correct float64      `json:"correct"`
	Diff    float64      `json:"diff"`
	Neurons []ScanNeuron `json:"neurons"` // by decreasing score
}

// HeadLens is one head's output (attn.hook_result) through the same lens.
type HeadLens struct {
	Layer   int     `json:"layer"`
	Head    int     `json:"head"`
	Anchor  float64 `json:"anchor"`
	Correct float64 `json:"correct"`
	Diff    float64 `json:"diff"`
}

// Scan is the anchored-bias paper's analysis of one prompt.
type Scan struct {
	Pos     int         `json:"pos"`
	Anchor  Token       `json:"anchor"`
	Correct Token       `json:"correct"`
	Gap     float64     `json:"gap"`
	Layers  []ScanLayer `json:"layers"`
	Heads   []HeadLens  `json:"heads"` // by decreasing Diff
}

// Scan runs the method of "Anchored Answers" (Li and Gao 2024) as their released notebook
// does, at every layer: the MLP lens of mlp_out, the top neurons by |post|·‖W_out‖, each one's
// lens of post·W_out + b_out for the anchor and the correct token, flagged when the gap
// exceeds o.Gap, and the top words of flagged value vectors; then every head's lens. ln_final
// normalizes each vector by its own statistics (the identity and b_U on processed weights, as
// in the paper; ln_f's weight and bias on raw ones). The trace must keep the heads.
func (a *Analyzer) Scan(tr *Trace, o ScanOptions) (*Scan, error) {
	c := a.Model.Config
	D, M := c.DModel, c.DMLP
	if err := a.checkPair(o.Anchor, o.Correct); err != nil {
		return nil, err
	}
	pos, err := tr.Position(o.Pos)
	if err != nil {
		return nil, err
	}
	norms, _ := a.valueStats()
	sc := &Scan{Pos: pos, Anchor: a.Token(o.Anchor), Correct: a.Token(o.Correct), Gap: o.Gap,
		Layers: make([]ScanLayer, c.NLayers), Heads: make([]HeadLens, c.NLayers*c.NHeads)}
	type flag struct{ layer, k int }
	var flagged []flag
	errs := make([]error, c.NLayers)
	uAnchor, uCorrect := a.unembedRow(o.Anchor), a.unembedRow(o.Correct)
	tensor.ParallelFor(c.NLayers, func(l int) {
		ln := make([]float32, D)
		vec := make([]float32, D)
		lens := func(v []float32) (anchor, correct float64) {
			return a.LensLogit(v, o.Anchor, uAnchor, ln), a.LensLogit(v, o.Correct, uCorrect, ln)
		}
		mlp, err := tr.row(gpt2.MLPOut(l), pos, D)
		if err != nil {
			errs[l] = err
			return
		}
		post, err := tr.row(gpt2.MLPPost(l), pos, M)
		if err != nil {
			errs[l] = err
			return
		}
		res, err := tr.row(gpt2.HeadResult(l), pos, c.NHeads*D) // [H, D]
		if err != nil {
			errs[l] = err
			return
		}
		b := &a.Model.Params.Blocks[l]
		sl := ScanLayer{Layer: l}
		sl.Anchor, sl.Correct = lens(mlp)
		sl.Diff = sl.Anchor - sl.Correct
		score := make([]float64, M)
		for i := range M {
			score[i] = math.Abs(float64(post[i])) * norms[l][i]
		}
		for _, i := range topK(score, o.TopNeurons, false) {
			a.Model.WOut(l).Row(i, vec)
			for j := range vec {
				vec[j] = post[i]*vec[j] + b.ProjB[j]
			}
			n := ScanNeuron{Neuron: i, Activation: float64(post[i]), Score: score[i], Words: []TokenProb{}}
			n.Anchor, n.Correct = lens(vec)
			n.Diff = n.Anchor - n.Correct
			n.Flagged = n.Diff > o.Gap
			sl.Neurons = append(sl.Neurons, n)
		}
		sc.Layers[l] = sl
		for h := range c.NHeads {
			hl := HeadLens{Layer: l, Head: h}
			hl.Anchor, hl.Correct = lens(res[h*D : (h+1)*D])
			hl.Diff = hl.Anchor - hl.Correct
			sc.Heads[l*c.NHeads+h] = hl
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	for l, sl := range sc.Layers {
		for k, n := range sl.Neurons {
			if n.Flagged {
				flagged = append(flagged, flag{l, k})
			}
		}
	}
	if len(flagged) > 0 && o.Words > 0 {
		// One batched projection of every flagged value vector (with the block's b_out, as
		// the paper writes it).
		V := c.DVocab
		vecs := make([]float32, len(flagged)*D)   // [F, D]
		logits := make([]float32, len(flagged)*V) // [F, V]
		for f, fl := range flagged {
			b := &a.Model.Params.Blocks[fl.layer]
			i := sc.Layers[fl.layer].Neurons[fl.k].Neuron
			v := make([]float32, D)
			a.Model.WOut(fl.layer).Row(i, v)
			for j := range v {
				v[j] += b.ProjB[j]
			}
			a.lnFinal(vecs[f*D:(f+1)*D], v, 0)
		}
		a.project(logits, vecs, len(flagged), true)
		scratch := make([][]float32, tensor.Workers(len(flagged)))
		for w := range scratch {
			scratch[w] = make([]float32, V)
		}
		tensor.ParallelWorkers(len(flagged), func(w, f int) {
			fl := flagged[f]
			x := logits[f*V : (f+1)*V]
			top := topK(x, o.Words, false)
			lse := tensor.Softmax(scratch[w], x)
			words := make([]TokenProb, len(top))
			for j, t := range top {
				words[j] = TokenProb{a.Token(t), float64(x[t]), math.Exp(float64(x[t]) - lse)}
			}
			sc.Layers[fl.layer].Neurons[fl.k].Words = words
		})
	}
	slices.SortStableFunc(sc.Heads, func(x, y HeadLens) int { return cmp.Compare(y.Diff, x.Diff) })
	return sc, nil
}
