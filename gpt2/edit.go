package gpt2

import (
	"fmt"
	"slices"

	"github.com/mechlens/mechlens/internal/tensor"
)

// Editing a model in place. The model keeps each matrix once, packed; an edit writes into
// the packed matrix (tensor.Packed's row and rank-one writes) after making it the model's
// own: Clone shares every matrix between the two models, and the first write to a shared
// matrix copies that matrix alone. So "baseline vs edited" costs one matrix per edited one.
//
// The package edit builds named, undoable edit sets on these primitives; this file only
// gives access, copy-on-write and bookkeeping (Edits, Version).

// The matrices an edit may write, by TransformerLens's names (block-relative; W_U is
// unembed.W_U, layer -1).
const (
	MatrixWO   = "attn.W_O"    // [H·Dh, D]: rows h·Dh… are head h's output matrix
	MatrixWIn  = "mlp.W_in"    // [D, M]: column i is neuron i's input direction
	MatrixWOut = "mlp.W_out"   // [M, D]: row i is neuron i's value vector
	MatrixWU   = "unembed.W_U" // [D, V]: column t is token t's direction
)

// Matrices lists the names Matrix accepts.
var Matrices = []string{MatrixWO, MatrixWIn, MatrixWOut, MatrixWU}

// Matrix returns block l's matrix name (layer ignored for unembed.W_U), for reading.
func (m *Model) Matrix(l int, name string) (*tensor.Packed, error) {
	p, err := m.matrixSlot(l, name)
	if err != nil {
		return nil, err
	}
	return *p, nil
}

// WritableMatrix returns the matrix for writing in place: a matrix shared with a clone is
// copied first, and the model's Version moves on, so analyses that keep results computed
// from the weights recompute them.
func (m *Model) WritableMatrix(l int, name string) (*tensor.Packed, error) {
	p, err := m.matrixSlot(l, name)
	if err != nil {
		return nil, err
	}
	if !m.owned[*p] {
		*p = (*p).Clone()
		m.own(*p)
	}
	m.version++
	return *p, nil
}

func (m *Model) matrixSlot(l int, name string) (**tensor.Packed, error) {
	if name == MatrixWU {
		return &m.unembed, nil
	}
	if l < 0 || l >= m.Config.NLayers {
		return nil, fmt.Errorf("layer %d is outside [0, %d)", l, m.Config.NLayers)
	}
	pb := &m.layers[l]
	switch name {
	case MatrixWO:
		return &pb.wo, nil
	case MatrixWIn:
		return &pb.win, nil
	case MatrixWOut:
		return &pb.wout, nil
	}
	return nil, fmt.Errorf("unknown matrix %q (known: %v)", name, Matrices)
}

func (m *Model) own(p *tensor.Packed) {
	if m.owned == nil {
		m.owned = map[*tensor.Packed]bool{}
	}
	m.owned[p] = true
}

// Clone returns a model that shares every weight matrix with m until one of the two writes
// it (copy-on-write, through WritableMatrix or Process). Vectors, Processing, Source,
// Edits, Hash and Interventions are copied; the tokenizer, which nothing changes, is shared.
// Clone must not run concurrently with writes to m.
func (m *Model) Clone() *Model {
	c := *m
	c.Params = m.Params.Clone(m.Config)
	c.Processing = slices.Clone(m.Processing)
	c.Edits = slices.Clone(m.Edits)
	c.Interventions = slices.Clone(m.Interventions)
	c.layers = slices.Clone(m.layers)
	c.arenas = new(arenaPool)
	// From now on both models share every matrix: whichever writes one first copies it.
	m.owned, c.owned = nil, nil
	return &c
}

// Version counts the writes to the model's weights (edits and processing): a result
// computed from the weights is current while the version is unchanged.
func (m *Model) Version() uint64 { return m.version }

// WithWeights builds a model of p's weights (a full set in Hugging Face's layout, as
// Weights returns and the caller may have changed) that keeps m's identity: Config,
// Tokenizer, Processing, Source, Hash, Edits, Interventions and WeightType. NewModel would
// start a new identity and claim raw, unedited weights.
func (m *Model) WithWeights(p *Params) *Model {
	n := newModel(m.Config, p, m.Tokenizer, nil, nil, LoadOptions{Weights: m.weights})
	n.Processing, n.Source, n.Hash = slices.Clone(m.Processing), m.Source, m.Hash
	n.Edits, n.Interventions = slices.Clone(m.Edits), slices.Clone(m.Interventions)
	return n
}
