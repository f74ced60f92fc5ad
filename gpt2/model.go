package gpt2

import (
	"github.com/mechlens/mechlens/internal/tensor"
)

// Model is a GPT-2 ready to run: its Params plus the packed copies of every matrix that the
// forward pass multiplies by. After changing Params (an edit, weight processing), call
// Repack so that the forward pass sees the change.
type Model struct {
	Config    Config
	Params    *Params
	Tokenizer *Tokenizer // nil for models without a vocabulary file
	// Processing lists the weight processing applied (fold_ln, ...), in order; it is
	// recorded in every output so that numbers are never mistaken for raw-weight ones.
	Processing []string
	// Source is the folder the weights were read from ("" for random or embedded models).
	Source string

	layers  []packedBlock
	unembed *tensor.Packed // [D, V] W_U
	names   []blockNames
	arenas  *arenaPool // memory of finished runs
}

// packedBlock holds one block's matrices packed for tensor.MatMul.
type packedBlock struct {
	wq, wk, wv *tensor.Packed // [D, D] each: columns of c_attn
	wo         *tensor.Packed // [D, D]
	win        *tensor.Packed // [D, M]
	wout       *tensor.Packed // [M, D]
}

// blockNames caches the full hook names of one block so the forward pass builds no strings.
type blockNames struct {
	residPre, ln1Scale, ln1Norm, q, k, v, scores, pattern, z, result, attnOut, residMid,
	ln2Scale, ln2Norm, mlpPre, mlpPost, mlpOut, residPost string
}

// NewModel packs p for the forward pass.
func NewModel(cfg Config, p *Params, tok *Tokenizer) *Model {
	m := &Model{Config: cfg, Params: p, Tokenizer: tok, arenas: new(arenaPool)}
	m.names = make([]blockNames, cfg.NLayers)
	for l := range m.names {
		b := func(s string) string { return BlockHook(l, s) }
		m.names[l] = blockNames{b(nameResidPre), b(nameLn1Scale), b(nameLn1Normalized), b(nameQ), b(nameK),
			b(nameV), b(nameAttnScores), b(namePattern), b(nameZ), b(nameResult), b(nameAttnOut),
			b(nameResidMid), b(nameLn2Scale), b(nameLn2Normalized), b(nameMLPPre), b(nameMLPPost),
			b(nameMLPOut), b(nameResidPost)}
	}
	m.Repack()
	return m
}

// Repack rebuilds the packed matrices from Params.
func (m *Model) Repack() {
	c := m.Config
	D, M := c.DModel, c.DMLP
	m.layers = make([]packedBlock, c.NLayers)
	col := make([]float32, D*D) // [D, D] scratch: one third of c_attn
	for l := range m.layers {
		b := &m.Params.Blocks[l]
		third := func(j int) *tensor.Packed {
			for r := 0; r < D; r++ {
				copy(col[r*D:(r+1)*D], b.AttnW[r*3*D+j*D:r*3*D+(j+1)*D])
			}
			return tensor.Pack(col, D, D)
		}
		m.layers[l] = packedBlock{
			wq: third(0), wk: third(1), wv: third(2),
			wo:   tensor.Pack(b.AttnProjW, D, D),
			win:  tensor.Pack(b.FcW, D, M),
			wout: tensor.Pack(b.ProjW, M, D),
		}
	}
	m.unembed = tensor.PackTransposed(m.Params.Unembed(), c.DVocab, D)
}

// Unembedding is W_U [D, V] packed for tensor.MatMul: analyses that project many vectors onto
// the vocabulary (the logit lens) use the model's own copy rather than packing another.
func (m *Model) Unembedding() *tensor.Packed { return m.unembed }
