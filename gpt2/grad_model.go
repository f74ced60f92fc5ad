package gpt2

import (
	"fmt"

	"github.com/mechlens/mechlens/internal/tensor"
)

// blockSource supplies a training pass with weights held elsewhere than in tparams: a
// Model's packed matrices, unpacked one block at a time.
type blockSource[F Float] interface {
	block(l int) *tblock[F]
	embedRow(id int) []F
	// unembed sets logits [R, V] = h [R, D]·W_U.
	unembed(logits, h []F, R int)
	// unembedRows is W_U as rows [V, D], for the backward pass.
	unembedRows() []F
}

// block returns block l's weights.
func (ps *pass[F]) block(l int) *tblock[F] {
	if ps.src != nil {
		return ps.src.block(l)
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

// unembedRows returns W_U as rows [V, D].
func (ps *pass[F]) unembedRows() []F {
	if ps.src != nil {
		return ps.src.unembedRows()
	}
	if ps.p.LMHead != nil {
		return ps.p.LMHead
	}
	return ps.p.WTE
}

// ModelGrad runs Gradients on a Model's own weights, for editing (activation gradients
// only): each block's matrices are unpacked when the pass reaches it and dropped after,
// and W_U is unpacked once as rows and kept for the next calls, so that even gpt2-xl is
// never held twice. The model's weights must not change while a ModelGrad is in use.
type ModelGrad struct {
	m *Model
	u []float32 // [V, D] W_U as rows, unpacked on first use
}

// NewModelGrad returns a ModelGrad of m.
func NewModelGrad(m *Model) *ModelGrad { return &ModelGrad{m: m} }

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

func (g *ModelGrad) block(l int) *tblock[float32] {
	b := g.m.block(l)
	return &tblock[float32]{Ln1W: b.Ln1W, Ln1B: b.Ln1B, AttnW: b.AttnW, AttnB: b.AttnB, AttnProjW: b.AttnProjW,
		AttnProjB: b.AttnProjB, Ln2W: b.Ln2W, Ln2B: b.Ln2B, FcW: b.FcW, FcB: b.FcB, ProjW: b.ProjW, ProjB: b.ProjB}
}

func (g *ModelGrad) embedRow(id int) []float32 {
	D := g.m.Config.DModel
	if g.m.embed != nil {
		return g.m.embed[id*D : (id+1)*D]
	}
	return g.unembedRows()[id*D : (id+1)*D]
}

func (g *ModelGrad) unembed(logits, h []float32, R int) {
	tensor.MatMul(logits, h, R, g.m.unembed, nil)
}

func (g *ModelGrad) unembedRows() []float32 {
	if g.u == nil {
		c := g.m.Config
		D := c.DModel
		g.u = make([]float32, c.DVocab*D)
		tensor.ParallelFor(c.DVocab, func(t int) { g.m.unembed.Col(t, g.u[t*D:(t+1)*D]) })
	}
	return g.u
}

// TokenEmbedding copies W_E[t] into dst [D].
func (m *Model) TokenEmbedding(t int, dst []float32) { m.embedding(t, dst) }
