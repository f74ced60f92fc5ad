package gpt2

import (
	"runtime/debug"
	"slices"

	"github.com/mechlens/mechlens/internal/tensor"
)

// Model is a GPT-2 ready to run. It keeps each weight matrix once, packed into panels for
// the matrix-product kernels, and the vectors (biases, layer norms, W_pos) in Params. To
// change weights, take a full copy with Weights, change it, and build a new model from it.
type Model struct {
	Config Config
	// Params holds the vectors only: its matrices (WTE, LMHead and each block's AttnW,
	// AttnProjW, FcW, ProjW) are nil. Read matrices with WIn, WOut, WO, Unembedding and
	// UnembeddingVector, or Weights for everything in Hugging Face's layout.
	Params    *Params
	Tokenizer *Tokenizer // nil for models without a vocabulary file
	// Processing lists the weight processing applied (fold_ln, ...), in order; it is
	// recorded in every output so that numbers are never mistaken for raw-weight ones.
	Processing []string
	// Source is the folder the weights were read from ("" for random or embedded models).
	Source string

	layers  []packedBlock
	unembed *tensor.Packed // [D, V] W_U
	embed   []float32      // [V, D] W_E when not tied to W_U; nil when tied (read from unembed)
	names   []blockNames
	arenas  *arenaPool // memory of finished runs
}

// packedBlock holds one block's matrices packed for tensor.MatMul.
type packedBlock struct {
	wqkv *tensor.Packed // [D, 3D] c_attn: columns q | k | v
	wo   *tensor.Packed // [D, D]
	win  *tensor.Packed // [D, M]
	wout *tensor.Packed // [M, D]
}

// blockNames caches the full hook names of one block so the forward pass builds no strings.
type blockNames struct {
	residPre, ln1Scale, ln1Norm, q, k, v, scores, pattern, z, result, attnOut, residMid,
	ln2Scale, ln2Norm, mlpPre, mlpPost, mlpOut, residPost string
}

// NewModel packs p's matrices and copies its vectors: the model keeps no reference to p,
// so p may be changed, or its memory (a mapped file) released, afterwards.
func NewModel(cfg Config, p *Params, tok *Tokenizer) *Model {
	return newModel(cfg, p, tok, nil)
}

// RandomModel is NewModel of RandomParams(cfg, seed), with each matrix's memory returned to
// the system once packed, so that loading never holds two copies of the weights.
func RandomModel(cfg Config, seed uint64, tok *Tokenizer) *Model {
	freed := 0
	return newModel(cfg, RandomParams(cfg, seed), tok, func(x []float32) {
		// Returning memory costs a collection: do it every 256 MB, not every matrix.
		if freed += len(x) * 4; freed >= 256<<20 {
			freed = 0
			debug.FreeOSMemory()
		}
	})
}

// newModel builds the model from p; with release, p is consumed: each matrix is handed to
// release and dropped from p as soon as it is packed.
func newModel(cfg Config, p *Params, tok *Tokenizer, release func(x []float32)) *Model {
	m := &Model{Config: cfg, Tokenizer: tok, arenas: new(arenaPool)}
	m.names = make([]blockNames, cfg.NLayers)
	for l := range m.names {
		b := func(s string) string { return BlockHook(l, s) }
		m.names[l] = blockNames{b(nameResidPre), b(nameLn1Scale), b(nameLn1Normalized), b(nameQ), b(nameK),
			b(nameV), b(nameAttnScores), b(namePattern), b(nameZ), b(nameResult), b(nameAttnOut),
			b(nameResidMid), b(nameLn2Scale), b(nameLn2Normalized), b(nameMLPPre), b(nameMLPPost),
			b(nameMLPOut), b(nameResidPost)}
	}
	m.setWeights(p, release)
	return m
}

// setWeights makes p the model's weights: its matrices packed (and, with release, dropped
// from p one by one), its vectors copied.
func (m *Model) setWeights(p *Params, release func(x []float32)) {
	done := func(x *[]float32) {
		if release != nil && *x != nil {
			release(*x)
			*x = nil
		}
	}
	c := m.Config
	D, M := c.DModel, c.DMLP
	m.Params = p.vectors()
	m.layers = make([]packedBlock, c.NLayers)
	for l := range m.layers {
		b := &p.Blocks[l]
		pb := &m.layers[l]
		pb.wqkv = tensor.Pack(b.AttnW, D, 3*D)
		done(&b.AttnW)
		pb.wo = tensor.Pack(b.AttnProjW, D, D)
		done(&b.AttnProjW)
		pb.win = tensor.Pack(b.FcW, D, M)
		done(&b.FcW)
		pb.wout = tensor.Pack(b.ProjW, M, D)
		done(&b.ProjW)
	}
	m.unembed = tensor.PackTransposed(p.Unembed(), c.DVocab, D)
	m.embed = nil
	if p.LMHead != nil {
		m.embed = slices.Clone(p.WTE)
		done(&p.LMHead)
	}
	done(&p.WTE)
}

// Weights returns a full copy of the model's weights in Hugging Face's layout, for writing
// a checkpoint, processing, or an edit followed by NewModel.
func (m *Model) Weights() *Params {
	c := m.Config
	D := c.DModel
	p := m.Params.vectors()
	for l := range p.Blocks {
		b, pb := &p.Blocks[l], &m.layers[l]
		b.AttnW, b.AttnProjW, b.FcW, b.ProjW = pb.wqkv.Unpack(), pb.wo.Unpack(), pb.win.Unpack(), pb.wout.Unpack()
	}
	u := make([]float32, c.DVocab*D) // [V, D] W_Uᵀ
	for t := range c.DVocab {
		m.unembed.Col(t, u[t*D:(t+1)*D])
	}
	if m.embed == nil {
		p.WTE = u
	} else {
		p.WTE, p.LMHead = slices.Clone(m.embed), u
	}
	return p
}

// WIn is W_in of block l, [D, M] packed: column i is MLP neuron i's input direction.
func (m *Model) WIn(l int) *tensor.Packed { return m.layers[l].win }

// WOut is W_out of block l, [M, D] packed: row i is MLP neuron i's value vector.
func (m *Model) WOut(l int) *tensor.Packed { return m.layers[l].wout }

// WO is W_O of block l, [H·Dh, D] packed: rows h·Dh.. are head h's output matrix.
func (m *Model) WO(l int) *tensor.Packed { return m.layers[l].wo }

// UnembeddingVector returns W_U[:, t], token t's direction in the residual stream ([D], a
// copy).
func (m *Model) UnembeddingVector(t int) []float32 {
	u := make([]float32, m.Config.DModel)
	m.unembed.Col(t, u)
	return u
}

// embedding copies W_E[t] into dst [D].
func (m *Model) embedding(t int, dst []float32) {
	if m.embed == nil {
		m.unembed.Col(t, dst)
		return
	}
	D := m.Config.DModel
	copy(dst, m.embed[t*D:(t+1)*D])
}

// Unembedding is W_U [D, V] packed for tensor.MatMul: analyses that project many vectors onto
// the vocabulary (the logit lens) use the model's own copy rather than packing another.
func (m *Model) Unembedding() *tensor.Packed { return m.unembed }
