package gpt2

import (
	"slices"
	"testing"
)

// Every parameter list derives from one table: Named, Clone and the training view agree on
// the tensors, the optional unembedding tensors included.
func TestParameterListsAgree(t *testing.T) {
	c := Presets["distilgpt2"]
	c.NLayers, c.DVocab, c.NCtx = 2, 50, 16
	p := RandomParams(c, 1)
	names, _, _ := p.Named(c)
	if want := 2 + 12*c.NLayers + 2; len(names) != want || slices.Contains(names, "lm_head.bias") {
		t.Fatalf("tied, unprocessed: %d tensors %v", len(names), names)
	}
	p.LMHead, p.LMHeadB = slices.Clone(p.WTE), make([]float32, c.DVocab)
	p.LMHeadB[3] = 7
	names, shapes, data := p.Named(c)
	if n := len(names); names[n-2] != "lm_head.weight" || names[n-1] != "lm_head.bias" || shapes[n-1][0] != c.DVocab || data[n-1][3] != 7 {
		t.Fatalf("untied with b_U: last tensors %v", names[n-2:])
	}
	q := p.Clone(c)
	q.LMHeadB[3], q.Blocks[1].ProjW[0] = 0, 42
	if p.LMHeadB[3] != 7 || p.Blocks[1].ProjW[0] == 42 {
		t.Fatal("Clone shares memory with its source")
	}
	if f, tf := p.fields(), paramsAs[float64](c, p, true).fields(); len(f) != len(names) || len(tf) != len(f) {
		t.Fatalf("%d fields, %d training fields, %d named tensors", len(f), len(tf), len(names))
	}
}

func TestWithWeightsKeepsIdentity(t *testing.T) {
	c := Presets["distilgpt2"]
	c.NLayers, c.DVocab, c.NCtx, c.DModel, c.NHeads, c.DHead, c.DMLP = 2, 50, 16, 32, 4, 8, 128
	m := RandomModel(c, 3, nil)
	if err := m.Process(FoldLN); err != nil {
		t.Fatal(err)
	}
	m.Edits, m.Source = []string{"scale_head L0H1 ×0"}, "somewhere"
	p := m.Weights()
	p.Blocks[0].ProjW[5] = 9
	n := m.WithWeights(p)
	if !slices.Equal(n.Processing, m.Processing) || n.Hash != m.Hash || n.Source != m.Source || !slices.Equal(n.Edits, m.Edits) {
		t.Fatalf("identity lost: %+v %q %q %v", n.Processing, n.Hash, n.Source, n.Edits)
	}
	if n.WOut(0).At(0, 5) != 9 || m.WOut(0).At(0, 5) == 9 {
		t.Fatal("the new model does not hold the given weights, or shares them")
	}
}

// The weights hash runs at every load: it must stay a small part of loading.
func BenchmarkWeightsHashGPT2(b *testing.B) {
	c := Presets["gpt2"]
	p := RandomParams(c, 1)
	b.SetBytes(int64(4 * c.NParams()))
	b.ResetTimer()
	for range b.N {
		weightsHash(c, p, nil)
	}
}
