package gpt2

import (
	"runtime/debug"
	"slices"

	"github.com/mechlens/mechlens/internal/tensor"
)

// Model is a GPT-2 ready to run. It keeps each weight matrix once, packed into panels for
// the matrix-product kernels, and the vectors (biases, layer norms, W_pos) in Params. Edits
// write into the packed matrices in place (WritableMatrix, and the package edit), on a
// copy-on-write Clone when the original must stay.
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
	// Hash identifies the weights the model was built from (before processing and edits):
	// an edit set records it and refuses a model with another.
	Hash string
	// Edits names the edits applied, in order (one line each); outputs record it next to
	// Processing.
	Edits []string
	// Interventions are hooks that run before a run's own at every run of the model: the
	// run-time half of an edit set (steering, ablation, attention edits).
	Interventions []Hook

	weights WeightType // how the packed matrices store their elements
	layers  []packedBlock
	unembed *tensor.Packed // [D, V] W_U
	embed   []float32      // [V, D] W_E when not tied to W_U; nil when tied (read from unembed)
	names   []blockNames
	arenas  *arenaPool              // memory of finished runs
	owned   map[*tensor.Packed]bool // matrices no clone shares: written in place
	version uint64                  // moves on at every write to the weights
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

// WeightType is how the weight matrices are stored: F32 or BF16 (tensor's type, named here
// for the API).
type WeightType = tensor.WeightType

// The weight types.
const (
	F32  = tensor.F32  // float32: the weights exactly as loaded
	BF16 = tensor.BF16 // bfloat16: half the memory, each weight rounded to 8 significant bits
)

// LoadOptions are the choices made when a model's weights are packed.
type LoadOptions struct {
	// Weights is how the weight matrices (each block's W_QKV, W_O, W_in and W_out, and W_U,
	// which is also W_E when tied) are stored: F32 (the default), or BF16 for
	// half their memory, each weight rounded to bfloat16. The kernels widen bfloat16 to
	// float32 as they load it: activations, hooks, vectors (biases, layer norms, W_pos, an
	// untied W_E) and all arithmetic stay float32. The exception is the avx512bf16 kernel
	// set (the default on a CPU with AVX512_BF16): its products with these matrices round
	// their input activations to bfloat16 and multiply in bfloat16, accumulating in
	// float32; the activations and hooks themselves stay float32.
	Weights WeightType
}

// NewModel packs p's matrices and copies its vectors: the model keeps no reference to p,
// so p may be changed, or its memory (a mapped file) released, afterwards.
func NewModel(cfg Config, p *Params, tok *Tokenizer) *Model {
	return newModel(cfg, p, tok, nil, nil, LoadOptions{})
}

// RandomModel is NewModel of RandomParams(cfg, seed), with each matrix's memory returned to
// the system once packed, so that loading never holds two copies of the weights.
func RandomModel(cfg Config, seed uint64, tok *Tokenizer) *Model {
	return RandomModelWith(cfg, seed, tok, LoadOptions{})
}

// RandomModelWith is RandomModel with the weights packed as o says. The random float32
// weights are drawn whole first (as RandomParams), so loading peaks at their size even when
// the model keeps bfloat16 ones.
func RandomModelWith(cfg Config, seed uint64, tok *Tokenizer, o LoadOptions) *Model {
	var r memoryReturner
	return newModel(cfg, RandomParams(cfg, seed), tok, r.release, nil, o)
}

// memoryReturner counts the bytes of matrices no longer referenced: every 256 MB, it has the
// runtime collect them and give the memory back to the system, which it would otherwise
// keep until the heap doubles. A collection costs a few milliseconds, so not at every
// matrix.
type memoryReturner int

func (r *memoryReturner) dropped(bytes int) {
	if *r += memoryReturner(bytes); *r >= 256<<20 {
		*r = 0
		debug.FreeOSMemory()
	}
}

// release is a release function of newModel: x is dropped.
func (r *memoryReturner) release(x []float32) { r.dropped(4 * len(x)) }

// newModel builds the model from p; with release, p is consumed: each matrix is handed to
// release and dropped from p as soon as it is packed. With evict (p mapped from a file,
// which evict gives back to the file), each tensor is handed to it after hashing.
func newModel(cfg Config, p *Params, tok *Tokenizer, release, evict func(x []float32), o LoadOptions) *Model {
	m := &Model{Config: cfg, Tokenizer: tok, arenas: new(arenaPool), weights: o.Weights}
	m.names = make([]blockNames, cfg.NLayers)
	for l := range m.names {
		b := func(s string) string { return BlockHook(l, s) }
		m.names[l] = blockNames{b(nameResidPre), b(nameLn1Scale), b(nameLn1Normalized), b(nameQ), b(nameK),
			b(nameV), b(nameAttnScores), b(namePattern), b(nameZ), b(nameResult), b(nameAttnOut),
			b(nameResidMid), b(nameLn2Scale), b(nameLn2Normalized), b(nameMLPPre), b(nameMLPPost),
			b(nameMLPOut), b(nameResidPost)}
	}
	m.Hash = weightsHash(cfg, p, evict)
	m.setWeights(p, release)
	return m
}

