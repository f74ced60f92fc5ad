package gpt2

import (
	"fmt"
	"slices"
)

// Weight processing, as TransformerLens's HookedTransformer.process_weights_ does it. Each
// step leaves the model's probabilities unchanged; the anchored-bias paper's value-vector
// norms and lens values are computed on processed weights.
const (
	FoldLN               = "fold_ln"                // fold each layer norm's weight and bias into the next matrices
	CenterWritingWeights = "center_writing_weights" // remove the mean from everything written to the residual stream
	CenterUnembed        = "center_unembed"         // remove the mean over the vocabulary from W_U
	FoldValueBiases      = "fold_value_biases"      // move b_V into b_O
)

// ProcessingSteps is the order in which steps are applied, whatever order they are asked in.
var ProcessingSteps = []string{FoldLN, CenterWritingWeights, CenterUnembed, FoldValueBiases}

// Process applies the named steps to m's weights in TransformerLens's order. Each step has
// a part inside every block and a part at the ends (embedding, unembedding, ln_f), which do
// not read each other, so blocks are processed one at a time (unpacked, changed, repacked)
// and the weights are never held twice.
// center_writing_weights needs fold_ln (as in TransformerLens).
func (m *Model) Process(steps ...string) error {
	want := map[string]bool{}
	for _, s := range steps {
		if !slices.Contains(ProcessingSteps, s) {
			return fmt.Errorf("gpt2: unknown weight processing %q (known: %v)", s, ProcessingSteps)
		}
		if slices.Contains(m.Processing, s) {
			return fmt.Errorf("gpt2: weight processing %q was already applied", s)
		}
		want[s] = true
	}
	if want[CenterWritingWeights] && !want[FoldLN] && !slices.Contains(m.Processing, FoldLN) {
		return fmt.Errorf("gpt2: center_writing_weights needs fold_ln")
	}
	var todo []processingStep
	for _, s := range ProcessingSteps {
		if want[s] {
			todo = append(todo, processingSteps[s])
			m.Processing = append(m.Processing, s)
		}
	}
	c := m.Config
	var r memoryReturner // each block's unpacked copy and the model's old packed one
	for l := range m.layers {
		b := m.block(l)
		for _, s := range todo {
			if s.block != nil {
				s.block(&b, c)
			}
		}
		m.setBlock(l, &b, r.release)
	}
	p := m.ends()
	for _, s := range todo {
		if s.ends != nil {
			s.ends(p, c)
		}
	}
	m.setEnds(p, r.release)
	return nil
}

// processingStep is a weight-processing step in its two parts: inside one block, and at the
// ends of the model (a Params without blocks).
type processingStep struct {
	block func(b *Block, c Config)
	ends  func(p *Params, c Config)
}

var processingSteps = map[string]processingStep{
	FoldLN:               {foldLNBlock, foldLNFinal},
	CenterWritingWeights: {centerWritingBlock, centerWritingEmbed},
	CenterUnembed:        {nil, centerUnembed},
	FoldValueBiases:      {foldValueBiases, nil},
}

// foldLNBlock folds ln_1 into c_attn and ln_2 into c_fc: with LN(x) = n(x)·w + b,
// W·LN(x) = (w∘W)·n(x) + b·W. Because n(x) has zero mean, each reading matrix is then
// centered over its input (d_model) dimension, and the layer norms become the bare
// normalization (weight 1, bias 0).
func foldLNBlock(b *Block, c Config) {
	D := c.DModel
	foldInto(b.AttnW, b.AttnB, b.Ln1W, b.Ln1B, D, 3*D)
	foldInto(b.FcW, b.FcB, b.Ln2W, b.Ln2B, D, c.DMLP)
	setLNIdentity(b.Ln1W, b.Ln1B)
	setLNIdentity(b.Ln2W, b.Ln2B)
}

