package lens

import (
	"math/rand/v2"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
)

// BenchmarkLensAndNeuronScan: one forward pass of a 64-token prompt on GPT-2 small's shape
// (random weights, processed as the analysis commands do), the full logit lens over every
// layer boundary and position, and the paper's neuron and head scan over all layers.
//
//   - warm: the Analyzer is reused, as across the prompts of one session (W_U is packed
//     and the value vectors measured once);
//   - cold: a new Analyzer each time, which packs W_U again (the model keeps its own packed
//     copy but does not export it);
//   - pre-only: as warm without resid_mid (13 boundaries instead of 25);
//   - scan: the forward pass and the scan alone.
func BenchmarkLensAndNeuronScan(b *testing.B) {
	cfg := gpt2.Presets["gpt2"]
	m := gpt2.NewModel(cfg, gpt2.RandomParams(cfg, 1), nil)
	if err := m.Process(analysisSteps...); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	ids := make([]int, 64)
	for i := range ids {
		ids[i] = r.IntN(cfg.DVocab)
	}
	const A, B = 317, 347 // " A", " B" in GPT-2's vocabulary
	run := func(b *testing.B, a *Analyzer, lens, mid bool) {
		tr, err := a.Trace(ids, TraceOptions{Heads: true})
		if err != nil {
			b.Fatal(err)
		}
		if lens {
			if _, err := a.LogitLens(tr, LensOptions{TopK: 5, Targets: []int{A, B}, Mid: mid}); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := a.Scan(tr, DefaultScan(A, B)); err != nil {
			b.Fatal(err)
		}
	}
	warm := New(m)
	run(b, warm, true, true)
	b.Run("warm", func(b *testing.B) {
		for b.Loop() {
			run(b, warm, true, true)
		}
	})
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			run(b, New(m), true, true)
		}
	})
	b.Run("pre-only", func(b *testing.B) {
		for b.Loop() {
			run(b, warm, true, false)
		}
	})
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			run(b, warm, false, false)
		}
	})
}