// setWeights makes p the model's weights: its matrices packed (and, with release, dropped
// from p one by one), its vectors copied.
func (m *Model) setWeights(p *Params, release func(x []float32)) {
	m.Params = &Params{Blocks: make([]Block, m.Config.NLayers)}
	m.layers = make([]packedBlock, m.Config.NLayers)
	for l := range m.layers {
		m.setBlock(l, &p.Blocks[l], release)
	}
	m.setEnds(p, release)
}

// Weights returns a full copy of the model's weights in Hugging Face's layout, for writing
// a checkpoint or for an edit followed by NewModel.
func (m *Model) Weights() *Params {
	p := m.ends()
	p.Blocks = make([]Block, m.Config.NLayers)
	for l := range p.Blocks {
		p.Blocks[l] = m.block(l)
	}
	return p
}

// block returns a copy of block l in Hugging Face's layout, matrices unpacked.
func (m *Model) block(l int) Block {
	b, pb := m.Params.Blocks[l].vectors(), &m.layers[l]
	b.AttnW, b.AttnProjW, b.FcW, b.ProjW = pb.wqkv.Unpack(), pb.wo.Unpack(), pb.win.Unpack(), pb.wout.Unpack()
	return b
}

// setBlock packs b's matrices as block l's and copies its vectors; with release, each
// matrix is handed to it and dropped from b once packed.
func (m *Model) setBlock(l int, b *Block, release func(x []float32)) {
	D, M := m.Config.DModel, m.Config.DMLP
	pb := &m.layers[l]
	pack := func(dst **tensor.Packed, x *[]float32, K, N int) {
		*dst = tensor.PackAs(m.weights, *x, K, N)
		m.own(*dst)
		if release != nil {
			release(*x)
			*x = nil
		}
	}
	pack(&pb.wqkv, &b.AttnW, D, 3*D)
	pack(&pb.wo, &b.AttnProjW, D, D)
	pack(&pb.win, &b.FcW, D, M)
	pack(&pb.wout, &b.ProjW, M, D)
	m.Params.Blocks[l] = b.vectors()
	m.version++
}

// ends returns a copy of everything outside the blocks: W_E, W_pos, ln_f, W_U (as LMHead
// when untied) and b_U, in Hugging Face's layout.
func (m *Model) ends() *Params {
	c := m.Config
	D := c.DModel
	p := &Params{WPE: slices.Clone(m.Params.WPE), LnFW: slices.Clone(m.Params.LnFW),
		LnFB: slices.Clone(m.Params.LnFB), LMHeadB: slices.Clone(m.Params.LMHeadB)}
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

// setEnds packs p's unembedding, keeps its embedding when untied, and copies its vectors
// outside the blocks; with release, as setBlock.
func (m *Model) setEnds(p *Params, release func(x []float32)) {
	c := m.Config
	m.unembed = tensor.PackTransposedAs(m.weights, p.Unembed(), c.DVocab, c.DModel)
	m.own(m.unembed)
	m.version++
	m.embed = nil
	if p.LMHead != nil {
		m.embed = slices.Clone(p.WTE)
	}
	if release != nil {
		for _, x := range []*[]float32{&p.LMHead, &p.WTE} {
			if *x != nil {
				release(*x)
				*x = nil
			}
		}
	}
	m.Params.WPE, m.Params.LnFW, m.Params.LnFB = slices.Clone(p.WPE), slices.Clone(p.LnFW), slices.Clone(p.LnFB)
	m.Params.LMHeadB = slices.Clone(p.LMHeadB)
}

// WeightType is how the model stores its weight matrices (see LoadOptions.Weights).
func (m *Model) WeightType() WeightType { return m.weights }

// SetWeightType stores the model's weight matrices as t from now on, converting them one at
// a time (bfloat16 rounds each weight to nearest, ties to even; float32 widens exactly) and
// returning the old ones' memory as it goes; matrices shared with a clone stay the clone's.
// Processing and edits then write t too. The model holds both types of one matrix at a
// time; LoadDirWith with LoadOptions.Weights never holds a float32 matrix at all.
func (m *Model) SetWeightType(t WeightType) {
	if t == m.weights {
		return
	}
	m.weights = t
	var r memoryReturner
	convert := func(p **tensor.Packed) {
		old := *p
		*p = old.As(t)
		m.own(*p)
		r.dropped(old.Bytes())
	}
	for l := range m.layers {
		pb := &m.layers[l]
		for _, p := range []**tensor.Packed{&pb.wqkv, &pb.wo, &pb.win, &pb.wout} {
			convert(p)
		}
	}
	convert(&m.unembed)
	debug.FreeOSMemory()
	m.version++
}

// TiedEmbeddings reports whether W_U is W_Eᵀ, as in the released GPT-2 checkpoints (weight
// processing unties them).
func (m *Model) TiedEmbeddings() bool { return m.embed == nil }

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
