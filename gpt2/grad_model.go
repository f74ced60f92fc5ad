package gpt2

import (
	"fmt"

	"github.com/mechlens/mechlens/internal/tensor"
)

// blockSource supplies a training pass with weights held elsewhere than in tparams: a
// Model's packed matrices.
type blockSource[F Float] interface {
	// block returns block l's weights; back: with what the backward pass needs too.
	block(l int, back bool) *tblock[F]
	embedRow(id int) []F
	// unembed sets logits [R, V] = h [R, D]·W_U.
	unembed(logits, h []F, R int)
	// unembedBack sets dh [R, D] = dlogits [R, V]·W_Uᵀ.
	unembedBack(dh, dlogits []F, R int)
}

// block returns block l's weights; back: with what the backward pass needs too.
func (ps *pass[F]) block(l int, back bool) *tblock[F] {
	if ps.src != nil {
		return ps.src.block(l, back)
	}
	return &ps.p.Blocks[l]
}

// embedRow returns W_E[id] [D].
func (ps *pass[F]) embedRow(id int) []F {
	if ps.src != nil {
		return ps.src.embedRow(id)
	}
	D := ps.c.DModel
	return ps.p.WTE[id*D : (id+1)*D]
}

// unembed sets ps.probs [R, V] = h [R, D]·W_U.
func (ps *pass[F]) unembed(h []F, R int) {
	if ps.src != nil {
		ps.src.unembed(ps.probs, h, R)
		return
	}
	D, V := ps.c.DModel, ps.c.DVocab
	gemm(false, true, R, V, D, 1, h, D, ps.unembedRows(), D, 0, ps.probs, V)
}

// unembedBack sets dh [R, D] = dlogits [R, V]·W_Uᵀ.
func (ps *pass[F]) unembedBack(dh, dlogits []F, R int) {
	if ps.src != nil {
		ps.src.unembedBack(dh, dlogits, R)
		return
	}
	D, V := ps.c.DModel, ps.c.DVocab
	gemm(false, false, R, D, V, 1, dlogits, V, ps.unembedRows(), D, 0, dh, D)
}

// unembedRows returns W_U as rows [V, D].
func (ps *pass[F]) unembedRows() []F {
	if ps.p.LMHead != nil {
		return ps.p.LMHead
	}
	return ps.p.WTE
}

// ModelGrad runs Gradients on a Model's own weights, for editing (activation gradients
// only). The forward pass multiplies by the model's packed matrices; the backward pass
// needs their transposes, packed when the pass first reaches a block and kept for the
// next calls (an edit's optimisation runs the same blocks 20 times) up to CacheBytes,
// beyond which they are packed at each use and dropped, so that even gpt2-xl is never held
// twice. W_Uᵀ is packed on first use and kept. A write to the model's weights (its
// version) drops what was kept.
type ModelGrad struct {
	m  *Model
	ut *tensor.Packed // [V, D] W_Uᵀ
	// CacheBytes bounds the transposes kept (default 1 GiB: every block after ROME's
	// layer of gpt2-medium).
	CacheBytes int
	kept       map[int]*packedLinear // by block
	keptBytes  int
	version    uint64 // the model's version when kept was filled
}

// NewModelGrad returns a ModelGrad of m.
func NewModelGrad(m *Model) *ModelGrad { return &ModelGrad{m: m, CacheBytes: 1 << 30} }

// Gradients is the package's Gradients on the model's weights. It needs NoParamGrads: a
// packed model has no room for weight gradients.
func (g *ModelGrad) Gradients(rows []TrainRow, o GradOptions) (*GradResult, error) {
	if !o.NoParamGrads {
		return nil, fmt.Errorf("gpt2: gradients on a packed model give activation gradients only (set NoParamGrads)")
	}
	c, mp := g.m.Config, g.m.Params
	p := &tparams[float32]{Blocks: make([]tblock[float32], c.NLayers), WPE: mp.WPE, LnFW: mp.LnFW, LnFB: mp.LnFB, LMHeadB: mp.LMHeadB}
	ps, err := newPass(c, p, rows, o)
	if err != nil {
		return nil, err
	}
	ps.src = g
	return ps.run(), nil
}

func (g *ModelGrad) block(l int, back bool) *tblock[float32] {
	b, pb := g.m.Params.Blocks[l].vectors(), &g.m.layers[l]
	g.fresh()
	pk := g.kept[l]
	if pk == nil && !back {
		pk = &packedLinear{attn: pb.wqkv, attnProj: pb.wo, fc: pb.win, proj: pb.wout}
	} else if pk == nil {
		c := g.m.Config
		D, M := c.DModel, c.DMLP
		pk = &packedLinear{attn: pb.wqkv, attnProj: pb.wo, fc: pb.win, proj: pb.wout,
			attnT: tensor.PackTransposed(pb.wqkv.Unpack(), D, 3*D), attnProjT: tensor.PackTransposed(pb.wo.Unpack(), D, D),
			fcT: tensor.PackTransposed(pb.win.Unpack(), D, M), projT: tensor.PackTransposed(pb.wout.Unpack(), M, D)}
		size := pk.attnT.Bytes() + pk.attnProjT.Bytes() + pk.fcT.Bytes() + pk.projT.Bytes()
		if g.keptBytes+size <= g.CacheBytes {
			g.kept[l] = pk
			g.keptBytes += size
		}
	}
	return &tblock[float32]{Ln1W: b.Ln1W, Ln1B: b.Ln1B, AttnB: b.AttnB, AttnProjB: b.AttnProjB, Ln2W: b.Ln2W,
		Ln2B: b.Ln2B, FcB: b.FcB, ProjB: b.ProjB, packed: pk}
}

// fresh drops what was kept from weights that have changed since.
func (g *ModelGrad) fresh() {
	if g.kept == nil || g.version != g.m.version {
		g.kept, g.keptBytes, g.ut, g.version = map[int]*packedLinear{}, 0, nil, g.m.version
	}
}

func (g *ModelGrad) embedRow(id int) []float32 {
	D := g.m.Config.DModel
	if g.m.embed != nil {
		return g.m.embed[id*D : (id+1)*D]
	}
	row := make([]float32, D)
	g.m.embedding(id, row)
	return row
}

func (g *ModelGrad) unembed(logits, h []float32, R int) {
	tensor.MatMul(logits, h, R, g.m.unembed, nil)
}

func (g *ModelGrad) unembedBack(dh, dlogits []float32, R int) {
	g.fresh()
	if g.ut == nil {
		c := g.m.Config
		g.ut = tensor.PackTransposed(g.m.unembed.Unpack(), c.DModel, c.DVocab)
	}
	tensor.MatMul(dh, dlogits, R, g.ut, nil)
}

// TokenEmbedding copies W_E[t] into dst [D].
func (m *Model) TokenEmbedding(t int, dst []float32) { m.embedding(t, dst) }