// foldLNFinal folds ln_f into the unembedding, as foldLNBlock does in a block.
func foldLNFinal(p *Params, c Config) {
	D, V := c.DModel, c.DVocab
	// The unembedding is [V, D] by rows here (row t = W_U[:, t]): untie it first.
	if p.LMHead == nil {
		p.LMHead = slices.Clone(p.WTE)
	}
	wu := p.LMHead // [V, D]
	bu := make([]float32, V)
	if p.LMHeadB != nil {
		copy(bu, p.LMHeadB)
	}
	for t := 0; t < V; t++ {
		row := wu[t*D : (t+1)*D]
		var bias float64
		var mean float64
		for d := range row {
			bias += float64(p.LnFB[d]) * float64(row[d])
			row[d] *= p.LnFW[d]
			mean += float64(row[d])
		}
		bu[t] += float32(bias)
		mean /= float64(D)
		for d := range row {
			row[d] -= float32(mean)
		}
	}
	p.LMHeadB = bu
	setLNIdentity(p.LnFW, p.LnFB)
}

// foldInto folds a layer norm (w, b [D]) into the matrix W [D, n] and bias [n] that read
// its output, then centers each column of W over D.
func foldInto(W, bias, w, b []float32, D, n int) {
	for j := 0; j < n; j++ {
		var add float64
		for d := 0; d < D; d++ {
			add += float64(b[d]) * float64(W[d*n+j])
		}
		bias[j] += float32(add)
	}
	for d := 0; d < D; d++ {
		row := W[d*n : (d+1)*n]
		for j := range row {
			row[j] *= w[d]
		}
	}
	mean := make([]float64, n)
	for d := 0; d < D; d++ {
		for j, v := range W[d*n : (d+1)*n] {
			mean[j] += float64(v)
		}
	}
	for d := 0; d < D; d++ {
		row := W[d*n : (d+1)*n]
		for j := range row {
			row[j] -= float32(mean[j] / float64(D))
		}
	}
}

func setLNIdentity(w, b []float32) {
	for i := range w {
		w[i], b[i] = 1, 0
	}
}

// centerWritingBlock removes the mean over d_model from every vector a block writes to the
// residual stream (W_O and W_out rows, b_O and b_out): the next layer norm removes it
// anyway, so this changes nothing downstream but makes contributions comparable.
func centerWritingBlock(b *Block, c Config) {
	D := c.DModel
	centerRows(b.AttnProjW, D)
	centerRows(b.AttnProjB, D)
	centerRows(b.ProjW, D)
	centerRows(b.ProjB, D)
}

// centerWritingEmbed does the same for W_E and W_pos rows.
func centerWritingEmbed(p *Params, c Config) {
	D := c.DModel
	if p.LMHead == nil { // W_E is about to change; keep the unembedding as it was
		p.LMHead = slices.Clone(p.WTE)
	}
	centerRows(p.WTE, D)
	centerRows(p.WPE, D)
}

// centerRows subtracts from each row of x [*, D] its own mean.
func centerRows(x []float32, D int) {
	for i := 0; i+D <= len(x); i += D {
		row := x[i : i+D]
		var mean float64
		for _, v := range row {
			mean += float64(v)
		}
		mean /= float64(D)
		for j := range row {
			row[j] -= float32(mean)
		}
	}
}

// centerUnembed removes from W_U the mean over the vocabulary (and from b_U its mean):
// softmax is invariant to adding a constant to every logit.
func centerUnembed(p *Params, c Config) {
	D, V := c.DModel, c.DVocab
	if p.LMHead == nil {
		p.LMHead = slices.Clone(p.WTE)
	}
	mean := make([]float64, D)
	for t := 0; t < V; t++ {
		for d, v := range p.LMHead[t*D : (t+1)*D] {
			mean[d] += float64(v)
		}
	}
	for t := 0; t < V; t++ {
		row := p.LMHead[t*D : (t+1)*D]
		for d := range row {
			row[d] -= float32(mean[d] / float64(V))
		}
	}
	if p.LMHeadB != nil {
		var m float64
		for _, v := range p.LMHeadB {
			m += float64(v)
		}
		m /= float64(V)
		for t := range p.LMHeadB {
			p.LMHeadB[t] -= float32(m)
		}
	}
}

// foldValueBiases moves b_V into b_O: each pattern row sums to 1, so b_V contributes
// Σ_h b_V[h]·W_O[h] to every position, a constant that b_O can carry.
func foldValueBiases(b *Block, c Config) {
	D := c.DModel
	bv := b.AttnB[2*D : 3*D] // [H·Dh]
	for j := 0; j < D; j++ {
		var s float64
		for i := 0; i < D; i++ {
			s += float64(bv[i]) * float64(b.AttnProjW[i*D+j])
		}
		b.AttnProjB[j] += float32(s)
	}
	clear(bv)
}
