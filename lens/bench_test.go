package lens

import (
	"math/rand/v2"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/procstat"
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
//   - last-position: every boundary at the last position only (the lens command's default);
//   - scan: the forward pass and the scan alone.
//
// The full lens multiplies 25·64 vectors by W_U [768, 50257]: 123 GFLOP, so its time is the
// GEMM's throughput on that many flops.
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
	// run traces the prompt, projects points × positions (lensPositions nil: all) when
	// lens, and scans.
	run := func(b *testing.B, a *Analyzer, lens, mid bool, positions []int) {
		tr, err := a.Trace(ids, TraceOptions{Heads: true})
		if err != nil {
			b.Fatal(err)
		}
		if lens {
			if _, err := a.LogitLens(tr, LensOptions{TopK: 5, Targets: []int{A, B}, Mid: mid, Positions: positions}); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := a.Scan(tr, DefaultScan(A, B)); err != nil {
			b.Fatal(err)
		}
	}
	// lensFlops is the size of the projection onto the vocabulary, which bounds the time.
	lensFlops := func(b *testing.B, points, positions int) {
		b.ReportMetric(float64(points*positions)*float64(cfg.DVocab*cfg.DModel)*2/1e9, "lensGFLOP/op")
	}
	warm := New(m)
	run(b, warm, true, true, nil)
	for _, c := range []struct {
		name               string
		fresh, lens, mid   bool
		positions          []int
		points, nPositions int
	}{
		{"warm", false, true, true, nil, 2*cfg.NLayers + 1, len(ids)},
		{"cold", true, true, true, nil, 2*cfg.NLayers + 1, len(ids)},
		{"pre-only", false, true, false, nil, cfg.NLayers + 1, len(ids)},
		{"last-position", false, true, true, []int{-1}, 2*cfg.NLayers + 1, 1},
		{"scan", false, false, false, nil, 0, 0},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				a := warm
				if c.fresh {
					a = New(m)
				}
				run(b, a, c.lens, c.mid, c.positions)
			}
			lensFlops(b, c.points, c.nPositions)
		})
	}
}

// BenchmarkCausalTrace: causal tracing of a 10-token prompt (subject: tokens 2–4) on GPT-2
// small's shape, 10 samples, all three kinds (3 × 12 batched runs of 100 sequences) and one
// kind alone.
func BenchmarkCausalTrace(b *testing.B) {
	cfg := gpt2.Presets["gpt2"]
	m := gpt2.RandomModel(cfg, 1, nil)
	r := rand.New(rand.NewPCG(3, 4))
	ids := make([]int, 10)
	for i := range ids {
		ids[i] = r.IntN(cfg.DVocab)
	}
	a := New(m)
	for _, kinds := range [][]string{nil, {TraceHidden}} {
		name := "all"
		if kinds != nil {
			name = kinds[0]
		}
		b.Run(name, func(b *testing.B) {
			cpu := procstat.CPUTime()
			for range b.N {
				if _, err := a.CausalTrace(ids, CausalTraceOptions{SubjectStart: 2, SubjectEnd: 5, Target: -1, Samples: 10, Window: 10, Kinds: kinds, Noise: 0.1}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((procstat.CPUTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}
