package edit

import (
	"fmt"

	"github.com/mechlens/mechlens/gpt2"
)

// Constructors of each kind. They do not check against a model: Set.Append and Apply do.

// ValueVector sets (mode "set") or adds to (mode "add") neuron's value vector W_out[neuron].
func ValueVector(layer, neuron int, vector []float32, mode string) Edit {
	return Edit{Kind: KindValueVector, Layer: layer, Neurons: []int{neuron}, Mode: mode, Vector: vector}
}

// ValueVectorRule is the anchored-bias paper's edit (Li and Gao 2024): W_out[neuron] ←
// W_out[neuron] − α1·W_U[:, sub] + α2·W_U[:, add], with sub and add single tokens given as
// text (" A", " B"). W_U is m's own (processed, when m is), and the result is stored as
// the vector added.
func ValueVectorRule(m *gpt2.Model, layer, neuron int, sub, add string, alpha1, alpha2 float64) (Edit, error) {
	a, err := TokenID(m, sub)
	if err != nil {
		return Edit{}, err
	}
	b, err := TokenID(m, add)
	if err != nil {
		return Edit{}, err
	}
	ua, ub := m.UnembeddingVector(a), m.UnembeddingVector(b)
	d := make([]float32, len(ua))
	for j := range d {
		d[j] = float32(-alpha1*float64(ua[j]) + alpha2*float64(ub[j]))
	}
	e := ValueVector(layer, neuron, d, "add")
	e.Note = fmt.Sprintf("anchored-bias rule: −%g·W_U[%q] + %g·W_U[%q]", alpha1, sub, alpha2, add)
	return e, nil
}

// ScaleNeuron multiplies neuron's value vector by f (0 ablates it).
func ScaleNeuron(layer, neuron int, f float64) Edit {
	return Edit{Kind: KindScaleNeuron, Layer: layer, Neurons: []int{neuron}, Factor: &f}
}

// ScaleHead multiplies head's W_O rows by f (0 ablates what it writes, b_O apart).
func ScaleHead(layer, head int, f float64) Edit {
	return Edit{Kind: KindScaleHead, Layer: layer, Head: &head, Factor: &f}
}

// ProjectOutHead removes direction dir [D] from what head writes: W_O[h] ← W_O[h](I − d dᵀ).
func ProjectOutHead(layer, head int, dir []float32) Edit {
	return Edit{Kind: KindProjectOut, Layer: layer, Head: &head, Vector: dir}
}

// ProjectOutNeurons removes direction dir [D] from the value vectors of neurons.
func ProjectOutNeurons(layer int, neurons []int, dir []float32) Edit {
	return Edit{Kind: KindProjectOut, Layer: layer, Neurons: neurons, Vector: dir}
}

// RankOne adds u·vᵀ to block layer's matrix (gpt2.MatrixWOut for ROME: u [M], v [D]).
func RankOne(layer int, matrix string, u, v []float32) Edit {
	return Edit{Kind: KindRankOne, Layer: layer, Matrix: matrix, U: u, V: v}
}

// Steer adds alpha·vec at hook (one head's slice when head ≥ 0) at positions (all if none).
func Steer(hook string, head int, positions []int, alpha float64, vec []float32) Edit {
	return Edit{Kind: KindSteer, Hook: hook, Head: optHead(head), Positions: positions, Alpha: alpha, Vector: vec}
}

// Ablate zeroes (mode "zero") or mean-ablates (mode "mean", the mean over the sequence's
// positions) hook, or one head's slice of it when head ≥ 0, at positions (all if none).
func Ablate(hook string, head int, mode string, positions []int) Edit {
	return Edit{Kind: KindAblate, Hook: hook, Head: optHead(head), Mode: mode, Positions: positions}
}

// AttentionScale multiplies head's attention from query to keys by f, then renormalizes.
// With letters, the keys are the answer options' letters instead.
func AttentionScale(layer, head, query int, keys []int, letters bool, f float64) Edit {
	return Edit{Kind: KindAttention, Layer: layer, Head: &head, Query: &query, Positions: keys, Letters: letters, Mode: "scale", Factor: &f}
}

// AttentionSwap exchanges head's attention from query to two keys.
func AttentionSwap(layer, head, query, k1, k2 int) Edit {
	return Edit{Kind: KindAttention, Layer: layer, Head: &head, Query: &query, Positions: []int{k1, k2}, Mode: "swap"}
}

func optHead(h int) *int {
	if h < 0 {
		return nil
	}
	return &h
}

// TokenID returns the id of text, which must be exactly one token of m's vocabulary.
func TokenID(m *gpt2.Model, text string) (int, error) {
	if m.Tokenizer == nil {
		return 0, fmt.Errorf("the model has no tokenizer to read %q with", text)
	}
	ids := m.Tokenizer.Encode(text)
	if len(ids) != 1 {
		return 0, fmt.Errorf("%q is %d tokens, not one", text, len(ids))
	}
	return ids[0], nil
}

// TokenDirection is W_U[:, a] − W_U[:, b] for two single tokens: the direction that raises
// a's logit against b's.
func TokenDirection(m *gpt2.Model, a, b string) ([]float32, error) {
	ia, err := TokenID(m, a)
	if err != nil {
		return nil, err
	}
	ib, err := TokenID(m, b)
	if err != nil {
		return nil, err
	}
	ua, ub := m.UnembeddingVector(ia), m.UnembeddingVector(ib)
	for j := range ua {
		ua[j] -= ub[j]
	}
	return ua, nil
}
