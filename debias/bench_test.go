package debias

import (
	"testing"

	"github.com/mechlens/mechlens/audit"
	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/procstat"
)

// BenchmarkNeutralize is neutralize's default search on the organism: every held-out fact
// question (1,800), half to fit, the trace of the fit split, every candidate on the fit
// split and each family's best on the eval split. Wall time depends on the neighbours on a
// shared machine; cpu-s is what the work costs (wall on idle cores ≈ cpu-s / cores).
func BenchmarkNeutralize(b *testing.B) {
	m, ps, a := organism(b, 1800)
	var fitI, evalI []audit.Item
	for _, p := range ps {
		fitI = append(fitI, p.Item)
	}
	fitI, evalI = Split(fitI, 0.5, 0)
	fit, err := Prepare(m, fitI, audit.Format{BOS: true})
	if err != nil {
		b.Fatal(err)
	}
	eval, err := Prepare(m, evalI, audit.Format{BOS: true})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu := procstat.CPUTime()
	for range b.N {
		if _, err := Neutralize(ctx, m, fit, eval, NeutralizeOptions{Anchor: a, ModelName: "organism"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((procstat.CPUTime()-cpu).Seconds()/float64(b.N), "cpu-s")
}

// BenchmarkTraceGPT2Small traces n IOI items on the GPT-2 small shape (random weights,
// GPT-2's tokenizer): direct attribution to every head, MLP and neuron, the scan, and
// patching of every head and MLP.
func BenchmarkTraceGPT2Small(b *testing.B) {
	tok, err := gpt2.LoadTokenizer("../testdata/gpt2-tokenizer")
	if err != nil {
		b.Fatal(err)
	}
	cfg := gpt2.Presets["gpt2"]
	m := gpt2.NewModel(cfg, gpt2.RandomParams(cfg, 1), tok)
	if err := m.Process(gpt2.FoldLN, gpt2.CenterWritingWeights, gpt2.CenterUnembed); err != nil {
		b.Fatal(err)
	}
	g, err := audit.LookupGenerator("ioi")
	if err != nil {
		b.Fatal(err)
	}
	const n = 50 // of the 200: the time is linear in the items
	items, err := g.Generate(n, 1)
	if err != nil {
		b.Fatal(err)
	}
	f := audit.Format{BOS: true}
	if t, ok := g.(audit.PromptTemplater); ok {
		f.Template = t.PromptTemplate()
	}
	ps, err := Prepare(m, items, f)
	if err != nil {
		b.Fatal(err)
	}
	a, err := tok.TokenID(" A")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu := procstat.CPUTime()
	var tr *TraceResult
	for range b.N {
		if tr, err = Trace(ctx, m, ps, TraceOptions{Anchor: a, TopNeurons: 10, Gap: 4, Neurons: 10}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((procstat.CPUTime()-cpu).Seconds()/float64(b.N), "cpu-s")
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "items/s")
	b.ReportMetric(float64(tr.Fallback), "patched-items")
}
